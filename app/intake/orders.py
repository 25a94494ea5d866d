"""12345 work-order import (工单导入): each row of an export becomes a case, is skipped (its 办件编号
was imported before) or is refused with the reason. A dry run checks every row and stores nothing;
the real import files each row in a savepoint of its own, so a row that fails leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.intake.buildings import building_places
from app.intake.reader import MAX_ROWS, cell_text, cell_time, read_rows
from app.intake.sources import Source, find_place
from app.models import Case, ImportedOrder, Unit
from app.services import clock, journal
from app.services.auth import Principal
from app.services.cases import REPORT_SCHEMA, file_report
from app.services.catalogue import load_catalogue
from app.services.errors import Forbidden, ServiceError
from app.services.locality import load_locality
from app.services.org import descendant_ids
from app.services.validation import validate

CAPABILITY = "import_orders"
OUTCOMES = ("created", "would_create", "skipped", "refused")
_report_validator = Draft202012Validator(REPORT_SCHEMA)
_MASK = "*"  # exports mask phone numbers (138****1234): such a number cannot be called back


@dataclass
class RowResult:
    row: int  # the row's number in the spreadsheet (the header is row 1)
    number: str
    outcome: str
    reason: str = ""
    field: str = ""
    case_number: str | None = None
    case_id: int | None = None


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    rows: list[RowResult] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {outcome: sum(1 for r in self.rows if r.outcome == outcome) for outcome in OUTCOMES}

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "dry_run": self.dry_run, "counts": self.counts(),
                "rows": [asdict(r) for r in self.rows]}


@dataclass(frozen=True)
class Order:
    """A row that passed every check: the report it files and what is kept of the source."""

    row: int
    number: str
    report: dict[str, Any]
    dispatched_at: datetime | None
    promised_at: datetime | None
    extra: dict[str, str]


class Refused(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


def import_orders(session: Session, principal: Principal, source: Source, filename: str, content: bytes,
                  *, dry_run: bool, max_rows: int = MAX_ROWS) -> ImportReport:
    """Check (and unless ``dry_run`` file) every row of an export for the caller's units."""
    may_import(session, principal)
    rows = read_rows(filename, content, max_rows)
    return ImportReport(source.name, dry_run, import_rows(session, principal, source, rows, dry_run=dry_run))


def may_import(session: Session, principal: Principal) -> set[int]:
    """The units the caller may import for; 403 when none."""
    allowed = importable_units(session, principal)
    if not allowed:
        raise Forbidden(f"importing work orders needs the capability '{CAPABILITY}'")
    return allowed


def import_rows(session: Session, principal: Principal, source: Source, rows: list[dict[str, Any]], *,
                dry_run: bool, first: int = 2) -> list[RowResult]:
    """Check (and unless ``dry_run`` file) rows read from an export; ``first`` is the spreadsheet row
    number of ``rows[0]`` (a background import runs a file in chunks: app/intake/jobs.py)."""
    allowed = may_import(session, principal)
    known = _imported_numbers(session, source.name, (_number(source, r) for r in rows))
    places = Places(_report_places(session, allowed), building_places(session) | source.places)
    return [_one_row(session, principal, source, index, raw, known, places, dry_run)
            for index, raw in enumerate(rows, start=first)]


@dataclass(frozen=True)
class Places:
    """Where rows may be filed: report-place codes within the caller's units (→ id), and address
    text → report place (buildings' names and the source's ``places``)."""

    codes: dict[str, int]
    texts: dict[str, str]

    def find(self, address: str) -> str | None:
        return find_place(address, self.texts, frozenset(self.codes))


def importable_units(session: Session, principal: Principal) -> set[int]:
    """The units (and every unit below them) where the caller holds a role that may import."""
    roles = load_locality().roles_with(CAPABILITY)
    return descendant_ids(session, {unit for role, unit in principal.assignments if role in roles})


def _one_row(session: Session, principal: Principal, source: Source, index: int, raw: dict[str, Any],
             known: set[str], places: Places, dry_run: bool) -> RowResult:
    number = _number(source, raw)
    if number and number in known:
        return RowResult(index, number, "skipped", "办件编号已导入 / already imported", "number")
    try:
        order = check_row(source, index, raw, places)
    except Refused as refused:
        return RowResult(index, number, "refused", refused.reason, refused.field)
    known.add(number)  # a number repeated further down the same file is skipped too
    if dry_run:
        return RowResult(index, number, "would_create")
    try:
        with session.begin_nested():
            case = _file(session, principal, source, order)
    except ServiceError as exc:
        known.discard(number)
        name = next(iter(exc.fields), "")
        return RowResult(index, number, "refused", exc.fields.get(name) or exc.message, name)
    return RowResult(index, number, "created", case_number=case.number, case_id=case.id)


def check_row(source: Source, index: int, raw: dict[str, Any], places: Places) -> Order:
    """The order a row describes, or Refused naming the field: missing, unknown category, no place
    for the address, a time that is not one, or a value the report form would refuse."""
    values = {name: cell_text(raw.get(column)) for name, column in source.columns.items()}
    for name in source.required:
        if not values.get(name):
            raise Refused(name, f"缺少“{source.columns[name]}” / missing field '{source.columns[name]}'")
    matter = source.matter_for(values.get("category", ""), values.get("subcategory", ""), load_catalogue())
    if matter is None:
        category = "/".join(v for v in (values.get("category"), values.get("subcategory")) if v)
        raise Refused("subcategory", f"未知事项类别“{category}” / unknown category '{category}'")
    place = places.find(values.get("address", ""))
    if place is None:
        raise Refused("address", f"地址找不到所属网格 / no place found for the address '{values.get('address', '')}'")
    if place not in places.codes:
        raise Refused("address", f"地址所属网格 {place} 不在您的管辖范围 / place {place} is outside your units")
    report = _report(source, values, matter, place)
    try:
        validate(_report_validator, report)
    except ServiceError as exc:
        name = next(iter(exc.fields), "")
        raise Refused(name, f"{name}: {exc.fields.get(name, exc.message)}") from None
    extra = {k: values[k] for k in ("origin", "handling_unit", "status") if values.get(k)}
    return Order(index, values["number"], report, _time(source, raw, "dispatched_at"),
                 _time(source, raw, "promised_at"), extra)


def _report(source: Source, values: dict[str, str], matter: str, place: str) -> dict[str, Any]:
    phone = values.get("reporter_phone", "")
    report = {"title": values.get("title") or values.get("subcategory", ""), "channel": source.channel,
              "place": place, "matter": matter, "description": values.get("description", ""),
              "address": values.get("address", ""), "reporter_name": values.get("reporter_name", ""),
              "reporter_phone": "" if _MASK in phone else phone}
    return {k: v for k, v in report.items() if v != "" or k in ("title",)}


def _time(source: Source, raw: dict[str, Any], name: str) -> datetime | None:
    column = source.columns.get(name)
    if column is None:
        return None
    try:
        local = cell_time(raw.get(column))
    except ValueError:
        raise Refused(name, f"“{column}”不是日期时间 / '{column}' is not a date and time") from None
    if local is None:
        return None
    return local.replace(tzinfo=source.zone).astimezone(UTC).replace(tzinfo=None)


def _file(session: Session, principal: Principal, source: Source, order: Order) -> Case:
    case = file_report(session, principal, order.report)
    session.add(ImportedOrder(source=source.name, number=order.number, case_id=case.id,
                              dispatched_at=order.dispatched_at, promised_at=order.promised_at,
                              imported_at=clock.now(), imported_by=principal.user.username))
    if order.promised_at is not None:  # the hotline's promise is the case's deadline (workflow.promised_deadline)
        case.due_at = order.promised_at
    journal.record_event(session, case, "order_imported", principal.user, data={
        "source": source.name, "number": order.number, "row": order.row,
        "promised_at": order.promised_at.isoformat() if order.promised_at else None, **order.extra})
    return case


def _number(source: Source, raw: dict[str, Any]) -> str:
    return cell_text(raw.get(source.columns["number"]))[:64]


def _imported_numbers(session: Session, source: str, numbers: Iterable[str]) -> set[str]:
    wanted = sorted({n for n in numbers if n})
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update(session.scalars(select(ImportedOrder.number).where(
            ImportedOrder.source == source, ImportedOrder.number.in_(chunk))))
    return found


def _report_places(session: Session, allowed: set[int]) -> dict[str, int]:
    """The report places (code → id) within the caller's units."""
    kinds = load_locality().kinds_where("report_place")
    rows = session.execute(select(Unit.code, Unit.id).where(Unit.kind.in_(kinds), Unit.id.in_(allowed)))
    return {code: unit_id for code, unit_id in rows}
