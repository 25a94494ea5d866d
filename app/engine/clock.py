"""The engine's "now": SpiffWorkflow's timers read the wall clock, so every run is given its time.

SpiffWorkflow compares timer due times with ``datetime.now(timezone.utc)`` inside
``SpiffWorkflow.bpmn.specs.event_definitions.timer``. That module's ``datetime`` is replaced here by
a subclass whose ``now()`` returns the moment set with :func:`engine_time` for the current run
(the application's test clock, or a recorded time when a case is replayed). Outside a run it is the
wall clock, as before.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer_module

_engine_now: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("whistle_engine_now", default=None)


class EngineDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        current = _engine_now.get()
        if current is None:
            return datetime.now(tz)
        aware = current.replace(tzinfo=UTC)
        return aware.astimezone(tz) if tz is not None else aware.replace(tzinfo=None)


_timer_module.datetime = EngineDatetime  # type: ignore[misc]


@contextmanager
def engine_time(now: datetime) -> Iterator[None]:
    """Run the engine as if it were ``now`` (naive UTC)."""
    token = _engine_now.set(now if now.tzinfo is None else now.astimezone(UTC).replace(tzinfo=None))
    try:
        yield
    finally:
        _engine_now.reset(token)
