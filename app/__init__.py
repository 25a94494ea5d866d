"""吹哨报到 — the whistle blows, departments report in. The Flask application factory."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, g, has_app_context

import handlers  # noqa: F401  (the composition root registers the service-task handlers)
from app.db import Database
from app.definitions import configuration
from app.definitions.versions import REQUEST_CONFIGURATION, latest_configuration
from app.ops import init_ops
from app.settings import ROOT, Settings


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    settings = settings or Settings.from_env(**overrides)
    # No app-level static folder: its /static route would shadow the web blueprint's /static files.
    app = Flask(__name__, instance_path=str(ROOT / "instance"), static_folder=None)
    app.config.update(
        SECRET_KEY=_secret_key(app, settings),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,  # WHISTLE_SECURE_COOKIES=1 when served over HTTPS
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_max_hours),
        JSON_AS_ASCII=False,
        TESTING=settings.testing,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.trusted_proxies:  # the client's address and scheme as the trusted proxies saw them
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)
    app.extensions["whistle.settings"] = settings
    app.extensions["whistle.db"] = Database(settings.database_url)

    from app.admin import bp as admin_bp
    from app.api import bp as api_bp
    from app.assessment.pages import bp as assessment_bp
    from app.cli import register as register_cli
    from app.intake.open311_api import bp as open311_bp
    from app.intake.pages import bp as intake_bp
    from app.web import bp as web_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(web_bp)
    init_ops(app)  # /healthz, and a request id in every response and log line
    app.register_blueprint(assessment_bp)
    app.register_blueprint(intake_bp)
    app.register_blueprint(open311_bp)
    app.register_blueprint(admin_bp)
    register_cli(app)
    configuration.add_resolver(_latest_configuration)
    _json_errors_under_api(app)
    if settings.scheduler:
        _scheduler_on_first_request(app, settings)
    return app


def _latest_configuration() -> configuration.Configuration | None:
    """During a request (or a CLI command), the configuration of the app's latest process version,
    looked up once per request: a deploy takes effect on the next request in every worker."""
    if not has_app_context() or "whistle.db" not in current_app.extensions:
        return None
    found = g.get(REQUEST_CONFIGURATION)
    if found is None:
        with current_app.extensions["whistle.db"].unit_of_work() as session:
            found = latest_configuration(session)
        setattr(g, REQUEST_CONFIGURATION, found)
    return found  # type: ignore[no-any-return]


def _scheduler_on_first_request(app: Flask, settings: Settings) -> None:
    """WHISTLE_SCHEDULER=1: the web process fires timers too, started by its first request, so that
    CLI commands (which load the same app) do not start one."""
    import threading

    from app.services.scheduler import TimerScheduler

    lock = threading.Lock()

    @app.before_request
    def _start_scheduler() -> None:
        if "whistle.scheduler" in app.extensions:
            return
        with lock:
            if "whistle.scheduler" not in app.extensions:
                runner = TimerScheduler(app.extensions["whistle.db"], scan_seconds=settings.scheduler_scan_seconds,
                                        anchor_path=settings.anchor_path, anchor_hours=settings.anchor_hours)
                runner.start()
                app.extensions["whistle.scheduler"] = runner


def _json_errors_under_api(app: Flask) -> None:
    """Routing errors (unknown path, wrong method) under /api answer in the API's JSON shape."""
    from flask import jsonify, request
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not request.path.startswith("/api"):
            if (exc.code or 500) < 400:  # redirects raised by routing
                return exc
            from app.web.pages import web_http_error

            return web_http_error(exc)  # the web pages' error page, in the reader's language
        names = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
                 429: "too_many_requests"}
        name = names.get(exc.code or 500, "http_error")
        return jsonify({"error": name, "message": exc.description}), exc.code


def _secret_key(app: Flask, settings: Settings) -> str:
    """An explicit key wins; otherwise one is made once and kept in the instance folder."""
    if os.environ.get("WHISTLE_SECRET_KEY") or settings.testing:
        return settings.secret_key
    path = ROOT / "instance" / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # created readable by the owner only, and by exactly one of several starting workers
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(settings.secret_key)
    for _ in range(50):  # another worker may be writing it this instant
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it and start again")
