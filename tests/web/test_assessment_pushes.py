"""推送市级 recorded (官渡): who may push a closed street whistle, with a comment; the push is undone until
the bulletin of its month is published; both are events of the case's chain; the case page's button."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.definitions import packs
from app.definitions.scenarios import read_scenarios
from app.models import Case, Event, WhistlePush
from app.services import clock
from app.settings import Settings
from tests.conftest import ROOMY_LIMITS, _fresh_database
from tests.integration.test_packs import HttpPlayer, pack_application
from tests.web.pages_client import Pages, text


@pytest.fixture(scope="module")
def guandu(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpPlayer]:
    for url in _fresh_database(backend, tmp_path_factory):
        app = pack_application("guandu", url, tmp_path_factory.mktemp("pushes"))
        player = HttpPlayer(app)
        for scenario in read_scenarios(packs.find("guandu").scenarios_dir):
            player.play(scenario)
        yield player
        app.extensions["whistle.db"].dispose()


def _month() -> str:
    return f"{clock.now().replace(tzinfo=UTC).astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m}"


def _whistle(player: HttpPlayer, street: str) -> int:
    answer = player.api.get("auditor", f"/api/assessment/units?level=street&month={_month()}").get_json()
    [row] = [r for r in answer["rows"] if r["unit"] == street]
    return int(row["figures"]["whistles_started"]["cases"][0])


def _pushed(player: HttpPlayer) -> dict[str, int]:
    answer = player.api.get("auditor", f"/api/assessment/units?level=street&month={_month()}").get_json()
    return {r["unit"]: r["figures"]["whistles_pushed"]["value"] for r in answer["rows"]}


def _pages(app: Flask, user: str) -> Pages:
    pages = Pages(app.test_client())
    pages.login(user)
    return pages


def test_who_may_push_what(guandu: HttpPlayer) -> None:
    api, closed, escalated = guandu.api, _whistle(guandu, "gd-s2"), _whistle(guandu, "gd-s1")
    assert api.post("sec-s1", f"/api/cases/{closed}/push", json={"comment": "好"}).status_code == 403  # not its street
    assert api.post("auditor", f"/api/cases/{closed}/push", json={"comment": "好"}).status_code == 403
    assert api.post("sec-s2", f"/api/cases/{closed}/push", json={"comment": "  "}).status_code == 422
    assert api.post("sec-s1", f"/api/cases/{escalated}/push", json={"comment": "好"}).status_code == 409  # not solved
    assert api.call("DELETE", "sec-s2", f"/api/cases/{closed}/push").status_code == 409  # nothing to undo
    assert _pushed(guandu) == {"gd-s1": 0, "gd-s2": 0}


def test_push_undo_and_push_again_each_an_event_until_the_bulletin(guandu: HttpPlayer) -> None:
    api, case_id = guandu.api, _whistle(guandu, "gd-s2")
    assert api.post("sec-s2", f"/api/cases/{case_id}/push", json={"comment": "一次办结"}).status_code == 201
    assert api.post("sec-s2", f"/api/cases/{case_id}/push", json={"comment": "again"}).status_code == 409
    assert _pushed(guandu)["gd-s2"] == 1
    assert api.call("DELETE", "sec-s2", f"/api/cases/{case_id}/push").status_code == 200
    assert _pushed(guandu)["gd-s2"] == 0
    assert api.post("sec-gd", f"/api/cases/{case_id}/push", json={"comment": "区里推送"}).status_code == 201
    with guandu.app.extensions["whistle.db"].unit_of_work() as s:
        events = list(s.scalars(select(Event.type).where(Event.case_id == case_id).order_by(Event.seq)))
    assert [e for e in events if "push" in e] == ["whistle_pushed", "whistle_push_undone", "whistle_pushed"]
    # the month's bulletin is published: the push is final
    pages = _pages(guandu.app, "sec-gd")
    pages.get("/assessment/bulletins")
    assert pages.post("/assessment/bulletins", {"unit": "gd", "kind": "month", "month": _month()}).status_code == 302
    assert api.call("DELETE", "sec-s2", f"/api/cases/{case_id}/push").status_code == 409
    assert _pushed(guandu)["gd-s2"] == 1
    assert api.get("auditor", "/api/audit/verify").get_json()["ok"] is True


def test_the_case_page_shows_the_push_and_its_button(guandu: HttpPlayer) -> None:
    case_id = _whistle(guandu, "gd-s2")
    page = text(_pages(guandu.app, "sec-s2").get(f"/cases/{case_id}"))
    assert 'data-testid="push"' in page and "区里推送" in page
    assert 'data-testid="push-undo"' not in page  # the bulletin is out
    other = _whistle(guandu, "gd-s1")
    assert 'data-testid="push-submit"' not in text(_pages(guandu.app, "sec-s1").get(f"/cases/{other}"))  # escalated


def test_the_guandu_demo_pushes_its_closed_street_whistles(empty_database_url: str, tmp_path: Path) -> None:
    application = create_app(Settings(database_url=empty_database_url, testing=True, upload_dir=tmp_path / "up",
                                      anchor_path=tmp_path / "anchors.jsonl", **ROOMY_LIMITS))
    try:
        result = application.test_cli_runner().invoke(args=["demo", "--locality", "guandu", "--no-serve"])
        assert result.exit_code == 0, result.output
        assert "1 closed whistles pushed to the city" in result.output
        with application.extensions["whistle.db"].unit_of_work() as session:
            [push] = session.scalars(select(WhistlePush)).all()
            assert push.undone_at is None and session.get(Case, push.case_id).level == "street"  # type: ignore[union-attr]
    finally:
        application.extensions["whistle.db"].dispose()
