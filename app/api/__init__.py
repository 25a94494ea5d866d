"""The JSON API. Thin: parse input, call one service inside one unit of work, render JSON."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, jsonify, request, session
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db import Database
from app.models import User
from app.services.auth import Principal, principal_for, user_for_token
from app.services.errors import Conflict, Forbidden, ServiceError, Unauthorized

bp = Blueprint("api", __name__, url_prefix="/api")


def db() -> Database:
    return current_app.extensions["whistle.db"]


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction; a lost race on a case's version becomes 409 with nothing applied."""
    try:
        with db().unit_of_work() as session:
            yield session
    except StaleDataError as exc:
        raise Conflict("the case was changed by someone else at the same time; reload and retry") from exc
    except OperationalError as exc:
        if "locked" in str(exc).lower() or "could not serialize" in str(exc).lower():
            raise Conflict("the database is busy with a concurrent change; retry") from exc
        raise


def current_principal(session: Session, required: bool = True) -> Principal | None:
    user: User | None = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_for_token(session, header.removeprefix("Bearer ").strip())
    elif session_user_id := flask_session_user():
        user = session.get(User, session_user_id)
        if user is None or not user.active:
            user = None
    if user is None:
        if required:
            raise Unauthorized("log in first (session) or send 'Authorization: Bearer <token>'")
        return None
    return principal_for(session, user)


def flask_session_user() -> int | None:
    value = session.get("user_id")
    return value if isinstance(value, int) else None


# No request needs more; deeper bodies would exhaust the stack of the parser or the validators.
MAX_JSON_DEPTH = 32


def json_body() -> Any:
    """The request's JSON body; 400 when it is not JSON, malformed, nested too deeply, or holds
    text that is not Unicode (an unpaired surrogate escape such as "\\ud800")."""
    if not request.is_json:
        raise ServiceError("send a JSON body with Content-Type: application/json", {"": "expected JSON"})
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise _too_deep() from None
    if body is None:
        raise ServiceError("the body is not valid JSON", {"": "malformed JSON"})
    _check_json(body)
    return body


def _too_deep() -> ServiceError:
    return ServiceError(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep", {"": "nested too deeply"})


def _check_json(body: Any) -> None:
    """Refuse bodies nested too deeply, with strings (keys too) that cannot be encoded as UTF-8, or with
    NaN/Infinity (Python's parser accepts them; no database JSON column or the audit chain does)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)) and depth > MAX_JSON_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ServiceError("the JSON body contains NaN or Infinity, which JSON does not allow",
                               {"": "NaN or Infinity"})
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ServiceError(
                    "the JSON body contains text that is not valid Unicode (an unpaired surrogate)",
                    {"": "invalid Unicode"},
                ) from None


READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def endpoint(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a view inside one unit of work with the caller's principal as first argument."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with unit_of_work() as s:
            principal = current_principal(s)
            if request.method not in READ_METHODS and principal is not None and principal.read_only:
                raise Forbidden("auditors read only: this changes data (审计只读)")
            return func(s, principal, *args, **kwargs)

    return wrapper


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Any:
    body: dict[str, Any] = {"error": exc.error, "message": exc.message}
    if exc.fields:
        body["fields"] = exc.fields
    return jsonify(body), exc.status


from app.api import attachments, audit, deadlines, routes  # noqa: E402,F401  (registers the routes)
from app.assessment import api as assessment_api  # noqa: E402,F401  (registers its routes)
