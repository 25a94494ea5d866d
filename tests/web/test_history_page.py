"""The history page (案件历史): who may open it, what the step slider shows at step k, the diagram
data of that step, the chain badge when an event was tampered with, and escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, text

from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.web.pages_client import Pages
from tests.web.pages_client import text as body_of

XSS = "<script>alert(1)</script> 历史"


def triaged(api: Api, title: str = "违规广告 历史页") -> int:
    """A case three steps in: reported, triaged into a community whistle, its first task claimed."""
    flow = Flow(api)
    case_id = int(flow.report(title=title)["id"])
    flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
    task = flow.task(case_id, "prepare_whistle")
    assert api.post("staff-s1c1", f"/api/tasks/{task['id']}/claim").status_code == 200
    return case_id


def steps(api: Api, case_id: int) -> list[dict]:
    return api.get("auditor", f"/api/cases/{case_id}/history").get_json()["steps"]


def open_tasks(html: str) -> str:
    return html.split('data-testid="state-tasks"')[1].split("</table>")[0]


def seq_of(html: str, attr: str) -> list[str]:
    return re.findall(rf'<li data-event="[^"]+" data-seq="(\d+)" data-step="\d+"\s*{attr}', html)


@contextmanager
def raw(app: Flask) -> Iterator[Connection]:
    """A connection that edits the record as someone with database access would."""
    with app.extensions["whistle.db"].engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        yield conn
        if pg:
            conn.execute(text("ALTER TABLE events ENABLE TRIGGER USER"))


def test_the_auditor_opens_the_history_of_any_case_from_the_case_page(pages: Pages, api: Api) -> None:
    case_id = triaged(api)
    pages.login("auditor")
    assert f'href="/cases/{case_id}/history"' in body_of(pages.get(f"/cases/{case_id}"))
    resp = pages.get(f"/cases/{case_id}/history")
    html = body_of(resp)
    assert resp.status_code == 200
    assert 'data-testid="chain-badge" data-ok="true"' in html
    # every event with its seq, actor, unit and short hash; the engine's bookkeeping when asked for
    history = api.get("auditor", f"/api/cases/{case_id}/history").get_json()
    every = body_of(pages.get(f"/cases/{case_id}/history?all=1"))
    for event in history["events"]:
        shown = f'data-event="{event["type"]}" data-seq="{event["seq"]}"'
        assert shown in every and event["hash"][:12] in every
        assert (shown in html) == (event["type"] not in {"task_ready", "handler_called", "state_saved",
                                                         "process_started"})
    assert {"state_saved", "process_started", "handler_called", "task_claimed"} <= {
        e["type"] for e in history["events"]}
    assert "状态快照" in every and "op-dc" in html and "staff-s1c1" in html
    assert 'data-testid="nav-inbox"' in html  # the top navigation
    # the slider over the steps, opened at the latest one; the dossier and replay links
    last = history["steps"][-1]["step"]
    assert 'type="range" id="step-slider" name="step"' in html and f'value="{last}"' in html
    for link in (f"/api/cases/{case_id}/dossier.html", f"/api/cases/{case_id}/dossier.json",
                 f"/cases/{case_id}/replay"):
        assert f'href="{link}"' in html
    assert pages.get(f"/api/cases/{case_id}/replay").get_json()["ok"] is True  # the links work with the login
    assert f'data-diagram-url="/cases/{case_id}/history/{last}/diagram.json"' in html


def test_another_units_staff_get_404_and_strangers_the_login(pages: Pages, api: Api, client: FlaskClient) -> None:
    case_id = triaged(api)
    resp = client.get(f"/cases/{case_id}/history?step=2")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get(f"/cases/{case_id}/history/1/diagram.json").status_code == 302
    pages.login("sec-s2")
    assert pages.get(f"/cases/{case_id}/history").status_code == 404
    assert pages.get(f"/cases/{case_id}/history/1/diagram.json").status_code == 404
    pages.login("staff-s1c1")  # the whistling community sees its case's history
    assert pages.get(f"/cases/{case_id}/history").status_code == 200


def test_the_slider_step_shows_the_case_as_it_was_then(pages: Pages, api: Api) -> None:
    case_id = triaged(api)
    numbers = [s["step"] for s in steps(api, case_id)]
    assert numbers == [1, 2, 3]  # reported, triaged, claimed
    pages.login("auditor")

    first = body_of(pages.get(f"/cases/{case_id}/history?step=1"))
    assert 'data-testid="state" data-step="1"' in first
    assert 'data-task-type="triage"' in open_tasks(first) and "prepare_whistle" not in open_tasks(first)
    assert 'rel="next"' in first and f'href="/cases/{case_id}/history?step=2"' in first and 'rel="prev"' not in first
    assert seq_of(first, 'class="current"') == ["1"]  # the events of step 1 people read
    every = body_of(pages.get(f"/cases/{case_id}/history?step=1&all=1"))
    assert seq_of(every, 'class="current"') == ["1", "2", "3", "4"]  # with the engine's bookkeeping
    assert f'href="/cases/{case_id}/history?step=2&amp;all=1"' in every  # stepping keeps the choice
    assert '<dd data-key="grade">—</dd>' in first  # not triaged yet

    second = body_of(pages.get(f"/cases/{case_id}/history?step=2"))
    tasks = open_tasks(second)
    assert 'data-task-type="prepare_whistle"' in tasks and "<td>—</td>" in tasks  # nobody held it yet
    assert '<dd data-key="grade">3</dd>' in second and '<dd data-key="level">社区哨</dd>' in second
    assert "<dt>吹哨层级</dt>" in second and "<dt>level</dt>" not in second  # labelled, not variable names
    assert 'data-testid="state-raw"' in second  # the raw JSON behind a toggle
    assert '<dd data-key="urgent">否</dd>' in second and "准备吹哨材料" in second  # task titles, not codes

    third = body_of(pages.get(f"/cases/{case_id}/history?step=3"))
    tasks = open_tasks(third)
    assert "<td>staff-s1c1</td>" in tasks  # claimed at step 3
    assert 'rel="next"' not in third and f'href="/cases/{case_id}/history?step=2"' in third

    # a step past the end or not a number opens the nearest one there is, never an error
    assert 'data-step="3"' in body_of(pages.get(f"/cases/{case_id}/history?step=99"))
    assert 'data-step="1"' in body_of(pages.get(f"/cases/{case_id}/history?step=-4"))
    assert 'data-step="3"' in body_of(pages.get(f"/cases/{case_id}/history?step=abc"))


def test_the_diagram_data_of_a_step_marks_what_was_done_then(pages: Pages, api: Api) -> None:
    case_id = triaged(api)
    pages.login("auditor")
    at1 = pages.get(f"/cases/{case_id}/history/1/diagram.json").get_json()
    assert [p["id"] for p in at1["processes"]] == ["case"] and at1["step"] == 1
    assert at1["processes"][0]["active"] == ["triage"] and "definitions" in at1["processes"][0]["xml"]
    at2 = pages.get(f"/cases/{case_id}/history/2/diagram.json").get_json()
    by_id = {p["id"]: p for p in at2["processes"]}
    assert "triage" in by_id["case"]["completed"] and by_id["whistle"]["active"] == ["prepare_whistle"]
    # the same as the API's state at that step
    state = api.get("auditor", f"/api/cases/{case_id}/history/2").get_json()
    assert {pid: p["active"] for pid, p in by_id.items()} == {
        pid: s["active"] for pid, s in state["elements"].items()}
    assert pages.get(f"/cases/{case_id}/history/9/diagram.json").status_code == 404


def test_the_badge_names_the_first_broken_link_when_an_event_was_edited(pages: Pages, api: Api, app: Flask) -> None:
    case_id = triaged(api, title="篡改 检测 历史页")
    with raw(app) as conn:
        conn.execute(text("UPDATE events SET actor = 'someone-else' WHERE case_id = :c AND seq = 5"), {"c": case_id})
    try:
        pages.login("auditor")
        html = body_of(pages.get(f"/cases/{case_id}/history"))
        assert 'data-testid="chain-badge" data-ok="false" data-problem="altered"' in html
        assert 'data-seq="5"' in html and "哈希链校验未通过" in html
        assert re.search(rf'data-testid="chain-break">case {case_id} \([^)]*\) seq 5: altered', html)
        marked = html.split('data-testid="broken-event"')[0].rsplit("<li ", 1)[1]
        assert 'data-seq="5"' in marked
        broken_step = next(st["step"] for st in steps(api, case_id) if 5 in st["events"])
        assert re.search(rf'data-testid="broken-step"\s+href="/cases/{case_id}/history\?step={broken_step}"', html)
    finally:
        with raw(app) as conn:
            conn.execute(text("UPDATE events SET actor = 'op-dc' WHERE case_id = :c AND seq = 5"), {"c": case_id})
    assert 'data-ok="true"' in body_of(pages.get(f"/cases/{case_id}/history"))


def test_recorded_text_is_escaped(pages: Pages, api: Api) -> None:
    flow = Flow(api)
    case_id = int(flow.report(title=XSS, description=f"描述 {XSS}", address=XSS)["id"])
    pages.login("auditor")
    for path in (f"/cases/{case_id}/history", f"/cases/{case_id}/history?step=1"):
        html = body_of(pages.get(path))
        assert XSS not in html and "<script>alert" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the case data at the step
        assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in html  # the event data (JSON)


def test_the_page_in_english(pages: Pages, api: Api) -> None:
    case_id = triaged(api)
    pages.login("auditor")
    pages.get(f"/lang/en?next=/cases/{case_id}/history")
    html = body_of(pages.get(f"/cases/{case_id}/history?step=2&all=1"))
    assert "Case history" in html and "Hash chain verified" in html and "State snapshot" in html
    assert "案件历史" not in html


def test_a_step_can_be_fetched_alone_to_swap_into_the_open_page(pages: Pages, api: Api) -> None:
    """history.js steps without reloading: ?partial=1 answers only the parts that change, with the
    step's diagram address, for the same reader checks as the page."""
    case_id = triaged(api)
    pages.login("auditor")
    part = body_of(pages.get(f"/cases/{case_id}/history?step=1&partial=1"))
    assert "<html" not in part and 'data-testid="chain-badge"' not in part  # no page around it
    assert 'id="step-form"' in part and 'id="history-step-detail"' in part and part.count("data-swap") == 2
    assert f'data-step-diagram="/cases/{case_id}/history/1/diagram.json"' in part
    assert 'data-testid="state" data-step="1"' in part and 'data-task-type="triage"' in open_tasks(part)
    whole = body_of(pages.get(f"/cases/{case_id}/history?step=1"))
    assert 'id="step-form"' in whole and "<html" in whole  # the same parts, in the page
    pages.login("sec-s2")  # another street: not theirs to read
    assert pages.get(f"/cases/{case_id}/history?step=1&partial=1").status_code == 404
