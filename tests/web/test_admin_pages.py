"""流程版本 pages for process admins: the versions list, a version's files, the zip, compare,
upload → check → deploy with a comment, retire and make current again; who may do what, CSRF and
escaping. Each test has a database of its own (own_app): it deploys and retires versions."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.models import Event, ProcessVersion
from app.settings import ROOT
from tests.conftest import Api
from tests.integration.flow import Flow
from tests.web.pages_client import Pages, text

XSS = "<script>alert(1)</script>"
CASE = (ROOT / "processes" / "case.bpmn").read_text(encoding="utf-8")
SCENARIO = (ROOT / "processes" / "scenarios" / "self_handled.yaml").read_text(encoding="utf-8")


@pytest.fixture()
def client(own_app: Flask) -> FlaskClient:  # every test here on its own database
    return own_app.test_client()


@pytest.fixture()
def api(client: FlaskClient) -> Api:  # tokens of this database's users
    return Api(client, {})


@pytest.fixture()
def admin(client: FlaskClient) -> Iterator[Pages]:
    pages = Pages(client)
    pages.login("admin")
    yield pages


def rows(html: str) -> list[dict[str, str]]:
    found = re.findall(r'<tr data-testid="version-row"([^>]*)>', html)
    return [dict(re.findall(r'data-([a-z-]+)="([^"]*)"', attrs)) for attrs in found]


def version_files(app: Flask, number: int) -> dict[str, str]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        version = s.scalar(select(ProcessVersion).where(ProcessVersion.version == number))
        assert version is not None
        return dict(version.files)


def renamed_triage(app: Flask, title: str = "研判分级 Triage v2") -> dict[str, str]:
    files = version_files(app, 1)
    files["case.bpmn"] = files["case.bpmn"].replace('name="研判分级 Triage"', f'name="{title}"')
    return files


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return out.getvalue()


def upload(pages: Pages, files: dict[str, str]) -> str:
    pages.get("/admin/processes/upload")
    resp = pages.post("/admin/processes/upload", {"bundle": (io.BytesIO(zipped(files)), "bundle.zip")},
                      content_type="multipart/form-data")
    assert resp.status_code in (200, 422), text(resp)[:500]
    return text(resp)


def test_the_list_shows_each_version_with_its_comment_files_cases_and_the_current_one(
    own_app: Flask, admin: Pages, api: Api
) -> None:
    Flow(api).report(title="路灯不亮")
    resp = api.post("admin", "/api/processes", json={"files": renamed_triage(own_app), "comment": f"改名 {XSS}"})
    assert resp.status_code == 201 and resp.get_json()["version"] == 2

    html = text(admin.get("/admin/processes"))
    assert [(r["version"], r["current"], r["cases"]) for r in rows(html)] == [("2", "yes", "0"), ("1", "no", "1")]
    assert rows(html)[0]["files"] == str(len(version_files(own_app, 2)))
    assert XSS not in html and "改名 &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-testid="nav-processes"' in html
    listed = api.get("auditor", "/api/processes").get_json()["versions"]
    assert [(v["version"], v["comment"], v["current"], v["cases"]) for v in listed] == [
        (2, f"改名 {XSS}", True, 0), (1, None, False, 1)]


def test_a_version_page_lists_its_files_shows_them_and_downloads_them_as_a_zip(own_app: Flask, admin: Pages) -> None:
    files = version_files(own_app, 1)
    html = text(admin.get("/admin/processes/1"))
    assert re.findall(r'data-testid="file">([^<]+)<', html) == sorted(files)

    page = text(admin.get("/admin/processes/1/files/case.bpmn"))
    assert 'data-bpmn-url="/admin/processes/1/raw/case.bpmn"' in page and "bpmn-navigated-viewer" in page
    assert "&lt;bpmn:userTask id=&#34;triage&#34;" in page or "&lt;bpmn:userTask id=\"triage\"" in page
    raw = admin.get("/admin/processes/1/raw/case.bpmn")
    assert raw.mimetype == "text/plain" and raw.get_data(as_text=True) == files["case.bpmn"]
    form = text(admin.get("/admin/processes/1/files/forms/triage.schema.json"))
    assert "data-bpmn-url" not in form and 'data-testid="source"' in form
    assert admin.get("/admin/processes/1/files/nope.bpmn").status_code == 404

    resp = admin.get("/admin/processes/1.zip")
    assert resp.mimetype == "application/zip" and "processes-v1.zip" in resp.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.data)) as archive:
        assert {n: archive.read(n).decode() for n in archive.namelist()} == files


def test_compare_lists_the_changed_bpmn_element_and_the_text_diff(own_app: Flask, admin: Pages, api: Api) -> None:
    in_xml = XSS.replace("<", "&lt;").replace(">", "&gt;")  # the element's name is the script text
    assert api.post("admin", "/api/processes", json={"files": renamed_triage(own_app, in_xml)}).status_code == 201
    html = text(admin.get("/admin/processes/compare?from=1&to=2"))
    [section] = re.findall(r'data-testid="file-change" data-file="case.bpmn" data-status="changed">(.*?)</section>',
                           html, re.S)
    assert re.search(r'data-testid="elements-changed">.*data-id="triage"', section, re.S)
    assert 'data-testid="elements-added"' not in section
    assert 'data-old-url="/admin/processes/1/raw/case.bpmn" data-new-url="/admin/processes/2/raw/case.bpmn"' in section
    assert 'data-changed="triage"' in section  # marked on both diagrams
    assert XSS not in html and '<span class="add">+' in section

    body = api.get("auditor", "/api/processes/compare?from=1&to=2").get_json()  # auditors see what changed
    [change] = body["files"]
    assert change["name"] == "case.bpmn" and [e["id"] for e in change["elements"]["changed"]] == ["triage"]
    assert text(admin.get("/admin/processes/compare?from=2&to=2")).count('data-testid="no-changes"') == 1
    assert api.get("auditor", "/api/processes/compare?from=1").status_code == 422
    assert api.get("auditor", "/api/processes/compare?from=1&to=9").status_code == 404


def test_upload_check_and_deploy_with_a_comment(own_app: Flask, admin: Pages) -> None:
    files = {**renamed_triage(own_app), "scenarios/self_handled.yaml": SCENARIO}
    html = upload(admin, files)
    assert 'data-testid="check-result" data-ok="yes"' in html
    assert re.findall(r'data-testid="scenario-row" data-ok="([a-z]+)"', html) == ["yes"]
    assert 'data-file="case.bpmn" data-status="changed"' in html  # compared with the current version
    bundle = re.search(r'name="bundle" value="([0-9a-f]{64})"', html)
    assert bundle is not None

    resp = admin.post("/admin/processes/deploy", {"bundle": bundle.group(1), "comment": ""})
    assert resp.status_code == 422  # a comment is required
    resp = admin.post("/admin/processes/deploy", {"bundle": bundle.group(1), "comment": "研判改名"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/processes/2")
    assert "scenarios/self_handled.yaml" not in version_files(own_app, 2)  # scenarios prove; they are not deployed
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        version = s.scalar(select(ProcessVersion).where(ProcessVersion.version == 2))
        assert version is not None and (version.comment, version.deployed_by) == ("研判改名", "admin")
        event = s.scalars(select(Event).where(Event.type == "process_deployed").order_by(Event.id.desc())).first()
        assert event is not None and event.data["comment"] == "研判改名"
    assert admin.post("/admin/processes/deploy", {"bundle": "0" * 64, "comment": "x"}).status_code == 404


def test_the_check_page_draws_the_changed_diagram_beside_the_current_one(own_app: Flask, admin: Pages) -> None:
    files = renamed_triage(own_app)
    html = upload(admin, files)
    [section] = re.findall(r'data-testid="file-change" data-file="case.bpmn" data-status="changed">(.*?)</section>',
                           html, re.S)
    urls = re.search(r'data-old-url="([^"]+)" data-new-url="([^"]+)"', section)
    assert urls is not None and urls.group(1) == "/admin/processes/1/raw/case.bpmn"
    assert 'data-changed="triage"' in section and "admin.js" in html
    resp = admin.get(urls.group(2))  # the checked bundle's own file, the new side of the diff
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert text(resp) == files["case.bpmn"]
    key = re.search(r"/checked/([0-9a-f]{64})/raw/", urls.group(2))
    assert key is not None
    assert admin.get(f"/admin/processes/checked/{key.group(1)}/raw/nothing.bpmn").status_code == 404
    assert admin.get(f"/admin/processes/checked/{'0' * 64}/raw/case.bpmn").status_code == 404
    admin.logout()
    admin.login("auditor")
    assert admin.get(urls.group(2)).status_code == 403  # an upload is the admin's, not yet a version


def test_a_failing_upload_lists_its_problems_and_offers_no_deploy(own_app: Flask, admin: Pages) -> None:
    files = version_files(own_app, 1)
    files["case.bpmn"] = files["case.bpmn"].replace('<bpmn:lane id="lane_platform_operator" name="platform_operator">',
                                                    '<bpmn:lane id="lane_platform_operator" name="nobody_role">')
    html = upload(admin, files)
    assert 'data-ok="no"' in html and "nobody_role" in html and 'data-testid="deploy-form"' not in html

    bad_scenario = SCENARIO.replace("outcome: self_handled", "outcome: dispatched")
    html = upload(admin, {**version_files(own_app, 1), "scenarios/wrong.yaml": bad_scenario})
    assert re.findall(r'data-testid="scenario-row" data-ok="([a-z]+)"', html) == ["no"]
    assert "dispatched" in html and 'data-testid="deploy-form"' not in html

    resp = admin.post("/admin/processes/upload", {"bundle": (io.BytesIO(b"nope"), "b.zip")},
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and 'data-testid="upload-error"' in text(resp)


def test_retire_sends_new_cases_to_the_latest_version_left_and_redeploy_makes_one_current(
    own_app: Flask, admin: Pages, api: Api
) -> None:
    assert api.post("admin", "/api/processes", json={"files": renamed_triage(own_app)}).status_code == 201
    resp = admin.post("/admin/processes/2/retire")
    assert resp.status_code == 302
    case = Flow(api).report(title="退役后的新案件")
    assert api.get("admin", f"/api/cases/{case['id']}").get_json()["process_version"] == 1
    assert admin.post("/admin/processes/2/retire").status_code == 409  # retired already
    assert admin.post("/admin/processes/1/retire").status_code == 409  # the only one left

    resp = admin.post("/admin/processes/2/redeploy", {"comment": "恢复研判改名"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin/processes/3")
    assert version_files(own_app, 3) == version_files(own_app, 2)
    html = text(admin.get("/admin/processes"))
    assert [(r["version"], r["current"], r["retired"]) for r in rows(html)] == [
        ("3", "yes", "no"), ("2", "no", "yes"), ("1", "no", "no")]
    resp = api.post("admin", "/api/processes/3/redeploy")  # the current version's files: nothing new
    assert resp.status_code == 200 and resp.get_json() == {"version": 3, "created": False}
    assert api.post("admin", "/api/processes/1/retire").status_code == 200


@pytest.mark.parametrize("user", ["op-dc", "gw-s1c1g1", "hw-head"])
def test_other_roles_get_403_and_change_nothing(own_app: Flask, client: FlaskClient, api: Api, user: str) -> None:
    pages = Pages(client)
    pages.login(user)
    for path in ("/admin/processes", "/admin/processes/1", "/admin/processes/1/files/case.bpmn",
                 "/admin/processes/1/raw/case.bpmn", "/admin/processes/1.zip", "/admin/processes/upload",
                 "/admin/processes/compare?from=1&to=1", "/admin/processes/1/edit/case.bpmn"):
        assert pages.get(path).status_code == 403, path
    pages.get("/inbox")
    for path, data in (("/admin/processes/1/retire", {}), ("/admin/processes/1/redeploy", {"comment": "x"}),
                       ("/admin/processes/deploy", {"bundle": "0" * 64, "comment": "x"}),
                       ("/admin/drafts", {"version": "1", "file": "case.bpmn", "text": "<x/>"}),
                       ("/admin/drafts/check", {}), ("/admin/drafts/discard", {})):
        assert pages.post(path, data).status_code == 403, path
    assert api.post(user, "/api/processes/1/retire").status_code == 403
    assert api.get(user, "/api/processes/compare?from=1&to=1").status_code == 403
    assert 'data-testid="nav-processes"' not in text(pages.get("/inbox"))
    assert [v["version"] for v in api.get("admin", "/api/processes").get_json()["versions"]] == [1]


def test_auditors_read_versions_and_compare_but_change_nothing(client: FlaskClient) -> None:
    pages = Pages(client)
    pages.login("auditor")
    assert pages.get("/admin/processes").status_code == 200
    assert pages.get("/admin/processes/compare?from=1&to=1").status_code == 200
    assert 'data-testid="retire"' not in text(pages.get("/admin/processes/1"))
    assert pages.get("/admin/processes/upload").status_code == 403
    assert pages.post("/admin/processes/1/redeploy", {"comment": "x"}).status_code == 403


def test_posts_without_the_csrf_token_are_refused(admin: Pages) -> None:
    admin.get("/admin/processes/1")
    assert admin.post("/admin/processes/1/redeploy", {"comment": "x"}, token=False).status_code == 400


def test_cli_deploy_takes_a_comment(own_app: Flask, tmp_path: Path) -> None:
    edited = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", edited)
    (edited / "case.bpmn").write_text(CASE.replace('name="研判分级 Triage"', 'name="研判 CLI"'), encoding="utf-8")
    result = own_app.test_cli_runner().invoke(args=["deploy", str(edited), "--comment", "命令行部署"])
    assert result.exit_code == 0 and result.output.startswith("process version 2 deployed\n")  # then warnings
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        assert s.scalar(select(ProcessVersion.comment).where(ProcessVersion.version == 2)) == "命令行部署"


def test_drafts_are_kept_per_admin_checked_over_their_version_and_deployed(own_app: Flask, admin: Pages) -> None:
    page = text(admin.get("/admin/processes/1/edit/case.bpmn"))
    assert 'data-testid="modeler"' in page and "/admin/vendor/bpmn-modeler.js" in page
    edited = renamed_triage(own_app)["case.bpmn"]
    resp = admin.post("/admin/drafts", {"version": "1", "file": "case.bpmn", "text": edited})
    assert resp.status_code == 200 and resp.get_json()["file"] == "case.bpmn"
    assert "研判分级 Triage v2" in text(admin.get("/admin/processes/1/edit/case.bpmn"))  # a reload loses nothing
    assert admin.post("/admin/drafts", {"version": "1", "file": "nope.bpmn", "text": edited}).status_code == 422
    assert admin.post("/admin/drafts", {"version": "1", "file": "case.bpmn", "text": edited},
                      token=False).status_code == 400

    listing = text(admin.get("/admin/processes"))
    assert 'data-testid="draft" data-file="case.bpmn"' in listing
    resp = admin.post("/admin/drafts/check", {"bundle": (io.BytesIO(SCENARIO.encode()), "self_handled.yaml")},
                      content_type="multipart/form-data")
    html = text(resp)
    assert 'data-ok="yes"' in html and re.findall(r'data-testid="scenario-row" data-ok="([a-z]+)"', html) == ["yes"]
    assert re.search(r'data-testid="elements-changed">.*data-id="triage"', html, re.S)
    bundle = re.search(r'name="bundle" value="([0-9a-f]{64})"', html)
    assert bundle is not None
    resp = admin.post("/admin/processes/deploy", {"bundle": bundle.group(1), "comment": "在浏览器中改名"})
    assert resp.status_code == 302 and version_files(own_app, 2)["case.bpmn"] == edited

    admin.get("/admin/processes")
    assert admin.post("/admin/drafts/discard").status_code == 302
    assert 'data-testid="drafts"' not in text(admin.get("/admin/processes"))
    assert admin.post("/admin/drafts/check").status_code == 422


def test_drafts_checked_without_an_upload_play_the_shipped_scenarios(own_app: Flask, admin: Pages) -> None:
    """An admin working only in the browser has no scenario files to upload: the check plays the
    installation's own (processes/scenarios), every one of them."""
    edited = renamed_triage(own_app)["case.bpmn"]
    assert admin.post("/admin/drafts", {"version": "1", "file": "case.bpmn", "text": edited}).status_code == 200
    html = text(admin.post("/admin/drafts/check", {}, content_type="multipart/form-data"))
    shipped = sorted((ROOT / "processes" / "scenarios").glob("*.yaml"))
    rows = re.findall(r'data-testid="scenario-row" data-ok="([a-z]+)"', html)
    assert len(shipped) > 1 and rows == ["yes"] * len(shipped), html[:800]
    assert admin.post("/admin/drafts/discard").status_code == 302
