"""工单导入 page and API: capability, CSRF, dry run then import, errors naming the field, escaping."""

from __future__ import annotations

import io
import re
import time

from tests.conftest import Api
from tests.fixtures.work_orders import good_rows, prefix, xlsx
from tests.web.pages_client import Pages, text


def _upload(pages: Pages, content: bytes, dry_run: str, name: str = "orders.xlsx", token: bool = True):  # type: ignore[no-untyped-def]
    pages.get("/intake/import")
    return pages.post("/intake/import", {"source": "hotline_12345", "dry_run": dry_run,
                                          "file": (io.BytesIO(content), name)}, token=token,
                      content_type="multipart/form-data")


def test_operator_checks_then_imports_an_export(pages: Pages) -> None:
    pages.login("op-dc")
    page = pages.get("/intake/import")
    assert page.status_code == 200 and 'name="csrf_token"' in text(page)
    assert 'data-testid="nav-import"' in text(page)
    p = prefix()
    content = xlsx(good_rows(p))
    checked = _upload(pages, content, "1")
    assert checked.status_code == 200 and text(checked).count('data-outcome="would_create"') == 3
    assert text(_finished(pages, _upload(pages, content, "0"))).count('data-outcome="created"') == 3
    assert text(_finished(pages, _upload(pages, content, "0"))).count('data-outcome="skipped"') == 3


def _finished(pages: Pages, started):  # type: ignore[no-untyped-def]
    """The real import runs as a background job: its page shows the progress until it has ended."""
    assert started.status_code == 302 and "/intake/import/jobs/" in started.headers["Location"]
    job_path = started.headers["Location"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = pages.get(job_path)
        assert page.status_code == 200 and 'data-testid="import-progress"' in text(page)
        if 'data-status="done"' in text(page):
            return page
        time.sleep(0.2)
    raise AssertionError("the import job did not end")


def test_a_job_page_is_its_operators_own_and_polls_the_job(pages: Pages, api: Api) -> None:
    pages.login("op-dc")
    page = _finished(pages, _upload(pages, xlsx(good_rows(prefix())), "0"))
    assert 'data-poll="/api/intake/jobs/' in text(page) and "import_job.js" in text(page)
    assert "已处理 3 / 3 行" in text(page)
    job_path = re.search(r'/intake/import/jobs/\d+', page.request.path).group(0)
    pages.login("op-s1")
    assert pages.get(job_path).status_code == 404


def test_upload_without_csrf_token_is_refused(pages: Pages) -> None:
    pages.login("op-dc")
    resp = _upload(pages, xlsx(good_rows(prefix())), "1", token=False)
    assert resp.status_code == 400


def test_a_bad_file_is_refused_naming_the_field(pages: Pages) -> None:
    pages.login("op-dc")
    resp = _upload(pages, b"not a workbook", "0")
    assert resp.status_code == 422 and "file" in text(resp)


def test_text_from_the_file_is_escaped(pages: Pages) -> None:
    pages.login("op-dc")
    p = prefix()
    row = good_rows(p)[0]
    row[0] = f"<script>alert(1)</script>{p}"
    row[5] = "<b>宠物</b>"  # an unknown category: its text comes back in the reason
    body = text(_upload(pages, xlsx([row]), "1"))
    assert "<script>alert(1)" not in body and "&lt;script&gt;" in body and "<b>宠物" not in body


def test_users_without_the_capability_get_403(pages: Pages) -> None:
    pages.login("gw-s1c1g1")
    assert pages.get("/intake/import").status_code == 403
    assert 'data-testid="nav-import"' not in text(pages.get("/inbox"))


def test_api_import_with_a_bearer_token(api: Api) -> None:
    p = prefix()
    data = {"source": "hotline_12345", "dry_run": "1", "file": (io.BytesIO(xlsx(good_rows(p))), "o.xlsx")}
    checked = api.post("op-dc", "/api/intake/orders", data=data, content_type="multipart/form-data")
    assert checked.status_code == 200 and checked.get_json()["counts"]["would_create"] == 3
    missing = api.post("op-dc", "/api/intake/orders", data={"source": "hotline_12345"},
                       content_type="multipart/form-data")
    assert missing.status_code == 422 and missing.get_json()["fields"] == {"file": "required"}
    unknown = api.post("op-dc", "/api/intake/orders", content_type="multipart/form-data",
                       data={"source": "nope", "file": (io.BytesIO(b"x"), "o.csv")})
    assert unknown.status_code == 422 and "source" in unknown.get_json()["fields"]
    denied = api.post("cgzf-staff", "/api/intake/orders", content_type="multipart/form-data",
                      data={"file": (io.BytesIO(xlsx(good_rows(p))), "o.xlsx")})
    assert denied.status_code == 403
    assert api.get("op-dc", "/api/intake/sources").get_json()[0]["columns"]["number"] == "办件编号"
