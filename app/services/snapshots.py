"""The history of a case's engine state: one snapshot row per saved step.

A row holds the step's state text compressed with zstd, either alone (whole) or, with
``is_delta``, with the text of the row before it as zstd's dictionary: a step changes a few tasks
of a state that holds hundreds, and whatever it did not change costs a few bytes of references.
A whole state every ``FULL_EVERY`` steps bounds how many rows a reader decompresses. A reader gets
the state's exact JSON text back: ``state_hash`` (and the chain's ``state_saved`` event) is over
that text, so verify, replay and time travel see what they saw when every row was whole.

Rows written before zstd stay readable as they are: zlib, whole, or a structural delta
(app/engine/delta.py) compressed with the state before it as zlib's preset dictionary.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import compression
from app.db import stage_insert
from app.engine.delta import apply, dumps
from app.models import Snapshot

# A whole state at every step number divisible by this (and at a case's first step). A reader
# decompresses at most this many rows (~0.02 ms each) to get a step's state.
FULL_EVERY = 64
# zstd's level: 9 costs ~0.3 ms a step on a 45 KB state; higher levels gain ~7 % for 10× the time.
LEVEL = 9


def stage(
    session: Session, case_id: int, version: int, serializer_version: str, text: str,
    previous: str | None, state_hash: str, projection_hash: str, now: datetime,
) -> None:
    """Write the snapshot of step ``version`` at the next flush: ``text`` compressed against
    ``previous`` (the text of the case's last snapshot), or whole."""
    body, is_delta = encode(version, text, previous)
    stage_insert(session, Snapshot.__table__, {
        "case_id": case_id, "state_version": version, "serializer_version": serializer_version,
        "state": body, "is_delta": is_delta,
        "state_hash": state_hash, "projection_hash": projection_hash, "created_at": now,
    })


def encode(version: int, text: str, previous: str | None) -> tuple[bytes, bool]:
    """A snapshot's stored body and whether it needs the state before it to be read."""
    if previous is None or version % FULL_EVERY == 0:
        return compression.compress(text, LEVEL), False
    return compression.compress(text, LEVEL, previous), True


def _dictionary(text: str) -> bytes:
    return text.encode("utf-8")[-32768:]  # deflate looks back 32 KB at most


class Unreadable(ValueError):
    """A snapshot row that does not decode (edited or cut short): verify reports it."""

    def __init__(self, version: int, problem: str) -> None:
        super().__init__(problem)
        self.version = version


def texts(rows: Iterable[Any]) -> Iterator[str]:
    """The state text of each row, for rows of one case in step order (``state_version``,
    ``is_delta`` and ``state`` columns) starting at a whole one."""
    current: dict[str, Any] | None = None
    text: str | None = None
    for row in rows:
        try:
            current, text = _decoded(row, current, text)
        except (zlib.error, compression.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Unreadable(row.state_version, str(exc) or type(exc).__name__) from exc
        yield text


def _decoded(row: Any, current: dict[str, Any] | None, text: str | None) -> tuple[dict[str, Any] | None, str]:
    """(the parsed state if a structural delta was applied, the state text) of one row after the
    one before."""
    body: bytes = row.state
    if row.is_delta and text is None:
        raise ValueError("a snapshot delta without the state before it")
    if compression.is_zstd(body):
        return None, compression.decompress(body, text if row.is_delta else None)
    if not row.is_delta:
        return None, zlib.decompress(body).decode("utf-8")
    assert text is not None
    unpacker = zlib.decompressobj(zdict=_dictionary(text))
    delta = json.loads(unpacker.decompress(body) + unpacker.flush())
    current = apply(current if current is not None else json.loads(text), delta)
    return current, dumps(current)


def states(session: Session, case_id: int, versions: Collection[int]) -> dict[int, str]:
    """The state text of the case's snapshots of these steps (those that exist)."""
    if not versions:
        return {}
    rows = _rows(session, case_id, min(versions), max(versions))
    return {row.state_version: text for row, text in zip(rows, texts(rows), strict=True)
            if row.state_version in versions}


def state(session: Session, case_id: int, version: int) -> str | None:
    """The state text of one step's snapshot, None if the step saved none."""
    found = snapshot_at(session, case_id, version)
    return found[1] if found else None


def snapshot_at(session: Session, case_id: int, version: int) -> tuple[Snapshot, str] | None:
    """One step's snapshot row and its state text (one statement), None if the step saved none."""
    rows = _rows(session, case_id, version, version)
    if not rows or rows[-1].state_version != version:
        return None
    return rows[-1], list(texts(rows))[-1]


def _rows(session: Session, case_id: int, low: int, high: int) -> Sequence[Snapshot]:
    """The case's rows from the last whole one at or before step ``low`` up to step ``high``."""
    start = select(func.max(Snapshot.state_version)).where(
        Snapshot.case_id == case_id, Snapshot.state_version <= low, Snapshot.is_delta.is_(False)).scalar_subquery()
    return session.scalars(
        select(Snapshot).where(Snapshot.case_id == case_id, Snapshot.state_version >= func.coalesce(start, 0),
                               Snapshot.state_version <= high).order_by(Snapshot.state_version)).all()
