"""Who is asking: login, API tokens, and the roles and units a user acts in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from app.models import ApiToken, RoleAssignment, User
from app.services import clock
from app.services.errors import Forbidden, Unauthorized
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
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        raise Unauthorized("wrong username or password")
    return user


def record_login_failure(session: Session, username: str, address: str | None) -> None:
    """A failed login is an event of no case (the ``system`` chain); the caller commits it on
    its own, since the login's own transaction is rolled back."""
    from app.services.workflow import record_event  # workflow imports the services that import this

    record_event(session, None, "login_failed", username[:64] or "anonymous",
                 data={"username": username[:200], "address": address})


def issue_token(session: Session, user: User) -> str:
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token), created_at=clock.now()))
    return token


def user_for_token(session: Session, token: str) -> User:
    user = session.scalar(
        select(User).join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == _digest(token))
    )
    if user is None or not user.active:
        raise Unauthorized("invalid API token")
    return user


def revoke_token(session: Session, token: str) -> None:
    session.execute(delete(ApiToken).where(ApiToken.token_hash == _digest(token)))


def users_holding(session: Session, role: str, unit_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User).join(RoleAssignment).where(RoleAssignment.role == role, RoleAssignment.unit_id == unit_id)
        )
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
