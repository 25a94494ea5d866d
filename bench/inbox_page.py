"""How long the inbox page takes with thousands of open tasks (the district platform's inbox).

A few real cases are filed through the services; their triage task rows are then copied in bulk
(inbox rows only: the page reads rows, never the engine), so one user holds ``--tasks`` open tasks.
The page is fetched through the Flask test client as a logged-in user — template, queries and all.

    .venv/bin/python -m bench.inbox_page                 # 5000 tasks on a temporary SQLite file
    .venv/bin/python -m bench.inbox_page --tasks 20000 --pg
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app import create_app
from app.cli import run_migrations
from app.db import temporary_postgres_database
from app.definitions.versions import deploy_directory
from app.models import Task
from app.services.cases import file_report
from app.services.org import load_organisation
from app.settings import ROOT, Settings

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
USER = "op-dc"
PAGES = {"first page": "/", "page 100": "/?page=100", "last page": "/?page={last}",
         "filtered (type, category)": "/?task_type=triage&category=city_mgmt", "overdue only": "/?overdue=1"}


@dataclass
class Figures:
    backend: str
    tasks: int
    ms: dict[str, float]


def run(url: str, backend: str, tasks: int, repeat: int = 5, seed_cases: int = 20) -> Figures:
    run_migrations(url)
    app = create_app(Settings(database_url=url, testing=True, upload_dir=Path(tempfile.mkdtemp())))
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        load_organisation(s, ROOT / "config" / "demo_org.yaml")
        deploy_directory(s, ROOT / "processes", "bench")
        for n in range(seed_cases):
            file_report(s, None, {"title": f"基准 {n}", "grid": "dc-s1-c1-g1", "channel": "web",
                                  "matter": "garbage_overflow" if n % 2 else "streetlight_broken"})
    with db.unit_of_work() as s:
        _copy_rows(s, tasks)
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on the login page"
    client.post("/login", data={"username": USER, "password": "demo1234", "csrf_token": token.group(1)})
    last = max(1, -(-tasks // 20))
    ms: dict[str, float] = {}
    for name, path in PAGES.items():
        target = path.format(last=last)
        resp = client.get(target)
        assert resp.status_code == 200, (target, resp.status_code)
        timings = []
        for _ in range(repeat):
            start = time.perf_counter()
            client.get(target)
            timings.append((time.perf_counter() - start) * 1000)
        ms[name] = statistics.median(timings)
    db.dispose()
    return Figures(backend, tasks, ms)


def _copy_rows(session: Session, total: int) -> None:
    """Copies of the open triage rows until ``total`` open tasks wait for the district platform;
    deadlines spread from a day overdue to a day ahead, so the overdue filter has work."""
    rows = list(session.scalars(select(Task).where(Task.status == "open")))
    missing = total - len(rows)
    batch = []
    for n in range(max(0, missing)):
        row = rows[n % len(rows)]
        batch.append({
            "case_id": row.case_id, "engine_task_id": str(uuid.uuid4()), "task_type": row.task_type,
            "title": row.title, "stage": row.stage, "role": row.role, "unit_id": row.unit_id, "form": row.form,
            "context": row.context, "status": "open", "created_at": row.created_at,
            "due_at": row.created_at + timedelta(hours=(n % 48) - 24),
        })
        if len(batch) == 1000:
            session.execute(insert(Task), batch)
            batch = []
    if batch:
        session.execute(insert(Task), batch)


def table(results: list[Figures]) -> str:
    names = list(PAGES)
    lines = ["| backend | open tasks | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for r in results:
        lines.append(f"| {r.backend} | {r.tasks} | " + " | ".join(f"{r.ms[n]:.1f} ms" for n in names) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", action="store_true", help=f"also on a fresh database at {PG_URL}")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        results.append(run(f"sqlite:///{folder}/bench.db", "sqlite", args.tasks, args.repeat))
    if args.pg:
        with temporary_postgres_database(PG_URL, "whistle_bench") as url:
            results.append(run(url, "postgresql", args.tasks, args.repeat))
    print(f"GET of the inbox page as {USER}, median of {args.repeat} (test client: template + queries)")
    print(table(results))


if __name__ == "__main__":
    main()
