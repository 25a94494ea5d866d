"""The hash chain of audit events (吹哨全留痕): canonical content, SHA-256, one link per event.

Every event stores ``prev_hash`` (the hash of the event before it in its chain, "" for the first)
and ``hash`` = SHA-256 over the canonical JSON of its content *including* ``prev_hash``. A case's
events form one chain (ordered by ``seq``) whose head is kept in ``cases.chain_head``; events of no
case (deploys, login failures) form the chain ``system``, whose head is in ``audit_chains``.

The canonical form is a JSON array (fixed field order; object keys sorted; UTF-8; no spaces).
The database engine writes JSON columns in this same canonical form (app/db.py), so the stored
text of ``events.data`` *is* its canonical JSON: verify hashes that text as it is stored (no
parse, no re-encode — fast, and an edited byte anywhere in it shows). Changing the form needs a
new ``FORMAT``. This module is pure: the verifier and the benchmark use exactly the code that
records events.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

FORMAT = 1
GENESIS = ""


def _default(value: Any) -> str:
    """Dates and times are written as ISO 8601 text (event data such as a timer's due time)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                            default=_default)


def canonical_json(value: Any) -> str:
    return _ENCODER.encode(value)


def normalized(data: dict[str, Any] | None) -> dict[str, Any]:
    """The data exactly as a database JSON column will give it back."""
    return json.loads(canonical_json(data or {}))  # type: ignore[no-any-return]


def event_hash(
    *,
    case_id: int | None,
    seq: int,
    type_: str,
    actor: str,
    actor_id: int | None,
    role: str | None,
    unit_id: int | None,
    process_version_id: int | None,
    state_version: int | None,
    data: dict[str, Any],
    created_at: datetime,
    prev_hash: str,
) -> str:
    return text_hash(case_id, seq, type_, actor, actor_id, role, unit_id, process_version_id, state_version,
                     created_at, canonical_json(data), prev_hash)


def text_hash(
    case_id: int | None, seq: int, type_: str, actor: str, actor_id: int | None, role: str | None,
    unit_id: int | None, process_version_id: int | None, state_version: int | None, created_at: datetime,
    data_text: str, prev_hash: str,
) -> str:
    """The same hash, given the data's canonical JSON text (as stored): the verifier's fast path.

    The array is written out field by field (what ``canonical_json`` of the list gives, without
    its per-call overhead: this runs once per event verified)."""
    body = (
        f"[{FORMAT},{_int(case_id)},{_int(seq)},{_str(type_)},{_str(actor)},{_int(actor_id)},{_str(role)},"
        f"{_int(unit_id)},{_int(process_version_id)},{_int(state_version)},\"{created_at.isoformat()}\","
        f"{data_text},{_str(prev_hash)}]"
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def _str(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


# The event columns that enter the hash, in the order verify reads them.
HASHED_COLUMNS = (
    "case_id", "seq", "type", "actor", "actor_id", "role", "unit_id", "process_version_id", "state_version",
    "data", "created_at", "prev_hash",
)


def row_hash(row: Any) -> str:
    """The hash of a stored event row (anything with the HASHED_COLUMNS as attributes)."""
    return event_hash(
        case_id=row.case_id, seq=row.seq, type_=row.type, actor=row.actor, actor_id=row.actor_id, role=row.role,
        unit_id=row.unit_id, process_version_id=row.process_version_id, state_version=row.state_version,
        data=row.data, created_at=row.created_at, prev_hash=row.prev_hash,
    )


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
