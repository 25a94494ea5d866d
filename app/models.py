"""Persistent state: organisation, users, process versions, cases, inbox rows, audit events.

The engine's own task tree lives only inside ``Case.state`` (SpiffWorkflow's serializer JSON);
the tables here hold what people query: who may act where, the inbox, and the record of what
happened (吹哨全留痕).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app import compression


class HexDigest(TypeDecorator[str]):
    """A SHA-256 digest stored as its 32 bytes (bytea, BLOB), seen by Python as lowercase hex text.

    The empty digest ("", the start of a hash chain) is stored as empty bytes: every value round-trips
    exactly, and the chain code, its hashes and what the API shows are those of the hex text.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    def process_result_value(self, value: bytes | str | None, dialect: Dialect) -> str | None:
        # text written into the column by hand (SQLite keeps it as text) reads as its UTF-8 bytes, as
        # PostgreSQL would store it: a digest that matches nothing, for verify to report
        if value is None:
            return None
        return (value.encode() if isinstance(value, str) else bytes(value)).hex()


class CompressedText(TypeDecorator[str]):
    """A large text stored zstd-compressed (bytea, BLOB), seen by Python as the text.

    Written once per step (``cases.state``, ~45 KB of engine JSON), it is ~10× smaller than the text
    and than PostgreSQL's own compression of it: every step rewrites less, and leaves less dead
    behind. A value still held as UTF-8 bytes (converted by migration 0021, not yet stepped) or as
    text (SQLite) reads as it is; the empty text is stored as empty bytes.
    """

    impl = LargeBinary
    cache_ok = True
    LEVEL = 3  # ~0.1 ms for a 45 KB state

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None or value == "":
            return None if value is None else b""
        return compression.compress(value, self.LEVEL)

    def process_result_value(self, value: bytes | str | None, dialect: Dialect) -> str | None:
        return compression.text_of(value)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Unit(Base):
    """A node of the organisation tree: district, street, community, grid or department."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # district|street|community|grid|department
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))

    parent: Mapped[Unit | None] = relationship(remote_side=[id])


class OrgRevision(Base):
    """One row counting writes to the organisation tree: every unit of work that adds, changes or
    deletes a unit bumps it, so a worker's cached tree is keyed by an exact stamp."""

    __tablename__ = "org_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    roles: Mapped[list[RoleAssignment]] = relationship(back_populates="user", lazy="selectin")


class RoleAssignment(Base):
    """A role held in one unit (社区书记 of community X, 部门工作人员 of department Y ...)."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "role", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))

    user: Mapped[User] = relationship(back_populates="roles")
    unit: Mapped[Unit] = relationship(lazy="joined")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ProcessVersion(Base):
    """One deployed bundle of processes/ (BPMN, DMN and form files), immutable once stored."""

    __tablename__ = "process_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    files: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(DateTime)
    deployed_by: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it was deployed (部署说明)
    # A retired version takes no new cases; the cases already on it run on to their end.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ProcessDraft(Base):
    """An admin's edit of one file of a version, saved by the browser modeler as it changes (草稿):
    one draft per admin and file, checked and deployed from the admin pages."""

    __tablename__ = "process_drafts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    base_version: Mapped[int] = mapped_column(Integer)  # the version number the edit started from
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Case(Base):
    """A case: one process instance (a report, and the whistle it may become — 哨件)."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_level", "status", "level"),
        # the case list (app/services/case_list.py): its sort orders and its filters
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_updated", "updated_at", "id"),
        Index("ix_cases_status_due", "status", "due_at"),
        Index("ix_cases_reported_by", "reported_by_id", "created_at"),
        Index("ix_cases_matter", "matter"),
        Index("ix_cases_closed", "closed_at"),  # 满意率: the cases closed in a period
        # 返工率: the reworked cases alone (migration 0019)
        Index("ix_cases_reworked", "id", postgresql_where=text("rework_count <> 0"),
              sqlite_where=text("rework_count <> 0")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    tracking_code: Mapped[str] = mapped_column(String(32), unique=True)
    process_id: Mapped[str] = mapped_column(String(64))
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200), default="")
    reporter_name: Mapped[str] = mapped_column(String(64), default="")
    reporter_phone: Mapped[str] = mapped_column(String(32), default="")
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The unit the problem was reported on (a grid in the demo); the units above it form the case's
    # path, kept in case_units with their depth (any number of levels, any kinds).
    place_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    whistle_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    parent_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    matter: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(32), index=True)
    grade: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[str | None] = mapped_column(String(16))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|closed
    outcome: Mapped[str | None] = mapped_column(String(16))  # self_handled|closed|escalated
    current_step: Mapped[str] = mapped_column(String(255), default="")
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # The hash of the case's last event (issue 5): the head of its hash chain, "" before any event.
    chain_head: Mapped[str] = mapped_column(HexDigest, default="")
    serializer_version: Mapped[str] = mapped_column(String(16))
    # The engine state is large and read only when the case advances: load it on demand.
    state: Mapped[str] = mapped_column(CompressedText, deferred=True)
    # Bumped once per step by the service layer (workflow.begin_step); every UPDATE checks it, so a
    # concurrent step on the same case fails instead of being applied twice.
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    process_version: Mapped[ProcessVersion] = relationship()
    place: Mapped[Unit] = relationship(foreign_keys=[place_id])
    whistle_unit: Mapped[Unit | None] = relationship(foreign_keys=[whistle_unit_id])
    parent_case: Mapped[Case | None] = relationship(remote_side=[id])


class CaseUnit(Base):
    """Units involved in a case; a user sees a case through any of them (or an ancestor)."""

    __tablename__ = "case_units"
    # (unit, case): the cases of a unit's scope straight from the index (the case list, 我参与的哨件)
    __table_args__ = (UniqueConstraint("case_id", "unit_id"), Index("ix_case_units_unit_case", "unit_id", "case_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    # Position on the case's path when filed: 0 = its place, 1 = the unit above it, …; None for a
    # unit involved later (a department dispatched or summoned, a task's unit).
    depth: Mapped[int | None] = mapped_column(Integer)


_OPEN_TASKS = {"postgresql_where": text("status = 'open'"), "sqlite_where": text("status = 'open'")}


class Task(Base):
    """An inbox row: a READY human task of a case, for one role in one unit."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_inbox", "status", "role", "unit_id"),
        Index("ix_tasks_case", "case_id", "status"),
        # the inbox (app/services/tasks.py): a user's open tasks in deadline order, per type, claimed by them;
        # partial, so the million completed tasks are not in them (migrations/versions/0014_inbox_keyset.py)
        Index("ix_tasks_open_due", "role", "unit_id", "due_at", "id", **_OPEN_TASKS),
        Index("ix_tasks_open_type_due", "role", "unit_id", "task_type", "due_at", "id", **_OPEN_TASKS),
        Index("ix_tasks_open_assignee", "assignee_id", "due_at", "id", **_OPEN_TASKS),
        Index("ix_tasks_stage_due", "stage", "due_at"),  # 按期办结率: handling tasks due in a period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    engine_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    task_type: Mapped[str] = mapped_column(String(64))  # the BPMN element id, e.g. report_in
    title: Mapped[str] = mapped_column(String(128))
    stage: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    form: Mapped[str] = mapped_column(String(128))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|completed|cancelled
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship()
    unit: Mapped[Unit] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])


class Event(Base):
    """An audit event (append-only): what happened to a case, by whom, in which role and unit."""

    __tablename__ = "events"
    # (type, created_at): the dispatches of a period (回退率) without reading every event; the
    # send-backs of config/assessment.yaml's sent_back rule as shipped, indexed alone (migration 0019)
    __table_args__ = (UniqueConstraint("case_id", "seq"), Index("ix_events_type_created", "type", "created_at"),
                      Index("ix_events_sent_back", "created_at", "unit_id", "case_id",
                            postgresql_where=text("type = 'task_completed' "
                                                  "AND (data #>> '{form,action}') = 'returned'"),
                            sqlite_where=text("type = 'task_completed' "
                                              "AND json_extract(data, '$.form.action') = 'returned'")),
                      # the whistles blown (统计考核 counts a whistle once its head approved it)
                      Index("ix_events_whistle_started", "case_id", postgresql_where=text("type = 'whistle_started'"),
                            sqlite_where=text("type = 'whistle_started'")))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # indexed by (case_id, seq)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str | None] = mapped_column(String(32))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    process_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_versions.id"))
    state_version: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Hash chain (issue 5, app/services/chain.py): the previous event's hash and this event's own.
    prev_hash: Mapped[str] = mapped_column(HexDigest, default="")
    hash: Mapped[str] = mapped_column(HexDigest, default="")


class ReportIn(Base):
    """A department summoned on a whistle and its report-in (报到), the basis of 报到响应度."""

    __tablename__ = "report_ins"
    __table_args__ = (UniqueConstraint("case_id", "department_id"),
                      Index("ix_report_ins_summoned", "summoned_at"))  # 报到率: the summonses of a period

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    duty: Mapped[str] = mapped_column(String(16))  # lead (主体责任) | cooperating (配合责任)
    summoned_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime)
    on_time: Mapped[bool | None] = mapped_column(Boolean)


class Evaluation(Base):
    """一哨一考: the whistling unit's rating of one department on one whistle."""

    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("case_id", "department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    efficiency: Mapped[int] = mapped_column(Integer)  # 报到效率
    cooperation: Mapped[int] = mapped_column(Integer)  # 配合度
    professionalism: Mapped[int] = mapped_column(Integer)  # 专业性
    responsibility: Mapped[int] = mapped_column(Integer)  # 担当意识
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)


# --- issue 5: tamper-evident history (hash chains, snapshots) ---


class AuditChain(Base):
    """The head of a hash chain of events that belong to no case (deploys, login failures).

    One row per chain, locked (SELECT ... FOR UPDATE) while an event is appended, so concurrent
    writers queue instead of forking the chain. Case chains keep their head on the case row.
    """

    __tablename__ = "audit_chains"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    head: Mapped[str] = mapped_column(String(64), default="")
    length: Mapped[int] = mapped_column(Integer, default=0)


class Snapshot(Base):
    """The engine state of a case after one committed step (zlib-compressed serializer JSON), whole
    or, with ``is_delta``, as the delta against the case's snapshot before it (app/services/snapshots.py).

    ``state_hash`` is the SHA-256 of the uncompressed JSON; ``projection_hash`` that of its
    normalized projection (app/engine/history.py), which a replay must reproduce. Both are also
    recorded in the step's ``state_saved`` event, so the hash chain covers the snapshots too.
    """

    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("case_id", "state_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))  # indexed by (case_id, state_version)
    state_version: Mapped[int] = mapped_column(Integer)
    serializer_version: Mapped[str] = mapped_column(String(16))
    state: Mapped[bytes] = mapped_column(LargeBinary)
    is_delta: Mapped[bool] = mapped_column(Boolean, default=False)
    state_hash: Mapped[str] = mapped_column(HexDigest)
    projection_hash: Mapped[str] = mapped_column(HexDigest)
    created_at: Mapped[datetime] = mapped_column(DateTime)


# --- issue 4: timers, notifications, the supervised ledger (挂账督办), incidents ---


class Timer(Base):
    """A BPMN timer waiting in a case, with its due time: what the scheduler fires.

    Rows are written by ``workflow.save`` after every step from the engine's waiting timers; a
    timer that is gone from the engine is closed (``fired`` if it was due, else ``cancelled``).
    ``fire_at`` is when to try next: the due time, or later after a failed attempt (back-off)."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "fire_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    engine_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(64))  # the BPMN id of the timer event
    title: Mapped[str] = mapped_column(String(128))
    due_at: Mapped[datetime] = mapped_column(DateTime)
    fire_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting|fired|cancelled|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class Notification(Base):
    """An in-app notification (站内提醒) for one user: a deadline reminder, a supervision notice."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(16))  # reminder|supervision
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)


class SupervisionEntry(Base):
    """挂账督办: a unit's overdue work on a case, open until the late work completes (销号) or is
    taken away unfinished (转办: an escalation to the level above cancelled it)."""

    __tablename__ = "supervision_entries"
    __table_args__ = (Index("ix_supervision_unit", "unit_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    task_type: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(DateTime)
    opened_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|cleared|transferred
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)  # struck off (销号) or transferred (转办)
    late_minutes: Mapped[int | None] = mapped_column(Integer)  # how late the work was, once closed
    transferred_to_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # the whistle one level up
    # the late unit's head's 督办 answer: why late, what is done, by when; who answered and when
    answer_reason: Mapped[str | None] = mapped_column(Text)
    answer_measures: Mapped[str | None] = mapped_column(Text)
    promised_date: Mapped[date | None] = mapped_column(Date)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SupervisionRound(Base):
    """One round of a 督办: the superior issues it (a note, a time to answer), the late unit answers
    (why late, measures, promised date), the superior closes it (``accepted``, 督办办结) or presses
    again (``pressed``, 再次督办: the next round)."""

    __tablename__ = "supervision_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("supervision_entries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1 = the first 督办, 2.. = 再次督办
    note: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answer_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    answer_reason: Mapped[str | None] = mapped_column(Text)
    answer_measures: Mapped[str | None] = mapped_column(Text)
    promised_date: Mapped[date | None] = mapped_column(Date)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[str | None] = mapped_column(String(16))  # accepted|pressed, once the superior has read the answer
    verdict_note: Mapped[str | None] = mapped_column(Text)
    verdict_at: Mapped[datetime | None] = mapped_column(DateTime)


class Incident(Base):
    """A timer that failed N times: shown to admins with the error until retried."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    timer_id: Mapped[int] = mapped_column(ForeignKey("timers.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|retried
    created_at: Mapped[datetime] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))


# --- issue 3: comments and attachments on a case ---


class Comment(Base):
    """A note on a case (跟哨、盯哨记录); ``public`` ones also show on the citizen's tracking page."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str | None] = mapped_column(String(32))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    author: Mapped[User | None] = relationship()
    unit: Mapped[Unit | None] = relationship()


class Attachment(Base):
    """A photo or PDF on a case, stored outside the web root under ``stored_name``."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    original_name: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Throttle(Base):
    """A counter every web worker shares (so the limits hold with several gunicorn workers): failed
    logins per account and per address, public reports, uploaded bytes and tracking lookups per
    address. ``key`` says what is counted (``login-user:<hash>``, ``report:<address>`` ...); the count
    starts again once ``window_start`` is a window old; ``blocked_until`` is a login back-off."""

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime)


class WebSession(Base):
    """A logged-in browser session, kept on the server: the cookie holds a random id whose hash is
    the key here, so logging out (or a password change) ends a captured cookie, and the idle and
    absolute timeouts are checked against ``seen_at`` and ``created_at`` on every request."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    seen_at: Mapped[datetime] = mapped_column(DateTime)


class ImportedOrder(Base):
    """A work order taken in from an outside system (a 12345 hotline export): its number in that
    system (办件编号) is kept, and a second import of the same number creates nothing."""

    __tablename__ = "imported_orders"
    __table_args__ = (UniqueConstraint("source", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime)
    promised_at: Mapped[datetime | None] = mapped_column(DateTime)  # 承诺完成时间
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    imported_by: Mapped[str] = mapped_column(String(64))


class CaseMerge(Base):
    """A report closed at triage into another case (issue 16): merged into it (并案), or closed as a
    duplicate of it (重复件). The reporter's tracking page follows the target case from then on."""

    __tablename__ = "case_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)  # the report closed
    target_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # merged|duplicate
    note: Mapped[str] = mapped_column(Text, default="")
    merged_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    merged_at: Mapped[datetime] = mapped_column(DateTime)

    target: Mapped[Case] = relationship(foreign_keys=[target_id])


class ImportJob(Base):
    """A real import of an export run in the background (工单导入), in chunks: the import page polls
    its progress (rows done of total) and shows the row results when it is done."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # queued|running|done|failed
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[str] = mapped_column(Text)  # rows per outcome so far (JSON)
    results: Mapped[str] = mapped_column(Text, default="")  # the rows' results so far (a JSON object a line)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Building(Base):
    """A building, compound or staircase (楼栋/小区/单元) on a report place: a report may name it (or
    coordinates near it) instead of the place, and its QR code opens the report page for it."""

    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # also the short code printed by the QR
    name: Mapped[str] = mapped_column(String(128))
    place_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)

    place: Mapped[Unit] = relationship()


class Open311Client(Base):
    """A client application of the Open311 GeoReport v2 API; only the hash of its key is stored."""

    __tablename__ = "open311_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Open311Request(Base):
    """A case filed through Open311: which client filed it, and the token it was given."""

    __tablename__ = "open311_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("open311_clients.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    # the request's photo: a link the client gave (media_url), or the file it uploaded (media)
    media_url: Mapped[str | None] = mapped_column(String(1000))
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))


# --- issue 14: grades a leader gives (等次评定) ---


class AssessmentGrade(Base):
    """One grade a leader gave one unit for a period (年终等次), kept as a version: grading the same
    period and unit again adds the next version, so the history stays; the highest is current."""

    __tablename__ = "assessment_grades"
    __table_args__ = (UniqueConstraint("period_start", "period_end", "unit_id", "version"),
                      Index("ix_assessment_grades_period", "period_start", "period_end"))

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    grading: Mapped[str] = mapped_column(String(64))  # the grading's label in assessment.yaml
    grade: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    given_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    given_at: Mapped[datetime] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer)

    unit: Mapped[Unit] = relationship()
    given_by: Mapped[User | None] = relationship()


class WhistlePush(Base):
    """推送市级: a closed whistle a street pushed to the city's assessment (官渡: at least 5 a month),
    with the pusher's comment; undone (kept, with who and when) until the month's bulletin is out."""

    __tablename__ = "whistle_pushes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    pushed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    pushed_at: Mapped[datetime] = mapped_column(DateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    undone_at: Mapped[datetime | None] = mapped_column(DateTime)


class ExportJob(Base):
    """An Excel export of a long period made in the background: its progress, then its file or error."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    what: Mapped[str] = mapped_column(String(32))  # indicators | rankings | supervision
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    level: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent of the steps done
    filename: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
