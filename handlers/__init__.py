"""Service-task handlers: the only Python a BPMN service task can call, registered by name.

A diagram names a handler in ``<spiffworkflow:serviceTaskOperator id="NAME">``; its parameters are
sandboxed expressions evaluated on the task data and passed as keyword arguments. A handler gets
the :class:`HandlerContext` of the running step (same transaction) and returns JSON-able data,
which the engine stores in the task's result variable.
"""

from __future__ import annotations

from app.services.handler_api import HANDLERS, HandlerContext, HandlerError, handler, unit_that

__all__ = ["HANDLERS", "HandlerContext", "HandlerError", "handler", "unit_that"]

# Registers every handler (each module's @handler functions); below the names they import from here.
from . import cases, catalogue, deadlines, whistle  # noqa: F401
