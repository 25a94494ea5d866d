"""推送市级 (官渡): a street records which of its closed whistles it pushes to the city's assessment.

The locality's assessment.yaml ``push`` names the capability and the whistle levels; a user whose role
grants the capability in the whistling unit (or above it) pushes a closed whistle with a comment, and
may undo it until a bulletin covering the whistle's month is published for the unit or a unit above.
Both are events of the case's chain; scoring reads the pushes standing (``whistles_pushed``).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment.bulletin import EVENT as BULLETIN
from app.assessment.indicators import Push, load_rules
from app.models import Case, Event, RoleAssignment, User, WhistlePush
from app.services import clock
from app.services.auth import Principal, principal_for
from app.services.errors import Conflict, Forbidden, Invalid, NotFound
from app.services.journal import record_event
from app.services.locality import load_locality
from app.services.org import ancestors
from app.services.worktime import load_calendar

PUSHED, UNDONE = "whistle_pushed", "whistle_push_undone"
COMMENT_MAX = 2000


def standing(session: Session, case_id: int) -> WhistlePush | None:
    return session.scalar(select(WhistlePush).where(WhistlePush.case_id == case_id, WhistlePush.undone_at.is_(None)))


def may_push(principal: Principal, case: Case, rule: Push | None = None) -> bool:
    """Whether the user may push (or undo the push of) this whistle: the locality pushes whistles of
    its level, and a role of the user grants the capability in the whistling unit or above it."""
    rule = rule or load_rules().push
    if rule is None or case.level not in rule.levels or case.whistle_unit is None:
        return False
    return any(principal.can(rule.capability, unit.id) for unit in ancestors(case.whistle_unit))


def status(session: Session, principal: Principal, case: Case) -> dict[str, Any] | None:
    """What the case page shows: None where the locality does not push this whistle; else whether it is
    pushed (with comment, who, when), whether the user may change it, and whether the month is closed."""
    rule = load_rules().push
    if rule is None or case.level not in rule.levels:
        return None
    push = standing(session, case.id)
    return {"pushed": push is not None, "comment": push.comment if push else "",
            "pushed_at": push.pushed_at if push else None, "closed": case.status == "closed" and
            case.outcome == "closed", "may": may_push(principal, case, rule) and not principal.read_only,
            "published": _published(session, case)}


def _case(session: Session, principal: Principal, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    if principal.read_only:
        raise Forbidden("auditors read only: pushing a whistle changes data (审计只读)")
    if load_rules().push is None:
        raise Forbidden("this locality does not push whistles to the city (assessment.yaml push)")
    if not may_push(principal, case):
        raise Forbidden(f"case {case.number}: not a whistle you may push to the city")
    if _published(session, case):
        raise Conflict(f"case {case.number}: the bulletin of its month is published; its push is final")
    return case


def _published(session: Session, case: Case) -> bool:
    """Whether a bulletin covering the whistle's month (by its report date) is out for its unit or above."""
    if case.whistle_unit is None:
        return False
    day = case.created_at.replace(tzinfo=UTC).astimezone(load_calendar().zone).date().isoformat()
    units = {u.id for u in ancestors(case.whistle_unit)}
    bulletins = session.scalars(select(Event.data).where(Event.case_id.is_(None), Event.type == BULLETIN,
                                                         Event.unit_id.in_(units)))
    return any(data["period"]["start"] <= day <= data["period"]["end"] for data in bulletins)


def push(session: Session, principal: Principal, case_id: int, comment: str) -> dict[str, Any]:
    """Record a closed whistle as pushed to the city, with the pusher's comment."""
    case = _case(session, principal, case_id)
    comment = comment.strip()
    if not comment or len(comment) > COMMENT_MAX:
        raise Invalid(f"comment: say why the whistle is pushed (1–{COMMENT_MAX} characters)", {"comment": "required"})
    if case.status != "closed" or case.outcome != "closed":
        raise Conflict(f"case {case.number}: only a whistle closed as solved is pushed to the city")
    if standing(session, case.id) is not None:
        raise Conflict(f"case {case.number}: pushed to the city already")
    session.add(WhistlePush(case_id=case.id, comment=comment, pushed_by_id=principal.user.id, pushed_at=clock.now()))
    record_event(session, case, PUSHED, principal.user, unit_id=case.whistle_unit_id, data={"comment": comment})
    return {"case": case.id, "pushed": True, "comment": comment}


def undo(session: Session, principal: Principal, case_id: int) -> dict[str, Any]:
    """Take a push back, before the month's bulletin; the push stays on record as undone."""
    case = _case(session, principal, case_id)
    found = standing(session, case.id)
    if found is None:
        raise Conflict(f"case {case.number}: not pushed to the city")
    found.undone_at, found.undone_by_id = clock.now(), principal.user.id
    record_event(session, case, UNDONE, principal.user, unit_id=case.whistle_unit_id, data={"comment": found.comment})
    return {"case": case.id, "pushed": False}


def push_for_demo(session: Session, comment: str) -> int:
    """The demo's pushes: each closed whistle of the push levels not pushed yet, pushed by a user (not
    read-only) whose role grants the capability over it. Returns how many were pushed."""
    rule = load_rules().push
    if rule is None:
        return 0
    model = load_locality()
    granted = model.roles_with(rule.capability) - model.roles_with("read_only")
    count = 0
    for case in session.scalars(select(Case).where(Case.level.in_(rule.levels), Case.status == "closed",
                                                   Case.outcome == "closed").order_by(Case.id)):
        units = {u.id for u in ancestors(case.whistle_unit)} if case.whistle_unit else set()
        user = session.scalars(select(User).join(RoleAssignment, RoleAssignment.user_id == User.id).where(
            RoleAssignment.role.in_(granted), RoleAssignment.unit_id.in_(units or [0])).order_by(User.id)).first()
        if user is not None and standing(session, case.id) is None:
            push(session, principal_for(session, user), case.id, comment)
            count += 1
    return count
