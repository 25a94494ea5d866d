"""迁移案件 page and POST /api/processes/migrations: the dry run per case, migrating the ticked cases,
the diagram and history afterwards, refusals with their reason, and nobody but an admin (403,
nothing stored). Each test has a database of its own (own_app): it deploys versions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.models import Case, Event
from app.services.replay import replay_case
from tests.conftest import Api
from tests.integration.flow import Flow
from tests.integration.migration_fixtures import deploy_files, files_of, triage_as_script, with_confirm_task
from tests.integration.test_migration_data import old_and_new_whistles
from tests.web.pages_client import Pages, text


@pytest.fixture()
def client(own_app: Flask) -> FlaskClient:
    return own_app.test_client()


@pytest.fixture()
def api(client: FlaskClient) -> Api:
    return Api(client, {})


@pytest.fixture()
def admin(client: FlaskClient) -> Iterator[Pages]:
    pages = Pages(client)
    pages.login("admin")
    yield pages


def report_rows(html: str) -> dict[int, dict[str, str]]:
    found = re.findall(r'<tr data-testid="migration-row"([^>]*)>', html)
    return {int(r["case"]): r for r in (dict(re.findall(r'data-([a-z-]+)="([^"]*)"', a)) for a in found)}


def version_of(app: Flask, case_id: int) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.process_version.version


def migrations_stored(app: Flask) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Event).where(Event.type == "case_migrated")) or 0


def test_admin_dry_runs_then_migrates_a_case_whose_diagram_and_history_still_show(
    own_app: Flask, admin: Pages, api: Api
) -> None:
    flow = Flow(api)
    waiting, triaged = flow.report()["id"], flow.report()["id"]
    flow.do("op-dc", triaged, "triage", {"grade": 2, "matter": "garbage_overflow", "urgent": False})
    v2 = deploy_files(own_app, with_confirm_task(files_of(own_app, 1)), "研判后加复核")

    assert 'data-testid="migrations-link"' in text(admin.get("/admin/processes"))
    page = admin.get("/admin/migrations", query_string={"from": 1, "to": v2, "step": "triage"})
    assert page.status_code == 200, text(page)[:500]
    rows = report_rows(text(page))
    assert set(rows) == {waiting} and rows[waiting]["ok"] == "yes"  # only the case at triage was chosen
    assert re.search(r'data-testid="current-step">研判分级[^<]*<code>triage</code>', text(page))  # name, then id
    assert version_of(own_app, waiting) == 1

    done = admin.post("/admin/migrations", {"from": "1", "to": str(v2), "step": "triage", "case": str(waiting)})
    assert done.status_code == 200, text(done)[:500]
    assert report_rows(text(done))[waiting]["migrated"] == "yes"
    assert version_of(own_app, waiting) == v2 and version_of(own_app, triaged) == 1

    diagram = admin.client.get(f"/cases/{waiting}/diagram.json")
    assert diagram.status_code == 200 and diagram.get_json()["process_version"] == v2
    assert 'id="triage_confirm"' in diagram.get_json()["processes"][0]["xml"]
    assert "迁移流程版本" in text(admin.get(f"/cases/{waiting}"))
    flow.do("op-dc", waiting, "triage", {"grade": 2, "matter": "garbage_overflow", "urgent": False})
    flow.do("op-dc", waiting, "triage_confirm", {"feedback": "复核无误"})
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        assert replay_case(s, waiting).ok


def test_the_dry_run_refuses_a_whistle_past_the_step_that_sets_data_the_work_ahead_reads(
    own_app: Flask, admin: Pages, api: Api
) -> None:
    past, before, new = old_and_new_whistles(own_app, Flow(api))
    page = admin.get("/admin/migrations", query_string={"from": 2, "to": new})
    assert page.status_code == 200, text(page)[:500]
    rows = report_rows(text(page))
    assert rows[past]["ok"] == "no" and rows[before]["ok"] == "yes"
    row = text(page)[text(page).index(f'data-case="{past}"'):]
    start = row.index('data-testid="reason"')
    reason = row[start:row.index("</td>", start)]
    assert "不能迁移" in reason and "&#39;handling_departments&#39;" in reason and "handle_all" in reason

    done = admin.post("/admin/migrations", {"from": "2", "to": str(new), "case": [str(past), str(before)]})
    assert done.status_code == 200, text(done)[:500]
    moved = report_rows(text(done))
    assert (moved[past]["migrated"], moved[before]["migrated"]) == ("no", "yes")
    assert version_of(own_app, past) == 2 and version_of(own_app, before) == new


def test_the_api_refuses_a_case_that_cannot_move_and_leaves_it_alone(own_app: Flask, api: Api) -> None:
    flow = Flow(api)
    case_id = flow.report()["id"]
    v2 = deploy_files(own_app, triage_as_script(files_of(own_app, 1)), "自动研判")
    dry = api.post("admin", "/api/processes/migrations", json={"from": 1, "to": v2, "dry_run": True})
    assert dry.status_code == 200, dry.get_json()
    [row] = [r for r in dry.get_json()["cases"] if r["case_id"] == case_id]
    assert not row["ok"] and "changed kind" in row["reason"]

    resp = api.post("admin", "/api/processes/migrations", json={"from": 1, "to": v2, "cases": [case_id]})
    assert resp.status_code == 200, resp.get_json()
    [row] = resp.get_json()["cases"]
    assert (row["ok"], row["migrated"]) == (False, False) and "changed kind" in row["reason"]
    assert version_of(own_app, case_id) == 1 and migrations_stored(own_app) == 0


@pytest.mark.parametrize("body", [
    {"from": 1, "to": 1}, {"from": "x", "to": 2}, {"to": 2}, {"from": 1, "to": 2, "cases": "all"},
    {"from": 1, "to": 2, "dry_run": "yes"}, {"from": 1, "to": 2, "unit": "no-such-unit"},
])
def test_bad_input_is_a_422_naming_the_field(own_app: Flask, api: Api, body: dict[str, object]) -> None:
    deploy_files(own_app, with_confirm_task(files_of(own_app, 1)), "v2")
    resp = api.post("admin", "/api/processes/migrations", json=body)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["fields"]


def test_a_case_outside_the_selection_is_refused_whole(own_app: Flask, api: Api) -> None:
    flow = Flow(api)
    at_triage, elsewhere = flow.report()["id"], flow.report()["id"]
    flow.do("op-dc", elsewhere, "triage", {"grade": 2, "matter": "garbage_overflow", "urgent": False})
    v2 = deploy_files(own_app, with_confirm_task(files_of(own_app, 1)), "v2")
    resp = api.post("admin", "/api/processes/migrations",
                    json={"from": 1, "to": v2, "step": "triage", "cases": [at_triage, elsewhere]})
    assert resp.status_code == 422 and str(elsewhere) in resp.get_json()["message"]
    assert version_of(own_app, at_triage) == 1 and migrations_stored(own_app) == 0


@pytest.mark.parametrize("user", ["op-dc", "auditor", "sec-s1c1"])
def test_only_admins_migrate_and_nothing_is_stored_for_others(
    own_app: Flask, client: FlaskClient, api: Api, user: str
) -> None:
    case_id = Flow(api).report()["id"]
    v2 = deploy_files(own_app, with_confirm_task(files_of(own_app, 1)), "v2")
    body = {"from": 1, "to": v2, "cases": [case_id]}
    assert api.post(user, "/api/processes/migrations", json=body).status_code == 403
    pages = Pages(client)
    pages.login(user)
    assert pages.get("/admin/migrations", query_string={"from": 1, "to": v2}).status_code == 403
    resp = pages.post("/admin/migrations", {"from": "1", "to": str(v2), "case": str(case_id)})
    assert resp.status_code == 403
    assert version_of(own_app, case_id) == 1 and migrations_stored(own_app) == 0


def test_the_migration_form_needs_its_csrf_token(own_app: Flask, admin: Pages, api: Api) -> None:
    case_id = Flow(api).report()["id"]
    v2 = deploy_files(own_app, with_confirm_task(files_of(own_app, 1)), "v2")
    admin.get("/admin/migrations")
    resp = admin.post("/admin/migrations", {"from": "1", "to": str(v2), "case": str(case_id)}, token=False)
    assert resp.status_code == 400
    assert version_of(own_app, case_id) == 1 and migrations_stored(own_app) == 0
