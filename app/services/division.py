"""分工: the division of work agreed at the coordination meeting (现场协调) — each summoned
department's own task and, where given, its own due date.

A department's handling deadline is its due date's end when that comes before the stage's general
limit and is still ahead; otherwise the general limit stands (a rework after the date has passed
gets the general limit again, not a deadline already gone).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from app.services import deadlines
from app.services.errors import Invalid
from app.services.record_keys import RESPONDING_UNIT
from app.services.worktime import load_calendar


def check(division: list[dict[str, Any]] | None, summoned: list[str], now: datetime) -> list[dict[str, Any]]:
    """The division as recorded: one row per summoned department at most, due dates real and not
    before today (local). Bad rows are refused by name (``division.<i>.<field>``)."""
    rows = division or []
    today = load_calendar().to_local(now).date()
    fields: dict[str, str] = {}
    seen: set[str] = set()
    for index, row in enumerate(rows):
        code = str(row.get(RESPONDING_UNIT, ""))
        if code not in summoned:
            fields[f"division.{index}.{RESPONDING_UNIT}"] = f"'{code[:64]}' is not a summoned department"
        elif code in seen:
            fields[f"division.{index}.{RESPONDING_UNIT}"] = f"'{code}' has two rows"
        seen.add(code)
        if problem := _due_problem(row.get("due"), today):
            fields[f"division.{index}.due"] = problem
    if fields:
        raise Invalid("invalid division of work: " + ", ".join(sorted(fields)), fields)
    return [{k: row[k] for k in (RESPONDING_UNIT, "task", "due") if row.get(k)} for row in rows]


def department_deadline(general: dict[str, Any], division: list[dict[str, Any]] | None, department: str,
                        now: datetime) -> dict[str, Any]:
    """One department's handling deadline (``stage_deadlines``' keys) with its 分工 task and due date."""
    row = next((r for r in division or [] if r.get(RESPONDING_UNIT) == department), {})
    work = {**general, "task": row.get("task"), "due_date": row.get("due")}
    due = _date(row["due"]) if row.get("due") else None
    if due is None:
        return work
    calendar = load_calendar()
    end = datetime.combine(due + timedelta(days=1), time(0), calendar.zone)
    end_utc = deadlines.parse_iso(end.isoformat())
    hours = calendar.hours_between(now, end_utc)
    if hours <= 0 or end_utc >= deadlines.parse_iso(general["due"]):
        return work
    own = deadlines.stage_deadlines(now, hours)
    return {**work, **{k: own[k] for k in ("hours", "start", "remind", "due")}, "own": True}


def _due_problem(text: Any, today: date) -> str | None:
    if not text:
        return None
    due = _date(text)
    if due is None:
        return "not a date (YYYY-MM-DD)"
    return f"{due.isoformat()} is before today" if due < today else None


def _date(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        return None
