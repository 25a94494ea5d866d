"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2): services are the catalogue's
matters, a request is a public report filed on a report place, its status is the case's (open /
closed). Client applications authenticate with an API key, of which only the hash is stored; a
client reads back only the requests it filed."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.attachments.service import Upload, store
from app.intake.buildings import building_by_code, building_places, nearest
from app.intake.sources import find_place, open311_settings, shared_places
from app.models import Case, Open311Client, Open311Request, Unit
from app.services import clock, journal
from app.services.cases import file_report
from app.services.catalogue import KIND_REFERENCE, Matter, load_catalogue
from app.services.errors import Forbidden, Invalid, NotFound
from app.services.locality import load_locality
from app.services.worktime import load_calendar
from app.uploads import upload_folder

# The case's status as Open311 names it: a case is open until it is closed (办结).
STATUS = {"open": "open", "closed": "closed"}
MAX_REQUESTS = 1000  # the spec's default cap on GET requests
MAX_URL = 1000
# Our report's fields → the Open311 parameter a client sent them in (errors name the client's field).
FIELD_NAMES = {"title": "description", "description": "description", "reporter_phone": "phone",
               "reporter_name": "first_name", "place": "address_id", "address": "address_string",
               "matter": "service_code", "": "body"}


# --- clients ---------------------------------------------------------------------------------------


def create_client(session: Session, name: str) -> str:
    """A new client application; its API key is returned once and stored only as a hash."""
    if not name.strip() or len(name) > 64:
        raise Invalid("a client needs a name of 1 to 64 characters", {"name": "1 to 64 characters"})
    if session.scalar(select(Open311Client).where(Open311Client.name == name)) is not None:
        raise Invalid(f"a client named '{name}' exists", {"name": "taken"})
    key = secrets.token_urlsafe(24)
    session.add(Open311Client(name=name, key_hash=_digest(key), active=True, created_at=clock.now()))
    return key


def client_for_key(session: Session, key: str | None) -> Open311Client:
    client = session.scalar(select(Open311Client).where(Open311Client.key_hash == _digest(key or "")))
    if not key or client is None or not client.active:
        raise Forbidden("api_key: missing or not a valid API key", {"api_key": "invalid"})
    return client


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- services --------------------------------------------------------------------------------------


def services() -> list[dict[str, Any]]:
    catalogue = load_catalogue()
    return [_service(m, catalogue.classes.get(m.klass, m.klass)) for m in catalogue.matters.values()]


def _service(matter: Matter, group: str) -> dict[str, Any]:
    return {"service_code": matter.code, "service_name": matter.name, "description": matter.name,
            "metadata": False, "type": "realtime", "keywords": matter.klass, "group": group}


def service_definition(code: str) -> dict[str, Any]:
    if load_catalogue().matter(code) is None:
        raise NotFound(f"service_code: no service '{code}'", {"service_code": "unknown"})
    return {"service_code": code, "attributes": []}


# --- requests --------------------------------------------------------------------------------------


def post_request(session: Session, client: Open311Client, form: Mapping[str, str],
                 media: Upload | None = None) -> list[dict[str, Any]]:
    """File a service request as a public report; 400 naming the parameter, nothing stored. A photo
    comes as ``media_url`` (a link to it) or as the uploaded file ``media`` (kept as a public
    attachment of the case, which ``media_url`` then points to)."""
    matter = load_catalogue().matter(form.get("service_code", ""))
    if matter is None:
        raise Invalid("service_code: missing or not a service", {"service_code": "unknown service"})
    lat, long = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    media_url = _media_url(form)
    place = _place(session, form, lat, long)
    report = _report(form, matter, place)
    try:
        case = file_report(session, None, report)
        attachment = store(session, case, media, None, folder=upload_folder(), public=True, field="media") \
            if media is not None else None
    except Invalid as exc:
        fields = {FIELD_NAMES.get(k, k): v for k, v in exc.fields.items()}
        raise Invalid("; ".join(f"{k}: {v}" for k, v in fields.items()) or exc.message, fields) from None
    token = secrets.token_urlsafe(16)
    session.add(Open311Request(case_id=case.id, client_id=client.id, token=token, lat=lat, long=long,
                               media_url=media_url, attachment_id=attachment.id if attachment else None))
    journal.record_event(session, case, "open311_filed", f"open311:{client.name}", data={"client": client.name})
    return [{"service_request_id": case.number, "token": token, "service_notice": None, "account_id": None}]


def _media_url(form: Mapping[str, str]) -> str | None:
    """A client's link to the request's photo: an http(s) URL."""
    url = form.get("media_url", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL:
        raise Invalid(f"media_url: an http or https URL of at most {MAX_URL} characters", {"media_url": "not a URL"})
    return url


def _report(form: Mapping[str, str], matter: Matter, place: str) -> dict[str, Any]:
    description = form.get("description", "").strip()
    title = description.splitlines()[0][:60] if description else matter.name[:60]
    name = f"{form.get('last_name', '')}{form.get('first_name', '')}".strip()
    report = {"title": title if len(title) >= 2 else matter.name[:60], "description": description,
              "channel": open311_settings().get("channel", "web"), "place": place, "matter": matter.code,
              "address": form.get("address_string", "").strip(), "reporter_name": name,
              "reporter_phone": form.get("phone", "").strip()}
    return {k: v for k, v in report.items() if v != "" or k == "title"}


def _coordinate(form: Mapping[str, str], name: str, limit: float) -> float | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > limit:
        raise Invalid(f"{name}: not a WGS84 coordinate", {name: f"a number from -{limit:g} to {limit:g}"})
    return value


def _place(session: Session, form: Mapping[str, str], lat: float | None, long: float | None) -> str:
    """The report place from address_id (a report place's or a building's code), address_string
    (a building's name or a text of config/intake.yaml ``places``), or else the nearest building to
    lat/long."""
    kinds = load_locality().kinds_where("report_place")
    address_id = form.get("address_id", "").strip()
    if address_id:
        return _place_of_id(session, address_id, kinds)
    address = form.get("address_string", "").strip()
    if address:
        codes = frozenset(session.scalars(select(Unit.code).where(Unit.kind.in_(kinds))))
        place = find_place(address, building_places(session) | shared_places(), codes)
        if place is None or place not in codes:
            raise Invalid("address_string: no report place found for the address",
                          {"address_string": "no place found"})
        return place
    if lat is None or long is None:
        raise Invalid("address_string, address_id or lat and long are required", {"address_string": "required"})
    within = float(open311_settings().get("nearest_building_m", "300"))
    building = nearest(session, lat, long, within)
    if building is None:
        raise Invalid(f"lat/long: no building within {within:g} m", {"lat": "no building near"})
    return building.place.code


def _place_of_id(session: Session, address_id: str, kinds: frozenset[str]) -> str:
    unit = session.scalar(select(Unit).where(Unit.code == address_id, Unit.kind.in_(kinds)))
    building = building_by_code(session, address_id) if unit is None else None
    if unit is None and building is None:
        raise Invalid("address_id: not a report place or a building", {"address_id": "unknown place"})
    return unit.code if unit is not None else building.place.code  # type: ignore[union-attr]


def get_requests(session: Session, client: Open311Client, args: Mapping[str, str]) -> list[dict[str, Any]]:
    query = (select(Case, Open311Request).join(Open311Request, Open311Request.case_id == Case.id)
             .where(Open311Request.client_id == client.id))
    ids = [i.strip() for i in args.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        query = query.where(Case.number.in_(ids[:MAX_REQUESTS]))
    if args.get("service_code"):
        query = query.where(Case.matter == args["service_code"])
    status = args.get("status", "")
    if status:
        if status not in STATUS.values():
            raise Invalid("status: open or closed", {"status": "open or closed"})
        query = query.where(Case.status == status) if status == "closed" else query.where(Case.status != "closed")
    for name, compare in (("start_date", Case.created_at.__ge__), ("end_date", Case.created_at.__le__)):
        if args.get(name):
            query = query.where(compare(_date_arg(args[name], name)))
    rows = session.execute(query.order_by(Case.id.desc()).limit(MAX_REQUESTS))
    return [_describe(session, case, link) for case, link in rows]


def get_request(session: Session, client: Open311Client, number: str) -> list[dict[str, Any]]:
    row = session.execute(select(Case, Open311Request).join(Open311Request, Open311Request.case_id == Case.id)
                          .where(Case.number == number, Open311Request.client_id == client.id)).first()
    if row is None:
        raise NotFound(f"service_request_id: no request '{number}'", {"service_request_id": "not found"})
    return [_describe(session, row[0], row[1])]


def token_lookup(session: Session, client: Open311Client, token: str) -> list[dict[str, Any]]:
    row = session.execute(select(Case.number).join(Open311Request, Open311Request.case_id == Case.id)
                          .where(Open311Request.token == token, Open311Request.client_id == client.id)).first()
    if row is None:
        raise NotFound("token: not found", {"token": "not found"})
    return [{"service_request_id": row[0], "token": token}]


def _date_arg(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"{name}: not an ISO 8601 date", {name: "ISO 8601 date"}) from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _describe(session: Session, case: Case, link: Open311Request) -> dict[str, Any]:
    matter = load_catalogue().matter(case.matter or "")
    return {
        "service_request_id": case.number, "status": STATUS.get(case.status, "open"),
        "status_notes": case.outcome, "service_name": matter.name if matter else None,
        "service_code": case.matter, "description": case.description,
        "agency_responsible": _agency(session, matter), "service_notice": None,
        "requested_datetime": _time(case.created_at), "updated_datetime": _time(case.updated_at),
        "expected_datetime": _time(case.due_at), "address": case.address, "address_id": case.place.code,
        "zipcode": None, "lat": link.lat, "long": link.long, "media_url": _media_of(case, link),
    }


def _media_of(case: Case, link: Open311Request) -> str | None:
    """The uploaded photo's public address (by the case's tracking code), else the client's link."""
    if link.attachment_id is not None:
        return url_for("web.public_attachment", code=case.tracking_code, attachment_id=link.attachment_id,
                       _external=True)
    return link.media_url


def _agency(session: Session, matter: Matter | None) -> str | None:
    if matter is None or matter.lead.startswith(KIND_REFERENCE):
        return None
    return session.scalar(select(Unit.name).where(Unit.code == matter.lead))


def _time(value: datetime | None) -> str | None:
    """W3C date and time with the offset of the locality's zone, as the spec's examples show."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(load_calendar().zone).isoformat(timespec="seconds")
