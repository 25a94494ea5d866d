"""本地配置 pages: view the current version's configuration files, edit or upload one, check it as
deploy does (errors naming file, line and field), see the difference, deploy it as a new version
with a comment; years without a holiday table are warned of; nobody but an admin. Each test has a
database of its own (own_app): it deploys versions."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import undefer

from app.definitions import configuration
from app.definitions.versions import configuration_of
from app.models import Event, ProcessVersion
from app.services import clock
from app.services.worktime import calendar_of
from tests.conftest import Api
from tests.web.pages_client import Pages, text

# The State Council's 2027 notice as an admin would type it (dates for the test's sake).
TABLE_2027 = """years:
  2027:
    holidays: [2027-01-01, 2027-02-05, 2027-02-08, 2027-02-09]
    workdays: [2027-02-13]
"""


@pytest.fixture()
def client(own_app: Flask) -> FlaskClient:
    return own_app.test_client()


@pytest.fixture()
def admin(client: FlaskClient) -> Iterator[Pages]:
    pages = Pages(client)
    pages.login("admin")
    yield pages


def versions(app: Flask) -> list[ProcessVersion]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        rows = list(s.scalars(select(ProcessVersion).options(undefer(ProcessVersion.files))
                              .order_by(ProcessVersion.version)))
        s.expunge_all()
        return rows


def calendar_text(app: Flask) -> str:
    return versions(app)[-1].files["config/calendar.yaml"]


def with_2027(app: Flask) -> str:
    return calendar_text(app).replace("years: {}\n", TABLE_2027)


def test_admin_sees_the_files_and_the_missing_2027_table(admin: Pages) -> None:
    page = text(admin.get("/admin/config"))
    for name in configuration.CONFIG_FILES:
        assert f">{name}</a>" in page
    assert "2027" in " ".join(re.findall(r'data-testid="calendar-warning">([^<]*)<', page))
    calendar = text(admin.get("/admin/config/calendar.yaml"))
    assert 'data-testid="holiday-snippet"' in calendar and "  2027:" in calendar
    assert "office_hours" in calendar  # the deployed file, in the textarea
    assert admin.get("/admin/config/organisation.yaml").status_code == 404


def test_adding_the_2027_table_checks_diffs_and_deploys_a_new_version(own_app: Flask, admin: Pages) -> None:
    edited = with_2027(own_app)
    admin.get("/admin/config/calendar.yaml")
    checked = admin.post("/admin/config/calendar.yaml/check", {"text": edited})
    assert checked.status_code == 200, text(checked)[:800]
    page = text(checked)
    assert 'data-testid="config-ok"' in page and 'data-testid="config-deploy"' in page
    assert "+    holidays: [2027-01-01" in page.replace("&#43;", "+")  # the diff against the deployed file
    assert "2027" not in " ".join(re.findall(r'data-testid="calendar-warning">([^<]*)<', page))

    before = versions(own_app)
    done = admin.post("/admin/config/calendar.yaml/deploy", {"text": edited, "comment": "2027 年放假安排"})
    assert done.status_code == 302, text(done)[:800]
    after = versions(own_app)
    assert len(after) == len(before) + 1
    old, new = before[-1].files, after[-1].files
    assert new["config/calendar.yaml"] == edited and after[-1].comment == "2027 年放假安排"
    assert {k: v for k, v in new.items() if k != "config/calendar.yaml"} == \
        {k: v for k, v in old.items() if k != "config/calendar.yaml"}  # the diagrams and the rest unchanged
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        event = s.scalar(select(Event).where(Event.type == "process_deployed").order_by(Event.id.desc()).limit(1))
        assert event is not None and event.actor == "admin" and event.data["comment"] == "2027 年放假安排"
        calendar = calendar_of(configuration_of(s, after[-1].id))
    assert not calendar.is_working_day(date(2027, 2, 8))  # a Monday of the Spring Festival holiday
    assert calendar.is_working_day(date(2027, 2, 13))  # a Saturday made a working day (调休)
    assert "2027" not in " ".join(re.findall(r'data-testid="calendar-warning">([^<]*)<',
                                             text(admin.get("/admin/config"))))


def test_an_uploaded_file_is_checked_like_the_textarea(own_app: Flask, admin: Pages) -> None:
    admin.get("/admin/config/calendar.yaml")
    upload = {"text": "", "file": (io.BytesIO(with_2027(own_app).encode()), "calendar.yaml")}
    resp = admin.post("/admin/config/calendar.yaml/check", upload, content_type="multipart/form-data")
    assert resp.status_code == 200 and "2027-02-13" in text(resp)


@pytest.mark.parametrize(("edit", "named"), [
    (lambda t: t.replace("years: {}\n", "years:\n  2027:\n    holidays: [2027-01-01\n"), "line"),
    (lambda t: t.replace("years: {}\n", "years:\n  2027:\n    holidays: [2027-01-01, 2027-02-30]\n"),
     "years.2027.holidays.1"),
    (lambda t: t.replace("years: {}\n", "years:\n  2027:\n    holidays: [2026-10-01]\n"), "years.2027.holidays.0"),
    (lambda t: t.replace('  - "08:30-12:00"', '  - "08:30-noon"'), "office hours"),
])
def test_a_bad_calendar_is_refused_naming_where_and_nothing_is_deployed(
    own_app: Flask, admin: Pages, edit: object, named: str
) -> None:
    bad = edit(calendar_text(own_app))  # type: ignore[operator]
    admin.get("/admin/config/calendar.yaml")
    resp = admin.post("/admin/config/calendar.yaml/check", {"text": bad})
    assert resp.status_code == 422
    problems = re.findall(r'data-testid="config-problem">([^<]*)<', text(resp))
    assert problems and "calendar.yaml" in problems[0] and named in problems[0], problems
    assert 'data-testid="config-deploy"' not in text(resp)
    count = len(versions(own_app))
    resp = admin.post("/admin/config/calendar.yaml/deploy", {"text": bad, "comment": "试试"})
    assert resp.status_code == 422 and len(versions(own_app)) == count


def test_a_yaml_error_names_its_line(own_app: Flask, admin: Pages) -> None:
    bad = calendar_text(own_app).replace("years: {}\n", "years:\n  2027:\n    holidays: [2027-01-01, :\n")
    line = bad.splitlines().index("    holidays: [2027-01-01, :") + 1
    admin.get("/admin/config/calendar.yaml")
    resp = admin.post("/admin/config/calendar.yaml/check", {"text": bad})
    problems = re.findall(r'data-testid="config-problem">([^<]*)<', text(resp))
    assert resp.status_code == 422 and problems[0].startswith(f"calendar.yaml line {line}, column"), problems


def test_deploy_needs_a_comment_and_a_change(own_app: Flask, admin: Pages) -> None:
    admin.get("/admin/config/calendar.yaml")
    count = len(versions(own_app))
    assert admin.post("/admin/config/calendar.yaml/deploy", {"text": with_2027(own_app), "comment": " "}).status_code \
        == 422
    assert admin.post("/admin/config/calendar.yaml/deploy",
                      {"text": calendar_text(own_app), "comment": "same"}).status_code == 422
    assert len(versions(own_app)) == count


def test_a_locality_model_error_names_the_field(own_app: Flask, admin: Pages) -> None:
    locality = versions(own_app)[-1].files["config/locality.yaml"]
    bad = locality.replace("capabilities: [administer, audit]", "capabilities: [administer, fly]", 1)
    assert bad != locality
    admin.get("/admin/config/locality.yaml")
    resp = admin.post("/admin/config/locality.yaml/check", {"text": bad})
    assert resp.status_code == 422 and "fly" in text(resp)


@pytest.mark.parametrize("user", ["op-dc", "auditor", "sec-s1c1"])
def test_only_admins_and_nothing_is_deployed_for_others(own_app: Flask, client: FlaskClient, user: str) -> None:
    pages = Pages(client)
    pages.login(user)
    edited = with_2027(own_app)
    assert pages.get("/admin/config").status_code == 403
    assert pages.get("/admin/config/calendar.yaml").status_code == 403
    assert pages.post("/admin/config/calendar.yaml/check", {"text": edited}).status_code == 403
    assert pages.post("/admin/config/calendar.yaml/deploy", {"text": edited, "comment": "x"}).status_code == 403
    assert len(versions(own_app)) == 1


def test_deploy_needs_the_csrf_token(own_app: Flask, admin: Pages) -> None:
    admin.get("/admin/config/calendar.yaml")
    resp = admin.post("/admin/config/calendar.yaml/deploy", {"text": with_2027(own_app), "comment": "x"}, token=False)
    assert resp.status_code == 400 and len(versions(own_app)) == 1


def test_the_admin_check_reports_years_without_a_holiday_table(own_app: Flask, client: FlaskClient) -> None:
    api = Api(client, {})
    files = dict(versions(own_app)[-1].files)
    today = clock.now().date()
    missing = calendar_of(configuration.of_files(files, "test")).years_without_table(today)
    assert (today.year + 1 in missing) == (today.year + 1 > 2026)  # chinesecalendar knows up to 2026
    body = api.post("admin", "/api/processes/check", json={"files": files}).get_json()
    assert body["ok"] and all(any(str(year) in w for w in body["warnings"]) for year in missing)
    assert len(body["warnings"]) == len(missing)
    tables = "".join(f"  {year}:\n    holidays: [{year}-01-01]\n    workdays: []\n" for year in missing)
    files["config/calendar.yaml"] = files["config/calendar.yaml"].replace("years: {}\n", "years:\n" + tables) \
        if tables else files["config/calendar.yaml"]
    body = api.post("admin", "/api/processes/check", json={"files": files}).get_json()
    assert body["ok"] and body["warnings"] == []
