"""工单导入 page: a platform operator uploads a 12345 export, checks it (dry run), then imports it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from sqlalchemy.orm import Session, object_session

from app.intake.orders import CAPABILITY, importable_units
from app.intake.sources import Source, load_sources
from app.intake.upload import import_upload
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
        report = import_upload(s, principal, request.form, request.files.get("file"))
    except Invalid as exc:
        return render_template("intake/import.html", me=principal.user, sources=sources, report=None,
                               errors=exc.fields or {"": exc.message}, chosen=request.form.get("source")), 422
    return render_template("intake/import.html", me=principal.user, sources=sources, report=report, errors={},
                           chosen=report.source)
from app.intake import qr_pages  # noqa: E402,F401  (registers the QR pages on the blueprint)
