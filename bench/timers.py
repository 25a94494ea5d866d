"""Timer-firing benchmark: N due timers, fired by 1 and by K scheduler processes.

``python -m bench.timers [--timers 10000] [--schedulers 1 4] [--mode running cold] [--pg | --database-url URL]``

One database is built first (migrations, demo organisation, ``processes/`` plus
``bench/timer_probe.bpmn`` deployed): N cases of the probe process are started, each waiting on
one timer, all due at one moment D (the creating process runs its clock a day behind, so nothing
fires early). For each mode and scheduler count K, a fresh copy of it (a PostgreSQL ``TEMPLATE``
copy, or a file copy) gets K scheduler processes, which fire every timer:

- ``running``: the schedulers are started first and the N timers fall due while they run, all at
  once, ``--lead`` seconds after their start (each runs the app's scheduler exactly as
  ``flask --app wsgi scheduler`` does, on a clock set so that D is that moment). Counted from D.
- ``cold``: ``flask --app wsgi scheduler`` processes are started after everything fell due (a
  scheduler that was down catches up). Counted from their start, Python start-up included.

Printed, from the ``timer_fired`` audit events: the time until the first and until every timer
had fired, timers/s, the latency to fired (p50/p95), the check that each timer fired exactly once,
and the CPU the schedulers (start-up included) and the PostgreSQL server spent per timer.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, make_url, select, text

from app.cli import run_migrations
from app.db import Database, temporary_postgres_database
from app.definitions.versions import deploy_directory
from app.models import Event, Timer, Unit
from app.services import clock, workflow
from app.services.cases import new_case
from app.services.deadlines import iso
from app.services.org import load_organisation
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
                    case = new_case(session, process_id="timer_probe", place=grid, title="定时器探针 Timer probe",
                                    description="", channel="web", address="", reporter_name="",
                                    reporter_phone="", reported_by=None, actor=None, urgent=False, matter=None)
                    workflow.start(session, case, {"due": iso(due)}, None)
                    made += 1
    finally:
        clock.advance(behind)


def start_schedulers(url: str, count: int, scan_seconds: float = 1.0,
                     clock_offset: float | None = None) -> list[subprocess.Popen[bytes]]:
    """``count`` scheduler processes: ``flask --app wsgi scheduler``, or with ``clock_offset`` (s)
    this module's ``--scheduler`` worker, the same scheduler on a clock moved by that much."""
    env = {**os.environ, "WHISTLE_DATABASE_URL": url, "WHISTLE_SECRET_KEY": "bench"}
    if clock_offset is None:
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "--scan-seconds", str(scan_seconds)]
    else:
        command = [sys.executable, "-m", "bench.timers", "--scheduler", "--clock-offset", str(clock_offset),
                   "--scan-seconds", str(scan_seconds)]
    return [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True) for _ in range(count)]


def scheduler_worker(clock_offset: float, scan_seconds: float) -> None:
    """What ``flask --app wsgi scheduler`` runs (the app, its database, a blocking TimerScheduler),
    on the app's clock moved by ``clock_offset`` seconds (the test clock)."""
    from app import create_app
    from app.services.scheduler import TimerScheduler

    app = create_app()
    clock.advance(timedelta(seconds=clock_offset))
    runner = TimerScheduler(app.extensions["whistle.db"], scan_seconds=scan_seconds, blocking=True)
    with suppress(KeyboardInterrupt, SystemExit):
        runner.start()


def postgres_cpu_seconds() -> float:
    """CPU (user + system) used so far by the processes of the PostgreSQL server on this machine:
    those running, and (counted in the server's main process) its connections that have ended."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)
            if "postgres" not in fields[0]:
                continue
            values = fields[1].split()
            total += sum(int(value) for value in values[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
    mode: str
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
    scheduler_cpu_ms: float = 0.0  # per timer, the schedulers' start-up included
    postgres_cpu_ms: float = 0.0  # per timer, the whole server


def figures(db: Database, mode: str, schedulers: int, timers: int, started: datetime) -> Figures:
    """Times count from when the schedulers were started (process start-up included), or from
    the due time if that came later; both on the schedulers' clock."""
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
        mode=mode, schedulers=schedulers, timers=timers, fired_events=len(events),
        duplicates=sum(n - 1 for n in per_case.values() if n > 1), waiting_left=waiting,
        first_fired_s=(first_fired - due).total_seconds() if fired_at else 0.0,
        all_fired_s=span, per_second=(len(events) - 1) / firing if len(events) > 1 else 0.0,
        p50_ms=statistics.median(latencies) if latencies else 0.0, p95_ms=quantiles[18],
    )


def build(url: str, timers: int) -> datetime:
    """The database every run starts from: schema, organisation, processes and ``timers`` probe
    cases whose timers are all due by the time it is ready. Returns their due moment."""
    prepare_database(url)
    db = Database(url)
    try:
        started = time.monotonic()
        due = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        create_due_timers(db, timers, due)
        print(f"  {timers} due timers created in {time.monotonic() - started:.1f} s", flush=True)
        return due
    finally:
        db.dispose()


def fire(url: str, timers: int, schedulers: int, timeout: float, due: datetime | None = None,
         lead: float = 5.0) -> Figures:
    """Start the schedulers on a database of due timers; figures once all have fired. With
    ``due`` (the timers' due moment) the schedulers' clock is set so that the timers fall due
    ``lead`` seconds after their start ("running"); without, they start late ("cold")."""
    db = Database(url)
    try:
        real_start = datetime.now(UTC).replace(tzinfo=None)
        offset = None if due is None else (due - timedelta(seconds=lead) - real_start).total_seconds()
        started = real_start + timedelta(seconds=offset or 0.0)  # on the schedulers' clock
        cpu_children, cpu_postgres = children_cpu_seconds(), postgres_cpu_seconds()
        processes = start_schedulers(url, schedulers, clock_offset=offset)
        try:
            wait_until_fired(db, timers, timeout)
        finally:
            stop(processes)
        cpu_children, cpu_postgres = children_cpu_seconds() - cpu_children, postgres_cpu_seconds() - cpu_postgres
        result = figures(db, "cold" if due is None else "running", schedulers, timers, started)
        result.scheduler_cpu_ms = cpu_children * 1000 / max(timers, 1)
        result.postgres_cpu_ms = cpu_postgres * 1000 / max(timers, 1)
        return result
    finally:
        db.dispose()


def run_once(url: str, timers: int, schedulers: int, timeout: float, mode: str = "cold",
             lead: float = 5.0) -> Figures:
    due = build(url, timers)
    return fire(url, timers, schedulers, timeout, due if mode == "running" else None, lead)


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
    lines = ["| mode | schedulers | timers | fired once | duplicates | left waiting | first fired (s) | "
             "all fired (s) | timers/s | latency p50 (ms) | p95 (ms) | scheduler CPU ms/timer | "
             "PostgreSQL CPU ms/timer |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.mode} | {r.schedulers} | {r.timers} | {r.fired_events - r.duplicates} | {r.duplicates} | "
                     f"{r.waiting_left} | {r.first_fired_s:.2f} | {r.all_fired_s:.1f} | {r.per_second:.0f} | "
                     f"{r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.scheduler_cpu_ms:.2f} | {r.postgres_cpu_ms:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--schedulers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--pg", action="store_true", help=f"use a temporary database on {PG_URL}")
    parser.add_argument("--database-url", help="a PostgreSQL server to make a temporary database on")
    parser.add_argument("--mode", nargs="+", choices=("running", "cold"), default=["running", "cold"],
                        help="running: timers fall due while the schedulers run; cold: schedulers start late")
    parser.add_argument("--lead", type=float, default=5.0, help="running: seconds from start to the due moment")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--scheduler", action="store_true", help=argparse.SUPPRESS)  # a worker process
    parser.add_argument("--clock-offset", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--scan-seconds", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scheduler:
        scheduler_worker(args.clock_offset, args.scan_seconds)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp, database(args, Path(tmp), "template") as template:
        due = build(template, args.timers)  # once: every run starts from a copy
        for mode in args.mode:
            for count in args.schedulers:
                print(f"{mode}, {count} scheduler(s):", flush=True)
                with database(args, Path(tmp), f"timers{count}") as url:
                    copy_database(template, url)
                    results.append(fire(url, args.timers, count, args.timeout,
                                        due if mode == "running" else None, args.lead))
    print(table(results))


if __name__ == "__main__":
    main()
