"""The scheduler: timers that fell due while none ran fire once on start; several scheduler
processes on PostgreSQL fire each timer exactly once, and finish the work of one that is killed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import create_app
from app.db import Database, temporary_postgres_database
from app.models import Case, Event, Timer
from app.services import clock
from app.services.audit import verify
from app.services.scheduler import TimerScheduler
from app.settings import Settings
from bench.timers import create_due_timers, fired_count, prepare_database, start_schedulers, stop
from tests.integration.flow import FORMS, TWO_DEPTS, Flow
from tests.integration.test_deadlines import LEAD, MONDAY_0900, beijing, events

PG = os.environ.get("TEST_DATABASE_URL")


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_timers_due_while_no_scheduler_ran_fire_once_on_start(app: Flask, api: Any) -> None:
    db: Database = app.extensions["whistle.db"]
    try:
        case = {"id": _whistle_at_report_in(Flow(api))}
        clock.advance(beijing(8, 15, 2) - clock.now())  # reminder and deadline passed, nobody fired them
        for _ in range(2):  # a scheduler starts, stops, and another starts: nothing fires twice
            runner = TimerScheduler(db, scan_seconds=0.2)
            runner.start()
            try:
                assert eventually(lambda: len(events(db, case["id"], "supervision_opened")) >= 1)
            finally:
                runner.shutdown()
        assert [len(events(db, case["id"], t)) for t in ("reminder", "supervision_opened", "timer_fired")] == [
            1, 1, 2]
    finally:
        clock.reset()


def test_a_scheduler_wakes_at_a_timer_due_time(app: Flask, api: Any) -> None:
    """Nothing is due at start; the rescan schedules a wake-up at the due time, which fires it."""
    db: Database = app.extensions["whistle.db"]
    case_id = _whistle_at_report_in(Flow(api))
    try:
        with db.unit_of_work() as s:
            due = s.scalar(select(func.min(Timer.due_at)).where(Timer.case_id == case_id, Timer.status == "waiting"))
        assert due is not None
        clock.advance(due - timedelta(seconds=2) - clock.now())
        runner = TimerScheduler(db, scan_seconds=0.3)
        runner.start()
        try:
            assert events(db, case_id, "reminder") == []
            assert eventually(lambda: len(events(db, case_id, "reminder")) == 1, timeout=30)
        finally:
            runner.shutdown()
        [fired] = events(db, case_id, "timer_fired")
        assert fired.data["due_at"] < fired.data["fired_at"]  # never before it was due
    finally:
        clock.reset()


def _whistle_at_report_in(flow: Flow) -> int:
    clock.advance(MONDAY_0900 - clock.now())
    case = flow.report(title="违规广告", matter=TWO_DEPTS)
    flow.do("op-dc", case["id"], "triage", FORMS["triage_whistle"])
    flow.review_chain(case["id"], "community")
    flow.do("cgzf-staff", case["id"], "report_in", FORMS["report_in"], unit=LEAD)
    return int(case["id"])


def _fired_twice(db: Database) -> int:
    with db.unit_of_work() as s:
        per_case = (select(Event.case_id).where(Event.type == "timer_fired").group_by(Event.case_id)
                    .having(func.count() > 1))
        return int(s.scalar(select(func.count()).select_from(per_case.subquery())) or 0)


def _waiting(db: Database) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting")) or 0)


@pytest.mark.skipif(not PG, reason="PostgreSQL only: set TEST_DATABASE_URL")
def test_four_scheduler_processes_fire_1000_timers_exactly_once_and_survive_a_kill() -> None:
    assert PG is not None
    with temporary_postgres_database(PG, "whistle_sched") as url:
        prepare_database(url)
        db = Database(url)
        try:
            create_due_timers(db, 1000, datetime.now(UTC).replace(tzinfo=None))  # all due by the time they start
            processes = start_schedulers(url, 4, scan_seconds=0.5)
            try:
                assert eventually(lambda: fired_count(db) >= 50, timeout=120)
                os.killpg(processes[0].pid, signal.SIGKILL)  # mid-run, likely inside a transaction
                assert eventually(lambda: fired_count(db) >= 1000, timeout=300), fired_count(db)
            finally:
                stop(processes)
            assert (fired_count(db), _fired_twice(db), _waiting(db)) == (1000, 0, 0)

            # timers that fall due while no scheduler runs fire once when one starts again
            create_due_timers(db, 100, datetime.now(UTC).replace(tzinfo=None))
            processes = start_schedulers(url, 1, scan_seconds=0.5)
            try:
                assert eventually(lambda: fired_count(db) >= 1100, timeout=120)
            finally:
                stop(processes)
            assert (fired_count(db), _fired_twice(db), _waiting(db)) == (1100, 0, 0)
            # the batches wrote every case row whole: chain head, event count, state and its snapshot agree
            with db.unit_of_work() as s:
                checked = verify(s, snapshots=True)
                assert checked.first_break is None, checked.as_dict()
                assert {c.version for c in s.scalars(select(Case))} == {2}  # started, then fired: two steps each
        finally:
            db.dispose()


def test_the_web_process_runs_a_scheduler_when_asked(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISTLE_SCHEDULER", "1")
    monkeypatch.setenv("WHISTLE_SCHEDULER_SCAN_SECONDS", "0.5")
    settings = Settings.from_env(database_url=database_url, testing=True)
    assert (settings.scheduler, settings.scheduler_scan_seconds) == (True, 0.5)
    application = create_app(settings)
    assert "whistle.scheduler" not in application.extensions  # not for CLI commands: on the first request
    application.test_client().get("/api/openapi.json")
    runner = application.extensions["whistle.scheduler"]
    try:
        assert runner.scheduler.running
    finally:
        runner.shutdown()
        application.extensions["whistle.db"].dispose()
    monkeypatch.delenv("WHISTLE_SCHEDULER")
    plain = create_app(Settings.from_env(database_url=database_url, testing=True))
    plain.test_client().get("/api/openapi.json")
    assert "whistle.scheduler" not in plain.extensions
