"""Handlers that consult the responsibility catalogue (责任清单)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import Unit
from app.services.catalogue import KIND_REFERENCE, load_catalogue
from app.services.org import nearest_of_kind

from . import HandlerContext, HandlerError, handler


def _resolve(ctx: HandlerContext, ref: str) -> str:
    """A catalogue entry names a unit by code, or by kind as `@kind`: the unit of that kind that
    serves the case's place (its compound's property company, its street's police station)."""
    if not ref.startswith(KIND_REFERENCE):
        return ref
    unit = nearest_of_kind(ctx.session, ctx.case.place, ref.removeprefix(KIND_REFERENCE))
    if unit is None:
        raise HandlerError(f"no unit of kind '{ref[1:]}' serves the case's place (catalogue: {ref})",
                           {"matter": "no such unit for this place"})
    return unit.code


@handler("lookup_catalogue")
def lookup_catalogue(ctx: HandlerContext, matter: str, urgent: bool = False) -> dict[str, Any]:
    """Who is summoned for a matter: the lead (主体责任) and cooperating (配合责任) departments."""
    entry = load_catalogue().matter(matter) if isinstance(matter, str) else None
    if entry is None:
        raise HandlerError(f"unknown matter '{matter}'", {"matter": "not in the responsibility catalogue"})
    lead, *cooperating = (_resolve(ctx, ref) for ref in (entry.lead, *entry.cooperating))
    codes = list(dict.fromkeys([lead, *cooperating]))
    names = dict(ctx.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())
    missing = [c for c in codes if c not in names]
    if missing:
        raise HandlerError(f"catalogue names unknown departments: {', '.join(missing)}", {"matter": "misconfigured"})
    return {
        "matter": entry.code,
        "name": entry.name,
        "class": entry.klass,
        "situation": entry.situation,
        "lead": lead,
        "departments": [
            {"code": code, "name": names[code], "duty": "lead" if code == lead else "cooperating"}
            for code in codes
        ],
        "report_in_hours": entry.report_in_hours_urgent if urgent else entry.report_in_hours,
        "handle_hours": entry.handle_hours,
    }
