"""迁移案件 Moving running cases onto another process version, in the browser: choose the cases (by
version, level, unit, current stage or task), read the dry run per case, then migrate the ticked
ones. The work is app/services/migration.py, the same as POST /api/processes/migrations."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy.orm import Session

from app.admin import bp
from app.api import unit_of_work
from app.definitions import versions
from app.services import lookups, migration
from app.services.auth import Principal
from app.services.errors import Invalid
from app.web.session import page


@bp.get("/migrations")
@page
def migration_page(s: Session, principal: Principal) -> Any:
    """The selection form; with 'from' and 'to' chosen, the dry run of the chosen cases."""
    principal.require("administer")
    reports = None
    if request.args.get("from") or request.args.get("to"):
        selection, target = migration.selection_of(request.args)
        reports = migration.run(s, selection, target, principal.visible_units, None, None)
    return _render(s, principal, reports, dry_run=True)


@bp.post("/migrations")
@page
def migration_run(s: Session, principal: Principal) -> Any:
    """Migrate the ticked cases, each in a transaction of its own; the report says which moved."""
    principal.require("administer")
    selection, target = migration.selection_of(request.form)
    ids = request.form.getlist("case")
    if not ids or not all(i.isdigit() for i in ids):
        raise Invalid("tick at least one case to migrate", {"case": "required"})
    reports = migration.run(s, selection, target, principal.visible_units, [int(i) for i in ids],
                            (unit_of_work, principal.user.id))  # a lost race on a case: 409 in its row
    return _render(s, principal, reports, dry_run=False)


def _render(s: Session, principal: Principal, reports: list[migration.CaseReport] | None, dry_run: bool) -> Any:
    return render_template("admin/migrations.html", me=principal.user, versions=versions.list_versions(s),
                           args=request.values, reports=reports, dry_run=dry_run,
                           task_titles=lookups.task_titles(s) if reports else {})
