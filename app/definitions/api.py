"""The JSON API of process definitions: versions, deploy, and an admin's check before deploying."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from app.api import bp, endpoint, json_body
from app.definitions import scenarios, versions
from app.services.auth import Principal
from app.services.errors import Invalid


@bp.get("/processes")
@endpoint
def process_versions(s: Session, principal: Principal) -> Any:
    return jsonify({"versions": versions.list_versions(s)})


@bp.post("/processes")
@endpoint
def deploy_processes(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    version, created = versions.deploy(s, _files_of(json_body()), principal.user.username)
    return jsonify({"version": version.version, "created": created}), 201 if created else 200


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


def _files_of(body: Any) -> dict[str, str]:
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, dict) or not files or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise Invalid("'files' must map file names to file contents", {"files": "required"})
    return files
