"""Timer-firing benchmark: N due timers, fired by 1 and by K scheduler processes.

``python -m bench.timers [--timers 10000] [--schedulers 1 4] [--pg | --database-url URL]``

One database is built first (migrations, demo organisation, ``processes/`` plus
``bench/timer_probe.bpmn`` deployed): N cases of the probe process are started, each waiting on
one timer, all due at the moment they are made (the creating process runs its clock a day
behind, so nothing fires early). For each scheduler count K, a fresh copy of it (a PostgreSQL
``TEMPLATE`` copy, or a file copy) gets K ``flask --app wsgi scheduler`` processes, which fire
every timer. Printed, from the ``timer_fired`` audit events and counted from the moment the
schedulers were started (their start-up included): the time until the first and until every
timer had fired, timers/s, the latency to fired (p50/p95), and the check that each timer fired
exactly once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, make_url, select, text

from app.cli import run_migrations
from app.db import Database, temporary_postgres_database
from app.models import Event, Timer, Unit
from app.services import clock, workflow
from app.services.cases import new_case
from app.services.deadlines import iso
from app.services.org import load_organisation
from app.services.processes import deploy_directory
from app.settings import ROOT

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROBE = ROOT / "bench" / "timer_probe.bpmn"
BATCH = 200


def prepare_database(url: str) -> None:
    """Schema, the demo organisation and processes/ + the timer probe, deployed."""
    run_migrations(url)
    db = Database(url)
    try:
        with tempfile.TemporaryDirectory() as tmp, db.unit_of_work() as session:
            bundle = Path(tmp) / "processes"
            shutil.copytree(ROOT / "processes", bundle)
            shutil.copy(PROBE, bundle / PROBE.name)
            load_organisation(session, ROOT / "config" / "demo_org.yaml")
            deploy_directory(session, bundle, "bench")
    finally:
        db.dispose()


def create_due_timers(db: Database, count: int, due: datetime) -> None:
    """``count`` probe cases, each waiting on one timer due at ``due`` (naive UTC, real time)."""
    behind = timedelta(days=1)
    clock.advance(-behind)  # created "a day earlier": none is due while they are being made
    try:
        with db.unit_of_work() as session:
            grid = session.scalars(select(Unit).where(Unit.kind == "grid").order_by(Unit.id)).first()
        made = 0
        while made < count:
            with db.unit_of_work() as session:
                grid = session.merge(grid)
                for _ in range(min(BATCH, count - made)):
                    case = new_case(session, process_id="timer_probe", grid=grid, title="定时器探针 Timer probe",
                                    description="", channel="web", address="", reporter_name="",
                                    reporter_phone="", reported_by=None, actor=None, urgent=False, matter=None)
                    workflow.start(session, case, {"due": iso(due)}, None)
                    made += 1
    finally:
        clock.advance(behind)


def start_schedulers(url: str, count: int, scan_seconds: float = 1.0) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "WHISTLE_DATABASE_URL": url, "WHISTLE_SECRET_KEY": "bench"}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "--scan-seconds", str(scan_seconds)]
    return [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True) for _ in range(count)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in processes:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fired_count(db: Database) -> int:
    with db.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(Event).where(Event.type == "timer_fired")) or 0)


def wait_until_fired(db: Database, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fired_count(db) >= count:
            return True
        time.sleep(0.2)
    return False


@dataclass
class Figures:
    schedulers: int
    timers: int
    fired_events: int
    duplicates: int
    waiting_left: int
    first_fired_s: float  # from the schedulers' start until the first timer fired (start-up)
    all_fired_s: float  # from the schedulers' start until the last timer fired
    per_second: float  # timers fired per second between the first and the last
    p50_ms: float
    p95_ms: float


def figures(db: Database, schedulers: int, timers: int, started: datetime) -> Figures:
    """Times count from when the schedulers were started (process start-up included), or from
    the due time if that came later."""
    with db.unit_of_work() as session:
        events = session.execute(select(Event.case_id, Event.data).where(Event.type == "timer_fired")).all()
        waiting = int(session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting")) or 0)
    per_case: dict[int | None, int] = {}
    latencies = []
    fired_at = []
    for case_id, data in events:
        per_case[case_id] = per_case.get(case_id, 0) + 1
        due = max(datetime.fromisoformat(data["due_at"]), started)
        fired = datetime.fromisoformat(data["fired_at"])
        latencies.append((fired - due).total_seconds() * 1000)
        fired_at.append((fired, due))
    last_fired, due = max(fired_at) if fired_at else (datetime.min, datetime.min)
    first_fired = min(fired_at)[0] if fired_at else datetime.min
    span = max((last_fired - due).total_seconds(), 1e-9) if fired_at else 0.0
    firing = max((last_fired - first_fired).total_seconds(), 1e-9)
    quantiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [0.0] * 19
    return Figures(
        schedulers=schedulers, timers=timers, fired_events=len(events),
        duplicates=sum(n - 1 for n in per_case.values() if n > 1), waiting_left=waiting,
        first_fired_s=(first_fired - due).total_seconds() if fired_at else 0.0,
        all_fired_s=span, per_second=(len(events) - 1) / firing if len(events) > 1 else 0.0,
        p50_ms=statistics.median(latencies) if latencies else 0.0, p95_ms=quantiles[18],
    )


def build(url: str, timers: int) -> None:
    """The database every run starts from: schema, organisation, processes and ``timers`` probe
    cases whose timers are all due by the time it is ready."""
    prepare_database(url)
    db = Database(url)
    try:
        started = time.monotonic()
        create_due_timers(db, timers, datetime.now(UTC).replace(tzinfo=None, microsecond=0))
        print(f"  {timers} due timers created in {time.monotonic() - started:.1f} s", flush=True)
    finally:
        db.dispose()


def fire(url: str, timers: int, schedulers: int, timeout: float) -> Figures:
    """Start the schedulers on a database of due timers; figures once all have fired."""
    db = Database(url)
    try:
        started = datetime.now(UTC).replace(tzinfo=None)
        processes = start_schedulers(url, schedulers)
        try:
            wait_until_fired(db, timers, timeout)
        finally:
            stop(processes)
        return figures(db, schedulers, timers, started)
    finally:
        db.dispose()


def run_once(url: str, timers: int, schedulers: int, timeout: float) -> Figures:
    build(url, timers)
    return fire(url, timers, schedulers, timeout)


@contextmanager
def database(args: argparse.Namespace, tmp: Path, name: str) -> Iterator[str]:
    if args.database_url or args.pg:
        with temporary_postgres_database(args.database_url or PG_URL, "whistle_bench") as url:
            yield url
    else:
        yield f"sqlite:///{tmp / name}.db"


def copy_database(source: str, target: str) -> None:
    """``target`` (new and empty, or a file not yet made) becomes a copy of ``source``."""
    src, dst = make_url(source), make_url(target)
    if src.get_backend_name() == "sqlite":
        shutil.copy(str(src.database), str(dst.database))
        return
    admin = create_engine(dst.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{dst.database}"'))
            conn.execute(text(f'CREATE DATABASE "{dst.database}" TEMPLATE "{src.database}"'))
    finally:
        admin.dispose()


def table(results: list[Figures]) -> str:
    lines = ["| schedulers | timers | fired once | duplicates | left waiting | first fired after start (s) | "
             "all fired after start (s) | timers/s | latency p50 (ms) | p95 (ms) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.schedulers} | {r.timers} | {r.fired_events - r.duplicates} | {r.duplicates} | "
                     f"{r.waiting_left} | {r.first_fired_s:.2f} | {r.all_fired_s:.1f} | {r.per_second:.0f} | "
                     f"{r.p50_ms:.0f} | {r.p95_ms:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--schedulers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--pg", action="store_true", help=f"use a temporary database on {PG_URL}")
    parser.add_argument("--database-url", help="a PostgreSQL server to make a temporary database on")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp, database(args, Path(tmp), "template") as template:
        build(template, args.timers)  # once: every run starts from a copy
        for count in args.schedulers:
            print(f"{count} scheduler(s):", flush=True)
            with database(args, Path(tmp), f"timers{count}") as url:
                copy_database(template, url)
                results.append(fire(url, args.timers, count, args.timeout))
    print(table(results))


if __name__ == "__main__":
    main()
