"""JSON API: attachments of a case (for apps that upload a phone photo, 随手拍).

Same rules as the pages: content-checked types, 10 MB per file, generated names outside the web
root, visible only to users who may see the case, nothing stored when any file is refused.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for
from sqlalchemy.orm import Session

from app.api import bp, endpoint
from app.attachments import service
from app.models import Attachment
from app.services.auth import Principal
from app.services.cases import visible
from app.uploads import accepts_uploads, file_response, upload_folder, uploads_from


def _info(attachment: Attachment) -> dict[str, Any]:
    thumb = url_for("api.attachment_file", attachment_id=attachment.id, thumb=1) if attachment.has_thumbnail else None
    info = service.describe(attachment, url_for("api.attachment_file", attachment_id=attachment.id), thumb, None)
    info.pop("uploader")
    return info


@bp.get("/cases/<int:case_id>/attachments")
@endpoint
def case_attachments(s: Session, principal: Principal, case_id: int) -> Any:
    case = visible(s, principal, case_id)
    return jsonify({"attachments": [_info(a) for a in service.attachments_of(s, case)]})


@bp.post("/cases/<int:case_id>/attachments")
@accepts_uploads
@endpoint
def add_attachments(s: Session, principal: Principal, case_id: int) -> Any:
    stored = service.store_for(
        s, principal, case_id, uploads_from(request.files.getlist("files")), folder=upload_folder(),
        task_id=request.form.get("task_id", type=int), public=request.form.get("public") in ("1", "true", "on"),
    )
    return jsonify({"attachments": [_info(a) for a in stored]}), 201


@bp.get("/attachments/<int:attachment_id>")
@endpoint
def attachment_file(s: Session, principal: Principal, attachment_id: int) -> Any:
    served = service.serve(s, principal, attachment_id, upload_folder(), thumb=request.args.get("thumb") == "1")
    return file_response(served)
