"""The JSON API of process definitions: versions, deploy, and an admin's check before deploying."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, endpoint, json_body
from app.definitions import scenarios, versions
from app.definitions.compare import compare
from app.services.auth import Principal
from app.services.errors import Invalid

MAX_COMMENT = 2000


@bp.get("/processes")
@endpoint
def process_versions(s: Session, principal: Principal) -> Any:
    return jsonify({"versions": versions.list_versions(s)})


@bp.post("/processes")
@endpoint
def deploy_processes(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    body = json_body()
    version, created = versions.deploy(s, _files_of(body), principal.user.username, _comment_of(body))
    return jsonify({"version": version.version, "created": created}), 201 if created else 200


@bp.post("/processes/<int:number>/retire")
@endpoint
def retire_version(s: Session, principal: Principal, number: int) -> Any:
    """No new cases on this version; its running cases go on."""
    principal.require("administer")
    versions.retire(s, number, principal.user.username)
    return jsonify({"versions": versions.list_versions(s)})


@bp.post("/processes/<int:number>/redeploy")
@endpoint
def redeploy_version(s: Session, principal: Principal, number: int) -> Any:
    """Make an earlier version current again by deploying its files as a new version."""
    principal.require("administer")
    body = json_body() if request.content_length else {}
    version, created = versions.redeploy(s, number, principal.user.username, _comment_of(body))
    return jsonify({"version": version.version, "created": created}), 201 if created else 200


@bp.get("/processes/compare")
@endpoint
def compare_versions(s: Session, principal: Principal) -> Any:
    """What changed from version ``from`` to version ``to``: files, unified diffs, BPMN elements."""
    require_reader(principal)
    old, new = (versions.version_by_number(s, _number_arg(key)) for key in ("from", "to"))
    changes = compare(old.files, new.files, f"v{old.version}", f"v{new.version}")
    return jsonify({"from": old.version, "to": new.version, "files": [c.as_dict() for c in changes]})


@bp.post("/processes/check")
@endpoint
def check_processes(s: Session, principal: Principal) -> Any:
    """An admin's own check before deploying: validate the files as deploy would and play the
    scenarios among them (``scenarios/*.yaml``) in a throwaway database with this deployment's
    organisation; nothing here is stored."""
    principal.require("administer")
    try:
        report = scenarios.check_upload(s, _files_of(json_body()))
    except scenarios.ScenarioError as exc:
        raise Invalid(str(exc), {"files": str(exc)}) from exc
    return jsonify(report.as_dict())


def require_reader(principal: Principal) -> None:
    """Versions and their differences are for admins, and for auditors (who see what changed)."""
    if not principal.can("audit"):
        principal.require("administer")


def _comment_of(body: Any) -> str | None:
    comment = body.get("comment") if isinstance(body, dict) else None
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise Invalid(f"'comment' must be text of at most {MAX_COMMENT} characters", {"comment": "invalid"})
    return comment


def _number_arg(key: str) -> int:
    value = request.args.get(key, "")
    if not value.isdigit():
        raise Invalid(f"'{key}' must be a version number", {key: "required"})
    return int(value)


def _files_of(body: Any) -> dict[str, str]:
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, dict) or not files or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise Invalid("'files' must map file names to file contents", {"files": "required"})
    return files
