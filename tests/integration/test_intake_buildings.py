"""Buildings as places: loaded from config, found by name (import, Open311), by code and by
coordinates; QR codes per building with a signed token; the public page a code opens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.intake import qr
from app.intake.buildings import distance_m, load_buildings
from app.intake.open311 import create_client
from app.models import Case
from app.services.errors import Invalid
from tests.fixtures.work_orders import prefix, xlsx
from tests.integration.test_intake_import import _run
from tests.web.pages_client import Pages, text

BASE = "/open311/v2"


@pytest.fixture()
def buildings(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["load-buildings"])
    assert result.exit_code == 0 and "buildings loaded: 6" in result.output


@pytest.fixture()
def pages(client: FlaskClient) -> Pages:
    return Pages(client)


def test_distance() -> None:
    assert 100 < distance_m(39.9581, 116.4182, 39.9590, 116.4182) < 101


def test_a_bad_building_file_is_refused_naming_the_entry(app: Flask, tmp_path: Path) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("buildings:\n  - {code: X1, name: 某楼, place: dc-s1}\n", encoding="utf-8")
    with pytest.raises(Invalid, match=r"buildings\[0\]\.place"), app.extensions["whistle.db"].unit_of_work() as s:
        load_buildings(s, bad)
    assert app.test_cli_runner().invoke(args=["load-buildings", str(bad)]).exit_code == 2


def test_open311_finds_the_place_by_building_code_name_and_coordinates(app: Flask, client: FlaskClient,
                                                                       buildings: None) -> None:
    with app.extensions["whistle.db"].unit_of_work() as s:
        key = create_client(s, f"buildings-{prefix()}")
    base = {"api_key": key, "service_code": "garbage_overflow", "description": "垃圾满溢"}
    for where, place in (({"address_id": "B-S1C2-12"}, "dc-s1-c2-g1"),
                         ({"address_string": "育才小区3号楼东侧"}, "dc-s1-c3-g1"),
                         ({"lat": "39.9391", "long": "116.4400"}, "dc-s2-c1-g1")):
        resp = client.post(f"{BASE}/requests.json", data=base | where)
        assert resp.status_code == 201, resp.get_json()
        number = resp.get_json()[0]["service_request_id"]
        assert client.get(f"{BASE}/requests/{number}.json",
                          query_string={"api_key": key}).get_json()[0]["address_id"] == place
    far = client.post(f"{BASE}/requests.json", data=base | {"lat": "31.23", "long": "121.47"})
    assert far.status_code == 400 and "lat" in far.get_json()[0]["description"]


def test_qr_sheet_and_the_report_it_opens(app: Flask, pages: Pages, buildings: None) -> None:
    pages.login("op-s1")
    body = text(pages.get("/intake/places/qr"))
    codes = re.findall(r'data-testid="qr-card" data-code="([^"]+)"', body)
    assert "B-S1C1-01" in codes and "B-S2C1-10" not in codes  # street 1's buildings only
    assert "<svg" in body and "B-S1C1-01" in body
    pages.logout()
    token = qr.sign(app.secret_key, "B-S1C1-01")
    form = pages.get(f"/intake/q/{token}")
    assert form.status_code == 200 and "和平里小区1号楼" in text(form)
    title = f"楼道堆放杂物 {prefix()}"
    sent = pages.post(f"/intake/q/{token}", {"title": title, "matter": "fire_lane_blocked",
                                             "place": "dc-s2-c1-g1"})  # a place in the form is ignored
    assert sent.status_code == 302 and "/track/" in sent.headers["Location"]
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.scalar(select(Case).where(Case.title == title))
        assert (case.channel, case.place.code, case.address) == ("qr_code", "dc-s1-c1-g1", "和平里小区1号楼")


def test_the_sheet_needs_the_capability(pages: Pages) -> None:
    pages.login("gw-s1c1g1")
    assert pages.get("/intake/places/qr").status_code == 403


def test_forged_codes_and_bad_input_are_refused(app: Flask, pages: Pages, buildings: None) -> None:
    assert pages.get(f"/intake/q/{qr.sign('another secret', 'B-S1C1-01')}").status_code == 404
    token = qr.sign(app.secret_key, "B-S1C1-01")
    assert pages.get(f"/intake/q/{token[:-2]}xx").status_code == 404
    assert pages.post(f"/intake/q/{token}", {"title": "楼道杂物"}, token=False).status_code == 400  # no CSRF
    bad = pages.post(f"/intake/q/{token}", {"title": "楼道杂物", "reporter_phone": "<script>"})
    assert bad.status_code == 422 and 'data-field="reporter_phone"' in text(bad)
    assert 'value="<script>"' not in text(bad)


def test_short_code_lookup(pages: Pages, buildings: None) -> None:
    found = pages.get("/intake/q", query_string={"code": "B-S1C1-02"})
    assert found.status_code == 302 and "/intake/q/" in found.headers["Location"]
    missing = pages.get("/intake/q", query_string={"code": "<b>nope</b>"})
    assert missing.status_code == 404 and "<b>nope</b>" not in text(missing)


def test_import_finds_the_place_by_building_name(app: Flask, buildings: None) -> None:
    p = prefix()
    row = [f"{p}-1", "12345热线", "垃圾满溢", "楼下垃圾", "市容环卫", "垃圾清运", "吴先生", "13100131000",
           "和平里北小区11号楼", "2026-12-01 12:00:00", "", "和平街道", "已派发"]
    report = _run(app, xlsx([row]))
    assert report["rows"][0]["outcome"] == "created"
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.scalar(select(Case).where(Case.number == report["rows"][0]["case_number"]))
        assert case.place.code == "dc-s1-c1-g2"
