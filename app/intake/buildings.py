"""Buildings as places (楼栋): loaded from config/buildings.yaml, each on a report place; a report
may name a building or coordinates near one, and the place is found from it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Building, Unit
from app.services.errors import Invalid
from app.services.locality import load_locality
from app.settings import ROOT

BUILDINGS_FILE = ROOT / "config" / "buildings.yaml"
EARTH_RADIUS_M = 6_371_000


def load_buildings(session: Session, path: Path = BUILDINGS_FILE) -> int:
    """Add or update every building of the file (by code); 422 naming the entry when one is wrong."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = raw.get("buildings") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise Invalid(f"{path.name}: needs a list 'buildings'", {"buildings": "a list"})
    places = _report_places(session)
    existing = {b.code: b for b in session.scalars(select(Building))}
    for index, item in enumerate(items):
        code, name, place_id, lat, long = _entry(item, index, places)
        building = existing.get(code) or Building(code=code)
        building.name, building.place_id, building.lat, building.long = name, place_id, lat, long
        session.add(building)
        existing[code] = building
    return len(items)


def _entry(item: Any, index: int, places: dict[str, int]) -> tuple[str, str, int, float | None, float | None]:
    where = f"buildings[{index}]"
    if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
        raise Invalid(f"{where}: needs a code and a name", {where: "code and name"})
    if item.get("place") not in places:
        raise Invalid(f"{where}.place: '{item.get('place')}' is not a report place", {f"{where}.place": "unknown"})
    lat, long = item.get("lat"), item.get("long")
    if (lat is None) != (long is None) or not _valid(lat, 90) or not _valid(long, 180):
        raise Invalid(f"{where}: lat and long go together, in degrees", {f"{where}.lat": "invalid coordinates"})
    return (str(item["code"])[:64], str(item["name"])[:128], places[item["place"]],
            None if lat is None else float(lat), None if long is None else float(long))


def _valid(value: Any, limit: float) -> bool:
    if value is None:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) <= limit


def _report_places(session: Session) -> dict[str, int]:
    kinds = load_locality().kinds_where("report_place")
    return {code: uid for code, uid in session.execute(select(Unit.code, Unit.id).where(Unit.kind.in_(kinds)))}


def building_by_code(session: Session, code: str) -> Building | None:
    return session.scalar(select(Building).where(Building.code == code.strip()))


def building_places(session: Session) -> dict[str, str]:
    """Building name → the code of its report place: address text an import or Open311 may contain."""
    rows = session.execute(select(Building.name, Unit.code).join(Unit, Unit.id == Building.place_id))
    return {name: code for name, code in rows}


def nearest(session: Session, lat: float, long: float, within_m: float) -> Building | None:
    """The building nearest to the coordinates, if one is within ``within_m`` metres."""
    found = [(distance_m(lat, long, b.lat, b.long), b.id, b) for b in session.scalars(
        select(Building).where(Building.lat.is_not(None), Building.long.is_not(None)))
        if b.lat is not None and b.long is not None]
    best = min(found, default=None, key=lambda item: (item[0], item[1]))
    return best[2] if best is not None and best[0] <= within_m else None


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def buildings_within(session: Session, unit_ids: set[int]) -> list[Building]:
    """The buildings on the report places among ``unit_ids``, by place and code."""
    query = (select(Building).join(Unit, Unit.id == Building.place_id).where(Building.place_id.in_(unit_ids))
             .order_by(Unit.code, Building.code))
    return list(session.scalars(query))
