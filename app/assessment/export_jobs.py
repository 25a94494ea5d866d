"""Excel exports in steps, and long ones as background jobs with their progress.

An export is a short list of steps (compute the departments' figures, the whistling units', write
the workbook); a short period runs them at once in the request. A period longer than
``BACKGROUND_DAYS`` (a quarter) becomes an :class:`~app.models.ExportJob` run on a thread of its own: after each
step its progress (percent of the steps done) is committed, so the job's page can show it; at the end
it holds the file (done) or the error (failed). Only the user who asked sees the job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment import grades
from app.assessment.export import indicators_workbook, rankings_workbook, supervision_workbook
from app.assessment.ranking import rankings
from app.assessment.service import Period, assessable_units, department_rows, departments_among, unit_rows
from app.db import Database
from app.definitions import configuration
from app.models import ExportJob, Unit, User
from app.services import clock, deadlines
from app.services.auth import Principal, principal_for
from app.services.errors import NotFound

EXPORTS = {"indicators": "统计考核指标", "rankings": "统计考核排名", "supervision": "督办台账"}
BACKGROUND_DAYS = 92  # an export of a longer period (than a quarter) runs in the background, with progress
Step = Callable[[dict[str, Any]], None]  # fills the scratch dict; the last step leaves "body"


def filename(what: str, period: Period) -> str:
    return f"{EXPORTS[what]}_{period.first.isoformat()}_{period.last.isoformat()}.xlsx"


def is_long(period: Period) -> bool:
    return (period.last - period.first).days + 1 > BACKGROUND_DAYS


def steps(s: Session, principal: Principal, what: str, period: Period, level: str | None) -> list[Step]:
    """The export of the figures, rankings or 督办 ledger the user may see, in steps."""
    if what not in EXPORTS:
        raise NotFound(f"no export '{what}'")
    if what == "rankings":
        return [lambda d: d.update(ranking=grades.annotate(s, period, rankings(s, principal, period, level))),
                lambda d: d.update(body=rankings_workbook(period, d["ranking"]))]
    if what == "supervision":
        return [lambda d: d.update(items=supervision_items(s, principal, period)),
                lambda d: d.update(body=supervision_workbook(period, d["items"]))]
    ids = assessable_units(s, principal)
    return [lambda d: d.update(departments=department_rows(s, departments_among(s, ids), period)),
            lambda d: d.update(units=unit_rows(s, ids, period, level)),
            lambda d: d.update(body=indicators_workbook(period, d["departments"], d["units"]))]


def run(plan: list[Step], progress: Callable[[int], None] = lambda _percent: None) -> bytes:
    """Run the steps, telling ``progress`` the percent done after each; the workbook's bytes."""
    scratch: dict[str, Any] = {}
    for done, step in enumerate(plan, 1):
        step(scratch)
        progress(round(100 * done / len(plan)))
    return bytes(scratch["body"])


def supervision_items(s: Session, principal: Principal, period: Period) -> list[dict[str, Any]]:
    """The ledger entries the user sees that were opened in the period or are still open (the two
    督办 figures), of the units whose figures they may see."""
    low, high = (moment.isoformat() for moment in period.bounds())
    codes = {u.code for u in s.scalars(select(Unit).where(Unit.id.in_(assessable_units(s, principal) or [0])))}
    items = deadlines.supervision_ledger(s, principal, None, clock.now())["items"]
    return [e for e in items if e["unit"] in codes and (e["status"] == "open" or low <= e["opened_at"] < high)]


# --- background jobs -------------------------------------------------------------------------------


def create(s: Session, principal: Principal, what: str, period: Period, level: str | None) -> ExportJob:
    """A queued job for this export (the caller starts it after its transaction commits)."""
    steps(s, principal, what, period, level)  # refuses an unknown export before anything is stored
    job = ExportJob(user_id=principal.user.id, what=what, period_start=period.first, period_end=period.last,
                    level=level, status="queued", progress=0, filename=filename(what, period),
                    created_at=clock.now())
    s.add(job)
    s.flush()
    return job


def start(db: Database, job_id: int) -> threading.Thread:
    """Run the job on a thread of its own, with the configuration in effect now."""
    thread = threading.Thread(target=work, args=(db, job_id, configuration.current()), daemon=True,
                              name=f"export-job-{job_id}")
    thread.start()
    return thread


def work(db: Database, job_id: int, config: configuration.Configuration) -> None:
    """Run a job to its end: progress committed after each step, then the file, or the error."""
    with configuration.activate(config):
        try:
            with db.unit_of_work() as s:
                job = s.get(ExportJob, job_id)
                if job is None:
                    return
                user = s.get(User, job.user_id)
                principal = principal_for(s, user)  # type: ignore[arg-type]
                plan = steps(s, principal, job.what, Period(job.period_start, job.period_end), job.level)
                _update(db, job_id, status="running")
                body = run(plan, lambda percent: _update(db, job_id, progress=min(percent, 99)))
            _update(db, job_id, status="done", progress=100, body=body, finished_at=clock.now())
        except Exception as exc:
            _update(db, job_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=clock.now())


def _update(db: Database, job_id: int, **values: Any) -> None:
    with db.unit_of_work() as s:
        job = s.get(ExportJob, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


def mine(s: Session, principal: Principal, job_id: int) -> ExportJob:
    """The user's own job; 404 for anyone else's."""
    job = s.get(ExportJob, job_id)
    if job is None or job.user_id != principal.user.id:
        raise NotFound(f"no export job {job_id}")
    return job


def describe(job: ExportJob) -> dict[str, Any]:
    return {"id": job.id, "what": job.what, "period": {"start": job.period_start.isoformat(),
                                                       "end": job.period_end.isoformat()},
            "status": job.status, "progress": job.progress, "filename": job.filename, "error": job.error}
