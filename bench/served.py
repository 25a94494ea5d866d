"""The product served for real, for benchmarks and tests: a prepared PostgreSQL database, gunicorn
started by ``flask --app wsgi serve``, scheduler processes, and a small HTTP client for the JSON API.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.cli import run_migrations
from app.db import Database
from app.definitions.versions import deploy_directory
from app.services.org import load_organisation
from app.settings import ROOT

PASSWORD = "demo1234"


def prepare_database(url: str) -> None:
    """What README's production section does: migrations, the organisation, processes/ deployed."""
    run_migrations(url)
    db = Database(url)
    try:
        with db.unit_of_work() as session:
            load_organisation(session, ROOT / "config" / "demo_org.yaml")
            deploy_directory(session, ROOT / "processes", "bench")
    finally:
        db.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """Processes started by :func:`serving`: gunicorn's master and the schedulers."""

    port: int
    server: subprocess.Popen[bytes]
    schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        return children(self.server.pid)


def flask_command(app_module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", app_module, *args]


@contextmanager
def serving(url: str, folder: Path, workers: int = 2, schedulers: int = 0, app_module: str = "wsgi",
            threads: int = 1, extra_env: dict[str, str] | None = None) -> Iterator[Served]:
    """gunicorn with ``workers`` workers on a free port, and ``schedulers`` scheduler processes,
    against the database at ``url``; logs go to ``folder``. Everything is stopped with SIGTERM
    (gracefully) on the way out."""
    env = {**os.environ, "WHISTLE_DATABASE_URL": url, "WHISTLE_SECRET_KEY": "served-" + folder.name,
           "WHISTLE_UPLOAD_DIR": str(folder / "uploads"), "WHISTLE_ANCHOR_PATH": str(folder / "anchors.jsonl"),
           "WHISTLE_ANCHOR_HOURS": "0", "WHISTLE_LOGIN_ACCOUNT_FAILURES": "100000",
           "WHISTLE_LOGIN_ADDRESS_FAILURES": "100000", **(extra_env or {})}
    port = free_port()
    serve = flask_command(app_module, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                          "--threads", str(threads))
    served = Served(port, _start(serve, env, folder / "serve.log"))
    try:
        for n in range(schedulers):
            served.schedulers.append(_start(flask_command(app_module, "scheduler", "--scan-seconds", "0.5"),
                                            env, folder / f"scheduler-{n}.log"))
        wait_healthy(served, workers)
        yield served
    finally:
        stop([*served.schedulers, served.server])


def _start(command: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_healthy(served: Served, workers: int, timeout: float = 60.0) -> None:
    """Until gunicorn answers /healthz and all ``workers`` have been forked (the first worker
    answers while the others may still be booting on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {served.server.returncode}")
        with suppress(OSError):
            if Client(served.port).request("GET", "/healthz")[0] == 200 and len(served.worker_pids()) >= workers:
                return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz with {workers} workers within {timeout:g} s")


def stop(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 30.0) -> list[int | None]:
    """SIGTERM each, wait for a clean exit, SIGKILL what is left; the exit codes."""
    for process in processes:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    codes: list[int | None] = []
    for process in processes:
        try:
            codes.append(process.wait(timeout))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            codes.append(None)
    return codes


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (its own, not its children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """One HTTP/1.1 connection per request (gunicorn's sync workers close it after each)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            sent = dict(headers or {})
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                sent["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            kind = response.getheader("Content-Type", "")
            data = json.loads(raw) if raw and kind.startswith("application/json") else raw
            return response.status, data, {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()


@dataclass
class Answer:
    """The part of a Flask test response that tests/integration/flow.py uses."""

    status_code: int
    body: Any
    headers: dict[str, str]

    def get_json(self) -> Any:
        return self.body


class HttpApi:
    """The JSON API over HTTP as demo users (a bearer token each): the same calls as the test
    client's ``Api`` in tests/conftest.py, so tests/integration/flow.py drives a served app too."""

    def __init__(self, port: int) -> None:
        self.client = Client(port)
        self.tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self.tokens:
            status, body, _ = self.client.request("POST", "/api/tokens", {"username": username, "password": PASSWORD})
            if status != 201:
                raise RuntimeError(f"token for {username}: {status} {body}")
            self.tokens[username] = body["token"]
        return self.tokens[username]

    def call(self, method: str, username: str | None, path: str, json: Any = None) -> Answer:
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return Answer(*self.client.request(method, path, json, headers))

    def get(self, username: str | None, path: str) -> Answer:
        return self.call("GET", username, path)

    def post(self, username: str | None, path: str, json: Any = None) -> Answer:
        return self.call("POST", username, path, json)
