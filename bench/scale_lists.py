"""Server time of the inbox, the case list and search, the 督办 ledger, a case page and its history at
a district's volume, for a user with a huge inbox, a busy department and a small one.

    .venv/bin/python -m bench.scale_data                          # once: 1,000,000 closed cases (minutes)
    .venv/bin/python -m bench.scale_lists                         # then time the pages on it
    .venv/bin/python -m bench.scale_lists --fill 0.01             # fill a temporary database at 1 % and time

Every page is fetched through the Flask test client as the logged-in user (session, queries and
template: what a worker spends, without the network), ``--repeat`` times after one warm-up fetch;
the table gives p50 and p95 in ms against the goal (issue 17: 25 ms; the history page 300 ms).
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
from sqlalchemy import event, func, select

from app import create_app
from app.db import temporary_postgres_database
from app.models import Case, Task
from app.services.auth import users_holding
from app.settings import Settings
from bench.scale_data import DEFAULT_URL, fill

GOAL_MS = 25.0
HISTORY_GOAL_MS = 300.0
PASSWORD = "demo1234"


@dataclass
class Timing:
    user: str
    page: str
    path: str
    p50: float
    p95: float

    @property
    def goal(self) -> float:
        return HISTORY_GOAL_MS if "history" in self.page else GOAL_MS


def users(app: Flask) -> dict[str, tuple[str, int]]:
    """The holders of the largest, second largest and smallest open-task groups: (username, open tasks)."""
    with app.extensions["whistle.db"].sessions() as s:
        groups = s.execute(select(Task.role, Task.unit_id, func.count()).where(Task.status == "open")
                           .group_by(Task.role, Task.unit_id).order_by(func.count().desc())).all()
        picked = {"huge": groups[0], "busy": groups[1], "small": groups[-1]}
        return {label: (users_holding(s, role, unit_id)[0].username, n) for label, (role, unit_id, n) in picked.items()}


def pages(app: Flask, client: FlaskClient) -> dict[str, str]:
    """The addresses timed for the logged-in user; the deep keyset page is the one before the last."""
    last = client.get("/api/inbox?last=1").get_json()
    deep = f"/?before={last['prev_before']}" if last["prev_before"] else "/?last=1"
    case_id, number = _a_case(app, client)
    return {
        "inbox: first page": "/", "inbox: page 100 (offset)": "/?page=100", "inbox: last page": "/?last=1",
        "inbox: deep page (cursor)": deep, "inbox: type": "/?task_type=triage",
        "inbox: category + level": "/?category=city_mgmt&level=community", "inbox: overdue": "/?overdue=1",
        "inbox: mine": "/?mine=1", "inbox API (counts per type)": "/api/inbox",
        "cases: newest": "/cases", "cases: open, by deadline": "/cases?status=open&sort=due",
        "cases: page 50": "/cases?page=50", "search: common word": "/cases?q=垃圾",
        "search: a case number": f"/cases?q={number}", "督办 ledger": "/supervision",
        "督办 ledger: open": "/supervision?status=open", "case page": f"/cases/{case_id}",
        "history page": f"/cases/{case_id}/history",
    }


def _a_case(app: Flask, client: FlaskClient) -> tuple[int, str]:
    """A simulated (not generated) case with a real history that the user may see, and a generated
    case's number to search for."""
    listed = client.get("/api/cases?sort=oldest&per_page=100").get_json()["items"]
    with app.extensions["whistle.db"].sessions() as s:
        number = s.scalar(select(Case.number).where(Case.number.like("S%")).order_by(Case.id.desc()).limit(1))
    real = [item for item in listed if item["status"] == "closed"] or listed
    return (real[0]["id"] if real else 1), number or "S"


@contextmanager
def logged_in(app: Flask, username: str) -> Iterator[FlaskClient]:
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on the login page"
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)})
    yield client


def time_pages(url: str, repeat: int) -> tuple[dict[str, tuple[str, int]], list[Timing]]:
    app = create_app(Settings(database_url=url, testing=True, upload_dir=Path(tempfile.mkdtemp())))
    who = users(app)
    timings: list[Timing] = []
    for label, (username, _n) in who.items():
        with logged_in(app, username) as client:
            for name, path in pages(app, client).items():
                timings.append(Timing(label, name, path, *_time(client, path, repeat)))
    app.extensions["whistle.db"].dispose()
    return who, timings


def _time(client: FlaskClient, path: str, repeat: int) -> tuple[float, float]:
    resp = client.get(path)
    assert resp.status_code == 200, (path, resp.status_code)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


EXPLAINED = {"inbox: first page": "/", "inbox: deep page (cursor)": None, "cases: newest": "/cases",
             "督办 ledger": "/supervision"}


def explain(url: str, names: list[str] | None = None, who: str = "huge") -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements that read many rows, as the user's (huge by
    default) pages run them: each statement the page sends (its parameters bound by the driver) is
    explained once. ``names``: pages of :func:`pages` to explain instead of the usual four."""
    app = create_app(Settings(database_url=url, testing=True, upload_dir=Path(tempfile.mkdtemp())))
    engine = app.extensions["whistle.db"].engine
    seen: list[tuple[str, Any]] = []
    listen = lambda _c, _cur, statement, params, _ctx, _many: seen.append((statement, params))  # noqa: E731
    out: list[str] = []
    with logged_in(app, users(app)[who][0]) as client:
        addresses = pages(app, client)
        targets = ({name: addresses[name] for name in names} if names else
                   dict(EXPLAINED, **{"inbox: deep page (cursor)": addresses["inbox: deep page (cursor)"]}))
        for name, path in targets.items():
            seen.clear()
            event.listen(engine, "before_cursor_execute", listen)
            client.get(path)
            event.remove(engine, "before_cursor_execute", listen)
            out.append(f"### {name}: `GET {path}`\n")
            out += [_plan(engine, statement, params) for statement, params in seen if _worth(statement)]
    app.extensions["whistle.db"].dispose()
    return "\n".join(out)


def _worth(statement: str) -> bool:
    """The statements over tasks, cases and the ledger (not the session, user and unit look-ups)."""
    head = statement.split("WHERE")[0]
    return any(f"FROM {t}" in head or f"JOIN {t}" in head for t in ("tasks", "cases", "supervision_entries")) \
        or "WITH RECURSIVE types" in statement


def _plan(engine: Any, statement: str, params: Any) -> str:
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        lines = [row[0] for row in cursor.fetchall()]
    return "```\n" + " ".join(statement.split())[:300] + "\n\n" + "\n".join(lines) + "\n```\n"


def table(who: dict[str, tuple[str, int]], timings: list[Timing]) -> str:
    labels = list(who)
    names = list(dict.fromkeys(t.page for t in timings))
    by = {(t.user, t.page): t for t in timings}
    head = " | ".join(f"{label}: {who[label][0]} ({who[label][1]:,} open) p50 / p95" for label in labels)
    lines = [f"| page | {head} | goal |", "|---|" + "---:|" * len(labels) + "---:|"]
    for name in names:
        cells = [by[(label, name)] for label in labels if (label, name) in by]
        shown = " | ".join(f"{t.p50:.1f} / {t.p95:.1f}{'' if t.p95 <= t.goal else ' ✗'}" for t in cells)
        lines.append(f"| {name} | {shown} | ≤ {cells[0].goal:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a database filled by bench.scale_data")
    parser.add_argument("--fill", type=float, help="fill a temporary database at this scale first")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the big statements instead")
    parser.add_argument("--page", action="append", help="with --explain: a page name of the table (repeatable)")
    parser.add_argument("--user", choices=("huge", "busy", "small"), default="huge", help="with --explain: as whom")
    args = parser.parse_args()
    result: Any
    if args.explain:
        print(explain(args.database_url, args.page, args.user))
        return
    if args.fill:
        with temporary_postgres_database(args.database_url, "whistle_scale") as url:
            print("\n".join(fill(url, args.fill).lines()))
            result = time_pages(url, args.repeat)
    else:
        result = time_pages(args.database_url, args.repeat)
    print(f"GET as each user through the test client, {args.repeat} times: p50 / p95 ms (✗ over the goal)")
    print(table(*result))


if __name__ == "__main__":
    main()
