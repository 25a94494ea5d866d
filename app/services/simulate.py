"""``simulate N``: realistic reports pushed through the real engine and services to varied ends.

Every step is a real task completion by a user who holds the task's role in its unit, each in its
own unit of work, exactly as through the API. Used for demos and benchmarks.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.models import Case, Event, Task, Unit
from app.services import clock, tasks
from app.services.auth import Principal, principal_for, users_holding
from app.services.cases import file_report
from app.services.catalogue import load_catalogue
from app.services.deadlines import ANSWER_FORM, SUPERVISE_FORM
from app.services.timers import fire_due

TITLES = [
    ("垃圾满溢无人清运", "garbage_overflow"), ("占道经营影响通行", "street_vending"),
    ("楼顶违法建设", "illegal_construction"), ("消防通道被堵塞", "fire_lane_blocked"),
    ("物业服务纠纷", "property_dispute"), ("自来水管爆裂", "water_pipe_burst"),
    ("路灯不亮", "streetlight_broken"), ("井盖缺失", "manhole_cover_missing"),
    ("噪音扰民", "noise_nuisance"), ("共享单车乱停放", "abandoned_bicycle"),
    ("群租房安全隐患", "group_rental"), ("电梯故障困人", "elevator_fault"),
]


@dataclass
class Scenario:
    name: str
    weight: int
    grade: int  # 1 self-handled, 2 dispatched, 3 whistle
    level: str = "community"
    send_back: bool = False
    rework: bool = False
    review_return: bool = False
    escalate: bool = False
    stop_at: str | None = None  # leave the case open at this task ...
    stop_after: int = 0  # ... once this many of it are done (the nth step of the review chain)
    overdue: bool = False  # (open work) reported long ago: the open task is past its deadline, 督办


SCENARIOS = [
    Scenario("self_handled", 15, 1),
    Scenario("dispatched", 22, 2),
    Scenario("dispatched_sent_back", 5, 2, send_back=True),
    Scenario("dispatched_rework", 5, 2, rework=True),
    Scenario("community_whistle", 20, 3),
    Scenario("community_whistle_review_return", 5, 3, review_return=True),
    Scenario("community_whistle_rework", 5, 3, rework=True),
    Scenario("street_whistle", 8, 3, level="street"),
    Scenario("district_whistle", 2, 3, level="district"),
    Scenario("escalated", 5, 3, escalate=True),
    Scenario("open_at_report_in", 4, 3, stop_at="report_in"),
    Scenario("open_at_triage", 4, 2, stop_at="triage"),
]


# One case waiting at each kind of human task, for `demo`: every demo role finds work in its inbox.
OPEN_WORK = [
    Scenario("open_triage", 0, 2, stop_at="triage"),
    Scenario("open_handle_dispatched", 0, 2, stop_at="handle_dispatched"),
    Scenario("open_verify_dispatched", 0, 2, stop_at="verify_dispatched"),
    Scenario("open_prepare_whistle", 0, 3, stop_at="prepare_whistle"),
    # one case at each step of the demo's review chain (config/locality.yaml: two reviewers)
    Scenario("open_review_1", 0, 3, stop_at="review"),
    Scenario("open_review_2", 0, 3, stop_at="review", stop_after=1),
    Scenario("open_review_head", 0, 3, stop_at="review_head"),
    Scenario("open_file_whistle", 0, 3, level="street", stop_at="file_whistle"),
    Scenario("open_report_in", 0, 3, stop_at="report_in"),
    Scenario("open_coordinate", 0, 3, stop_at="coordinate"),
    Scenario("open_handle", 0, 3, stop_at="handle"),
    Scenario("open_verify", 0, 3, stop_at="verify"),
    Scenario("open_callback", 0, 3, stop_at="callback"),
    Scenario("open_evaluate", 0, 3, stop_at="evaluate"),
    # 督办 tasks: a community secretary's late approval for the street's secretary, a late grade-2
    # verification for the district's (stages without a second limit, so they wait rather than escalate)
    Scenario("open_review_head_overdue", 0, 3, stop_at="review_head", overdue=True),
    Scenario("open_verify_dispatched_overdue", 0, 2, stop_at="verify_dispatched", overdue=True),
]
OVERDUE_BY = timedelta(days=30)  # past any review or verification limit, holidays included
DEMO_GRID = "dc-s1-c1-g1"  # 和平里社区 第一网格: the grid of the README's demo logins


class Simulator:
    def __init__(self, db: Database, seed: int) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.principals: dict[tuple[str, int], Principal] = {}
        self.steps = 0

    def run(self, count: int) -> dict[str, Any]:
        ends: Counter[str] = Counter()
        for _ in range(count):
            scenario = self.rng.choices(SCENARIOS, [s.weight for s in SCENARIOS])[0]
            case_id = self.file(scenario)
            for final in self.drive(case_id, scenario):
                ends[final] += 1
        return {"steps": self.steps, "ends": dict(sorted(ends.items()))}

    def open_work(self, grid_code: str) -> dict[str, Any]:
        """Leave one case on ``grid_code`` waiting at each kind of human task (OPEN_WORK)."""
        ends: Counter[str] = Counter()
        for scenario in OPEN_WORK:
            back = OVERDUE_BY if scenario.overdue else timedelta(0)
            clock.advance(-back)  # an overdue one is reported and driven a month ago ...
            try:
                for final in self.drive(self.file(scenario, grid_code), scenario):
                    ends[final] += 1
            finally:
                clock.advance(back)
        fire_due(self.db)  # ... and its deadline has passed by now: 挂账督办 and a 督办 task
        return {"steps": self.steps, "ends": dict(sorted(ends.items()))}

    def file(self, scenario: Scenario, grid_code: str | None = None) -> int:
        title, matter = self.rng.choice(TITLES)
        with self.db.unit_of_work() as s:
            grids = s.scalars(select(Unit).where(Unit.kind == "grid")).all()
            grid = next(g for g in grids if g.code == grid_code) if grid_code else self.rng.choice(grids)
            reporter = self._principal(s, "grid_worker", grid.id)
            body: dict[str, Any] = {
                "title": title, "grid": grid.code, "description": f"{grid.name}: {title}",
                "channel": self.rng.choice(["grid_patrol", "hotline_12345", "app_photo", "wechat"]),
                "matter": matter, "self_handled": scenario.grade == 1,
            }
            return file_report(s, reporter, body).id

    def drive(self, case_id: int, scenario: Scenario) -> list[str]:
        """Complete the case's open tasks until it ends (or reaches the scenario's stop)."""
        seen: Counter[str] = Counter()
        while True:
            with self.db.unit_of_work() as s:
                task = s.scalar(select(Task).where(Task.case_id == case_id, Task.status == "open").order_by(Task.id))
                case = s.get(Case, case_id)
                assert case is not None
                if task is None or (task.task_type == scenario.stop_at and seen[task.task_type] == scenario.stop_after):
                    children = s.scalars(select(Case.id).where(Case.parent_case_id == case_id)).all()
                    final = f"{case.status}:{case.outcome or case.current_step}"
                    break
                seen[task.task_type] += 1
                form = self.form(task, scenario, seen[task.task_type], case)
                tasks.complete(s, self._principal(s, task.role, task.unit_id), task.id, form)
                self.steps += 1
        ends = [final]
        follow = Scenario(scenario.name, 0, 3)  # an escalated whistle runs to its end
        for child in children:
            ends.extend(self.drive(child, follow))
        return ends

    def form(self, task: Task, sc: Scenario, nth: int, case: Case) -> dict[str, Any]:
        rng = self.rng
        if task.form == SUPERVISE_FORM:  # 督办, whichever late task it supervises: issued, then closed
            return {"verdict": "press", "note": "请说明超时原因并限期办理"} if nth == 1 else \
                {"verdict": "accept", "note": "认可整改措施"}
        if task.form == ANSWER_FORM:  # 督办回复
            return {"reason": "人手紧张，未能按时完成", "measures": "已督促加派人员",
                    "promised_date": (clock.now() + timedelta(days=1)).date().isoformat()}
        match task.task_type:
            case "triage":
                matter = case.matter or "garbage_overflow"
                if sc.grade == 2 and nth == 1 and load_catalogue().matter(matter).cooperating:  # type: ignore[union-attr]
                    matter = rng.choice(["streetlight_broken", "public_toilet_fault", "food_safety_complaint"])
                grade = 3 if sc.grade == 3 or nth > 1 else 2
                return {"grade": grade, "matter": matter, "level": sc.level, "urgent": rng.random() < 0.1}
            case "handle_dispatched":
                if sc.send_back and nth == 1:
                    return {"action": "returned", "reason": "不属于本部门职责"}
                return {"action": "handled", "result": "已处置"}
            case "verify_dispatched" | "verify":
                return {"fixed": not (sc.rework and nth == 1), "note": "核查"}
            case "feedback_dispatched" | "feedback":
                return {"feedback": "已一对一反馈", "contacted": True}
            case "callback":
                sat = rng.choices(["satisfied", "basically_satisfied", "dissatisfied"], [85, 12, 3])[0]
                return {"satisfaction": sat}
            case "prepare_whistle":
                return {"summary": case.title, "situation": "enforcement"}
            case "review" | "review_head":
                if sc.review_return and nth == 2 and task.task_type == "review":  # the chain's 2nd step
                    return {"decision": "return", "reason": "材料需补充"}
                return {"decision": "approve"}
            case "file_whistle":
                return {"filing_no": f"BA-{case.id}"}
            case "report_in":
                return {"on_site": True, "attendees": "部门人员", "note": "到场"}
            case "coordinate":
                decision = "escalate" if sc.escalate else "proceed"
                return {"meeting_held": True, "attendees": ["社区", "部门"], "decisions": "分工处置",
                        "decision": decision, "escalate_reason": "本级无法协调"}
            case "handle":
                return {"actions": "现场处置", "result": "完成"}
            case "lead_confirm":
                return {"summary": "已全部完成"}
            case "evaluate":
                return {k: rng.randint(3, 5) for k in ("efficiency", "cooperation", "professionalism",
                                                       "responsibility")}
        raise ValueError(f"the simulator has no form for task '{task.task_type}'")

    def _principal(self, s: Session, role: str, unit_id: int) -> Principal:
        key = (role, unit_id)
        if key not in self.principals:
            users = users_holding(s, role, unit_id)
            if not users:
                raise ValueError(f"no user holds {role} in unit {unit_id}")
            self.principals[key] = principal_for(s, users[0])
        return self.principals[key]


def run_simulation(db: Database, count: int, seed: int = 1) -> dict[str, Any]:
    return Simulator(db, seed).run(count)


def leave_open_work(db: Database, grid_code: str = DEMO_GRID, seed: int = 2) -> dict[str, Any]:
    return Simulator(db, seed).open_work(grid_code)


def advance_time(db: Database, delta: timedelta, step: timedelta = timedelta(minutes=30)) -> dict[str, int]:
    """Let ``delta`` pass on the test clock in small steps, firing the timers due after each, as a
    running scheduler would: reminders, 督办 entries and escalations appear at their moments.
    Returns how many of each happened."""
    shown = ("timer_fired", "reminder", "supervision_opened", "escalated", "taken_back",
             "incident_opened")
    before = _event_counts(db, shown)
    remaining = delta
    while remaining > timedelta(0):
        tick = min(step, remaining)
        clock.advance(tick)
        remaining -= tick
        fire_due(db)
    after = _event_counts(db, shown)
    return {name: after.get(name, 0) - before.get(name, 0) for name in shown}


def _event_counts(db: Database, types: tuple[str, ...]) -> dict[str, int]:
    with db.unit_of_work() as s:
        rows = s.execute(select(Event.type, func.count()).where(Event.type.in_(types)).group_by(Event.type)).all()
    return {type_: int(count) for type_, count in rows}
