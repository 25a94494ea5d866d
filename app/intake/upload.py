"""What the upload page and the JSON API share: read the uploaded export and run the import."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app.attachments.service import read_limited
from app.intake.orders import ImportReport, import_orders
from app.intake.reader import MAX_ROWS
from app.intake.sources import find_source
from app.services.auth import Principal
from app.services.errors import Invalid

TRUE_WORDS = {"1", "true", "on", "yes"}
# Filing a row runs its process (~40 ms on a shared 2-core machine): a web request files at most
# this many, within a worker's timeout; larger files go through the CLI. A dry run checks any size.
WEB_IMPORT_ROWS = 2_000


def import_upload(s: Session, principal: Principal, form: Any, file: FileStorage | None) -> ImportReport:
    """The import a form asks for: ``file``, ``source`` and ``dry_run`` (1/true/on)."""
    if file is None or not file.filename:
        raise Invalid("choose the export file to import", {"file": "required"})
    source = find_source(str(form.get("source") or "hotline_12345"))
    content = read_limited(file.stream, "file", file.filename)
    dry_run = str(form.get("dry_run", "")).lower() in TRUE_WORDS
    return import_orders(s, principal, source, file.filename, content, dry_run=dry_run,
                         max_rows=MAX_ROWS if dry_run else WEB_IMPORT_ROWS)
