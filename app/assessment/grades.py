"""等次评定: the grades a leader gives departments for a period, held to the quotas of the locality's
scoring rules (at most 30 % 好 …) and kept as a record.

A grading is stored only when every quota holds over the period's grades as they would stand (the
grades stored before, with the new ones over them), else nothing is stored and each broken quota is
named. Grading a period and unit again adds a new version (the history stays; the highest is
current), and each grading is an event of the audit chain's ``system`` chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment.indicators import load_rules
from app.assessment.ranking import Ranked
from app.assessment.scoring import Grading, Scoring, grading_for, quota_problems
from app.assessment.service import Period, assessable_units, departments_among
from app.models import AssessmentGrade, Unit
from app.services import clock
from app.services.auth import Principal
from app.services.errors import Forbidden, Invalid
from app.services.journal import record_event
from app.services.locality import load_locality
from app.services.org import descendant_ids

EVENT = "grades_given"
REASON_MAX = 2000


def graded_departments(session: Session, principal: Principal) -> list[Unit]:
    """The departments a user may grade: those within a unit where a role of theirs grants ``assess``
    (a department's own people cannot grade it or its peers)."""
    granted = load_locality().roles_with("assess")
    scope = descendant_ids(session, {unit for role, unit in principal.assignments if role in granted})
    return departments_among(session, scope)


def current(session: Session, period: Period, unit_ids: Iterable[int]) -> dict[int, AssessmentGrade]:
    """The current (highest version) grade of each unit graded for exactly this period."""
    rows = session.scalars(select(AssessmentGrade).where(
        AssessmentGrade.period_start == period.first, AssessmentGrade.period_end == period.last,
        AssessmentGrade.unit_id.in_(set(unit_ids) or [0])).order_by(AssessmentGrade.version))
    return {row.unit_id: row for row in rows}


def given_grades(session: Session, period: Period, units: Iterable[Unit]) -> dict[str, str]:
    """Unit code → the grade currently given for the period (for the pages and the exports)."""
    by_id = {u.id: u.code for u in units}
    return {by_id[unit_id]: row.grade for unit_id, row in current(session, period, by_id).items()}


@dataclass
class Group:
    grading: Grading
    units: dict[str, Unit]
    grades: dict[str, str]  # code → grade as it would stand


def give(session: Session, principal: Principal, period: Period, given: dict[str, str],
         reasons: dict[str, str] | None = None) -> dict[str, Any]:
    """Store the grades when every quota holds over the period's grades; Invalid naming each
    broken quota (nothing stored) otherwise. Returns the grades as they now stand."""
    if principal.read_only:
        raise Forbidden("auditors read only: grading changes data (审计只读)")
    units = {u.code: u for u in graded_departments(session, principal)}
    if not units:
        raise Forbidden("grading needs a role that may assess (locality model: capability 'assess')")
    reasons = _reasons(reasons or {}, given)
    groups = _groups(session, period, units, given)
    problems = [p for group in groups.values() for p in quota_problems(group.grading, group.grades)]
    if problems:
        raise Invalid("; ".join(problems), {"grades": problems[0]})
    stored = _store(session, principal, period, units, given, reasons, groups)
    record_event(session, None, EVENT, principal.user, data={
        "period": period.as_dict(),
        "grades": {code: {"grade": row.grade, "version": row.version, "reason": row.reason, "grading": row.grading}
                   for code, row in sorted(stored.items())}})
    return {"period": period.as_dict(),
            "gradings": [{"label": label, "grades": dict(sorted(g.grades.items()))}
                         for label, g in sorted(groups.items())]}


def _reasons(reasons: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    stray = sorted(set(reasons) - set(given))
    if stray:
        raise Invalid(f"reasons: given for units not graded: {', '.join(stray)}", {"reasons": "unknown unit"})
    long = sorted(code for code, text in reasons.items() if len(text) > REASON_MAX)
    if long:
        raise Invalid(f"reasons: at most {REASON_MAX} characters ({', '.join(long)})", {"reasons": "too long"})
    return {code: text.strip() for code, text in reasons.items()}


def _groups(session: Session, period: Period, units: dict[str, Unit], given: dict[str, str]) -> dict[str, Group]:
    """The gradings the new grades fall in, each with the period's stored grades under the new ones."""
    strangers = sorted(set(given) - set(units))
    if strangers:
        raise Invalid(f"not a department you assess: {', '.join(strangers)}", {"grades": "unknown unit"})
    scoring = load_rules().scoring
    groups: dict[str, Group] = {}
    for code in sorted(given):
        grading = grading_for(scoring, units[code].kind)
        if grading is None:
            raise Invalid(f"{code}: no grading in the scoring rules covers it", {"grades": "no grading"})
        if period.kind != grading.period:
            raise Invalid(f"{grading.label}: grades are given for a {grading.period}, not for "
                          f"{period.first} — {period.last}", {"period": f"a {grading.period}"})
        groups.setdefault(grading.label, Group(grading, {}, {})).units[code] = units[code]
    for group in groups.values():
        members = {c: u for c, u in units.items() if grading_for(scoring, u.kind) == group.grading}
        before = current(session, period, {u.id for u in members.values()})
        group.grades = {u.code: before[u.id].grade for u in members.values() if u.id in before}
        group.grades.update({code: given[code] for code in group.units})
    return groups


def _store(session: Session, principal: Principal, period: Period, units: dict[str, Unit], given: dict[str, str],
           reasons: dict[str, str], groups: dict[str, Group]) -> dict[str, AssessmentGrade]:
    before = current(session, period, {units[code].id for code in given})
    now = clock.now()
    label = {code: g.grading.label for g in groups.values() for code in g.units}
    stored = {}
    for code, grade in given.items():
        unit = units[code]
        previous = before.get(unit.id)
        stored[code] = AssessmentGrade(
            period_start=period.first, period_end=period.last, unit_id=unit.id, grading=label[code], grade=grade,
            reason=reasons.get(code, ""), given_by_id=principal.user.id, given_at=now,
            version=previous.version + 1 if previous else 1)
        session.add(stored[code])
    session.flush()
    return stored


def history(session: Session, principal: Principal, period: Period) -> dict[str, Any]:
    """Every version of the grades given for the period to units the user may see, newest first."""
    visible = assessable_units(session, principal)
    rows = session.scalars(select(AssessmentGrade).where(
        AssessmentGrade.period_start == period.first, AssessmentGrade.period_end == period.last,
        AssessmentGrade.unit_id.in_(visible or [0])).order_by(AssessmentGrade.unit_id,
                                                               AssessmentGrade.version.desc()))
    items, seen = [], set()
    for row in rows:
        items.append({"unit": row.unit.code, "name": row.unit.name, "grading": row.grading, "grade": row.grade,
                      "reason": row.reason, "version": row.version, "current": row.unit_id not in seen,
                      "given_by": row.given_by.username if row.given_by else None,
                      "given_at": row.given_at.isoformat()})
        seen.add(row.unit_id)
    return {"period": period.as_dict(), "grades": items}


def annotate(session: Session, period: Period, ranking: dict[str, Any]) -> dict[str, Any]:
    """The rankings (``ranking.rankings``) with each department's grade given for the period."""
    rows = ranking["departments"]["rows"]
    units = session.scalars(select(Unit).where(Unit.code.in_({r["unit"] for r in rows} or [""])))
    given = given_grades(session, period, units)
    for row in rows:
        row["given_grade"] = given.get(row["unit"])
    return ranking


def by_grading(scoring: Scoring, ranked: list[Ranked]) -> list[tuple[Grading, list[Ranked]]]:
    """The ranked departments grouped by the grading covering each (those no grading covers left out)."""
    groups: dict[str, tuple[Grading, list[Ranked]]] = {}
    for item in ranked:
        grading = grading_for(scoring, item.row.unit.kind)
        if grading is not None:
            groups.setdefault(grading.label, (grading, []))[1].append(item)
    return list(groups.values())
