"""Flask-level upload helpers shared by the pages and the JSON API: the per-view body limit, the
upload folder, reading files with the size limit, and sending a stored file safely."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request, send_file
from werkzeug.datastructures import FileStorage

from app.attachments import service

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
    return service.Upload(file.filename or "", service.read_limited(file.stream, field, file.filename or ""))


def file_response(served: service.Served) -> Response:
    """The file, never sniffed into another type, never cached by shared caches; photos and PDFs
    open in the browser, in a sandbox with no scripts."""
    response = send_file(served.path, mimetype=served.content_type, download_name=served.name, max_age=0,
                         conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
