"""我要上报 by QR code: the printable sheet of a unit's buildings (staff with ``print_qr_codes``),
and the public report page a code opens, with the building and its grid filled in and not choosable."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session

from app.api import configured_public_limits, db, unit_of_work
from app.intake import qr
from app.intake.buildings import building_by_code, buildings_within
from app.intake.pages import bp
from app.models import Building
from app.services import lookups, public_limits
from app.services.auth import Principal
from app.services.cases import file_report
from app.services.errors import Forbidden, Invalid
from app.services.locality import load_locality
from app.services.org import descendant_ids
from app.web.forms import short_message
from app.web.session import page

CAPABILITY = "print_qr_codes"
FIELDS = ("title", "description", "matter", "reporter_name", "reporter_phone")


def _secret() -> str:
    return str(current_app.secret_key)


@bp.get("/places/qr")
@page
def qr_sheet(s: Session, principal: Principal) -> Any:
    """One card per building within the caller's units: QR code, name, grid and the short code."""
    roles = load_locality().roles_with(CAPABILITY)
    units = descendant_ids(s, {unit for role, unit in principal.assignments if role in roles})
    if not units:
        raise Forbidden(f"printing QR codes needs the capability '{CAPABILITY}'")
    cards = [_card(b) for b in buildings_within(s, units)]
    return render_template("intake/qr_sheet.html", me=principal.user, cards=cards)


def _card(building: Building) -> dict[str, Any]:
    url = url_for("intake.qr_report", token=qr.sign(_secret(), building.code), _external=True)
    return {"code": building.code, "name": building.name, "place": building.place.name,
            "place_code": building.place.code, "url": url, "svg": Markup(qr.svg(url))}  # segno's own SVG, no text


@bp.get("/q")
def qr_short_code() -> Any:
    """The short code typed in when the QR code cannot be read."""
    code = request.args.get("code", "").strip()[:64]
    with unit_of_work() as s:
        building = building_by_code(s, code) if code else None
        if building is None:
            return render_template("intake/qr_lookup.html", code=code, missing=bool(code)), 404 if code else 200
        return redirect(url_for("intake.qr_report", token=qr.sign(_secret(), building.code)))


@bp.route("/q/<token>", methods=["GET", "POST"])
def qr_report(token: str) -> Any:
    code = qr.verify(_secret(), token)
    if code is None:
        abort(404)  # a forged or altered code names no building
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            public_limits.count_report(db(), request.remote_addr, configured_public_limits())
            with unit_of_work() as s:
                case = file_report(s, None, _report(_building(s, code), request.form))
                return redirect(url_for("web.track_case", code=case.tracking_code, new=1))
        except Invalid as exc:
            errors = {name: short_message(text) for name, text in exc.fields.items()} or {"": exc.message}
    with unit_of_work() as s:
        building = _building(s, code)
        return render_template("intake/qr_report.html", building=building, place=building.place.name,
                               matters=lookups.matters(), values=request.form, errors=errors,
                               me=None), 422 if errors else 200


def _building(s: Session, code: str) -> Building:
    building = building_by_code(s, code)
    if building is None:
        abort(404)  # signed for a building since removed
    return building


def _report(building: Building, form: Any) -> dict[str, Any]:
    """The place comes from the signed code, never from the form."""
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    return {"channel": "qr_code", "place": building.place.code, "address": building.name,
            **{k: v for k, v in values.items() if v or k == "title"}}
