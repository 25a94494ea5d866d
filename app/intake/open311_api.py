"""Open311 GeoReport v2 at /open311/v2/: JSON (``.json`` or no suffix) or XML (``.xml``), shaped as
the spec's examples. Errors come as the spec's list of {code, description} (``<errors>`` in XML),
the description naming the parameter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from app.api import json_body, unit_of_work
from app.intake import open311, open311_xml
from app.intake.sources import open311_settings
from app.models import Open311Client
from app.services.errors import Invalid, NotFound, ServiceError
from app.uploads import accepts_uploads, read_upload
from app.web.i18n import csrf

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
csrf.exempt(bp)  # clients authenticate with an API key, never with a cookie


# the XML document of each answer: (root element, element of each item) as in the spec's examples
SERVICES, REQUESTS, ERRORS = ("services", "service"), ("service_requests", "request"), ("errors", "error")
FORMATS = ("json", "xml")


@bp.errorhandler(ServiceError)
def _error(exc: ServiceError) -> Any:
    status = 400 if isinstance(exc, Invalid) else exc.status
    return _answer([{"code": status, "description": exc.message}], ERRORS, status)


def _format() -> str:
    """The format the address asks for: ``.xml`` → xml, else json."""
    return "xml" if request.path.endswith(".xml") else "json"


def _answer(data: Any, shape: tuple[str, str], status: int = 200) -> Any:
    if _format() == "xml":
        return Response(open311_xml.document(data, *shape), status, mimetype="text/xml")
    return jsonify(data), status


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


def _stem(name: str) -> str:
    """``x.json`` or ``x.xml`` → ``x``; another format is refused."""
    stem, dot, fmt = name.rpartition(".")
    if dot and fmt not in FORMATS:
        raise Invalid(f"format: json or xml, not '{fmt}'", {"format": "json or xml"})
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
@bp.get("/services.xml")
def services() -> Any:
    """Discovery needs no key: the catalogue is public."""
    return _answer(open311.services(), SERVICES)


@bp.get("/services/<code>")
def service(code: str) -> Any:
    definition = open311.service_definition(_stem(code))
    if _format() == "xml":
        return Response(open311_xml.service_definition(definition), mimetype="text/xml")
    return jsonify(definition)


@bp.post("/requests")
@bp.post("/requests.json")
@bp.post("/requests.xml")
@accepts_uploads
@open311_call
def post_request(s: Session, client: Open311Client, params: Mapping[str, str]) -> Any:
    """A form (or JSON) request; ``media`` may carry the photo as a multipart file."""
    file = request.files.get("media")
    media = read_upload(file, "media") if file is not None and file.filename else None
    return _answer(open311.post_request(s, client, params, media), REQUESTS, 201)


@bp.get("/requests")
@bp.get("/requests.json")
@bp.get("/requests.xml")
@open311_call
def get_requests(s: Session, client: Open311Client, params: Mapping[str, str]) -> Any:
    return _answer(open311.get_requests(s, client, params), REQUESTS)


@bp.get("/requests/<number>")
@open311_call
def get_request(s: Session, client: Open311Client, params: Mapping[str, str], number: str) -> Any:
    return _answer(open311.get_request(s, client, _stem(number)), REQUESTS)


@bp.get("/tokens/<token>")
@open311_call
def token(s: Session, client: Open311Client, params: Mapping[str, str], token: str) -> Any:
    return _answer(open311.token_lookup(s, client, _stem(token)), REQUESTS)
