"""Process versions: deploy processes/ as an immutable version; find the parsed bundle of a case."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from app.definitions import configuration
from app.engine import (
    BundleError,
    ParsedBundle,
    bundle_hash,
    cached_bundle,
    check_bundle,
    get_bundle,
    read_bundle_dir,
)
from app.models import Case, ProcessVersion
from app.services import clock
from app.services.errors import Conflict, Invalid, NotFound, Unavailable
from app.services.handler_api import registered
from app.services.journal import record_event
from app.services.locality import load_locality
from app.services.worktime import calendar_of

# (database, version id) → content hash, so a worker reads a version's files at most once.
_hash_by_version: dict[tuple[str, int], str] = {}
_config_by_version: dict[tuple[str, int], configuration.Configuration] = {}

# Processes the services start by id (a report starts 'case', an escalation 'whistle'): every
# version must have them, or new cases would fail on it.
STARTED_PROCESSES = ("case", "whistle")


def deploy(
    session: Session, files: dict[str, str], deployed_by: str, comment: str | None = None
) -> tuple[ProcessVersion, bool]:
    """Store the files as a new version, unless the current version has the same content. Files
    without a configuration (``config/*.yaml``) take the one in effect (the current version's).
    Redeploying a retired version's files stores them as a new, current version."""
    if not any(name.startswith(configuration.PREFIX) for name in files):
        files = {**files, **{configuration.PREFIX + n: t for n, t in configuration.current().files.items()}}
    content_hash = bundle_hash(files)
    latest = latest_version(session, required=False)
    if latest is not None and latest.content_hash == content_hash:
        return latest, False
    config = check(files)
    number = (session.scalar(select(func.max(ProcessVersion.version))) or 0) + 1
    version = ProcessVersion(
        version=number, content_hash=content_hash, files=files, deployed_at=clock.now(), deployed_by=deployed_by,
        comment=(comment or "").strip() or None,
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("another deploy stored this version number at the same time; deploy again") from exc
    record_event(session, None, "process_deployed", deployed_by,
                 data={"version": number, "version_id": version.id, "content_hash": content_hash,
                       "files": sorted(files), "locality": config.source, "comment": version.comment})
    return version, True


def check(files: dict[str, str]) -> configuration.Configuration:
    """Everything deploy checks: the configuration files load, and the diagrams fit them (lanes
    name its roles, tasks its stages) and the handlers. Raises Invalid naming every problem."""
    config = configuration.of_files(files, "the deployed files")
    problems = config.problems() or _missing_config(config)
    if problems:
        text = (f"{len(problems)} problems:\n" if len(problems) > 1 else "") + "\n".join(problems)
        raise Invalid(f"process bundle rejected: {text}", {"files": text})
    with configuration.activate(config):
        locality = load_locality()
        try:
            bundle = check_bundle(files, set(registered()), set(locality.roles), set(locality.stages))
        except BundleError as exc:
            raise Invalid(f"process bundle rejected: {exc}", {"files": str(exc)}) from exc
    missing = [p for p in STARTED_PROCESSES if p not in bundle.specs]
    if missing:
        problem = f"the bundle lacks the process(es) {', '.join(repr(p) for p in missing)} that cases start"
        raise Invalid(f"process bundle rejected: {problem}", {"files": problem})
    return config


def _missing_config(config: configuration.Configuration) -> list[str]:
    return [f"config/{name}: missing" for name in configuration.CONFIG_FILES if name not in config.files]


def deploy_directory(
    session: Session, directory: Path, deployed_by: str, config_dir: Path | None = None
) -> tuple[ProcessVersion, bool]:
    """Deploy the diagrams and forms under ``directory`` with the configuration in ``config_dir``
    (default: config/ or WHISTLE_CONFIG_DIR)."""
    return deploy(session, read_files(directory, config_dir), deployed_by)


def read_files(directory: Path, config_dir: Path | None = None) -> dict[str, str]:
    try:
        files = read_bundle_dir(directory)
    except BundleError as exc:
        raise Invalid(str(exc)) from exc
    return {**files, **configuration.read_dir(config_dir or configuration.disk_dir())}


def configuration_of(session: Session, version_id: int) -> configuration.Configuration:
    """The configuration a case of this version runs with (the disk's for versions deployed before
    configurations were versioned)."""
    config = _config_by_version.get((str(session.get_bind().url), version_id))
    if config is None:
        version = session.get(ProcessVersion, version_id)
        if version is None:
            raise NotFound(f"process version {version_id} does not exist")
        config = configuration.of_files(version.files, f"version {version.version}")
        if not config.files:
            config = configuration.from_disk()
        else:
            _config_by_version[(str(session.get_bind().url), version_id)] = config
    return config


def deploy_warnings(session: Session, version_id: int) -> list[str]:
    """What a version deploys with but an admin should fix: the years its calendar has no holiday
    table for (their deadlines count Monday–Friday only)."""
    return calendar_of(configuration_of(session, version_id)).warnings(clock.now().date())


# Where a request keeps the configuration of the current version (flask.g): looked up once a request.
REQUEST_CONFIGURATION = "whistle_configuration"


def latest_configuration(session: Session) -> configuration.Configuration:
    """The configuration of the current version (what pages, new reports and the org use)."""
    row = session.execute(select(ProcessVersion.id).where(ProcessVersion.retired_at.is_(None))
                          .order_by(ProcessVersion.version.desc()).limit(1)).first()
    return configuration_for(session, row[0] if row else None)


def configuration_for(session: Session, latest_version_id: int | None) -> configuration.Configuration:
    """The configuration of the current version once its id is known (None: nothing deployed)."""
    return configuration_of(session, latest_version_id) if latest_version_id is not None else configuration.from_disk()


def with_configuration(session: Session, files: dict[str, str]) -> dict[str, str]:
    """Files without a configuration (``config/*.yaml``) take the current version's."""
    if any(name.startswith(configuration.PREFIX) for name in files):
        return files
    return files | {configuration.PREFIX + n: t for n, t in latest_configuration(session).files.items()}


def latest_version(session: Session, required: bool = True) -> ProcessVersion | None:
    """The current version: the latest one not retired. New cases start on it."""
    version = session.scalar(select(ProcessVersion).where(ProcessVersion.retired_at.is_(None))
                             .order_by(ProcessVersion.version.desc()).limit(1))
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


def version_by_number(session: Session, number: int) -> ProcessVersion:
    version = session.scalar(select(ProcessVersion).where(ProcessVersion.version == number))
    if version is None:
        raise NotFound(f"process version {number} does not exist")
    return version


def case_counts(session: Session) -> dict[int, int]:
    """How many cases run on each version (by version id), in one grouped query."""
    rows = session.execute(select(Case.process_version_id, func.count()).group_by(Case.process_version_id))
    return {version_id: count for version_id, count in rows}


def list_versions(session: Session) -> list[dict[str, object]]:
    """Every version, newest first, with its comment, file count, cases and whether it is current."""
    rows = session.scalars(select(ProcessVersion).options(undefer(ProcessVersion.files))
                           .order_by(ProcessVersion.version.desc())).all()
    counts = case_counts(session)
    current = next((v.version for v in rows if v.retired_at is None), None)
    return [
        {"version": v.version, "content_hash": v.content_hash, "deployed_at": _iso(v.deployed_at),
         "deployed_by": v.deployed_by, "comment": v.comment, "files": len(v.files), "cases": counts.get(v.id, 0),
         "retired_at": _iso(v.retired_at) if v.retired_at else None, "current": v.version == current}
        for v in rows
    ]


def _iso(at: datetime) -> str:
    return at.isoformat() + "Z"


def retire(session: Session, number: int, retired_by: str) -> ProcessVersion:
    """Retire a version: no new cases start on it (its running cases go on). The current version
    can be retired only while an earlier one is left to take new cases."""
    version = version_by_number(session, number)
    if version.retired_at is not None:
        raise Conflict(f"process version {number} is retired already")
    others = session.scalar(select(func.count()).select_from(ProcessVersion).where(
        ProcessVersion.retired_at.is_(None), ProcessVersion.id != version.id))
    if not others:
        raise Conflict(f"process version {number} is the only one not retired: new cases need a version")
    version.retired_at = clock.now()
    record_event(session, None, "process_retired", retired_by, data={"version": number, "version_id": version.id})
    return version


def redeploy(
    session: Session, number: int, deployed_by: str, comment: str | None = None
) -> tuple[ProcessVersion, bool]:
    """Make an earlier version current again: its files deployed as a new version."""
    files = dict(version_by_number(session, number).files)
    return deploy(session, files, deployed_by, comment or f"redeploy of version {number}")
