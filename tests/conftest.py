"""Test fixtures: the app on SQLite always, and on PostgreSQL when TEST_DATABASE_URL is given.

Each backend gets a fresh database, created by the real migrations, with the demo district and
the processes/ bundle deployed: the same set-up a user gets from the README.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.cli import run_migrations
from app.db import temporary_postgres_database
from app.definitions.versions import deploy_directory
from app.models import Case
from app.services.org import load_organisation
from app.services.replay import replay_all
from app.settings import ROOT, Settings

PASSWORD = "demo1234"
# The whole run comes from one address (127.0.0.1) and logs the demo users in and out many times:
# the shared app's limits are out of its way; tests of the limits lower them for their own address.
ROOMY_LIMITS: dict[str, int] = {
    "login_account_failures": 10_000, "login_address_failures": 100_000, "public_reports_per_hour": 100_000,
    "public_upload_mb_per_day": 1_000_000, "public_upload_total_mb_per_day": 1_000_000,
    "track_lookups_per_hour": 1_000_000,
}


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


@pytest.fixture(scope="session", params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _fresh_database(backend, tmp_path_factory)


@pytest.fixture()
def empty_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own, with no schema, for tests that migrate or break things."""
    yield from _fresh_database(backend, tmp_path_factory)


def _fresh_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    with temporary_postgres_database(os.environ["TEST_DATABASE_URL"], "whistle_test") as url:
        yield url


def _demo_app(database_url: str, folder: Path) -> Flask:
    """The app on a migrated database with the demo district and the processes/ bundle deployed."""
    run_migrations(database_url)
    application = create_app(Settings(database_url=database_url, testing=True, upload_dir=folder / "uploads",
                                      anchor_path=folder / "anchors.jsonl", **ROOMY_LIMITS))
    with application.extensions["whistle.db"].unit_of_work() as session:
        load_organisation(session, ROOT / "config" / "demo_org.yaml")
        deploy_directory(session, ROOT / "processes", "tests")
    return application


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    application = _demo_app(database_url, tmp_path_factory.mktemp("app"))
    db = application.extensions["whistle.db"]
    yield application
    try:
        _every_case_replays(db)
    finally:
        db.dispose()


@pytest.fixture()
def own_app(empty_database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The same set-up on a database of its own: for tests whose figures must not see the session
    database's cases, or that tamper with the record."""
    application = _demo_app(empty_database_url, tmp_path)
    yield application
    application.extensions["whistle.db"].dispose()


def _every_case_replays(db: Any) -> None:
    """After the session: every case the tests drove on this database, whatever the order of its
    steps and whichever test ran them, re-runs from its record to the states it saved. A step whose
    live result differs from its replay (a department's output lost, say) fails the run here even
    when no test looked at that case's history."""
    with db.unit_of_work() as session:
        case_ids = list(session.scalars(select(Case.id)))
        diverged = [r.line() for r in replay_all(session, case_ids) if not r.ok]
    assert not diverged, f"{len(diverged)} of {len(case_ids)} cases diverge on replay:\n" + "\n".join(diverged)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def cookie_logout(client: FlaskClient) -> None:
    """Log a session-cookie client out through the API, with the CSRF token a cookie write needs."""
    me = client.get("/api/me")
    headers = {"X-CSRFToken": me.get_json()["csrf_token"]} if me.status_code == 200 else {}
    assert client.post("/api/logout", headers=headers).status_code == 200


class Api:
    """Calls the JSON API as a demo user, with a bearer token per user."""

    def __init__(self, client: FlaskClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def token(self, username: str) -> str:
        if username not in self.tokens:
            resp = self.client.post("/api/tokens", json={"username": username, "password": PASSWORD})
            assert resp.status_code == 201, resp.get_json()
            self.tokens[username] = resp.get_json()["token"]
        return self.tokens[username]

    def call(self, method: str, username: str | None, path: str, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if username:
            headers["Authorization"] = f"Bearer {self.token(username)}"
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, username: str | None, path: str, **kwargs: Any) -> Any:
        return self.call("GET", username, path, **kwargs)

    def post(self, username: str | None, path: str, **kwargs: Any) -> Any:
        return self.call("POST", username, path, **kwargs)


@pytest.fixture(scope="session")
def _tokens(app: Flask) -> dict[str, str]:
    return {}


@pytest.fixture()
def api(client: FlaskClient, _tokens: dict[str, str]) -> Api:
    return Api(client, _tokens)
