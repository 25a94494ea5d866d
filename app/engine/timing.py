"""Bounds on what a timer expression may give: SpiffWorkflow computes a duration month by month
(``P99999999Y`` spins a worker at 100 % CPU for hours, outside any script budget), so a duration
or a date further than ``MAX_TIMER_YEARS`` away is refused before SpiffWorkflow sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

MAX_TIMER_YEARS = 100
_DAYS = {"years": 365.25, "months": 30.44, "weeks": 7, "days": 1, "hours": 1 / 24, "minutes": 1 / 1440,
         "seconds": 1 / 86400}


def duration_problem(value: Any) -> str | None:
    """Why an ISO 8601 duration is no good for a timer, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return f"timer duration {str(value)[:40]!r} is not an ISO 8601 duration string"
    try:
        parsed = TimerEventDefinition.parse_iso_duration(value)
    except Exception:  # SpiffWorkflow raises plain Exceptions for malformed durations
        return f"timer duration {value!r} is not an ISO 8601 duration (e.g. 'PT4H', 'P3D')"
    days = sum(float(amount) * _DAYS.get(unit, 0) for unit, amount in parsed.items())
    if days > MAX_TIMER_YEARS * 365.25:
        return f"timer duration {value!r} is longer than {MAX_TIMER_YEARS} years"
    return None


def date_problem(value: Any) -> str | None:
    """Why a timeDate value (an ISO date-time, or a duration from now) is no good, or None."""
    if isinstance(value, str) and value.startswith("P"):
        return duration_problem(value)
    if not isinstance(value, str) or len(value) > 64:
        return f"timer date {str(value)[:40]!r} is not an ISO 8601 date-time string"
    try:
        moment = TimerEventDefinition.get_datetime(value)
    except (ValueError, OverflowError):
        return f"timer date {value!r} is not an ISO 8601 date-time"
    if abs(moment - datetime.now(UTC)) > timedelta(days=MAX_TIMER_YEARS * 365.25):
        return f"timer date {value!r} is more than {MAX_TIMER_YEARS} years from now"
    return None


def timer_value_problem(definition: Any, value: Any) -> str | None:
    """What is wrong with the value a timer's expression gave, or None (not a timer: None)."""
    if isinstance(definition, DurationTimerEventDefinition):
        return duration_problem(value)
    if isinstance(definition, TimeDateEventDefinition):
        return date_problem(value)
    return None
