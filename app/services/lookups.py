"""Read-only lists the pages offer as choices: places (street → community → grid), departments,
catalogue matters and classes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Case, Unit
from app.services.catalogue import load_catalogue
from app.services.processes import bundle_of


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    kind: str
    parent: str | None


def places(session: Session) -> list[Place]:
    """Streets, communities and grids in code order, each naming its parent's code."""
    units = session.scalars(select(Unit).where(Unit.kind.in_(("street", "community", "grid"))).order_by(Unit.code))
    return [Place(u.code, u.name, u.kind, u.parent.code if u.parent else None) for u in units]


def departments(session: Session) -> list[tuple[str, str]]:
    query = select(Unit).where(Unit.kind == "department").order_by(Unit.code)
    return [(u.code, u.name) for u in session.scalars(query)]


def unit_names(session: Session) -> dict[str, str]:
    """Unit code → name, for showing the codes the services return."""
    return {code: name for code, name in session.execute(select(Unit.code, Unit.name))}


def matters() -> list[tuple[str, str, str]]:
    """(code, name, class name) of every catalogue matter, grouped by class."""
    cat = load_catalogue()
    return [(m.code, m.name, cat.classes.get(m.klass, m.klass)) for m in sorted(cat.matters.values(),
            key=lambda m: (list(cat.classes).index(m.klass) if m.klass in cat.classes else 99, m.code))]


def categories() -> dict[str, str]:
    return dict(load_catalogue().classes)


@dataclass(frozen=True)
class FormLabels:
    """Titles of the form fields and choices of one process version, to show submitted answers."""

    fields: dict[str, str]
    choices: dict[tuple[str, str], str]


def form_labels(session: Session, process_version_id: int) -> FormLabels:
    fields: dict[str, str] = {}
    choices: dict[tuple[str, str], str] = {}
    for schema in bundle_of(session, process_version_id).forms.values():
        for name, prop in schema.get("properties", {}).items():
            fields.setdefault(name, prop.get("title", name))
            for option in prop.get("oneOf", []):
                if isinstance(option, dict) and "const" in option:
                    choices.setdefault((name, str(option["const"])), option.get("title", str(option["const"])))
    return FormLabels(fields, choices)


def case_id_by_number(session: Session, number: str) -> int | None:
    """The id of the case with this number (20260501-000123); whether the user may see it is
    for ``cases.visible`` to say."""
    return session.scalar(select(Case.id).where(Case.number == number.strip())) if number.strip() else None
