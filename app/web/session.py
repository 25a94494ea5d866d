"""Who is looking at a page: the session login, and the decorators every web view runs under."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import redirect, request, url_for
from sqlalchemy.orm import Session

from app.api import begin_session, end_session, session_user, unit_of_work
from app.models import User
from app.services.auth import Principal, principal_for


def optional_principal(s: Session) -> Principal | None:
    """The logged-in user of this browser session (web pages take no bearer tokens); None once the
    session was ended by logout or timed out."""
    user = session_user(s)
    return principal_for(s, user) if user is not None else None


class LoginRequired(Exception):
    """Raised by a staff page opened without a login; answered with a redirect to the login page."""


def login_redirect() -> Any:
    target = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return redirect(url_for("web.login", next=target))


@contextmanager
def staff() -> Iterator[tuple[Session, Principal]]:
    """One unit of work for a logged-in user: ``with staff() as (s, principal): ...``."""
    with unit_of_work() as s:
        principal = optional_principal(s)
        if principal is None:
            raise LoginRequired()
        yield s, principal


def page(func: Callable[..., Any]) -> Callable[..., Any]:
    """A staff page: one unit of work, the principal as second argument; not logged in → login page."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with staff() as (s, principal):
            return func(s, principal, *args, **kwargs)

    return wrapper


def public_page(func: Callable[..., Any]) -> Callable[..., Any]:
    """A page for anyone (citizens): one unit of work, no login."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with unit_of_work() as s:
            return func(s, *args, **kwargs)

    return wrapper


def log_in(s: Session, user: User) -> None:
    begin_session(s, user)  # a new session id: no fixation of an earlier session


def log_out(s: Session) -> None:
    end_session(s)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: a crafted ?next= must not send the user to another site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
