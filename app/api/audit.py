"""Routes of the audit record (吹哨全留痕): verify, history, state at a step, replay, dossier.

All are GET: auditors (read-only everywhere) use them. Each checks the case is visible to the caller.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.models import ProcessVersion
from app.services import audit, dossier, replay
from app.services.auth import Principal
from app.services.cases import visible
from app.services.errors import NotFound


@bp.get("/audit/verify")
@endpoint
def verify_chains(s: Session, principal: Principal) -> Any:
    return jsonify(audit.verify_view(s, principal, request.args.get("case")))


@bp.get("/cases/<int:case_id>/history")
@endpoint
def case_history(s: Session, principal: Principal, case_id: int) -> Any:
    return jsonify(audit.history(s, principal, case_id))


@bp.get("/cases/<int:case_id>/history/<int:step>")
@endpoint
def case_state_at(s: Session, principal: Principal, case_id: int, step: int) -> Any:
    return jsonify(audit.state_at(s, principal, case_id, step))


@bp.get("/cases/<int:case_id>/replay")
@endpoint
def case_replay(s: Session, principal: Principal, case_id: int) -> Any:
    visible(s, principal, case_id)
    return jsonify(replay.replay_case(s, case_id).as_dict())


@bp.get("/cases/<int:case_id>/diagrams")
@endpoint
def case_diagrams(s: Session, principal: Principal, case_id: int) -> Any:
    """The BPMN files of the version the case runs on, for a diagram viewer (bpmn-js)."""
    case = visible(s, principal, case_id)
    version = s.get(ProcessVersion, case.process_version_id)
    if version is None:
        raise NotFound(f"process version of case {case_id} not found")
    files = {name: text for name, text in version.files.items() if name.endswith(".bpmn")}
    processes = {pid: name for name, text in files.items()
                 for pid in re.findall(r"<(?:\w+:)?process\b[^>]*\bid=\"([^\"]+)\"", text)}
    return jsonify({"process_version": version.version, "process_id": case.process_id, "processes": processes,
                    "files": files})


@bp.get("/cases/<int:case_id>/dossier.json")
@endpoint
def case_dossier_json(s: Session, principal: Principal, case_id: int) -> Any:
    body = dossier.dossier(s, principal, case_id)
    resp = jsonify(body)
    resp.headers["Content-Disposition"] = f'attachment; filename="{dossier.filename(body, ".json")}"'
    return resp


@bp.get("/cases/<int:case_id>/dossier.html")
@endpoint
def case_dossier_html(s: Session, principal: Principal, case_id: int) -> Any:
    body = dossier.dossier(s, principal, case_id)
    resp = Response(dossier.dossier_html(body, dossier.reading_of(s, body)), mimetype="text/html")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    resp.headers["Content-Disposition"] = f'inline; filename="{dossier.filename(body, ".html")}"'
    return resp
