"""A real import of a large export as a background job (工单导入 with a progress bar).

The file is read and checked whole before the job exists (a file that cannot be read, or has too
many rows, is refused with nothing stored). The job then files the rows in chunks, one transaction
each, and counts them in ``import_jobs.done``: the import page polls that. Every row is still filed in
a savepoint of its own, and a row already imported is skipped, so a job that stops half-way (the
server restarted) is finished by importing the same file again.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict
from typing import Any

from flask import Flask, after_this_request, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app.attachments.service import read_limited
from app.intake.orders import OUTCOMES, RowResult, import_rows, may_import
from app.intake.reader import MAX_ROWS, read_rows
from app.intake.sources import Source, find_source
from app.models import ImportJob, User
from app.services import clock
from app.services.auth import Principal, principal_for
from app.services.errors import Invalid, NotFound
from app.services.validation import valid_id

CHUNK_ROWS = 100  # rows per transaction: the progress moves every few seconds
log = logging.getLogger(__name__)


def create_job(s: Session, principal: Principal, form: Any, file: FileStorage | None) -> ImportJob:
    """The job for an uploaded export; it starts once the request's unit of work has committed it."""
    may_import(s, principal)
    if file is None or not file.filename:
        raise Invalid("choose the export file to import", {"file": "required"})
    source = find_source(str(form.get("source") or "hotline_12345"))
    rows = read_rows(file.filename, read_limited(file.stream, "file", file.filename), MAX_ROWS)
    job = ImportJob(user_id=principal.user.id, source=source.name, filename=file.filename[:255], status="queued",
                    total=len(rows), done=0, counts=json.dumps(dict.fromkeys(OUTCOMES, 0)), results="", error="",
                    created_at=clock.now())
    s.add(job)
    s.flush()
    app, job_id = current_app._get_current_object(), job.id  # type: ignore[attr-defined]

    @after_this_request
    def _run(response: Any) -> Any:  # the view's unit of work has committed the job by now
        start(app, job_id, rows)
        return response

    return job


def start(app: Flask, job_id: int, rows: list[dict[str, Any]]) -> threading.Thread:
    """Run the job in a thread of this process (call after the job's row is committed)."""
    thread = threading.Thread(target=run, args=(app, job_id, rows, CHUNK_ROWS), name=f"import-job-{job_id}",
                              daemon=True)
    thread.start()
    return thread


def run(app: Flask, job_id: int, rows: list[dict[str, Any]], chunk: int = CHUNK_ROWS) -> None:
    """File the rows chunk by chunk as the job's user, recording progress after each chunk."""
    db = app.extensions["whistle.db"]
    with app.app_context():
        try:
            with db.unit_of_work() as s:
                job = s.get(ImportJob, job_id)
                assert job is not None
                source = find_source(job.source)
            for first in range(0, len(rows), chunk):
                with db.unit_of_work() as s:
                    _run_chunk(s, job_id, source, rows[first:first + chunk], first + 2)
            _finish(db, job_id, "done", "")
        except Exception as exc:  # the job must end with a status the page can show
            log.exception("import job %s failed", job_id)
            _finish(db, job_id, "failed", f"{type(exc).__name__}: {exc}"[:1000])


def _run_chunk(s: Session, job_id: int, source: Source, rows: list[dict[str, Any]], first: int) -> None:
    job = s.get(ImportJob, job_id)
    assert job is not None
    user = s.get(User, job.user_id)
    assert user is not None
    results = import_rows(s, principal_for(s, user), source, rows, dry_run=False, first=first)
    job.status = "running"
    job.done += len(rows)
    counts = json.loads(job.counts)
    for r in results:
        counts[r.outcome] += 1
    job.counts = json.dumps(counts)
    # one JSON object a line: a chunk appends its lines without reading those before it
    job.results += "".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in results)


def _finish(db: Any, job_id: int, status: str, error: str) -> None:
    with db.unit_of_work() as s:
        job = s.get(ImportJob, job_id)
        if job is not None:
            job.status, job.error, job.finished_at = status, error, clock.now()


def job_for(s: Session, principal: Principal, job_id: int) -> ImportJob:
    """A job of the caller's own; 404 for any other."""
    job = s.get(ImportJob, job_id) if valid_id(job_id) else None
    if job is None or job.user_id != principal.user.id:
        raise NotFound(f"import job {job_id} not found")
    return job


def describe(job: ImportJob, with_rows: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": job.id, "source": job.source, "filename": job.filename, "status": job.status, "total": job.total,
        "done": job.done, "percent": round(100 * job.done / job.total) if job.total else 100,
        "counts": json.loads(job.counts), "error": job.error,
    }
    if with_rows:
        view["rows"] = [asdict(RowResult(**json.loads(line))) for line in job.results.splitlines() if line]
    return view


def latest_jobs(s: Session, principal: Principal, most: int = 5) -> list[ImportJob]:
    return list(s.scalars(select(ImportJob).where(ImportJob.user_id == principal.user.id)
                          .order_by(ImportJob.id.desc()).limit(most)))
