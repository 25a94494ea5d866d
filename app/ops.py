"""What operations staff need from every process: a health check, a request id on every request and
in every log line, and logs as one JSON object per line (or plain text for a person at a terminal).

The request id is taken from the ``X-Request-ID`` header (a reverse proxy's, so its log and ours
can be joined) when it looks like one, otherwise made here; it is returned in the same header.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from sqlalchemy import text

REQUEST_ID_HEADER = "X-Request-ID"
_GOOD_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
HEALTH_PATH = "/healthz"

request_log = logging.getLogger("whistle.request")


def init_ops(app: Flask) -> None:
    """The health endpoint, and the request id and one log line for every request."""
    app.add_url_rule(HEALTH_PATH, "healthz", healthz, methods=["GET", "HEAD"])
    app.before_request(_start_request)
    app.after_request(_finish_request)


def healthz() -> tuple[Response, int]:
    """200 when the database answers a query, else 503: for load balancers and orchestrators."""
    started = time.perf_counter()
    try:
        with current_app.extensions["whistle.db"].engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database makes this worker unfit to serve
        request_log.warning("health check failed: %s", exc.__class__.__name__, extra={"fields": {"error": str(exc)}})
        return jsonify({"status": "unavailable", "database": "unreachable", "error": exc.__class__.__name__}), 503
    return jsonify({"status": "ok", "database": "ok", "ms": round((time.perf_counter() - started) * 1000, 1)}), 200


def request_id() -> str | None:
    """This request's id (None outside a request)."""
    return g.get("request_id") if has_request_context() else None


def _start_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _GOOD_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    if "request_id" not in g:  # a request that failed before the first hook ran
        _start_request()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    level = logging.DEBUG if request.path == HEALTH_PATH else logging.INFO
    if request_log.isEnabledFor(level):
        elapsed = (time.perf_counter() - g.request_started) * 1000
        request_log.log(level, "%s %s %s", request.method, request.path, response.status_code, extra={"fields": {
            "method": request.method, "path": request.path, "status": response.status_code,
            "ms": round(elapsed, 1), "remote": request.remote_addr, "bytes": response.calculate_content_length(),
        }})
    return response


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request id when there is
    one, and the record's ``fields`` (``extra={"fields": {...}}``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            "pid": record.process,
        }
        rid = request_id()
        if rid:
            entry["request_id"] = rid
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id()
        return f"{line} request_id={rid}" if rid else line


FORMATTERS = {"json": JsonFormatter, "text": TextFormatter}


def logging_config(fmt: str = "json", level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the app's processes (and gunicorn's own loggers)."""
    if fmt not in FORMATTERS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATTERS)}")
    handler = {"class": "logging.StreamHandler", "formatter": fmt, "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {fmt: {"()": f"{__name__}.{FORMATTERS[fmt].__name__}"}},
        "handlers": {"stderr": handler},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            # the app logs every request itself, with its id and time: gunicorn's line would repeat it
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            "apscheduler": {"level": "WARNING", "handlers": [], "propagate": True},
        },
    }


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    import logging.config

    logging.config.dictConfig(logging_config(fmt, level))
    logging.captureWarnings(True)
    if fmt == "json":
        sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    logging.getLogger("whistle").critical("uncaught exception", exc_info=(kind, exc, tb))
