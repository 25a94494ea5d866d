"""排名与红黑榜: ranking departments and whistling units by the indicators config/assessment.yaml names.

A unit is ranked by the first indicator, ties broken by the next ones; equal keys share a rank
(1, 2, 2, 4). A unit with no value for the first indicator (nothing to count) is listed unranked
at the end and is on neither list. 红榜 is the first N ranks, 黑榜 the last N, ties included; when
there are fewer units than both lists need, the red list wins.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment.indicators import Ranking, Rules, indicator, load_rules
from app.assessment.scoring import Grading, grading_for, propose
from app.assessment.service import Period, Row, assessable_units, department_rows, peer_departments, unit_rows
from app.models import Unit
from app.services.auth import Principal
from app.services.locality import load_locality

RED, BLACK = "red", "black"


@dataclass
class Ranked:
    row: Row
    rank: int | None
    board: str | None  # "red" (红榜), "black" (黑榜) or None
    grade: str | None = None  # 等次 proposed from the score within the quotas (scoring.grades)

    def as_dict(self, order: tuple[str, ...], side: str) -> dict[str, Any]:
        return {"rank": self.rank, "board": self.board, "unit": self.row.unit.code, "name": self.row.unit.name,
                "level": self.row.level if side == "units" else None, "score": self.row.figures["score"].value,
                "grade": self.grade, "values": {code: self.row.figures[code].value for code in order}}


def rank(side: str, rows: list[Row], ranking: Ranking, rules: Rules) -> list[Ranked]:
    """The rows in rank order, with their rank and list (红榜/黑榜)."""
    ranked = sorted((r for r in rows if r.figures[ranking.order[0]].value is not None),
                    key=lambda r: _key(side, r, ranking))
    result: list[Ranked] = []
    for position, row in enumerate(ranked):
        same = result and _key(side, result[-1].row, ranking) == _key(side, row, ranking)
        result.append(Ranked(row, result[-1].rank if same and result[-1].rank else position + 1, None))
    _mark_boards(result, rules.red_list, rules.black_list)
    unranked = [Ranked(r, None, None) for r in rows if r.figures[ranking.order[0]].value is None]
    return result + unranked


def _key(side: str, row: Row, ranking: Ranking) -> tuple[tuple[int, float], ...]:
    parts = []
    for code in ranking.order:
        value = row.figures[code].value
        if value is None:
            parts.append((1, 0.0))
        else:
            parts.append((0, value if indicator(side, code).lower_is_better else -value))
    return tuple(parts)


def _mark_boards(ranked: list[Ranked], red: int, black: int) -> None:
    if not ranked:
        return
    red_limit = ranked[min(red, len(ranked)) - 1].rank if red else 0
    black_from = ranked[max(len(ranked) - black, 0)].rank if black else None
    for item in ranked:
        if item.rank is not None and item.rank <= (red_limit or 0):
            item.board = RED
        elif black_from is not None and item.rank is not None and item.rank >= black_from:
            item.board = BLACK


def department_ranking(rows: list[Row], rules: Rules | None = None, period: Period | None = None) -> list[Ranked]:
    """The departments ranked; for a period a grading is given for (a year), each with the grade its
    score earns within the quotas."""
    rules = rules or load_rules()
    ranked = rank("departments", rows, rules.rankings["departments"], rules)
    groups: dict[str, tuple[Grading, list[Ranked]]] = {}
    for item in ranked:
        grading = grading_for(rules.scoring, item.row.unit.kind)
        if grading is not None and period is not None and period.kind == grading.period \
                and item.row.figures["score"].value is not None:
            groups.setdefault(grading.label, (grading, []))[1].append(item)
    for grading, items in groups.values():
        given = propose(grading, [(i.row.unit.code, i.row.figures["score"].value or 0.0) for i in items])
        for item in items:
            item.grade = given[item.row.unit.code]
    return ranked


def unit_rankings(rows: list[Row], rules: Rules | None = None) -> dict[str, list[Ranked]]:
    """Each whistle level ranked on its own (streets with streets, communities with communities)."""
    rules = rules or load_rules()
    by_level: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_level[row.level or ""].append(row)
    return {level: rank("units", group, rules.rankings["units"], rules) for level, group in by_level.items()}


def ranked_departments(session: Session, principal: Principal) -> list[Unit]:
    """The departments in the rankings a user sees: those within their assessable units, and the
    peers of a department they work in (a department sees the published ranking it is in)."""
    ids = assessable_units(session, principal)
    kinds = load_locality().kinds_where("summoned")
    own = session.scalars(select(Unit).where(Unit.kind.in_(kinds),
                                             Unit.id.in_({u for _, u in principal.assignments} or [0])))
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.kind.in_(kinds), Unit.id.in_(ids or [0])))}
    for unit in own:
        units.update({peer.id: peer for peer in peer_departments(session, unit)})
    return sorted(units.values(), key=lambda u: u.code)


def rankings(session: Session, principal: Principal, period: Period, level: str | None = None) -> dict[str, Any]:
    """The rankings the user may see, for the API and the exports."""
    rules = load_rules()
    depts = department_ranking(department_rows(session, ranked_departments(session, principal), period), rules,
                               period)
    units = unit_rankings(unit_rows(session, assessable_units(session, principal), period, level), rules)
    order = {side: rules.rankings[side].order for side in ("departments", "units")}
    return {
        "period": period.as_dict(), "red_list": rules.red_list, "black_list": rules.black_list,
        "scoring_period": rules.scoring.period,
        "departments": {"by": list(order["departments"]),
                        "rows": [r.as_dict(order["departments"], "departments") for r in depts]},
        "units": [{"level": lvl, "by": list(order["units"]), "rows": [r.as_dict(order["units"], "units") for r in rows]}
                  for lvl, rows in sorted(units.items())],
    }
