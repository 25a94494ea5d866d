"""Attachments (附件): photos and PDFs on a case, checked by content and stored outside the web root.

- Allowed: JPEG, PNG, WebP photos and PDFs, at most 10 MB each. The type comes from the file's
  first bytes (and, for photos, from Pillow decoding it whole), never from the name; a name whose
  extension says something else is refused as lying.
- Stored under a generated name in the upload folder (``Settings.upload_dir``, outside the app's
  static folder); the original name is kept only as text, so ``../`` in it cannot escape.
- Photos get a JPEG thumbnail (longest side 320 px, EXIF rotation applied).
- Files are written inside the caller's unit of work; if it rolls back, the files written in it
  are deleted, so a refused request leaves neither a row nor a file.
- Served only to users who may see the case (cases.can_see). On the public tracking page only
  attachments marked ``public`` are shown: the photos a citizen sent with their own report, and
  staff uploads ticked "公开给上报人" (e.g. a photo of the fixed problem).
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import Attachment, Case, Task, User
from app.services import clock, journal
from app.services.auth import Principal
from app.services.cases import can_see, iso
from app.services.errors import Forbidden, Invalid, NotFound
from app.services.validation import valid_id

MAX_BYTES = 10 * 1024 * 1024
MAX_FILES_PER_REQUEST = 5
MAX_PIXELS = 64_000_000  # a 48-megapixel phone photo fits; decompression bombs do not
THUMB_SIZE = (320, 320)
NAME_LENGTH = 200

# content type → (label shown to users, extensions a truthful name may carry, stored extension)
KINDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "image/jpeg": ("JPEG", (".jpg", ".jpeg", ".jfif", ".jpe"), ".jpg"),
    "image/png": ("PNG", (".png",), ".png"),
    "image/webp": ("WebP", (".webp",), ".webp"),
    "application/pdf": ("PDF", (".pdf",), ".pdf"),
}
PILLOW_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
ACCEPT = "image/jpeg,image/png,image/webp,application/pdf,.jpg,.jpeg,.png,.webp,.pdf"
MAX_MB = MAX_BYTES // 1024 // 1024


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the web layer received it: the name the client gave and the bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Checked:
    content_type: str
    name: str  # the cleaned original name
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None


def read_limited(stream: IO[bytes], field: str = "files", name: str = "") -> bytes:
    """Read an upload stream, refusing it as soon as it passes MAX_BYTES."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _refuse(field, _too_big(clean_name(name)))
    return data


def _too_big(name: str) -> str:
    return f"{name}: 文件超过 {MAX_MB} MB / larger than {MAX_MB} MB"


def check(upload: Upload, field: str = "files") -> Checked:
    """The upload's real type and picture facts; Invalid (naming ``field``) when it is not allowed."""
    name = clean_name(upload.name)
    if not upload.data:
        raise _refuse(field, f"{name}: 文件是空的 / the file is empty")
    if len(upload.data) > MAX_BYTES:
        raise _refuse(field, _too_big(name))
    content_type = sniff(upload.data)
    if content_type is None:
        raise _refuse(field, f"{name}: 只能上传 JPEG、PNG、WebP 照片或 PDF（按文件内容判断）/ only JPEG, PNG, "
                             "WebP photos or PDFs are accepted (judged by the content, not the name)")
    label, extensions, _ = KINDS[content_type]
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in extensions:
        raise _refuse(field, f"{name}: 扩展名 {suffix} 与文件内容（{label}）不符 / the extension {suffix} "
                             f"does not match the content ({label})")
    if content_type == "application/pdf":
        if b"%%EOF" not in upload.data[-2048:]:
            raise _refuse(field, f"{name}: PDF 文件不完整 / the PDF is incomplete or damaged")
        return Checked(content_type, name)
    return _check_image(upload.data, content_type, name, field)


def sniff(data: bytes) -> str | None:
    """The content type from the magic bytes at the start of the file, or None if not allowed."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _check_image(data: bytes, content_type: str, name: str, field: str) -> Checked:
    damaged = _refuse(field, f"{name}: 图片已损坏或无法识别 / the picture is damaged or unreadable")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if PILLOW_FORMATS.get(probe.format or "") != content_type:
                    raise damaged
                if probe.width * probe.height > MAX_PIXELS:
                    raise _refuse(field, f"{name}: 图片像素过多 / the picture has too many pixels")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                width, height = image.size
                thumbnail = _thumbnail(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise damaged from exc
    return Checked(content_type, name, width, height, thumbnail)


def _thumbnail(image: Image.Image) -> bytes:
    thumb = ImageOps.exif_transpose(image) or image
    thumb = thumb.convert("RGB")
    thumb.thumbnail(THUMB_SIZE)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=80)
    return out.getvalue()


def clean_name(raw: str | None) -> str:
    """The original file name as display text: no folders, no control characters, bounded length."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".") or "upload"
    if len(name) > NAME_LENGTH:
        suffix = Path(name).suffix[:16]
        name = name[: NAME_LENGTH - len(suffix)] + suffix
    return name


def _refuse(field: str, message: str) -> Invalid:
    return Invalid(message, {field: message})


# --- storing -------------------------------------------------------------------------------------


def store(
    session: Session,
    case: Case,
    upload: Upload,
    actor: User | None,
    *,
    folder: Path,
    task: Task | None = None,
    public: bool = False,
    field: str = "files",
) -> Attachment:
    """Check and store one file on a case, with its audit event, in the caller's unit of work."""
    checked = check(upload, field)
    if task is not None and task.case_id != case.id:
        raise Invalid(f"task {task.id} is not a task of case {case.number}", {"task_id": "another case's task"})
    token = secrets.token_hex(16)
    stored_name = token + KINDS[checked.content_type][2]
    _write(session, folder / stored_name, upload.data)
    if checked.thumbnail is not None:
        _write(session, thumbnail_path(folder, stored_name), checked.thumbnail)
    if content_type_is_photo(checked.content_type):
        _write(session, public_copy_path(folder, stored_name), public_copy(upload.data))
    attachment = Attachment(
        case_id=case.id, task_id=task.id if task else None, uploaded_by_id=actor.id if actor else None,
        original_name=checked.name, stored_name=stored_name, content_type=checked.content_type,
        size=len(upload.data), sha256=hashlib.sha256(upload.data).hexdigest(), width=checked.width,
        height=checked.height, has_thumbnail=checked.thumbnail is not None, public=public, created_at=clock.now(),
    )
    session.add(attachment)
    session.flush()
    journal.record_event(
        session, case, "attachment_added", actor,
        role=task.role if task else None, unit_id=task.unit_id if task else None,
        data={"attachment_id": attachment.id, "name": checked.name, "content_type": checked.content_type,
              "size": attachment.size, "sha256": attachment.sha256, "public": public,
              "task_id": task.id if task else None},
    )
    return attachment


def store_for(
    session: Session, principal: Principal, case_id: int, uploads: list[Upload], *, folder: Path,
    task_id: int | None = None, public: bool = False,
) -> list[Attachment]:
    """A signed-in user adds files to a case they can see (auditors only read)."""
    if principal.read_only:
        raise Forbidden("your roles only read cases; they cannot add files")
    case = _visible_case(session, principal, case_id)
    if not uploads:
        raise _refuse("files", "请选择要上传的文件 / choose a file to upload")
    if len(uploads) > MAX_FILES_PER_REQUEST:
        raise _refuse("files", f"一次最多上传 {MAX_FILES_PER_REQUEST} 个文件 / at most "
                               f"{MAX_FILES_PER_REQUEST} files at once")
    task = None
    if task_id is not None:
        task = session.get(Task, task_id) if valid_id(task_id) else None
        if task is None or task.case_id != case.id:
            raise NotFound(f"task {task_id} not found in this case")
    return [store(session, case, u, principal.user, folder=folder, task=task, public=public) for u in uploads]


def check_form_attachments(session: Session, case_id: int, schema: dict[str, Any], data: dict[str, Any]) -> None:
    """A form's attachment fields (``"x-widget": "attachments"``) may name only files of this case:
    an id of another case's file (or of none) is refused by field, before anything is applied."""
    fields: dict[str, str] = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("x-widget") != "attachments" or not isinstance(data.get(name), list):
            continue
        ids = {int(v) for v in data[name] if isinstance(v, str) and v.isdigit() and valid_id(int(v))}
        found = set(session.scalars(select(Attachment.id).where(Attachment.id.in_(ids),
                                                                 Attachment.case_id == case_id))) if ids else set()
        for index, value in enumerate(data[name]):
            if not (isinstance(value, str) and value.isdigit() and int(value) in found):
                fields[f"{name}.{index}"] = (f"附件 {str(value)[:16]} 不是本案件的文件 / attachment {str(value)[:16]} "
                                             "is not a file of this case")
    if fields:
        raise Invalid("attachments that are not files of this case: " + ", ".join(sorted(fields)), fields)


def set_public(session: Session, principal: Principal, attachment_id: int, public: bool) -> Attachment:
    """Show an attachment on the public tracking page, or take it off (a photo showing bystanders,
    say). Only the roles that talk to the reporter, on a case they can see; recorded as an event."""
    attachment = session.get(Attachment, attachment_id) if valid_id(attachment_id) else None
    case = session.get(Case, attachment.case_id) if attachment and attachment.case_id else None
    if attachment is None or case is None or not can_see(session, principal, case):
        raise NotFound(f"attachment {attachment_id} not found")
    if not principal.can("publish"):  # the roles that talk to the reporter (locality model)
        raise Forbidden("your roles do not decide what the reporter sees")
    if attachment.public != public:
        attachment.public = public
        journal.record_event(session, case, "attachment_visibility", principal.user,
                              data={"attachment_id": attachment.id, "name": attachment.original_name,
                                    "public": public})
    return attachment


def thumbnail_path(folder: Path, stored_name: str) -> Path:
    return folder / f"{Path(stored_name).stem}.thumb.jpg"


def public_copy_path(folder: Path, stored_name: str) -> Path:
    """The copy of a photo the public is shown: no EXIF (GPS position, camera, time), no XMP."""
    return folder / f"{Path(stored_name).stem}.public{Path(stored_name).suffix}"


def content_type_is_photo(content_type: str) -> bool:
    return content_type in PILLOW_FORMATS.values()


def public_copy(data: bytes) -> bytes:
    """The photo drawn again without its metadata (where it was taken is in the EXIF GPS tags); the
    EXIF rotation is applied first, so it still shows upright. The original stays, for staff, as
    evidence."""
    with Image.open(io.BytesIO(data)) as image:
        kind = image.format or "JPEG"
        clean = ImageOps.exif_transpose(image) or image
        clean.load()
        out = io.BytesIO()
        options: dict[str, Any] = {"quality": 92} if kind in ("JPEG", "WEBP") else {}
        if kind == "JPEG" and clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
        clean.save(out, kind, **options)
        return out.getvalue()


def _write(session: Session, path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:  # "x": a generated name never overwrites anything
        handle.write(data)
    written: list[Path] = session.info.setdefault("whistle.written_files", [])
    written.append(path)
    if not event.contains(session, "after_soft_rollback", _discard_written):
        event.listen(session, "after_soft_rollback", _discard_written)
        event.listen(session, "after_commit", _keep_written)


def _discard_written(session: Session, previous: Any) -> None:
    """The unit of work rolled back: the files it wrote must not outlive it. (A savepoint rolled
    back inside it leaves them: the outer transaction may still commit their rows.)"""
    if previous.parent is not None:
        return
    for path in session.info.pop("whistle.written_files", []):
        path.unlink(missing_ok=True)


def _keep_written(session: Session) -> None:
    session.info.pop("whistle.written_files", None)


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """A file to send: its path on disk, its type and the name to offer."""

    path: Path
    content_type: str
    name: str


def _visible_case(session: Session, principal: Principal, case_id: int) -> Case:
    case = session.get(Case, case_id) if valid_id(case_id) else None
    if case is None or not can_see(session, principal, case):
        raise NotFound(f"case {case_id} not found")
    return case


def serve(session: Session, principal: Principal, attachment_id: int, folder: Path, thumb: bool = False) -> Served:
    """A file of a case this user may see; 404 for anything else, so existence does not leak."""
    attachment = session.get(Attachment, attachment_id) if valid_id(attachment_id) else None
    case = session.get(Case, attachment.case_id) if attachment and attachment.case_id else None
    if attachment is None or case is None or not can_see(session, principal, case):
        raise NotFound(f"attachment {attachment_id} not found")
    return _served(attachment, folder, thumb)


def serve_public(session: Session, code: str, attachment_id: int, folder: Path, thumb: bool = False) -> Served:
    """A public attachment of the case with this tracking code (no login); a photo's public copy,
    without its metadata, never the original."""
    attachment = session.get(Attachment, attachment_id) if valid_id(attachment_id) else None
    case = session.scalar(select(Case).where(Case.tracking_code == code.upper())) if code else None
    if attachment is None or case is None or attachment.case_id != case.id or not attachment.public:
        raise NotFound(f"attachment {attachment_id} not found")
    served = _served(attachment, folder, thumb)
    if thumb or not content_type_is_photo(attachment.content_type):
        return served
    copy = public_copy_path(folder, attachment.stored_name)
    if not copy.is_file():  # a photo stored before public copies were made: make it now
        copy.write_bytes(public_copy(served.path.read_bytes()))
    return Served(copy, served.content_type, served.name)


def _served(attachment: Attachment, folder: Path, thumb: bool) -> Served:
    if thumb and not attachment.has_thumbnail:
        raise NotFound(f"attachment {attachment.id} has no thumbnail")
    path = thumbnail_path(folder, attachment.stored_name) if thumb else folder / attachment.stored_name
    if not path.resolve().is_relative_to(folder.resolve()) or not path.is_file():
        raise NotFound(f"the file of attachment {attachment.id} is missing")
    return Served(path, "image/jpeg" if thumb else attachment.content_type, attachment.original_name)


def attachments_of(session: Session, case: Case, public_only: bool = False) -> list[Attachment]:
    query = select(Attachment).where(Attachment.case_id == case.id)
    if public_only:
        query = query.where(Attachment.public.is_(True))
    return list(session.scalars(query.order_by(Attachment.id)))


def describe(attachment: Attachment, url: str, thumb_url: str | None, uploader: str | None) -> dict[str, Any]:
    """One attachment as a page shows it; ``uploader`` is None on public pages."""
    return {
        "id": attachment.id,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "kind": KINDS[attachment.content_type][0],
        "is_image": attachment.content_type.startswith("image/"),
        "size": attachment.size,
        "size_text": human_size(attachment.size),
        "width": attachment.width,
        "height": attachment.height,
        "public": attachment.public,
        "url": url,
        "thumb_url": thumb_url,
        "uploader": uploader,
        "created_at": iso(attachment.created_at),
    }


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
