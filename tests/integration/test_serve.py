"""Served for real: gunicorn with 2 workers on PostgreSQL while 2 scheduler processes run; a whole
whistle driven over HTTP closes and every timer that fell due fired once. Also: the scheduler stops
cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import Database, temporary_postgres_database
from app.models import Event, Timer
from bench.served import HttpApi, flask_command, prepare_database, serving
from tests.integration.flow import FORMS, TWO_DEPTS, Flow
from tests.integration.test_deadlines import COOP, LEAD, MONDAY_0900, beijing

PG = os.environ.get("TEST_DATABASE_URL")
DEPTS = [LEAD, COOP]


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def set_clock(path: Path, moment: datetime) -> None:
    """The served processes' clock (tests/integration/clocked_wsgi.py) now reads ``moment`` (naive UTC)."""
    offset = (moment - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
    partial = path.with_suffix(".tmp")
    partial.write_text(repr(offset))
    partial.replace(path)


def counts(db: Database, case_id: int, *types: str) -> list[int]:
    with db.unit_of_work() as s:
        found = dict(s.execute(select(Event.type, func.count()).where(Event.case_id == case_id, Event.type.in_(types))
                               .group_by(Event.type)).all())
    return [int(found.get(t, 0)) for t in types]


def fired_timers(db: Database, case_id: int) -> list[str]:
    with db.unit_of_work() as s:
        return sorted(e.data["timer"] for e in s.scalars(
            select(Event).where(Event.case_id == case_id, Event.type == "timer_fired")))


@pytest.mark.skipif(not PG, reason="PostgreSQL only (several processes share one database): set TEST_DATABASE_URL")
def test_a_whistle_closes_under_gunicorn_with_two_workers_and_two_schedulers(tmp_path: Path) -> None:
    assert PG is not None
    clock_file = tmp_path / "clock"
    set_clock(clock_file, MONDAY_0900)
    with temporary_postgres_database(PG, "whistle_serve") as url:
        prepare_database(url)
        db = Database(url)
        env = {"WHISTLE_TEST_CLOCK_FILE": str(clock_file)}
        try:
            with serving(url, tmp_path, workers=2, schedulers=2, app_module="tests.integration.clocked_wsgi",
                         extra_env=env) as served:
                assert len(served.worker_pids()) == 2
                flow = Flow(HttpApi(served.port))
                case_id = int(flow.report(title="违规广告", matter=TWO_DEPTS)["id"])
                flow.do("op-dc", case_id, "triage", FORMS["triage_whistle"])
                flow.review_chain(case_id, "community")
                flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)

                # the cooperating department is late: past its reminder (80 %) and its limit
                set_clock(clock_file, beijing(8, 15, 2))
                assert eventually(lambda: counts(db, case_id, "supervision_opened") == [1])
                time.sleep(2)  # four more rescans of each scheduler: nothing fires twice
                assert counts(db, case_id, "reminder", "supervision_opened") == [1, 1]

                flow.do("hw-staff", case_id, "report_in", FORMS["report_in"], unit=COOP)  # 销号
                flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
                flow.handle_all(case_id, DEPTS)
                flow.close_whistle(case_id, "community", DEPTS)
                view = flow.case(case_id)
                assert (view["status"], view["outcome"], view["level"]) == ("closed", "closed", "community")
                assert counts(db, case_id, "supervision_cleared") == [1]
            assert fired_timers(db, case_id) == ["report_in_overdue_timer", "report_in_remind_timer"]
            with db.unit_of_work() as s:
                assert s.scalar(select(func.count()).select_from(Timer).where(
                    Timer.case_id == case_id, Timer.status == "waiting")) == 0
            logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
            assert '"logger": "whistle.request"' in logs and '"request_id"' in logs
            assert "Traceback" not in logs
        finally:
            db.dispose()


def test_the_scheduler_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sched.db'}"
    prepare_database(url)
    env = {**os.environ, "WHISTLE_DATABASE_URL": url, "WHISTLE_SECRET_KEY": "test", "WHISTLE_ANCHOR_HOURS": "0"}
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        process = subprocess.Popen(flask_command("wsgi", "scheduler", "--scan-seconds", "0.2"), env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert eventually(lambda: "timer scheduler running" in log.read_text(), timeout=60)
        time.sleep(0.5)  # a rescan or two
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert "SIGTERM received: stopping after the current step" in text
    assert "Traceback" not in text
