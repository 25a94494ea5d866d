"""What the pages show for codes: levels, statuses, event types, deadline lights, times.

Message ids are Chinese (the default language); ``_`` translates them for English readers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel import dates
from flask_babel import format_timedelta, get_locale
from flask_babel import gettext as _

from app.services import clock
from app.services.cases import CHANNELS
from app.services.catalogue import load_catalogue
from app.services.locality import Label, load_locality
from app.services.names import DUTIES, EVENTS, OUTCOMES, SATISFACTION, STATUSES
from app.services.record_keys import RESPONDING_UNIT
from app.services.worktime import load_calendar

# the Chinese names of the record's codes live with the record (the dossier names them too)
# Chinese city-management platforms: green under 80 % of the time limit, yellow until the deadline.
YELLOW_AT = 0.8


def is_english() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "en"


def bilingual(text: str | None) -> str:
    """Names written "中文 English" (task titles, role names): the half for the reader's language."""
    if not text:
        return ""
    head, _sep, tail = text.partition(" ")
    if not tail or not any("\u4e00" <= ch <= "\u9fff" for ch in head):
        return text
    return tail if is_english() else head


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    return datetime.fromisoformat(str(value).removesuffix("Z"))


def deadline_light(created_at: Any, due_at: Any, now: datetime | None = None) -> str | None:
    """green / yellow / red for a task's deadline, None when it has none."""
    start, due = parse_time(created_at), parse_time(due_at)
    if start is None or due is None:
        return None
    now = now or clock.now()
    if now >= due:
        return "red"
    limit = (due - start).total_seconds()
    if limit <= 0 or (now - start).total_seconds() >= YELLOW_AT * limit:
        return "yellow"
    return "green"


def when(value: Any) -> str:
    """A stored time (UTC) as the wall-clock time of the working-time calendar's zone (Asia/Shanghai)."""
    moment = parse_time(value)
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return dates.format_datetime(aware, "yyyy-MM-dd HH:mm", tzinfo=load_calendar().zone,
                                 locale=get_locale() or "zh_CN")


def ago(value: Any) -> str:
    moment = parse_time(value)
    if moment is None:
        return ""
    return format_timedelta(moment - clock.now(), granularity="minute", add_direction=True)


def until(value: Any) -> str:
    """Time left to a deadline ("剩 3小时"), or how far past it ("超期 2天")."""
    moment = parse_time(value)
    if moment is None:
        return ""
    left = moment - clock.now()
    span = format_timedelta(abs(left), granularity="minute", threshold=1.1)
    return _("剩 %(t)s", t=span) if left.total_seconds() > 0 else _("超期 %(t)s", t=span)


def label(table: dict[str, str], code: Any) -> str:
    return _(table[code]) if code in table else (str(code) if code is not None else "")


def model_label(kind: str, code: Any) -> str:
    """The locality model's label of a whistle level, stage, role or unit kind, in the reader's
    language; a code the model does not know shows as itself."""
    model = load_locality()
    table: dict[str, Any] = {"level": model.levels, "stage": model.stages, "role": model.roles,
                             "unit_kind": model.unit_kinds}[kind]
    item = table.get(code) if code is not None else None
    if item is None:
        return str(code) if code is not None else ""
    text: Label = item if isinstance(item, Label) else item.label
    return text.text(is_english())


def matter_label(code: Any) -> str:
    """A catalogue matter's name; a code the catalogue does not know shows as itself."""
    matter = load_catalogue().matter(str(code)) if code else None
    return matter.label(is_english()) if matter else (str(code) if code else "")


def channel_label(code: Any) -> str:
    return bilingual(CHANNELS.get(code, code)) if code else ""


def step_titles(timeline: list[dict[str, Any]]) -> dict[str, str]:
    """Task type → its title, as the case's own "task ready" events name them."""
    return {e["data"]["task"]: e["data"].get("title", e["data"]["task"])
            for e in timeline if e["type"] == "task_ready" and "task" in e["data"]}


def template_helpers() -> dict[str, Any]:
    return {
        "bilingual": bilingual, "is_english": is_english, "deadline_light": deadline_light,
        "when": when, "ago": ago, "until": until,
        "level_label": lambda c: model_label("level", c), "status_label": lambda c: label(STATUSES, c),
        "outcome_label": lambda c: label(OUTCOMES, c), "satisfaction_label": lambda c: label(SATISFACTION, c),
        "duty_label": lambda c: label(DUTIES, c),
        "stage_label": lambda c: model_label("stage", c), "event_label": lambda c: label(EVENTS, c),
        "channel_label": channel_label,
        "role_label": lambda c: model_label("role", c), "unit_kind_label": lambda c: model_label("unit_kind", c),
        "whistle_levels": lambda: list(load_locality().levels),
        "stages_meaning": lambda meaning: sorted(load_locality().stages_meaning(meaning)),
        "step_titles": step_titles, "matter_label": matter_label,
        "responding_unit": RESPONDING_UNIT,  # the recorded key naming a summoned unit (record_keys)
    }
