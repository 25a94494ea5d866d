"""A NUL byte anywhere a request carries text is a 400 naming it (PostgreSQL cannot hold NUL: it was
a 500 there), and a title with nothing visible in it is refused by name; neither changes anything."""

from __future__ import annotations

import pytest
from flask import Flask

from app.models import Case
from tests.conftest import Api
from tests.integration.test_bad_input import REPORT, assert_error, count
from tests.web.pages_client import Pages, text


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/tokens", {"username": "op-dc\x00", "password": "demo1234"}),
    ("POST", "/api/login", {"username": "op\x00dc", "password": "demo1234"}),
    ("POST", "/api/tokens", {"username": "op-dc", "password": "demo\x001234"}),
])
def test_nul_in_a_username_is_a_400(api: Api, method: str, path: str, body: dict[str, str]) -> None:
    resp = api.client.open(path, method=method, json=body)
    assert "NUL" in assert_error(resp, 400, "bad_request")["message"]
    assert "Set-Cookie" not in resp.headers


@pytest.mark.parametrize("path", [
    "/api/public/track/AB%00CD", "/api/inbox?task_type=triage%00", "/api/inbox?level=%00",
    "/api/inbox?category=a%00b", "/api/cases/1?x%00=1",
])
def test_nul_in_an_api_path_or_query_is_a_400(api: Api, path: str) -> None:
    assert "NUL" in assert_error(api.get("op-dc", path), 400, "bad_request")["message"]


def test_nul_in_the_assignee_is_a_400(api: Api) -> None:
    resp = api.post("op-dc", "/api/tasks/1/assign", json={"username": "op-dc\x00"})
    assert "NUL" in assert_error(resp, 400)["message"]


@pytest.mark.parametrize("path", ["/track/AB%00CD", "/cases?number=2026%00", "/?task_type=%00",
                                  "/?level=x%00", "/track?code=%00"])
def test_nul_in_a_page_address_is_a_400_page(pages: Pages, path: str) -> None:
    pages.login("op-dc")
    resp = pages.get(path)
    assert resp.status_code == 400 and "空字符" in text(resp)


def test_nul_in_the_login_form_or_assign_form_is_a_400(pages: Pages) -> None:
    pages.get("/login")
    resp = pages.post("/login", {"username": "op-dc\x00", "password": "demo1234"})
    assert resp.status_code == 400 and "空字符" in text(resp)
    pages.login("op-dc")
    pages.get("/")
    resp = pages.post("/tasks/1/assign", {"username": "x\x00"})
    assert resp.status_code == 400 and "空字符" in text(resp)


@pytest.mark.parametrize("title", ["   ", "\u200b\u200b\u200b", " \u200b\u200c\u200d\ufeff ", "\u3000\u3000",
                                   "\u2060\u00a0\u2028"])
def test_a_title_with_nothing_visible_is_refused(api: Api, app: Flask, title: str) -> None:
    before = count(app, Case)
    body = assert_error(api.post("gw-s1c1g1", "/api/reports", json=REPORT | {"title": title}), 422, "invalid")
    assert "title" in body["fields"]
    body = assert_error(api.post(None, "/api/public/reports", json=REPORT | {"title": title, "channel": "web"}), 422)
    assert "标题" in body["fields"]["title"]
    assert count(app, Case) == before
