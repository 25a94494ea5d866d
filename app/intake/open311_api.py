"""Open311 GeoReport v2 at /open311/v2/: JSON only (``.json`` or no suffix). Errors come as the
spec's list of {code, description}, the description naming the parameter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from app.api import json_body, unit_of_work
from app.intake import open311
from app.intake.sources import open311_settings
from app.models import Open311Client
from app.services.errors import Invalid, NotFound, ServiceError
from app.web.i18n import csrf

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)  # clients authenticate with an API key, never with a cookie


@bp.errorhandler(ServiceError)
def _error(exc: ServiceError) -> Any:
    status = 400 if isinstance(exc, Invalid) else exc.status
    return jsonify([{"code": status, "description": exc.message}]), status


def _params() -> Mapping[str, str]:
    """Query and form parameters (the spec posts forms); a JSON object is taken too."""
    values: dict[str, str] = dict(request.args.items())
    if request.method == "POST" and request.is_json:
        body = json_body()
        if not isinstance(body, dict):
            raise Invalid("body: expected a JSON object", {"body": "expected a JSON object"})
        wrong = sorted(k for k, v in body.items() if not isinstance(v, str | int | float) or isinstance(v, bool))
        if wrong:
            raise Invalid(f"{wrong[0]}: expected text or a number", {wrong[0]: "expected text or a number"})
        values.update({k: str(v) for k, v in body.items()})
    elif request.method == "POST":
        values.update(request.form.items())
    return values


def _json_only(name: str) -> str:
    """``x.json`` → ``x``; another format is refused."""
    stem, dot, fmt = name.rpartition(".")
    if dot and fmt != "json":
        raise Invalid(f"format: only json is served, not '{fmt}'", {"format": "json only"})
    return stem if dot else name


def open311_call(func: Callable[..., Any]) -> Callable[..., Any]:
    """One unit of work, the client of the API key, the jurisdiction checked."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        params = _params()
        jurisdiction = params.get("jurisdiction_id")
        if jurisdiction and jurisdiction != open311_settings().get("jurisdiction_id"):
            raise NotFound("jurisdiction_id: not found", {"jurisdiction_id": "not found"})
        with unit_of_work() as s:
            client = open311.client_for_key(s, params.get("api_key"))
            return func(s, client, params, *args, **kwargs)

    return wrapper


@bp.get("/services")
@bp.get("/services.json")
def services() -> Any:
    """Discovery needs no key: the catalogue is public."""
    return jsonify(open311.services())


@bp.get("/services/<code>")
def service(code: str) -> Any:
    return jsonify(open311.service_definition(_json_only(code)))


@bp.post("/requests")
@bp.post("/requests.json")
@open311_call
def post_request(s: Session, client: Open311Client, params: Mapping[str, str]) -> Any:
    return jsonify(open311.post_request(s, client, params)), 201


@bp.get("/requests")
@bp.get("/requests.json")
@open311_call
def get_requests(s: Session, client: Open311Client, params: Mapping[str, str]) -> Any:
    return jsonify(open311.get_requests(s, client, params))


@bp.get("/requests/<number>")
@open311_call
def get_request(s: Session, client: Open311Client, params: Mapping[str, str], number: str) -> Any:
    return jsonify(open311.get_request(s, client, _json_only(number)))


@bp.get("/tokens/<token>")
@open311_call
def token(s: Session, client: Open311Client, params: Mapping[str, str], token: str) -> Any:
    return jsonify(open311.token_lookup(s, client, _json_only(token)))
