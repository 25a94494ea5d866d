"""The whistle before it blows (issue 15, "The whistle itself"): the staff see and adjust whom it
summons, every reviewer and the secretary see that list and the summary, a returned whistle comes
back marked, with its reason and its materials filled in."""

from __future__ import annotations

from datetime import timedelta

from app.services import clock
from tests.conftest import Api
from tests.integration.flow import APPROVE, FORMS, Flow
from tests.web.pages_client import Pages, field_errors, text


def _whistle_at_prepare(flow: Flow, title: str) -> int:
    case_id = flow.report(title=title)["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    return case_id


def _inbox_row(pages: Pages, task_id: int, task_type: str) -> str:
    """The task's inbox row, on whichever page (the session's database holds older work due sooner)."""
    for number in range(1, 50):
        inbox = text(pages.get(f"/?task_type={task_type}&page={number}"))
        if (at := inbox.find(f'data-task-id="{task_id}"')) >= 0:
            return inbox[at:inbox.find("</tr>", at)]
        if 'data-testid="next-page"' not in inbox:
            break
    raise AssertionError(f"task {task_id} is not in the inbox")


def test_the_staff_see_the_proposed_departments_and_may_add_one_with_a_reason(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = _whistle_at_prepare(flow, "吹哨 部门名单")
    task = flow.task(case_id, "prepare_whistle")
    pages.login("staff-s1c1")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert 'data-testid="summoned"' in html and "拟召集报到部门" in html
    assert 'data-code="dept-cgzf" data-duty="lead"' in html and 'data-code="dept-hw" data-duty="cooperating"' in html
    assert 'name="add_departments" value="dept-zj"' in html and 'name="remove_departments" value="dept-hw"' in html
    assert 'name="add_departments" value="dept-hw"' not in html  # already summoned
    form = {**FORMS["prepare_whistle"], "add_departments": "dept-zj"}
    resp = pages.post(f"/tasks/{task['id']}", form)
    assert resp.status_code == 422 and field_errors(resp) == ["department_change_reason"]
    resp = pages.post(f"/tasks/{task['id']}", form | {"department_change_reason": "涉及违建，需住建到场"})
    assert resp.status_code == 302, field_errors(resp)
    events = [e for e in flow.case(case_id)["timeline"] if e["type"] == "departments_adjusted"]
    assert len(events) == 1 and events[0]["data"]["added"] == ["dept-zj"]
    assert events[0]["data"]["reason"] == "涉及违建，需住建到场"
    for user, step in (("section-s1c1", "review"), ("deputy-s1c1", "review"), ("sec-s1c1", "review_head")):
        pages.logout()
        pages.login(user)
        html = text(pages.get(f"/tasks/{flow.task(case_id, step)['id']}"))
        assert "将向以下部门吹哨" in html and 'data-code="dept-zj" data-duty="cooperating"' in html, user
        assert "三个小区交界处违规广告屡禁不止" in html and "综合执法" in html  # the summary and situation
        if step == "review_head":
            assert "同意，向以上部门吹哨" in html
        flow.do(user, case_id, step, APPROVE)
    summoned = sorted(t["unit"] for t in flow.case(case_id)["open_tasks"] if t["task_type"] == "report_in")
    assert summoned == ["dept-cgzf", "dept-hw", "dept-zj"]


def test_a_department_may_be_removed_but_not_the_lead(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = _whistle_at_prepare(flow, "吹哨 移除部门")
    task = flow.task(case_id, "prepare_whistle")
    pages.login("staff-s1c1")
    pages.get(f"/tasks/{task['id']}")
    lead = {**FORMS["prepare_whistle"], "remove_departments": "dept-cgzf", "department_change_reason": "不涉及"}
    resp = pages.post(f"/tasks/{task['id']}", lead)
    assert resp.status_code == 422 and field_errors(resp) == ["remove_departments"]
    resp = pages.post(f"/tasks/{task['id']}", lead | {"remove_departments": "dept-hw"})
    assert resp.status_code == 302
    for user, step in (("section-s1c1", "review"), ("deputy-s1c1", "review"), ("sec-s1c1", "review_head")):
        flow.do(user, case_id, step, APPROVE)
    summoned = [t["unit"] for t in flow.case(case_id)["open_tasks"] if t["task_type"] == "report_in"]
    assert summoned == ["dept-cgzf"]


def test_the_whistle_blows_when_the_secretary_approves_not_at_triage(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = _whistle_at_prepare(flow, "吹哨 何时吹响")
    started = [e for e in flow.case(case_id)["timeline"] if e["type"] == "whistle_started"]
    assert started == []  # triage chose the level; nothing has blown
    pages.login("sec-s1c1")
    html = text(pages.get(f"/cases/{case_id}"))
    assert 'data-status="whistle_review"' in html and "吹哨审核中" in html
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    flow.do("section-s1c1", case_id, "review", APPROVE)
    flow.do("deputy-s1c1", case_id, "review", APPROVE)
    assert "吹哨审核中" in text(pages.get(f"/cases/{case_id}"))
    flow.do("sec-s1c1", case_id, "review_head", APPROVE)
    [started] = [e for e in flow.case(case_id)["timeline"] if e["type"] == "whistle_started"]
    assert (started["actor"], started["role"], started["unit"]) == ("sec-s1c1", "secretary", "dc-s1-c1")
    assert started["data"]["departments"] == ["dept-cgzf", "dept-hw"]
    html = text(pages.get(f"/cases/{case_id}"))
    assert "吹哨审核中" not in html and 'data-status="open"' in html


def _started(api: Api) -> int:
    today = clock.now().date()
    period = f"start={today - timedelta(days=40)}&end={today + timedelta(days=40)}"
    body = api.get("sec-s1", f"/api/assessment/units?{period}&level=community").get_json()
    rows = [row for row in body["rows"] if row["unit"] == "dc-s1-c1"]
    return rows[0]["figures"]["whistles_started"]["value"] if rows else 0


def test_whistles_started_counts_a_whistle_once_the_secretary_approves(api: Api) -> None:
    flow = Flow(api)
    before = _started(api)
    case_id = _whistle_at_prepare(flow, "吹哨 考核计数")
    assert _started(api) == before  # under review: not blown, not counted (期内本单位吹响的哨)
    flow.review_chain(case_id, "community")
    assert _started(api) == before + 1


def test_a_returned_whistle_is_marked_with_its_reason_and_comes_back_filled_in(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = _whistle_at_prepare(flow, "吹哨 退回重报")
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"] | {"situation": "key_work"})
    flow.do("section-s1c1", case_id, "review", {"decision": "return", "reason": "请补充现场照片"})
    task = flow.task(case_id, "prepare_whistle")
    pages.login("staff-s1c1")
    row = _inbox_row(pages, task["id"], "prepare_whistle")
    assert 'data-testid="returned"' in row and "退回理由：请补充现场照片" in row
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert 'data-testid="returned-notice"' in html and "专项负责人" in html and "请补充现场照片" in html
    assert html.find('data-testid="returned-notice"') < html.find('id="task-title"')  # at the top
    assert ">三个小区交界处违规广告屡禁不止</textarea>" in html  # the last submission, filled in
    assert 'name="situation" value="key_work" checked' in html
    resp = pages.post(f"/tasks/{task['id']}", {"summary": "已补充照片", "situation": "key_work"})
    assert resp.status_code == 302
    assert flow.task(case_id, "review")["context"].get("summary") == "已补充照片"
