"""The handler API: what a service-task handler is given and may raise, and the registry the
script engine calls handlers from. It sits below both the workflow step (which runs the engine)
and handlers/ (which register here), so neither imports the other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.services.locality import load_locality
from app.services.org import unit_by_code
from app.services.record_keys import RESPONDING_UNIT

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.models import Case, Task, Unit, User

Handler = Callable[..., Any]
HANDLERS: dict[str, Handler] = {}
# Per handler, the keys of its result that are moments (ISO 8601) a timer event may wait for: the
# modeler's properties panel offers ``<resultVariable>['<key>']`` for a timer from them.
RESULT_TIMES: dict[str, tuple[str, ...]] = {}


@dataclass
class HandlerContext:
    session: Session
    case: Case
    actor: User | None
    now: datetime
    task: Task | None = None  # the person's task completed in this step, if the step completes one


class HandlerError(Exception):
    """Bad input detected by a handler (an unknown matter, say): reported as HTTP 422."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


def handler(name: str, times: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Register ``func`` under ``name``; ``times`` are the keys of its result that are moments."""

    def register(func: Handler) -> Handler:
        if name in HANDLERS:
            raise ValueError(f"handler '{name}' registered twice")
        HANDLERS[name] = func
        if times:
            RESULT_TIMES[name] = times
        return func

    return register


def unit_that(ctx: HandlerContext, code: str, flag: str) -> Unit:
    """The unit named by a diagram's parameter, if its kind may be ``summoned`` (报到, 派单) or
    ``rated`` (一哨一考) in the locality model."""
    unit = unit_by_code(ctx.session, code, RESPONDING_UNIT)
    if unit.kind not in load_locality().kinds_where(flag):
        raise HandlerError(f"unit '{code}' of kind '{unit.kind}' cannot be {flag}", {RESPONDING_UNIT: f"not {flag}"})
    return unit


def registered() -> dict[str, Handler]:
    """The handlers registered so far (importing the ``handlers`` package registers them all)."""
    if not HANDLERS:
        raise RuntimeError("no service-task handlers are registered: import the handlers package "
                           "(the app factory does)")
    return HANDLERS
