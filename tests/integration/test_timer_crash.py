"""A timer whose step kills the process firing it (a segfault, the OOM killer, kill -9) does not
stop the timers: each attempt is committed before the step runs, so after MAX_ATTEMPTS steps that
never finished the timer becomes an incident, and the other cases' timers go on firing.

The dying scheduler runs in a subprocess (it must not take pytest down with it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.models import Incident, Timer
from app.services import clock
from app.services.timers import MAX_ATTEMPTS
from app.settings import ROOT
from tests.integration.flow import FORMS, Flow
from tests.integration.test_deadlines import LEAD, at_monday_morning, beijing, events, whistle_at_report_in

assert at_monday_morning  # the fixture, used by name below

# A scheduler run (fire_due) in which the step on one case kills its own process, as a C stack
# overflow in a process script did before scripts ran in a child process.
_DYING_SCHEDULER = textwrap.dedent("""
    import os, signal, sys
    from datetime import timedelta
    from app.db import Database
    from app.services import clock, timers, workflow

    url, offset, doomed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    clock.advance(timedelta(seconds=offset))
    real_fire = workflow.fire_timers

    def fire_timers(session, case, *args, **kwargs):
        if case.id == doomed:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_fire(session, case, *args, **kwargs)

    workflow.fire_timers = fire_timers
    db = Database(url)
    result = timers.fire_due(db)
    print(f"fired={result.fired} failed={result.failed}")
""")


def _run_scheduler(db: Database, doomed: int) -> subprocess.CompletedProcess[str]:
    offset = (clock.now() - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
    return subprocess.run(
        [sys.executable, "-c", _DYING_SCHEDULER, db.url, str(offset), str(doomed)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def _first_timer(db: Database, case_id: int) -> Timer:
    """The case's earliest timer that was not cancelled (the reminder due first)."""
    with db.unit_of_work() as s:
        timer = s.scalar(select(Timer).where(Timer.case_id == case_id, Timer.status != "cancelled")
                         .order_by(Timer.due_at, Timer.id).limit(1))
        assert timer is not None
        return timer


def test_a_timer_whose_step_kills_its_process_becomes_an_incident_after_n_attempts(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    doomed, healthy = whistle_at_report_in(flow), whistle_at_report_in(flow)
    for case_id in (doomed, healthy):
        flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)
    clock.advance(beijing(8, 14, 13) - clock.now())  # both reminders are due

    for attempt in range(1, MAX_ATTEMPTS + 1):
        run = _run_scheduler(db, doomed)
        assert run.returncode == -9, run.stdout + run.stderr  # the step killed its scheduler
        timer = _first_timer(db, doomed)
        assert (timer.status, timer.attempts) == ("waiting", attempt)  # the attempt outlived the process
        clock.advance(max(timer.fire_at - clock.now(), timedelta(0)) + timedelta(seconds=1))

    run = _run_scheduler(db, doomed)  # the attempts are used up: an incident, and no crash
    assert run.returncode == 0, run.stdout + run.stderr
    timer = _first_timer(db, doomed)
    assert (timer.status, timer.attempts) == ("failed", MAX_ATTEMPTS)
    with db.unit_of_work() as s:
        [incident] = s.scalars(select(Incident).where(Incident.case_id == doomed)).all()
        assert incident.attempts == MAX_ATTEMPTS and "did not finish" in incident.error
    assert len(events(db, doomed, "incident_opened")) == 1
    assert len(events(db, healthy, "reminder")) == 1  # the other case's timer fired, once
    assert events(db, doomed, "reminder") == []
