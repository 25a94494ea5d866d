"""Comments on a case: 跟哨、盯哨 notes by anyone who can see the case; public ones reach the reporter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Case, CaseUnit, Comment
from app.services import clock, journal, workflow
from app.services.auth import Principal
from app.services.cases import visible
from app.services.errors import Forbidden
from app.services.validation import validate

MAX_BODY = 2000
_validator = Draft202012Validator({
    "type": "object",
    "additionalProperties": False,
    "required": ["body"],
    "properties": {"body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY}, "public": {"type": "boolean"}},
})


@dataclass(frozen=True)
class CommentView:
    id: int
    body: str
    public: bool
    author: str | None  # username; None on the public page
    author_name: str | None
    unit_name: str | None
    at: datetime


def add_comment(session: Session, principal: Principal, case_id: int, body: object, public: object) -> Comment:
    """A note on a case this user can see, in the unit they hold a role in on it (audited)."""
    case = visible(session, principal, case_id)
    if principal.read_only:
        raise Forbidden("your roles only read cases; they cannot comment")
    data = validate(_validator, {"body": body.strip() if isinstance(body, str) else body, "public": public})
    role, unit_id = _acting_as(session, principal, case)
    comment = Comment(case_id=case.id, author_id=principal.user.id, role=role, unit_id=unit_id, body=data["body"],
                      public=data["public"], created_at=clock.now())
    session.add(comment)
    session.flush()
    workflow.begin_step(case)  # one change of the case at a time, like every other step
    case.updated_at = comment.created_at
    journal.record_event(session, case, "comment_added", principal.user, role=role, unit_id=unit_id,
                          data={"comment_id": comment.id, "public": comment.public})
    return comment


def comments_for_staff(session: Session, case: Case) -> list[CommentView]:
    """Every comment of a case the caller may already see (the page checked ``cases.visible``)."""
    return [
        CommentView(c.id, c.body, c.public, c.author.username if c.author else None,
                    c.author.name if c.author else None, c.unit.name if c.unit else None, c.created_at)
        for c in _comments(session, case, public_only=False)
    ]


def public_comments(session: Session, case: Case) -> list[CommentView]:
    """Public notes without who wrote them: the reporter sees the unit, never a person."""
    return [
        CommentView(c.id, c.body, True, None, None, c.unit.name if c.unit else None, c.created_at)
        for c in _comments(session, case, public_only=True)
    ]


def _comments(session: Session, case: Case, public_only: bool) -> list[Comment]:
    query = select(Comment).where(Comment.case_id == case.id)
    if public_only:
        query = query.where(Comment.public.is_(True))
    return list(session.scalars(query.order_by(Comment.created_at, Comment.id)))


def _acting_as(session: Session, principal: Principal, case: Case) -> tuple[str | None, int | None]:
    """The role the user holds in a unit the case involves (else their first): the note shows that unit."""
    linked = set(session.scalars(select(CaseUnit.unit_id).where(CaseUnit.case_id == case.id)))
    for role, unit_id in principal.assignments:
        if unit_id in linked:
            return role, unit_id
    return principal.assignments[0] if principal.assignments else (None, None)
