"""Attachments: photos and PDFs on a case — checked by content, stored outside the web root under a
generated name, served only to users who may see the case, refused whole with nothing stored."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from PIL import Image
from sqlalchemy import func, select

from app.attachments import service
from app.models import Attachment, Case, Event
from app.services.errors import Invalid
from tests.conftest import PASSWORD, Api, cookie_logout
from tests.integration.flow import Flow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def picture(kind: str = "JPEG", size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, kind)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture()
def folder(app: Flask) -> Path:
    return Path(app.extensions["whistle.settings"].upload_dir)


@pytest.fixture()
def case_id(api: Api) -> int:
    return int(Flow(api).report(title="垃圾堆放 附件")["id"])


def login(client: FlaskClient, username: str) -> None:
    resp = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_json()


def csrf_token(app: Flask, client: FlaskClient) -> str:
    """A valid Flask-WTF token for this client's session (harmless where CSRF is off)."""
    raw = "3b" * 20
    with client.session_transaction() as sess:
        sess["csrf_token"] = raw
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


def upload(app: Flask, client: FlaskClient, case_id: int, *files: tuple[bytes, str], **form: Any) -> Any:
    data: dict[str, Any] = {"csrf_token": csrf_token(app, client), "next": f"/cases/{case_id}", **form}
    data["files"] = [(io.BytesIO(content), name) for content, name in files]
    return client.post(f"/cases/{case_id}/attachments", data=data, content_type="multipart/form-data")


def flashes(client: FlaskClient) -> list[tuple[str, str]]:
    with client.session_transaction() as sess:
        return list(sess.get("_flashes", []))


def state(app: Flask, folder: Path, case_id: int) -> tuple[int, int, list[str]]:
    """(attachment rows, attachment events, files on disk) — what an upload may have left behind."""
    with app.extensions["whistle.db"].unit_of_work() as s:
        rows = s.scalar(select(func.count()).select_from(Attachment).where(Attachment.case_id == case_id)) or 0
        events = s.scalar(select(func.count()).select_from(Event).where(
            Event.case_id == case_id, Event.type == "attachment_added")) or 0
    return rows, events, sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_photo_is_stored_with_thumbnail_event_and_served_to_those_who_see_the_case(
    app: Flask, client: FlaskClient, folder: Path, case_id: int
) -> None:
    login(client, "op-dc")
    jpeg = picture()
    resp = upload(app, client, case_id, (jpeg, "现场.jpg"))
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/cases/{case_id}")
    assert flashes(client)[-1][0] == "success"
    with app.extensions["whistle.db"].unit_of_work() as s:
        row = s.scalars(select(Attachment).where(Attachment.case_id == case_id)).one()
        case = s.get(Case, case_id)
        event = s.scalars(select(Event).where(Event.case_id == case_id, Event.type == "attachment_added")).one()
        assert (row.original_name, row.content_type, row.size, row.width, row.height) == (
            "现场.jpg", "image/jpeg", len(jpeg), 800, 600)
        assert row.has_thumbnail and not row.public and row.stored_name.endswith(".jpg")
        assert "现场" not in row.stored_name
        assert event.actor == "op-dc" and event.data["attachment_id"] == row.id
        assert case.event_count == event.seq
    assert (folder / row.stored_name).read_bytes() == jpeg
    with Image.open(folder / f"{Path(row.stored_name).stem}.thumb.jpg") as thumb:
        assert max(thumb.size) == 320

    got = client.get(f"/attachments/{row.id}")
    assert got.status_code == 200 and got.data == jpeg and got.mimetype == "image/jpeg"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/attachments/{row.id}?thumb=1").mimetype == "image/jpeg"

    login(client, "gw-s1c1g1")  # the reporting grid's worker sees the case
    assert client.get(f"/attachments/{row.id}").status_code == 200
    login(client, "gw-s2c1g1")  # another street's grid worker does not: 404, not 403
    assert client.get(f"/attachments/{row.id}").status_code == 404
    assert client.get(f"/attachments/{row.id}?thumb=1").status_code == 404
    cookie_logout(client)
    resp = client.get(f"/attachments/{row.id}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


@pytest.mark.parametrize(
    ("content", "name", "says"),
    [
        (PNG_MAGIC + b"\0" * 64, "photo.pdf", "does not match"),  # lying extension
        (picture("PNG"), "photo.jpg", "does not match"),  # a real PNG called .jpg
        (b"<?php system($_GET['c']); ?>", "shell.jpg", "only"),  # not a picture at all
        (b"GIF89a" + b"\0" * 64, "anim.gif", "only"),  # a type that is not allowed
        (picture()[:300], "cut.jpg", "damaged"),  # a truncated JPEG
        (PNG_MAGIC + b"garbage" * 20, "fake.png", "damaged"),  # magic bytes but no picture
        (b"%PDF-1.4\n no end", "doc.pdf", "incomplete"),
        (b"", "empty.jpg", "empty"),
        (b"\xff\xd8\xff" + b"\0" * service.MAX_BYTES, "huge.jpg", "10 MB"),  # 10 MB + 3 bytes
    ],
)
def test_refused_uploads_leave_nothing_behind(
    app: Flask, client: FlaskClient, folder: Path, case_id: int, content: bytes, name: str, says: str
) -> None:
    login(client, "op-dc")
    before = state(app, folder, case_id)
    resp = upload(app, client, case_id, (content, name))
    assert resp.status_code == 302
    category, message = flashes(client)[-1]
    assert category == "error" and says in message, message
    assert state(app, folder, case_id) == before


def test_one_bad_file_refuses_the_whole_request_and_deletes_files_already_written(
    app: Flask, client: FlaskClient, folder: Path, case_id: int
) -> None:
    login(client, "op-dc")
    before = state(app, folder, case_id)
    resp = upload(app, client, case_id, (picture(), "good.jpg"), (PDF, "fine.pdf"), (b"MZ\x90\0", "virus.pdf"))
    assert resp.status_code == 302 and flashes(client)[-1][0] == "error"
    assert state(app, folder, case_id) == before


def test_pdf_and_webp_are_accepted_and_a_name_cannot_escape_the_folder(
    app: Flask, client: FlaskClient, folder: Path, case_id: int
) -> None:
    login(client, "staff-s1c1")
    resp = upload(app, client, case_id, (PDF, "../../../etc/passwd.pdf"), (picture("WEBP"), "..\\..\\x.webp"))
    assert resp.status_code == 302 and flashes(client)[-1][0] == "success"
    with app.extensions["whistle.db"].unit_of_work() as s:
        rows = s.scalars(select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id)).all()
    assert [(r.original_name, r.content_type, r.has_thumbnail) for r in rows] == [
        ("passwd.pdf", "application/pdf", False), ("x.webp", "image/webp", True)]
    for row in rows:
        assert (folder / row.stored_name).resolve().parent == folder.resolve()
    got = client.get(f"/attachments/{rows[0].id}")
    assert got.status_code == 200 and got.mimetype == "application/pdf" and got.data == PDF
    assert client.get(f"/attachments/{rows[0].id}?thumb=1").status_code == 404  # PDFs have none
    assert not (folder.parent / "etc").exists()


def test_who_may_upload(app: Flask, client: FlaskClient, folder: Path, case_id: int) -> None:
    before = state(app, folder, case_id)
    login(client, "auditor")  # reads every case, changes nothing
    resp = upload(app, client, case_id, (picture(), "a.jpg"))
    assert resp.status_code == 302 and flashes(client)[-1][0] == "error"
    login(client, "gw-s2c1g1")  # cannot see the case at all
    assert upload(app, client, case_id, (picture(), "a.jpg")).status_code == 404
    assert upload(app, client, 10**12, (picture(), "a.jpg")).status_code == 404
    cookie_logout(client)
    resp = upload(app, client, case_id, (picture(), "a.jpg"))
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert state(app, folder, case_id) == before


def test_next_cannot_send_the_user_to_another_site(app: Flask, client: FlaskClient, case_id: int) -> None:
    login(client, "op-dc")
    resp = upload(app, client, case_id, (picture(), "a.jpg"), next="https://evil.example/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/cases/{case_id}")


def test_tracking_code_serves_public_attachments_only(
    app: Flask, client: FlaskClient, folder: Path, case_id: int
) -> None:
    login(client, "op-dc")
    upload(app, client, case_id, (picture(), "internal.jpg"))
    upload(app, client, case_id, (picture(size=(300, 200)), "fixed.jpg"), public="1")
    cookie_logout(client)
    with app.extensions["whistle.db"].unit_of_work() as s:
        code = s.get(Case, case_id).tracking_code
        internal, public = s.scalars(select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id))
    assert public.public and not internal.public
    assert client.get(f"/track/{code}/attachments/{public.id}").status_code == 200
    assert client.get(f"/track/{code.lower()}/attachments/{public.id}?thumb=1").status_code == 200
    assert client.get(f"/track/{code}/attachments/{internal.id}").status_code == 404
    assert client.get(f"/track/NOSUCHCODE/attachments/{public.id}").status_code == 404
    other = other_tracking_code(app, client)
    assert client.get(f"/track/{other}/attachments/{public.id}").status_code == 404


def other_tracking_code(app: Flask, client: FlaskClient) -> str:
    """The tracking code of another case (a public attachment must not leak through it)."""
    resp = client.post("/api/public/reports", json={"title": "另一件事", "grid": "dc-s1-c1-g1", "channel": "web"})
    assert resp.status_code == 201
    return str(resp.get_json()["tracking_code"])


def test_public_report_photos_are_stored_public_and_refusal_rolls_back(app: Flask, folder: Path) -> None:
    """What the public report page does with its photo field (service level, no page needed)."""
    from app.services import cases

    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        case = cases.file_report(s, None, {"title": "路面坑洼", "grid": "dc-s1-c1-g1", "channel": "web"})
        row = service.store(s, case, service.Upload("IMG_0001.JPG", picture()), None, folder=folder, public=True)
        case_id = case.id
    assert row.public and row.uploaded_by_id is None and (folder / row.stored_name).exists()
    files_before = sorted(folder.iterdir())
    with pytest.raises(Invalid) as refused, db.unit_of_work() as s:
        case = cases.file_report(s, None, {"title": "路面坑洼2", "grid": "dc-s1-c1-g1", "channel": "web"})
        service.store(s, case, service.Upload("a.jpg", picture()), None, folder=folder, public=True, field="photo")
        service.store(s, case, service.Upload("b.jpg", b"not a photo"), None, folder=folder, field="photo")
    assert "photo" in refused.value.fields
    assert sorted(folder.iterdir()) == files_before
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.title == "路面坑洼2")) == 0
        assert s.get(Case, case_id) is not None


def test_clean_name_and_sniff() -> None:
    assert service.clean_name("../../etc/passwd") == "passwd"
    assert service.clean_name("C:\\Users\\x\\照片.JPG") == "照片.JPG"
    assert service.clean_name("a\x00b\u202e.jpg") == "ab.jpg"
    assert service.clean_name("..") == "upload"
    assert len(service.clean_name("长" * 500 + ".jpg")) == service.NAME_LENGTH
    assert service.clean_name("长" * 500 + ".jpg").endswith(".jpg")
    assert service.sniff(picture()) == "image/jpeg"
    assert service.sniff(picture("PNG")) == "image/png"
    assert service.sniff(picture("WEBP")) == "image/webp"
    assert service.sniff(PDF) == "application/pdf"
    assert service.sniff(b"GIF89a") is None


def test_decompression_bomb_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (9000, 9000)).save(out, "PNG")  # 81 MP, a few KB on disk
    with pytest.raises(Invalid, match="pixels"):
        service.check(service.Upload("bomb.png", out.getvalue()))


# --- the JSON API -------------------------------------------------------------------------------


def test_api_upload_list_and_download_match_the_openapi_document(
    app: Flask, api: Api, folder: Path, case_id: int
) -> None:
    from tests.integration.test_openapi import Checker

    check = Checker(api, api.get(None, "/api/openapi.json").get_json())
    jpeg = picture()
    body = check("staff-s1c1", "post", "/api/cases/{case_id}/attachments", 201, case_id=case_id,
                 data={"files": [(io.BytesIO(jpeg), "现场.jpg"), (io.BytesIO(PDF), "记录.pdf")], "public": "1"},
                 content_type="multipart/form-data")
    photo, pdf = body["attachments"]
    assert (photo["name"], photo["is_image"], photo["public"], pdf["thumb_url"]) == ("现场.jpg", True, True, None)
    listed = check("auditor", "get", "/api/cases/{case_id}/attachments", 200, case_id=case_id)
    assert [a["id"] for a in listed["attachments"]][-2:] == [photo["id"], pdf["id"]]

    got = api.get("op-dc", photo["url"])
    assert got.status_code == 200 and got.data == jpeg and got.mimetype == "image/jpeg"
    assert api.get("op-dc", photo["thumb_url"]).mimetype == "image/jpeg"
    assert api.get("gw-s2c1g1", photo["url"]).status_code == 404
    check("gw-s2c1g1", "get", "/api/attachments/{attachment_id}", 404, attachment_id=photo["id"])
    check(None, "get", "/api/attachments/{attachment_id}", 401, attachment_id=photo["id"])

    before = state(app, folder, case_id)
    refused = check("staff-s1c1", "post", "/api/cases/{case_id}/attachments", 422, case_id=case_id,
                    data={"files": [(io.BytesIO(jpeg), "ok.jpg"), (io.BytesIO(b"<html>"), "x.png")]},
                    content_type="multipart/form-data")
    assert "files" in refused["fields"]
    check("auditor", "post", "/api/cases/{case_id}/attachments", 403, case_id=case_id,
          data={"files": [(io.BytesIO(jpeg), "a.jpg")]}, content_type="multipart/form-data")
    check("gw-s2c1g1", "post", "/api/cases/{case_id}/attachments", 404, case_id=case_id,
          data={"files": [(io.BytesIO(jpeg), "a.jpg")]}, content_type="multipart/form-data")
    check("staff-s1c1", "post", "/api/cases/{case_id}/attachments", 422, case_id=case_id, data={},
          content_type="multipart/form-data")
    assert state(app, folder, case_id) == before


def test_api_upload_body_limit_is_raised_only_for_uploads(api: Api, case_id: int) -> None:
    """Two 6 MB photos pass the request limit of an upload; the same bytes elsewhere are a 413."""
    big = b"\xff\xd8\xff" + b"\0" * (6 * 1024 * 1024)
    resp = api.post("staff-s1c1", f"/api/cases/{case_id}/attachments",
                    data={"files": [(io.BytesIO(big), "a.jpg"), (io.BytesIO(big), "b.jpg")]},
                    content_type="multipart/form-data")
    assert resp.status_code == 422 and "damaged" in resp.get_json()["message"]  # read whole, judged by content
    resp = api.post("staff-s1c1", "/api/reports", data=big, content_type="application/json")
    assert resp.status_code == 413


def test_staff_who_talk_to_the_reporter_decide_what_the_tracking_page_shows(
    app: Flask, client: FlaskClient, case_id: int
) -> None:
    login(client, "op-dc")
    upload(app, client, case_id, (picture(), "有路人.jpg"), public="1")
    with app.extensions["whistle.db"].unit_of_work() as s:
        code = s.get(Case, case_id).tracking_code
        row = s.scalars(select(Attachment).where(Attachment.case_id == case_id)).one()
    public_url = f"/track/{code}/attachments/{row.id}"
    form = {"csrf_token": csrf_token(app, client), "public": "0", "next": f"/cases/{case_id}"}
    assert client.post(f"/attachments/{row.id}/visibility", data=form).status_code == 302
    assert client.get(public_url).status_code == 404
    login(client, "gw-s1c1g1")  # sees the case, but does not decide what the reporter sees
    form["csrf_token"], form["public"] = csrf_token(app, client), "1"
    assert client.post(f"/attachments/{row.id}/visibility", data=form).status_code == 403
    login(client, "gw-s2c1g1")  # cannot see the case
    form["csrf_token"] = csrf_token(app, client)
    assert client.post(f"/attachments/{row.id}/visibility", data=form).status_code == 404
    login(client, "staff-s1c1")
    form["csrf_token"] = csrf_token(app, client)
    assert client.post(f"/attachments/{row.id}/visibility", data=form).status_code == 302
    assert client.get(public_url).status_code == 200
    with app.extensions["whistle.db"].unit_of_work() as s:
        changes = s.scalars(select(Event).where(Event.case_id == case_id, Event.type == "attachment_visibility")
                            .order_by(Event.seq)).all()
    assert [(e.actor, e.data["public"]) for e in changes] == [("op-dc", False), ("staff-s1c1", True)]


def test_a_savepoint_rolled_back_does_not_delete_files_whose_rows_commit(app: Flask, folder: Path,
                                                                         case_id: int) -> None:
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        case = s.get(Case, case_id)
        row = service.store(s, case, service.Upload("a.jpg", picture()), None, folder=folder)
        savepoint = s.begin_nested()
        savepoint.rollback()
    assert (folder / row.stored_name).exists()
    with db.unit_of_work() as s:
        assert s.get(Attachment, row.id) is not None
