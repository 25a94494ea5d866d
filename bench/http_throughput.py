"""Throughput over HTTP: N concurrent clients completing tasks through the JSON API, served by
gunicorn (``flask --app wsgi serve``) on PostgreSQL, with 2 and 4 workers.

``python -m bench.http_throughput [--workers 2 4] [--clients 1 2 4 8 16] [--per-level 120] [--database-url URL]``

Per worker count: a fresh PostgreSQL database (migrations, the demo organisation, ``processes/``),
then enough reports filed in-process (through the same API, with Flask's test client: not timed)
that each waits at its 分级派单 triage task. gunicorn is started with W workers; for each client
count N (the curve), N threads take triage tasks from one queue and complete each with
``POST /api/tasks/{id}/complete`` as the district platform (a grade-2 dispatch: form validation,
the engine step with its DMN and service tasks, the department's new task, events, snapshot,
commit). Each client uses its own HTTP connection per request; no request but the completions is
timed. Printed per level: completions/s, latency p50/p95/p99, errors (any non-200), and CPU per
completion of the app (the gunicorn workers, from /proc) and of PostgreSQL (this database's
backends only, from /proc). The client threads run on the same machine and take CPU too.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text

from app import create_app
from app.db import Database, temporary_postgres_database
from app.models import Task
from app.settings import Settings
from bench.served import Client, HttpApi, children, cpu_seconds, prepare_database, serving

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DISPATCH = {"grade": 2, "matter": "streetlight_broken"}
REPORT = {"title": "路灯不亮", "grid": "dc-s1-c1-g1", "channel": "grid_patrol", "description": "小区门口路灯不亮"}


@dataclass
class Level:
    workers: int
    clients: int
    completions: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    app_cpu: float = 0.0
    host_cpu: float = 0.0  # the workers' script hosts (child processes running diagram code)
    pg_cpu: float = 0.0

    def row(self) -> str:
        done = max(self.completions, 1)
        q = percentiles(self.latencies)
        return (f"{self.workers:>7} {self.clients:>7} {self.completions / self.seconds:>13.1f} "
                f"{q[0]:>8.0f} {q[1]:>8.0f} {q[2]:>8.0f} {self.errors:>6} "
                f"{self.app_cpu / done * 1000:>12.1f} {self.host_cpu / done * 1000:>13.1f} "
                f"{self.pg_cpu / done * 1000:>11.1f}")


HEADER = (f"{'workers':>7} {'clients':>7} {'completions/s':>13} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'app CPU ms':>12} {'host CPU ms':>13} {'PG CPU ms':>11}")


def percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0], values[0], values[0]) if values else (0.0, 0.0, 0.0)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def file_reports(url: str, count: int, folder: Path) -> list[int]:
    """``count`` reports by the grid worker through the API in-process; their triage task ids."""
    app = create_app(Settings(database_url=url, testing=True, upload_dir=folder / "uploads",
                              login_account_failures=100_000, login_address_failures=100_000))
    client = app.test_client()
    token = client.post("/api/tokens", json={"username": "gw-s1c1g1", "password": "demo1234"}).get_json()["token"]
    for n in range(count):
        resp = client.post("/api/reports", json=REPORT | {"title": f"路灯不亮 {n}"},
                           headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 201, resp.get_json()
    db: Database = app.extensions["whistle.db"]
    with db.unit_of_work() as s:
        ids = list(s.scalars(select(Task.id).where(Task.task_type == "triage", Task.status == "open")
                             .order_by(Task.id)))
    db.dispose()
    return ids


def postgres_backends_cpu(db: Database, database: str) -> Callable[[], float]:
    """A reading of the CPU used so far by this database's PostgreSQL backends."""
    def read() -> float:
        with db.engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                                {"d": database}).scalars().all()
        return sum(cpu_seconds(pid) for pid in pids)
    return read


def run_level(port: int, workers: Callable[[], list[int]], pg_cpu: Callable[[], float], token: str,
              tasks: queue.Queue[int], level: Level, count: int) -> None:
    """``level.clients`` threads complete ``count`` tasks from the queue between them."""
    budget = threading.Semaphore(count)
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"}

    def client_loop() -> None:
        http = Client(port)
        while budget.acquire(blocking=False):
            task_id = tasks.get_nowait()
            started = time.perf_counter()
            status, _, _ = http.request("POST", f"/api/tasks/{task_id}/complete", DISPATCH, headers)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                level.latencies.append(elapsed)
                level.completions += status == 200
                level.errors += status != 200

    pids = workers()
    app_before, hosts_before, pg_before = sum(cpu_seconds(p) for p in pids), _hosts_cpu(pids), pg_cpu()
    threads = [threading.Thread(target=client_loop) for _ in range(level.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    level.seconds = time.perf_counter() - started
    level.app_cpu = sum(cpu_seconds(p) for p in pids) - app_before
    level.host_cpu = sum(cpu - hosts_before.get(pid, 0.0) for pid, cpu in _hosts_cpu(pids).items())
    level.pg_cpu = pg_cpu() - pg_before


def _hosts_cpu(workers: list[int]) -> dict[int, float]:
    """CPU so far of each worker's children (the script hosts; one started during a level counts whole)."""
    return {host: cpu_seconds(host) for worker in workers for host in children(worker)}


def bench_workers(base_url: str, workers: int, clients: Sequence[int], per_level: int) -> list[Level]:
    counts = [max(per_level, 4 * n) for n in clients]
    warmup = 2 * workers * 4
    with tempfile.TemporaryDirectory() as tmp, temporary_postgres_database(base_url, "whistle_http") as url:
        folder = Path(tmp)
        prepare_database(url)
        ids = file_reports(url, sum(counts) + warmup, folder)
        tasks: queue.Queue[int] = queue.Queue()
        for task_id in ids:
            tasks.put(task_id)
        db = Database(url)
        try:
            with serving(url, folder, workers=workers) as served:
                token = HttpApi(served.port).token("op-dc")
                pg = postgres_backends_cpu(db, url.rsplit("/", 1)[1])
                # warm-up: every worker parses the bundle once and fills its pool (not counted)
                run_level(served.port, served.worker_pids, pg, token, tasks, Level(workers, 2 * workers), warmup)
                levels = []
                for n, count in zip(clients, counts, strict=True):
                    level = Level(workers, n)
                    run_level(served.port, served.worker_pids, pg, token, tasks, level, count)
                    print(level.row(), flush=True)
                    levels.append(level)
                return levels
        finally:
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--per-level", type=int, default=120,
                        help="completions per client count (at least 4 per client)")
    parser.add_argument("--database-url", default=PG_URL, help="a PostgreSQL server; a fresh database is made on it")
    args = parser.parse_args()
    print("Task completions over HTTP (gunicorn, PostgreSQL). CPU per completion: app = gunicorn workers, "
          "PG = this database's backends. The machine is shared: compare rows of one run, not runs.")
    print(HEADER, flush=True)
    for workers in args.workers:
        bench_workers(args.database_url, workers, args.clients, args.per_level)


if __name__ == "__main__":
    main()
