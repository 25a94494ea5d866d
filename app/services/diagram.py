"""The live diagram of a case (流程图): its own process version's BPMN, with where the case stands."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.definitions.versions import bundle_of
from app.engine import BundleError
from app.models import ProcessVersion
from app.services import cases, workflow
from app.services.auth import Principal
from app.services.errors import NotFound


def case_diagram(session: Session, principal: Principal, case_id: int) -> dict[str, Any]:
    """The BPMN XML of every process the case has entered (main process first), each with the
    element ids completed and holding tokens, from the process version the case runs on."""
    case = cases.visible(session, principal, case_id)
    version = session.get(ProcessVersion, case.process_version_id)
    bundle = bundle_of(session, case.process_version_id)
    states = workflow.load(session, case).element_states() if case.state else {}
    order = [case.process_id, *[p for p in states if p != case.process_id]]
    processes = []
    for process_id in order:
        try:
            file, name = bundle.process_file(process_id)
        except BundleError as exc:
            raise NotFound(str(exc)) from exc
        state = states.get(process_id)
        processes.append({
            "id": process_id,
            "name": name,
            "file": file,
            "xml": version.files[file] if version else "",
            "completed": list(state.completed) if state else [],
            "active": list(state.active) if state else [],
        })
    return {
        "case_id": case.id,
        "case_number": case.number,
        "status": case.status,
        "process_version": version.version if version else None,
        "processes": processes,
    }
