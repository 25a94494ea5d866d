"""POST /api/processes/migrations: move running cases onto another process version (admin), or
with ``dry_run`` say per case whether it could and why not (app/services/migration.py)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from app.api import bp, endpoint, json_body, unit_of_work
from app.services import migration
from app.services.auth import Principal
from app.services.errors import Invalid


@bp.post("/processes/migrations")
@endpoint
def migrate_cases(s: Session, principal: Principal) -> Any:
    principal.require("administer")
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object", {"": "object expected"})
    selection, target = migration.selection_of(body)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Invalid("'dry_run' must be true or false", {"dry_run": "boolean expected"})
    case_ids = _case_ids(body.get("cases"))
    reports = migration.run(s, selection, target, principal.visible_units, case_ids,
                            None if dry_run else (unit_of_work, principal.user.id))
    return jsonify({"from": selection.from_version, "to": target, "dry_run": dry_run,
                    "cases": [r.as_dict() for r in reports]})


def _case_ids(value: Any) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise Invalid("'cases' must be a list of case ids", {"cases": "list of integers expected"})
    return value
