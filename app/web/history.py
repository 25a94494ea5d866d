"""Web routes: a case's history (吹哨全留痕 · 历史回放) — a step slider, and at the chosen step the
diagram, the case data, the open tasks and the recorded events around it, with the chain's verification.

Server-side per step (``?step=k``): the page is rendered from the same services as
``GET /api/cases/<id>/history`` and ``/history/<step>`` (app/services/audit.py); the slider is a GET
form, so the page also works without scripts. With scripts, history.js fetches only the part that
changes (``?step=k&partial=1``, web/_history_step.html) and swaps it in, redrawing the diagram's
markers in place: moving through the steps reloads neither the page nor the diagram. The events
are shown for a window of steps around the chosen one (a long case has thousands: rendering them
all made the page grow with the case), with links to the windows before and after it; the
dossier and ``GET /api/cases/<id>/history`` hold every event. The diagram
is drawn by diagram.js from ``/cases/<id>/history/<step>/diagram.json``, which has the shape of the
live ``/cases/<id>/diagram.json`` with the element states of that step.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.definitions.versions import bundle_of
from app.engine import BundleError
from app.models import Case, ProcessVersion
from app.services import audit, lookups, replay
from app.services.auth import Principal
from app.services.cases import visible
from app.services.errors import NotFound
from app.services.locality import load_locality
from app.services.names import RECORD_EVENTS
from app.services.record_keys import RESPONDING_UNIT
from app.web import bp
from app.web.forms import N_
from app.web.labels import EVENTS, is_english, matter_label, model_label, when
from app.web.session import page

HISTORY_EVENTS = EVENTS | RECORD_EVENTS
SHORT_HASH = 12
AROUND = 10  # steps shown either side of the chosen one in the event list
# The engine's bookkeeping: listed only when the reader asks for every event (?all=1).
BOOKKEEPING = {"task_ready", "handler_called", "state_saved", "process_started"}
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Window:
    """The steps whose events the page lists, and the steps that open the windows before and after."""

    first: int
    last: int
    earlier: int | None
    later: int | None


def event_window(steps: list[int], position: int, around: int = AROUND) -> Window:
    """``around`` steps either side of ``steps[position]``; the neighbouring windows' centres."""
    low, high = max(position - around, 0), min(position + around, len(steps) - 1)
    earlier = steps[max(low - 1 - around, 0)] if low > 0 else None
    later = steps[min(high + 1 + around, len(steps) - 1)] if high < len(steps) - 1 else None
    return Window(steps[low], steps[high], earlier, later)


def chosen_step(steps: list[int], raw: str | None) -> int:
    """The step asked for (``?step=k``): the last one at or before k; the latest when none is asked."""
    if not steps:
        return 0
    try:
        wanted = int(raw) if raw else steps[-1]
    except ValueError:
        wanted = steps[-1]
    return steps[max(bisect_right(steps, wanted) - 1, 0)]


@bp.get("/cases/<int:case_id>/history")
@page
def history_page(s: Session, principal: Principal, case_id: int) -> Any:
    record = audit.record_of(s, principal, case_id)  # 404 unless this user may see the case
    overview = audit.history_of(s, record)
    numbers = [step["step"] for step in overview["steps"]]
    step = chosen_step(numbers, request.args.get("step"))
    try:
        state = audit.state_of(s, record, step) if step else None
    except NotFound:  # a step before any saved state: the timeline still shows what was recorded
        state = None
    position = numbers.index(step) if step else 0
    window = event_window(numbers, position) if numbers else Window(0, 0, None, None)
    every = request.args.get("all") == "1"
    events = [e for e in record.events_of_steps(window.first, window.last) if every or e["type"] not in BOOKKEEPING]
    units = lookups.unit_names(s)
    fields = labelled_data(state["data"], lookups.form_labels(s, s.get(Case, case_id)), units) if state else []
    partial = request.args.get("partial") == "1"
    return render_template(
        "web/_history_step.html" if partial else "history.html", partial=partial,
        record=overview, case=overview["case"], case_id=case_id, step=step,
        steps=overview["steps"], state=state, position=position, events=events, window=window,
        previous=numbers[position - 1] if position > 0 else None,
        following=numbers[position + 1] if position + 1 < len(numbers) else None,
        current=overview["steps"][position] if numbers else None, titles=record.task_titles(),
        broken_step=step_of_event(overview["steps"], overview["verification"]["first_break"]),
        units=units, event_names=event_names({e["type"] for e in events}), short=SHORT_HASH,
        me=principal.user, fields=fields, every=every,
    )


def step_of_event(steps: list[dict[str, Any]], broken: dict[str, Any] | None) -> int | None:
    """The step holding the first broken link's event, to open it from the badge."""
    seq = broken.get("seq") if broken else None
    return next((st["step"] for st in steps if seq in st["events"]), None) if seq is not None else None


def event_names(types: set[str]) -> dict[str, str]:
    """Each event type's name in the reader's language, translated once per page, not per event."""
    return {code: _(HISTORY_EVENTS[code]) if code in HISTORY_EVENTS else code for code in types}


@bp.get("/cases/<int:case_id>/history/<int:step>/diagram.json")
@page
def history_diagram(s: Session, principal: Principal, case_id: int, step: int) -> Any:
    """The diagram data of the case at that step, in the shape diagram.js draws."""
    case, elements = audit.elements_at(s, principal, case_id, step)
    return jsonify(diagram_at(s, case, elements) | {"step": step})


def diagram_at(s: Session, case: Case, elements: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """Each process the case had entered (main process first) with its BPMN and element states."""
    version = s.get(ProcessVersion, case.process_version_id)
    bundle = bundle_of(s, case.process_version_id)
    processes = []
    for process_id in [case.process_id, *[p for p in elements if p != case.process_id]]:
        try:
            file, name = bundle.process_file(process_id)
        except BundleError as exc:
            raise NotFound(str(exc)) from exc
        states = elements.get(process_id, {})
        processes.append({
            "id": process_id, "name": name, "file": file, "xml": version.files[file] if version else "",
            "completed": list(states.get("completed", [])), "active": list(states.get("active", [])),
        })
    return {"case_id": case.id, "case_number": case.number, "status": case.status,
            "process_version": version.version if version else None, "processes": processes}


# --- the case data at a step, as labelled fields ---------------------------------------------------

# Process variables the diagrams set that no form names (the case's own fields and its path).
CASE_FIELDS = {
    "case_id": N_("案件序号"), "case_number": N_("案件编号"), "title": N_("标题"), "matter": N_("事项"),
    "urgent": N_("紧急"), "top": N_("受理平台单位"), "level": N_("吹哨层级"), "grade": N_("分级"),
    "self_handled": N_("网格员自行处置"), "direct_whistle_level": N_("直接吹哨层级"),
    "escalated_from": N_("由此案件上报"), "whistle_unit": N_("吹哨单位"), RESPONDING_UNIT: N_("部门"),
}


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    value: str
    raw: bool  # a nested value shown as JSON


def labelled_data(data: dict[str, Any], forms: lookups.FormLabels, units: dict[str, str]) -> list[Field]:
    """Each variable under the title a form or the locality model gives it; codes as names."""
    titles = _form_titles(forms)
    kinds = set(load_locality().unit_kinds)
    fields = []
    for key, value in data.items():
        label = model_label("unit_kind", key) if key in kinds else (
            _(CASE_FIELDS[key]) if key in CASE_FIELDS else titles.get(key, key))
        shown, raw = _shown(key, value, units)
        fields.append(Field(key, label, shown, raw))
    return sorted(fields, key=lambda f: (f.raw, f.key not in CASE_FIELDS, f.label))


def _form_titles(forms: lookups.FormLabels) -> dict[str, str]:
    english = is_english()
    titles: dict[str, str] = {}
    for properties in forms.forms.values():
        for name, prop in properties.items():
            if isinstance(prop, dict) and name not in titles and prop.get("title"):
                titles[name] = str(prop.get("description") if english and prop.get("description") else prop["title"])
    return titles


def _shown(key: str, value: Any, units: dict[str, str]) -> tuple[str, bool]:
    if isinstance(value, bool):
        return (_("是") if value else _("否")), False
    if value is None or value == "":
        return "—", False
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False), True
    text = str(value)
    if key == "matter":
        return matter_label(text), False
    if key in ("level", "direct_whistle_level"):
        return model_label("level", text), False
    if text in units:
        return units[text], False
    if ISO_TIME.match(text):
        return when(text), False
    return text, False


@bp.get("/cases/<int:case_id>/replay")
@page
def replay_page(s: Session, principal: Principal, case_id: int) -> Any:
    """重放校验结果: the case re-run from its record, as a page (the verdict, steps, first divergence)."""
    visible(s, principal, case_id)
    result = replay.replay_case(s, case_id)
    found = result.divergence or result.error
    return render_template(
        "replay.html", result=result, found=found, case_id=case_id, me=principal.user,
        verdict="ok" if result.ok else ("divergence" if result.divergence else "error"),
    )
