"""A bundle as files travel in a browser: a version's files as one zip, and an upload (a zip, or
loose files) read back into {path: text} as deploy takes it."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from app.definitions import configuration
from app.services.errors import Invalid

MAX_FILES = 500
MAX_TOTAL_BYTES = 20 * 1024 * 1024  # unpacked: a zip bomb stops here
BUNDLE_FOLDERS = {"forms", "config", "scenarios"}  # a zip of one of these alone keeps it
SUFFIXES = (".bpmn", ".dmn", ".json", ".yaml", ".yml")


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def to_zip(files: dict[str, str], stamp: datetime) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name].encode("utf-8"))
    return out.getvalue()


def read_upload(uploads: list[Upload]) -> dict[str, str]:
    """Zips are unpacked (one folder around everything is dropped); a loose file goes where its
    kind lives: ``*.schema.json`` in forms/, a configuration file in config/, other YAML in
    scenarios/. Only bundle files are kept (``__MACOSX`` and the like are skipped)."""
    files: dict[str, bytes] = {}
    for upload in uploads:
        if upload.filename.lower().endswith(".zip"):
            files.update(_unzip(upload))
        elif upload.filename:
            files[_place(upload.filename)] = upload.data
    kept = {name: data for name, data in files.items() if name.endswith(SUFFIXES)}
    if not kept:
        raise Invalid("the upload holds no .bpmn, .dmn, .json or .yaml file", {"bundle": "empty"})
    return {name: _text(name, data) for name, data in kept.items()}


def _unzip(upload: Upload) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
    except zipfile.BadZipFile as exc:
        raise Invalid(f"{upload.filename}: not a zip file", {"bundle": "not a zip"}) from exc
    members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
    if len(members) > MAX_FILES or sum(m.file_size for m in members) > MAX_TOTAL_BYTES:
        raise Invalid(f"{upload.filename}: more than {MAX_FILES} files or {MAX_TOTAL_BYTES} bytes unpacked",
                      {"bundle": "too large"})
    names = {m.filename: _safe(upload.filename, m.filename) for m in members}
    tops = {PurePosixPath(n).parts[0] for n in names.values()}
    nested = all(len(PurePosixPath(n).parts) > 1 for n in names.values())
    strip = len(tops) == 1 and not tops & BUNDLE_FOLDERS and nested
    return {(names[m.filename].split("/", 1)[1] if strip else names[m.filename]): archive.read(m) for m in members}


def _safe(archive: str, name: str) -> str:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise Invalid(f"{archive}: unsafe path {name!r} in the zip", {"bundle": "unsafe path"})
    return path.as_posix()


def _place(filename: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name
    if name.endswith(".schema.json"):
        return f"forms/{name}"
    if name in configuration.CONFIG_FILES:
        return configuration.PREFIX + name
    if name.endswith((".yaml", ".yml")):
        return f"scenarios/{name}"
    return name


def _text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{name}: not UTF-8 text", {"bundle": f"{name}: not UTF-8"}) from exc
