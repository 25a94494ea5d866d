"""Issue 15 pages, the whistle's own work: the report-in form takes a photo and the place, and the
case page shows them as the department's proof of report-in; the coordination form takes each
department's division of work, shown on that department's handling task with its own deadline; the
lead department's confirmation sends one department back, and the timeline says so; the department
sent back sees 退回 and the reason in its inbox and at the top of its task, until it has handled again."""

from __future__ import annotations

import io
import re

from PIL import Image

from tests.conftest import Api
from tests.integration.flow import FORMS
from tests.integration.test_deadlines import COOP, LEAD
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture
from tests.integration.test_whistle_work import at_coordinate, at_lead_confirm, at_report_in
from tests.web.pages_client import Pages, field_errors, text
from tests.web.test_whistle_review_pages import _inbox_row


def _png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 130, 30)).save(out, "PNG")
    out.seek(0)
    return out


def test_the_report_in_page_takes_a_photo_and_the_place_and_the_case_page_shows_the_proof(
    pages: Pages, api: Api
) -> None:
    flow, case_id = at_report_in(api, "报到凭证 页面")
    task = flow.task(case_id, "report_in", "dept-cgzf")
    pages.login("cgzf-staff")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert 'type="file" name="photos" multiple' in html and 'name="location"' in html
    assert "现场照片" in html and "现场位置" in html
    resp = pages.post(f"/tasks/{task['id']}", {"on_site": "on", "attendees": "张三", "location": "幸福路 3 号 <b>",
                                               "photos": (_png(), "到场合影.png")},
                      content_type="multipart/form-data")
    assert resp.status_code == 302, field_errors(resp)
    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit="dept-hw")

    html = text(pages.get(f"/cases/{case_id}"))
    cells = dict(re.findall(r'data-testid="report-in-proof" data-department="([^"]+)">(.*?)</td>', html, re.S))
    assert set(cells) == {"dept-cgzf", "dept-hw"}
    assert "幸福路 3 号 &lt;b&gt;" in cells["dept-cgzf"] and "到场合影.png" in cells["dept-cgzf"]
    [href] = re.findall(r'href="(/attachments/\d+)"[^>]*data-testid="report-in-photo"', cells["dept-cgzf"])
    assert pages.get(href).status_code == 200
    assert "report-in-photo" not in cells["dept-hw"] and "report-in-location" not in cells["dept-hw"]
    timeline = html[html.index('data-testid="timeline"'):]
    assert "现场位置" in timeline and "幸福路 3 号 &lt;b&gt;" in timeline and "到场合影.png" in timeline


def test_the_coordination_page_records_each_departments_division_and_its_task_page_shows_it(
    pages: Pages, api: Api, at_monday_morning: None
) -> None:
    flow, case_id = at_coordinate(api)
    task = flow.task(case_id, "coordinate")
    pages.login("staff-s1c1")
    html = text(pages.get(f"/tasks/{task['id']}"))
    rows = re.findall(r'<tr data-department="([^"]+)"><td>([^<]*)</td>', html)
    assert {code for code, _ in rows} == {LEAD, COOP} and dict(rows)[COOP] == "环境卫生服务中心"
    assert f'name="division-task-{COOP}"' in html and f'type="date" name="division-due-{COOP}"' in html
    form = {"meeting_held": "true", "decision": "proceed", "decisions": "分工清理",
            f"division-task-{COOP}": "清除小广告", f"division-due-{COOP}": "2026-06-01"}
    resp = pages.post(f"/tasks/{task['id']}", form)
    assert resp.status_code == 422 and field_errors(resp) == ["division"]
    assert "日期不能早于今天" in text(resp) and 'value="清除小广告"' in text(resp)  # kept for correcting
    resp = pages.post(f"/tasks/{task['id']}", {**form, f"division-due-{COOP}": "2026-06-09"})
    assert resp.status_code == 302, field_errors(resp)

    hw = flow.task(case_id, "handle", COOP)
    pages.logout()
    pages.login("hw-staff")
    html = text(pages.get(f"/tasks/{hw['id']}"))
    assert re.search(r'data-testid="task-division">[^<]*<b>清除小广告</b>', html)
    assert 'data-testid="division-due">2026-06-09<' in html and "2026-06-09 17:30" in html  # its own deadline
    timeline = html[html.index('data-testid="timeline"'):]
    assert "环境卫生服务中心：清除小广告（2026-06-09 前）" in timeline
    cgzf = flow.task(case_id, "handle", LEAD)
    pages.logout()
    pages.login("cgzf-staff")
    assert 'data-testid="task-division"' not in text(pages.get(f"/tasks/{cgzf['id']}"))  # no division: none shown


def test_the_lead_confirmation_page_sends_one_department_back_and_the_timeline_says_so(
    pages: Pages, api: Api
) -> None:
    flow, case_id = at_lead_confirm(api, "退回某部门 页面")
    task = flow.task(case_id, "lead_confirm")
    pages.login("cgzf-head")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert 'name="lead_verdict" value="return"' in html and "退回某部门重办" in html
    picker = html[html.index('name="return_department"'):]
    picker = picker[:picker.index("</select>")]
    assert f'value="{COOP}"' in picker and f'value="{LEAD}"' in picker  # the summoned departments only
    form = {"summary": "汇总", "lead_verdict": "return", "return_department": COOP}
    resp = pages.post(f"/tasks/{task['id']}", form)
    assert resp.status_code == 422 and field_errors(resp) == ["return_reason"]
    resp = pages.post(f"/tasks/{task['id']}", {**form, "return_reason": "垃圾未清运干净 <i>"})
    assert resp.status_code == 302, field_errors(resp)

    assert flow.open_types(case_id) == ["handle"]
    html = text(pages.get(f"/cases/{case_id}"))
    timeline = html[html.index('data-testid="timeline"'):]
    assert "退回部门重办" in timeline and "垃圾未清运干净 &lt;i&gt;" in timeline
    entry = timeline[timeline.index("退回部门重办"):]
    assert "环境卫生服务中心" in entry[:600]


def test_the_department_sent_back_sees_returned_and_the_reason_in_its_inbox_and_task(
    pages: Pages, api: Api
) -> None:
    flow, case_id = at_lead_confirm(api, "退回某部门 待办标记")
    back = {**FORMS["lead_confirm"], "lead_verdict": "return", "return_department": COOP,
            "return_reason": "垃圾未清运干净"}
    flow.do("cgzf-head", case_id, "lead_confirm", back)
    task = flow.task(case_id, "handle", COOP)
    pages.login("hw-staff")
    row = _inbox_row(pages, task["id"], "handle")
    assert 'data-testid="returned"' in row and "退回理由：垃圾未清运干净" in row
    html = text(pages.get(f"/tasks/{task['id']}"))
    notice = html[html.index('data-testid="returned-notice"'):]
    assert "主责部门退回重办" in notice[:300] and "垃圾未清运干净" in notice[:300]
    assert html.find('data-testid="returned-notice"') < html.find('id="task-title"')  # at the top
    pages.logout()

    flow.do("hw-staff", case_id, "handle", {"actions": "二次清运"}, unit=COOP)
    flow.do("cgzf-head", case_id, "lead_confirm", FORMS["lead_confirm"])
    flow.do("op-s1", case_id, "verify", FORMS["verify_rework"])
    again = flow.task(case_id, "handle", COOP)  # a rework of every department: no longer 退回 by the lead
    assert not (again.get("context") or {}).get("handling_return")
    pages.login("hw-staff")
    assert 'data-testid="returned"' not in _inbox_row(pages, again["id"], "handle")


def test_the_evaluation_form_shows_the_localitys_anchors_beside_each_rating(pages: Pages, api: Api) -> None:
    flow, case_id = at_lead_confirm(api, "一哨一考 锚点")
    flow.do("cgzf-head", case_id, "lead_confirm", FORMS["lead_confirm"])
    flow.do("op-s1", case_id, "verify", FORMS["verify_ok"])
    flow.do("staff-s1c1", case_id, "feedback", FORMS["feedback"])
    flow.do("callback", case_id, "callback", FORMS["callback"])
    task = flow.task(case_id, "evaluate")
    pages.login("sec-s1c1")
    html = text(pages.get(f"/tasks/{task['id']}"))
    lists = re.findall(r'data-testid="rating-anchors">(.*?)</ul>', html, re.S)
    assert len(lists) == 4  # beside each of 报到效率, 配合度, 专业性, 担当意识
    # as config/assessment.yaml words them
    assert "<b>好</b>（5）哨响即到" in lists[0] and "<b>差</b>（1–2）未报到或推诿扯皮" in lists[0]
    field = html[html.index('data-field="efficiency"'):]
    assert re.search(r'value="5"[^>]*> 5 <small class="anchor-grade" data-testid="anchor-grade">好</small>', field)
    assert re.search(r'value="2"[^>]*> 2 <small class="anchor-grade" data-testid="anchor-grade">差</small>', field)
    pages.get("/lang/en?next=/")
    html = text(pages.get(f"/tasks/{task['id']}"))
    assert "<b>Fairly good</b>（4）Reported in on time" in html
