"""The timer scheduler: APScheduler wakes up at each timer's due time and fires what is due.

No instance is ever polled. The timer table (written by every step) says when the next timers
fall due; a short rescan of that table (one indexed query) schedules a wake-up job at each due
time within the horizon, and doubles as the safety net for timers another process created. On
start everything that fell due while no scheduler ran is fired at once. Any number of schedulers
may run against one PostgreSQL database: app.services.timers makes each timer fire once.
On SIGTERM/SIGINT (``stop_on_signals``) a scheduler stops between two transactions: the step it is
firing commits, nothing new starts, and the process exits; a timer it had not reached is fired by
another scheduler, or by the next one to start.
Given an anchor ledger, it also anchors every chain head each ``anchor_hours`` (app.services.anchor;
the ledger's lock and the last anchor's time keep several schedulers to one anchor per period).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from app.db import Database
from app.services import anchor, clock, timers

log = logging.getLogger(__name__)


class TimerScheduler:
    def __init__(self, db: Database, scan_seconds: float = 10.0, horizon_seconds: float = 60.0,
                 blocking: bool = False, anchor_path: Path | None = None, anchor_hours: float = 0) -> None:
        self.db = db
        self.anchor_path = anchor_path
        self.anchor_every = timedelta(hours=anchor_hours)
        self.scan = timedelta(seconds=scan_seconds)
        self.horizon = timedelta(seconds=max(horizon_seconds, scan_seconds * 2))
        self.scheduler: BaseScheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=UTC)
        self._firing = threading.Lock()
        self._stopping = threading.Event()
        self.fired = 0

    def start(self) -> None:
        """Fire what fell due while down, then keep waking at due times (blocks if ``blocking``)."""
        self.scheduler.add_job(self.rescan, "interval", seconds=self.scan.total_seconds(), id="rescan",
                               next_run_time=datetime.now(UTC), coalesce=True, max_instances=1)
        if self.anchor_path is not None and self.anchor_every > timedelta(0):
            self.scheduler.add_job(self.anchor, "interval", seconds=self.anchor_every.total_seconds(), id="anchor",
                                   next_run_time=datetime.now(UTC), coalesce=True, max_instances=1)
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop after the transaction in progress (if any) and wait for it."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT shut the scheduler down cleanly (call from the main thread)."""
        owner = os.getpid()

        def _stop(signum: int, _frame: object) -> None:
            if os.getpid() != owner:  # a process forked from this one (a script host) dies as by default
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
                return
            log.info("%s received: stopping after the current step", signal.Signals(signum).name)
            self.shutdown()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _stop)

    def rescan(self) -> None:
        """Fire everything due now, then schedule a wake-up at each due time within the horizon."""
        self.fire()
        if self._stopping.is_set():
            return
        with self.db.unit_of_work() as session:
            moments = timers.upcoming(session, clock.now() + self.horizon)
        offset = clock.now() - datetime.now(UTC).replace(tzinfo=None)  # the test clock may run ahead
        for moment in moments:
            # SpiffWorkflow fires a timer strictly after its due time: wake a moment later
            run_at = (moment - offset + timedelta(milliseconds=5)).replace(tzinfo=UTC)
            self.scheduler.add_job(self.fire, "date", run_date=run_at, id=f"wake-{moment.isoformat()}",
                                   replace_existing=True, misfire_grace_time=None)

    def fire(self) -> None:
        # one drain at a time per process: other processes drain in parallel, claims keep them apart
        with self._firing:
            try:
                result = timers.fire_due(self.db, stop=self._stopping.is_set)
            except Exception:  # the scheduler must keep running; the next wake-up tries again
                log.exception("firing due timers failed")
                return
        self.fired += result.fired
        if result.fired or result.failed:
            log.info("timers fired: %s, failed attempts: %s", result.fired, result.failed)

    def anchor(self) -> None:
        """Anchor the chain heads unless an anchor younger than (most of) the period exists."""
        if self.anchor_path is None:
            return
        try:
            anchored = anchor.anchor(self.db, self.anchor_path, min_interval=self.anchor_every * 0.9)
        except Exception:  # a broken ledger must be loud, but timers keep firing
            log.exception("anchoring the chain heads in %s failed", self.anchor_path)
            return
        if anchored is not None:
            log.info("%s", anchor.summary_line(anchored.summary))
            for key, reason in anchored.conflicts:
                log.error("anchor conflict, chain %s: %s", key, reason)
