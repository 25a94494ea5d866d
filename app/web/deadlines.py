"""Pages for deadlines: the supervised ledger (挂账督办台账), my notifications (我的提醒) and, for
admins, failed timers (定时器异常). Each view calls the same service as its JSON route
(app/api/deadlines.py) and renders the result.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session, object_session

from app.models import User
from app.services import clock, deadlines, lookups, timers
from app.services.auth import Principal
from app.services.errors import Conflict, Forbidden
from app.services.locality import load_locality
from app.services.worktime import load_calendar
from app.web import bp
from app.web.forms import N_
from app.web.labels import bilingual, is_english, label
from app.web.session import page

NOTIFICATION_KINDS = {"reminder": N_("80% 提醒"), "supervision": N_("督办"), "escalation": N_("超期收回")}
LEDGER_STATUSES = {"open": N_("挂账中"), "cleared": N_("已销号"), "transferred": N_("已转办")}
INCIDENT_STATUSES = {"open": N_("待处理"), "retried": N_("已重试")}


def late_label(minutes: int | None) -> str:
    """How late, in days, hours and minutes: "超时 1小时30分" / "1 h 30 min late"."""
    return _("超时 %(t)s", t=duration(minutes))


def duration(minutes: int | None) -> str:
    """Minutes in days, hours and minutes: "1天 2小时" / "1 d 2 h"."""
    days, rest = divmod(max(int(minutes or 0), 0), 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [_("%(n)s天", n=days)] if days else []
    if hours:
        parts.append(_("%(n)s小时", n=hours))
    if mins or not parts:
        parts.append(_("%(n)s分", n=mins))
    return (" " if is_english() else "").join(parts)


def warning_text(text: str) -> str:
    """Operational warnings are written "中文 / English": the half for the reader's language."""
    chinese, sep, english = text.partition(" / ")
    return (english if is_english() else chinese) if sep else text


def staff_nav(me: User | None) -> dict[str, Any]:
    """What the staff navigation shows for the user: the unread badge, the admin's incidents link.
    Read in the page's own unit of work (the user's session); nothing once that has ended."""
    s = object_session(me) if me is not None else None
    if me is None or s is None:
        return {"unread": 0, "admin": False}
    return {"unread": deadlines.unread_count(s, me.id),
            "admin": bool({r.role for r in me.roles} & load_locality().roles_with("administer"))}


@bp.app_context_processor
def _deadline_helpers() -> dict[str, Any]:
    return {
        "staff_nav": staff_nav, "late_label": late_label, "duration": duration,
        "notification_kind_label": lambda c: label(NOTIFICATION_KINDS, c),
        "ledger_status_label": lambda c: label(LEDGER_STATUSES, c),
        "incident_status_label": lambda c: label(INCIDENT_STATUSES, c),
    }


@bp.get("/supervision")
@page
def supervision(s: Session, principal: Principal) -> Any:
    status = request.args.get("status") or None
    # 422 for an unknown status or a bad page cursor
    ledger = deadlines.supervision_ledger(s, principal, status, clock.now(), request.args.get("before"))
    titles = lookups.task_titles(s) if ledger["items"] else {}
    return render_template("supervision.html", items=ledger["items"], status=status, me=principal.user,
                           statuses=list(LEDGER_STATUSES),
                           task_titles={k: bilingual(v) for k, v in titles.items()},
                           next_before=ledger["next_before"], paged="before" in request.args)


@bp.get("/notifications")
@page
def notifications(s: Session, principal: Principal) -> Any:
    items = deadlines.list_notifications(s, principal, unread=False)["items"]
    items.sort(key=lambda n: n["read_at"] is not None)  # unread first, each part newest first
    return render_template("notifications.html", items=items, me=principal.user)


@bp.post("/notifications/<int:notification_id>/read")
@page
def notification_read(s: Session, principal: Principal, notification_id: int) -> Any:
    if principal.read_only:
        raise Forbidden("auditors read only: this changes data (审计只读)")
    deadlines.mark_read(s, principal, notification_id, clock.now())  # 404 unless it is the user's own
    flash(_("已标为已读"))
    return redirect(url_for("web.notifications"))


@bp.get("/incidents")
@page
def incidents(s: Session, principal: Principal) -> Any:
    status = request.args.get("status") or None
    items = timers.list_incidents(s, principal, status)  # 403 for non-admins
    warnings = [warning_text(w) for w in load_calendar().warnings(clock.now().date())]
    return render_template("incidents.html", items=items, status=status, warnings=warnings, me=principal.user)


@bp.post("/incidents/<int:incident_id>/retry")
@page
def incident_retry(s: Session, principal: Principal, incident_id: int) -> Any:
    try:
        timers.retry_incident(s, principal, incident_id)  # 403 for non-admins, 404 for no such incident
        flash(_("已重新排队，定时器将在下次扫描时触发"))
    except Conflict as exc:  # retried already (changes nothing): said on the list, not an error page
        flash(exc.message, "error")
    return redirect(url_for("web.incidents"))
