"""Process versions: deploy processes/ as an immutable version; find the parsed bundle of a case."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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
from app.models import ProcessVersion
from app.services import clock
from app.services.errors import Conflict, Invalid, NotFound, Unavailable
from app.services.handler_api import registered
from app.services.journal import record_event
from app.services.locality import load_locality

# (database, version id) → content hash, so a worker reads a version's files at most once.
_hash_by_version: dict[tuple[str, int], str] = {}
_config_by_version: dict[tuple[str, int], configuration.Configuration] = {}

# Processes the services start by id (a report starts 'case', an escalation 'whistle'): every
# version must have them, or new cases would fail on it.
STARTED_PROCESSES = ("case", "whistle")


def deploy(session: Session, files: dict[str, str], deployed_by: str) -> tuple[ProcessVersion, bool]:
    """Store the files as a new version, unless the latest version has the same content. Files
    without a configuration (``config/*.yaml``) take the one in effect (the latest version's)."""
    if not any(name.startswith(configuration.PREFIX) for name in files):
        files = {**files, **{configuration.PREFIX + n: t for n, t in configuration.current().files.items()}}
    content_hash = bundle_hash(files)
    latest = latest_version(session, required=False)
    if latest is not None and latest.content_hash == content_hash:
        return latest, False
    config = check(files)
    number = (session.scalar(select(func.max(ProcessVersion.version))) or 0) + 1
    version = ProcessVersion(
        version=number, content_hash=content_hash, files=files, deployed_at=clock.now(), deployed_by=deployed_by
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("another deploy stored this version number at the same time; deploy again") from exc
    record_event(session, None, "process_deployed", deployed_by,
                 data={"version": number, "version_id": version.id, "content_hash": content_hash,
                       "files": sorted(files), "locality": config.source})
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


def latest_configuration(session: Session) -> configuration.Configuration:
    """The configuration of the latest version (what pages, new reports and the org use)."""
    row = session.execute(select(ProcessVersion.id).order_by(ProcessVersion.version.desc()).limit(1)).first()
    return configuration_of(session, row[0]) if row else configuration.from_disk()


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
