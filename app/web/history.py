"""Web routes: a case's history (吹哨全留痕 · 历史回放) — every recorded event, a step slider, and at
the chosen step the diagram, the case data and the open tasks, with the chain's verification.

Server-side per step (``?step=k``): the page is rendered from the same services as
``GET /api/cases/<id>/history`` and ``/history/<step>`` (app/services/audit.py); the slider is a GET
form that history.js submits when it moves, so the page also works without scripts. The diagram
is drawn by diagram.js from ``/cases/<id>/history/<step>/diagram.json``, which has the shape of the
live ``/cases/<id>/diagram.json`` with the element states of that step.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from flask import jsonify, render_template, request
from sqlalchemy.orm import Session

from app.engine import BundleError
from app.models import Case, ProcessVersion
from app.services import audit, lookups
from app.services.auth import Principal
from app.services.errors import NotFound
from app.services.processes import bundle_of
from app.web import bp
from app.web.forms import N_
from app.web.labels import EVENTS
from app.web.session import page

# The record-keeping events the case page leaves out (cases.RECORD_KEEPING).
RECORD_EVENTS = {
    "process_started": N_("流程启动"),
    "state_saved": N_("状态快照"),
    "handler_called": N_("调用处理程序"),
}
HISTORY_EVENTS = EVENTS | RECORD_EVENTS
SHORT_HASH = 12


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
    record = audit.history(s, principal, case_id)  # 404 unless this user may see the case
    numbers = [step["step"] for step in record["steps"]]
    step = chosen_step(numbers, request.args.get("step"))
    try:
        state = audit.state_at(s, principal, case_id, step) if step else None
    except NotFound:  # a step before any saved state: the timeline still shows what was recorded
        state = None
    position = numbers.index(step) if step else 0
    return render_template(
        "history.html", record=record, case=record["case"], case_id=case_id, step=step, steps=record["steps"],
        state=state, position=position,
        previous=numbers[position - 1] if position > 0 else None,
        following=numbers[position + 1] if position + 1 < len(numbers) else None,
        current=record["steps"][position] if numbers else None,
        units=lookups.unit_names(s), event_labels=HISTORY_EVENTS, short=SHORT_HASH,
    )


@bp.get("/cases/<int:case_id>/history/<int:step>/diagram.json")
@page
def history_diagram(s: Session, principal: Principal, case_id: int, step: int) -> Any:
    """The diagram data of the case at that step, in the shape diagram.js draws."""
    state = audit.state_at(s, principal, case_id, step)
    return jsonify(diagram_at(s, s.get(Case, case_id), state["elements"]) | {"step": step})


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
