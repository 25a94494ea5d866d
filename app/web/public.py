"""Public pages, no login, phone first: report a problem, track it by code, rate the result.

A citizen sees their case's status and public updates only: units and what was done, never the
names or phone numbers of staff or of other people.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from app.api import configured_public_limits, db, unit_of_work
from app.attachments.pages import accepts_uploads, public_panel, save_public_photos, uploads_from
from app.attachments.service import Upload
from app.models import Case
from app.services import cases, lookups, public_limits, tracking
from app.services.auth import Principal
from app.services.errors import Invalid, TooMany
from app.web import bp
from app.web.forms import N_, short_message
from app.web.labels import is_english
from app.web.pages import store_uploads
from app.web.session import optional_principal

PUBLIC_CHANNEL = "web"
STAFF_CHANNEL = "app_photo"  # 随手拍: a grid worker's report with photos
# What the page asks for, in the order of the JSON body of POST /api/public/reports.
REPORT_FIELDS = ("title", "description", "place", "address", "matter", "reporter_name", "reporter_phone")


@bp.route("/report", methods=["GET", "POST"])
@accepts_uploads
def public_report() -> Any:
    """Anyone reports here; a logged-in grid worker reports as themself (随手拍) and may record a
    problem of their own grid as fixed on the spot (grade 1, self-handled)."""
    errors: dict[str, str] = {}
    status, headers = 200, {}
    if request.method == "POST":
        try:
            with unit_of_work() as s:
                staff = _reports_as_staff(optional_principal(s))
            photos = uploads_from(request.files.getlist("photo"), "photo")
            if not staff:  # citizens: per-address limits, counted before anything is stored
                _count_public(photos)
            with unit_of_work() as s:
                principal = optional_principal(s)
                case = _file(s, principal, request.form, photos)
                if _reports_as_staff(principal):
                    flash(_("已上报，案件编号 %(n)s", n=case.number))
                    return redirect(url_for("web.case_page", case_id=case.id))
                return redirect(url_for("web.track_case", code=case.tracking_code, new=1))
        except TooMany as exc:
            errors, status, headers = {"": exc.message}, 429, {"Retry-After": str(exc.retry_after)}
        except Invalid as exc:
            errors = {name: short_message(text) for name, text in exc.fields.items()} or {"": exc.message}
            status = 422
    with unit_of_work() as s:
        principal = optional_principal(s)
        return render_template(
            "report.html", place_levels=lookups.place_levels(s), matters=lookups.matters(is_english()), errors=errors,
            values=request.form if request.method == "POST" else MultiDict(),
            me=principal.user if principal else None,
            grid_worker=_reports_as_staff(principal),
        ), status, headers


def _count_public(photos: list[Upload]) -> None:
    limits = configured_public_limits()
    public_limits.count_report(db(), request.remote_addr, limits)
    public_limits.count_upload(db(), request.remote_addr, sum(len(p.data) for p in photos), limits)


def _file(s: Session, principal: Principal | None, form: MultiDict[str, str], photos: list[Upload]) -> Case:
    _check_place(s, form)
    staff = _reports_as_staff(principal)
    body: dict[str, Any] = {"channel": STAFF_CHANNEL if staff else PUBLIC_CHANNEL}
    for name in REPORT_FIELDS:
        value = (form.get(name) or "").strip()
        if value:
            body[name] = value
    if staff and form.get("self_handled") in ("1", "true", "on"):
        body["self_handled"] = True
    if "place" not in body:
        raise Invalid("choose the place", {"place": N_("请选择地点")})
    case = cases.file_report(s, principal if staff else None, body)
    if staff and principal is not None:
        store_uploads(s, principal, case, "photo", uploads=photos)
    else:
        save_public_photos(s, case, photos, "photo")
    return case


def _reports_as_staff(principal: Principal | None) -> bool:
    return principal is not None and principal.can("self_handle")


def _check_place(s: Session, form: MultiDict[str, str]) -> None:
    """The pickers must name one line of the tree (without script they are not filtered): every
    unit picked above the place is one of its ancestors."""
    parents = {p.code: p.parent for p in lookups.places(s)}
    place = form.get("place")
    above: set[str] = set()
    while place in parents:
        place = parents[place]
        above.add(place or "")
    for level in lookups.place_levels(s)[:-1]:
        picked = form.get(level.field)
        if picked and form.get("place") and picked not in above:
            raise Invalid("the place is not in the unit picked above it", {"place": N_("该地点不属于所选的上级单位")})


@bp.get("/track")
def track() -> Any:
    code = (request.args.get("code") or "").strip()
    if code:
        return redirect(url_for("web.track_case", code=code.upper()))
    return render_template("track_lookup.html")


@bp.get("/track/<code>")
def track_case(code: str) -> Any:
    _count_lookup()
    with unit_of_work() as s:
        return _render_track(s, code)


def _count_lookup() -> None:
    public_limits.count_lookup(db(), request.remote_addr, configured_public_limits())


@bp.post("/track/<code>/rate")
def rate(code: str) -> Any:
    _count_lookup()
    answers = {"satisfaction": request.form.get("satisfaction", ""), "comment": request.form.get("comment", "").strip()}
    payload = {k: v for k, v in answers.items() if v}
    try:
        with unit_of_work() as s:
            tracking.rate(s, code, payload)
        flash(_("感谢您的评价！"))
        return redirect(url_for("web.track_case", code=code))
    except Invalid as exc:
        errors = {name: short_message(text) for name, text in exc.fields.items()}
    with unit_of_work() as s:
        return _render_track(s, code, errors=errors, values=request.form), 422


def _render_track(s: Session, code: str, errors: dict[str, str] | None = None, values: Any = None) -> Any:
    case = tracking.case_by_code(s, code)
    return render_template(
        "track.html", case=case, current=tracking.followed(s, case)[-1], updates=tracking.public_updates(s, case),
        awaiting_rating=tracking.rating_task(s, case) is not None, errors=errors or {},
        in_review=tracking.in_review(s, tracking.followed(s, case)[-1]),
        values=values or MultiDict(), new=request.args.get("new") == "1",
        attachments_panel=public_panel(s, case), case_id=case.id,
        here=url_for("web.track_case", code=case.tracking_code),
    )
