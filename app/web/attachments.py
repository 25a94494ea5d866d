"""Web routes: attachments (附件) — upload to a case, download and thumbnails, public ones by tracking code.

Pages include ``web/_attachments.html`` with ``attachments_panel`` from :func:`panel` (staff) or
:func:`public_panel` (tracking page). Views that take
files are marked with :func:`accepts_uploads`, which lifts the 1 MB body cap for them (set before
the CSRF check reads the form).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, abort, current_app, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app.models import Attachment, Case, User
from app.services import attachments as service
from app.services.auth import Principal
from app.services.errors import ServiceError
from app.web import bp
from app.web.session import page, public_page, safe_next

# A request may carry several files of MAX_BYTES each, plus the form around them.
UPLOAD_BODY_BYTES = service.MAX_FILES_PER_REQUEST * service.MAX_BYTES + 1024 * 1024


def accepts_uploads(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view that receives files: its requests may be up to UPLOAD_BODY_BYTES."""
    view.accepts_uploads = True  # type: ignore[attr-defined]
    return view


def init_uploads(app: Flask) -> None:
    """Register the body-size hook; must run before CSRFProtect.init_app (which reads the form)."""

    @app.before_request
    def _upload_body_limit() -> None:
        view = app.view_functions.get(request.endpoint or "")
        if view is not None and getattr(view, "accepts_uploads", False):
            request.max_content_length = UPLOAD_BODY_BYTES


def upload_folder() -> Path:
    return Path(current_app.extensions["whistle.settings"].upload_dir)


def uploads_from(files: list[FileStorage], field: str = "files") -> list[service.Upload]:
    """The non-empty files of a form field, each read with the per-file size limit."""
    return [read_upload(f, field) for f in files if f is not None and (f.filename or f.content_length)]


def read_upload(file: FileStorage, field: str = "files") -> service.Upload:
    return service.Upload(file.filename or "", service.read_limited(file.stream, field))


def save_public_photos(s: Session, case: Case, field: str = "photo") -> list[Attachment]:
    """For the public report page: store the photos of ``field`` on the new case, shown back to the
    reporter on the tracking page. Raises Invalid (rolling back the report) when one is refused."""
    uploads = uploads_from(request.files.getlist(field), field)
    return [service.store(s, case, u, None, folder=upload_folder(), public=True, field=field) for u in uploads]


# --- what the partial shows ----------------------------------------------------------------------


def panel(s: Session, principal: Principal, case: Case, task_id: int | None = None) -> dict[str, Any]:
    """``attachments_panel`` for a staff page (the case already checked visible): every file of the
    case, and the upload form unless the user only reads."""
    rows = service.attachments_of(s, case)
    ids = {a.uploaded_by_id for a in rows if a.uploaded_by_id}
    users = {u.id: u for u in s.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    items = [
        service.describe(
            a, url_for("web.attachment", attachment_id=a.id),
            url_for("web.attachment_thumb", attachment_id=a.id) if a.has_thumbnail else None,
            _uploader(users.get(a.uploaded_by_id) if a.uploaded_by_id else None),
        )
        for a in rows
    ]
    upload_url = None if principal.read_only else url_for("web.upload_attachments", case_id=case.id)
    return {"items": items, "upload_url": upload_url, "task_id": task_id, "public_view": False}


def public_panel(s: Session, case: Case) -> dict[str, Any]:
    """``attachments_panel`` for the tracking page: public files only, no uploader names, no upload."""
    code = case.tracking_code
    items = [
        service.describe(
            a, url_for("web.public_attachment", code=code, attachment_id=a.id),
            url_for("web.public_attachment_thumb", code=code, attachment_id=a.id) if a.has_thumbnail else None,
            None,
        )
        for a in service.attachments_of(s, case, public_only=True)
    ]
    return {"items": items, "upload_url": None, "task_id": None, "public_view": True}


@bp.app_context_processor
def _upload_limits() -> dict[str, Any]:
    return {"attachment_limits": {"max_mb": service.MAX_BYTES // 1024 // 1024,
                                  "max_files": service.MAX_FILES_PER_REQUEST, "accept": service.ACCEPT}}


def _uploader(user: User | None) -> str:
    return f"{user.name}（{user.username}）" if user is not None else _("群众上报")


# --- routes --------------------------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/attachments")
@accepts_uploads
@page
def upload_attachments(s: Session, principal: Principal, case_id: int) -> Any:
    back = safe_next(request.form.get("next"), f"/cases/{case_id}")
    task_id = request.form.get("task_id", type=int)
    try:
        uploads = uploads_from(request.files.getlist("files"))
        stored = service.store_for(
            s, principal, case_id, uploads, folder=upload_folder(), task_id=task_id,
            public=request.form.get("public") in ("1", "on", "true"),
        )
    except ServiceError as exc:
        if exc.status == 404:
            abort(404, exc.message)
        s.rollback()  # nothing of this request is kept: no row, and the files written are deleted
        flash(exc.message, "error")
        return redirect(back)
    flash(_("已上传 %(n)d 个文件", n=len(stored)), "success")
    return redirect(back)


@bp.get("/attachments/<int:attachment_id>")
@page
def attachment(s: Session, principal: Principal, attachment_id: int) -> Any:
    return _send(lambda: service.serve(s, principal, attachment_id, upload_folder()))


@bp.get("/attachments/<int:attachment_id>/thumb")
@page
def attachment_thumb(s: Session, principal: Principal, attachment_id: int) -> Any:
    return _send(lambda: service.serve(s, principal, attachment_id, upload_folder(), thumb=True))


@bp.get("/track/<code>/attachments/<int:attachment_id>")
@public_page
def public_attachment(s: Session, code: str, attachment_id: int) -> Any:
    return _send(lambda: service.serve_public(s, code, attachment_id, upload_folder()))


@bp.get("/track/<code>/attachments/<int:attachment_id>/thumb")
@public_page
def public_attachment_thumb(s: Session, code: str, attachment_id: int) -> Any:
    return _send(lambda: service.serve_public(s, code, attachment_id, upload_folder(), thumb=True))


def _send(find: Callable[[], service.Served]) -> Any:
    try:
        served = find()
    except ServiceError as exc:
        abort(exc.status, exc.message)
    response = send_file(
        served.path, mimetype=served.content_type, download_name=served.name,
        as_attachment=not served.content_type.startswith("image/") and served.content_type != "application/pdf",
        max_age=0, conditional=True,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
