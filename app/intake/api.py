"""Intake JSON API: POST /api/intake/orders imports a 12345 export (multipart form)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.intake.duplicates import suggestions
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
