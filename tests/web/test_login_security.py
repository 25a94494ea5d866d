"""Login back-off per account and per address, answers that do not tell whether a user exists, failed
logins recorded (and aggregated) in the audit log, server-side sessions with timeouts, and the CSRF
token on every API write made with the session cookie."""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app import create_app
from app.models import Case, Event, User
from app.services import clock
from app.settings import Settings
from tests.conftest import PASSWORD
from tests.web.pages_client import Pages, text

RIGHT = "right-pass-1"
_addresses = itertools.count(1)


def address() -> dict[str, Any]:
    """A client address no other test uses, so its counts start at zero."""
    n = next(_addresses)
    return {"REMOTE_ADDR": f"203.0.{113 + n // 250}.{n % 250 + 1}"}


@pytest.fixture()
def limits(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    settings = app.extensions["whistle.settings"]
    for name, value in {"login_account_failures": 3, "login_address_failures": 6, "login_lockout_seconds": 30,
                        "login_lockout_max_seconds": 900, "session_idle_minutes": 30, "session_max_hours": 2}.items():
        monkeypatch.setattr(settings, name, value)
    return settings


@pytest.fixture()
def later(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Move the test clock forward by a timedelta; put back after the test."""
    monkeypatch.setattr(clock, "_offset", clock._offset)

    def advance(delta: timedelta) -> None:
        monkeypatch.setattr(clock, "_offset", clock._offset + delta)

    yield advance


def new_user(app: Flask) -> str:
    name = f"u-{uuid.uuid4().hex[:10]}"
    with app.extensions["whistle.db"].unit_of_work() as s:
        s.add(User(username=name, name=name, password_hash=generate_password_hash(RIGHT), active=True))
    return name


def token(client: FlaskClient, username: str, password: str, where: dict[str, Any]) -> Any:
    return client.post("/api/tokens", json={"username": username, "password": password}, environ_base=where)


def test_wrong_passwords_lock_the_account_even_for_the_right_one_with_growing_back_off(
        app: Flask, client: FlaskClient, limits: Any, later: Any) -> None:
    user = new_user(app)
    for _ in range(3):  # from a new address each time: the account itself is locked
        assert token(client, user, "wrong", address()).status_code == 401
    resp = token(client, user, RIGHT, address())
    body = resp.get_json()
    assert resp.status_code == 429 and body["error"] == "too_many_requests" and "秒后再试" in body["message"]
    assert 25 <= int(resp.headers["Retry-After"]) <= 30
    later(timedelta(seconds=31))
    assert token(client, user, "wrong", address()).status_code == 401  # one more: the lock doubles
    resp = token(client, user, RIGHT, address())
    assert resp.status_code == 429 and 55 <= int(resp.headers["Retry-After"]) <= 60
    later(timedelta(seconds=61))
    assert token(client, user, RIGHT, address()).status_code == 201
    assert token(client, user, "wrong", address()).status_code == 401  # a good login started it afresh


def test_many_failures_from_one_address_lock_that_address(app: Flask, client: FlaskClient, limits: Any) -> None:
    user, here = new_user(app), address()
    for n in range(6):  # a different (unknown) account each time: no account lock helps
        assert token(client, f"nobody-{n}-{uuid.uuid4().hex[:6]}", "x", here).status_code == 401
    assert token(client, user, RIGHT, here).status_code == 429
    assert client.post("/api/login", json={"username": user, "password": RIGHT}, environ_base=here).status_code == 429
    assert token(client, user, RIGHT, address()).status_code == 201  # elsewhere, the account is fine


def test_the_login_page_says_when_to_retry_and_records_failures_like_the_api(
        app: Flask, client: FlaskClient, limits: Any) -> None:
    user, here = new_user(app), address()
    pages = Pages(client)
    pages.get("/login")
    for _ in range(3):
        resp = client.post("/login", data={"username": user, "password": "wrong", "csrf_token": pages.token},
                           environ_base=here)
        assert resp.status_code == 401 and "用户名或密码错误" in text(resp)
    resp = client.post("/login", data={"username": user, "password": RIGHT, "csrf_token": pages.token},
                       environ_base=here)
    assert resp.status_code == 429 and "登录失败次数过多" in text(resp) and resp.headers["Retry-After"]
    assert pages.get("/").status_code == 302  # not logged in
    events = _login_failures(app, here["REMOTE_ADDR"])
    assert [(e.data["username"], e.data["failures"]) for e in events] == [(user, 1)]


def _login_failures(app: Flask, where: str) -> list[Event]:
    with app.extensions["whistle.db"].sessions() as s:
        events = s.scalars(select(Event).where(Event.type == "login_failed").order_by(Event.id))
        return [e for e in events if e.data.get("address") == where]


def test_failed_logins_cannot_grow_the_audit_log(app: Flask, client: FlaskClient, limits: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "login_address_failures", 10_000)
    here = address()
    for n in range(120):
        assert token(client, f"spray-{n}", "x", here).status_code == 401
    recorded = [e.data["failures"] for e in _login_failures(app, here["REMOTE_ADDR"])]
    assert recorded == [1, 10, 100]  # 120 failures, three events saying how many there were


def _median_ms(client: FlaskClient, username: str) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        assert token(client, username, "wrong-password", address()).status_code == 401
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def test_unknown_and_real_users_take_the_same_time_to_refuse(app: Flask, client: FlaskClient, limits: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "login_account_failures", 10_000)
    known = _median_ms(client, new_user(app))
    unknown = _median_ms(client, f"ghost-{uuid.uuid4().hex[:8]}")
    print(f"refusing a real user: {known:.0f} ms, an unknown one: {unknown:.0f} ms")
    assert 0.6 < unknown / known < 1.6, (known, unknown)


# --- sessions ---------------------------------------------------------------------------------------


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_logout_ends_a_captured_session_cookie(app: Flask, pages: Pages) -> None:
    pages.login("op-dc")
    captured = _cookie(pages.client)
    assert pages.get("/").status_code == 200
    pages.logout()
    thief = app.test_client()
    thief.set_cookie("session", captured)
    assert thief.get("/").status_code == 302
    assert thief.get("/api/me").status_code == 401


def test_sessions_end_when_idle_and_after_the_absolute_limit(app: Flask, limits: Any, later: Any) -> None:
    idle = Pages(app.test_client())
    idle.login("op-dc")
    later(timedelta(minutes=29))
    assert idle.get("/").status_code == 200  # used within the idle limit: still on
    later(timedelta(minutes=31))
    assert idle.get("/").status_code == 302
    busy = Pages(app.test_client())
    busy.login("op-dc")
    for _ in range(4):  # active every 25 minutes: 100 minutes in, still on
        later(timedelta(minutes=25))
        assert busy.get("/").status_code == 200
    later(timedelta(minutes=25))  # 125 minutes after the login: past the 2-hour limit
    assert busy.get("/").status_code == 302


def test_session_cookies_expire_and_are_secure_when_set(app: Flask) -> None:
    pages = Pages(app.test_client())
    cookie = pages.login("op-dc").headers["Set-Cookie"]
    assert "Expires=" in cookie and "Secure" not in cookie
    url = app.extensions["whistle.settings"].database_url
    secure = create_app(Settings(database_url=url, testing=True, secure_cookies=True))
    try:
        cookie = Pages(secure.test_client()).login("op-dc").headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        secure.extensions["whistle.db"].dispose()


# --- the CSRF token on API writes with the session cookie ---------------------------------------------


def test_api_writes_with_the_session_cookie_need_the_csrf_token(app: Flask, client: FlaskClient) -> None:
    logged_in = client.post("/api/login", json={"username": "gw-s1c1g1", "password": PASSWORD})
    csrf = logged_in.get_json()["csrf_token"]
    report = {"title": "跨站伪造", "grid": "dc-s1-c1-g1", "channel": "grid_patrol"}
    with app.extensions["whistle.db"].sessions() as s:
        before = len(list(s.scalars(select(Case.id))))
    for headers in ({}, {"X-CSRFToken": "forged"}):
        resp = client.post("/api/reports", json=report, headers=headers)
        assert resp.status_code == 403 and "CSRF" in resp.get_json()["message"], resp.get_json()
    assert client.post("/api/tasks/1/claim").status_code == 403
    with app.extensions["whistle.db"].sessions() as s:
        assert len(list(s.scalars(select(Case.id)))) == before
    assert client.get("/api/me").status_code == 200  # reading needs no token
    assert client.post("/api/reports", json=report, headers={"X-CSRFToken": csrf}).status_code == 201
    assert client.get("/api/me").get_json()["csrf_token"]
