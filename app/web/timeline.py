"""The case timeline in people's words (办理过程): who did what, named as people name things.

The recorded events keep codes (``road_damage``, ``dept-hw``, login ids, attachment ids) because the
record must not change when a name does; this turns them into the names a reader knows, in the
reader's language: matter names, unit names, people's names, attachment names, the form's own
titles for fields and choices. A review is one entry (审核通过 with its reason), not "办理完成" and
"审核通过"; a rating the reporter gave on the tracking page is credited to the reporter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Attachment, Task, User
from app.services.locality import load_locality
from app.services.lookups import FormLabels, unit_names
from app.services.names import RESOLUTION
from app.services.record_keys import LEGACY_PLACE_FIELD, PLACE_FIELD, RESPONDING_UNIT
from app.web.labels import (
    EVENTS,
    OUTCOMES,
    SATISFACTION,
    bilingual,
    channel_label,
    is_english,
    label,
    matter_label,
    model_label,
    when,
)

# Events a handler records while a task completes that only restate the task's answer: they become
# the label of that task's entry instead of an entry of their own.
FOLDED = ("review_approved", "review_returned", "satisfaction")
HIDDEN = ("task_ready",)
SYSTEM = "system"


@dataclass
class Entry:
    seq: int
    type: str
    at: str | None
    label: str
    step: str = ""
    who: str = ""
    role: str = ""
    unit: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""  # a reason, an outcome, a rating: said after the label


@dataclass(frozen=True)
class Names:
    """The names behind the codes of one case's timeline, read once per page."""

    people: dict[str, str]
    units: dict[str, str]
    attachments: dict[str, str]
    rating_tasks: set[int]
    forms: FormLabels | None


def entries(session: Session, case: dict[str, Any], forms: FormLabels | None) -> list[Entry]:
    timeline: list[dict[str, Any]] = case["timeline"]
    names = _names(session, case, forms)
    titles = {e["data"]["task"]: e["data"].get("title", e["data"]["task"])
              for e in timeline if e["type"] == "task_ready" and "task" in e["data"]}
    result: list[Entry] = []
    for index, event in enumerate(timeline):
        if event["type"] in HIDDEN or _folded_into_previous(timeline, index):
            continue
        folded = _following(timeline, index) if event["type"] == "task_completed" else []
        entry = _entry(event, names, titles, skip=_restated(folded))
        _fold(entry, folded)
        result.append(entry)
    return result


def _names(session: Session, case: dict[str, Any], forms: FormLabels | None) -> Names:
    usernames = {e["actor"] for e in case["timeline"]} | {e["data"].get("assignee") for e in case["timeline"]}
    people = {u: n for u, n in session.execute(select(User.username, User.name).where(
        User.username.in_(sorted(x for x in usernames if isinstance(x, str)))))}
    attachments = {str(i): n for i, n in session.execute(
        select(Attachment.id, Attachment.original_name).where(Attachment.case_id == case["id"]))}
    rating = load_locality().stages_meaning("rating")
    rating_tasks = set(session.scalars(select(Task.id).where(Task.case_id == case["id"], Task.stage.in_(rating))))
    return Names(people, unit_names(session), attachments, rating_tasks, forms)


def _entry(event: dict[str, Any], names: Names, titles: dict[str, str], skip: set[str]) -> Entry:
    data = event["data"]
    task = data.get("task")
    entry = Entry(seq=event["seq"], type=event["type"], at=event["at"], label=label(EVENTS, event["type"]),
                  step=bilingual(titles.get(task, task)) if task else "",
                  who=_who(event, names), role=model_label("role", event["role"]) if event["role"] else "",
                  unit=names.units.get(event["unit"], event["unit"]) if event["unit"] else "")
    if event["type"] == "task_completed" and isinstance(data.get("form"), dict):
        form = {k: v for k, v in data["form"].items() if k not in skip}
        entry.details = _form_details(data.get("task_id"), form, names)
    else:
        entry.details, entry.note = _event_details(event, names)
    return entry


def _who(event: dict[str, Any], names: Names) -> str:
    actor = event["actor"]
    if actor == SYSTEM:
        reporter = event["type"] in ("task_completed", "satisfaction") and (
            event["data"].get("task_id") in names.rating_tasks or event["type"] == "satisfaction")
        return _("上报群众") if reporter else _("系统")
    return names.people.get(actor, actor)


def _following(timeline: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    """The folded events recorded in the same step as the task completion at ``index``."""
    step = timeline[index]["state_version"]
    found = []
    for event in timeline[index + 1:]:
        if event["state_version"] != step or event["type"] not in FOLDED:
            break
        found.append(event)
    return found


def _folded_into_previous(timeline: list[dict[str, Any]], index: int) -> bool:
    event = timeline[index]
    if event["type"] not in FOLDED:
        return False
    for earlier in reversed(timeline[:index]):
        if earlier["state_version"] != event["state_version"]:
            return False
        if earlier["type"] == "task_completed":
            return True
        if earlier["type"] not in FOLDED:
            return False
    return False


def _restated(folded: list[dict[str, Any]]) -> set[str]:
    """The form fields a folded event says again (the label and note carry them)."""
    kinds = {e["type"] for e in folded}
    return ({"satisfaction", "comment"} if "satisfaction" in kinds else set()) | (
        {"decision", "reason"} if kinds & {"review_approved", "review_returned"} else set())


def _fold(entry: Entry, folded: list[dict[str, Any]]) -> None:
    for event in folded:
        entry.label = label(EVENTS, event["type"])
        if event["type"] == "satisfaction":
            entry.note = _satisfaction_note(event["data"])
        elif event["data"].get("reason"):
            entry.note = str(event["data"]["reason"])


def _form_details(task_id: Any, form: dict[str, Any], names: Names) -> list[tuple[str, str]]:
    forms = names.forms
    details = []
    for name, value in form.items():
        title = forms.field(task_id, name, is_english()) if forms else name
        details.append((title, _form_value(task_id, name, value, names)))
    return details


def _form_value(task_id: Any, name: str, value: Any, names: Names) -> str:
    forms = names.forms
    widget = forms.widget(task_id, name) if forms else None
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if widget == "attachments" and isinstance(value, list):
        return "、".join(names.attachments.get(str(v), str(v)) for v in value)
    if widget in (RESPONDING_UNIT, "summoned") and isinstance(value, str):
        return names.units.get(value, value)
    if widget == "division" and isinstance(value, list):
        return "；".join(_division_row(row, names) for row in value if isinstance(row, dict))
    if widget == "matter":
        return matter_label(value)
    if widget == "whistle_level":
        return model_label("level", value)
    choice = forms.choice(task_id, name, value, is_english()) if forms else None
    if choice:
        return bilingual(choice)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def _division_row(row: dict[str, Any], names: Names) -> str:
    """分工 one department's row: "城管执法队：清理广告（2026-06-12 前）"."""
    department = str(row.get(RESPONDING_UNIT, ""))
    text = f"{names.units.get(department, department)}：{row.get('task', '')}"
    return text + (_("（%(due)s 前）", due=row["due"]) if row.get("due") else "")


def _event_details(event: dict[str, Any], names: Names) -> tuple[list[tuple[str, str]], str]:
    data, kind = event["data"], event["type"]
    unit = names.units
    if kind == "case_created":
        return [(_("渠道"), channel_label(data.get("channel"))),
                (_("地点"), unit.get(data.get(PLACE_FIELD) or data.get(LEGACY_PLACE_FIELD), "") or "")], ""
    if kind == "whistle_started":
        return [(_("层级"), model_label("level", data.get("level"))),
                (_("吹哨单位"), unit.get(data.get("whistle_unit"), data.get("whistle_unit") or ""))], ""
    if kind in ("dispatched", "reported_in", "evaluated") and data.get(RESPONDING_UNIT):
        details = [(_("部门"), unit.get(data[RESPONDING_UNIT], data[RESPONDING_UNIT]))]
        if kind == "reported_in" and data.get("on_time") is not None:
            details.append((_("报到"), _("按时") if data["on_time"] else _("超时")))
        if kind == "evaluated" and data.get("score") is not None:
            details.append((_("得分"), str(data["score"])))
        return details, ""
    if kind == "department_returned":
        department = data.get(RESPONDING_UNIT) or ""
        return [(_("部门"), unit.get(department, department))], str(data.get("reason") or "")
    if kind in ("attachment_added", "attachment_visibility"):
        return [(_("附件"), str(data.get("name", "")))], ""
    if kind == "task_assigned" and data.get("assignee"):
        return [(_("指派给"), names.people.get(data["assignee"], data["assignee"]))], ""
    if kind == "satisfaction":
        return [], _satisfaction_note(data)
    if kind in ("attempt_failed", "attempts_exhausted"):  # 回访未接通: which try, and when the next one is
        details = [(_("次数"), f"{data.get('attempt')} / {data.get('attempts')}")]
        if data.get("retry_at"):
            details.append((_("再次办理"), when(data["retry_at"])))
        return details, str(data.get("note") or "")
    if kind == "case_closed":
        outcome = label(OUTCOMES, data.get("outcome"))
        return [], f"{outcome}：{data['reason']}" if data.get("reason") else outcome
    return [], str(data.get("reason") or "")


def _satisfaction_note(data: dict[str, Any]) -> str:
    text = label(SATISFACTION, data.get("satisfaction"))
    if data.get("resolution"):  # 解决情况, recorded apart from satisfaction
        text = f"{label(RESOLUTION, data['resolution'])} · {text}"
    return f"{text}：{data['comment']}" if data.get("comment") else text
