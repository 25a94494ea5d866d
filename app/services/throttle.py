"""Counters every web worker shares, kept in the ``throttles`` table (SQLite or PostgreSQL, no other
service): each hit is one atomic upsert, so two workers counting the same key never lose a hit.

A key counts within a fixed window that starts at its first hit and starts again once it is a window
old; ``blocked_until`` holds a login back-off. Callers run these in a transaction of their own, so a
count survives the rollback of the request it belongs to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Throttle
from app.services import clock

_TABLE = Throttle.__table__


@dataclass(frozen=True)
class Count:
    count: int
    window_start: datetime

    def resets_in(self, window: timedelta) -> int:
        """Whole seconds until this window is over and the count starts again."""
        return max(1, math.ceil((self.window_start + window - clock.now()).total_seconds()))


def hit(session: Session, key: str, window: timedelta, amount: int = 1) -> Count:
    """Add ``amount`` to the key's count (starting a new window if its old one is over); the new count."""
    now = clock.now()
    expired = _TABLE.c.window_start <= now - window
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_TABLE).values(key=key, count=amount, window_start=now)
    statement = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.key],
        set_={"count": case((expired, amount), else_=_TABLE.c.count + amount),
              "window_start": case((expired, now), else_=_TABLE.c.window_start)},
    ).returning(_TABLE.c.count, _TABLE.c.window_start)
    row = session.execute(statement).one()
    return Count(row.count, row.window_start)


def current(session: Session, key: str, window: timedelta) -> Count:
    """The key's count in its current window (0 when it has none), without adding to it."""
    row = session.execute(select(_TABLE.c.count, _TABLE.c.window_start).where(_TABLE.c.key == key)).one_or_none()
    if row is None or row.window_start <= clock.now() - window:
        return Count(0, clock.now())
    return Count(row.count, row.window_start)


def block(session: Session, key: str, until: datetime) -> None:
    session.execute(update(_TABLE).where(_TABLE.c.key == key).values(blocked_until=until))


def blocked_for(session: Session, keys: list[str]) -> int:
    """Seconds until every one of ``keys`` is free again (0: none is blocked)."""
    now = clock.now()
    untils = session.scalars(select(_TABLE.c.blocked_until).where(_TABLE.c.key.in_(keys),
                                                                  _TABLE.c.blocked_until > now))
    return max((math.ceil((until - now).total_seconds()) for until in untils), default=0)


def clear(session: Session, key: str) -> None:
    session.execute(delete(_TABLE).where(_TABLE.c.key == key))
