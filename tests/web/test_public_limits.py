"""The public pages' limits per address (reports, photo bytes a day, tracking lookups), with a clear
message and nothing stored; and photos shown to the public without their location metadata."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from app.models import Attachment, Case
from tests.conftest import PASSWORD
from tests.web.pages_client import Pages, text
from tests.web.test_login_security import address

PLACE = {"place_1": "dc-s1", "place_2": "dc-s1-c1", "place": "dc-s1-c1-g1"}  # 街道 → 社区 → 网格
REPORT = {"title": "路灯不亮", "grid": "dc-s1-c1-g1", "channel": "web"}


@pytest.fixture()
def limits(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    settings = app.extensions["whistle.settings"]
    for name, value in {"public_reports_per_hour": 2, "public_upload_mb_per_day": 1,
                        "public_upload_total_mb_per_day": 1000, "track_lookups_per_hour": 3}.items():
        monkeypatch.setattr(settings, name, value)
    return settings


def cases(app: Flask) -> int:
    with app.extensions["whistle.db"].sessions() as s:
        return s.scalar(select(func.count()).select_from(Case)) or 0


def test_public_reports_from_one_address_are_limited(app: Flask, client: FlaskClient, limits: Any) -> None:
    here = address()
    for _ in range(2):
        assert client.post("/api/public/reports", json=REPORT, environ_base=here).status_code == 201
    before = cases(app)
    resp = client.post("/api/public/reports", json=REPORT, environ_base=here)
    assert resp.status_code == 429 and "上报过于频繁" in resp.get_json()["message"]
    assert 0 < int(resp.headers["Retry-After"]) <= 3600
    pages = Pages(client)
    pages.get("/report")
    resp = client.post("/report", data={**PLACE, "title": "再报一次", "csrf_token": pages.token}, environ_base=here)
    assert resp.status_code == 429 and "上报过于频繁" in text(resp) and 'value="再报一次"' in text(resp)
    assert cases(app) == before
    assert client.post("/api/public/reports", json=REPORT, environ_base=address()).status_code == 201


def _noise_png(kb: int) -> io.BytesIO:
    side = int((kb * 1024 / 3) ** 0.5)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    out.seek(0)
    return out


def test_the_daily_photo_quota_refuses_more_photos_and_stores_nothing(app: Flask, client: FlaskClient,
                                                                     limits: Any) -> None:
    limits.public_reports_per_hour = 5  # (monkeypatched: put back after the test)
    here, pages = address(), Pages(client)
    pages.get("/report")

    def report(title: str, **files: Any) -> Any:
        return client.post("/report", data={**PLACE, "title": title, "csrf_token": pages.token, **files},
                           content_type="multipart/form-data", environ_base=here)

    assert report("第一张", photo=(_noise_png(600), "a.png")).status_code == 302
    before = cases(app), _attachments(app)
    resp = report("第二张", photo=(_noise_png(600), "b.png"))
    assert resp.status_code == 429 and "今日上传照片已达上限" in text(resp)
    assert (cases(app), _attachments(app)) == before
    assert report("不带照片").status_code == 302  # the quota is for photos: a report without one goes in


def _attachments(app: Flask) -> int:
    with app.extensions["whistle.db"].sessions() as s:
        return s.scalar(select(func.count()).select_from(Attachment)) or 0


def test_tracking_lookups_from_one_address_are_limited(client: FlaskClient, limits: Any) -> None:
    here = address()
    code = client.post("/api/public/reports", json=REPORT, environ_base=here).get_json()["tracking_code"]
    assert client.get(f"/track/{code}", environ_base=here).status_code == 200
    assert client.get("/track/GUESS0001", environ_base=here).status_code == 404
    assert client.get(f"/api/public/track/{code}", environ_base=here).status_code == 200
    resp = client.get(f"/track/{code}", environ_base=here)
    assert resp.status_code == 429 and "查询过于频繁" in text(resp) and resp.headers["Retry-After"]
    resp = client.get("/api/public/track/GUESS0002", environ_base=here)
    assert resp.status_code == 429 and resp.get_json()["error"] == "too_many_requests"
    assert client.get(f"/track/{code}", environ_base=address()).status_code == 200


def _gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}  # 天安门
    out = io.BytesIO()
    Image.new("RGB", (80, 40), (30, 140, 60)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def _gps(data: bytes) -> dict[int, Any]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(0x8825))


def test_photos_shown_to_the_public_carry_no_location_and_staff_keep_the_original(
        app: Flask, pages: Pages) -> None:
    original = _gps_jpeg()
    assert _gps(original)
    pages.get("/report")
    resp = pages.post("/report", {**PLACE, "title": "带定位的照片", "photo": (io.BytesIO(original), "p.jpg")},
                      content_type="multipart/form-data")
    code = re.match(r"/track/([0-9A-F]+)", resp.location).group(1)  # type: ignore[union-attr]
    html = text(pages.get(f"/track/{code}"))
    links = set(re.findall(rf'"(/track/{code}/attachments/\d+(?:\?thumb=1)?)"', html))
    assert len(links) == 2, links  # the photo and its thumbnail
    for link in links:
        shown = pages.get(link).data
        assert _gps(shown) == {} and b"Exif" not in shown, link
    with Image.open(io.BytesIO(pages.get(min(links)).data)) as image:
        assert image.size == (40, 80)  # upright, as the EXIF rotation said
    attachment_id = re.search(r"/attachments/(\d+)", min(links)).group(1)  # type: ignore[union-attr]
    staff = app.test_client()
    assert staff.post("/api/login", json={"username": "op-dc", "password": PASSWORD}).status_code == 200
    kept = staff.get(f"/attachments/{attachment_id}").data
    assert kept == original and _gps(kept)  # the untouched original, as evidence
