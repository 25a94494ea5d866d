"""Walk every path of processes/*.bpmn with bare SpiffWorkflow and stub handlers.

Each scenario completes user tasks the way the engine does (validate the form, task.set_data(**form),
task.run(), then the engine's steps, app.engine.run_engine_steps, at the run's own clock) and
round-trips the workflow through the JSON serializer after every step. Run.tick() lets time pass.
It records the user tasks it completed as (task id, lane, evaluated unit) and the handler
calls as (handler, params), and asserts both. A final test checks that the scenarios together reach
every flow node and take every sequence flow of every diagram.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from lxml import etree
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from app.engine import engine_time, run_engine_steps
from app.engine.sandbox import SandboxEnvironment

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
FORMS = PROCESSES / "forms"

# Units of the demo organisation (config/demo_org.yaml).
DISTRICT, STREET, COMMUNITY, GRID = "dc", "dc-s1", "dc-s1-c1", "dc-s1-c1-g1"
HW, CGZF, SCJG = "dept-hw", "dept-cgzf", "dept-scjg"

# ----------------------------------------------------------------------------- stub handlers
CATALOGUE = {
    "garbage_overflow": (
        "垃圾满溢",
        "city_mgmt",
        [(HW, "环境卫生服务中心"), (CGZF, "城市管理综合执法局")],
        2,
        0.5,
        24,
    ),
    "food_safety_complaint": ("食品安全投诉", "market_regulation", [(SCJG, "市场监督管理局")], 4, 2, 40),
}


def lookup_catalogue(data: dict, matter: str, urgent: bool) -> dict:
    name, cls, depts, report_in, report_in_urgent, handle = CATALOGUE[matter]
    return {
        "matter": matter,
        "name": name,
        "class": cls,
        "lead": depts[0][0],
        "departments": [
            {"code": code, "name": dname, "duty": "lead" if i == 0 else "cooperating"}
            for i, (code, dname) in enumerate(depts)
        ],
        "report_in_hours": report_in_urgent if urgent else report_in,
        "handle_hours": handle,
    }


def whistle_units(data: dict, level: str) -> dict:
    # A whistle is filed with, and verified by, the platform of the level above (the district's own).
    whistle = {"community": data["community"], "street": data["street"], "district": data["district"]}[level]
    above = {"community": data["street"], "street": data["district"], "district": data["district"]}[level]
    return {"whistle": whistle, "filing": above, "verifier": above, "district": data["district"],
            "review_chain": data.get("level_review_chain", REVIEW_CHAIN)}


REVIEW_CHAIN = ["section_head", "deputy_leader"]  # config/locality.yaml: every level's reviewers


# The run's clock: the engine sees only this time (app.engine.clock), moved on by Run.tick().
START = datetime(2024, 5, 6, 1, 0)


STAGE_HOURS = {"review": 8, "verification": 16}  # config/calendar.yaml: limits the catalogue has no column for
LIMITS = yaml.safe_load((ROOT / "config" / "calendar.yaml").read_text(encoding="utf-8"))["deadlines"]["default_hours"]


def set_deadline(data: dict, stage: str, hours: float | None, now: datetime) -> dict:
    """80 % reminder, deadline and second limit (twice the limit), in plain hours for the stub."""
    hours = hours if hours is not None else STAGE_HOURS[stage]
    at = {"remind": 0.8, "due": 1.0, "escalate": 2.0}
    moments = {key: iso(now + timedelta(hours=hours * share)) for key, share in at.items()}
    return {"stage": stage, "hours": hours, "start": iso(now), **moments}


RETRY = {"hours": 4, "attempts": 3}  # config/calendar.yaml: deadlines: retries: callback, in plain hours


def schedule_retry(data: dict, stage: str, attempts: int, note: str | None, now: datetime) -> dict:
    given_up = attempts >= RETRY["attempts"]
    due = None if given_up else iso(now + timedelta(hours=RETRY["hours"]))
    return {"given_up": given_up, "due": due, "attempt": attempts, "attempts": RETRY["attempts"]}


def iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat()


PARENT = {COMMUNITY: STREET, STREET: DISTRICT, HW: DISTRICT, CGZF: DISTRICT, SCJG: DISTRICT}


def open_supervision(data: dict, stage: str, unit: str, task: str, due: str, supervisor: str = "head") -> dict:
    """The head who supervises: the late unit's own, or (``above``) its parent's."""
    head = PARENT.get(unit, unit) if supervisor == "above" else unit
    return {"entry": 1, "head_role": "dept_head" if head.startswith("dept-") else "secretary", "head_unit": head,
            "late_unit": unit, "late_role": late_role(data, task)}


def late_role(data: dict, task: str) -> str:
    """The late task's own role, as the real handler reads it off the late task's inbox row."""
    if task == "review":
        return data["review_chain"][data["review_step"]]
    return {"review_head": "secretary", "verify": "platform_operator",
            "verify_dispatched": "platform_operator"}.get(task, "dept_staff")


HANDLERS = {
    "set_deadline": set_deadline,
    "send_reminder": lambda data, stage, unit, task: {"notified": 2},
    "open_supervision": open_supervision,
    "lookup_catalogue": lookup_catalogue,
    "whistle_units": whistle_units,
    "dispatch_case": lambda data, department: {
        "department": department,
        "dispatched_at": "2024-05-06T09:00:00+08:00",
    },
    "record_report_in": lambda data, department, duty, photos=None, location=None: {"on_time": True},
    "record_division": lambda data, division, summoned: division,
    "return_to_department": lambda data, department, reason, summoned: [
        d for d in summoned if d["code"] == department],
    "set_handling_deadlines": lambda data, stage, hours, division, summoned, now: {
        **set_deadline(data, stage, hours, now), "departments": {
            d["code"]: {**set_deadline(data, stage, hours, now), "task": None, "due_date": None} for d in summoned}},
    "record_evaluation": lambda data, **scores: {},
    "record_satisfaction": lambda data, satisfaction, comment, resolution: {},
    "schedule_retry": schedule_retry,
    "escalate_whistle": lambda data, level, reason: {"case_number": "DC-20240506-0099"},
    "escalate_late_work": lambda data, stage, unit, task, to, reason: {
        "stage": stage, "task": task, "from_unit": unit, "to_unit": to, "reason": reason,
    },
    "close_case": lambda data, outcome, reason=None: {},
    "adjust_departments": lambda data, proposed, add, remove, reason: [
        d for d in proposed if d["code"] not in remove] + [{"code": c, "name": c, "duty": "cooperating"} for c in add],
    "record_whistle_started": lambda data, summoned: {"departments": [d["code"] for d in summoned]},
}


class StubEngine(PythonScriptEngine):
    """The product's sandbox for scripts and conditions; service tasks go to the stubs above."""

    def __init__(self) -> None:
        super().__init__(environment=SandboxEnvironment())
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.now = START

    def call_service(self, task, operation_name, operation_params):
        assert all(p["type"] == "any" for p in operation_params.values())
        params = {name: p["value"] for name, p in operation_params.items()}
        self.calls.append((operation_name, params))
        if operation_name in ("set_deadline", "set_handling_deadlines", "schedule_retry"):
            params = {**params, "now": self.now}
        return json.dumps(HANDLERS[operation_name](task.data, **params))


# ----------------------------------------------------------------------------- driver
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
FORM_VALIDATORS = {
    p.name: Draft202012Validator(json.loads(p.read_text(encoding="utf-8")))
    for p in FORMS.glob("*.schema.json")
}


@functools.cache
def parse_specs() -> dict[str, tuple]:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_files(sorted(str(p) for p in PROCESSES.glob("*.bpmn")))
    parser.add_dmn_files(sorted(str(p) for p in PROCESSES.glob("*.dmn")))
    return {pid: (parser.get_spec(pid), parser.get_subprocess_specs(pid)) for pid in ("case", "whistle")}


class Run:
    def __init__(self, process: str, data: dict[str, Any]) -> None:
        self.engine = StubEngine()
        spec, subprocess_specs = parse_specs()[process]
        self.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.engine)
        (start,) = self.workflow.get_tasks(state=TaskState.READY)
        start.set_data(**data)
        self.trail: list[tuple[str, str, str]] = []
        self.reached: set[tuple[str, str]] = set()
        self.taken: set[tuple[str, str, str]] = set()
        self._advance()

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        return self.engine.calls

    def handlers(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _advance(self) -> None:
        with engine_time(self.engine.now):
            run_engine_steps(self.workflow)  # the engine's steps: due timers first
        self._record_coverage()
        state = SERIALIZER.serialize_json(self.workflow)
        restored = SERIALIZER.deserialize_json(state)
        restored.script_engine = self.engine  # the script engine is not serialized
        assert json.loads(SERIALIZER.serialize_json(restored)) == json.loads(state)  # lossless
        self.workflow = restored

    def _record_coverage(self) -> None:
        for task in self.workflow.get_tasks(state=TaskState.COMPLETED):
            node = task.task_spec.bpmn_id
            if node is None:
                continue
            self.reached.add((task.workflow.spec.name, node))
            for child in _bpmn_children(task):
                if child.task_spec.bpmn_id != node and child.state != TaskState.CANCELLED:
                    self.taken.add((task.workflow.spec.name, node, child.task_spec.bpmn_id))

    def _evaluate(self, task, prop: str) -> Any:
        expression = task.task_spec.extensions["properties"].get(prop)
        # a dueHours expression reads the configured hours per stage as `limits` (as the engine gives it)
        return None if expression is None else self.engine.evaluate(task, expression, {"limits": LIMITS})

    def _view(self, task) -> tuple[str, str, str]:
        role = self._evaluate(task, "role") or task.task_spec.lane  # as the engine: "role" names another lane
        return task.task_spec.name, role, self._evaluate(task, "unit")

    def _ready(self, name: str | None = None, dept: str | None = None) -> list:
        tasks = self.workflow.get_tasks(state=TaskState.READY, manual=True)
        return [
            t
            for t in tasks
            if (name is None or t.task_spec.name == name)
            and (dept is None or t.data.get("dept", {}).get("code") == dept)
        ]

    def ready(self) -> list[tuple[str, str, str]]:
        return sorted(self._view(t) for t in self._ready())

    def due(self, name: str) -> list[Any]:
        return [self._evaluate(t, "dueHours") for t in self._ready(name)]

    def data(self, name: str, dept: str | None = None) -> dict[str, Any]:
        return self._ready(name, dept)[0].data

    def complete(self, name: str, form: dict[str, Any], dept: str | None = None) -> None:
        tasks = self._ready(name, dept)
        assert tasks, f"{name} ({dept}) is not ready; ready: {self.ready()}"
        task = tasks[0]
        validator = FORM_VALIDATORS[task.task_spec.extensions["properties"]["formJsonSchemaFilename"]]
        errors = [e.message for e in validator.iter_errors(form)]
        assert not errors, f"{name}: {errors}"
        self.trail.append(self._view(task))
        task.set_data(**form)
        task.run()
        self._advance()

    def tick(self, hours: float) -> None:
        """Let time pass, then a step with no task completed (what the timer scheduler does)."""
        self.engine.now += timedelta(hours=hours)
        self._advance()

    @property
    def finished(self) -> bool:
        return self.workflow.completed

    def final(self) -> dict[str, Any]:
        assert self.workflow.completed, self.ready()
        return self.workflow.data

    def ended_at(self) -> set[str]:
        return {
            t.task_spec.bpmn_id
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.bpmn_id
            and t.workflow is self.workflow
            and type(t.task_spec).__name__ == "EndEvent"
        }


def _bpmn_children(task) -> list:
    """The next BPMN nodes after a task, looking through the engine's own structural tasks (the
    split and join SpiffWorkflow puts around a task that has boundary events)."""
    found = []
    for child in task.children:
        if child.task_spec.bpmn_id is None:
            found.extend(_bpmn_children(child))
        else:
            found.append(child)
    return found


def case_data(**changes: Any) -> dict[str, Any]:
    data = {
        "case_id": 1,
        "case_number": "DC-20240506-0001",
        "title": "三个小区交界处垃圾满溢",
        "matter": None,
        "grid": GRID,
        "community": COMMUNITY,
        "street": STREET,
        "district": DISTRICT,
        "top": DISTRICT,
        "self_handled": False,
        "direct_whistle_level": None,
        "urgent": False,
    }
    return {**data, **changes}


# ----------------------------------------------------------------------------- forms used
TRIAGE_WHISTLE = {"grade": 3, "matter": "garbage_overflow", "level": "community", "note": "涉及三个小区"}
TRIAGE_DISPATCH = {"grade": 2, "matter": "food_safety_complaint"}
PREPARE = {"summary": "三个小区交界处垃圾无人清运", "situation": "fallback", "materials": ["photo-1.jpg"]}
APPROVE = {"decision": "approve"}
RETURN = {"decision": "return", "reason": "材料不全"}
REPORT_IN = {"on_site": True, "attendees": "张三", "note": "30分钟到场"}
SUPERVISE = {"verdict": "press", "note": "请说明超时原因并限期整改"}  # the superior issues the 督办
PRESS_AGAIN = {"verdict": "press", "note": "措施不具体，再次督办", "answer_hours": 2}  # 再次督办
ANSWER = {"reason": "人手不足", "measures": "增派人员", "promised_date": "2026-11-23"}  # the late unit answers
ACCEPT = {"verdict": "accept", "note": "认可整改措施"}  # 督办办结
PROCEED = {
    "meeting_held": True,
    "attendees": ["社区", "环卫", "城管"],
    "decisions": "分片清运",
    "decision": "proceed",
}
ESCALATE = {"meeting_held": True, "decision": "escalate", "escalate_reason": "需街道协调产权单位"}
LEAD_CONFIRM = {"summary": "已清运并增设分类桶"}
FIXED = {"fixed": True, "note": "现场核实已解决"}
NOT_FIXED = {"fixed": False, "note": "仍有堆放"}
FEEDBACK = {"feedback": "已电话告知处理结果", "contacted": True}
CALLBACK = {"contact": "reached", "resolution": "resolved", "satisfaction": "satisfied", "comment": "处理及时"}
NOT_REACHED = {"contact": "not_reached", "comment": "无人接听"}
SCORES = {
    HW: {"efficiency": 5, "cooperation": 5, "professionalism": 4, "responsibility": 5, "comment": "响应快"},
    CGZF: {"efficiency": 3, "cooperation": 4, "professionalism": 4, "responsibility": 3},  # no comment
    SCJG: {"efficiency": 4, "cooperation": 4, "professionalism": 5, "responsibility": 4},
}


def handle_form(dept: str) -> dict[str, Any]:
    return {"actions": f"{dept} 清运", "result": "已完成", "materials": [f"{dept}.jpg"]}


def review_chain(run: Run) -> None:
    for step in ("prepare_whistle", "review", "review", "review_head"):
        run.complete(step, PREPARE if step == "prepare_whistle" else APPROVE)


def from_report_in_to_close(run: Run, departments: list[str]) -> None:
    """The whistle after the review chain (and filing): report-in, handling, closure, evaluation."""
    for dept in departments:
        run.complete("report_in", REPORT_IN, dept)
    run.complete("coordinate", PROCEED)
    from_handling_to_close(run, departments)


def from_handling_to_close(run: Run, departments: list[str]) -> None:
    for dept in departments:
        run.complete("handle", handle_form(dept), dept)
    run.complete("lead_confirm", LEAD_CONFIRM)
    run.complete("verify", FIXED)
    run.complete("feedback", FEEDBACK)
    run.complete("callback", CALLBACK)
    for dept in departments:
        run.complete("evaluate", SCORES[dept], dept)


def whistle_trail(whistle: str, verifier: str, departments: list[str], lead: str) -> list[tuple]:
    return [
        ("prepare_whistle", "whistle_staff", whistle),
        ("review", "section_head", whistle),
        ("review", "deputy_leader", whistle),
        ("review_head", "secretary", whistle),
        *[("report_in", "dept_staff", d) for d in departments],
        ("coordinate", "whistle_staff", whistle),
        *[("handle", "dept_staff", d) for d in departments],
        ("lead_confirm", "dept_head", lead),
        ("verify", "platform_operator", verifier),
        ("feedback", "whistle_staff", whistle),
        ("callback", "callback_agent", DISTRICT),
        *[("evaluate", "secretary", whistle) for _ in departments],
    ]


MI_PRIVATE = {
    "dept",
    "report_dept",
    "handle_dept",
    "dept_work",
    "photos",
    "location",
    "rated_dept",
    "on_site",
    "actions",
    "efficiency",
    "cooperation",
    "professionalism",
    "responsibility",
    "report_in_result",
    "evaluation_result",
}


# ----------------------------------------------------------------------------- scenarios
def scenario_grade_1() -> Run:
    run = Run("case", case_data(self_handled=True))
    assert run.finished and run.trail == []
    assert run.calls == [("close_case", {"outcome": "self_handled"})]
    assert run.final()["grade"] == 1
    assert run.ended_at() == {"end_self_handled"}
    return run


def scenario_direct_whistle() -> Run:
    run = Run("case", case_data(direct_whistle_level="street", matter="garbage_overflow"))
    assert run.ready() == [("prepare_whistle", "whistle_staff", STREET)]  # no triage
    assert run.calls == [
        ("whistle_units", {"level": "street"}),
        ("lookup_catalogue", {"matter": "garbage_overflow", "urgent": False}),
    ]
    assert (run.data("prepare_whistle")["grade"], run.data("prepare_whistle")["level"]) == (3, "street")
    review_chain(run)
    run.complete("file_whistle", {"filing_no": "BA-2024-001"})
    from_report_in_to_close(run, [HW, CGZF])
    assert run.trail[4] == ("file_whistle", "platform_operator", DISTRICT)
    assert run.final()["level_name"] == "街道哨"
    assert run.ended_at() == {"end_whistle"}
    return run


def scenario_grade_2_handled() -> Run:
    run = Run("case", case_data())
    assert run.ready() == [("triage", "platform_operator", DISTRICT)]
    run.complete("triage", TRIAGE_DISPATCH)
    assert run.due("handle_dispatched") == [40]
    run.complete(
        "handle_dispatched", {"action": "handled", "result": "已下架过期食品", "materials": ["a.jpg"]}
    )
    run.complete("verify_dispatched", FIXED)
    run.complete("feedback_dispatched", FEEDBACK)
    run.complete("callback", CALLBACK)
    assert run.trail == [
        ("triage", "platform_operator", DISTRICT),
        ("handle_dispatched", "dept_staff", SCJG),
        ("verify_dispatched", "platform_operator", DISTRICT),
        ("feedback_dispatched", "platform_operator", STREET),
        ("callback", "callback_agent", DISTRICT),
    ]
    assert run.calls == [
        ("lookup_catalogue", {"matter": "food_safety_complaint", "urgent": False}),
        ("dispatch_case", {"department": SCJG}),
        ("set_deadline", {"stage": "handling", "hours": 40}),
        ("set_deadline", {"stage": "verification", "hours": None}),
        ("record_satisfaction", {"satisfaction": "satisfied", "comment": "处理及时", "resolution": "resolved"}),
        ("close_case", {"outcome": "closed"}),
    ]
    final = run.final()
    assert (final["grade"], final["return_count"], final["rework_count"]) == (2, 0, 0)
    assert run.ended_at() == {"end_closed"}
    return run


def scenario_triage_closes_an_invalid_report() -> Run:
    run = Run("case", case_data(matter="garbage_overflow"))
    assert run.data("triage")["matter"] == "garbage_overflow"  # the form starts at the reported matter
    run.complete("triage", {"grade": 0, "reject_reason": "重复上报，已并入原件办理"})
    assert run.calls == [("close_case", {"outcome": "invalid", "reason": "重复上报，已并入原件办理"})]
    assert run.ended_at() == {"end_rejected"}
    return run


def scenario_callback_not_reached_is_tried_again() -> Run:
    """未接通: the call-back comes back after the retry hours; answered at the second try."""
    run = _to_callback()
    run.complete("callback", NOT_REACHED)
    assert run.ready() == []  # waits for the retry timer
    run.tick(3.9)
    assert run.ready() == []
    run.tick(0.2)
    assert run.ready() == [("callback", "callback_agent", DISTRICT)]
    assert run.data("callback")["contact"] is None  # the last answer is blanked
    run.complete("callback", CALLBACK)
    assert ("schedule_retry", {"stage": "callback", "attempts": 1, "note": "无人接听"}) in run.calls
    assert run.calls[-2:] == [
        ("record_satisfaction", {"satisfaction": "satisfied", "comment": "处理及时", "resolution": "resolved"}),
        ("close_case", {"outcome": "closed"}),
    ]
    assert run.ended_at() == {"end_closed"}
    return run


def scenario_callback_never_reached_ends_without_a_rating() -> Run:
    """After the configured attempts, the call-back ends as 未接通: no satisfaction is recorded."""
    run = _to_callback()
    for attempt in range(1, RETRY["attempts"] + 1):
        run.complete("callback", NOT_REACHED)
        if attempt < RETRY["attempts"]:
            run.tick(RETRY["hours"] + 0.1)
    assert "record_satisfaction" not in run.handlers()
    assert [c[1]["attempts"] for c in run.calls if c[0] == "schedule_retry"] == [1, 2, 3]
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})  # the case itself is still closed
    assert run.final()["callback_retry"]["given_up"] is True
    return run


def _to_callback() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_DISPATCH)
    run.complete("handle_dispatched", {"action": "handled", "result": "已处理"})
    run.complete("verify_dispatched", FIXED)
    run.complete("feedback_dispatched", FEEDBACK)
    return run


def scenario_grade_2_returned_then_whistle() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_DISPATCH)
    run.complete("handle_dispatched", {"action": "returned", "reason": "非本部门职责"})
    assert run.ready() == [("triage", "platform_operator", DISTRICT)]  # the platform re-judges
    assert run.data("triage")["return_count"] == 1
    run.complete("triage", TRIAGE_WHISTLE)
    review_chain(run)
    from_report_in_to_close(run, [HW, CGZF])
    assert run.trail == [
        ("triage", "platform_operator", DISTRICT),
        ("handle_dispatched", "dept_staff", SCJG),
        ("triage", "platform_operator", DISTRICT),
        *whistle_trail(COMMUNITY, STREET, [HW, CGZF], HW),
    ]
    assert run.handlers()[:5] == ["lookup_catalogue", "dispatch_case", "set_deadline", "whistle_units",
                                  "lookup_catalogue"]
    assert run.calls[4] == ("lookup_catalogue", {"matter": "garbage_overflow", "urgent": False})
    assert run.handlers()[-1] == "close_case" and run.calls[-1][1] == {"outcome": "closed"}
    assert run.final()["return_count"] == 1 and run.final()["grade"] == 3
    return run


def supervised(run: Run, late: str, dept: str | None = None) -> None:
    """督办 the right way round: the superior issues it, the late unit (the late task's own role in
    its unit) answers, the answer comes back to the superior, who closes it."""
    head = f"{late}_head_supervise"
    [(_, _, head_unit)] = [t for t in run.ready() if t[0] == head and (dept is None or t[2] == dept)]
    run.complete(head, SUPERVISE, dept)
    [answer] = [t for t in run.ready() if t[0] == f"{late}_supervise_answer"]
    [(_, late_role_, late_unit)] = [t for t in run.ready() if t[0] == late and (dept is None or t[2] == dept)]
    assert answer[1:] == (late_role_, late_unit)  # the late one answers, not the superior
    assert [t for t in run.ready() if t[0] == head and t[2] == head_unit] == []  # waiting for the answer
    run.complete(f"{late}_supervise_answer", ANSWER, dept)
    assert (head, head_unit) in [(t[0], t[2]) for t in run.ready()]  # the answer goes back up
    run.complete(head, ACCEPT, dept)


def scenario_supervision_pressed_again_until_the_answer_satisfies() -> Run:
    """再次督办: the superior is not satisfied with the answer and presses again, with its own time to
    answer; the late unit answers again; the superior closes it (督办办结). The work goes on meanwhile."""
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_DISPATCH)
    run.tick(41)
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG),
                           ("handle_dispatched_head_supervise", "dept_head", SCJG)]
    run.complete("handle_dispatched_head_supervise", SUPERVISE)
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG),
                           ("handle_dispatched_supervise_answer", "dept_staff", SCJG)]
    assert run.due("handle_dispatched_supervise_answer") == [8]  # the configured limit when none is given
    run.complete("handle_dispatched_supervise_answer", ANSWER)
    run.complete("handle_dispatched_head_supervise", PRESS_AGAIN)
    assert run.due("handle_dispatched_supervise_answer") == [2]  # the superior's own time to answer
    run.complete("handle_dispatched_supervise_answer", {**ANSWER, "measures": "明日上午派两人处理"})
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG),
                           ("handle_dispatched_head_supervise", "dept_head", SCJG)]
    run.complete("handle_dispatched_head_supervise", ACCEPT)
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG)]
    run.complete("handle_dispatched", {"action": "handled", "result": "已处理"})
    run.complete("verify_dispatched", FIXED)
    run.complete("feedback_dispatched", FEEDBACK)
    run.complete("callback", CALLBACK)
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})
    return run


def scenario_grade_2_handled_late_before_the_head_answers() -> Run:
    """The handling done withdraws the head's open 督办 task: the subprocess's end terminates it."""
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_DISPATCH)
    run.tick(41)
    assert [t[0] for t in run.ready()] == ["handle_dispatched", "handle_dispatched_head_supervise"]
    run.complete("handle_dispatched", {"action": "returned", "reason": "非本部门职责"})
    assert run.ready() == [("triage", "platform_operator", DISTRICT)]
    return run


def scenario_grade_2_handled_late() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_DISPATCH)
    run.tick(33)  # 80 % of 40 h
    run.tick(8)
    assert [(name, p["unit"]) for name, p in run.calls if name in ("send_reminder", "open_supervision")] == [
        ("send_reminder", SCJG), ("open_supervision", SCJG)]
    # 督办: the late department's head answers; the handling task stays open meanwhile
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG),
                           ("handle_dispatched_head_supervise", "dept_head", SCJG)]
    supervised(run, "handle_dispatched")
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG)]
    run.complete("handle_dispatched", {"action": "handled", "result": "已处理"})
    run.tick(17)  # verification limit 16 h
    assert [(name, p["unit"], p["task"]) for name, p in run.calls[-2:]] == [
        ("send_reminder", DISTRICT, "verify_dispatched"), ("open_supervision", DISTRICT, "verify_dispatched")]
    # the verifying unit's secretary supervises; verification goes on meanwhile
    assert run.ready() == [("verify_dispatched", "platform_operator", DISTRICT),
                           ("verify_dispatched_head_supervise", "secretary", DISTRICT)]
    supervised(run, "verify_dispatched")
    assert run.ready() == [("verify_dispatched", "platform_operator", DISTRICT)]
    run.complete("verify_dispatched", FIXED)
    run.complete("feedback_dispatched", FEEDBACK)
    run.complete("callback", CALLBACK)
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})
    return run


def grade_2_past_the_second_limit() -> Run:
    """The department never handles it: reminded at 80 %, supervised at the limit (its head never
    answers either), and past twice the 40 h limit the case goes back to the platform's triage."""
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_DISPATCH)
    run.tick(41)
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG),
                           ("handle_dispatched_head_supervise", "dept_head", SCJG)]
    run.tick(38.9)  # 79.9 h: still the department's
    assert "escalate_late_work" not in run.handlers()
    run.tick(0.2)
    # interrupting: the handling task and the unanswered 督办 task are gone, the platform re-judges
    assert run.ready() == [("triage", "platform_operator", DISTRICT)]
    assert run.calls[-1] == ("escalate_late_work", {
        "stage": "handling", "unit": SCJG, "task": "handle_dispatched", "to": DISTRICT,
        "reason": run.calls[-1][1]["reason"]})
    assert "第二时限" in run.calls[-1][1]["reason"]
    assert [n for n in run.handlers() if n != "set_deadline"] == [
        "lookup_catalogue", "dispatch_case", "send_reminder", "open_supervision", "escalate_late_work"]
    data = run.data("triage")
    assert data["rejudge"]["from_unit"] == SCJG and data["return_count"] == 0  # not the department's 回退
    assert "supervision" not in data  # the 督办 path's data stayed in the subprocess
    run.tick(100)  # nothing of the withdrawn stage fires again
    assert run.handlers().count("escalate_late_work") == 1 and run.handlers().count("open_supervision") == 1
    return run


def scenario_grade_2_past_the_second_limit_is_redispatched() -> Run:
    run = grade_2_past_the_second_limit()
    run.complete("triage", TRIAGE_DISPATCH)  # dispatched again: a new handling limit, handled in time
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG)]
    assert run.handlers().count("dispatch_case") == 2
    run.complete("handle_dispatched", {"action": "handled", "result": "已处理"})
    run.complete("verify_dispatched", FIXED)
    run.complete("feedback_dispatched", FEEDBACK)
    run.complete("callback", CALLBACK)
    assert [t[0] for t in run.trail] == ["triage", "triage", "handle_dispatched", "verify_dispatched",
                                         "feedback_dispatched", "callback"]
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})
    assert run.ended_at() == {"end_closed"}
    return run


def scenario_grade_2_past_the_second_limit_becomes_a_whistle() -> Run:
    run = grade_2_past_the_second_limit()
    run.complete("triage", TRIAGE_WHISTLE)  # upgraded: grade 3
    review_chain(run)
    from_report_in_to_close(run, [HW, CGZF])
    final = run.final()
    assert (final["grade"], final["return_count"]) == (3, 0)
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})
    assert run.ended_at() == {"end_whistle"}
    return run


def scenario_grade_2_rework() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_DISPATCH)
    run.complete("handle_dispatched", {"action": "handled", "result": "已处理"})
    run.complete("verify_dispatched", NOT_FIXED)
    assert run.ready() == [("handle_dispatched", "dept_staff", SCJG)]
    assert run.data("handle_dispatched")["rework_count"] == 1
    run.complete("handle_dispatched", {"action": "handled", "result": "已彻底处理"})
    run.complete("verify_dispatched", FIXED)
    run.complete("feedback_dispatched", FEEDBACK)
    run.complete("callback", CALLBACK)
    assert [t[0] for t in run.trail] == [
        "triage",
        "handle_dispatched",
        "verify_dispatched",
        "handle_dispatched",
        "verify_dispatched",
        "feedback_dispatched",
        "callback",
    ]
    assert run.handlers().count("dispatch_case") == 1
    assert run.final()["rework_count"] == 1
    return run


PROPOSED = [{"code": HW, "name": "环境卫生服务中心", "duty": "lead"},
            {"code": CGZF, "name": "城市管理综合执法局", "duty": "cooperating"}]


def scenario_community_whistle_full() -> Run:
    run = Run("case", case_data(title="垃圾满溢"))
    run.complete("triage", TRIAGE_WHISTLE)
    review_chain(run)
    # Parallel multi-instance: both summoned departments must report in at once.
    assert run.ready() == [("report_in", "dept_staff", CGZF), ("report_in", "dept_staff", HW)]
    assert run.due("report_in") == [2, 2]
    assert {run.data("report_in", d)["dept"]["duty"] for d in (HW, CGZF)} == {"lead", "cooperating"}
    for dept in (HW, CGZF):
        run.complete("report_in", REPORT_IN, dept)
    # Instance data stays in the instance.
    assert not MI_PRIVATE & set(run.data("coordinate"))
    assert run.data("coordinate")["report_in_results"] == [{"on_time": True}, {"on_time": True}]
    run.complete("coordinate", PROCEED)
    assert run.ready() == [("handle", "dept_staff", CGZF), ("handle", "dept_staff", HW)]
    assert run.due("handle") == [24, 24]
    for dept in (HW, CGZF):
        run.complete("handle", handle_form(dept), dept)
    run.complete("lead_confirm", LEAD_CONFIRM)
    run.complete("verify", FIXED)
    run.complete("feedback", FEEDBACK)
    run.complete("callback", CALLBACK)
    assert run.ready() == [("evaluate", "secretary", COMMUNITY), ("evaluate", "secretary", COMMUNITY)]
    for dept in (HW, CGZF):
        run.complete("evaluate", SCORES[dept], dept)

    assert run.trail == [
        ("triage", "platform_operator", DISTRICT),
        ("prepare_whistle", "whistle_staff", COMMUNITY),
        ("review", "section_head", COMMUNITY),
        ("review", "deputy_leader", COMMUNITY),
        ("review_head", "secretary", COMMUNITY),
        ("report_in", "dept_staff", HW),
        ("report_in", "dept_staff", CGZF),
        ("coordinate", "whistle_staff", COMMUNITY),
        ("handle", "dept_staff", HW),
        ("handle", "dept_staff", CGZF),
        ("lead_confirm", "dept_head", HW),
        ("verify", "platform_operator", STREET),
        ("feedback", "whistle_staff", COMMUNITY),
        ("callback", "callback_agent", DISTRICT),
        ("evaluate", "secretary", COMMUNITY),
        ("evaluate", "secretary", COMMUNITY),
    ]
    assert run.calls == [
        ("whistle_units", {"level": "community"}),
        ("lookup_catalogue", {"matter": "garbage_overflow", "urgent": False}),
        ("adjust_departments", {"proposed": PROPOSED, "add": [], "remove": [], "reason": ""}),
        *[("set_deadline", {"stage": "review", "hours": None})] * 3,  # each reviewer's own limit
        ("record_whistle_started", {"summoned": PROPOSED}),  # 吹哨 when the head approves, not at triage
        ("set_deadline", {"stage": "report_in", "hours": 2}),
        ("record_report_in", {"department": HW, "duty": "lead", "photos": [], "location": ""}),
        ("record_report_in", {"department": CGZF, "duty": "cooperating", "photos": [], "location": ""}),
        ("record_division", {"division": [], "summoned": PROPOSED}),  # no 分工 given
        ("set_handling_deadlines", {"stage": "handling", "hours": 24, "division": [], "summoned": PROPOSED}),
        ("set_deadline", {"stage": "verification", "hours": None}),
        ("record_satisfaction", {"satisfaction": "satisfied", "comment": "处理及时", "resolution": "resolved"}),
        (
            "record_evaluation",
            {
                "department": HW,
                "efficiency": 5,
                "cooperation": 5,
                "professionalism": 4,
                "responsibility": 5,
                "comment": "响应快",
            },
        ),
        # The call-back's comment must not become this department's evaluation comment.
        (
            "record_evaluation",
            {
                "department": CGZF,
                "efficiency": 3,
                "cooperation": 4,
                "professionalism": 4,
                "responsibility": 3,
                "comment": None,
            },
        ),
        ("close_case", {"outcome": "closed"}),
    ]
    final = run.final()
    assert not MI_PRIVATE & set(final)
    assert final["handled_actions"] == [f"{HW} 清运", f"{CGZF} 清运"]
    assert (final["filing_required"], final["next_level"], final["level_name"]) == (False, "street", "社区哨")
    assert (final["review_returns"], final["rework_count"]) == (0, 0)
    assert "file_whistle" not in [t[0] for t in run.trail]
    assert run.ended_at() == {"end_whistle"}
    return run


def scenario_street_whistle() -> Run:
    run = Run("case", case_data())
    run.complete("triage", {**TRIAGE_WHISTLE, "level": "street", "urgent": True})
    review_chain(run)
    assert run.ready() == [("file_whistle", "platform_operator", DISTRICT)]  # 备案 with the district
    run.complete("file_whistle", {"filing_no": "BA-2024-002", "note": "已备案"})
    assert run.due("report_in") == [0.5, 0.5]  # urgent limit
    from_report_in_to_close(run, [HW, CGZF])
    assert run.trail == [
        ("triage", "platform_operator", DISTRICT),
        *whistle_trail(STREET, DISTRICT, [HW, CGZF], HW)[:4],
        ("file_whistle", "platform_operator", DISTRICT),
        *whistle_trail(STREET, DISTRICT, [HW, CGZF], HW)[4:],
    ]
    assert run.calls[:2] == [
        ("whistle_units", {"level": "street"}),
        ("lookup_catalogue", {"matter": "garbage_overflow", "urgent": True}),
    ]
    assert run.final()["level_name"] == "街道哨"
    return run


def scenario_district_whistle() -> Run:
    run = Run("case", case_data())
    run.complete("triage", {**TRIAGE_WHISTLE, "level": "district"})
    review_chain(run)
    from_report_in_to_close(run, [HW, CGZF])
    assert run.trail == [
        ("triage", "platform_operator", DISTRICT),
        *whistle_trail(DISTRICT, DISTRICT, [HW, CGZF], HW),
    ]
    final = run.final()
    assert (final["filing_required"], final["next_level"], final["level_name"]) == (False, None, "区级哨")
    return run


def scenario_review_returns() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_WHISTLE)
    steps = ["review", "review", "review_head"]
    for returning in range(3):  # return at each of the three review steps, in turn
        run.complete("prepare_whistle", PREPARE)
        for step in steps[:returning]:
            run.complete(step, APPROVE)
        run.complete(steps[returning], RETURN)
        assert run.ready() == [("prepare_whistle", "whistle_staff", COMMUNITY)]
        assert run.data("prepare_whistle")["review_returns"] == returning + 1
    review_chain(run)
    assert [t[0] for t in run.trail[1:]] == [
        "prepare_whistle",
        "review",
        "prepare_whistle",
        "review",
        "review",
        "prepare_whistle",
        "review",
        "review",
        "review_head",
        "prepare_whistle",
        "review",
        "review",
        "review_head",
    ]
    assert run.ready() == [("report_in", "dept_staff", CGZF), ("report_in", "dept_staff", HW)]
    from_report_in_to_close(run, [HW, CGZF])
    assert run.final()["review_returns"] == 3
    return run


def whistle_at_handling() -> Run:
    """A community whistle on garbage_overflow whose departments have reported in and coordinated."""
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_WHISTLE)
    review_chain(run)
    for dept in (HW, CGZF):
        run.complete("report_in", REPORT_IN, dept)
    run.complete("coordinate", PROCEED)
    return run


def scenario_whistle_rework() -> Run:
    run = whistle_at_handling()
    for dept in (HW, CGZF):
        run.complete("handle", handle_form(dept), dept)
    run.complete("lead_confirm", LEAD_CONFIRM)
    run.complete("verify", NOT_FIXED)
    # Rework goes back to every department.
    assert run.ready() == [("handle", "dept_staff", CGZF), ("handle", "dept_staff", HW)]
    assert run.data("handle", HW)["rework_count"] == 1
    for dept in (CGZF, HW):
        run.complete("handle", {"actions": f"{dept} 返工"}, dept)
    run.complete("lead_confirm", LEAD_CONFIRM)
    run.complete("verify", FIXED)
    run.complete("feedback", FEEDBACK)
    run.complete("callback", CALLBACK)
    for dept in (HW, CGZF):
        run.complete("evaluate", SCORES[dept], dept)
    assert [t[0] for t in run.trail[8:]] == [
        "handle",
        "handle",
        "lead_confirm",
        "verify",
        "handle",
        "handle",
        "lead_confirm",
        "verify",
        "feedback",
        "callback",
        "evaluate",
        "evaluate",
    ]
    final = run.final()
    assert final["rework_count"] == 1
    assert final["handled_actions"] == [f"{CGZF} 返工", f"{HW} 返工"]  # the last round only
    assert run.handlers().count("record_report_in") == 2  # report-in is not repeated
    return run


def scenario_lead_department_sends_one_department_back() -> Run:
    """退回某部门重办: only that department's handling comes back; the others' results stand."""
    run = whistle_at_handling()
    for dept in (HW, CGZF):
        run.complete("handle", handle_form(dept), dept)
    run.complete("lead_confirm", {**LEAD_CONFIRM, "lead_verdict": "return", "return_department": CGZF,
                                  "return_reason": "广告未清理干净"})
    assert run.ready() == [("handle", "dept_staff", CGZF)]
    run.complete("handle", {"actions": f"{CGZF} 重办"}, CGZF)
    assert run.ready() == [("lead_confirm", "dept_head", HW)]
    assert run.data("lead_confirm")["lead_verdict"] == "confirm"  # the earlier return does not stick
    run.complete("lead_confirm", LEAD_CONFIRM)
    assert [t[0] for t in run.ready()] == ["verify"]
    assert [t[0] for t in run.trail[8:]] == ["handle", "handle", "lead_confirm", "handle", "lead_confirm"]
    assert run.handlers().count("return_to_department") == 1
    assert run.data("verify")["rework_count"] == 0  # a department sent back is not a verification rework
    return run


def scenario_escalate() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_WHISTLE)
    review_chain(run)
    for dept in (HW, CGZF):
        run.complete("report_in", REPORT_IN, dept)
    run.complete("coordinate", ESCALATE)
    assert run.finished and run.ready() == []
    assert run.calls[-2:] == [
        ("escalate_whistle", {"level": "street", "reason": "需街道协调产权单位"}),  # 社呼街应
        ("close_case", {"outcome": "escalated"}),
    ]
    assert "handle" not in [t[0] for t in run.trail]
    assert run.final()["escalation"] == {"case_number": "DC-20240506-0099"}
    assert run.ended_at() == {"end_whistle"}
    return run


def scenario_district_cannot_escalate() -> Run:
    run = Run("case", case_data())
    run.complete("triage", {**TRIAGE_WHISTLE, "level": "district"})
    review_chain(run)
    for dept in (HW, CGZF):
        run.complete("report_in", REPORT_IN, dept)
    run.complete("coordinate", ESCALATE)
    # There is no level above the district: the whistle is handled here.
    assert run.ready() == [("handle", "dept_staff", CGZF), ("handle", "dept_staff", HW)]
    for dept in (HW, CGZF):
        run.complete("handle", handle_form(dept), dept)
    run.complete("lead_confirm", LEAD_CONFIRM)
    run.complete("verify", FIXED)
    run.complete("feedback", FEEDBACK)
    run.complete("callback", CALLBACK)
    for dept in (HW, CGZF):
        run.complete("evaluate", SCORES[dept], dept)
    assert "escalate_whistle" not in run.handlers()
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})
    return run


def scenario_escalated_whistle_started_on_its_own() -> Run:
    """escalate_whistle creates a new whistle case at the next level: process `whistle` on its own."""
    data = case_data(level="street", matter="garbage_overflow", escalated_from="DC-20240506-0001")
    run = Run("whistle", data)
    assert run.ready() == [("prepare_whistle", "whistle_staff", STREET)]
    review_chain(run)
    run.complete("file_whistle", {"filing_no": "BA-2024-003"})
    for dept in (HW, CGZF):
        run.complete("report_in", REPORT_IN, dept)
    run.complete("coordinate", {**ESCALATE, "escalate_reason": "需区级协调"})
    assert run.calls[-2:] == [
        ("escalate_whistle", {"level": "district", "reason": "需区级协调"}),  # 街呼区应
        ("close_case", {"outcome": "escalated"}),
    ]
    final = run.final()
    assert (final["escalated_from"], final["review_returns"], final["rework_count"]) == (
        "DC-20240506-0001",
        0,
        0,
    )
    assert run.ended_at() == {"end_escalated"}
    return run


def scenario_late_departments_are_reminded_and_supervised() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_WHISTLE)
    review_chain(run)
    run.tick(1.5)  # report-in limit 2 h: 80 % is 1.6 h
    assert "send_reminder" not in run.handlers()
    run.tick(0.6)
    deadline_calls = [c for c in run.calls if c[0] in ("send_reminder", "open_supervision")]
    due = START + timedelta(hours=2)
    assert sorted(deadline_calls, key=str) == sorted([
        ("send_reminder", {"stage": "report_in", "unit": dept, "task": "report_in"}) for dept in (HW, CGZF)
    ] + [
        ("open_supervision", {"stage": "report_in", "unit": dept, "task": "report_in", "due": iso(due)})
        for dept in (HW, CGZF)
    ], key=str)
    # non-interrupting: the late departments still have to report in, and each one's head has a 督办 task
    assert run.ready() == [
        ("report_in", "dept_staff", CGZF), ("report_in", "dept_staff", HW),
        ("report_in_head_supervise", "dept_head", CGZF), ("report_in_head_supervise", "dept_head", HW)]
    run.tick(1)  # each timer fires once
    assert len([c for c in run.calls if c[0] in ("send_reminder", "open_supervision")]) == 4
    supervised(run, "report_in", HW)  # HW's head answers; the work still waits
    assert run.ready() == [("report_in", "dept_staff", CGZF), ("report_in", "dept_staff", HW),
                           ("report_in_head_supervise", "dept_head", CGZF)]
    for dept in (HW, CGZF):
        run.complete("report_in", REPORT_IN, dept)
    # CGZF reported in without its head answering: the 督办 task went with the department's instance
    assert run.ready() == [("coordinate", "whistle_staff", COMMUNITY)]
    run.complete("coordinate", PROCEED)
    run.tick(25)  # handling limit 24 h
    assert sorted(c[1]["unit"] for c in run.calls if c[0] == "open_supervision" and c[1]["stage"] == "handling") == [
        CGZF, HW]
    supervised(run, "handle", CGZF)
    assert [t for t in run.ready() if t[0] == "handle_head_supervise"] == [("handle_head_supervise", "dept_head", HW)]
    from_handling_to_close(run, [HW, CGZF])
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})
    assert run.handlers().count("open_supervision") == 4 and run.handlers().count("send_reminder") == 4
    return run


def scenario_late_review_chain_and_verification() -> Run:
    """Review limit 8 h per step, from when the whistle reaches each reviewer: the task waiting at
    80 % / at its own limit is reminded / supervised; an earlier step's delay is not the next one's."""
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_WHISTLE)
    run.complete("prepare_whistle", PREPARE)
    run.tick(7)  # the section head's review still waiting at 80 %
    assert [p["task"] for name, p in run.calls if name == "send_reminder"] == ["review"]
    run.tick(1.5)  # and still at the limit: the community's secretary supervises the review
    assert run.ready() == [("review", "section_head", COMMUNITY),
                           ("review_head_supervise", "secretary", COMMUNITY)]
    supervised(run, "review")  # answered; the review still waits
    assert run.ready() == [("review", "section_head", COMMUNITY)]
    run.complete("review", APPROVE)
    assert run.due("review") == [8]  # the deputy's own 8 h start now
    run.tick(7.9)  # the deputy is not late for the section head's delay: reminded at 80 %, not supervised
    assert run.ready() == [("review", "deputy_leader", COMMUNITY)]
    run.tick(0.2)  # past the deputy's own limit
    assert run.ready() == [("review", "deputy_leader", COMMUNITY),
                           ("review_head_supervise", "secretary", COMMUNITY)]
    supervised(run, "review")
    run.complete("review", APPROVE)
    run.tick(7.9)
    assert run.ready() == [("review_head", "secretary", COMMUNITY)]
    run.tick(0.2)
    # the secretary's own approval is late: the secretary of the street above supervises it
    assert run.ready() == [("review_head", "secretary", COMMUNITY), ("review_head_head_supervise", "secretary", STREET)]
    supervised(run, "review_head")
    run.complete("review_head", APPROVE)
    deadline = [(name, p["task"]) for name, p in run.calls if name in ("send_reminder", "open_supervision")]
    assert deadline == [
        ("send_reminder", "review"), ("open_supervision", "review"),
        ("send_reminder", "review"), ("open_supervision", "review"),
        ("send_reminder", "review_head"), ("open_supervision", "review_head"),
    ]
    for dept in (HW, CGZF):
        run.complete("report_in", REPORT_IN, dept)
    run.complete("coordinate", PROCEED)
    for dept in (HW, CGZF):
        run.complete("handle", handle_form(dept), dept)
    run.complete("lead_confirm", LEAD_CONFIRM)
    run.tick(17)  # verification limit 16 h
    assert [p["unit"] for name, p in run.calls if p.get("task") == "verify"] == [STREET, STREET]
    assert run.ready() == [("verify", "platform_operator", STREET), ("verify_head_supervise", "secretary", STREET)]
    supervised(run, "verify")
    run.complete("verify", FIXED)
    run.complete("feedback", FEEDBACK)
    run.complete("callback", CALLBACK)
    for dept in (HW, CGZF):
        run.complete("evaluate", SCORES[dept], dept)
    assert run.calls[-1] == ("close_case", {"outcome": "closed"})
    return run


def scenario_late_reviews_withdrawn_when_done() -> Run:
    """A street whistle's reviews run late: the street's secretary supervises the section head's and
    the deputy's, the district's secretary the street secretary's own approval. Each review done
    withdraws its unanswered 督办 task, and its decision still steers the chain."""
    run = Run("case", case_data())
    run.complete("triage", {**TRIAGE_WHISTLE, "level": "street"})
    run.complete("prepare_whistle", PREPARE)
    run.tick(8.5)
    assert run.ready() == [("review", "section_head", STREET),
                           ("review_head_supervise", "secretary", STREET)]
    run.complete("review", APPROVE)
    # the section head's 督办 went with the review; the deputy's own clock starts now
    assert run.ready() == [("review", "deputy_leader", STREET)]
    run.tick(8.5)
    assert run.ready() == [("review", "deputy_leader", STREET),
                           ("review_head_supervise", "secretary", STREET)]
    run.complete("review", APPROVE)
    assert run.ready() == [("review_head", "secretary", STREET)]
    run.tick(8.5)
    assert run.ready() == [("review_head", "secretary", STREET), ("review_head_head_supervise", "secretary", DISTRICT)]
    run.complete("review_head", RETURN)  # the decision and reason leave the subprocess for the gateway
    assert run.ready() == [("prepare_whistle", "whistle_staff", STREET)]
    data = run.data("prepare_whistle")
    assert (data["review_returns"], data["decision"], data["reason"]) == (1, "return", "材料不全")
    assert "supervision" not in data  # the 督办 path's data stays in its subprocess
    review_chain(run)  # a new round, on time
    assert run.ready() == [("file_whistle", "platform_operator", DISTRICT)]
    assert [(p["task"], p.get("supervisor", "head")) for name, p in run.calls if name == "open_supervision"] == [
        ("review", "head"), ("review", "head"), ("review_head", "above")]
    return run


def scenario_report_in_past_the_second_limit_escalates() -> Run:
    run = Run("case", case_data())
    run.complete("triage", TRIAGE_WHISTLE)
    review_chain(run)
    run.tick(3.9)
    assert not run.finished
    run.tick(0.2)  # past twice the 2 h limit
    assert run.finished and run.ready() == []
    (name, params), closing = run.calls[-2:]
    assert (name, params["level"]) == ("escalate_whistle", "street")  # 社呼街应
    assert "第二时限" in params["reason"]
    assert closing == ("close_case", {"outcome": "escalated"})
    assert "record_report_in" not in run.handlers()
    return run


def scenario_handling_past_the_second_limit_escalates() -> Run:
    run = whistle_at_handling()
    run.tick(49)  # past twice the 24 h handling limit
    assert run.finished
    assert [name for name, _ in run.calls[-2:]] == ["escalate_whistle", "close_case"]
    return run


def scenario_a_three_step_chain_is_a_data_edit() -> Run:
    """A level whose chain names three reviewers walks all three, each on its own 8 h clock and
    supervised by the whistling unit's secretary when late, then the secretary's approval."""
    chain = ["section_head", "deputy_leader", "whistle_staff"]
    run = Run("case", case_data(level_review_chain=chain))
    run.complete("triage", TRIAGE_WHISTLE)
    run.complete("prepare_whistle", PREPARE)
    for role in chain:
        assert run.ready() == [("review", role, COMMUNITY)] and run.due("review") == [8]
        run.tick(8.5)
        assert run.ready() == [("review", role, COMMUNITY), ("review_head_supervise", "secretary", COMMUNITY)]
        run.complete("review", APPROVE)
    assert run.ready() == [("review_head", "secretary", COMMUNITY)]
    assert [p["task"] for name, p in run.calls if name == "open_supervision"] == ["review"] * 3
    run.complete("review_head", APPROVE)
    from_report_in_to_close(run, [HW, CGZF])
    return run


def scenario_an_empty_chain_goes_straight_to_the_head() -> Run:
    run = Run("case", case_data(level_review_chain=[]))
    run.complete("triage", TRIAGE_WHISTLE)
    run.complete("prepare_whistle", PREPARE)
    assert run.ready() == [("review_head", "secretary", COMMUNITY)]
    run.complete("review_head", RETURN)
    run.complete("prepare_whistle", PREPARE)
    run.complete("review_head", APPROVE)
    from_report_in_to_close(run, [HW, CGZF])
    assert [t[0] for t in run.trail[1:5]] == ["prepare_whistle", "review_head", "prepare_whistle", "review_head"]
    return run


SCENARIOS = [
    scenario_a_three_step_chain_is_a_data_edit,
    scenario_an_empty_chain_goes_straight_to_the_head,
    scenario_late_departments_are_reminded_and_supervised,
    scenario_late_review_chain_and_verification,
    scenario_late_reviews_withdrawn_when_done,
    scenario_report_in_past_the_second_limit_escalates,
    scenario_handling_past_the_second_limit_escalates,
    scenario_grade_1,
    scenario_direct_whistle,
    scenario_grade_2_handled,
    scenario_triage_closes_an_invalid_report,
    scenario_callback_not_reached_is_tried_again,
    scenario_callback_never_reached_ends_without_a_rating,
    scenario_grade_2_returned_then_whistle,
    scenario_grade_2_rework,
    scenario_grade_2_handled_late,
    scenario_grade_2_handled_late_before_the_head_answers,
    scenario_supervision_pressed_again_until_the_answer_satisfies,
    scenario_grade_2_past_the_second_limit_is_redispatched,
    scenario_grade_2_past_the_second_limit_becomes_a_whistle,
    scenario_community_whistle_full,
    scenario_street_whistle,
    scenario_district_whistle,
    scenario_review_returns,
    scenario_whistle_rework,
    scenario_lead_department_sends_one_department_back,
    scenario_escalate,
    scenario_district_cannot_escalate,
    scenario_escalated_whistle_started_on_its_own,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.removeprefix("scenario_"))
def test_path(scenario):
    scenario()


# ----------------------------------------------------------------------------- coverage
B = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
FLOW_NODES = {
    B + t
    for t in (
        "startEvent",
        "endEvent",
        "userTask",
        "scriptTask",
        "serviceTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "exclusiveGateway",
    )
}


def diagram_elements() -> tuple[set, set]:
    nodes, flows = set(), set()
    for path in PROCESSES.glob("*.bpmn"):
        for el in etree.parse(str(path)).getroot().iter():
            container = el.getparent()
            if el.tag in FLOW_NODES:
                nodes.add((container.get("id"), el.get("id")))
            elif el.tag == B + "sequenceFlow":
                flows.add((container.get("id"), el.get("sourceRef"), el.get("targetRef")))
    return nodes, flows


def test_the_scenarios_walk_every_node_and_every_flow():
    reached, taken = set(), set()
    for scenario in SCENARIOS:
        run = scenario()
        reached |= run.reached
        taken |= run.taken
    nodes, flows = diagram_elements()
    assert nodes - reached == set()
    assert flows - taken == set()
