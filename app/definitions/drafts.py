"""An admin's drafts: edits of a version's files made in the browser modeler, kept on the server
per admin and file so that a reload loses nothing; checked and deployed as a bundle (the version's
files with the drafts over them)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.definitions.versions import version_by_number
from app.models import ProcessDraft
from app.services import clock
from app.services.errors import Invalid

MAX_DRAFT_CHARS = 2 * 1024 * 1024
EDITABLE = (".bpmn", ".dmn", ".schema.json")  # the modeler, the DMN editor, the form editor


def save(session: Session, user_id: int, base_version: int, file_name: str, text: str) -> ProcessDraft:
    """Keep the admin's draft of a file (replacing the earlier one); the file must be one of the
    version's diagrams, decision tables or forms. An admin's drafts all start from one version: drafts of another are
    dropped (the modeler page says so before the first edit)."""
    version = version_by_number(session, base_version)
    if file_name not in version.files or not file_name.endswith(EDITABLE):
        raise Invalid(f"version {base_version} has no editable file {file_name}", {"file": "unknown"})
    if not text.strip() or len(text) > MAX_DRAFT_CHARS:
        raise Invalid(f"a draft is 1 to {MAX_DRAFT_CHARS} characters", {"text": "invalid"})
    session.execute(delete(ProcessDraft).where(ProcessDraft.user_id == user_id,
                                               ProcessDraft.base_version != base_version))
    draft = session.get(ProcessDraft, (user_id, file_name))
    if draft is None:
        draft = ProcessDraft(user_id=user_id, file_name=file_name)
        session.add(draft)
    draft.base_version, draft.text, draft.updated_at = base_version, text, clock.now()
    return draft


def drafts_of(session: Session, user_id: int) -> list[ProcessDraft]:
    return list(session.scalars(select(ProcessDraft).where(ProcessDraft.user_id == user_id)
                                .order_by(ProcessDraft.file_name)))


def bundle(session: Session, user_id: int, base_version: int) -> dict[str, str]:
    """The version's files with the admin's drafts over them: what a check or deploy takes."""
    files = dict(version_by_number(session, base_version).files)
    return files | {d.file_name: d.text for d in drafts_of(session, user_id)}


def discard(session: Session, user_id: int) -> int:
    result = session.execute(delete(ProcessDraft).where(ProcessDraft.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
