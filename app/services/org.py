"""The organisation tree and the demo district loader."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from app.models import RoleAssignment, Unit, User
from app.services import per_version
from app.services.errors import Invalid
from app.services.locality import Locality, load_locality


def unit_by_code(session: Session, code: object, field: str = "unit", kind: str | None = None) -> Unit:
    """The unit with this code (and of this kind); 422 naming ``field`` otherwise."""
    unit = session.scalar(select(Unit).where(Unit.code == code)) if isinstance(code, str) else None
    if unit is None:
        raise Invalid(f"unknown unit '{code}'", {field: f"unknown unit '{code}'"})
    if kind is not None and unit.kind != kind:
        raise Invalid(f"'{code}' is not a {kind}", {field: f"must be a {kind}"})
    return unit


def all_units(session: Session) -> dict[int, Unit]:
    """Every unit by id, read once per unit of work (a page's panels each show unit names)."""
    return per_version.per_unit_of_work(session, "units", lambda: {u.id: u for u in session.scalars(select(Unit))})


def ancestors(unit: Unit) -> list[Unit]:
    """The unit itself and every unit above it, nearest first."""
    chain: list[Unit] = []
    current: Unit | None = unit
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


def ancestor_of_kind(unit: Unit, kind: str) -> Unit | None:
    return next((u for u in ancestors(unit) if u.kind == kind), None)


def beside_path(session: Session, place: Unit) -> list[Unit]:
    """The units just below the place and below each unit above it, nearest first."""
    path = ancestors(place)
    rows = session.scalars(select(Unit).where(Unit.parent_id.in_([u.id for u in path])).order_by(Unit.code)).all()
    order = {u.id: i for i, u in enumerate(path)}
    return sorted((u for u in rows if u.id not in order), key=lambda u: order[u.parent_id or 0])


def nearest_of_kind(session: Session, place: Unit, kind: str) -> Unit | None:
    """The unit of this kind that serves a place: the place itself or the nearest above it of that
    kind, else one beside its path — a unit of that kind under the place or the nearest unit above
    it that has one (a compound's owners' committee and property company, a street's police
    station)."""
    found = ancestor_of_kind(place, kind)
    return found or next((u for u in beside_path(session, place) if u.kind == kind), None)


def descendant_ids(session: Session, unit_ids: set[int]) -> set[int]:
    """The given units and every unit below them: one recursive query over the subtrees only
    (asked on every request, so a grid worker does not read a whole district's tree)."""
    if not unit_ids:
        return set()
    facts = per_version.facts_of(session)
    if facts is not None and per_version.enabled():
        key = ("unit tree", per_version.database_key(session), facts.units_stamp)
        return _below(per_version.cached(key, lambda: _children(session)), unit_ids)
    below = select(Unit.id).where(Unit.id.in_(unit_ids)).cte("below", recursive=True)
    below = below.union(select(Unit.id).join(below, Unit.parent_id == below.c.id))
    return set(session.scalars(select(below.c.id)))


def _children(session: Session) -> dict[int, list[int]]:
    """The whole unit tree as unit id → child ids, every unit a key (read once per tree stamp and
    worker)."""
    children: dict[int, list[int]] = {}
    for unit_id, parent_id in session.execute(select(Unit.id, Unit.parent_id)):
        children.setdefault(unit_id, [])
        if parent_id is not None:
            children.setdefault(parent_id, []).append(unit_id)
    return children


def _below(children: dict[int, list[int]], unit_ids: set[int]) -> set[int]:
    """The given units that exist and all below them in the tree ``children`` (as the recursive
    query answers)."""
    found: set[int] = set()
    stack = list(unit_ids)
    while stack:
        unit_id = stack.pop()
        if unit_id in children and unit_id not in found:
            found.add(unit_id)
            stack.extend(children.get(unit_id, ()))
    return found


def load_organisation(session: Session, path: Path) -> dict[str, int]:
    """Create or update units and users from a YAML file; running it twice changes nothing."""
    return load_organisation_data(session, yaml.safe_load(path.read_text(encoding="utf-8")), path)


def export_organisation(session: Session) -> dict[str, Any]:
    """The organisation in the shape load_organisation reads, parents before children, without the
    passwords (all get one new random password): to try a bundle in a throwaway database with the
    people of this deployment."""
    units = sorted(session.scalars(select(Unit)), key=lambda u: (len(ancestors(u)), u.code))
    users = session.scalars(select(User).order_by(User.username)).all()
    password = secrets.token_urlsafe(16)
    return {
        "units": [{"code": u.code, "name": u.name, "kind": u.kind, "parent": u.parent.code if u.parent else None}
                  for u in units],
        "users": [{"username": u.username, "name": u.name, "password": password,
                   "roles": [{"role": r.role, "unit": r.unit.code} for r in u.roles]} for u in users],
    }


def load_organisation_data(session: Session, raw: dict[str, Any], path: Path) -> dict[str, int]:
    locality = load_locality()
    roles = locality.roles
    units = {u.code: u for u in session.scalars(select(Unit))}
    for item in raw["units"]:  # every unit first, so a unit may be listed before its parent
        unit = units.get(item["code"]) or Unit(code=item["code"])
        unit.name, unit.kind = item["name"], item["kind"]
        units[unit.code] = unit
        session.add(unit)
    for item in raw["units"]:
        parent = item.get("parent")
        if parent and parent not in units:
            raise Invalid(f"{path.name}: unit '{item['code']}' names parent '{parent}', which is no unit")
        unit = units[item["code"]]
        unit.parent = units[parent] if parent else None
        _check_place(path, unit, locality)
    session.flush()
    users = {u.username: u for u in session.scalars(select(User))}
    created = 0
    # Demo files give many users one published password: hash it once per load, not per user.
    hashes: dict[str, str] = {}
    for item in raw["users"]:
        user = users.get(item["username"])
        if user is None:
            password = item["password"]
            if password not in hashes:
                hashes[password] = generate_password_hash(password)
            user = User(username=item["username"], password_hash=hashes[password])
            users[user.username] = user
            created += 1
        user.name = item["name"]
        session.add(user)
        session.flush()
        held = {(r.role, r.unit_id) for r in user.roles}
        for role in item["roles"]:
            if role["role"] not in roles:
                raise Invalid(f"{path.name}: unknown role '{role['role']}' for {user.username}"
                              f" (the locality model has: {', '.join(sorted(roles))})")
            unit = units[role["unit"]]
            if (role["role"], unit.id) not in held:
                session.add(RoleAssignment(user=user, role=role["role"], unit_id=unit.id))
    session.flush()
    return {"units": len(units), "users": len(users), "users_created": created}


def _check_place(path: Path, unit: Unit, locality: Locality) -> None:
    """A unit's kind is one the locality model knows, under a parent of a kind it allows."""
    kind = locality.unit_kinds.get(unit.kind)
    if kind is None:
        raise Invalid(f"{path.name}: unit '{unit.code}' has unknown kind '{unit.kind}'"
                      f" (the locality model has: {', '.join(sorted(locality.unit_kinds))})")
    parent_kind = unit.parent.kind if unit.parent is not None else None
    if (parent_kind is None and kind.parents) or (parent_kind is not None and parent_kind not in kind.parents):
        allowed = ", ".join(kind.parents) or "none: it is the top of the tree"
        raise Invalid(f"{path.name}: unit '{unit.code}' of kind '{unit.kind}' cannot sit under "
                      f"{parent_kind or 'nothing'} (allowed parents: {allowed})")
