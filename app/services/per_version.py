"""What every request asks and hardly ever changes, read once per worker and re-read when the
database says it changed (issue 17: pages spent most of their SQL round trips on it).

Two kinds of key, so a second worker never serves what this one missed:

- **Stamps read in the request's own first statement** (:class:`RequestFacts`): the current process
  version's id (a version's files never change, so its configuration is cached by id) and the unit
  tree's stamp: the organisation's revision (``org_revision``, bumped by every unit of work that
  writes a unit: exact for whatever the app writes) plus a fingerprint (``count``, and two weighted
  sums of ``parent_id``) that also catches most hand edits made in SQL. The tree is cached under it.
- **Facts of this unit of work** (the unread-notification count read in the same statement, the unit
  names a page asks for in several panels): kept in ``session.info`` and dropped as soon as the unit
  of work writes a notification or a unit.

``caching(False)`` turns the worker-wide caches off (every request reads the tree again), so the
bench can print both figures in one run.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from threading import Lock
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, cast, event, func, insert, select, update
from sqlalchemy.orm import Session

from app.models import Notification, OrgRevision, ProcessVersion, Unit

T = TypeVar("T")
_FACTS = "whistle.request_facts"
_MEMO = "whistle.unit_of_work_memo"
_BUMPED = "whistle.org_revision_bumped"
_cache: dict[Hashable, Any] = {}
_lock = Lock()
_enabled = True
# Entries kept at most (each deploy or organisation change adds one): old stamps age out.
MAX_ENTRIES = 64


@dataclass(frozen=True)
class RequestFacts:
    user_id: int
    latest_version_id: int | None
    unread: int
    units_stamp: tuple[int, int, int, int]


def fact_columns(user_id: Any) -> list[ColumnElement[Any]]:
    """Scalar subqueries to add to the statement that reads the session or token's user: the
    current version, the user's unread notifications (the navigation badge), the unit-tree stamp."""
    # 64-bit arithmetic: PostgreSQL's integer products overflow past 2**31
    parent, unit = cast(func.coalesce(Unit.parent_id, 0), BigInteger), cast(Unit.id, BigInteger)
    return [
        select(ProcessVersion.id).where(ProcessVersion.retired_at.is_(None))
        .order_by(ProcessVersion.version.desc()).limit(1).scalar_subquery().label("latest_version_id"),
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None)).scalar_subquery().label("unread"),
        select(func.coalesce(func.max(OrgRevision.revision), 0)).scalar_subquery().label("org_revision"),
        select(func.count()).select_from(Unit).scalar_subquery().label("units_count"),
        select(func.coalesce(func.sum(unit * parent), 0)).scalar_subquery().label("units_sum1"),
        select(func.coalesce(func.sum((unit % 997 + 1) * parent * parent), 0)).scalar_subquery()
        .label("units_sum2"),
    ]


def remember(session: Session, user_id: int, row: Any) -> RequestFacts:
    """Keep the facts read by :func:`fact_columns` for the rest of this unit of work."""
    facts = RequestFacts(user_id, row.latest_version_id, int(row.unread or 0),
                         (int(row.org_revision), int(row.units_count), int(row.units_sum1), int(row.units_sum2)))
    session.info[_FACTS] = facts
    return facts


def facts_of(session: Session) -> RequestFacts | None:
    return session.info.get(_FACTS)


@event.listens_for(Session, "before_flush")
def _bump_org_revision(session: Session, _context: Any, _instances: Any) -> None:
    """A flush that adds, changes or deletes a unit moves the organisation's revision on (once per
    unit of work): every worker's cached tree is stale from the commit on."""
    if session.info.get(_BUMPED) or not any(
        isinstance(obj, Unit) for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        return
    if session.execute(update(OrgRevision).where(OrgRevision.id == 1)
                       .values(revision=OrgRevision.revision + 1)).rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(OrgRevision).values(id=1, revision=1))
    session.info[_BUMPED] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_bump(session: Session, _transaction: Any) -> None:
    session.info.pop(_BUMPED, None)


@event.listens_for(Session, "before_flush")
def _forget_on_change(session: Session, _context: Any, _instances: Any) -> None:
    """A unit of work that writes notifications or units no longer trusts what it read first."""
    if (_FACTS in session.info or _MEMO in session.info) and any(
        isinstance(obj, (Notification, Unit)) for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info.pop(_FACTS, None)
        session.info.pop(_MEMO, None)


def per_unit_of_work(session: Session, key: str, build: Callable[[], T]) -> T:
    """What a page asks several times (unit names for its panels), read once per unit of work;
    forgotten when the unit of work writes units or notifications."""
    memo: dict[str, Any] = session.info.setdefault(_MEMO, {})
    if key not in memo:
        memo[key] = build()
    return memo[key]  # type: ignore[no-any-return]


def cached(key: Hashable, build: Callable[[], T]) -> T:
    """The value under ``key`` (which must name an immutable version or a stamp read from the
    database), built once per worker; built every time while caching is off."""
    if not _enabled:
        return build()
    with _lock:
        if key in _cache:
            return _cache[key]  # type: ignore[no-any-return]
    value = build()
    with _lock:
        if len(_cache) >= MAX_ENTRIES:
            _cache.pop(next(iter(_cache)))
        _cache[key] = value
    return value


def enabled() -> bool:
    return _enabled


def database_key(session: Session) -> str:
    """Which database a cached value came from (tests and benches run several in one process)."""
    return str(session.get_bind().url)


@contextmanager
def caching(enabled: bool) -> Iterator[None]:
    """Turn the worker-wide caches on or off for a while (the bench compares both)."""
    global _enabled
    before, _enabled = _enabled, enabled
    with _lock:
        _cache.clear()
    try:
        yield
    finally:
        _enabled = before
