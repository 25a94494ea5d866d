"""The hash chain of audit events (吹哨全留痕): canonical content, SHA-256, one link per event.

Every event stores ``prev_hash`` (the hash of the event before it in its chain, "" for the first)
and ``hash`` = SHA-256 over the canonical JSON of its content *including* ``prev_hash``. A case's
events form one chain (ordered by ``seq``) whose head is kept in ``cases.chain_head``; events of no
case (deploys, login failures) form the chain ``system``, whose head is in ``audit_chains``.

The canonical form is a JSON array (fixed field order; object keys sorted; UTF-8; no spaces), so
the hash does not depend on how a database returns JSON. Changing it needs a new ``FORMAT``.
This module is pure: the verifier and the benchmark use exactly the code that records events.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

FORMAT = 1
GENESIS = ""


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def normalized(data: dict[str, Any] | None) -> dict[str, Any]:
    """The data exactly as a database JSON column will give it back (a deep copy, too, so that a
    later in-place change by the caller cannot make the stored row differ from what was hashed)."""
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
    body = canonical_json([
        FORMAT, case_id, seq, type_, actor, actor_id, role, unit_id, process_version_id, state_version,
        created_at.isoformat(), data, prev_hash,
    ])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


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
