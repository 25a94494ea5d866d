"""工单导入 page: a platform operator uploads a 12345 export, checks it (dry run), then imports it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session, object_session

from app.intake import jobs
from app.intake.merging import close_into
from app.intake.orders import CAPABILITY, importable_units
from app.intake.sources import Source, load_sources
from app.intake.upload import TRUE_WORDS, import_upload
from app.models import User
from app.services.auth import Principal
from app.services.errors import Forbidden, Invalid
from app.services.locality import load_locality
from app.uploads import accepts_uploads
from app.web.labels import is_english
from app.web.pages import staff_error_pages
from app.web.session import page

bp = Blueprint("intake", __name__, url_prefix="/intake", template_folder="templates")


staff_error_pages(bp)


def can_import(me: User | None) -> bool:
    """Whether the nav shows 工单导入 (a role with the capability in some unit)."""
    if me is None or object_session(me) is None:
        return False
    granted = load_locality().roles_with(CAPABILITY)
    return any(r.role in granted for r in me.roles)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"can_import_orders": can_import, "source_label": source_label}


def source_label(source: Source) -> str:
    return source.label.get("en" if is_english() else "zh", source.name)


@bp.route("/import", methods=["GET", "POST"])
@accepts_uploads
@page
def import_page(s: Session, principal: Principal) -> Any:
    if not importable_units(s, principal):
        raise Forbidden(f"importing work orders needs the capability '{CAPABILITY}'")
    sources = list(load_sources().values())
    if request.method == "GET":
        return render_template("intake/import.html", me=principal.user, sources=sources, report=None, errors={})
    try:
        if str(request.form.get("dry_run", "")).lower() not in TRUE_WORDS:
            return _start_job(s, principal)
        report = import_upload(s, principal, request.form, request.files.get("file"))
    except Invalid as exc:
        return render_template("intake/import.html", me=principal.user, sources=sources, report=None,
                               errors=exc.fields or {"": exc.message}, chosen=request.form.get("source")), 422
    return render_template("intake/import.html", me=principal.user, sources=sources, report=report, errors={},
                           chosen=report.source)
def _start_job(s: Session, principal: Principal) -> Any:
    """The real import runs in the background once the job is committed; its page shows the progress."""
    job = jobs.create_job(s, principal, request.form, request.files.get("file"))
    return redirect(url_for("intake.import_job_page", job_id=job.id))


@bp.get("/import/jobs/<int:job_id>")
@page
def import_job_page(s: Session, principal: Principal, job_id: int) -> Any:
    """导入进度: rows done of total, polled by the page; the row results when the job has ended."""
    job = jobs.describe(jobs.job_for(s, principal, job_id))
    return render_template("intake/import_job.html", me=principal.user, job=job)


from app.intake import qr_pages  # noqa: E402,F401  (registers the QR pages on the blueprint)


@bp.post("/tasks/<int:task_id>/merge")
@page
def merge_page(s: Session, principal: Principal, task_id: int) -> Any:
    """From the triage task page: close the report into the chosen case (并案) or as its duplicate (重复件)."""
    merge = close_into(s, principal, task_id, request.form)
    flash(_("已并入案件 %(number)s", number=merge.target.number) if merge.kind == "merged"
          else _("已认定为案件 %(number)s 的重复件", number=merge.target.number))
    return redirect(url_for("web.inbox"))
