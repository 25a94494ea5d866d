"""Login, logout, CSRF, language switch and error pages."""

from __future__ import annotations

from tests.conftest import Api
from tests.web.pages_client import Pages, text


def test_pages_need_a_login_and_come_back_after_it(pages: Pages) -> None:
    resp = pages.get("/")
    assert resp.status_code == 302 and resp.location.startswith("/login?next=/")
    assert pages.get("/cases/1").location == "/login?next=/cases/1"
    pages.get("/login?next=/cases/1")
    resp = pages.post("/login", {"username": "op-dc", "password": "demo1234", "next": "/cases/1"})
    assert resp.status_code == 302 and resp.location == "/cases/1"


def test_wrong_password_is_refused_with_a_message(pages: Pages) -> None:
    pages.get("/login")
    resp = pages.post("/login", {"username": "op-dc", "password": "nope"})
    assert resp.status_code == 401
    assert "用户名或密码错误" in text(resp)
    assert pages.get("/").status_code == 302


def test_login_never_redirects_to_another_site(pages: Pages) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        pages.get("/login")
        resp = pages.post("/login", {"username": "op-dc", "password": "demo1234", "next": target})
        assert resp.location == "/", target
        pages.logout()


def test_forms_without_the_csrf_token_are_refused(pages: Pages) -> None:
    resp = pages.post("/login", {"username": "op-dc", "password": "demo1234"}, token=False)
    assert resp.status_code == 400 and "安全令牌" in text(resp)
    assert pages.get("/").status_code == 302  # not logged in
    pages.login("op-dc")
    pages.get("/")
    assert pages.post("/logout", token=False).status_code == 400
    assert pages.post("/cases/1/comments", {"body": "x"}, token=False).status_code == 400
    assert pages.post("/tasks/1/claim", token=False).status_code == 400
    assert pages.post("/lang/en", token=False).status_code in (400, 405)


def test_the_json_api_needs_no_csrf_token(api: Api) -> None:
    assert api.get("op-dc", "/api/me").status_code == 200
    assert api.post("op-dc", "/api/reports", json={"title": "无令牌", "grid": "x", "channel": "web"}).status_code == 422


def test_logout_ends_the_session(pages: Pages) -> None:
    pages.login("op-dc")
    assert pages.get("/").status_code == 200
    pages.get("/")
    resp = pages.post("/logout")
    assert resp.status_code == 302 and resp.location == "/login"
    assert pages.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(pages: Pages) -> None:
    pages.get("/login")
    resp = pages.post("/login", {"username": "op-dc", "password": "demo1234"})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_chinese_by_default_english_on_request(pages: Pages) -> None:
    resp = pages.get("/login")
    assert '<html lang="zh-CN">' in text(resp) and "工作人员登录" in text(resp)
    resp = pages.get("/lang/en?next=/login")
    assert resp.status_code == 302 and resp.location == "/login"
    page = text(pages.get("/login"))
    assert '<html lang="en">' in page and "Staff login" in page and "工作人员登录" not in page
    pages.login("op-dc")  # the choice survives the login
    assert "My inbox" in text(pages.get("/"))
    pages.get("/lang/zh_CN?next=/")
    assert "我的待办" in text(pages.get("/"))
    assert pages.get("/lang/xx").status_code == 404
    assert pages.get("/lang/en?next=https://evil.example/").location == "/"


def test_unknown_pages_get_the_error_page_and_the_api_keeps_json(pages: Pages, api: Api) -> None:
    resp = pages.get("/no/such/page")
    assert resp.status_code == 404 and "未找到" in text(resp) and resp.mimetype == "text/html"
    resp = api.get(None, "/api/no/such")
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"


def test_the_language_links_of_a_form_shown_again_lead_to_a_page_not_to_the_post_address(pages: Pages,
                                                                                          api: Api) -> None:
    case_id = api.post("gw-s1c1g1", "/api/reports", json={"title": "语言链接", "grid": "dc-s1-c1-g1",
                                                          "channel": "grid_patrol"}).get_json()["id"]
    pages.login("op-dc")
    pages.get(f"/cases/{case_id}")
    html = text(pages.post(f"/cases/{case_id}/comments", {"body": ""}))
    assert f'href="/lang/en?next=/cases/{case_id}"' in html


def test_pages_forbid_inline_scripts_and_framing(pages: Pages) -> None:
    for path in ("/login", "/report", "/no/such/page"):
        csp = pages.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert "<script>" not in text(pages.get("/login"))  # every script is a file the app serves
