"""The JSON API. Thin: parse input, call one service inside one unit of work, render JSON."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from wtforms.validators import ValidationError

from app.db import Database
from app.definitions.versions import REQUEST_CONFIGURATION, configuration_for
from app.models import User
from app.services import auth, per_version
from app.services.auth import Principal, SessionLimits, principal_for, user_for_token
from app.services.errors import Conflict, Forbidden, ServiceError, TooMany, Unauthorized
from app.services.login import LoginLimits
from app.services.public_limits import PublicLimits
from app.settings import Settings

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
        reason = str(exc.orig).lower()  # the driver's message, not the SQL (a column may be called blocked_until)
        if "database is locked" in reason or "could not serialize" in reason:
            raise Conflict("the database is busy with a concurrent change; retry") from exc
        raise


def settings() -> Settings:
    return current_app.extensions["whistle.settings"]


def session_limits() -> SessionLimits:
    return SessionLimits(idle=timedelta(minutes=settings().session_idle_minutes),
                         absolute=timedelta(hours=settings().session_max_hours))


def login_limits() -> LoginLimits:
    conf = settings()
    return LoginLimits(conf.login_account_failures, conf.login_address_failures, conf.login_lockout_seconds,
                       conf.login_lockout_max_seconds)


def configured_public_limits() -> PublicLimits:
    conf = settings()
    return PublicLimits(conf.public_reports_per_hour, conf.public_upload_mb_per_day,
                        conf.public_upload_total_mb_per_day, conf.track_lookups_per_hour)


def current_principal(s: Session, required: bool = True) -> Principal | None:
    user: User | None = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_for_token(s, header.removeprefix("Bearer ").strip())
    else:
        user = session_user(s)
    if user is None:
        if required:
            raise Unauthorized("log in first (session) or send 'Authorization: Bearer <token>'")
        return None
    _keep_configuration(s)
    return principal_for(s, user)


def session_user(s: Session) -> User | None:
    """The user of this browser session, checked on the server: ended by logout, idle or too old → None."""
    raw = session.get("sid")
    user = auth.user_for_session(s, raw, session_limits()) if isinstance(raw, str) else None
    if user is not None:
        _keep_configuration(s)
    return user


def _keep_configuration(s: Session) -> None:
    """The current version's id came with the user (per_version): the request's configuration needs
    no query of its own (cached per version id, as a version's files never change)."""
    facts = per_version.facts_of(s)
    if facts is not None and g.get(REQUEST_CONFIGURATION) is None:
        setattr(g, REQUEST_CONFIGURATION, configuration_for(s, facts.latest_version_id))


def begin_session(s: Session, user: User) -> None:
    """A fresh session for ``user`` (no fixation of an earlier one); the chosen language stays. The
    cookie expires with the absolute timeout."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["sid"] = auth.start_session(s, user, session_limits())
    session.permanent = True


def end_session(s: Session) -> None:
    """Log out: the session ends on the server too, so a copy of the cookie is worth nothing."""
    raw = session.get("sid")
    if isinstance(raw, str):
        auth.end_session(s, raw)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


# Unsafe API calls authenticated by the session cookie need the CSRF token in this header (the web
# pages' token; POST /api/login and GET /api/me give it too); bearer tokens need none. These take
# no session: login and tokens take credentials, a public report is anonymous.
CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")
CSRF_FREE_ENDPOINTS = {"api.login", "api.create_token", "api.public_report"}


def csrf_token() -> str:
    return generate_csrf()


@bp.before_request
def _csrf_for_cookie_writes() -> None:
    if request.method in READ_METHODS or request.endpoint in CSRF_FREE_ENDPOINTS:
        return
    if request.headers.get("Authorization", "").startswith("Bearer ") or "sid" not in session:
        return
    token = next((request.headers[h] for h in CSRF_HEADERS if request.headers.get(h)), None)
    try:
        validate_csrf(token)
    except ValidationError:
        raise Forbidden(
            "缺少或无效的 CSRF 令牌：用登录 Cookie 调用写操作时须带 X-CSRFToken 请求头（令牌见 POST /api/login "
            "或 GET /api/me 的 csrf_token），或改用 Bearer 令牌 / missing or invalid CSRF token: a write with the "
            "session cookie needs the X-CSRFToken header (csrf_token from POST /api/login or GET /api/me), or "
            "use 'Authorization: Bearer <token>'", {"X-CSRFToken": "missing or invalid"},
        ) from None


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
    response = jsonify(body)
    if isinstance(exc, TooMany):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response, exc.status


from app.api import audit, deadlines, routes  # noqa: E402,F401  (registers the routes)
from app.api import migrations as migrations_api  # noqa: E402,F401  (registers its route)
from app.assessment import api as assessment_api  # noqa: E402,F401  (registers its routes)
from app.attachments import api as attachments_api  # noqa: E402,F401  (registers its routes)
from app.definitions import api as definitions_api  # noqa: E402,F401  (registers its routes)
from app.intake import api as intake_api  # noqa: E402,F401  (registers its routes)
