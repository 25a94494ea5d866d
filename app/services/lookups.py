"""Read-only lists the pages offer as choices: places (the tree down to the report places:
街道 → 社区 → 网格 in the demo), departments, catalogue matters and classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.versions import bundle_of, latest_version
from app.models import Case, Task, Unit
from app.services.auth import Principal
from app.services.catalogue import load_catalogue
from app.services.locality import load_locality
from app.services.org import all_units


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    kind: str
    parent: str | None


def places(session: Session) -> list[Place]:
    """The units a reporter picks a place from (街道 → 社区 → 网格 in the demo) in code order, each
    naming its parent's code: every kind that holds cases, below the top of the tree."""
    model = load_locality()
    kinds = [code for code in model.kinds_where("holds_cases") if model.unit_kinds[code].parents]
    units = session.scalars(select(Unit).where(Unit.kind.in_(kinds)).order_by(Unit.code))
    return [Place(u.code, u.name, u.kind, u.parent.code if u.parent else None) for u in units]


@dataclass(frozen=True)
class PlaceLevel:
    """One picker of the place: the units one step further down the tree."""

    field: str  # the form field: place_1, place_2 … and `place` for the report place itself
    parent_field: str | None
    kinds: tuple[str, ...]
    places: list[Place]


def place_levels(session: Session) -> list[PlaceLevel]:
    """The pickers of a report's place, top down, for any tree: one per depth below the top, the
    last holding the report places (网格 …) only; each lists its units with their parent's code."""
    report_kinds = load_locality().kinds_where("report_place")
    found = places(session)
    by_code = {p.code: p for p in found}
    depth = {p.code: _depth(p, by_code) for p in found}
    last = max((depth[p.code] for p in found if p.kind in report_kinds), default=0)
    levels: list[PlaceLevel] = []
    for level in range(1, last + 1):
        final = level == last
        members = [p for p in found if (p.kind in report_kinds if final else depth[p.code] == level)]
        field = "place" if final else f"place_{level}"
        parent_field = levels[-1].field if levels else None
        kinds = tuple(dict.fromkeys(p.kind for p in members))
        levels.append(PlaceLevel(field, parent_field, kinds, members))
    return levels


def _depth(place: Place, by_code: dict[str, Place]) -> int:
    depth, parent = 1, place.parent
    while parent in by_code:
        depth, parent = depth + 1, by_code[parent].parent
    return depth


def departments(session: Session) -> list[tuple[str, str]]:
    """The units a whistle may summon to report in (职能部门), for the pickers."""
    query = select(Unit).where(Unit.kind.in_(load_locality().kinds_where("summoned"))).order_by(Unit.code)
    return [(u.code, u.name) for u in session.scalars(query)]


def unit_names(session: Session) -> dict[str, str]:
    """Unit code → name, for showing the codes the services return (read once per unit of work)."""
    return {unit.code: unit.name for unit in all_units(session).values()}


def matters(english: bool = False) -> list[tuple[str, str, str]]:
    """(code, name, class name) of every catalogue matter, grouped by class, in Chinese or English."""
    cat = load_catalogue()
    return [(m.code, m.label(english), cat.class_label(m.klass, english)) for m in sorted(cat.matters.values(),
            key=lambda m: (list(cat.classes).index(m.klass) if m.klass in cat.classes else 99, m.code))]


def categories(english: bool = False) -> dict[str, str]:
    cat = load_catalogue()
    return {code: cat.class_label(code, english) for code in cat.classes}


@dataclass(frozen=True)
class FormLabels:
    """The form of each task of a case, to show its submitted answers with the form's own titles
    (the same field name may mean different things in two forms: ``decision``)."""

    forms: dict[str, dict[str, Any]]  # form file → its schema's properties
    task_forms: dict[int, str]  # task id → form file

    def field(self, task_id: Any, name: str, english: bool = False) -> str:
        prop = self._prop(task_id, name)
        return str(prop.get("description" if english else "title") or prop.get("title") or name)

    def choice(self, task_id: Any, name: str, value: Any, english: bool = False) -> str | None:
        for option in self._prop(task_id, name).get("oneOf", []):
            if isinstance(option, dict) and option.get("const") == value:
                return str((english and option.get("description")) or option.get("title", value))
        return None

    def any_choice(self, name: str, value: Any) -> str:
        """The title of a choice in whichever form asks for ``name`` (a task's context, not an answer)."""
        for props in self.forms.values():
            for option in props.get(name, {}).get("oneOf", []):
                if isinstance(option, dict) and option.get("const") == value:
                    return str(option.get("title", value))
        return str(value)

    def widget(self, task_id: Any, name: str) -> str | None:
        """The field's picker (``x-widget``: matter, whistle_level, attachments …), if any."""
        widget = self._prop(task_id, name).get("x-widget")
        return str(widget) if widget else None

    def _prop(self, task_id: Any, name: str) -> dict[str, Any]:
        form = self.task_forms.get(task_id) if isinstance(task_id, int) else None
        return self.forms.get(form or "", {}).get(name, {})


def form_labels(session: Session, case: Case) -> FormLabels:
    bundle = bundle_of(session, case.process_version_id)
    forms = {name: schema.get("properties", {}) for name, schema in bundle.forms.items()}
    task_forms = {task_id: form for task_id, form in session.execute(
        select(Task.id, Task.form).where(Task.case_id == case.id))}
    return FormLabels(forms, task_forms)


def case_id_by_number(session: Session, number: str) -> int | None:
    """The id of the case with this number (20260501-000123); whether the user may see it is
    for ``cases.visible`` to say."""
    return session.scalar(select(Case.id).where(Case.number == number.strip())) if number.strip() else None


def task_titles(session: Session) -> dict[str, str]:
    """Task type → title in the latest process version (for inbox groups not on the current page);
    a title naming its step's role (``{role}审核 {role} review``) stands for every step: ``审核 review``."""
    titles = bundle_of(session, latest_version(session).id).task_titles()
    return {task_type: " ".join(title.replace("{role}", "").split()) for task_type, title in titles.items()}


def scope_units(session: Session, principal: Principal) -> list[tuple[str, str]]:
    """(code, name) of the units a user may list cases of, in code order (the case list's picker)."""
    if not principal.visible_units:
        return []
    query = select(Unit.code, Unit.name).where(Unit.id.in_(sorted(principal.visible_units))).order_by(Unit.code)
    return [(code, name) for code, name in session.execute(query)]
