"""月度通报 / 季度通报: a bulletin of a unit's figures and rankings for a period, published as an
event of the audit chain (吹哨全留痕) with the SHA-256 of its content.

The event is the record: its data holds the bulletin's content (canonical JSON) and its hash, and
the event itself is a link of the ``system`` chain, so the published text cannot change unseen.
An auditor regenerates the bulletin from the record (:func:`regenerate`): the same figures give the
same hash; where the record has changed since (a late task finished, a 督办 struck off), the
differing figures are named.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment.dashboard import headline
from app.assessment.indicators import INDICATORS, load_rules
from app.assessment.ranking import Ranked, department_ranking, unit_rankings
from app.assessment.service import Period, Row, department_rows, departments_among, describe, unit_rows
from app.models import Event, Unit
from app.services import chain
from app.services.auth import Principal
from app.services.errors import Forbidden, NotFound
from app.services.journal import record_event
from app.services.locality import load_locality
from app.services.org import descendant_ids

EVENT = "bulletin_published"
FORMAT = 1  # of the content; a new layout of the content needs a new number


def bulletin_units(session: Session, principal: Principal) -> list[Unit]:
    """The units a user may publish or read bulletins of: those where a role of theirs grants 'assess'."""
    granted = load_locality().roles_with("assess")
    ids = {unit for role, unit in principal.assignments if role in granted}
    return list(session.scalars(select(Unit).where(Unit.id.in_(ids or [0])).order_by(Unit.code)))


def content(session: Session, unit: Unit, period: Period) -> dict[str, Any]:
    """Everything the bulletin shows, computed from the record: totals, every department's and
    whistling unit's figures, and the rankings with 红黑榜."""
    ids = descendant_ids(session, {unit.id})
    depts, whistles = department_rows(session, departments_among(session, ids), period), unit_rows(session, ids,
                                                                                                    period)
    rules = load_rules()
    return {
        "format": FORMAT, "unit": {"code": unit.code, "name": unit.name}, "period": period.as_dict(),
        "indicators": {side: [describe(i) for i in items] for side, items in INDICATORS.items()},
        "ranking": {"red_list": rules.red_list, "black_list": rules.black_list,
                    "by": {side: list(rules.rankings[side].order) for side in INDICATORS}},
        "headline": [{"side": side, "code": item.code} | _figure(figure) for item, side, figure
                     in headline(depts, whistles)],
        "departments": _ranked(department_ranking(depts, rules)),
        "units": {level: _ranked(rows) for level, rows in sorted(unit_rankings(whistles, rules).items())},
    }


def _figure(figure: Any) -> dict[str, Any]:
    return {"value": figure.value, "numerator": figure.numerator, "denominator": figure.denominator}


def _ranked(ranked: list[Ranked]) -> list[dict[str, Any]]:
    return [{"rank": r.rank, "board": r.board, "unit": r.row.unit.code, "name": r.row.unit.name,
             "level": r.row.level, "figures": _figures(r.row)} for r in ranked]


def _figures(row: Row) -> dict[str, Any]:
    return {code: _figure(figure) for code, figure in row.figures.items()}


def digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(chain.canonical_json(body).encode()).hexdigest()


def publish(session: Session, principal: Principal, unit_code: str, period: Period) -> int:
    """Compute the bulletin and record it in the audit chain; the event's id names it."""
    if principal.read_only:
        raise Forbidden("auditors read only: publishing a bulletin changes data (审计只读)")
    unit = _unit_for(session, principal, unit_code)
    body = content(session, unit, period)
    record_event(session, None, EVENT, principal.user, unit_id=unit.id,
                 data={"unit": unit.code, "period": period.as_dict(), "sha256": digest(body), "content": body})
    session.flush()
    return session.scalars(select(Event.id).where(Event.case_id.is_(None), Event.type == EVENT)
                           .order_by(Event.seq.desc())).first() or 0


def _unit_for(session: Session, principal: Principal, unit_code: str) -> Unit:
    unit = next((u for u in bulletin_units(session, principal) if u.code == unit_code), None)
    if unit is None:
        raise Forbidden(f"bulletins of '{unit_code}' are not yours to publish or read")
    return unit


@dataclass
class Bulletin:
    event: Event
    content: dict[str, Any]
    sha256: str


def published(session: Session, principal: Principal) -> list[Event]:
    """The bulletins of the units the user may read, newest first."""
    ids = {u.id for u in bulletin_units(session, principal)}
    return list(session.scalars(select(Event).where(Event.case_id.is_(None), Event.type == EVENT,
                                                    Event.unit_id.in_(ids or [0])).order_by(Event.seq.desc())))


def load(session: Session, principal: Principal, event_id: int) -> Bulletin:
    event = session.get(Event, event_id)
    if event is None or event.type != EVENT or event.case_id is not None:
        raise NotFound(f"no bulletin {event_id}")
    if event.unit_id not in {u.id for u in bulletin_units(session, principal)}:
        raise NotFound(f"no bulletin {event_id}")
    return Bulletin(event, event.data["content"], event.data["sha256"])


@dataclass
class Check:
    stored_ok: bool  # the stored content still hashes to the stored hash
    same: bool  # regenerated from the record now: the same hash
    sha256: str  # of the regenerated content
    differences: list[str]  # "departments/dept-hw/handled_on_time_rate: 50.0 → 100.0"


def regenerate(session: Session, bulletin: Bulletin) -> Check:
    """Compute the bulletin again from the record and compare it with the published one."""
    unit = session.scalar(select(Unit).where(Unit.code == bulletin.content["unit"]["code"]))
    if unit is None:
        raise NotFound("the bulletin's unit no longer exists")
    period = Period.parse(start=bulletin.content["period"]["start"], end=bulletin.content["period"]["end"])
    again = content(session, unit, period)
    return Check(digest(bulletin.content) == bulletin.sha256, digest(again) == bulletin.sha256, digest(again),
                 _differences(bulletin.content, again))


def _differences(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in sorted(set(old) | set(new)) for d in _differences(old.get(key), new.get(key),
                                                                               f"{path}/{key}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in _differences(a, b, f"{path}/{_name(a, i)}")]
    return [] if old == new else [f"{path.lstrip('/')}: {old} → {new}"]


def _name(item: Any, index: int) -> str:
    return str(item.get("unit") or item.get("code") or index) if isinstance(item, dict) else str(index)
