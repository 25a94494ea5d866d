"""SQL round trips and latency of staff pages and a JSON call (issue 17: ≤ 25 ms a page).

A temporary SQLite database gets what ``flask demo`` loads: migrations, ``config/demo_org.yaml``,
``processes/`` deployed, simulated cases and work left waiting at every kind of task. Then a few
roles log in through the Flask test client and fetch the inbox, a task page, a case page and
``GET /api/inbox`` N times each; per page it prints the median and p95 time and the SQL statements
per request (counted by a SQLAlchemy ``before_cursor_execute`` listener on the app's engine).

    .venv/bin/python -m bench.page_trips                  # caches on, then off (per-request reads)
    .venv/bin/python -m bench.page_trips --repeat 50 --cases 40
    .venv/bin/python -m bench.page_trips --sql            # also print the statements of one request
    .venv/bin/python -m bench.page_trips --pg             # then the same on a fresh PostgreSQL database
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select

from app import create_app
from app.cli import run_migrations
from app.db import Database, temporary_postgres_database
from app.definitions.versions import deploy_directory
from app.models import Task, User
from app.services import per_version
from app.services.org import load_organisation
from app.services.simulate import leave_open_work, run_simulation
from app.settings import ROOT, Settings

PASSWORD = "demo1234"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# A few roles at every level (usernames from config/demo_org.yaml; the bench names no role code).
USERS = ("op-dc", "staff-s1c1", "gw-s1c1g1", "hw-staff")


@dataclass
class Row:
    user: str
    page: str
    median_ms: float
    p95_ms: float
    statements: float


class StatementCounter:
    """Counts the SQL statements the engine sends (and keeps their text while ``keep`` is set)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.keep = False
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        if self.keep:
            self.seen.append(" ".join(statement.split())[:200])

    @contextmanager
    def measuring(self) -> Iterator[None]:
        self.count = 0
        yield


def prepare(url: str, cases: int) -> Flask:
    run_migrations(url)
    app = create_app(Settings(database_url=url, testing=True, upload_dir=Path(tempfile.mkdtemp())))
    db: Database = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        load_organisation(s, ROOT / "config" / "demo_org.yaml")
        deploy_directory(s, ROOT / "processes", "bench")
    run_simulation(db, cases)
    leave_open_work(db)
    return app


def log_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on the login page"
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)})
    assert resp.status_code == 302, (username, resp.status_code)
    return client


def targets(app: Flask, client: FlaskClient, username: str) -> dict[str, str]:
    """The pages to fetch as ``username``: the inbox, the first task of it, a case it may see (the
    task's, else the first of its case list), the API inbox."""
    db: Database = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None, username
        grants = [(r.role, r.unit_id) for r in user.roles]
        task = next((t for t in s.scalars(select(Task).where(Task.status == "open").order_by(Task.id))
                     if (t.role, t.unit_id) in grants), None)
    pages = {"inbox": "/", "api inbox": "/api/inbox"}
    if task is not None:
        pages["task page"] = f"/tasks/{task.id}"
        pages["case page"] = f"/cases/{task.case_id}"
    else:
        listed = client.get("/api/cases").get_json()
        if listed and listed.get("items"):
            pages["case page"] = f"/cases/{listed['items'][0]['id']}"
    return pages


def measure(app: Flask, counter: StatementCounter, repeat: int, show_sql: bool) -> list[Row]:
    rows = []
    for username in USERS:
        client = log_in(app, username)
        for name, path in targets(app, client, username).items():
            resp = client.get(path)
            assert resp.status_code == 200, (username, path, resp.status_code)
            timings, counts = [], []
            for _ in range(repeat):
                with counter.measuring():
                    start = time.perf_counter()
                    client.get(path)
                    timings.append((time.perf_counter() - start) * 1000)
                counts.append(counter.count)
            if show_sql:
                counter.keep, counter.seen = True, []
                client.get(path)
                counter.keep = False
                print(f"--- {username} {path}: {len(counter.seen)} statements")
                print("\n".join(f"  {sql}" for sql in counter.seen))
            timings.sort()
            p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
            rows.append(Row(username, name, statistics.median(timings), p95, statistics.mean(counts)))
    return rows


def table(before: list[Row], after: list[Row]) -> str:
    lines = ["| user | page | SQL/request off → on | median ms off → on | p95 ms off → on |",
             "|---|---|---:|---:|---:|"]
    for b, a in zip(before, after, strict=True):
        lines.append(f"| {a.user} | {a.page} | {b.statements:.0f} → {a.statements:.0f} | "
                     f"{b.median_ms:.1f} → {a.median_ms:.1f} | {b.p95_ms:.1f} → {a.p95_ms:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20, help="simulated cases before the open work")
    parser.add_argument("--repeat", type=int, default=30, help="requests per page and user")
    parser.add_argument("--sql", action="store_true", help="print the statements of one request per page")
    parser.add_argument("--pg", action="store_true", help=f"also on a fresh database at {PG_URL}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite\n" + run(f"sqlite:///{folder}/bench.db", args.cases, args.repeat, args.sql))
    if args.pg:
        with temporary_postgres_database(PG_URL, "whistle_bench") as url:
            print("PostgreSQL\n" + run(url, args.cases, args.repeat, args.sql))


def run(url: str, cases: int, repeat: int, show_sql: bool) -> str:
    """The figures on one database: caches off, then on, same data and process."""
    app = prepare(url, cases)
    counter = StatementCounter(app.extensions["whistle.db"].engine)
    results = {}
    try:
        for enabled in (False, True):
            with per_version.caching(enabled):
                results[enabled] = measure(app, counter, repeat, show_sql and enabled)
    finally:
        app.extensions["whistle.db"].dispose()
    return table(results[False], results[True])


if __name__ == "__main__":
    main()
