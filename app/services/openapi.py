"""The OpenAPI 3.1 document of the JSON API (served at GET /api/openapi.json).

Built from data: one `Op` per route in app/api/routes.py, component schemas that mirror the dicts
the services return (cases.describe, cases.task_summary, tasks.inbox, ...), and the report body
taken from cases.REPORT_SCHEMA itself. OpenAPI 3.1 is used because its schemas are JSON Schema
2020-12, the dialect the API validates with, so REPORT_SCHEMA can be embedded as it is.
tests/integration/test_openapi.py checks that this document and app.url_map name the same routes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask

from app.attachments.service import KINDS as ATTACHMENT_KINDS
from app.attachments.service import MAX_MB as ATTACHMENT_MAX_MB
from app.services.cases import CHANNELS, REPORT_SCHEMA
from app.services.deadlines import LEDGER_STATUSES

Schema = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
ATTACHMENT_TYPES = list(ATTACHMENT_KINDS)
AUTH_SCHEMES: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]

# --- schema helpers ------------------------------------------------------------------------------


def _t(kind: str, nullable: bool = False, **extra: Any) -> Schema:
    """A schema of one JSON type; `nullable` adds null (OpenAPI 3.1 / JSON Schema style)."""
    return {"type": [kind, "null"] if nullable else kind, **extra}


def _ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _obj(*optional: str, **properties: Schema) -> Schema:
    """An object whose properties are all present in every response, except the `optional` ones."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
    }


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _enum(values: Iterable[str], nullable: bool = False) -> Schema:
    return _t("string", nullable, enum=[*values, *([None] if nullable else [])])


STR, INT, BOOL, NUM = _t("string"), _t("integer"), _t("boolean"), _t("number")
NSTR, NINT = _t("string", True), _t("integer", True)
TIME, NTIME = _t("string", format="date-time"), _t("string", True, format="date-time")
FREE_OBJECT: Schema = {"type": "object", "additionalProperties": True}
# one round of a 督办: issued by the superior, answered by the late unit, closed or pressed again
SUPERVISION_ROUND: Schema = _obj(
    number=INT, note=STR, issued_at=TIME, issued_by_name=NSTR, answer_due_at=NTIME, reason=NSTR, measures=NSTR,
    promised_date=_t("string", True, format="date"), answered_at=NTIME, answered_by_name=NSTR,
    verdict=_enum(["accepted", "pressed"], True), verdict_note=NSTR, verdict_at=NTIME)


def _extend(base: Schema, **properties: Schema) -> Schema:
    """`base` plus more properties that are always present (flat, so objects can be checked closed)."""
    return _obj(*[name for name in base["properties"] if name not in base["required"]],
                **base["properties"], **properties)


# --- component schemas: the shapes the services return -------------------------------------------


def _schemas() -> dict[str, Schema]:
    task = _obj(
        id=INT, task_type=STR, title=STR, stage=STR, role=STR, unit=STR, unit_name=STR,
        status=_enum(["open", "completed", "cancelled"]), assignee=NSTR, due_at=NTIME, overdue=BOOL,
        created_at=TIME, context=FREE_OBJECT,
    )
    # 督办事项: what a 督办 task is about (null on other tasks), from the ledger entry it answers
    supervised = {**_obj(
        rounds={**_array(SUPERVISION_ROUND), "description": "督办轮次 The rounds: issued, answered, closed or "
                                                            "pressed again (再次督办)"},
        entry=INT, unit=STR, unit_name=STR, task_type=STR,
        task_title={**STR, "description": "超时任务 The late task's title (its task type if no row)"},
        task_id=NINT, task_status={**_enum(["open", "completed", "cancelled"], True),
                                   "description": "超时任务的状态 Whether the late work is still open"},
        stage=STR, due_at=TIME, late_minutes={**NINT, "description": "已超时分钟 Minutes late: until now "
                                                                     "while open, else when closed"},
        status=_enum(LEDGER_STATUSES), closed_at=NTIME,
    ), "type": ["object", "null"],
        "description": "督办事项 On a 督办 task: the late unit, task, deadline and lateness; null otherwise"}
    return {
        "Error": _obj(
            "fields",
            error=_enum(["bad_request", "unauthorized", "forbidden", "not_found", "conflict", "invalid",
                         "too_large", "method_not_allowed", "http_error"]),
            message=STR,
            fields={"type": "object", "additionalProperties": STR,
                    "description": "字段 → 错误 Field name → problem ('' = the whole body)"},
        ),
        "Credentials": _obj(username=STR, password={**STR, "format": "password"}),
        "Token": _obj(token=STR, token_type=_enum(["Bearer"])),
        "Me": _obj(id=INT, username=STR, name=STR,
                   roles=_array(_obj(role=STR, unit=STR, unit_name=STR)),
                   csrf_token={**STR, "description": "X-CSRFToken header of writes made with the session cookie"}),
        "Report": {**copy.deepcopy(REPORT_SCHEMA), "description": "问题上报 A problem report"},
        "ReportReceipt": _obj(number=STR, tracking_code=STR),
        "TrackStatus": _obj(number=STR, title=STR, status=STR, outcome=NSTR, stage=STR, created_at=TIME,
                            closed_at=NTIME, satisfaction=NSTR),
        "Task": task,
        "InboxItem": _extend(task, case_id=INT, case_number=STR, case_title=STR,
                             level=NSTR, category=NSTR, urgent=BOOL,
                             supervision=supervised),
        "InboxPage": _obj(
            items=_array(_ref("InboxItem")), page=INT, per_page=INT,
            total={**INT, "description": "符合条件的任务数 Matching open tasks, counted up to count_cap"},
            total_capped={**BOOL, "description": "超过上限 More than count_cap match (shown as 999+)"},
            count_cap=INT,
            counts={"type": "object", "additionalProperties": INT,
                    "description": "按任务类型计数 Open tasks per task_type, ignoring the filters; "
                                   "count_cap + 1 means more than count_cap"},
            next_after={**NSTR, "description": "下一页 Cursor of the next page (the after parameter); null at the end"},
            prev_before={**NSTR, "description": "上一页 Cursor of the previous page (the before parameter); "
                                                "null at the start"},
        ),
        "TaskDetail": _extend(task, can_complete=BOOL, case=_ref("Case"), supervision=supervised,
                              form_schema={**_t("object", True), "description": "任务表单 Form schema"}),
        "TaskAssignee": _obj(task=INT, assignee=NSTR),
        "TaskCompleted": _obj(task=INT, status=STR, case=INT),
        "CaseListItem": _obj(
            id=INT, number=STR, title=STR, status=_enum(["open", "closed"]), outcome=NSTR, level=NSTR,
            grade=NINT, category=NSTR, matter=NSTR, matter_name=NSTR, channel=STR, urgent=BOOL,
            place={**STR, "description": "上报地点 The unit the case was filed on"}, place_name=STR, address=STR,
            current_step=STR, due_at=NTIME, overdue=BOOL,
            supervised={**BOOL, "description": "督办中 An open 督办 (挂账) entry on the case"},
            created_at=TIME, updated_at=TIME, closed_at=NTIME,
        ),
        "CasePage": _obj(items=_array(_ref("CaseListItem")), page=INT, per_page=INT, pages=INT,
                         total={**INT, "description": "符合条件的案件数 Matching cases, counted up to 999 or just "
                                                      "past this page"},
                         total_capped={**BOOL, "description": "更多 More match than total (shown as total+)"},
                         sort=_enum(["newest", "oldest", "due", "updated"])),
        "Case": _obj(
            "reporter",
            id=INT, number=STR, title=STR, description=STR, channel=_enum(sorted(CHANNELS)), address=STR,
            status=_enum(["open", "closed"]), outcome=NSTR, grade=NINT, level=NSTR,
            matter=NSTR, matter_name=NSTR, category=NSTR, urgent=BOOL,
            # the path's unit code per unit kind of the locality model, and the whistling unit
            units={"type": "object", "required": ["whistle"], "additionalProperties": NSTR},
            path=_array(_obj(code=STR, name=STR, kind=STR)),
            current_step=STR, due_at=NTIME, rework_count=INT, return_count=INT, satisfaction=NSTR,
            promised_at={**NTIME, "description": "承诺完成时间 An imported work order's promised time: the "
                                                 "case's deadline (due_at)"},
            created_at=TIME, closed_at=NTIME, process_version=INT, parent_case=NSTR, escalated_to=_array(STR),
            open_tasks=_array(_ref("Task")),
            whistle_in_review=BOOL,  # 吹哨审核中: prepared or under review, not blown yet
            report_ins=_array(_obj("photos", "location", department=STR, duty=_enum(["lead", "cooperating"]),
                                   summoned_at=TIME, due_at=NTIME, reported_at=NTIME, on_time=_t("boolean", True),
                                   photos=_array(STR), location=STR)),  # 报到凭证: given on site
            evaluations=_array(_obj(department=STR, efficiency=INT, cooperation=INT, professionalism=INT,
                                    responsibility=INT, score=NUM, comment=STR)),
            timeline=_array(_obj(seq=INT, type=STR, state_version=NINT, actor=STR, role=NSTR, unit=NSTR, at=TIME,
                                 data=FREE_OBJECT)),
            reporter=_obj(name=STR, phone=STR),
        ),
        "Catalogue": _obj(
            classes=_array(_obj(code=STR, name=STR)),
            matters=_array(_obj(**{"class": STR}, code=STR, name=STR, lead=STR, cooperating=_array(STR),
                                report_in_hours=NUM, handle_hours=NUM, situation=STR)),
        ),
        "ProcessVersions": _obj(versions=_array(_obj(
            version=INT, content_hash=STR, deployed_at=TIME, deployed_by=STR, comment=NSTR, files=INT, cases=INT,
            retired_at=NTIME, current=BOOL))),
        "ProcessComparison": _obj(**{"from": INT}, to=INT, files=_array(_obj(
            name=STR, status=_enum(("added", "removed", "changed")), diff=STR, truncated=BOOL, error=NSTR,
            elements={"oneOf": [{"type": "null"}, _obj(**{k: _array(_obj(id=STR, kind=STR, name=STR))
                                                          for k in ("added", "removed", "changed", "moved")})]}))),
        "Deployment": _obj(version=INT, created=BOOL),
        "ProcessCheck": _obj(ok=BOOL, bundle_error=NSTR, passed=INT, failed=INT, warnings=_array(STR), results={
            "type": "array",
            "items": _obj(file=STR, name=STR, ok=BOOL, steps=INT, message=STR, case_number=NSTR)}),
        "CaseMigration": _obj(**{"from": INT}, to=INT, dry_run=BOOL, cases=_array(_obj(
            case_id=INT, number=STR, title=STR, from_version=INT, current_step=STR, ok=BOOL, reason=NSTR,
            migrated=BOOL))),
        "Attachment": _obj(
            id=INT, name=STR, content_type=_enum(ATTACHMENT_TYPES), kind=STR, is_image=BOOL, size=INT,
            size_text=STR, width=NINT, height=NINT, public=BOOL, url=STR, thumb_url=NSTR, created_at=TIME,
        ),
        "Attachments": _obj(attachments=_array(_ref("Attachment"))),
        "Ok": _obj(ok=_t("boolean", enum=[True])),
        # issue 4: deadlines
        "Notification": _obj(id=INT, kind=_enum(["reminder", "supervision", "escalation"]), title=STR, body=STR,
                             case_id=NINT, case_number=NSTR, task_id=NINT, due_at=NTIME, created_at=TIME,
                             read_at=NTIME),
        "Notifications": _obj(items=_array(_ref("Notification"))),
        "AssessmentReport": _obj(
            period=_obj(start=STR, end=STR),
            indicators=_array(_obj(code=STR, zh=STR, en=STR, formula_zh=STR, formula_en=STR,
                                   unit=_enum(["%", "h", "n", "score"]))),
            rows=_array(_obj("level", unit=STR, name=STR, level=STR, figures={
                "type": "object", "additionalProperties": _obj(
                    "parts", value=_t("number", True), numerator=_t("number", True), denominator=_t("number", True),
                    cases=_array(INT),
                    parts={**_array(_obj(label=STR, points=_t("number"))),
                           "description": "考核得分的各项 The score's points per term (figure 'score' only)"})}))),
        "AssessmentRankings": _obj(
            period=_obj(start=STR, end=STR), red_list=INT, black_list=INT,
            scoring_period={**_enum(["month", "quarter", "year"]),
                            "description": "考核周期 The period the locality's scores are published for"},
            departments=_obj(by=_array(STR), rows=_array(_ref("RankedUnit"))),
            units=_array(_obj(level=STR, by=_array(STR), rows=_array(_ref("RankedUnit"))))),
        "AssessmentGrades": _obj(period=_obj(start=STR, end=STR),
                                 gradings=_array(_obj(label=STR, grades={"type": "object",
                                                                         "additionalProperties": STR}))),
        "AssessmentGradeHistory": _obj(period=_obj(start=STR, end=STR), grades=_array(_obj(
            unit=STR, name=STR, grading=STR, grade=STR, reason=STR, version=INT, given_by=NSTR, given_at=STR,
            current={**_t("boolean"), "description": "最新版本 The current grade of the unit (the highest version)"}))),
        "WhistlePush": _obj("comment", case=INT, pushed={**_t("boolean"), "description": "推送市级 Pushed to the city"},
                            comment=STR),
        "RankedUnit": _obj(
            "given_grade",
            rank={**NINT, "description": "名次 Rank (equal keys share one); null: nothing to rank by"},
            board={**_enum(["red", "black"], nullable=True), "description": "红榜 red / 黑榜 black list"},
            unit=STR, name=STR, level=NSTR,
            score={**_t("number", True), "description": "考核得分 The score by the locality's rules; null: none"},
            grade={**NSTR, "description": "建议等次 The grade the score earns within the quotas; null: none"},
            given_grade={**NSTR, "description": "评定等次 The grade a leader gave for the period (departments)"},
            values={"type": "object", "additionalProperties": _t("number", True),
                    "description": "排名所依据的指标 The ranking's indicators (by), in order"}),
        "AssessmentOverview": _obj(
            period=_obj(start=STR, end=STR), level=NSTR,
            headline=_array(_obj(side=_enum(["departments", "units"]), code=STR, zh=STR, en=STR, formula_zh=STR,
                                 formula_en=STR, unit=_enum(["%", "h", "n", "score"]), value=_t("number", True),
                                 numerator=_t("number", True), denominator=_t("number", True), cases=_array(INT))),
            trends=_array({"type": "object", "required": ["month"],
                           "properties": {"month": _t("string", pattern="^[0-9]{4}-[0-9]{2}$")},
                           "additionalProperties": _t("number", True),
                           "description": "每月的总数 The headline codes' values, per month"})),
        "SupervisionLedger": _obj(items=_array(_obj(
            id=INT, case_id=INT, case_number=STR, case_title=STR, unit=STR, unit_name=STR, task_type=STR,
            stage=STR, task_id=NINT, due_at=TIME, opened_at=TIME, status=_enum(LEDGER_STATUSES),
            closed_at={**NTIME, "description": "销号或转办时间 When struck off (cleared) or transferred"},
            cleared_at={**NTIME, "description": "销号时间 When struck off; null unless cleared"},
            late_minutes=NINT,
            transferred_to={**_obj(case_id=INT, case_number=NSTR), "type": ["object", "null"],
                            "description": "转办去向 The whistle one level up that took the late work over "
                                           "(an escalation); null otherwise"},
            rounds={**_array(SUPERVISION_ROUND), "description": "督办轮次 The rounds of the 督办"},
            answer={**_obj(reason=NSTR, measures=NSTR, promised_date=_t("string", True, format="date"),
                           answered_at=TIME, answered_by=NSTR, answered_by_name=NSTR),
                    "type": ["object", "null"],
                    "description": "督办回复 The late unit's head's answer: why late, measures, promised "
                                   "date; null until answered"},
        )), next_before={**NSTR, "description": "下一页 The before parameter of the next (older) page; null at "
                                                  "the end"}),
        "Incidents": _obj(items=_array(_obj(
            id=INT, case_id=INT, case_number=STR, timer=STR, timer_title=STR, due_at=TIME, error=STR,
            attempts=INT, status=_enum(["open", "retried"]), created_at=TIME, resolved_at=NTIME,
            resolved_by=NSTR,
        )), warnings={**_array(STR), "description": "运行提醒 Operational warnings, e.g. a missing holiday table"}),
        "IncidentRetried": _obj(id=INT, status=_enum(["retried"])),
        **_audit_schemas(),
        **_intake_schemas(),
    }


def _intake_schemas() -> dict[str, Schema]:
    row = _obj(row=INT, number=STR, outcome=_enum(["created", "would_create", "skipped", "refused"]),
               reason=STR, field={**STR, "description": "被拒绝的字段 The field a refusal is about"},
               case_number=NSTR, case_id=NINT)
    return {
        "ImportReport": _obj(source=STR, dry_run=BOOL, counts=FREE_OBJECT, rows=_array(row)),
        "ImportSources": _array(_obj(name=STR, label=FREE_OBJECT, channel=STR, columns=FREE_OBJECT,
                                     required=_array(STR))),
        "Duplicates": _obj(items=_array(_obj(
            id=INT, number=STR, title=STR, matter=NSTR, place=STR, address=STR, created_at=TIME, current_step=STR,
            score={"type": "number"},
            why={**FREE_OBJECT, "description": "same_matter / same_class, same_place / same_area (true), "
                                               "near_m (metres apart, when within duplicates.within_m), "
                                               "text (similarity 0–1)"},
        ))),
        "Merged": _obj(case=INT, target=INT, kind=_enum(["merged", "duplicate"])),
        "ImportJob": _obj("rows", id=INT, source=STR, filename=STR,
                          status=_enum(["queued", "running", "done", "failed"]), total=INT, done=INT,
                          percent=INT, counts=FREE_OBJECT, error=STR, rows=_array(row)),
    }


def _audit_schemas() -> dict[str, Schema]:
    """Issue 5: the audit record (hash chains, snapshots, replay, dossier)."""
    hash_ = _t("string", pattern="^[0-9a-f]{64}$")
    broken = _obj(chain=STR, case_id=NINT, seq=NINT, message=STR, line=STR,
                  problem=_enum(["altered", "reordered", "missing", "link", "head", "count", "snapshot",
                                 "anchor"]))
    event = _obj(seq=INT, type=STR, actor=STR, role=NSTR, unit=NSTR, at=TIME, state_version=NINT,
                 process_version_id=NINT, data=FREE_OBJECT, prev_hash=STR, hash=hash_)
    header = _obj(id=INT, number=STR, title=STR, process_id=STR, process_version=INT, process_version_id=INT,
                  status=STR, outcome=NSTR, created_at=TIME, event_count=INT, chain_head=STR, state_version=INT)
    step = _obj(step=INT, at=TIME, actor=STR, kind=STR, task=NSTR, events=_array(INT), snapshot=BOOL,
                state_hash=NSTR, projection_hash=NSTR)
    elements = {"type": "object", "description": "BPMN 流程 id → 已完成/持有令牌的元素 process id → element ids",
                "additionalProperties": _obj(completed=_array(STR), active=_array(STR))}
    replay = _obj(case_id=INT, number=STR, steps=INT, engine_steps=INT, ok=BOOL, ms=NUM, cpu_ms=NUM,
                  step_times=_array(STR),
                  divergence={"oneOf": [{"type": "null"}, _obj(step=INT, seq=NINT, message=STR)]},
                  error={"oneOf": [{"type": "null"}, _obj(step=INT, seq=NINT, message=STR)]})
    return {
        "Verification": _obj(ok=BOOL, chains=INT, events=INT, snapshots=INT, root=hash_,
                             first_break={"oneOf": [{"type": "null"}, broken]},
                             anchor_breaks=_array(broken), anchored=INT),
        "AuditEvent": event,
        "CaseHeader": header,
        "History": _obj(case=_ref("CaseHeader"), verification=_ref("Verification"), steps=_array(step),
                        events=_array(_ref("AuditEvent"))),
        "StepState": _obj(
            case=_ref("CaseHeader"), step=INT, snapshot_step=INT, at=NTIME, state_hash=hash_,
            projection_hash=hash_, snapshot_intact=BOOL, completed=BOOL, data=FREE_OBJECT, elements=elements,
            open_tasks=_array(_obj(engine_task_id=STR, task_type=STR, id=NINT, title=STR, role=NSTR, unit=NSTR,
                                   holder=NSTR)),
            events=_array(_ref("AuditEvent")),
        ),
        "Replay": replay,
        "Diagrams": _obj(process_version=INT, process_id=STR,
                         processes={"type": "object", "additionalProperties": STR},
                         files={"type": "object", "additionalProperties": STR}),
        "Dossier": _obj(
            format=STR, generated_at=TIME, generated_by=STR, dossier_hash=hash_,
            case=_extend(header, process_content_hash=NSTR),
            chain=_obj(algorithm=STR, canonical_form=STR, head=STR, length=INT),
            verification=_ref("Verification"), replay=_ref("Replay"), steps=_array(step),
            events=_array(_extend(event, actor_id=NINT, unit_id=NINT, created_at=STR)),
            snapshots=_array(_obj(step=INT, state_hash=hash_, projection_hash=hash_, at=TIME)),
        ),
    }


# --- error responses -----------------------------------------------------------------------------

ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "请求体不是 JSON Body is not JSON (Content-Type) or is malformed"),
    401: ("Unauthorized", "未登录或凭据无效 Not logged in, bad credentials or invalid token"),
    403: ("Forbidden", "无权操作 Your roles do not allow this"),
    404: ("NotFound", "不存在或无权查看 Does not exist, or is not yours to see"),
    409: ("Conflict", "冲突 Task not open / claimed by someone else / concurrent change; reload and retry"),
    413: ("TooLarge", "请求体过大 Body larger than the configured limit"),
    422: ("Invalid", "数据校验失败 Validation failed; `fields` names the fields"),
    429: ("TooMany", "请求过于频繁 Too many failed logins, reports, uploads or lookups; Retry-After says when"),
    503: ("Unavailable", "尚未部署流程 No process version is deployed yet"),
}

# --- operations ----------------------------------------------------------------------------------

PATH_PARAMS: dict[str, tuple[Schema, str]] = {
    "task_id": (INT, "任务编号 Task id"),
    "case_id": (INT, "案件编号 Case id"),
    "code": (STR, "查询码 Tracking code (case-insensitive)"),
    "step": (INT, "步骤 Step = the case's state version after it"),
    "notification_id": (INT, "提醒编号 Notification id"),
    "incident_id": (INT, "异常编号 Incident id"),
    "attachment_id": (INT, "附件编号 Attachment id"),
    "job_id": (INT, "导入任务编号 Import job id"),
    "number": (INT, "版本号 Process version number"),
}

ASSESSMENT_QUERY: tuple[tuple[str, Schema, str], ...] = (
    ("month", _t("string", pattern="^[0-9]{4}-[0-9]{2}$"), "月份 A month, YYYY-MM (or start and end)"),
    ("start", _t("string", format="date"), "起始日期 First day, YYYY-MM-DD"),
    ("end", _t("string", format="date"), "截止日期 Last day (inclusive), YYYY-MM-DD"),
    ("quarter", _t("string", pattern="^[0-9]{4}-Q[1-4]$"), "季度 A quarter, YYYY-Q1…Q4"),
    ("year", _t("string", pattern="^[0-9]{4}$"), "年度 A year, YYYY"),
)
_FLAG = "1/true/yes 为真，其他为假 1/true/yes = on, anything else = off"
INBOX_QUERY: tuple[tuple[str, Schema, str], ...] = (
    ("task_type", STR, "任务类型 Task type (BPMN task id), e.g. report_in"),
    ("level", STR, "吹哨层级 Whistle level of the case (a level of the locality model, config/locality.yaml)"),
    ("category", STR, "问题类别 Case category"),
    ("overdue", BOOL, f"仅超期 Only overdue tasks; {_FLAG}"),
    ("mine", BOOL, f"仅我认领的 Only tasks claimed by me; {_FLAG}"),
    ("page", _t("integer", minimum=1, maximum=100_000, default=1),
     "页码 Page number (an offset: deep pages are cheaper by cursor)"),
    ("per_page", _t("integer", minimum=1, maximum=100, default=20), "每页条数 Items per page"),
    ("after", STR, "下一页 The page after this cursor (next_after of a page); 422 if malformed"),
    ("before", STR, "上一页 The page before this cursor (prev_before of a page); 422 if malformed"),
    ("last", BOOL, f"末页 The last page; {_FLAG}"),
)

CASE_LIST_QUERY: tuple[tuple[str, Schema, str], ...] = (
    ("status", _enum(["open", "closed"]), "状态 办理中 open / 已办结 closed"),
    ("level", STR, "吹哨层级 Whistle level (a level of the locality model)"),
    ("unit", STR, "单位 A unit code within my scope: cases linked to it or to any unit below it"),
    ("category", STR, "问题类别 Category (a class of the catalogue)"),
    ("matter", STR, "事项 Matter code of the responsibility catalogue"),
    ("from", _t("string", format="date"), "上报起 Reported on or after this local date"),
    ("to", _t("string", format="date"), "上报止 Reported on or before this local date"),
    ("overdue", BOOL, f"仅超期 Only open cases past their earliest deadline; {_FLAG}"),
    ("supervised", BOOL, f"督办中 Only cases with an open 督办 entry; {_FLAG}"),
    ("q", _t("string", maxLength=100), "关键词 Text in the number, title, description or address"),
    ("phone", _t("string", maxLength=32), "上报人电话 Part of the reporter's phone; 403 without see_contact"),
    ("mine", BOOL, f"我的上报 Only cases I reported; {_FLAG}"),
    ("involved", BOOL, f"我参与的 Only cases linked to a unit I hold a role in; {_FLAG}"),
    ("sort", _enum(["newest", "oldest", "due", "updated"]), "排序 newest (default), oldest, due, updated"),
    ("page", _t("integer", minimum=1, maximum=10_000, default=1), "页码 Page number"),
    ("per_page", _t("integer", minimum=1, maximum=100, default=20), "每页条数 Items per page"),
)


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    tag: str
    summary: str  # "中文 English"
    ok: str | None  # component schema of the success body
    status: tuple[int, ...] = (200,)
    body: Schema | None = None  # request body schema; implies 400, 413 and 422
    errors: tuple[int, ...] = ()  # besides the implied ones (body, 401 unless public, 404 for path ids)
    public: bool = False
    query: tuple[tuple[str, Schema, str], ...] = ()
    description: str = ""
    media: str = "application/json"
    body_type: str = "application/json"  # media type of the request body
    ok_types: tuple[str, ...] = ("application/json",)  # media types of the success body


OPS: list[Op] = [
    Op("post", "/api/login", "auth", "登录 Log in (starts a session cookie)", "Me", body=_ref("Credentials"),
       errors=(401, 429), public=True,
       description="429 while the account or the address is locked after repeated failed logins."),
    Op("post", "/api/logout", "auth", "退出登录 Log out (session ended on the server, bearer token revoked)", "Ok",
       public=True, errors=(403,),
       description="With the session cookie it needs the X-CSRFToken header (403 without); with a bearer "
                   "token, revokes that token."),
    Op("post", "/api/tokens", "auth", "签发 API 令牌 Issue an API bearer token", "Token", status=(201,),
       body=_ref("Credentials"), errors=(401, 409, 429), public=True),
    Op("get", "/api/me", "auth", "当前用户 The current user and their roles", "Me"),
    Op("post", "/api/reports", "reports", "上报问题 File a report (staff channels)", "Case", status=(201,),
       body=_ref("Report"), errors=(403, 409, 503),
       description="403 when self_handled is set by other than the grid's worker, or whistle_level by "
                   "other than that level's secretary; 503 when no process version is deployed."),
    Op("post", "/api/public/reports", "public", "群众上报 File a report as a member of the public",
       "ReportReceipt", status=(201,), body=_ref("Report"), errors=(403, 409, 429, 503), public=True,
       description="Only the web, wechat and qr_code channels; self_handled and whistle_level are "
                   "forbidden (403)."),
    Op("get", "/api/public/track/{code}", "public", "进度查询 Track a case by its tracking code",
       "TrackStatus", public=True, errors=(429,)),
    Op("get", "/api/inbox", "tasks", "待办 Inbox: open tasks for my roles and units", "InboxPage",
       errors=(422,), query=INBOX_QUERY),
    Op("get", "/api/tasks/{task_id}", "tasks", "任务详情 A task with its form schema and case", "TaskDetail"),
    Op("post", "/api/tasks/{task_id}/claim", "tasks", "认领 Claim a task", "TaskAssignee", errors=(403, 409)),
    Op("post", "/api/tasks/{task_id}/unclaim", "tasks", "取消认领 Release a task", "TaskAssignee",
       errors=(403, 409)),
    Op("post", "/api/tasks/{task_id}/assign", "tasks", "指派 Assign a task to a holder of its role",
       "TaskAssignee", body=_obj(username=STR), errors=(403, 409)),
    Op("post", "/api/tasks/{task_id}/complete", "tasks", "办结任务 Complete a task with its form",
       "TaskCompleted", errors=(403, 409),
       body={**FREE_OBJECT, "description": "表单数据 The task's form, valid against form_schema of "
                                           "GET /api/tasks/{task_id}"}),
    Op("get", "/api/cases", "cases", "案件查询 Cases within my scope, filtered, sorted and paged", "CasePage",
       errors=(403, 422), query=CASE_LIST_QUERY,
       description="Only cases linked to a unit the caller may see. 403 for a phone search without a role "
                   "that may see the reporter's contact; 422 for a bad filter or a unit outside the scope."),
    Op("get", "/api/cases/{case_id}", "cases", "案件详情 A case with its tasks, report-ins and timeline",
       "Case"),
    Op("get", "/api/catalogue", "cases", "责任清单 The responsibility catalogue", "Catalogue"),
    Op("get", "/api/processes", "processes", "流程版本 Deployed process versions", "ProcessVersions"),
    Op("post", "/api/processes", "processes", "部署流程 Deploy a process bundle (admin)", "Deployment",
       status=(201, 200), errors=(403, 409),
       body=_obj("comment", files={"type": "object", "minProperties": 1, "additionalProperties": STR,
                                   "description": "文件名 → 内容 File name → file content (BPMN, DMN, form schemas)"},
                 comment=_t("string", maxLength=2000, description="部署说明 Why this version is deployed")),
       description="201 with a new version; 200 when the bundle equals the current version."),
    Op("post", "/api/processes/{number}/retire", "processes", "停用版本 Retire a version: no new cases on it (admin)",
       "ProcessVersions", errors=(403, 409),
       description="Its running cases go on. 409 when it is retired already or the only version not retired."),
    Op("post", "/api/processes/{number}/redeploy", "processes",
       "重新启用 Make an earlier version current again: its files deployed as a new version (admin)", "Deployment",
       status=(201, 200), errors=(403, 409), body=_obj("comment", comment=_t("string", maxLength=2000)),
       description="The body is optional. 200 when its files equal the current version's."),
    Op("get", "/api/processes/compare", "processes", "版本比较 What changed between two versions (admin, auditor)",
       "ProcessComparison", errors=(403, 422),
       query=(("from", _t("integer", minimum=1), "旧版本号 The earlier version"),
              ("to", _t("integer", minimum=1), "新版本号 The later version")),
       description="Per file added, removed or changed with a unified diff; for BPMN and DMN the elements "
                   "added, removed, changed and moved (only the diagram shape differs)."),
    Op("post", "/api/processes/check", "processes", "检查流程 Check a bundle and play its scenarios (admin)",
       "ProcessCheck", errors=(403,),
       body=_obj(files={"type": "object", "minProperties": 1, "additionalProperties": STR,
                        "description": "文件名 → 内容: the bundle as deploy takes it, with scenarios/*.yaml"}),
       description="Validates the files as deploy would and plays the scenarios among them in a throwaway "
                   "database with this deployment's organisation; nothing is stored. 200 with the results "
                   "(ok false when the bundle is refused or a scenario fails); 422 for an unreadable scenario."),
    Op("post", "/api/processes/migrations", "processes",
       "迁移案件 Move running cases onto another process version (admin)", "CaseMigration", errors=(403,),
       body=_obj("level", "unit", "step", "cases", "dry_run", **{"from": _t("integer", minimum=1)},
                 to=_t("integer", minimum=1), level=_t("string", maxLength=64), unit=_t("string", maxLength=64),
                 step=_t("string", maxLength=64, description="阶段或任务 A stage or a task's element id"),
                 cases=_array(INT), dry_run=BOOL),
       description="Chooses the open cases on version 'from' (of a level, through a unit, at a stage or task; "
                   "'cases' narrows them to some). dry_run: per case whether it can move and why not, nothing "
                   "stored. Otherwise each case moves in its own transaction, a case_migrated event in its "
                   "chain; a case that cannot move is left untouched and its reason given."),
    Op("get", "/api/notifications", "deadlines", "我的提醒 My notifications (reminders, 督办 notices)",
       "Notifications", query=(("unread", BOOL, f"仅未读 Only unread; {_FLAG}"),)),
    Op("post", "/api/notifications/{notification_id}/read", "deadlines", "标为已读 Mark a notification read",
       "Notification"),
    Op("get", "/api/supervision", "deadlines", "挂账督办台账 The supervised ledger of overdue work",
       "SupervisionLedger", errors=(422,),
       query=(("status", _enum(LEDGER_STATUSES),
               "挂账中 open / 已销号 cleared / 已转办 transferred; all when absent"),
              ("before", STR, "下一页 Entries older than this id (next_before of a page), 50 a page")),
       description="Entries on cases the caller can see; late_minutes is how late the work is (open), was "
                   "when it completed (cleared), or was when it was taken away unfinished (transferred: "
                   "past the second limit the whistle went to the level above, transferred_to)."),
    Op("get", "/api/assessment/departments", "assessment", "部门考核指标 Indicators per department",
       "AssessmentReport", errors=(422,), query=ASSESSMENT_QUERY,
       description="报到率、按时报到率、报到响应时长、按期办结率、返工率、回退率、督办、一哨一考、满意率 for every "
                   "department the caller may see; each figure with its numerator, denominator and cases "
                   "(docs/assessment.md)."),
    Op("get", "/api/assessment/units", "assessment", "吹哨单位考核指标 Whistles per whistling unit and level",
       "AssessmentReport", errors=(422,),
       query=(*ASSESSMENT_QUERY, ("level", STR, "吹哨层级 Only this whistle level"))),
    Op("get", "/api/assessment/rankings", "assessment", "排名与红黑榜 Rankings with red and black lists",
       "AssessmentRankings", errors=(422,),
       query=(*ASSESSMENT_QUERY, ("level", STR, "吹哨层级 Only this whistle level")),
       description="Departments ranked by the indicators config/assessment.yaml names (ranking.departments.by), "
                   "whistling units per level (ranking.units.by); 红榜 the first red_list ranks, 黑榜 the last "
                   "black_list. A department sees the ranking of its peers; leaders the units within theirs."),
    Op("get", "/api/assessment/grades", "assessment", "等次评定记录 The grades given for a period, every version",
       "AssessmentGradeHistory", errors=(422,), query=ASSESSMENT_QUERY,
       description="The grades leaders gave the units the caller may see for exactly this period (年终等次: "
                   "?year=), newest version first per unit; current marks the grade that stands."),
    Op("post", "/api/assessment/grades", "assessment", "等次评定 Give departments' grades, held to the quotas",
       "AssessmentGrades", errors=(403,),
       body=_obj("reasons", "month", "quarter", "year", "start", "end",
                 grades={"type": "object", "minProperties": 1, "additionalProperties": STR,
                         "description": "部门代码 → 等次 Department code → grade"},
                 reasons={"type": "object", "additionalProperties": _t("string", maxLength=2000),
                          "description": "部门代码 → 理由 Department code → reason"},
                 month=STR, quarter=STR, year=STR, start=STR, end=STR),
       description="Needs a role with the capability 'assess' over the departments. Each department is held to "
                   "the grading of assessment.yaml (scoring.grades) that covers its kind, for a period of the "
                   "grading's kind (a year); the quotas are checked over the period's grades as they would "
                   "stand. 422 names every quota broken (\"4 of 10 graded 好; at most 30 % (3) may be\") and "
                   "nothing is stored; else each grade is stored (a new version over an earlier one) and the "
                   "grading recorded in the audit chain."),
    Op("post", "/api/cases/{case_id}/push", "assessment", "推送市级 Push a closed whistle to the city's assessment",
       "WhistlePush", status=(201,), errors=(403, 409),
       body=_obj(comment=_t("string", minLength=1, maxLength=2000)),
       description="官渡: the locality's assessment.yaml push names the capability (held in the whistling unit or "
                   "above) and the whistle levels. 409 when the whistle is not closed as solved, is pushed "
                   "already, or a bulletin covering its month is published. Scoring counts it (whistles_pushed)."),
    Op("delete", "/api/cases/{case_id}/push", "assessment", "撤销推送市级 Take a push to the city back",
       "WhistlePush", errors=(403, 409),
       description="Until a bulletin covering the whistle's month is published (409 then, or when not pushed)."),
    Op("get", "/api/assessment/overview", "assessment", "统计考核总览 Headline totals and trends by month",
       "AssessmentOverview", errors=(403, 422),
       query=(*ASSESSMENT_QUERY, ("level", STR, "吹哨层级 Only this whistle level")),
       description="The dashboard's figures: totals over every unit the caller may assess, and the same per "
                   "month of the period. Needs a role with the capability 'assess'."),
    Op("get", "/api/incidents", "deadlines", "定时器异常 Timers that kept failing, and warnings (admin)", "Incidents",
       errors=(403, 422), query=(("status", _enum(["open", "retried"]), "状态 Status; both when absent"),)),
    Op("post", "/api/incidents/{incident_id}/retry", "deadlines", "重试 Retry a failed timer (admin)",
       "IncidentRetried", errors=(403, 409)),
    Op("get", "/api/cases/{case_id}/attachments", "attachments", "附件列表 The attachments of a case", "Attachments"),
    Op("post", "/api/cases/{case_id}/attachments", "attachments", "上传附件 Add photos or PDFs to a case",
       "Attachments", status=(201,), errors=(403,), body_type="multipart/form-data",
       body=_obj("public", "task_id",
                 files=_array({"type": "string", "format": "binary",
                               "description": f"JPEG/PNG/WebP/PDF, ≤ {ATTACHMENT_MAX_MB} MB each"}),
                 public={"type": "string", "enum": ["1", "true", "on"],
                         "description": "公开给上报人 Show on the public tracking page"},
                 task_id=INT),
       description="The type is judged by the content, not the name; a refused file (wrong type, lying "
                   "extension, too large, damaged) refuses the whole request with 422 and stores nothing. "
                   "403 for read-only roles."),
    Op("get", "/api/attachments/{attachment_id}", "attachments", "下载附件 An attachment's file", None,
       ok_types=(*ATTACHMENT_TYPES,),
       query=(("thumb", _t("string", enum=["1"]), "缩略图 The photo's JPEG thumbnail"),)),
    Op("get", "/api/cases/{case_id}/duplicates", "intake", "疑似重复件 Open cases likely to be the same problem",
       "Duplicates", description="Ranked by score (weights and threshold in config/intake.yaml duplicates); "
                                 "only cases the caller can see. docs/intake.md"),
    Op("get", "/api/intake/sources", "intake", "导入来源 The sources work orders are imported from",
       "ImportSources"),
    Op("post", "/api/intake/orders", "intake", "工单导入 Import a 12345 export (.xlsx/.csv)", "ImportReport",
       status=(201, 200), errors=(403,), body_type="multipart/form-data",
       body=_obj("source", "dry_run", file={"type": "string", "format": "binary"}, source=STR,
                 dry_run={"type": "string", "enum": ["1", "true", "on"], "description": "只预检 Check only"}),
       description="Each row is created, skipped (办件编号 already imported) or refused with its reason; a "
                   "dry run (200) stores nothing; 201 after an import. 403 without the capability "
                   "import_orders; a row outside the caller's units is refused. docs/intake.md"),
    Op("post", "/api/intake/jobs", "intake", "后台导入 Import a large export in the background", "ImportJob",
       status=(202,), errors=(403,), body_type="multipart/form-data",
       body=_obj("source", file={"type": "string", "format": "binary"}, source=STR),
       description="The file is read and checked whole first (422 naming file, nothing stored); the job then "
                   "files the rows in chunks: poll GET /api/intake/jobs/{job_id}. docs/intake.md"),
    Op("get", "/api/intake/jobs/{job_id}", "intake", "导入进度 An import job's progress (rows done of total)",
       "ImportJob", description="The caller's own jobs only (404 otherwise); rows once the job has ended."),
    Op("post", "/api/tasks/{task_id}/merge", "intake", "并案/重复件 Close a report at triage into an open case",
       "Merged", status=(201,), errors=(403, 409),
       body=_obj("note", kind=_enum(["merged", "duplicate"]), target={**STR, "description": "案件编号 Case number"},
                 note=STR),
       description="Only who may complete the triage task; 409 for a task that is not a triage or is done; the "
                   "report's process ends, both chains record it, the reporter follows the target. "
                   "docs/intake.md"),
    Op("get", "/api/openapi.json", "meta", "接口文档 This OpenAPI document", None, public=True),
    Op("get", "/api/audit/verify", "audit", "校验哈希链 Verify the hash chains (auditor, admin)", "Verification",
       errors=(403, 404, 422), query=(("case", INT, "案件编号 One case (with its snapshots); all visible cases "
                                                      "and the system chain when absent"),),
       description="ok=false with first_break naming the case, seq and what did not match."),
    Op("get", "/api/cases/{case_id}/history", "audit", "案件历史 Events, steps and chain verification",
       "History"),
    Op("get", "/api/cases/{case_id}/history/{step}", "audit",
       "某步状态 The case's state right after a step (from its snapshot)", "StepState"),
    Op("get", "/api/cases/{case_id}/replay", "audit", "重放 Re-run the case from its record", "Replay"),
    Op("get", "/api/cases/{case_id}/diagrams", "audit", "流程图 The BPMN files of the case's process version",
       "Diagrams"),
    Op("get", "/api/cases/{case_id}/dossier.json", "audit", "案卷 The case's dossier (JSON)", "Dossier"),
    Op("get", "/api/cases/{case_id}/dossier.html", "audit", "案卷 The case's dossier (printable HTML)", None,
       media="text/html"),
]


def _parameters(op: Op) -> list[Schema]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMS[name][0],
         "description": PATH_PARAMS[name][1]}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    params += [{"name": name, "in": "query", "required": False, "schema": schema, "description": description}
               for name, schema, description in op.query]
    return params


def _error_statuses(op: Op) -> list[int]:
    implied = {400, 413, 422} if op.body is not None else set()
    implied |= set() if op.public else {401}
    implied |= {404} if "{" in op.path else set()
    return sorted(implied | set(op.errors))


def _operation(op: Op) -> Schema:
    body_schema = _ref(op.ok) if op.ok else (FREE_OBJECT if op.media == "application/json" else STR)
    content: Schema = {op.media: {"schema": body_schema}}
    if op.ok_types == ("application/json",):
        content: Schema = {"application/json": {"schema": _ref(op.ok) if op.ok else FREE_OBJECT}}
    else:
        content = {media: {"schema": {"type": "string", "format": "binary"}} for media in op.ok_types}
    ok_text = {200: "成功 OK", 201: "已创建 Created", 202: "已受理 Accepted (runs in the background)"}
    responses: Schema = {str(s): {"description": ok_text[s], "content": content} for s in op.status}
    responses |= {str(s): _ref(ERRORS[s][0], "responses") for s in _error_statuses(op)}
    operation: Schema = {
        "operationId": _operation_id(op),
        "tags": [op.tag],
        "summary": op.summary,
        "responses": responses,
        "security": [] if op.public else AUTH_SCHEMES,
    }
    if op.description:
        operation["description"] = op.description
    if params := _parameters(op):
        operation["parameters"] = params
    if op.body is not None:
        operation["requestBody"] = {"required": True, "content": {op.body_type: {"schema": op.body}}}
    return operation


def _operation_id(op: Op) -> str:
    words = re.sub(r"[{}]", "", op.path.removeprefix("/api/")).replace(".", "_").split("/")
    return "_".join([op.method, *words])


def _session_cookie_name() -> str:
    return str(Flask.default_config["SESSION_COOKIE_NAME"])


def _version() -> str:
    try:
        return version("whistle-governance")
    except PackageNotFoundError:
        return "0.0.0"


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document; built once and shared, so callers must not mutate it."""
    paths: dict[str, dict[str, Schema]] = {}
    for op in OPS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "吹哨报到 API",
            "version": _version(),
            "description": "街乡吹哨、部门报到 — the whistle blows, departments report in. Errors are "
                           "JSON {error, message, fields?}. Authenticate with a session cookie "
                           "(POST /api/login) or 'Authorization: Bearer <token>' (POST /api/tokens). "
                           "A write (POST, PUT, PATCH, DELETE) made with the session cookie needs the "
                           "X-CSRFToken header (csrf_token of POST /api/login or GET /api/me): 403 without it.",
        },
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPS)],
        "security": AUTH_SCHEMES,
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": {
                name: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
                for name, text in ERRORS.values()
            },
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "POST /api/tokens"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": _session_cookie_name(),
                               "description": "POST /api/login"},
            },
        },
    }
