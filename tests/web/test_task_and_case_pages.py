"""Task pages (context + form from the JSON Schema), case pages, comments, access and escaping."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from tests.conftest import Api
from tests.integration.flow import APPROVE, DEPT_USERS, FORMS, REVIEWERS, Flow
from tests.web.pages_client import Pages, field_errors, form_data, text

XSS = "<script>alert(1)</script>"
DEPTS = ["dept-cgzf", "dept-hw"]


class PageFlow:
    """Walks a case through its tasks on the task pages, each by the user of that role."""

    def __init__(self, pages: Pages, flow: Flow) -> None:
        self.pages, self.flow = pages, flow
        self.user: str | None = None

    def do(self, user: str, case_id: int, task_type: str, form: dict[str, Any], unit: str | None = None) -> None:
        task = self.flow.task(case_id, task_type, unit)
        if user != self.user:
            self.pages.logout()
            self.pages.login(user)
            self.user = user
        page = self.pages.get(f"/tasks/{task['id']}")
        assert page.status_code == 200 and 'data-testid="task-form"' in text(page), (user, task_type)
        resp = self.pages.post(f"/tasks/{task['id']}", form_data(form))
        assert resp.status_code == 302, (task_type, field_errors(resp), text(resp)[:300])
        assert "已提交，任务已完成" in text(self.pages.get(resp.location))


def test_a_community_whistle_is_cleared_through_the_pages(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    walk = PageFlow(pages, flow)
    case_id = flow.report(title="网页 全流程 违规广告")["id"]
    walk.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    p = REVIEWERS["community"]["prefix"]
    walk.do(f"staff-{p}", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    for step, user in (("review", "section"), ("review", "deputy"), ("review_head", "sec")):
        walk.do(f"{user}-{p}", case_id, step, APPROVE)
    for dept in DEPTS:
        walk.do(f"{DEPT_USERS[dept]}-staff", case_id, "report_in", FORMS["report_in"], unit=dept)
    walk.do(f"staff-{p}", case_id, "coordinate", FORMS["coordinate"])
    for dept in DEPTS:
        walk.do(f"{DEPT_USERS[dept]}-staff", case_id, "handle", FORMS["handle"], unit=dept)
    walk.do("cgzf-head", case_id, "lead_confirm", FORMS["lead_confirm"])
    walk.do("op-s1", case_id, "verify", FORMS["verify_ok"])
    walk.do(f"staff-{p}", case_id, "feedback", FORMS["feedback"])
    walk.do("callback", case_id, "callback", FORMS["callback"])
    for _dept in DEPTS:
        walk.do(f"sec-{p}", case_id, "evaluate", FORMS["evaluate"])
    view = flow.case(case_id)
    assert (view["status"], view["outcome"], view["satisfaction"]) == ("closed", "closed", "satisfied")
    assert len(view["evaluations"]) == 2
    assert view["timeline"][-1]["type"] == "case_closed"
    html = text(pages.get(f"/cases/{case_id}"))  # the secretary's view of the closed case
    assert "已办结" in html and "一哨一考" in html and "城市管理综合执法局" in html and "按时" in html
    assert "<dt>分级</dt>" in html and "三级：跨部门或职责不清，吹哨" in html  # answers shown with the form's titles
    # `decision` of coordination under the form's title; a review's decision is its entry's label
    assert "<dt>下一步</dt>" in html and "<dt>审核意见</dt>" not in html and "审核通过" in html


def test_each_review_step_is_titled_by_its_reviewers_role(pages: Pages, api: Api) -> None:
    """One diagram task serves the whole review chain; the inbox and the task page still say which
    step it is (the role's label from config/locality.yaml), in Chinese or English."""
    flow = Flow(api)
    case_id = flow.report(title="网页 审核链")["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.do("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    for user, title, english in (("section-s1c1", "专项负责人审核", "Section head review"),
                                 ("deputy-s1c1", "分管领导审核", "Deputy in charge review")):
        pages.logout()
        pages.login(user)
        task = flow.task(case_id, "review")
        inbox = text(pages.get("/"))
        assert f">{title}</a>" in inbox and "{role}" not in inbox, inbox[inbox.find("{role}") - 300:][:400]
        assert f"<h1 id=\"task-title\">{title}</h1>" in text(pages.get(f"/tasks/{task['id']}"))
        pages.get(f"/lang/en?next=/tasks/{task['id']}")
        assert f"<h1 id=\"task-title\">{english}</h1>" in text(pages.get(f"/tasks/{task['id']}"))
        pages.get(f"/lang/zh_CN?next=/tasks/{task['id']}")
        flow.do(user, case_id, "review", APPROVE)


def test_task_page_shows_the_case_and_a_form_built_from_the_schema(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="表单 页面", description="三个小区交界处，垃圾满溢", address="和平里东街 3 号")["id"]
    task = flow.task(case_id, "triage")
    pages.login("op-dc")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert "三个小区交界处，垃圾满溢" in html and "和平里东街 3 号" in html and "网格巡查" in html
    assert "和平街道 / 和平里社区 / 第一网格" in html
    assert 'name="grade" value="3"' in html and 'type="radio"' in html  # single choice
    assert '<select id="f-matter" name="matter">' in html and "垃圾满溢 / 垃圾堆放" in html  # catalogue picker
    assert 'type="checkbox" name="urgent"' in html  # optional boolean
    assert 'id="assign-form"' not in html  # op-dc is the only platform operator of the district
    assert 'data-event="case_created"' in html and "郭红霞" in html  # earlier steps, who (by name) and when


def test_server_side_errors_are_shown_next_to_the_fields(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="表单 错误")["id"]
    task = flow.task(case_id, "triage")
    pages.login("op-dc")
    pages.get(f"/tasks/{task['id']}")
    resp = pages.post(f"/tasks/{task['id']}", {"grade": "3"})
    assert resp.status_code == 422
    assert sorted(field_errors(resp)) == ["level", "matter"]  # level: required for a whistle (if/then)
    html = text(resp)
    assert 'name="grade" value="3" checked' in html  # what was entered stays
    assert "必填" in html
    assert flow.open_types(case_id) == ["triage"]  # nothing stored
    resp = pages.post(f"/tasks/{task['id']}", {"grade": "9", "matter": "garbage_overflow"})
    assert resp.status_code == 422 and "grade" in field_errors(resp) and "请从选项中选择" in text(resp)


def test_the_form_in_english(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    task = flow.task(flow.report(title="英文 表单")["id"], "triage")
    pages.login("op-dc")
    pages.get("/lang/en")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert "Triage" in html and "Whistle level" in html and "Community whistle" in html and "Submit" in html
    resp = pages.post(f"/tasks/{task['id']}", {"grade": "3"})
    assert resp.status_code == 422 and "Required" in text(resp)
    pages.get("/lang/zh_CN")


def test_other_units_tasks_and_cases_are_not_found(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="别的街道看不到")["id"]
    task_id = flow.task(case_id, "triage")["id"]
    pages.login("sec-s2")
    for path in (f"/tasks/{task_id}", f"/cases/{case_id}", "/tasks/999999", "/cases/999999", "/cases/99999999999"):
        resp = pages.get(path)
        assert resp.status_code == 404, path
        assert "别的街道看不到" not in text(resp)
    pages.get("/")
    assert pages.post(f"/tasks/{task_id}", {"grade": "2", "matter": "garbage_overflow"}).status_code == 404
    assert pages.post(f"/cases/{case_id}/comments", {"body": "越权"}).status_code == 404
    assert flow.open_types(case_id) == ["triage"]


def test_a_task_of_another_role_is_shown_read_only_and_cannot_be_completed(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="只读 审计")["id"]
    task_id = flow.task(case_id, "triage")["id"]
    pages.login("auditor")
    html = text(pages.get(f"/tasks/{task_id}"))
    assert 'data-testid="task-readonly"' in html and 'data-testid="task-form"' not in html
    resp = pages.post(f"/tasks/{task_id}", {"grade": "2", "matter": "garbage_overflow"})
    assert resp.status_code == 403
    assert flow.open_types(case_id) == ["triage"]


def test_user_text_is_escaped_everywhere(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title=XSS, description=f"描述 {XSS}", address=XSS)["id"]
    task_id = flow.task(case_id, "triage")["id"]
    pages.login("op-dc")
    pages.get(f"/cases/{case_id}")
    pages.post(f"/cases/{case_id}/comments", {"body": f"跟哨 {XSS}"})
    pages.post(f"/tasks/{task_id}/claim")  # so that it is on the first page of "claimed by me"
    for path in ("/?mine=1", f"/tasks/{task_id}", f"/cases/{case_id}"):
        html = text(pages.get(path))
        assert XSS not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_comments_on_a_case(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case = flow.report(title="跟哨 记录")
    pages.login("op-dc")
    pages.get(f"/cases/{case['id']}")
    resp = pages.post(f"/cases/{case['id']}/comments", {"body": "已电话督促城管", "public": "1"})
    assert resp.status_code == 302 and resp.location.endswith(f"/cases/{case['id']}#comments")
    html = text(pages.get(f"/cases/{case['id']}"))
    assert "已电话督促城管" in html and "陈文博" in html and "群众可见" in html
    resp = pages.post(f"/cases/{case['id']}/comments", {"body": "   "})
    assert resp.status_code == 422 and field_errors(resp) == ["body"]
    resp = pages.post(f"/cases/{case['id']}/comments", {"body": "x" * 2001})
    assert resp.status_code == 422 and "内容过长" in text(resp)
    assert [e["type"] for e in flow.case(case["id"])["timeline"]].count("comment_added") == 1
    pages.logout()
    pages.login("auditor")  # reads, cannot write
    html = text(pages.get(f"/cases/{case['id']}"))
    assert "已电话督促城管" in html and 'id="comment-form"' not in html
    assert pages.post(f"/cases/{case['id']}/comments", {"body": "审计不能写"}).status_code == 403


def test_case_page_shows_status_units_open_tasks_and_the_diagram_slot(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="案件 页面")["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    pages.login("sec-s1c1")
    html = text(pages.get(f"/cases/{case_id}"))
    assert re.search(r'data-testid="case-status">办理中', html)
    assert "社区哨" in html and "召集部门与报到" in html and "环境卫生服务中心" in html and "未报到" in html
    assert 'data-testid="open-tasks"' in html and "部门报到" in html
    assert html.count('id="case-diagram"') == 1 and 'data-testid="timeline"' in html
    assert re.search(r"<title>[^<]*</title>", html)  # the title is text only, the diagram is in the page
    assert "配合责任" in html  # 环卫 is summoned as a cooperating department
    task = flow.task(case_id, "report_in", "dept-hw")
    pages.logout()
    pages.login("hw-staff")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert re.search(r'data-testid="task-dept">[^<]*<b>环境卫生服务中心</b>', html)


def _png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    out.seek(0)
    return out


def test_the_upload_field_of_a_task_form_stores_the_files_with_the_task(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="办理材料 上传")["id"]
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    task = flow.task(case_id, "handle", "dept-cgzf")
    pages.login("cgzf-staff")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert 'type="file" name="materials" multiple' in html and 'enctype="multipart/form-data"' in html
    resp = pages.post(f"/tasks/{task['id']}", {"actions": "已清理", "materials": (io.BytesIO(b"%PDF? no"), "x.jpg")},
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and field_errors(resp) == ["materials"]
    assert flow.task(case_id, "handle", "dept-cgzf")["id"] == task["id"]  # still open, nothing stored
    resp = pages.post(f"/tasks/{task['id']}", {"actions": "已清理", "materials": (_png(), "现场.png")},
                      content_type="multipart/form-data")
    assert resp.status_code == 302, field_errors(resp)
    done = [e for e in flow.case(case_id)["timeline"] if e["type"] == "task_completed"][-1]
    ids = done["data"]["form"]["materials"]
    assert len(ids) == 1
    assert "现场.png" in text(pages.get(f"/cases/{case_id}"))
    assert pages.get(f"/attachments/{ids[0]}").status_code == 200


def test_submitting_a_task_done_meanwhile_returns_to_the_inbox_with_a_message(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="已被办理")["id"]
    task_id = flow.task(case_id, "triage")["id"]
    pages.login("op-dc")
    pages.get(f"/tasks/{task_id}")
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "garbage_overflow"})  # in another window
    resp = pages.post(f"/tasks/{task_id}", {"grade": "2", "matter": "garbage_overflow"})
    assert resp.status_code == 302 and resp.location == "/"
    assert 'class="flash error"' in text(pages.get("/"))
    assert 'data-testid="task-closed"' in text(pages.get(f"/tasks/{task_id}"))


def test_find_a_case_by_its_number(pages: Pages, api: Api) -> None:
    case = Flow(api).report(title="按编号查找")
    pages.login("auditor")
    resp = pages.get(f"/cases?number={case['number']}")
    assert resp.status_code == 302 and resp.location == f"/cases/{case['id']}"
    # anything else is searched for in the case list (tests/web/test_case_list.py)
    assert pages.get("/cases?number=19990101-000001").location == "/cases?q=19990101-000001"
    assert pages.get("/cases?number=").location == "/cases"
    pages.logout()
    pages.login("sec-s2")  # another street: the same answer as for a number that does not exist
    assert pages.get(f"/cases?number={case['number']}").location == f"/cases?q={case['number']}"


def test_a_department_head_assigns_a_task_to_a_staff_member(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report(title="指派 任务")["id"]
    flow.do("op-dc", case_id, "triage", {"grade": 2, "matter": "garbage_overflow"})
    task = flow.task(case_id, "handle_dispatched")
    pages.login("hw-head")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert 'id="assign-form"' in html and 'value="hw-staff"' in html
    assert 'data-testid="task-readonly"' in html  # the head assigns; the staff member fills the form in
    resp = pages.post(f"/tasks/{task['id']}/assign", {"username": "hw-staff"})
    assert resp.status_code == 302
    assert "已指派给" in text(pages.get(resp.location))
    assert flow.task(case_id, "handle_dispatched")["assignee"] == "hw-staff"
    resp = pages.post(f"/tasks/{task['id']}/assign", {"username": "cgzf-staff"})  # not of this department
    assert 'class="flash error"' in text(pages.get(resp.location))
    assert flow.task(case_id, "handle_dispatched")["assignee"] == "hw-staff"
    pages.logout()
    pages.login("gw-s1c1g1")  # neither a head nor of this role: no assign form, and refused
    assert 'id="assign-form"' not in text(pages.get(f"/tasks/{task['id']}"))
    pages.get("/")
    assert pages.post(f"/tasks/{task['id']}/assign", {"username": "hw-staff"}).status_code in (403, 404)
