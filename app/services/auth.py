"""Who is asking: login, API tokens, and the roles and units a user acts in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app.models import ApiToken, RoleAssignment, User, WebSession
from app.services import clock, per_version
from app.services.errors import Forbidden, Unauthorized
from app.services.journal import record_event
from app.services.locality import load_locality
from app.services.org import descendant_ids


@dataclass
class Principal:
    user: User
    assignments: list[tuple[str, int]]  # (role, unit_id)
    visible_units: set[int] = field(default_factory=set)

    @property
    def roles(self) -> set[str]:
        return {role for role, _ in self.assignments}

    def holds(self, role: str, unit_id: int) -> bool:
        return (role, unit_id) in self.assignments

    def can(self, capability: str, unit_id: int | None = None) -> bool:
        """Whether a role held (in ``unit_id``, or in any unit) grants the capability (locality model)."""
        granted = load_locality().roles_with(capability)
        return any(role in granted and unit_id in (None, unit) for role, unit in self.assignments)

    @property
    def read_only(self) -> bool:
        """Every role held only reads (an auditor's): the user is refused every write."""
        return not self.roles - load_locality().roles_with("read_only")

    def require(self, capability: str) -> None:
        if not self.can(capability):
            roles = sorted(load_locality().roles_with(capability))
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")


def principal_for(session: Session, user: User) -> Principal:
    assignments = [(r.role, r.unit_id) for r in user.roles]
    visible = descendant_ids(session, {unit_id for _, unit_id in assignments})
    return Principal(user, assignments, visible)


def authenticate(session: Session, username: str, password: str) -> User:
    user = check_credentials(session, username, password)
    if user is None:
        raise Unauthorized("wrong username or password")
    return user


def check_credentials(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None. An unknown name costs the same
    password hash as a known one, so the time of the answer does not tell whether the user exists."""
    user = session.scalar(select(User).where(User.username == username))
    matches = check_password_hash(user.password_hash if user is not None else _stand_in_hash(), password)
    return user if user is not None and user.active and matches else None


@cache
def _stand_in_hash() -> str:
    """A hash made the way users' passwords are (werkzeug's default method), of no one's password."""
    return generate_password_hash(secrets.token_hex(16))


def record_login_failure(session: Session, username: str, address: str | None, failures: int = 1) -> None:
    """A failed login is an event of no case (the ``system`` chain); ``failures``: how many there
    were from the address this hour (app/services/login.py records only some of them)."""
    record_event(session, None, "login_failed", username[:64] or "anonymous",
                 data={"username": username[:200], "address": address, "failures": failures})


def issue_token(session: Session, user: User) -> str:
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token), created_at=clock.now()))
    return token


def user_for_token(session: Session, token: str) -> User:
    # the user's roles in the same statement: every request needs them (one round trip fewer)
    # the user's roles and the request's facts in the same statement: every request needs them
    row = session.execute(
        select(User, *per_version.fact_columns(User.id)).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token)).options(joinedload(User.roles))
    ).unique().first()
    if row is None or not row.User.active:
        raise Unauthorized("invalid API token")
    per_version.remember(session, row.User.id, row)
    return row.User


def revoke_token(session: Session, token: str) -> None:
    session.execute(delete(ApiToken).where(ApiToken.token_hash == _digest(token)))


# --- server-side web sessions ----------------------------------------------------------------------

# A session's last-seen time is written at most this often (not on every request).
SEEN_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta = timedelta(hours=2)
    absolute: timedelta = timedelta(hours=12)


def start_session(session: Session, user: User, limits: SessionLimits) -> str:
    """A new session of ``user``; the random id returned goes into the cookie, its hash is stored.
    The user's sessions that have timed out are removed on the way."""
    now = clock.now()
    stale = (WebSession.created_at <= now - limits.absolute) | (WebSession.seen_at <= now - limits.idle)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id, stale))
    raw = secrets.token_urlsafe(32)
    session.add(WebSession(id_hash=_digest(raw), user_id=user.id, created_at=now, seen_at=now))
    return raw


def user_for_session(session: Session, raw: str, limits: SessionLimits) -> User | None:
    """The active user of a live session; None once it was ended, idle too long or too old."""
    # one statement: the session, its user with the roles, and the request's facts (per_version)
    found = session.execute(
        select(WebSession, User, *per_version.fact_columns(User.id)).join(User, User.id == WebSession.user_id)
        .where(WebSession.id_hash == _digest(raw)).options(joinedload(User.roles))
    ).unique().first()
    now = clock.now()
    if found is None:
        return None
    row, user = found.WebSession, found.User
    if row.seen_at <= now - limits.idle or row.created_at <= now - limits.absolute or not user.active:
        return None
    per_version.remember(session, user.id, found)
    if now - row.seen_at >= SEEN_EVERY:
        row.seen_at = now
    return user


def end_session(session: Session, raw: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == _digest(raw)))


def end_sessions_of(session: Session, user_id: int) -> None:
    """Every browser session of the user ends (call it when the password changes or the user is
    deactivated): a cookie captured earlier no longer logs anyone in."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def users_holding(session: Session, role: str, unit_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User).join(RoleAssignment).where(RoleAssignment.role == role, RoleAssignment.unit_id == unit_id)
        )
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
