"""Operations: the health check answers for the database, every response carries a request id,
and log lines are JSON with that id."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.ops import JsonFormatter, logging_config
from app.settings import Settings


def test_health_is_ok_while_the_database_answers(client: FlaskClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ok" and resp.get_json()["database"] == "ok"


def test_health_is_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}", testing=True))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "database": "unreachable", "error": "OperationalError"}


def test_a_request_id_is_kept_when_given_and_made_when_not(client: FlaskClient) -> None:
    assert client.get("/api/me", headers={"X-Request-ID": "lb-42.a"}).headers["X-Request-ID"] == "lb-42.a"
    made = client.get("/api/me").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/api/me").headers["X-Request-ID"]
    forged = client.get("/healthz", headers={"X-Request-ID": "x\" y"}).headers["X-Request-ID"]
    assert forged != "x\" y" and len(forged) == 32  # not a log-injection vector
    assert client.get("/no/such/page").headers["X-Request-ID"]  # errors too


def test_each_request_is_logged_as_json_with_its_id(app: Flask) -> None:
    lines: list[dict[str, object]] = []
    handler = logging.Handler()
    handler.setFormatter(JsonFormatter())
    handler.emit = lambda record: lines.append(json.loads(handler.format(record)))  # type: ignore[method-assign]
    logger = logging.getLogger("whistle.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        resp = app.test_client().get("/api/me", headers={"X-Request-ID": "abc123"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert resp.status_code == 401
    [line] = lines
    assert (line["method"], line["path"], line["status"], line["level"]) == ("GET", "/api/me", 401, "info")
    assert line["request_id"] == "abc123" and line["logger"] == "whistle.request"


def test_the_logging_config_routes_gunicorn_through_the_same_format() -> None:
    config = logging_config("json", "warning")
    assert config["root"]["level"] == "WARNING"
    assert config["loggers"]["gunicorn.error"]["propagate"] is True
    assert config["formatters"]["json"]["()"] == "app.ops.JsonFormatter"
