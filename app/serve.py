"""Serving the app for real: gunicorn, a pre-forking WSGI server, with N worker processes.

The app is built once in the master (so a broken configuration fails before any worker starts)
and forked into each worker, which first drops the database connections it inherited (a pooled
connection must never be shared by two processes). Workers hold no state another worker needs:
sessions, login throttles and limits live in the database, and the caches (parsed process bundles
by content hash, the locality model by file time) are keyed by what they cache.

Shutdown is gunicorn's: on SIGTERM (or SIGINT) the master stops accepting, each worker finishes
the requests it is serving (at most ``graceful_timeout`` seconds), stops its script hosts and
closes its connections. A request's transaction either commits before the worker exits or rolls
back with its connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from app.definitions.versions import bundle_of, latest_configuration, latest_version
from app.engine.isolation import shutdown_hosts
from app.ops import logging_config


@dataclass(frozen=True)
class ServeOptions:
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 1
    timeout: int = 60  # a worker silent this long (a request stuck this long) is killed and replaced
    graceful_timeout: int = 30  # on shutdown, requests in flight get this long to finish
    log_format: str = "json"
    log_level: str = "info"

    def gunicorn(self) -> dict[str, Any]:
        return {
            "bind": [part.strip() for part in self.bind.split(",") if part.strip()],
            "workers": self.workers, "threads": self.threads,
            "worker_class": "gthread" if self.threads > 1 else "sync",
            "timeout": self.timeout, "graceful_timeout": self.graceful_timeout,
            "keepalive": 5,  # behind a reverse proxy that reuses connections
            "loglevel": self.log_level, "accesslog": None,  # the app logs each request, with its id
            "logconfig_dict": logging_config(self.log_format, self.log_level),
            "post_fork": _post_fork, "worker_exit": _worker_exit,
            "proc_name": "whistle",
            "control_socket_disable": True,  # no management socket in $HOME shared by every server on the host
        }


class WhistleServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: ServeOptions) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.gunicorn().items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def serve(app: Flask, options: ServeOptions) -> None:
    """Run gunicorn with ``app`` until it is told to stop (SIGTERM/SIGINT: graceful; SIGQUIT: at once)."""
    warm(app)
    app.extensions["whistle.db"].engine.dispose()  # the master serves nothing: no connection to inherit
    WhistleServer(app, options).run()


def warm(app: Flask) -> int:
    """What each worker's first requests would otherwise pay, done once in the master before it
    forks (the workers inherit it): every page template compiled, the current version's
    configuration read by every loader, its diagrams parsed. The number of templates compiled.

    Each of these caches is keyed by what it holds (template file, version id and content hash), so
    a deploy after the start is picked up as before."""
    names = app.jinja_env.list_templates(extensions=["html"])
    for name in names:
        app.jinja_env.get_template(name)
    with app.app_context(), app.extensions["whistle.db"].unit_of_work() as session:
        latest_configuration(session).problems()
        version = latest_version(session, required=False)
        if version is not None:
            bundle_of(session, version.id)
    return len(names)


def _post_fork(server: Arbiter, worker: Worker) -> None:
    """In the new worker: connections the master might have opened stay the master's."""
    _app_of(worker).extensions["whistle.db"].engine.dispose(close=False)


def _worker_exit(server: Arbiter, worker: Worker) -> None:
    """A worker that stops (shutdown, or replaced) stops its timer scheduler if it runs one, its
    script hosts, and closes its connections, so PostgreSQL sees them go at once."""
    app = _app_of(worker)
    runner = app.extensions.get("whistle.scheduler")  # WHISTLE_SCHEDULER=1: one runs in this worker
    if runner is not None:
        runner.shutdown()
    shutdown_hosts()
    app.extensions["whistle.db"].dispose()


def _app_of(worker: Worker) -> Flask:
    server: WhistleServer = worker.app
    return server.application
