"""Handlers that consult the responsibility catalogue (责任清单)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models import Unit
from app.services.catalogue import load_catalogue

from . import HandlerContext, HandlerError, handler


@handler("lookup_catalogue")
def lookup_catalogue(ctx: HandlerContext, matter: str, urgent: bool = False) -> dict[str, Any]:
    """Who is summoned for a matter: the lead (主体责任) and cooperating (配合责任) departments."""
    entry = load_catalogue().matter(matter) if isinstance(matter, str) else None
    if entry is None:
        raise HandlerError(f"unknown matter '{matter}'", {"matter": "not in the responsibility catalogue"})
    codes = [entry.lead, *entry.cooperating]
    names = dict(ctx.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())
    missing = [c for c in codes if c not in names]
    if missing:
        raise HandlerError(f"catalogue names unknown departments: {', '.join(missing)}", {"matter": "misconfigured"})
    return {
        "matter": entry.code,
        "name": entry.name,
        "class": entry.klass,
        "situation": entry.situation,
        "lead": entry.lead,
        "departments": [
            {"code": code, "name": names[code], "duty": "lead" if code == entry.lead else "cooperating"}
            for code in codes
        ],
        "report_in_hours": entry.report_in_hours_urgent if urgent else entry.report_in_hours,
        "handle_hours": entry.handle_hours,
    }
