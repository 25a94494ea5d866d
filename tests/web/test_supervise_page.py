"""The 督办 task page says what is late: the late unit, its task and stage, the deadline (local
time), how late it is now, whether the late work is still open, with links to the ledger and the
case. The inbox row says the same in a line. Escaped; only for users who can see the task."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.models import Task, Unit
from tests.integration.flow import FORMS
from tests.integration.test_deadlines import COOP, beijing, travel
from tests.integration.test_deadlines import at_monday_morning as at_monday_morning  # the fixture
from tests.integration.test_supervise_task import late_cooperating_department, supervise_tasks
from tests.web.pages_client import Pages, text

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# The deadline is counted from when the whistle went out, a few (real) seconds after 09:00: half a
# minute past a whole minute keeps the minutes late exact.
HALF_MINUTE = timedelta(seconds=30)


def block(html: str) -> tuple[dict[str, str], dict[str, str]]:
    """The 督办事项 block: its data-* attributes and the text of each field by test id."""
    match = re.search(r'<section class="notice supervised" data-testid="supervised"([^>]*)>(.*?)</section>', html, re.S)
    assert match, "no 督办事项 block on the page"
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', match.group(1)))
    fields = {name: re.sub(r"<[^>]+>|\s+", lambda m: " " if m.group(0).isspace() else "", inner).strip()
              for name, inner in re.findall(r'data-testid="supervised-([a-z]+)">(.*?)</dd>', match.group(2), re.S)}
    return attrs, fields


@pytest.fixture()
def hw_named_with_markup(app: Flask) -> Iterator[None]:
    """dept-hw named with markup (as an admin might) for one test: the database is the session's."""
    db: Database = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        unit = s.scalars(select(Unit).where(Unit.code == COOP)).one()
        name, unit.name = unit.name, f"环卫{XSS}"
    yield
    with db.unit_of_work() as s:
        s.scalars(select(Unit).where(Unit.code == COOP)).one().name = name


def test_the_supervision_task_page_says_what_is_late(app: Flask, api: Any, pages: Pages, at_monday_morning: None,
                                                     hw_named_with_markup: None) -> None:
    db, _flow, case_id = late_cooperating_department(app, api)  # dept-hw's report-in was due at 15:00
    [task] = supervise_tasks(api, "hw-head", case_id)
    with db.unit_of_work() as s:  # a title a diagram gave: shown as text, never as markup
        unit = s.scalars(select(Unit).where(Unit.code == COOP)).one()
        late = s.scalars(select(Task).where(Task.case_id == case_id, Task.task_type == "report_in",
                                            Task.unit_id == unit.id)).one()
        late.title = f"报到{XSS} Report in"
        late_id = late.id
    travel(db, beijing(8, 16, 32) + HALF_MINUTE)

    pages.login("hw-head")
    html = text(pages.get(f"/tasks/{task['id']}"))
    attrs, fields = block(html)
    assert XSS not in html
    assert (attrs["unit"], attrs["status"], attrs["late-minutes"]) == (COOP, "open", "92")
    assert fields == {"unit": f"环卫{ESCAPED}", "task": f"报到{ESCAPED}", "stage": "报到",
                      "due": "2026-06-08 15:00", "late": "1小时32分", "status": "仍在办理 · 挂账中"}
    assert f'<a href="/tasks/{late_id}">' in html and '<a href="/supervision" data-testid="ledger-link">' in html
    assert f'<a href="/cases/{case_id}" data-testid="case-link">' in html
    assert html.index('data-testid="supervised"') < html.index('data-testid="task-form"')  # read before answering

    inbox = text(pages.get("/"))
    assert f"督办：环卫{ESCAPED} 报到{ESCAPED}" in inbox and XSS not in inbox

    with pages.client.session_transaction() as sess:
        sess["lang"] = "en"
    _attrs, fields = block(text(pages.get(f"/tasks/{task['id']}")))
    assert (fields["stage"], fields["late"]) == ("Report-in", "1 h 32 min")
    assert fields["status"] == "Work still in progress · Open"


def test_once_the_late_work_is_done_the_page_says_so_and_how_late_it_was(
    app: Flask, api: Any, pages: Pages, at_monday_morning: None
) -> None:
    db, flow, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    travel(db, beijing(8, 15, 40) + HALF_MINUTE)
    flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)  # 销号 at 15:40
    travel(db, beijing(8, 17))
    pages.login("hw-head")
    attrs, fields = block(text(pages.get(f"/tasks/{task['id']}")))
    assert (attrs["status"], attrs["late-minutes"]) == ("cleared", "40")
    assert fields["late"] == "40分" and fields["status"] == "已办理完成 · 已销号 2026-06-08 15:40"


def test_other_tasks_have_no_block_and_outsiders_see_nothing(app: Flask, api: Any, pages: Pages,
                                                             at_monday_morning: None) -> None:
    _db, flow, case_id = late_cooperating_department(app, api)
    [task] = supervise_tasks(api, "hw-head", case_id)
    pages.login("hw-staff")
    assert 'data-testid="supervised"' not in text(pages.get(f"/tasks/{flow.task(case_id, 'report_in', COOP)['id']}"))
    pages.logout()
    pages.login("cgw-head")  # a department not summoned on this whistle
    resp = pages.get(f"/tasks/{task['id']}")
    assert resp.status_code == 404 and "环卫" not in text(resp)


def test_the_head_reads_the_late_units_answer_on_the_next_supervision_task(
    app: Flask, api: Any, pages: Pages, at_monday_morning: None
) -> None:
    """督办 the right way round: the late unit's 督办回复 page shows what the head asked for; the
    head's next 督办 task shows the answer (escaped) before the head closes it or presses again."""
    _db, flow, case_id = late_cooperating_department(app, api)
    flow.do("hw-head", case_id, "report_in_head_supervise", {"verdict": "press", "note": f"请说明{XSS}"}, unit=COOP)
    answer = flow.task(case_id, "report_in_supervise_answer", COOP)
    pages.login("hw-staff")
    html = text(pages.get(f"/tasks/{answer['id']}"))
    assert 'data-round="1" data-verdict=""' in html and f"请说明{ESCAPED}" in html and XSS not in html
    flow.do("hw-staff", case_id, "report_in_supervise_answer",
            {"reason": f"人手{XSS}", "measures": "已增派", "promised_date": "2026-06-09"}, unit=COOP)
    again = flow.task(case_id, "report_in_head_supervise", COOP)
    pages.login("hw-head")
    html = text(pages.get(f"/tasks/{again['id']}"))
    rounds = html[html.index('data-testid="round"'):html.index('data-testid="task-form"')]  # read before deciding
    assert f"人手{ESCAPED}" in rounds and "已增派" in rounds and "2026-06-09" in rounds
