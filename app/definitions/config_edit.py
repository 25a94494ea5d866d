"""本地配置 Editing the locality configuration of the current version in the browser: one of its
files (locality.yaml, catalogue.yaml, calendar.yaml, assessment.yaml) replaced, checked as deploy
checks it, compared with the deployed one, and deployed as a new process version (the diagrams
unchanged) with a required comment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from app.definitions import configuration, versions
from app.definitions.compare import FileChange, compare
from app.models import ProcessVersion
from app.services.errors import Invalid, NotFound
from app.services.worktime import calendar_of

MAX_BYTES = 1024 * 1024
MAX_COMMENT = 2000


@dataclass
class EditCheck:
    """A checked edit: the problems deploy would refuse it for, the warnings it would deploy with,
    and its difference from the deployed file."""

    name: str
    text: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_years: list[int] = field(default_factory=list)  # years without a holiday table
    changes: list[FileChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def deployed(session: Session) -> tuple[ProcessVersion, dict[str, str]]:
    """The current version and its configuration files by name (``calendar.yaml`` …)."""
    version = versions.latest_version(session)
    assert version is not None
    return version, dict(versions.configuration_of(session, version.id).files)


def warnings_of(session: Session, today: date) -> tuple[list[str], list[int]]:
    """What the deployed configuration warns of: the warnings and the years without a holiday table."""
    version, _ = deployed(session)
    calendar = calendar_of(versions.configuration_of(session, version.id))
    return calendar.warnings(today), calendar.years_without_table(today)


def check_edit(session: Session, name: str, text: str, today: date) -> EditCheck:
    """The current version's files with ``name`` replaced by ``text``, checked as deploy checks them."""
    files = edited_files(session, name, text)
    version, config = deployed(session)
    found = EditCheck(name, text, changes=compare({name: config.get(name, "")}, {name: text},
                                                  f"v{version.version}", "edit"))
    try:
        candidate = versions.check(files)
    except Invalid as exc:
        lines = exc.message.removeprefix("process bundle rejected: ").splitlines()
        found.problems = list(dict.fromkeys(line for line in lines if line and not line.endswith("problems:")))
        return found
    calendar = calendar_of(candidate)
    found.warnings, found.missing_years = calendar.warnings(today), calendar.years_without_table(today)
    return found


def deploy_edit(session: Session, name: str, text: str, deployed_by: str, comment: str,
                today: date) -> tuple[ProcessVersion, EditCheck]:
    """Deploy the edit as a new version; Invalid (nothing stored) when it fails the check or has no
    comment or changes nothing."""
    comment = comment.strip()
    if not comment or len(comment) > MAX_COMMENT:
        raise Invalid(f"a comment of 1 to {MAX_COMMENT} characters is required", {"comment": "required"})
    found = check_edit(session, name, text, today)
    if not found.ok:
        raise Invalid(f"{name} is refused: " + "; ".join(found.problems), {"text": found.problems[0]})
    if not found.changes:
        raise Invalid(f"{name} is the same as the deployed one: nothing to deploy", {"text": "unchanged"})
    version, _ = versions.deploy(session, edited_files(session, name, text), deployed_by, comment)
    return version, found


def edited_files(session: Session, name: str, text: str) -> dict[str, str]:
    if name not in configuration.CONFIG_FILES:
        raise NotFound(f"{name} is not a configuration file ({', '.join(configuration.CONFIG_FILES)})")
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise Invalid(f"{name} is larger than {MAX_BYTES // 1024} KB", {"text": "too large"})
    version, _ = deployed(session)
    return {**version.files, configuration.PREFIX + name: text}
