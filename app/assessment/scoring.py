"""考核得分、等次: a locality's scoring rules (assessment.yaml ``scoring``) applied to the indicators.

A side's score is ``base + Σ weight × term``; each term is one of a few kinds, all data:

- ``indicator``: ``points`` × a figure of an indicator (its value, count, misses or denominator);
- ``target``: ``points`` × how far a figure falls short of ``at_least`` a month (未完成目标扣分);
- ``below_mean``: ``points`` × the percentage points a rate falls below the weighted mean of all the
  rows scored together (招远: the base is the mean of all units);
- ``whistles``: each whistle of the row scores ``base`` × the share of ``criteria`` it meets; with
  ``pushed: true`` the whistles recorded as pushed (the ``whistles_pushed`` figure) count in full and
  the others × ``others`` (官渡: pushed whistles 3 points, the rest 70 %); without, all in full.

Terms may be kept to whistle ``levels`` (units side) and to unit ``kinds``. Grades (等次) are given by score bands and
held to quotas (``at_most`` a percentage, ``at_least`` a count) within groups of unit kinds.
Nothing here names a locality's level, kind or grade: they all come from the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.definitions.configuration import ConfigurationError, where

SIDES = ("departments", "units")
PERIODS = ("month", "quarter", "year")
KINDS = ("indicator", "target", "below_mean", "whistles")
TAKES = ("value", "count", "misses", "denominator")
# A whistle criterion and the units-side rate whose hits meet it.
CRITERIA = {"closed": "close_rate", "closed_at_once": "closed_at_once_rate", "on_time": "closed_on_time_rate"}
FILE = "assessment.yaml"
PUSHED = "whistles_pushed"  # the units-side count of whistles recorded as pushed (推送市级)


@dataclass(frozen=True)
class Term:
    kind: str
    label: str
    indicator: str = ""
    take: str = "value"
    points: float = 1.0
    weight: float = 1.0
    levels: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()  # unit kinds the term applies to (all when empty)
    at_least: float = 0.0
    base: float = 0.0
    criteria: tuple[str, ...] = ()
    pushed: bool = False  # only the whistles recorded as pushed (推送市级) count in full
    others: float = 1.0


@dataclass(frozen=True)
class Scheme:
    base: float
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Quota:
    grade: str
    at_most: float | None  # percent of the group
    at_least: int  # units


@dataclass(frozen=True)
class Grading:
    """Grades for the units of some kinds (all when none), best first, each from a minimum score."""

    label: str
    kinds: frozenset[str]
    grades: tuple[tuple[str, float], ...]  # (grade, minimum score), best first
    quotas: tuple[Quota, ...]
    period: str = "year"  # grades are proposed for periods of this kind only (年终等次)


@dataclass(frozen=True)
class Scoring:
    period: str
    schemes: dict[str, Scheme] = field(default_factory=dict)
    gradings: tuple[Grading, ...] = ()


NO_SCORING = Scoring("month")


# --- reading the rules ---------------------------------------------------------------------------


class _Reader:
    """Reads the ``scoring`` section; every error names the file, line and field."""

    def __init__(self, lines: dict[tuple[str, ...], int], known: dict[str, set[str]]) -> None:
        self.lines = lines
        self.known = known  # side → indicator codes

    def fail(self, path: tuple[str, ...], message: str) -> ConfigurationError:
        return ConfigurationError(f"{where(FILE, self.lines, path)}: {message}")

    def mapping(self, raw: Any, path: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(path, "must be a mapping")
        return raw

    def number(self, raw: dict[str, Any], key: str, path: tuple[str, ...], default: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail((*path, key), f"a number, not {value!r}")
        return float(value)

    def choice(self, raw: dict[str, Any], key: str, path: tuple[str, ...], options: tuple[str, ...] | set[str],
               default: str | None = None) -> str:
        value = raw.get(key, default)
        if value not in options:
            raise self.fail((*path, key), f"one of {', '.join(sorted(options))}, not {value!r}")
        return str(value)

    def names(self, raw: Any, path: tuple[str, ...]) -> frozenset[str]:
        if raw is None:
            return frozenset()
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise self.fail(path, "a list of codes")
        return frozenset(raw)

    def scoring(self, raw: Any) -> Scoring:
        section = self.mapping(raw, ("scoring",))
        if not section:
            return NO_SCORING
        period = self.choice(section, "period", ("scoring",), PERIODS, "month")
        schemes = {side: self.scheme(section[side], ("scoring", side), side) for side in SIDES if side in section}
        unknown = set(section) - {*SIDES, "period", "grades"}
        if unknown:
            raise self.fail(("scoring", sorted(unknown)[0]), f"unknown key; use period, grades, {', '.join(SIDES)}")
        grades = section.get("grades") or []
        if not isinstance(grades, list):
            raise self.fail(("scoring", "grades"), "a list of gradings")
        return Scoring(period, schemes, tuple(self.grading(g, ("scoring", "grades", str(i)))
                                              for i, g in enumerate(grades)))

    def scheme(self, raw: Any, path: tuple[str, ...], side: str) -> Scheme:
        section = self.mapping(raw, path)
        terms = section.get("terms") or []
        if not isinstance(terms, list) or not terms:
            raise self.fail((*path, "terms"), "a list of one or more terms")
        return Scheme(self.number(section, "base", path, 0.0),
                      tuple(self.term(t, (*path, "terms", str(i)), side) for i, t in enumerate(terms)))

    def term(self, raw: Any, path: tuple[str, ...], side: str) -> Term:
        section = self.mapping(raw, path)
        kind = self.choice(section, "kind", path, KINDS, "indicator")
        common: dict[str, Any] = {
            "kind": kind, "label": str(section.get("label") or kind),
            "points": self.number(section, "points", path, 1.0), "weight": self.number(section, "weight", path, 1.0),
            "levels": self.names(section.get("levels"), (*path, "levels")),
            "kinds": self.names(section.get("kinds"), (*path, "kinds"))}
        if kind == "whistles":
            return self.whistles(section, path, side, common)
        common["indicator"] = self.choice(section, "indicator", path, self.known[side])
        common["take"] = self.choice(section, "take", path, TAKES, "value")
        common["at_least"] = self.number(section, "at_least", path, 0.0)
        return Term(**common)

    def whistles(self, section: dict[str, Any], path: tuple[str, ...], side: str, common: dict[str, Any]) -> Term:
        if side != "units":
            raise self.fail((*path, "kind"), "whistles are scored for whistling units only")
        criteria = section.get("criteria") or []
        if not isinstance(criteria, list) or not criteria or not set(criteria) <= set(CRITERIA):
            raise self.fail((*path, "criteria"), f"a list of {', '.join(CRITERIA)}")
        if "best" in section:
            raise self.fail((*path, "best"), "whistles pushed are recorded, not inferred: use pushed: true")
        pushed = section.get("pushed", False)
        if not isinstance(pushed, bool):
            raise self.fail((*path, "pushed"), f"true or false, not {pushed!r}")
        return Term(**common, base=self.number(section, "base", path, 1.0), criteria=tuple(criteria),
                    pushed=pushed, others=self.number(section, "others", path, 1.0))

    def grading(self, raw: Any, path: tuple[str, ...]) -> Grading:
        section = self.mapping(raw, path)
        grades = self.mapping(section.get("grades"), (*path, "grades"))
        if not grades:
            raise self.fail((*path, "grades"), "a mapping of grade → minimum score, best first")
        bands = tuple((str(g), self.number(grades, g, (*path, "grades"), 0.0)) for g in grades)
        if [b for _, b in bands] != sorted((b for _, b in bands), reverse=True):
            raise self.fail((*path, "grades"), "minimum scores must fall from the best grade to the worst")
        quotas = section.get("quotas") or []
        if not isinstance(quotas, list):
            raise self.fail((*path, "quotas"), "a list of quotas")
        return Grading(str(section.get("label") or ""), self.names(section.get("kinds"), (*path, "kinds")), bands,
                       tuple(self.quota(q, (*path, "quotas", str(i)), dict(bands)) for i, q in enumerate(quotas)),
                       self.choice(section, "period", path, PERIODS, "year"))

    def quota(self, raw: Any, path: tuple[str, ...], grades: dict[str, float]) -> Quota:
        section = self.mapping(raw, path)
        grade = self.choice(section, "grade", path, set(grades))
        at_most = section.get("at_most")
        if at_most is not None:
            at_most = self.number(section, "at_most", path, 0.0)
            if not 0 <= at_most <= 100:
                raise self.fail((*path, "at_most"), "a percentage from 0 to 100")
        at_least = int(self.number(section, "at_least", path, 0.0))
        return Quota(grade, at_most, at_least)


def parse_scoring(raw: Any, lines: dict[tuple[str, ...], int], known: dict[str, set[str]]) -> Scoring:
    return _Reader(lines, known).scoring(raw)


# --- computing scores ----------------------------------------------------------------------------


def _take(figure: Any, take: str) -> float | None:
    if figure.value is None:
        return None
    if take == "value":
        return float(figure.value)
    if take == "count":
        return float(figure.numerator if figure.numerator is not None else figure.value)
    if take == "denominator":
        return float(figure.denominator or 0)
    return float((figure.denominator or 0) - (figure.numerator or 0))


def weighted_mean(rows: list[Any], code: str) -> float | None:
    """Σ numerator ÷ Σ denominator of a rate over the rows, in percent (each unit by its cases)."""
    figures = [row.figures[code] for row in rows if row.figures[code].value is not None]
    total = sum(float(f.denominator or 0) for f in figures)
    return 100 * sum(float(f.numerator or 0) for f in figures) / total if total else None


def whistle_points(row: Any, term: Term) -> dict[int, float]:
    """Each whistle's points: base × share of the criteria met."""
    met = {name: {r.case_id for r in row.figures[code].rows if r.hit} for name, code in CRITERIA.items()}
    return {case: term.base * sum(case in met[c] for c in term.criteria) / len(term.criteria)
            for case in row.figures["whistles_started"].cases}


def _whistles(term: Term, row: Any) -> float:
    """The pushed whistles' points in full, the others' × ``others`` (all in full unless ``pushed``)."""
    points = whistle_points(row, term)
    chosen = set(row.figures[PUSHED].cases) if term.pushed else set(points)
    return sum(p for case, p in points.items() if case in chosen) + term.others * sum(
        p for case, p in points.items() if case not in chosen)


def _applies(term: Term, row: Any) -> bool:
    return (not term.levels or row.level in term.levels) and (not term.kinds or row.unit.kind in term.kinds)


def _term_value(term: Term, row: Any, means: dict[str, float | None], months: int) -> float | None:
    if term.kind == "whistles":
        return _whistles(term, row)
    value = _take(row.figures[term.indicator], term.take)
    if term.kind == "target":
        return max(0.0, term.at_least * months - (value or 0.0))
    if value is None:
        return None
    if term.kind == "below_mean":
        mean = means.get(term.indicator)
        return max(0.0, mean - value) if mean is not None else 0.0
    return value


@dataclass(frozen=True)
class ScorePart:
    label: str
    points: float


def score_row(scheme: Scheme, row: Any, means: dict[str, float | None],
              months: int = 1) -> tuple[float | None, list[ScorePart]]:
    """The row's score and the points of each term; None when no term found anything to count."""
    parts: list[ScorePart] = []
    for term in scheme.terms:
        if not _applies(term, row):
            continue
        value = _term_value(term, row, means, months)
        if value is not None:
            parts.append(ScorePart(term.label, round(term.weight * term.points * value, 2) + 0.0))
    if not parts:
        return None, []
    return round(scheme.base + sum(p.points for p in parts), 2), parts


def score_rows(scheme: Scheme | None, rows: list[Any], make: Callable[..., Any], months: int = 1) -> None:
    """Sets each row's ``score`` figure (``make(value, parts, load)`` builds it), scored together;
    a target's ``at_least`` is per month of the period. ``load`` gives the records of the figures the
    score used, read only when asked (the drill-down): a ranking needs the values alone."""
    if scheme is None:
        for row in rows:
            row.figures["score"] = make(None, [], list)
        return
    means = {t.indicator: weighted_mean(rows, t.indicator) for t in scheme.terms if t.kind == "below_mean"}
    used = sorted({t.indicator or "whistles_started" for t in scheme.terms} | {PUSHED for t in scheme.terms
                                                                              if t.pushed})
    for row in rows:
        value, parts = score_row(scheme, row, means, months)
        row.figures["score"] = make(value, parts, _records(row, used))


def _records(row: Any, codes: list[str]) -> Callable[[], list[Any]]:
    return lambda: [r for code in codes for r in row.figures[code].rows]


# --- grades and quotas ---------------------------------------------------------------------------


def grading_for(scoring: Scoring, kind: str) -> Grading | None:
    """The grading that covers units of this kind: the first naming it, else one naming no kinds."""
    named = [g for g in scoring.gradings if kind in g.kinds]
    return (named or [g for g in scoring.gradings if not g.kinds] or [None])[0]


def propose(grading: Grading, scores: list[tuple[str, float]]) -> dict[str, str]:
    """Grades by score band, then each ``at_most`` quota held by moving the lowest scores of an
    over-full grade one grade down (ties keep their order: the earlier code stays)."""
    names = [g for g, _ in grading.grades]
    ordered = sorted(scores, key=lambda item: -item[1])
    given = {code: next((g for g, low in grading.grades if score >= low), names[-1]) for code, score in ordered}
    for index, grade in enumerate(names[:-1]):
        cap = _cap(grading, grade, len(ordered))
        holders = [code for code, _ in ordered if given[code] == grade]
        for code in holders[cap:] if cap is not None else []:
            given[code] = names[index + 1]
    for quota in grading.quotas:
        _fill(quota, names, ordered, given)
    return given


def _fill(quota: Quota, names: list[str], ordered: list[tuple[str, float]], given: dict[str, str]) -> None:
    """An ``at_least`` quota met by the nearest scores: the best of the worse grades move up, or
    (for the worst grade) the lowest of the better grades move down."""
    position = names.index(quota.grade)
    worse = [code for code, _ in ordered if names.index(given[code]) > position]
    better = [code for code, _ in reversed(ordered) if names.index(given[code]) < position]
    missing = quota.at_least - sum(1 for g in given.values() if g == quota.grade)
    for code in (worse or better)[:max(missing, 0)]:
        given[code] = quota.grade


def _cap(grading: Grading, grade: str, total: int) -> int | None:
    caps = [math.floor(q.at_most * total / 100 + 1e-9) for q in grading.quotas
            if q.grade == grade and q.at_most is not None]
    return min(caps) if caps else None


def quota_problems(grading: Grading, given: dict[str, str]) -> list[str]:
    """Each quota the grades break, as a sentence naming the grade, the count and the limit."""
    total = len(given)
    problems = []
    unknown = sorted({g for g in given.values() if g not in dict(grading.grades)})
    if unknown:
        problems.append(f"{grading.label}: unknown grade {', '.join(unknown)}; use {', '.join(dict(grading.grades))}")
    for quota in grading.quotas:
        count = sum(1 for g in given.values() if g == quota.grade)
        cap = _cap(grading, quota.grade, total)
        if quota.at_most is not None and cap is not None and count > cap:
            problems.append(f"{grading.label}: {count} of {total} graded {quota.grade}; at most {quota.at_most:g} % "
                            f"({cap}) may be")
        if total and count < quota.at_least:
            problems.append(f"{grading.label}: {count} of {total} graded {quota.grade}; at least {quota.at_least} "
                            f"must be")
    return problems
