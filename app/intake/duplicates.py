"""Duplicate-report suggestions (重复件) for triage: open cases likely to be the same problem as a
case, ranked, each with why (same matter or class, same place or one beside it, similar text)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.intake.buildings import distance_m
from app.intake.sources import INTAKE_FILE
from app.models import Building, Case, CaseUnit, Open311Request
from app.services.auth import Principal
from app.services.cases import iso, visible
from app.services.catalogue import load_catalogue

_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)  # spaces and punctuation do not make texts alike
TEXT_CHARS = 300


@dataclass(frozen=True)
class Settings:
    window_days: float
    min_score: float
    most: int
    weights: dict[str, float]
    within_m: float = 200.0  # reports this close (by their coordinates) are candidates wherever they lie


def load_settings(path: Path = INTAKE_FILE) -> Settings:
    raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("duplicates") or {}
    weights = {"same_matter": 0.3, "same_class": 0.1, "same_place": 0.25, "same_area": 0.1, "near": 0.15,
               "text": 0.45}
    weights |= {str(k): float(v) for k, v in dict(raw.get("weights") or {}).items()}
    return Settings(float(raw.get("window_days", 14)), float(raw.get("min_score", 0.7)), int(raw.get("most", 10)),
                    weights, float(raw.get("within_m", 200)))


def suggestions(session: Session, principal: Principal, case_id: int,
                settings: Settings | None = None) -> list[dict[str, Any]]:
    """The likely duplicates of a case the caller can see, among the open cases they can see."""
    case = visible(session, principal, case_id)
    conf = settings or load_settings()
    area = {c.id: c for c in _candidates(session, principal, case, conf, same_area=True)}
    spots = Spots(session, [case])
    here = spots.of(case)
    near = {} if here is None else {c.id: c for c in _candidates(session, principal, case, conf, same_area=False)}
    spots.add(session, list((near | area).values()))
    found = []
    for other in (near | area).values():
        distance = spots.distance(here, other)
        if other.id not in area and (distance is None or distance > conf.within_m):
            continue
        score, why = _score(case, other, conf, other.id in area, distance)
        if score >= conf.min_score:
            found.append((score, why, other))
    found.sort(key=lambda item: (-item[0], -item[2].id))
    return [_describe(other, score, why) for score, why, other in found[:conf.most]]


def _candidates(session: Session, principal: Principal, case: Case, conf: Settings, same_area: bool) -> list[Case]:
    """Open cases filed in the window that the caller sees: on the case's place or on a place with
    the same parent (``same_area``), else any (to be kept by distance)."""
    area = case.place.parent_id or case.place_id
    since = case.created_at - timedelta(days=conf.window_days)
    where = [Case.id != case.id, Case.status == "open", Case.created_at >= since,
             exists().where(CaseUnit.case_id == Case.id, CaseUnit.unit_id.in_(principal.visible_units))]
    if same_area:
        where.append(exists().where(CaseUnit.case_id == Case.id, CaseUnit.unit_id == area))
    return list(session.scalars(select(Case).where(*where).order_by(Case.id.desc()).limit(500)))


class Spots:
    """Where reports are on the map: the coordinates an Open311 request gave, else those of the
    building the address names (longest name wins)."""

    def __init__(self, session: Session, cases: list[Case]) -> None:
        self.buildings = sorted(((b.name, (b.lat, b.long)) for b in session.scalars(
            select(Building).where(Building.lat.is_not(None), Building.long.is_not(None)))),
            key=lambda item: -len(item[0]))
        self.given = _given(session, [c.id for c in cases])

    def add(self, session: Session, cases: list[Case]) -> Spots:
        """The spots of more cases too (the buildings are not read again)."""
        self.given |= _given(session, [c.id for c in cases if c.id not in self.given])
        return self

    def of(self, case: Case) -> tuple[float, float] | None:
        if case.id in self.given:
            return self.given[case.id]
        return next((spot for name, spot in self.buildings if case.address and name in case.address), None)

    def distance(self, here: tuple[float, float] | None, other: Case) -> float | None:
        there = self.of(other) if here is not None else None
        return distance_m(*here, *there) if here is not None and there is not None else None


def _given(session: Session, ids: list[int]) -> dict[int, tuple[float, float]]:
    """The coordinates Open311 requests gave for these cases."""
    return {case_id: (float(lat), float(long)) for case_id, lat, long in session.execute(
        select(Open311Request.case_id, Open311Request.lat, Open311Request.long).where(
            Open311Request.case_id.in_(ids), Open311Request.lat.is_not(None), Open311Request.long.is_not(None)))
    } if ids else {}


def _score(case: Case, other: Case, conf: Settings, same_area: bool = True,
           distance: float | None = None) -> tuple[float, dict[str, Any]]:
    why: dict[str, Any] = {}
    if case.matter and case.matter == other.matter:
        why["same_matter"] = True
    elif _klass(case.matter) and _klass(case.matter) == _klass(other.matter):
        why["same_class"] = True
    if case.place_id == other.place_id:
        why["same_place"] = True
    elif same_area:
        why["same_area"] = True
    near = distance is not None and distance <= conf.within_m
    if near:
        why["near_m"] = round(distance or 0.0)
    why["text"] = round(text_similarity(_text(case), _text(other)), 2)
    score = sum(conf.weights.get(k, 0.0) for k, v in why.items() if v is True) + conf.weights["text"] * why["text"]
    return round(score + (conf.weights.get("near", 0.0) if near else 0.0), 3), why


def _klass(matter: str | None) -> str | None:
    found = load_catalogue().matter(matter) if matter else None
    return found.klass if found else None


def _text(case: Case) -> str:
    return _NOISE.sub("", f"{case.title}{case.description}")[:TEXT_CHARS]


def text_similarity(a: str, b: str) -> float:
    """0–1: how much of the two texts is the same characters in the same order."""
    if not a or not b:
        return 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _describe(other: Case, score: float, why: dict[str, Any]) -> dict[str, Any]:
    return {"id": other.id, "number": other.number, "title": other.title, "matter": other.matter,
            "place": other.place.code, "address": other.address, "created_at": iso(other.created_at),
            "current_step": other.current_step, "score": score, "why": why}
