"""Intake JSON API: POST /api/intake/orders imports a 12345 export (multipart form)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.intake import jobs
from app.intake.duplicates import suggestions
from app.intake.merging import close_into
from app.intake.sources import load_sources
from app.intake.upload import import_upload
from app.services.auth import Principal
from app.uploads import accepts_uploads


@bp.post("/intake/orders")
@accepts_uploads
@endpoint
def import_orders_api(s: Session, principal: Principal) -> Any:
    """Form fields: file (.xlsx/.csv), source (config/intake.yaml), dry_run=1 to only check."""
    report = import_upload(s, principal, request.form, request.files.get("file"))
    return jsonify(report.as_dict()), 200 if report.dry_run else 201


@bp.get("/intake/sources")
@endpoint
def import_sources_api(s: Session, principal: Principal) -> Any:
    """The sources an export can come from, with their column headers."""
    return jsonify([{"name": src.name, "label": src.label, "channel": src.channel, "columns": src.columns,
                     "required": list(src.required)} for src in load_sources().values()])


@bp.get("/cases/<int:case_id>/duplicates")
@endpoint
def case_duplicates(s: Session, principal: Principal, case_id: int) -> Any:
    """Open cases likely to be the same problem (重复件), best first, each with why."""
    return jsonify({"items": suggestions(s, principal, case_id)})


@bp.post("/tasks/<int:task_id>/merge")
@endpoint
def merge_report(s: Session, principal: Principal, task_id: int) -> Any:
    """At triage: close the task's report into an open case (kind merged | duplicate, target = its number)."""
    merge = close_into(s, principal, task_id, request.get_json(silent=True))
    return jsonify({"case": merge.case_id, "target": merge.target_id, "kind": merge.kind}), 201


@bp.post("/intake/jobs")
@accepts_uploads
@endpoint
def import_job_start_api(s: Session, principal: Principal) -> Any:
    """The real import of a large export in the background (multipart: file, source); poll the job."""
    job = jobs.create_job(s, principal, request.form, request.files.get("file"))
    return jsonify(jobs.describe(job, with_rows=False)), 202, {"Location": f"/api/intake/jobs/{job.id}"}


@bp.get("/intake/jobs/<int:job_id>")
@endpoint
def import_job_api(s: Session, principal: Principal, job_id: int) -> Any:
    """Progress (done of total rows, counts) of the caller's import job; the rows once it has ended."""
    job = jobs.job_for(s, principal, job_id)
    return jsonify(jobs.describe(job, with_rows=job.status in ("done", "failed")))
