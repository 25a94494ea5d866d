"""Web routes: attachments (附件) — upload to a case, download and thumbnails, public ones by tracking code.

Pages include ``web/_attachments.html`` with ``attachments_panel`` from :func:`panel` (staff) or
:func:`public_panel` (tracking page). Views that take files are marked with ``accepts_uploads``
(app/uploads.py), which lifts the 1 MB body cap for them before the CSRF check reads the form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.attachments import service
from app.models import Attachment, Case, User
from app.services.auth import Principal
from app.services.errors import ServiceError
from app.uploads import (  # noqa: F401  (the pages import these from here)
    UPLOAD_BODY_BYTES,
    accepts_uploads,
    file_response,
    init_uploads,
    read_upload,
    upload_folder,
    uploads_from,
)
from app.web import bp
from app.web.session import page, public_page, safe_next


def save_public_photos(s: Session, case: Case, uploads: list[service.Upload], field: str = "photo") -> list[Attachment]:
    """For the public report page: store the photos read from ``field`` on the new case, shown back to
    the reporter on the tracking page. Raises Invalid (rolling back the report) when one is refused."""
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
            url_for("web.attachment", attachment_id=a.id, thumb=1) if a.has_thumbnail else None,
            _uploader(users.get(a.uploaded_by_id) if a.uploaded_by_id else None),
        )
        for a in rows
    ]
    upload_url = None if principal.read_only else url_for("web.upload_attachments", case_id=case.id)
    can_publish = principal.can("publish")
    for item in items:
        item["visibility_url"] = url_for("web.attachment_visibility", attachment_id=item["id"]) if can_publish else None
    return {"items": items, "upload_url": upload_url, "task_id": task_id, "public_view": False}


def public_panel(s: Session, case: Case) -> dict[str, Any]:
    """``attachments_panel`` for the tracking page: public files only, no uploader names, no upload."""
    code = case.tracking_code
    items = [
        service.describe(
            a, url_for("web.public_attachment", code=code, attachment_id=a.id),
            url_for("web.public_attachment", code=code, attachment_id=a.id, thumb=1) if a.has_thumbnail else None,
            None,
        )
        for a in service.attachments_of(s, case, public_only=True)
    ]
    return {"items": items, "upload_url": None, "task_id": None, "public_view": True}


@bp.app_context_processor
def _upload_limits() -> dict[str, Any]:
    return {"attachment_limits": {"max_mb": service.MAX_MB,
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


@bp.post("/attachments/<int:attachment_id>/visibility")
@page
def attachment_visibility(s: Session, principal: Principal, attachment_id: int) -> Any:
    public = request.form.get("public") == "1"
    try:
        attachment = service.set_public(s, principal, attachment_id, public)
    except ServiceError as exc:
        abort(exc.status, exc.message)
    flash(_("已公开给上报人") if public else _("已取消公开"), "success")
    return redirect(safe_next(request.form.get("next"), f"/cases/{attachment.case_id}"))


@bp.get("/attachments/<int:attachment_id>")
@page
def attachment(s: Session, principal: Principal, attachment_id: int) -> Any:
    """The file; ``?thumb=1`` its JPEG thumbnail."""
    return _send(lambda: service.serve(s, principal, attachment_id, upload_folder(), thumb=_thumb()))


@bp.get("/track/<code>/attachments/<int:attachment_id>")
@public_page
def public_attachment(s: Session, code: str, attachment_id: int) -> Any:
    """A public file of the case with this tracking code; ``?thumb=1`` its thumbnail."""
    return _send(lambda: service.serve_public(s, code, attachment_id, upload_folder(), thumb=_thumb()))


def _thumb() -> bool:
    return request.args.get("thumb") == "1"


def _send(find: Callable[[], service.Served]) -> Any:
    try:
        served = find()
    except ServiceError as exc:
        abort(exc.status, exc.message)
    return file_response(served)
