"""Process versions: deploy processes/ as an immutable version; find the parsed bundle of a case."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.engine import (
    BundleError,
    ParsedBundle,
    bundle_hash,
    cached_bundle,
    check_bundle,
    get_bundle,
    read_bundle_dir,
)
from app.models import ProcessVersion
from app.services import clock
from app.services.errors import Conflict, Invalid, NotFound, Unavailable
from app.services.locality import load_locality

# (database, version id) → content hash, so a worker reads a version's files at most once.
_hash_by_version: dict[tuple[str, int], str] = {}

# Processes the services start by id (a report starts 'case', an escalation 'whistle'): every
# version must have them, or new cases would fail on it.
STARTED_PROCESSES = ("case", "whistle")


def deploy(session: Session, files: dict[str, str], deployed_by: str) -> tuple[ProcessVersion, bool]:
    """Store the files as a new version, unless the latest version has the same content."""
    content_hash = bundle_hash(files)
    latest = latest_version(session, required=False)
    if latest is not None and latest.content_hash == content_hash:
        return latest, False
    from handlers import HANDLERS  # handlers use the services; import them only when deploying

    try:
        locality = load_locality()  # lanes name its roles, tasks its stages
        bundle = check_bundle(files, set(HANDLERS), set(locality.roles), set(locality.stages))
    except BundleError as exc:
        raise Invalid(f"process bundle rejected: {exc}", {"files": str(exc)}) from exc
    missing = [p for p in STARTED_PROCESSES if p not in bundle.specs]
    if missing:
        problem = f"the bundle lacks the process(es) {', '.join(repr(p) for p in missing)} that cases start"
        raise Invalid(f"process bundle rejected: {problem}", {"files": problem})
    number = (session.scalar(select(func.max(ProcessVersion.version))) or 0) + 1
    version = ProcessVersion(
        version=number, content_hash=content_hash, files=files, deployed_at=clock.now(), deployed_by=deployed_by
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("another deploy stored this version number at the same time; deploy again") from exc
    from app.services.workflow import record_event  # the workflow module uses this one

    record_event(session, None, "process_deployed", deployed_by,
                 data={"version": number, "version_id": version.id, "content_hash": content_hash,
                       "files": sorted(files)})
    return version, True


def deploy_directory(session: Session, directory: Path, deployed_by: str) -> tuple[ProcessVersion, bool]:
    try:
        files = read_bundle_dir(directory)
    except BundleError as exc:
        raise Invalid(str(exc)) from exc
    return deploy(session, files, deployed_by)


def latest_version(session: Session, required: bool = True) -> ProcessVersion | None:
    version = session.scalar(select(ProcessVersion).order_by(ProcessVersion.version.desc()).limit(1))
    if version is None and required:
        raise Unavailable("no process version is deployed: run `flask --app wsgi deploy` first")
    return version


def bundle_of(session: Session, version_id: int) -> ParsedBundle:
    """The parsed bundle of a stored version; the files are read from the database only once."""
    key = (str(session.get_bind().url), version_id)
    content_hash = _hash_by_version.get(key)
    if content_hash is not None:
        cached = cached_bundle(content_hash)
        if cached is not None:
            return cached
    version = session.get(ProcessVersion, version_id)
    if version is None:
        raise NotFound(f"process version {version_id} does not exist")
    bundle = get_bundle(version.files, version.content_hash)
    _hash_by_version[key] = version.content_hash
    return bundle


def list_versions(session: Session) -> list[dict[str, object]]:
    rows = session.scalars(select(ProcessVersion).order_by(ProcessVersion.version.desc())).all()
    return [
        {"version": v.version, "content_hash": v.content_hash, "deployed_at": v.deployed_at.isoformat() + "Z",
         "deployed_by": v.deployed_by}
        for v in rows
    ]
