"""A worker's cache of live workflows: the case a worker stepped last is still deserialised in
memory when its next step comes to the same worker, so that step skips reading and rebuilding the
state.

An entry is the instance as a committed step left it, filed under the database and case, and kept
with what identifies that state in the database: the process version, the case's version (its
step number) and the head of its hash chain (the hash of its last event, which covers every saved
state hash). A step takes the entry only if the case row it has just read matches all three, so
an entry is never used once any other worker (or a rolled-back step) has moved the case on. An
entry is taken out while a step runs (a failing step cannot leave a half-run instance behind) and
put back only when its transaction commits.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.db import StagingSession
from app.engine import Instance
from app.models import Case

SIZE = 256  # cases per worker process
_PENDING = "live_workflows"


@dataclass(frozen=True)
class _Key:
    database: str
    case_id: int


@dataclass
class _Entry:
    process_version_id: int
    version: int
    chain_head: str
    instance: Instance


class LiveCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self.lock = threading.Lock()  # threaded workers share it
        self.hits = self.misses = 0

    def take(self, session: Session, case: Case) -> Instance | None:
        """The case's live instance if it is exactly the state of this case row, else None."""
        with self.lock:
            entry = self.entries.pop(_key(session, case.id), None)
            if entry is None or (entry.process_version_id, entry.version, entry.chain_head) != (
                    case.process_version_id, case.version, case.chain_head):
                self.misses += 1
                return None
            self.hits += 1
            return entry.instance

    def put(self, key: _Key, entry: _Entry) -> None:
        with self.lock:
            self.entries.pop(key, None)
            self.entries[key] = entry
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


CACHE = LiveCache()


def keep(session: Session, case: Case, instance: Instance) -> None:
    """Offer the instance just saved for the case's next step, once this transaction commits."""
    session.info.setdefault(_PENDING, {})[_key(session, case.id)] = (case, instance)


def _key(session: Session, case_id: int) -> _Key:
    return _Key(str(session.get_bind().url), case_id)


@event.listens_for(StagingSession, "before_commit")
def _identify(session: Session) -> None:
    """Read what identifies each saved state while the session still holds its case rows
    (a commit expires them)."""
    pending: dict[_Key, Any] = session.info.get(_PENDING, {})
    for key, (case, instance) in list(pending.items()):
        values = inspect(case).dict
        if not all(name in values for name in ("process_version_id", "version", "chain_head")):
            del pending[key]  # expired by a rolled-back savepoint: nothing known to match
            continue
        pending[key] = _Entry(values["process_version_id"], values["version"], values["chain_head"], instance)


@event.listens_for(StagingSession, "after_commit")
def _committed(session: Session) -> None:
    for key, entry in session.info.pop(_PENDING, {}).items():
        if isinstance(entry, _Entry):
            CACHE.put(key, entry)


@event.listens_for(StagingSession, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)  # a savepoint's too: its saves may be gone
