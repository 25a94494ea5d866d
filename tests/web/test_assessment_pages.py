"""统计考核 pages: who may open them, figures equal to the API's, drill-downs that count what the
figure counts, a department's own page, and the Excel exports.

The hand-computed cases A, B, C of tests/integration/test_assessment.py, on a database of this
module's own.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import delete, select

from app.assessment import export_jobs, pages
from app.assessment.indicators import DEPARTMENT_INDICATORS, HEADLINE, UNIT_INDICATORS
from app.assessment.service import Period
from app.definitions import configuration
from app.models import Case, ExportJob, SupervisionEntry, Task, Unit, User
from app.services import deadlines
from app.services.auth import principal_for
from tests.conftest import PASSWORD, _demo_app, _fresh_database
from tests.integration.test_assessment import assessed_cases, period_query
from tests.web.pages_client import Pages, text


@pytest.fixture(scope="module")
def assessed_app(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    for url in _fresh_database(backend, tmp_path_factory):
        app = _demo_app(url, tmp_path_factory.mktemp("assessment"))
        with assessed_cases(app):
            yield app
        app.extensions["whistle.db"].dispose()


def _pages(app: Flask, user: str | None) -> Pages:
    pages = Pages(app.test_client())
    if user:
        pages.login(user)
    return pages


def _api(app: Flask, user: str, path: str) -> Any:
    client = app.test_client()
    token = client.post("/api/tokens", json={"username": user, "password": PASSWORD}).get_json()["token"]
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


PERIOD = "kind=range&" + period_query()
FIGURE = re.compile(r'data-testid="fig-([a-z]+)-([a-z0-9-]+?)-([a-z_0-9]+)"\s+data-value="([^"]*)"[^>]*href="([^"]+)"')


def _figures(page: str) -> dict[tuple[str, str, str], tuple[float | None, str]]:
    """(side, unit or 'total' (with level), code) → (value, drill-down link) of every figure shown."""
    return {(side, unit, code): (float(value) if value else None, html.unescape(link))
            for side, unit, code, value, link in FIGURE.findall(page)}


def test_anonymous_is_sent_to_login_and_roles_without_assess_are_refused(assessed_app: Flask) -> None:
    anonymous = _pages(assessed_app, None).get(f"/assessment/?{PERIOD}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert _pages(assessed_app, None).get("/assessment/departments/dept-hw").status_code == 302
    for user in ("gw-s1c1g1", "hw-head", "staff-s1"):
        assert _pages(assessed_app, user).get(f"/assessment/?{PERIOD}").status_code == 403, user
    assert _pages(assessed_app, "gw-s1c1g1").get("/assessment/departments/dept-hw").status_code == 403


def test_a_department_head_sees_its_own_page_only(assessed_app: Flask) -> None:
    pages = _pages(assessed_app, "hw-head")
    inbox = text(pages.get("/"))
    assert 'href="/assessment/departments/dept-hw"' in inbox  # the nav leads to its own page
    own = pages.get(f"/assessment/departments/dept-hw?{PERIOD}")
    assert own.status_code == 200
    assert pages.get(f"/assessment/departments/dept-cgzf?{PERIOD}").status_code == 403
    drill_other = pages.get(f"/assessment/cases?side=departments&code=summoned&unit=dept-cgzf&{PERIOD}")
    assert drill_other.status_code == 403
    assert pages.get(f"/assessment/cases?side=units&code=whistles_started&{PERIOD}").status_code == 403
    # the published ranking names its peers, but links only to its own figures
    page = text(own)
    assert 'data-unit="dept-cgzf"' in page and "fig-departments-dept-cgzf-" not in page


def test_leaders_see_what_is_within_their_unit(assessed_app: Flask) -> None:
    for user in ("sec-dc", "auditor", "op-dc"):
        page = text(_pages(assessed_app, user).get(f"/assessment/?{PERIOD}"))
        assert 'data-testid="table-departments"' in page and 'data-testid="ranking-units-community"' in page, user
    street = _pages(assessed_app, "sec-s1")
    page = text(street.get(f"/assessment/?{PERIOD}"))
    assert 'data-testid="table-departments"' not in page and "fig-units-dc-s1-c1-community-close_rate" in page
    assert street.get(f"/assessment/departments/dept-hw?{PERIOD}").status_code == 403
    other_street = text(_pages(assessed_app, "sec-s2").get(f"/assessment/?{PERIOD}"))
    assert "dc-s1-c1" not in other_street


def test_dashboard_figures_equal_the_api(assessed_app: Flask) -> None:
    page = text(_pages(assessed_app, "sec-dc").get(f"/assessment/?{PERIOD}"))
    shown = _figures(page)
    departments = _api(assessed_app, "sec-dc", f"/api/assessment/departments?{period_query()}")
    for row in departments["rows"]:
        for code, figure in row["figures"].items():
            assert shown[("departments", row["unit"], code)][0] == figure["value"], (row["unit"], code)
    units = _api(assessed_app, "sec-dc", f"/api/assessment/units?{period_query()}")
    for row in units["rows"]:
        for code, figure in row["figures"].items():
            assert shown[("units", f"{row['unit']}-{row['level']}", code)][0] == figure["value"]
    overview = _api(assessed_app, "sec-dc", f"/api/assessment/overview?{period_query()}")
    assert [(h["side"], h["code"]) for h in overview["headline"]] == list(HEADLINE)
    for item in overview["headline"]:
        assert shown[(item["side"], "total", item["code"])][0] == item["value"], item["code"]
    totals = {h["code"]: h["value"] for h in overview["headline"]}
    assert (totals["whistles_started"], totals["report_in_rate"]) == (2, 100.0)
    assert totals["on_time_report_in_rate"] == 75.0  # 3 of 4 report-ins on time (环卫 late on B)
    # every indicator shows its formula
    for indicator in (*DEPARTMENT_INDICATORS, *UNIT_INDICATORS):
        assert f'data-testid="formula-{indicator.code}">{html.escape(indicator.formula_zh)}<' in page


def test_each_drill_down_lists_as_many_records_as_the_figure_counts(assessed_app: Flask) -> None:
    pages = _pages(assessed_app, "sec-dc")
    shown = _figures(text(pages.get(f"/assessment/?{PERIOD}")))
    checked = 0
    for (_side, _unit, code), (value, link) in shown.items():
        if value is None or code not in ("summoned", "report_in_rate", "on_time_report_in_rate", "rework_rate",
                                          "whistles_started", "close_rate", "supervised", "evaluation_score"):
            continue
        page = text(pages.get(link))
        count = int(re.search(r'data-testid="drill-table" data-count="(\d+)"', page).group(1))
        hits = page.count('data-hit="1"')
        assert float(re.search(r'data-testid="drill-value" data-value="([^"]*)"', page).group(1)) == value
        if code in ("summoned", "whistles_started", "supervised"):
            assert count == value, link
        elif code == "evaluation_score":
            assert count >= 1
        else:
            assert round(100 * hits / count, 1) == value, link
        assert page.count('href="/cases/') >= count  # each record links to its case
        checked += 1
    assert checked >= 20


def test_case_titles_are_escaped_in_the_drill_down(assessed_app: Flask) -> None:
    with assessed_app.extensions["whistle.db"].unit_of_work() as session:
        case = session.scalars(select(Case).where(Case.level.is_not(None)).order_by(Case.id)).first()
        title, case.title = case.title, "<script>alert(1)</script>"
    try:
        page = text(_pages(assessed_app, "sec-dc").get(
            f"/assessment/cases?side=units&code=whistles_started&{PERIOD}"))
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    finally:
        with assessed_app.extensions["whistle.db"].unit_of_work() as session:
            session.get(Case, case.id).title = title


def test_department_page_shows_rank_ledger_and_late_or_reworked_cases(assessed_app: Flask) -> None:
    page = text(_pages(assessed_app, "hw-head").get(f"/assessment/departments/dept-hw?{PERIOD}"))
    ranking = _api(assessed_app, "hw-head", f"/api/assessment/rankings?{period_query()}")
    [mine] = [r for r in ranking["departments"]["rows"] if r["unit"] == "dept-hw"]
    assert f'data-unit="dept-hw" data-rank="{mine["rank"]}"' in page
    assert len(ranking["departments"]["rows"]) == 16  # every department: the published ranking
    assert re.search(r'data-testid="problem-count-late_report_in">1<', page)  # B: reported in three days late
    assert re.search(r'data-testid="open-supervision-count">[^<]*0', page)  # its 督办 was struck off
    cgzf = text(_pages(assessed_app, "cgzf-head").get(f"/assessment/departments/dept-cgzf?{PERIOD}"))
    assert re.search(r'data-testid="problem-count-reworked">1<', cgzf)  # B was sent back for rework


def test_department_page_lists_a_page_of_late_cases_and_links_to_the_rest(assessed_app: Flask,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    whole = text(_pages(assessed_app, "hw-head").get(f"/assessment/departments/dept-hw?{PERIOD}"))
    assert 'data-testid="problem-late_report_in"' in whole and "problem-more-" not in whole  # all fit a page
    monkeypatch.setattr(pages, "PROBLEM_PAGE", 0)
    paged = text(_pages(assessed_app, "hw-head").get(f"/assessment/departments/dept-hw?{PERIOD}"))
    assert re.search(r'data-testid="problem-count-late_report_in">1<', paged)  # still counts them all
    assert 'data-testid="problem-late_report_in"' not in paged
    more = re.search(r'data-testid="problem-more-late_report_in" href="([^"]+)"', paged)
    assert more, "a link to the rest"
    target = html.unescape(more.group(1))
    assert "code=on_time_report_in_rate" in target and "unit=dept-hw" in target
    drilled = text(_pages(assessed_app, "hw-head").get(target))
    assert 'data-hit="0"' in drilled  # the late report-in is among its records


def test_department_page_lists_its_open_supervision_however_many_other_units_have(
        assessed_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger is cut to a page after choosing the department, not before: a district leader sees
    the department's entry though another unit's newer entries fill the ledger's first page."""
    monkeypatch.setattr(deadlines, "LEDGER_PAGE", 1)
    db = assessed_app.extensions["whistle.db"]
    with db.unit_of_work() as session:
        task = session.scalars(select(Task).order_by(Task.id)).first()
        assert task is not None
        units = {u.code: u.id for u in session.scalars(select(Unit).where(Unit.code.in_(["dept-hw", "dept-cgzf"])))}
        entries = [SupervisionEntry(case_id=task.case_id, task_id=task.id, unit_id=units[code], task_type="t",
                                    stage="handling", due_at=datetime(2026, 1, 1), opened_at=datetime(2026, 1, 1),
                                    status="open") for code in ("dept-hw", "dept-cgzf")]  # cgzf's is newer
        session.add_all(entries)
        session.flush()
        ids = [e.id for e in entries]
    try:
        page = text(_pages(assessed_app, "sec-dc").get(f"/assessment/departments/dept-hw?{PERIOD}"))
        assert re.search(r'data-testid="open-supervision-count">[^<]*1', page)
        assert f'data-testid="supervision-row" data-case-id="{task.case_id}"' in page
    finally:
        with db.unit_of_work() as session:
            session.execute(delete(SupervisionEntry).where(SupervisionEntry.id.in_(ids)))


def test_rankings_follow_the_configured_order_with_red_and_black_lists(assessed_app: Flask) -> None:
    body = _api(assessed_app, "sec-dc", f"/api/assessment/rankings?{period_query()}")
    rows = body["departments"]["rows"]
    ranked = [r for r in rows if r["rank"] is not None]
    assert body["departments"]["by"][0] == "handled_on_time_rate"
    assert [r["unit"] for r in ranked[:2]] == ["dept-cgzf", "dept-hw"] or ranked[0]["rank"] == ranked[1]["rank"]
    assert all(r["board"] is None for r in rows if r["rank"] is None)  # nothing to rank: on neither list
    assert ranked[0]["board"] == "red"
    [community] = body["units"]
    assert community["level"] == "community" and community["rows"][0]["unit"] == "dc-s1-c1"


def test_the_page_reads_in_english(assessed_app: Flask) -> None:
    pages = _pages(assessed_app, "sec-dc")
    pages.get("/lang/en")
    page = text(pages.get(f"/assessment/?{PERIOD}"))
    assert "Report-in rate" in page and "reported in ÷ summoned" in page and "Rankings of departments" in page


def _sheet_rows(app: Flask, user: str, what: str) -> Any:
    response = _pages(app, user).get(f"/assessment/export/{what}.xlsx?{PERIOD}")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    return load_workbook(BytesIO(response.data))


def test_indicator_export_has_chinese_headers_and_real_numbers(assessed_app: Flask) -> None:
    book = _sheet_rows(assessed_app, "sec-dc", "indicators")
    sheet = book["部门指标"]
    headers = [cell.value for cell in sheet[1]]
    assert headers[:4] == ["单位编码", "单位名称", "被吹哨次数（个）", "报到率（%）"]
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    hw = rows["dept-hw"]
    on_time = hw[headers.index("按时报到率（%）")]
    assert on_time.value == 0.5 and on_time.number_format == "0.0%"
    assert hw[headers.index("被吹哨次数（个）")].value == 2
    units = book["吹哨单位指标"]
    assert [c.value for c in units[2]][:3] == ["dc-s1-c1", "和平里社区", "社区哨"]
    hw_only = _sheet_rows(assessed_app, "hw-head", "indicators")["部门指标"]
    assert [row[0].value for row in hw_only.iter_rows(min_row=2)] == ["dept-hw"]


def test_ranking_and_ledger_exports(assessed_app: Flask) -> None:
    rankings = _sheet_rows(assessed_app, "sec-dc", "rankings")["部门排名"]
    assert [c.value for c in rankings[1]][:4] == ["名次", "榜单", "单位编码", "单位名称"]
    assert rankings[2][0].value == 1 and rankings[2][1].value == "红榜"
    ledger = _sheet_rows(assessed_app, "sec-dc", "supervision")["督办台账"]
    assert [c.value for c in ledger[1]][:5] == ["案件编号", "案件标题", "超时单位", "任务", "办理时限"]
    [entry] = list(ledger.iter_rows(min_row=2))
    assert entry[2].value == "环境卫生服务中心" and entry[7].value == "已销号"
    assert isinstance(entry[4].value, datetime) and entry[4].number_format == "yyyy-mm-dd hh:mm"
    assert entry[5].value > 0 and entry[5].number_format == "0.00"


# --- 月度通报 ---------------------------------------------------------------------------------------


def _publish(app: Flask, user: str) -> tuple[Pages, Any]:
    pages = _pages(app, user)
    pages.get("/assessment/bulletins")
    start, end = (part.split("=")[1] for part in period_query().split("&"))
    return pages, pages.post("/assessment/bulletins", {"unit": "dc", "kind": "range", "start": start, "end": end})


def test_a_bulletin_is_recorded_in_the_chain_and_regenerates_to_the_same_hash(assessed_app: Flask) -> None:
    pages, published = _publish(assessed_app, "sec-dc")
    assert published.status_code == 302, text(published)[:500]
    page = text(pages.get(published.headers["Location"]))
    sha = re.search(r'data-testid="bulletin-sha256">([0-9a-f]{64})<', page).group(1)
    assert 'data-testid="bulletin-rank" data-unit="dept-cgzf"' in page
    auditor = _pages(assessed_app, "auditor")
    listed = text(auditor.get("/assessment/bulletins"))
    assert sha[:16] in listed and 'data-testid="publish-form"' not in listed  # auditors read, never publish
    checked = text(auditor.get(published.headers["Location"] + "?verify=1"))
    assert 'data-same="yes"' in checked and 'data-stored-ok="yes"' in checked and sha in checked
    assert _api(assessed_app, "auditor", "/api/audit/verify")["ok"] is True  # the system chain holds it
    with assessed_app.extensions["whistle.db"].unit_of_work() as session:
        case = session.scalars(select(Case).where(Case.level.is_not(None), Case.rework_count > 0)).first()
        case.rework_count = 0  # the record changes after publication
    try:
        changed = text(auditor.get(published.headers["Location"] + "?verify=1"))
        assert 'data-same="no"' in changed and "closed_at_once_rate" in changed
    finally:
        with assessed_app.extensions["whistle.db"].unit_of_work() as session:
            session.get(Case, case.id).rework_count = 1


def test_a_bulletin_downloads_as_a_pdf_with_its_figures_and_hash(assessed_app: Flask) -> None:
    pages, published = _publish(assessed_app, "sec-dc")
    page = text(pages.get(published.headers["Location"]))
    sha = re.search(r'data-testid="bulletin-sha256">([0-9a-f]{64})<', page).group(1)
    assert 'data-testid="bulletin-pdf"' in page
    pdf = pages.get(published.headers["Location"] + ".pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    reader = PdfReader(BytesIO(pdf.data))
    assert reader.metadata.subject == f"sha256:{sha}"
    words = "".join(p.extract_text() for p in reader.pages)
    assert sha in words.replace("\n", "")
    # the same figures as the HTML bulletin: every cell of its rankings and headline is in the PDF
    article = page[page.index('data-testid="bulletin"'):page.index('class="bulletin-hash"')]
    cells = {html.unescape(c).strip() for c in re.findall(r"<td[^>]*>([^<]*)</td>", article)} - {""}
    assert len(cells) > 10 and not [c for c in cells if c not in words]
    assert _pages(assessed_app, "hw-head").get(published.headers["Location"] + ".pdf").status_code == 404


def test_bulletins_need_assess_and_auditors_cannot_publish(assessed_app: Flask) -> None:
    assert _pages(assessed_app, "hw-head").get("/assessment/bulletins").status_code == 403
    _auditor, refused = _publish(assessed_app, "auditor")
    assert refused.status_code == 403
    _street, other = _publish(assessed_app, "sec-s1")  # a street may not publish the district's
    assert other.status_code == 403


# --- long exports in the background -----------------------------------------------------------------


def _long_range() -> dict[str, str]:
    start, end = (part.split("=")[1] for part in period_query().split("&"))
    return {"kind": "range", "start": (date.fromisoformat(start) - timedelta(days=200)).isoformat(), "end": end}


def test_a_long_export_runs_in_the_background_with_progress_then_downloads(assessed_app: Flask) -> None:
    pages, query = _pages(assessed_app, "sec-dc"), _long_range()
    offer = pages.get("/assessment/export/indicators.xlsx", query_string=query)
    assert offer.status_code == 200 and 'data-testid="export-job-form"' in text(offer)
    started = pages.post("/assessment/exports", {"what": "indicators", **query})
    assert started.status_code == 302
    job_page = started.headers["Location"]
    status: dict[str, Any] = {}
    for _attempt in range(600):
        status = pages.get(job_page + ".json").get_json()
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["status"] == "done" and status["progress"] == 100, status
    assert 'data-testid="export-job-download"' in text(pages.get(job_page))
    book = load_workbook(BytesIO(pages.get(job_page + "/download").data))
    rows = {row[0].value: row for row in book["部门指标"].iter_rows(min_row=2)}
    assert rows["dept-hw"][2].value == 2  # 被吹哨次数: the same cases as the short period's export
    other = _pages(assessed_app, "auditor")
    assert other.get(job_page + ".json").status_code == 404 and other.get(job_page + "/download").status_code == 404


def _job(app: Flask, user: str) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        me = s.scalar(select(User).where(User.username == user))
        job = export_jobs.create(s, principal_for(s, me), "indicators", Period.parse(month="2026-01"), None)
        return job.id


def _progress(app: Flask, job_id: int) -> tuple[str, int]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        job = s.get(ExportJob, job_id)
        return job.status, job.progress


def test_a_job_commits_its_progress_after_each_step(assessed_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake slow exporter of three steps: each sees, from another session, the progress so far."""
    job_id, seen = _job(assessed_app, "sec-dc"), []

    def fake(*_args: Any) -> list[Any]:
        look = lambda d: seen.append(_progress(assessed_app, job_id))  # noqa: E731
        return [look, look, lambda d: (look(d), d.update(body=b"workbook"))]

    monkeypatch.setattr(export_jobs, "steps", fake)
    export_jobs.work(assessed_app.extensions["whistle.db"], job_id, configuration.current())
    assert seen == [("running", 0), ("running", 33), ("running", 67)]
    assert _progress(assessed_app, job_id) == ("done", 100)


def test_a_failing_job_keeps_its_error(assessed_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = _job(assessed_app, "sec-dc")

    def broken(_scratch: dict[str, Any]) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_jobs, "steps", lambda *_args: [broken])
    export_jobs.work(assessed_app.extensions["whistle.db"], job_id, configuration.current())
    with assessed_app.extensions["whistle.db"].unit_of_work() as s:
        job = s.get(ExportJob, job_id)
        assert (job.status, job.error, job.body) == ("failed", "RuntimeError: disk full", None)
