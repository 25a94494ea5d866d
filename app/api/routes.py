"""Routes of the JSON API. Each one: parse → one service call in one unit of work → JSON."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import (
    begin_session,
    bp,
    configured_public_limits,
    csrf_token,
    db,
    end_session,
    endpoint,
    json_body,
    login_limits,
    unit_of_work,
)
from app.models import User
from app.request_checks import NUL_MESSAGE, has_nul
from app.services import auth, cases, login, public_limits, tasks, tracking
from app.services import case_list as case_list_service
from app.services.auth import Principal
from app.services.catalogue import load_catalogue
from app.services.errors import Invalid, ServiceError
from app.services.openapi import openapi_document


def _credentials(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not isinstance(
        body.get("password"), str
    ):
        raise Invalid("username and password are required", {"username": "required", "password": "required"})
    _refuse_nul(body, "username", "password")
    return body["username"], body["password"]


def _refuse_nul(body: dict[str, Any], *names: str) -> None:
    """A NUL in a name looked up in the database is a 400 (PostgreSQL cannot compare it)."""
    for name in names:
        if isinstance(body.get(name), str) and has_nul(body[name]):
            raise ServiceError(f"{NUL_MESSAGE} ({name})", {name: "NUL character"})


def _me(principal: Principal) -> dict[str, Any]:
    user = principal.user
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "roles": [{"role": r.role, "unit": r.unit.code, "unit_name": r.unit.name} for r in user.roles],
    }


def _log_in(s: Session, username: str, password: str) -> User:
    """The user, after the shared login checks (back-off, equal time, failures recorded)."""
    user_id = login.attempt(db(), username, password, request.remote_addr, login_limits())
    return s.get(User, user_id)


@bp.post("/login", endpoint="login")
def login_session() -> Any:
    """A session cookie; writes with it need the ``csrf_token`` returned here in X-CSRFToken."""
    username, password = _credentials(json_body())
    with unit_of_work() as s:
        user = _log_in(s, username, password)
        principal = auth.principal_for(s, user)
        begin_session(s, user)
        return jsonify(_me(principal) | {"csrf_token": csrf_token()})


@bp.post("/logout")
def logout() -> Any:
    """Ends the session (on the server too); called with a bearer token, revokes that token."""
    header = request.headers.get("Authorization", "")
    with unit_of_work() as s:
        end_session(s)
        if header.startswith("Bearer "):
            auth.revoke_token(s, header.removeprefix("Bearer ").strip())
    return jsonify({"ok": True})


@bp.post("/tokens")
def create_token() -> Any:
    username, password = _credentials(json_body())
    with unit_of_work() as s:
        user = _log_in(s, username, password)
        return jsonify({"token": auth.issue_token(s, user), "token_type": "Bearer"}), 201


@bp.get("/me")
@endpoint
def me(s: Session, principal: Principal) -> Any:
    return jsonify(_me(principal) | {"csrf_token": csrf_token()})


@bp.post("/reports")
@endpoint
def file_report(s: Session, principal: Principal) -> Any:
    case = cases.file_report(s, principal, json_body())
    return jsonify(cases.describe(s, case, principal)), 201


@bp.post("/public/reports")
def public_report() -> Any:
    body = json_body()
    public_limits.count_report(db(), request.remote_addr, configured_public_limits())
    with unit_of_work() as s:
        case = cases.file_report(s, None, body)
        return jsonify({"number": case.number, "tracking_code": case.tracking_code}), 201


@bp.get("/public/track/<code>")
def track(code: str) -> Any:
    public_limits.count_lookup(db(), request.remote_addr, configured_public_limits())
    with unit_of_work() as s:
        case = tracking.case_by_code(s, code)
        return jsonify(
            {"number": case.number, "title": case.title, "status": case.status, "outcome": case.outcome,
             "stage": case.current_step, "created_at": cases.iso(case.created_at),
             "closed_at": cases.iso(case.closed_at), "satisfaction": case.satisfaction}
        )


@bp.get("/inbox")
@endpoint
def inbox(s: Session, principal: Principal) -> Any:
    flt = tasks.InboxFilter.from_query(
        request.args, overdue=_bool_arg("overdue"), mine=_bool_arg("mine"),
        page=_int_arg("page", 1, 1, 100_000), per_page=_int_arg("per_page", 20, 1, 100),
    )
    return jsonify(tasks.inbox(s, principal, flt))


@bp.get("/tasks/<int:task_id>")
@endpoint
def task_detail(s: Session, principal: Principal, task_id: int) -> Any:
    return jsonify(tasks.task_detail(s, principal, task_id))


@bp.post("/tasks/<int:task_id>/claim")
@endpoint
def claim(s: Session, principal: Principal, task_id: int) -> Any:
    task = tasks.claim(s, principal, task_id)
    return jsonify({"task": task.id, "assignee": principal.user.username})


@bp.post("/tasks/<int:task_id>/unclaim")
@endpoint
def unclaim(s: Session, principal: Principal, task_id: int) -> Any:
    task = tasks.unclaim(s, principal, task_id)
    return jsonify({"task": task.id, "assignee": None})


@bp.post("/tasks/<int:task_id>/assign")
@endpoint
def assign(s: Session, principal: Principal, task_id: int) -> Any:
    body = json_body()
    if isinstance(body, dict):
        _refuse_nul(body, "username")
    task = tasks.assign(s, principal, task_id, body.get("username") if isinstance(body, dict) else None)
    return jsonify({"task": task.id, "assignee": task.assignee.username if task.assignee else None})


@bp.post("/tasks/<int:task_id>/complete")
@endpoint
def complete(s: Session, principal: Principal, task_id: int) -> Any:
    return jsonify(tasks.complete(s, principal, task_id, json_body()))


@bp.get("/cases")
@endpoint
def case_list(s: Session, principal: Principal) -> Any:
    return jsonify(case_list_service.list_cases(s, principal, case_list_service.parse_query(request.args)))


@bp.get("/cases/<int:case_id>")
@endpoint
def case_detail(s: Session, principal: Principal, case_id: int) -> Any:
    return jsonify(cases.case_view(s, principal, case_id))


@bp.get("/catalogue")
@endpoint
def catalogue(s: Session, principal: Principal) -> Any:
    cat = load_catalogue()
    return jsonify(
        {
            "classes": [{"code": k, "name": v} for k, v in cat.classes.items()],
            "matters": [
                {"code": m.code, "name": m.name, "class": m.klass, "lead": m.lead, "cooperating": list(m.cooperating),
                 "report_in_hours": m.report_in_hours, "handle_hours": m.handle_hours, "situation": m.situation}
                for m in cat.matters.values()
            ],
        }
    )


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document())


def _bool_arg(name: str) -> bool:
    raw = (request.args.get(name) or "").lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise Invalid(f"'{name}' must be true or false", {name: "must be true or false"})
    return raw in ("1", "true", "yes")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"'{name}' must be an integer", {name: "must be an integer"}) from None
    if not low <= value <= high:
        raise Invalid(f"'{name}' must be between {low} and {high}", {name: f"between {low} and {high}"})
    return value
