"""Unit-scoped access: who sees which cases and tasks, who may act on them, and that a refusal
changes nothing. The demo district has one user per role and unit (config/demo_org.yaml)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from app.models import Case, ProcessVersion, RoleAssignment, Unit, User
from tests.conftest import PASSWORD, Api
from tests.integration.flow import APPROVE, FORMS, REVIEWERS, Flow

# (step, its task type, who does it, the form): the demo's review chain (config/locality.yaml)
CHAIN = [("prepare_whistle", "prepare_whistle", "staff", FORMS["prepare_whistle"]),
         ("section_review", "review", "section", APPROVE), ("deputy_review", "review", "deputy", APPROVE),
         ("review_head", "review_head", "sec", APPROVE)]
DEPTS = ["dept-cgzf", "dept-hw"]
REPORT = {"title": "垃圾堆放", "grid": "dc-s1-c1-g1", "channel": "grid_patrol"}
SECOND_STAFF = "staff2-s1c1"
SCENE_FORMS = {"review_head": APPROVE, "prepare": FORMS["prepare_whistle"], "triage": FORMS["triage_whistle"],
               "feedback": FORMS["feedback"], "report_in_cgzf": FORMS["report_in"], "report_in_hw": FORMS["report_in"],
               "lead_confirm": FORMS["lead_confirm"]}  # a second whistle_staff of dc-s1-c1, made by a fixture below


# --- the scene: cases stopped at one open task each, shared by the read-only tests ---------------


def _whistle(flow: Flow, level: str, stop: str | None, reporter: str = "gw-s1c1g1",
             grid: str = "dc-s1-c1-g1") -> int:
    """A whistle triaged at ``level`` and walked up the review chain until ``stop`` is open."""
    case_id = flow.report(reporter, grid=grid, title=f"{level} 违规广告")["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"] | {"level": level})
    prefix = REVIEWERS[level]["prefix"]
    for step, task_type, who, form in CHAIN:
        if step == stop:
            return case_id
        flow.do(f"{who}-{prefix}", case_id, task_type, form)
    return case_id


def _dispatched(flow: Flow, steps: int) -> int:
    """A grade-2 street-light case (lead dept-cgw) after ``steps`` steps past triage."""
    case_id = flow.report(title="路灯不亮")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    walk = [("cgw-staff", "handle_dispatched", {"action": "handled", "result": "已更换"}),
            ("op-dc", "verify_dispatched", FORMS["verify_ok"]), ("op-s1", "feedback_dispatched", FORMS["feedback"])]
    for user, task_type, form in walk[:steps]:
        flow.do(user, case_id, task_type, form)
    return case_id


@pytest.fixture(scope="module")
def scene(app: Flask) -> dict[str, tuple[int, int]]:
    """Name → (case id, task id) of one open task per role, at community, street, district and
    department level, plus one case in another street (dc-s2)."""
    flow = Flow(Api(app.test_client(), {}))
    cases: dict[str, tuple[int, str, str | None]] = {
        "triage": (flow.report()["id"], "triage", None),
        "prepare": (_whistle(flow, "community", "prepare_whistle"), "prepare_whistle", None),
        "section_review": (_whistle(flow, "street", "section_review"), "review", None),
        "deputy_review": (_whistle(flow, "district", "deputy_review"), "review", None),
        "review_head": (_whistle(flow, "community", "review_head"), "review_head", None),
        "feedback": (_dispatched(flow, 2), "feedback_dispatched", None),
        "callback": (_dispatched(flow, 3), "callback", None),
        "s2_prepare": (_whistle(flow, "community", "prepare_whistle", "gw-s2c1g1", "dc-s2-c1-g1"),
                       "prepare_whistle", None),
    }
    report_in = _whistle(flow, "community", None)
    cases["report_in_cgzf"] = (report_in, "report_in", "dept-cgzf")
    cases["report_in_hw"] = (report_in, "report_in", "dept-hw")
    confirm = _whistle(flow, "community", None)
    flow.report_in_all(confirm, DEPTS)
    flow.do("staff-s1c1", confirm, "coordinate", FORMS["coordinate"])
    for dept, user in (("dept-cgzf", "cgzf-staff"), ("dept-hw", "hw-staff")):
        flow.do(user, confirm, "handle", FORMS["handle"], unit=dept)
    cases["lead_confirm"] = (confirm, "lead_confirm", None)
    return {name: (case_id, flow.task(case_id, task_type, unit)["id"]) for name, (case_id, task_type, unit)
            in cases.items()}


@pytest.fixture()
def flow(api: Api) -> Flow:
    return Flow(api)


def snapshot(api: Api, app: Flask, case_id: int) -> tuple[Any, ...]:
    """What a refused request must not change: timeline, open tasks and assignees, status, version."""
    view = api.get("auditor", f"/api/cases/{case_id}").get_json()
    with app.extensions["whistle.db"].sessions() as s:
        version = s.get(Case, case_id).version
    return (len(view["timeline"]), [(t["id"], t["assignee"]) for t in view["open_tasks"]], view["status"],
            view["current_step"], version)


def count(app: Flask, model: type) -> int:
    with app.extensions["whistle.db"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def inbox_ids(api: Api, user: str) -> tuple[set[int], list[dict[str, Any]]]:
    """Every open task in a user's inbox, all pages."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        resp = api.get(user, f"/api/inbox?per_page=100&page={page}")
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        items += body["items"]
        if page * body["per_page"] >= body["total"]:
            return {i["id"] for i in items}, items
        page += 1


ACTIONS = ["complete", "claim", "unclaim", "assign"]


def act(api: Api, user: str, task_id: int, action: str, holder: str = "op-dc") -> Any:
    body: dict[str, Any] = {"complete": {}, "claim": {}, "unclaim": {}, "assign": {"username": holder}}[action]
    return api.post(user, f"/api/tasks/{task_id}/{action}", json=body)


# --- the inbox -----------------------------------------------------------------------------------

# user → the scene tasks that are theirs; every other scene task must be absent from their inbox.
INBOX = {
    "gw-s1c1g1": set(),                      # grid_worker: no task of the processes is theirs
    "staff-s1c1": {"prepare"},               # whistle_staff, community
    "staff-s1": set(),                       # whistle_staff, street: not the community's
    "staff-s2c1": {"s2_prepare"},            # whistle_staff of another street's community
    "section-s1": {"section_review"},        # section_head, street
    "section-s1c1": set(),
    "deputy-dc": {"deputy_review"},          # deputy_leader, district
    "deputy-s1c1": set(),
    "sec-s1c1": {"review_head"},             # secretary, community
    "sec-dc": set(),                         # secretary, district: not the community's review_head
    "op-dc": {"triage"},                     # platform_operator, district
    "op-s1": {"feedback"},                   # platform_operator, street
    "op-s2": set(),
    "cgzf-staff": {"report_in_cgzf"},        # dept_staff: their department's instance only
    "hw-staff": {"report_in_hw"},
    "zj-staff": set(),                       # a department not summoned
    "cgzf-head": {"lead_confirm"},           # dept_head: not their staff's report_in
    "hw-head": set(),                        # cooperating department: lead_confirm is the lead's
    "callback": {"callback"},                # callback_agent
    "auditor": set(),
    "admin": set(),
}


@pytest.mark.parametrize("user", sorted(INBOX))
def test_inbox_holds_only_tasks_of_roles_held_in_own_units(api: Api, scene: dict[str, tuple[int, int]],
                                                           user: str) -> None:
    ids, items = inbox_ids(api, user)
    held = {(r["role"], r["unit"]) for r in api.get(user, "/api/me").get_json()["roles"]}
    assert {(i["role"], i["unit"]) for i in items} <= held
    scene_tasks = {task_id: name for name, (_, task_id) in scene.items()}
    assert {scene_tasks[i] for i in ids if i in scene_tasks} == INBOX[user]


# --- another unit's case: not even its existence ---------------------------------------------------

FOREIGN = [
    ("gw-s1c1g2", "triage"),          # grid worker of the neighbouring grid
    ("staff-s1c2", "prepare"),        # whistle_staff of a sibling community
    ("staff-s2c1", "prepare"),        # same role, community of another street
    ("sec-s2", "review_head"),        # secretary of another street
    ("section-s2", "section_review"),
    ("op-s2", "feedback"),            # platform_operator of another street
    ("staff-s1c1", "s2_prepare"),     # and the other way round
    ("op-s1", "s2_prepare"),
    ("hw-staff", "triage"),           # a department before it is summoned
    ("cgzf-staff", "feedback"),       # a department never summoned (grade 2 went to dept-cgw)
    ("zj-staff", "report_in_cgzf"),   # a department not summoned to this whistle
    ("zj-head", "lead_confirm"),
]


@pytest.mark.parametrize(("user", "task"), FOREIGN)
def test_other_units_case_and_task_are_not_found(api: Api, app: Flask, scene: dict[str, tuple[int, int]],
                                                 user: str, task: str) -> None:
    case_id, task_id = scene[task]
    before = snapshot(api, app, case_id)
    assert api.get(user, f"/api/cases/{case_id}").status_code == 404
    assert api.get(user, f"/api/tasks/{task_id}").status_code == 404
    for action in ACTIONS:
        resp = act(api, user, task_id, action, holder=user)
        assert resp.status_code in (403, 404), (action, resp.get_json())
    assert task_id not in inbox_ids(api, user)[0]
    assert snapshot(api, app, case_id) == before


# --- a visible case, but the task is another role's or another unit's ------------------------------

# (user, task, the rightful holder, whether the user may hand the task to that holder)
NOT_THEIRS = [
    ("sec-dc", "review_head", "sec-s1c1", False),        # district secretary, community review_head
    ("sec-s1c1", "prepare", "staff-s1c1", True),         # same unit, other role; secretaries may assign
    ("deputy-s1c1", "review_head", "sec-s1c1", False),
    ("staff-s1", "prepare", "staff-s1c1", False),        # same role one level up
    ("op-s1", "triage", "op-dc", False),                 # platform_operator of the street, district task
    ("op-dc", "feedback", "op-s1", False),               # and the other way round
    ("gw-s1c1g1", "triage", "op-dc", False),             # the reporter sees the case of their grid
    ("callback", "triage", "op-dc", False),
    ("admin", "triage", "op-dc", False),
    ("cgzf-head", "report_in_cgzf", "cgzf-staff", True),  # a dept_head may assign, not do, staff work
    ("cgzf-staff", "report_in_hw", "hw-staff", False),   # summoned with dept-hw, not for its task
    ("hw-head", "lead_confirm", "cgzf-head", False),
]


@pytest.mark.parametrize(("user", "task", "holder", "may_assign"), NOT_THEIRS)
def test_visible_task_of_another_role_or_unit_is_forbidden(
    api: Api, app: Flask, scene: dict[str, tuple[int, int]], user: str, task: str, holder: str, may_assign: bool
) -> None:
    case_id, task_id = scene[task]
    assert api.get(user, f"/api/cases/{case_id}").status_code == 200
    detail = api.get(user, f"/api/tasks/{task_id}")
    assert detail.status_code == 200 and detail.get_json()["can_complete"] is False
    before = snapshot(api, app, case_id)
    form = SCENE_FORMS[task]
    assert api.post(user, f"/api/tasks/{task_id}/complete", json=form).status_code == 403
    # a head of the unit may hand out (assign) and take back (unclaim) tasks, never do them
    for action in ("claim",) + (() if may_assign else ("unclaim", "assign")):
        resp = act(api, user, task_id, action, holder=holder)
        assert resp.status_code == 403, (action, resp.get_json())
    assert snapshot(api, app, case_id) == before
    assert api.get(holder, f"/api/tasks/{task_id}").get_json()["can_complete"] is True


# --- the auditor reads everything and changes nothing ------------------------------------------


@pytest.mark.parametrize("task", ["triage", "prepare", "feedback", "s2_prepare", "report_in_hw", "lead_confirm"])
def test_auditor_reads_every_case_and_task(api: Api, scene: dict[str, tuple[int, int]], task: str) -> None:
    case_id, task_id = scene[task]
    assert api.get("auditor", f"/api/cases/{case_id}").get_json()["id"] == case_id
    detail = api.get("auditor", f"/api/tasks/{task_id}").get_json()
    assert (detail["id"], detail["can_complete"]) == (task_id, False)


@pytest.mark.parametrize("action", [*ACTIONS, "report", "public_grid_report", "processes"])
def test_auditor_cannot_write(api: Api, app: Flask, scene: dict[str, tuple[int, int]], action: str) -> None:
    case_id, task_id = scene["triage"]
    before = snapshot(api, app, case_id), count(app, Case), count(app, ProcessVersion)
    if action in ACTIONS:
        resp = act(api, "auditor", task_id, action, holder="op-dc")
    elif action == "report":
        resp = api.post("auditor", "/api/reports", json=REPORT)
    elif action == "public_grid_report":  # even on a channel the public may use
        resp = api.post("auditor", "/api/reports", json=REPORT | {"channel": "web"})
    else:
        resp = api.post("auditor", "/api/processes", json={"files": _latest_files(app)})
    assert resp.status_code == 403, resp.get_json()
    assert resp.get_json()["error"] == "forbidden"
    assert (snapshot(api, app, case_id), count(app, Case), count(app, ProcessVersion)) == before


def _latest_files(app: Flask) -> dict[str, str]:
    with app.extensions["whistle.db"].sessions() as s:
        return s.scalars(select(ProcessVersion.files).order_by(ProcessVersion.version.desc()).limit(1)).one()


@pytest.mark.parametrize("user", ["op-dc", "sec-dc", "deputy-dc", "cgzf-head", "gw-s1c1g1", "callback", "auditor"])
def test_only_admin_deploys_processes(api: Api, app: Flask, user: str) -> None:
    files = _latest_files(app)
    versions = api.get("admin", "/api/processes").get_json()
    resp = api.post(user, "/api/processes", json={"files": files | {"forms/extra.schema.json": "{}"}})
    assert resp.status_code == 403, resp.get_json()
    assert api.get("admin", "/api/processes").get_json() == versions
    # the same content is accepted from admin (and is a no-op, as it is the latest version)
    resp = api.post("admin", "/api/processes", json={"files": files})
    assert (resp.status_code, resp.get_json()["created"]) == (200, False)


# --- claim, unclaim, assign ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_staff(app: Flask) -> str:
    """A second whistle_staff of dc-s1-c1, so two users share a role in a unit."""
    with app.extensions["whistle.db"].unit_of_work() as s:
        if s.scalar(select(User).where(User.username == SECOND_STAFF)) is None:
            unit = s.scalar(select(Unit).where(Unit.code == "dc-s1-c1"))
            user = User(username=SECOND_STAFF, name="第二工作人员", password_hash=generate_password_hash(PASSWORD))
            s.add(user)
            s.flush()
            s.add(RoleAssignment(user_id=user.id, role="whistle_staff", unit_id=unit.id))
    return SECOND_STAFF


def test_claimed_task_is_the_claimers(api: Api, app: Flask, flow: Flow, second_staff: str) -> None:
    case_id = _whistle(flow, "community", "prepare_whistle")
    task_id = flow.task(case_id, "prepare_whistle")["id"]
    assert task_id in inbox_ids(api, second_staff)[0]
    assert api.post("staff-s1c1", f"/api/tasks/{task_id}/claim").status_code == 200
    assert flow.task(case_id, "prepare_whistle")["assignee"] == "staff-s1c1"
    before = snapshot(api, app, case_id)
    form = FORMS["prepare_whistle"]
    assert api.post(second_staff, f"/api/tasks/{task_id}/complete", json=form).status_code == 409
    assert api.post(second_staff, f"/api/tasks/{task_id}/claim").status_code == 409
    assert api.post(second_staff, f"/api/tasks/{task_id}/unclaim").status_code == 403
    # nor can a colleague take it over by assigning it to themselves
    resp = api.post(second_staff, f"/api/tasks/{task_id}/assign", json={"username": second_staff})
    assert resp.status_code == 409, resp.get_json()
    assert snapshot(api, app, case_id) == before
    mine = api.get("staff-s1c1", "/api/inbox?mine=1&per_page=100").get_json()
    assert task_id in {i["id"] for i in mine["items"]}
    assert api.post("staff-s1c1", f"/api/tasks/{task_id}/complete", json=form).status_code == 200
    assert flow.open_types(case_id) == ["review"]


def test_unclaimed_task_is_anyones_of_the_role(api: Api, flow: Flow, second_staff: str) -> None:
    case_id = _whistle(flow, "community", "prepare_whistle")
    task_id = flow.task(case_id, "prepare_whistle")["id"]
    assert api.post("staff-s1c1", f"/api/tasks/{task_id}/claim").status_code == 200
    assert api.post("staff-s1c1", f"/api/tasks/{task_id}/unclaim").status_code == 200
    assert flow.task(case_id, "prepare_whistle")["assignee"] is None
    # a holder may hand the task to a colleague of the same role and unit, who then completes it
    resp = api.post("staff-s1c1", f"/api/tasks/{task_id}/assign", json={"username": second_staff})
    assert resp.get_json() == {"task": task_id, "assignee": second_staff}
    assert api.post("staff-s1c1", f"/api/tasks/{task_id}/complete", json=FORMS["prepare_whistle"]).status_code == 409
    assert api.post(second_staff, f"/api/tasks/{task_id}/complete", json=FORMS["prepare_whistle"]).status_code == 200


@pytest.mark.parametrize(("assigner", "task", "target"), [
    ("op-dc", "triage", "op-s1"),             # same role, another unit
    ("op-dc", "triage", "sec-dc"),            # same unit, another role
    ("op-dc", "triage", "auditor"),
    ("op-dc", "triage", "no-such-user"),
    ("staff-s1c1", "prepare", "staff-s1c2"),
    ("sec-s1c1", "prepare", "section-s1c1"),
    ("cgzf-head", "report_in_cgzf", "hw-staff"),
    ("cgzf-head", "report_in_cgzf", "cgzf-head"),  # the head does not hold dept_staff
])
def test_assign_to_someone_without_the_role_is_invalid(
    api: Api, app: Flask, scene: dict[str, tuple[int, int]], assigner: str, task: str, target: str
) -> None:
    case_id, task_id = scene[task]
    before = snapshot(api, app, case_id)
    resp = api.post(assigner, f"/api/tasks/{task_id}/assign", json={"username": target})
    assert resp.status_code == 422, resp.get_json()
    assert "username" in resp.get_json()["fields"]
    assert snapshot(api, app, case_id) == before


def test_dept_head_assigns_staff_task_of_own_department(api: Api, app: Flask, flow: Flow) -> None:
    case_id = _whistle(flow, "community", None)
    own = flow.task(case_id, "report_in", "dept-cgzf")["id"]
    other = flow.task(case_id, "report_in", "dept-hw")["id"]
    resp = api.post("cgzf-head", f"/api/tasks/{own}/assign", json={"username": "cgzf-staff"})
    assert resp.get_json() == {"task": own, "assignee": "cgzf-staff"}
    assert flow.task(case_id, "report_in", "dept-cgzf")["assignee"] == "cgzf-staff"
    mine = api.get("cgzf-staff", "/api/inbox?mine=1&per_page=100").get_json()
    assert own in {i["id"] for i in mine["items"]}
    before = snapshot(api, app, case_id)
    resp = api.post("cgzf-head", f"/api/tasks/{other}/assign", json={"username": "hw-staff"})
    assert resp.status_code == 403, resp.get_json()
    assert snapshot(api, app, case_id) == before
    assert api.post("cgzf-staff", f"/api/tasks/{own}/complete", json=FORMS["report_in"]).status_code == 200


def test_a_head_takes_a_claimed_task_back_and_claiming_twice_records_once(api: Api, flow: Flow) -> None:
    case_id = flow.report(title="路灯不亮")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    task_id = flow.task(case_id, "handle_dispatched")["id"]
    assert api.post("cgw-staff", f"/api/tasks/{task_id}/claim").status_code == 200
    assert api.post("cgw-staff", f"/api/tasks/{task_id}/claim").status_code == 200
    claims = [e for e in flow.case(case_id)["timeline"] if e["type"] == "task_claimed"]
    assert len(claims) == 1
    assert api.post("hw-head", f"/api/tasks/{task_id}/unclaim").status_code == 404  # not their case
    assert api.post("cgw-head", f"/api/tasks/{task_id}/unclaim").status_code == 200
    assert flow.task(case_id, "handle_dispatched")["assignee"] is None


def _user_with_role(app: Flask, username: str, role: str, unit_code: str) -> str:
    with app.extensions["whistle.db"].unit_of_work() as s:
        if s.scalar(select(User).where(User.username == username)) is None:
            unit = s.scalar(select(Unit).where(Unit.code == unit_code))
            user = User(username=username, name=username, password_hash=generate_password_hash(PASSWORD))
            s.add(user)
            s.flush()
            s.add(RoleAssignment(user_id=user.id, role=role, unit_id=unit.id))
    return username


def test_an_auditor_reads_only_below_their_own_unit(api: Api, app: Flask, flow: Flow) -> None:
    local = _user_with_role(app, "auditor-s2c1", "auditor", "dc-s2-c1")
    own = flow.report(title="本社区", grid="dc-s2-c1-g1")["id"]
    other = flow.report(title="别的街道")["id"]
    assert api.get(local, f"/api/cases/{own}").status_code == 200
    assert api.get(local, f"/api/cases/{other}").status_code == 404
    assert api.get("auditor", f"/api/cases/{other}").status_code == 200  # the district's auditor


@pytest.mark.parametrize(("user", "sees_contact"), [
    ("op-dc", True), ("callback", True), ("auditor", True), ("gw-s1c1g1", False), ("cgw-staff", False),
])
def test_the_reporters_contact_is_shown_only_to_roles_that_contact_them(
    api: Api, flow: Flow, user: str, sees_contact: bool
) -> None:
    case_id = flow.report(title="路灯不亮", reporter_name="王女士", reporter_phone="13800000000")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "streetlight_broken"})
    body = api.get(user, f"/api/cases/{case_id}").get_json()
    assert ("reporter" in body) is sees_contact
    assert ("13800000000" in str(body)) is sees_contact
