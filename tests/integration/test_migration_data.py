"""迁移 and the data a case's remaining work reads: a case moved onto a version past the step that
sets a variable (送审 sets handling_departments) is refused in the dry run, naming the variable,
instead of failing at handling; the check finds nothing missing anywhere along a whole whistle."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from app.models import Case, User
from app.services import migration, workflow
from app.services.replay import replay_case
from app.services.simulate import leave_open_work
from tests.conftest import Api
from tests.integration.flow import FORMS, TWO_DEPTS, Flow
from tests.integration.migration_fixtures import (
    deploy_files,
    files_of,
    whistle_retitled,
    whistle_without_handling_departments,
)
from tests.integration.test_deadlines import COOP, LEAD, whistle_at_report_in


def _missing(app: Flask, case_id: int) -> list[str]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return [str(m) for m in workflow.load(s, case).missing_data()]


class _CheckedFlow(Flow):
    """Checks before every step that nothing the case's remaining work reads is missing."""

    def __init__(self, api: Api, app: Flask) -> None:
        super().__init__(api)
        self.app = app

    def do(self, user: str, case_id: int, task_type: str, form: dict[str, Any], unit: str | None = None,
           expect: int = 200) -> Any:
        assert _missing(self.app, case_id) == [], task_type
        return super().do(user, case_id, task_type, form, unit, expect)


def test_nothing_is_missing_at_any_step_of_a_whole_whistle_with_its_returns_and_rework(
    app: Flask, api: Api
) -> None:
    flow = _CheckedFlow(api, app)
    case_id = whistle_at_report_in(flow)
    flow.report_in_all(case_id, [LEAD, COOP])
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    back = {**FORMS["lead_confirm"], "lead_verdict": "return", "return_department": COOP, "return_reason": "未清运"}
    for dept, user in ((LEAD, "cgzf-staff"), (COOP, "hw-staff")):
        flow.do(user, case_id, "handle", FORMS["handle"], unit=dept)
    flow.do("cgzf-head", case_id, "lead_confirm", back)
    flow.do("hw-staff", case_id, "handle", FORMS["handle"], unit=COOP)
    flow.do("cgzf-head", case_id, "lead_confirm", FORMS["lead_confirm"])
    flow.do("op-s1", case_id, "verify", FORMS["verify_rework"])
    flow.handle_all(case_id, [LEAD, COOP])
    flow.close_whistle(case_id, "community", [LEAD, COOP])
    assert flow.open_types(case_id) == []


def test_nothing_is_missing_in_any_case_the_demo_leaves_waiting_supervised_ones_too(own_app: Flask) -> None:
    """The demo's open work: a case at every kind of task (dispatched, review chain, filing,
    report-in ... evaluation) and two with a 督办 under way: the analysis refuses none of them."""
    db = own_app.extensions["whistle.db"]
    waiting = leave_open_work(db)
    with db.unit_of_work() as s:
        cases = list(s.scalars(select(Case).where(Case.status == "open")))
        assert len(cases) == sum(waiting["ends"].values()) >= 16
        missing = {case.number: [str(m) for m in workflow.load(s, case).missing_data()] for case in cases}
    assert {number: found for number, found in missing.items() if found} == {}


def _version(app: Flask, case_id: int) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.process_version.version


def old_and_new_whistles(app: Flask, flow: Flow) -> tuple[int, int, int]:
    """A whistle past 送审 and one still at 准备吹哨材料, both on a version whose 送审 does not set
    handling_departments (handling ran over every department), and today's whistle deployed after."""
    old = deploy_files(app, whistle_without_handling_departments(files_of(app, 1)), "办理不分轮次")
    past = whistle_at_report_in(flow)
    before = int(flow.report(title="违规广告 待送审", matter=TWO_DEPTS)["id"])
    flow.do("op-dc", before, "triage", FORMS["triage_whistle"])
    assert _version(app, past) == old == _version(app, before)
    assert flow.open_types(before) == ["prepare_whistle"] and "report_in" in flow.open_types(past)
    new = deploy_files(app, whistle_retitled(files_of(app, 1)), "今天的吹哨")
    return past, before, new


def test_a_whistle_past_the_step_that_sets_handling_departments_is_refused_naming_it(own_app: Flask) -> None:
    flow = Flow(Api(own_app.test_client(), {}))
    past, before, new = old_and_new_whistles(own_app, flow)
    db = own_app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        cases = [s.get(Case, past), s.get(Case, before)]
        refused, moves = migration.dry_run(s, [c for c in cases if c is not None], new)
        admin_id = s.scalar(select(User.id).where(User.username == "admin"))
    assert not refused.ok and "'handling_departments'" in (refused.reason or ""), refused
    assert "handle_all" in (refused.reason or "") and "start_review" in (refused.reason or "")
    assert moves.ok, moves.reason

    reports = migration.migrate_cases(db.unit_of_work, [past, before], new, admin_id)
    assert [(r.case_id, r.migrated) for r in reports] == [(past, False), (before, True)]
    assert reports[0].reason == refused.reason
    assert _version(own_app, past) != new and _version(own_app, before) == new

    # each goes on to handling where it is: the refused one on its old version, the moved one on the new
    for case_id in (past, before):
        if case_id == before:
            flow.review_chain(case_id, "community")
        flow.report_in_all(case_id, [LEAD, COOP])
        flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
        assert sorted(t["unit"] for t in flow.case(case_id)["open_tasks"] if t["task_type"] == "handle") \
            == sorted([LEAD, COOP])
    with db.unit_of_work() as s:
        assert replay_case(s, before).ok
