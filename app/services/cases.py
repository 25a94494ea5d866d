"""Cases: file a report (问题收集), start an escalated whistle, and read a case with its history."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.definitions.versions import latest_version
from app.models import Case, CaseUnit, Evaluation, Event, ReportIn, Task, Timer, Unit, User
from app.services import clock, journal, workflow
from app.services.auth import Principal
from app.services.catalogue import load_catalogue
from app.services.errors import Forbidden, Invalid, NotFound
from app.services.locality import load_locality
from app.services.org import all_units, ancestors, nearest_of_kind, unit_by_code
from app.services.record_keys import LEGACY_PLACE_FIELD, PLACE_FIELD, RESPONDING_UNIT
from app.services.validation import has_visible_text, valid_id, validate

# channel → "中文 English" (the pages show the reader's half)
CHANNELS = {
    "hotline_12345": "12345热线 12345 hotline",
    "web": "网站 Website",
    "wechat": "微信 WeChat",
    "weibo": "微博 Weibo",
    "media": "媒体 Media",
    "video": "视频监控 Video surveillance",
    "app_photo": "随手拍 Snap and report",
    "app_voice": "语音报 Voice report",
    "qr_code": "扫码上报 QR code",
    "enterprise": "企业诉求 Business request",
    "grid_patrol": "网格巡查 Grid patrol",
}
PUBLIC_CHANNELS = {"web", "wechat", "qr_code"}

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "channel"],
    "properties": {
        "title": {"type": "string", "minLength": 2, "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "channel": {"enum": sorted(CHANNELS)},
        PLACE_FIELD: {"type": "string", "minLength": 1, "maxLength": 64},
        LEGACY_PLACE_FIELD: {"type": "string", "minLength": 1, "maxLength": 64},
        "address": {"type": "string", "maxLength": 200},
        "matter": {"type": "string", "maxLength": 64},
        "urgent": {"type": "boolean"},
        "self_handled": {"type": "boolean"},
        "whistle_level": {"type": "string", "maxLength": 64},  # a level of the locality model
        "reporter_name": {"type": "string", "maxLength": 64},
        "reporter_phone": {"type": "string", "maxLength": 32, "pattern": "^[0-9+\\- ]*$"},
    },
}
_report_validator = Draft202012Validator(REPORT_SCHEMA)


def file_report(session: Session, principal: Principal | None, payload: Any) -> Case:
    """A problem report from any channel; a grid worker may mark it self-handled (grade 1), a
    secretary may blow a whistle at their own level at once."""
    if principal is not None and principal.read_only:
        raise Forbidden("your roles only read cases; they cannot file reports")
    data = validate(_report_validator, payload)
    if not has_visible_text(data["title"]):
        raise Invalid("标题不能只有空白或不可见字符 / the title has no visible characters",
                      {"title": "标题不能只有空白或不可见字符 / the title has no visible characters"})
    grid = _report_place(session, data)
    if data.get("whistle_level") and data["whistle_level"] not in load_locality().levels:
        raise Invalid(f"unknown whistle level '{data['whistle_level']}'", {"whistle_level": "not a whistle level"})
    if data.get("whistle_level") and not data.get("matter"):
        raise Invalid("a whistle needs the matter it is about", {"matter": "required with whistle_level"})
    if data.get("matter") and load_catalogue().matter(data["matter"]) is None:
        raise Invalid(f"unknown matter '{data['matter']}'", {"matter": "not in the responsibility catalogue"})
    if principal is None:
        if data["channel"] not in PUBLIC_CHANNELS or data.get("self_handled") or data.get("whistle_level"):
            raise Forbidden("a public report can only use the web, WeChat or QR-code channel")
    else:
        _check_reporter_rights(session, principal, grid, data)
    case = new_case(
        session,
        process_id="case",
        place=grid,
        title=data["title"],
        description=data.get("description", ""),
        channel=data["channel"],
        address=data.get("address", ""),
        reporter_name=data.get("reporter_name", ""),
        reporter_phone=data.get("reporter_phone", ""),
        reported_by=principal.user if principal else None,
        actor=principal.user if principal else None,
        urgent=data.get("urgent", False),
        matter=data.get("matter"),
    )
    start_data = process_data(case) | {
        "self_handled": bool(data.get("self_handled")),
        "direct_whistle_level": data.get("whistle_level"),
    }
    workflow.start(session, case, start_data, principal.user if principal else None)
    return case


def start_escalated_whistle(session: Session, source: Case, level: str, reason: str, actor: User | None) -> Case:
    """社呼街应、街呼市应: a new whistle one level up, linked to the one that could not solve it."""
    if level not in load_locality().levels:
        raise Invalid(f"cannot escalate to level '{level}'", {"level": "unknown whistle level"})
    case = new_case(
        session,
        process_id="whistle",
        place=source.place,
        title=source.title,
        description=f"{source.description}\n\n[上报理由 Escalated because] {reason}".strip(),
        channel=source.channel,
        address=source.address,
        reporter_name=source.reporter_name,
        reporter_phone=source.reporter_phone,
        reported_by=source.reported_by_id and session.get(User, source.reported_by_id),
        actor=actor,
        urgent=source.urgent,
        matter=source.matter,
        parent=source,
    )
    data = process_data(case) | {"level": level, "escalated_from": source.number, "grade": 3}
    workflow.start(session, case, data, actor)
    return case


def new_case(
    session: Session,
    *,
    process_id: str,
    place: Unit,
    title: str,
    description: str,
    channel: str,
    address: str,
    reporter_name: str,
    reporter_phone: str,
    reported_by: User | None,
    actor: User | None,
    urgent: bool,
    matter: str | None,
    parent: Case | None = None,
) -> Case:
    now = clock.now()
    case = Case(
        number=f"tmp-{secrets.token_hex(8)}",
        tracking_code=secrets.token_hex(8).upper(),
        process_id=process_id,
        process_version_id=latest_version(session).id,
        title=title,
        description=description,
        channel=channel,
        address=address,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        reported_by_id=reported_by.id if reported_by else None,
        place_id=place.id,
        parent_case_id=parent.id if parent else None,
        matter=matter,
        urgent=urgent,
        status="open",
        created_at=now,
        updated_at=now,
        state="",
        serializer_version="",
        version=1,
        event_count=0,
        rework_count=0,
        return_count=0,
    )
    session.add(case)
    session.flush()
    case.number = f"{now:%Y%m%d}-{case.id:06d}"
    for depth, unit in enumerate(ancestors(place)):  # the case's path: its place and every unit above
        session.add(CaseUnit(case_id=case.id, unit_id=unit.id, depth=depth))
    journal.record_event(
        session, case, "case_created", actor,
        data={"number": case.number, "process": process_id, "channel": channel, "title": title,
              PLACE_FIELD: place.code, "parent": parent.number if parent else None},
    )
    return case


def process_data(case: Case) -> dict[str, Any]:
    """What a process starts with: the case, the code of each unit on its path by unit kind
    (``grid``, ``community`` ... in the demo: the diagrams' variables come from the locality model),
    and ``top``, the unit at the top of the place's tree (where its platform triages and verifies)."""
    path = ancestors(case.place)
    return {
        "case_id": case.id,
        "case_number": case.number,
        "title": case.title,
        "matter": case.matter,
        "urgent": case.urgent,
        **{unit.kind: unit.code for unit in path},
        "top": path[-1].code,
    }


def place_field(data: dict[str, Any]) -> str:
    """The field naming the report's place: `place`, or `grid` as the API first named it."""
    if data.get(PLACE_FIELD) and data.get(LEGACY_PLACE_FIELD) and data[PLACE_FIELD] != data[LEGACY_PLACE_FIELD]:
        raise Invalid(f"'{PLACE_FIELD}' and '{LEGACY_PLACE_FIELD}' name different places: give one",
                      {PLACE_FIELD: "give either place or grid"})
    if PLACE_FIELD not in data and LEGACY_PLACE_FIELD in data:
        return LEGACY_PLACE_FIELD
    if not data.get(PLACE_FIELD):
        raise Invalid(f"the report needs its '{PLACE_FIELD}'", {PLACE_FIELD: "required"})
    return PLACE_FIELD


def place_code(data: dict[str, Any]) -> str:
    return str(data[place_field(data)])


def _report_place(session: Session, data: dict[str, Any]) -> Unit:
    """The unit a report is filed on: one of a kind the locality model makes a report place (网格)."""
    field = place_field(data)
    unit = unit_by_code(session, data[field], field)
    if unit.kind not in load_locality().kinds_where("report_place"):
        raise Invalid(f"'{data[field]}' is not a place reports are filed on",
                      {field: f"'{unit.kind}' is not a report place"})
    return unit


def _check_reporter_rights(session: Session, principal: Principal, grid: Unit, data: dict[str, Any]) -> None:
    if data.get("self_handled") and not principal.can("self_handle", grid.id):
        raise Forbidden("only the grid worker of this grid can record a self-handled problem")
    level = data.get("whistle_level")
    if level:
        unit = nearest_of_kind(session, grid, load_locality().levels[level].blown_by)
        if unit is None or not principal.can("blow_whistle", unit.id):
            raise Forbidden(f"only the secretary of the unit that blows a '{level}' whistle can blow it")


# --- reading -------------------------------------------------------------------------------------


def visible(session: Session, principal: Principal, case_id: int) -> Case:
    """The case if this user may see it; 404 otherwise, so existence does not leak."""
    case = session.get(Case, case_id) if valid_id(case_id) else None
    if case is None or not can_see(session, principal, case):
        raise NotFound(f"case {case_id} not found")
    return case


def can_see(session: Session, principal: Principal, case: Case) -> bool:
    """Through a unit the case involves, or one above it (the district's auditor sees them all)."""
    if not principal.visible_units:
        return False
    query = select(
        exists().where(CaseUnit.case_id == case.id, CaseUnit.unit_id.in_(principal.visible_units))
    )
    return bool(session.scalar(query))


def case_view(session: Session, principal: Principal, case_id: int) -> dict[str, Any]:
    case = visible(session, principal, case_id)
    return describe(session, case, principal)


def describe(session: Session, case: Case, principal: Principal) -> dict[str, Any]:
    """A case as its readers see it; the reporter's contact only for roles that contact them."""
    units = all_units(session)
    matter = load_catalogue().matter(case.matter) if case.matter else None
    open_tasks = session.scalars(
        select(Task).where(Task.case_id == case.id, Task.status == "open").order_by(Task.id)
    ).all()
    children = session.scalars(select(Case).where(Case.parent_case_id == case.id)).all()
    path = case_path(session, case)
    report_ins = session.scalars(select(ReportIn).where(ReportIn.case_id == case.id).order_by(ReportIn.id)).all()
    proofs = report_in_proofs(session, case) if any(r.reported_at for r in report_ins) else {}
    view: dict[str, Any] = {
        "id": case.id,
        "number": case.number,
        "title": case.title,
        "description": case.description,
        "channel": case.channel,
        "address": case.address,
        "status": case.status,
        "outcome": case.outcome,
        "grade": case.grade,
        "level": case.level,
        "matter": case.matter,
        "matter_name": matter.name if matter else None,
        "category": case.category,
        "urgent": case.urgent,
        # the path's unit per unit kind (grid, community … in the demo), and the whistling unit
        "units": {**{u.kind: u.code for u in path}, "whistle": units[case.whistle_unit_id].code
                  if case.whistle_unit_id else None},
        "path": [{"code": u.code, "name": u.name, "kind": u.kind} for u in reversed(path)],
        "current_step": case.current_step,
        "due_at": iso(case.due_at),
        "promised_at": iso(workflow.promised_deadline(session, case.id)),
        "rework_count": case.rework_count,
        "return_count": case.return_count,
        "satisfaction": case.satisfaction,
        "created_at": iso(case.created_at),
        "closed_at": iso(case.closed_at),
        "process_version": case.process_version.version,
        "parent_case": case.parent_case.number if case.parent_case else None,
        "escalated_to": [c.number for c in children],
        "open_tasks": [task_summary(t, units) for t in open_tasks],
        "whistle_in_review": whistle_in_review(case, [t.stage for t in open_tasks]),
        "report_ins": [
            {RESPONDING_UNIT: units[r.department_id].code, "duty": r.duty, "summoned_at": iso(r.summoned_at),
             "due_at": iso(r.due_at), "reported_at": iso(r.reported_at), "on_time": r.on_time,
             **proofs.get(units[r.department_id].code, {})}
            for r in report_ins
        ],
        "evaluations": [
            {RESPONDING_UNIT: units[e.department_id].code, "efficiency": e.efficiency, "cooperation": e.cooperation,
             "professionalism": e.professionalism, "responsibility": e.responsibility, "score": e.score,
             "comment": e.comment}
            for e in session.scalars(select(Evaluation).where(Evaluation.case_id == case.id).order_by(Evaluation.id))
        ],
        "timeline": [
            {"seq": e.seq, "type": e.type, "actor": e.actor, "role": e.role, "state_version": e.state_version,
             "unit": units[e.unit_id].code if e.unit_id else None, "at": iso(e.created_at), "data": e.data}
            for e in session.scalars(select(Event).where(
                Event.case_id == case.id, Event.type.not_in(RECORD_KEEPING)).order_by(Event.seq))
        ],
    }
    if principal.can("see_contact"):  # the roles that call or visit the reporter
        view["reporter"] = {"name": case.reporter_name, "phone": case.reporter_phone}
    return view


def report_in_proofs(session: Session, case: Case) -> dict[str, dict[str, Any]]:
    """Each department's latest proof of report-in (现场照片, 现场位置), from its ``reported_in`` events."""
    proofs: dict[str, dict[str, Any]] = {}
    for data in session.scalars(select(Event.data).where(Event.case_id == case.id, Event.type == "reported_in")
                                .order_by(Event.seq)):
        proof = {k: data[k] for k in ("photos", "location") if data.get(k)}
        if data.get(RESPONDING_UNIT) and proof:
            proofs[data[RESPONDING_UNIT]] = proof
    return proofs


def case_path(session: Session, case: Case) -> list[Unit]:
    """The units on the case's path as it was filed, its place first and the top of the tree last."""
    query = (select(Unit).join(CaseUnit, CaseUnit.unit_id == Unit.id)
             .where(CaseUnit.case_id == case.id, CaseUnit.depth.is_not(None)).order_by(CaseUnit.depth))
    return list(session.scalars(query))


# Events that keep the audit record replayable (snapshot hashes, handler results, start data): shown
# in the case's history (/api/cases/{id}/history), not in the timeline people read.
RECORD_KEEPING = ("state_saved", "handler_called", "process_started")


def whistle_in_review(case: Case, open_stages: list[str]) -> bool:
    """吹哨审核中: the whistle's materials are being prepared or reviewed (open work in a stage that
    means review); it blows only when the head approves (whistle_started)."""
    review = load_locality().stages_meaning("review")
    return case.status == "open" and any(stage in review for stage in open_stages)


@dataclass(frozen=True)
class Whereabouts:
    """Where a case is now (after a step: 研判后去向)."""

    case: Case
    steps: list[tuple[str, str]]  # (task title, unit name) of each distinct open task, oldest first
    waits: list[tuple[str, datetime]]  # (title, due time) of its waiting timers, soonest first


def whereabouts(session: Session, case_id: int) -> Whereabouts:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("no such case")
    rows = session.execute(select(Task.title, Unit.name).join(Unit, Unit.id == Task.unit_id)
                           .where(Task.case_id == case_id, Task.status == "open").order_by(Task.id))
    waits = session.execute(select(Timer.title, Timer.due_at).where(Timer.case_id == case_id,
                                                                   Timer.status == "waiting").order_by(Timer.due_at))
    return Whereabouts(case, list(dict.fromkeys((title, unit) for title, unit in rows)),
                       [(title, due) for title, due in waits])


def task_summary(task: Task, units: dict[int, Unit]) -> dict[str, Any]:
    unit = units[task.unit_id]
    return {
        "id": task.id,
        "task_type": task.task_type,
        "title": task.title,
        "stage": task.stage,
        "role": task.role,
        "unit": unit.code,
        "unit_name": unit.name,
        "status": task.status,
        "assignee": task.assignee.username if task.assignee else None,
        "due_at": iso(task.due_at),
        "overdue": bool(task.due_at and task.status == "open" and task.due_at < clock.now()),
        "created_at": iso(task.created_at),
        "context": task.context,
    }


def iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None
