"""Anchors (外部锚定): the chain heads filed outside the database, so a rewritten past shows.

The hash chains expose an edit made by anyone who cannot recompute hashes. Someone with database
superuser rights can: disable the append-only trigger, edit an old event (or drop the last one)
and recompute the chain and its head — ``verify`` then passes. An *anchor* keeps, outside the
database, each chain's length and head at the time it was taken; ``verify`` checks that every
anchored chain still has, at its anchored length, the anchored head (recomputed from the events),
so a rewritten past, a shortened chain or a deleted case is found, while chains that grew since
are fine.

The anchor ledger is a text file (``WHISTLE_ANCHOR_PATH``), one canonical-JSON line per anchor::

    {"at": …, "chains": 3, "conflicts": [], "entries": [["system", 5, "…"], [1, 20, "…"]],
     "events": 61, "format": "whistle-anchor/1", "hash": "…", "n": 2, "prev": "…", "root": "…"}

* ``entries`` lists only the chains that changed since the previous anchor (``[chain, length,
  head]``, chain = case id or ``"system"``): folding the lines in order gives the anchored
  (length, head) of every chain. A line's size follows the activity since the previous one.
* ``root`` is the value a full ``verify`` prints at that moment (SHA-256 over every chain head),
  ``chains``/``events`` the totals: a line an auditor can print and file.
* ``prev`` is the previous line's ``hash``, ``hash`` the SHA-256 of the line's canonical JSON
  without ``hash``: a removed or edited line breaks the ledger's own chain. The latest ``hash``,
  filed by an auditor, covers the whole ledger (``verify --expect HASH`` checks it is still there).
* A chain is re-anchored only if its new state extends the anchored one (the stored hash at the
  anchored length is still the anchored head — one indexed lookup per changed chain, no event is
  re-hashed). Otherwise it is listed in ``conflicts`` and keeps its old anchor, so ``verify``
  keeps reporting it; checking the latest anchor of each chain therefore checks all of them.

Anchoring reads the chain heads with one streaming query (no event is loaded) and appends the
line under an exclusive file lock, so any number of schedulers may anchor into one file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app.db import Database
from app.models import AuditChain, Case, Event
from app.services import chain, clock
from app.services.journal import SYSTEM_CHAIN

FORMAT = "whistle-anchor/1"
ChainKey = int | str  # a case id, or "system"
_LOOKUP_BATCH = 500


class AnchorError(Exception):
    """The ledger cannot be appended to (it is broken, or not an anchor ledger)."""


@dataclass(frozen=True)
class Mark:
    """A chain's latest anchored state."""

    length: int
    head: str
    anchor: int  # the anchor's number
    at: str

    def where(self) -> str:
        return f"anchor #{self.anchor} ({self.at})"


@dataclass
class Ledger:
    """The ledger read and checked: its anchors' summaries, every chain's mark, its problems."""

    path: Path
    marks: dict[ChainKey, Mark] = field(default_factory=dict)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    last_hash: str = ""

    @property
    def last(self) -> dict[str, Any] | None:
        return self.summaries[-1] if self.summaries else None

    def missing(self, filed: Iterable[str]) -> list[str]:
        """Problems for each filed anchor hash that the ledger no longer holds."""
        held = {s["hash"] for s in self.summaries}
        return [f"the filed anchor {h} is not in the ledger: it, or the anchors up to it, were removed "
                "or the ledger was replaced" for h in filed if h not in held]


@dataclass
class Anchored:
    """What one ``anchor()`` call appended."""

    summary: dict[str, Any]
    conflicts: list[list[Any]]


def line_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(chain.canonical_json({k: v for k, v in body.items() if k != "hash"}).encode()).hexdigest()


def summary_line(summary: dict[str, Any]) -> str:
    """One anchor as a line to print and file."""
    return (f"anchor #{summary['n']} at {summary['at']} UTC: {summary['chains']} chains, {summary['events']} "
            f"events, {summary['changed']} anchored anew; root {summary['root']}; anchor hash {summary['hash']}")


# --- reading -----------------------------------------------------------------------------------


def read_ledger(path: Path) -> Ledger:
    """Read and check a ledger file (a missing file is an empty ledger)."""
    ledger = Ledger(path)
    if path.exists():
        _fold(ledger, path.read_text("utf-8").splitlines())
    return ledger


def _fold(ledger: Ledger, lines: list[str]) -> None:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        body, problem = _parse(text, ledger, number)
        if problem:
            ledger.problems.append(f"ledger line {number}: {problem}")
        if body is None:
            continue
        ledger.last_hash = str(body.get("hash", ""))
        n, at = int(body.get("n", number)), str(body.get("at", ""))
        ledger.summaries.append(_summary(body))
        for key, length, head in body.get("entries", []):
            ledger.marks[key] = Mark(int(length), str(head), n, at)


def _parse(text: str, ledger: Ledger, number: int) -> tuple[dict[str, Any] | None, str | None]:
    try:
        body = json.loads(text)
    except ValueError:
        return None, "not a JSON anchor (the line was edited or cut)"
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return None, f"not a {FORMAT} anchor"
    expected_n = (ledger.last["n"] + 1) if ledger.last else 1
    if body.get("hash") != line_hash(body):
        return body, f"anchor #{body.get('n')} does not match its hash: the line was edited after it was written"
    if body.get("prev") != ledger.last_hash:
        return body, (f"anchor #{body.get('n')} names {str(body.get('prev'))[:16] or '—'}… as the anchor before "
                      f"it, but that is {ledger.last_hash[:16] or '—'}…: an anchor before it was removed or replaced")
    if body.get("n") != expected_n:
        return body, f"anchor #{body.get('n')} follows anchor #{expected_n - 1}: anchors were removed"
    return body, None


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "at", "root", "chains", "events", "hash")
    return {k: body.get(k) for k in keys} | {"changed": len(body.get("entries", [])),
                                              "conflicts": len(body.get("conflicts", []))}


# --- anchoring ---------------------------------------------------------------------------------


def anchor(db: Database, path: Path, min_interval: timedelta | None = None) -> Anchored | None:
    """Append one anchor to the ledger at ``path`` (created if missing). With ``min_interval``, do
    nothing when the last anchor is younger (several schedulers anchoring "every N hours")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path) as handle:
        ledger = Ledger(path)
        _fold(ledger, handle.read().decode("utf-8").splitlines())
        if ledger.problems:
            raise AnchorError(f"{path}: {ledger.problems[0]} — restore the ledger from a filed copy first")
        now = clock.now()
        if min_interval is not None and ledger.last and _younger(ledger.last["at"], now, min_interval):
            return None
        with db.sessions() as session:
            body, conflicts = _scan(session, ledger.marks)
        last = ledger.last
        body |= {"format": FORMAT, "n": (last["n"] + 1) if last else 1, "at": now.isoformat(timespec="seconds"),
                 "prev": ledger.last_hash, "conflicts": conflicts}
        body["hash"] = line_hash(body)
        handle.write((chain.canonical_json(body) + "\n").encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    return Anchored(_summary(body), conflicts)


def _younger(at: str, now: datetime, interval: timedelta) -> bool:
    try:
        return now - datetime.fromisoformat(at) < interval
    except ValueError:
        return False


@contextmanager
def _locked(path: Path) -> Iterator[IO[bytes]]:
    """The ledger opened for appending (O_APPEND) and reading, under an exclusive lock."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            handle.seek(0)
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass
class _Scan:
    marks: dict[ChainKey, Mark]
    heads: list[str] = field(default_factory=list)
    changed: list[tuple[ChainKey, int, str]] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    chains: int = 0
    events: int = 0

    def add(self, key: ChainKey, length: int, head: str) -> None:
        self.chains += 1
        self.events += length
        self.heads.append(f"{key}:{head}")
        mark = self.marks.get(key)
        if length and (mark is None or (mark.length, mark.head) != (length, head)):
            self.changed.append((key, length, head))


def _scan(session: Session, marks: dict[ChainKey, Mark]) -> tuple[dict[str, Any], list[list[Any]]]:
    """Every chain's head in one streaming pass; the new entries, and the conflicts."""
    scan = _Scan(marks)
    system = session.get(AuditChain, SYSTEM_CHAIN)
    scan.add(SYSTEM_CHAIN, system.length if system else 0, system.head if system else chain.GENESIS)
    rows = session.execute(select(Case.id, Case.event_count, Case.chain_head).order_by(Case.id)
                           .execution_options(yield_per=10_000))
    for case_id, length, head in rows:
        scan.seen.add(case_id)
        scan.add(case_id, length or 0, head or chain.GENESIS)
    conflicts = _conflicts(session, scan)
    refused = {c[0] for c in conflicts}
    entries = [[key, length, head] for key, length, head in scan.changed if key not in refused]
    root = hashlib.sha256("\n".join(scan.heads).encode()).hexdigest()
    return {"root": root, "chains": scan.chains, "events": scan.events, "entries": entries}, conflicts


def _conflicts(session: Session, scan: _Scan) -> list[list[Any]]:
    """Changed chains that do not extend their anchored state, and anchored cases that are gone."""
    conflicts: list[list[Any]] = []
    grown: list[tuple[ChainKey, Mark]] = []
    for key, length, head in scan.changed:
        mark = scan.marks.get(key)
        if mark is None:
            continue
        if length <= mark.length:
            conflicts.append([key, f"{mark.where()} filed {mark.length} events with head {mark.head[:16]}…, the "
                                   f"chain now has {length} with head {head[:16]}…: it was rewritten or "
                                   "shortened"])
        else:
            grown.append((key, mark))
    stored = _stored_hashes(session, [(k, m.length) for k, m in grown])
    for key, mark in grown:
        if stored.get((key, mark.length)) != mark.head:
            conflicts.append([key, f"the event at seq {mark.length} is not the one {mark.where()} filed "
                                   f"(head {mark.head[:16]}…): the chain was rewritten"])
    for key, mark in scan.marks.items():
        if key != SYSTEM_CHAIN and key not in scan.seen:
            conflicts.append([key, f"{mark.where()} filed {mark.length} events of this case; it no longer exists"])
    return conflicts


def _stored_hashes(session: Session, points: list[tuple[ChainKey, int]]) -> dict[tuple[ChainKey, int], str]:
    """The stored hash of each (chain, seq): batched indexed lookups."""
    found: dict[tuple[ChainKey, int], str] = {}
    cases = [(k, s) for k, s in points if k != SYSTEM_CHAIN]
    for start in range(0, len(cases), _LOOKUP_BATCH):
        batch = cases[start:start + _LOOKUP_BATCH]
        query = select(Event.case_id, Event.seq, Event.hash).where(tuple_(Event.case_id, Event.seq).in_(batch))
        found.update({(row.case_id, row.seq): row.hash for row in session.execute(query)})
    for key, seq in points:
        if key == SYSTEM_CHAIN:
            found[(key, seq)] = session.scalar(
                select(Event.hash).where(Event.case_id.is_(None), Event.seq == seq)) or ""
    return found
