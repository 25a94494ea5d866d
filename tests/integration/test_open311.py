"""Open311 GeoReport v2 at /open311/v2/: the spec's response shapes, round trips, keys, scope, bad input."""

from __future__ import annotations

import hashlib
import io
import secrets
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from app.intake.open311 import create_client
from app.models import Case, Open311Client, Open311Request, User
from app.services.auth import principal_for
from app.services.cases import file_report

BASE = "/open311/v2"
# The keys of the spec's examples (wiki.open311.org/GeoReport_v2): GET services, GET service
# definition, POST requests, GET requests, GET tokens.
SERVICE_KEYS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
DEFINITION_KEYS = {"service_code", "attributes"}
POSTED_KEYS = {"service_request_id", "service_notice", "account_id"}
REQUEST_KEYS = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}
TOKEN_KEYS = {"service_request_id", "token"}


def _key(app: Flask) -> str:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return create_client(s, f"client-{secrets.token_hex(4)}")


@pytest.fixture()
def key(app: Flask) -> str:
    return _key(app)


def _post(client: FlaskClient, key: str, **form: Any) -> Any:
    body = {"api_key": key, "service_code": "garbage_overflow", "address_string": "和平里小区北门",
            "description": "垃圾桶满溢三天", "lat": "39.95", "long": "116.41", "first_name": "先生", "last_name": "张",
            "phone": "13800138000"} | form
    return client.post(f"{BASE}/requests.json", data={k: v for k, v in body.items() if v is not None})


def _cases(app: Flask) -> int:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Case)) or 0)


def test_services_and_a_service_definition_have_the_spec_shape(client: FlaskClient) -> None:
    found = client.get(f"{BASE}/services.json").get_json()
    assert found and set(found[0]) == SERVICE_KEYS
    assert {"garbage_overflow", "fire_lane_blocked"} <= {s["service_code"] for s in found}
    assert client.get(f"{BASE}/services").get_json() == found
    definition = client.get(f"{BASE}/services/garbage_overflow.json").get_json()
    assert set(definition) == DEFINITION_KEYS
    missing = client.get(f"{BASE}/services/nope.json")
    assert missing.status_code == 404 and set(missing.get_json()[0]) == {"code", "description"}
    assert client.get(f"{BASE}/services/garbage_overflow.csv").status_code == 400


def test_post_then_read_back_by_id_by_list_and_by_token(app: Flask, client: FlaskClient, key: str) -> None:
    posted = _post(client, key)
    assert posted.status_code == 201, posted.get_json()
    answer = posted.get_json()[0]
    assert set(answer) >= POSTED_KEYS
    number = answer["service_request_id"]
    one = client.get(f"{BASE}/requests/{number}.json", query_string={"api_key": key}).get_json()
    assert len(one) == 1 and set(one[0]) == REQUEST_KEYS
    request = one[0]
    assert (request["status"], request["service_code"], request["address_id"]) == ("open", "garbage_overflow",
                                                                                     "dc-s1-c1-g1")
    assert (request["lat"], request["long"]) == (39.95, 116.41)
    assert request["requested_datetime"].endswith("+08:00")
    listed = client.get(f"{BASE}/requests.json", query_string={"api_key": key, "status": "open"}).get_json()
    assert [r["service_request_id"] for r in listed] == [number]
    assert client.get(f"{BASE}/requests.json", query_string={"api_key": key, "status": "closed"}).get_json() == []
    token = client.get(f"{BASE}/tokens/{answer['token']}.json", query_string={"api_key": key}).get_json()
    assert token == [{"service_request_id": number, "token": answer["token"]}] and set(token[0]) == TOKEN_KEYS
    with app.extensions["whistle.db"].unit_of_work() as s:
        case = s.scalar(select(Case).where(Case.number == number))
        assert (case.channel, case.reporter_name, case.place.code) == ("web", "张先生", "dc-s1-c1-g1")


def test_a_client_sees_only_its_own_requests_and_keys_are_stored_hashed(app: Flask, client: FlaskClient,
                                                                       key: str) -> None:
    number = _post(client, key).get_json()[0]["service_request_id"]
    other = _key(app)
    assert client.get(f"{BASE}/requests/{number}.json", query_string={"api_key": other}).status_code == 404
    assert client.get(f"{BASE}/requests.json", query_string={"api_key": other}).get_json() == []
    assert client.get(f"{BASE}/requests.json").status_code == 403
    assert client.get(f"{BASE}/requests.json", query_string={"api_key": "forged"}).status_code == 403
    with app.extensions["whistle.db"].unit_of_work() as s:
        assert s.scalar(select(Open311Client).where(Open311Client.key_hash == key)) is None


def test_a_closed_case_is_closed_in_open311(app: Flask, client: FlaskClient, key: str) -> None:
    with app.extensions["whistle.db"].unit_of_work() as s:
        worker = principal_for(s, s.scalar(select(User).where(User.username == "gw-s1c1g1")))
        case = file_report(s, worker, {"title": "井盖松动已处置", "place": "dc-s1-c1-g1", "channel": "grid_patrol",
                                       "matter": "garbage_overflow", "self_handled": True})
        owner = s.scalar(select(Open311Client).where(
            Open311Client.key_hash == hashlib.sha256(key.encode()).hexdigest()))
        s.add(Open311Request(case_id=case.id, client_id=owner.id, token=secrets.token_hex(8)))
        number = case.number
    found = client.get(f"{BASE}/requests/{number}.json", query_string={"api_key": key}).get_json()
    assert found[0]["status"] == "closed"


@pytest.mark.parametrize(("form", "field"), [
    ({"service_code": "nope"}, "service_code"),
    ({"address_string": "火星基地"}, "address_string"),
    ({"address_string": None, "lat": None, "long": None}, "address_string"),
    ({"address_id": "dc-s1"}, "address_id"),
    ({"lat": "north"}, "lat"),
    ({"long": "200"}, "long"),
    ({"phone": "call me<script>"}, "phone:"),
    ({"description": "x" * 6000}, "description"),
    ({"jurisdiction_id": "elsewhere"}, "jurisdiction_id"),
])
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(app: Flask, client: FlaskClient, key: str,
                                                                  form: dict[str, Any], field: str) -> None:
    before = _cases(app)
    resp = _post(client, key, **form)
    assert 400 <= resp.status_code < 500, resp.get_json()
    assert field in resp.get_json()[0]["description"]
    assert _cases(app) == before


def test_json_body_and_bad_dates(client: FlaskClient, key: str) -> None:
    posted = client.post(f"{BASE}/requests.json", json={"api_key": key, "service_code": "noise_nuisance",
                                                        "address_id": "dc-s1-c2-g1", "description": "夜间施工"})
    assert posted.status_code == 201, posted.get_json()
    bad = client.get(f"{BASE}/requests.json", query_string={"api_key": key, "start_date": "yesterday"})
    assert bad.status_code == 400 and "start_date" in bad.get_json()[0]["description"]


# --- XML, as the spec's examples (wiki.open311.org/GeoReport_v2) ------------------------------------


def _xml(resp: Any) -> ElementTree.Element:
    assert resp.mimetype == "text/xml" and resp.get_data(as_text=True).startswith('<?xml version="1.0"')
    return ElementTree.fromstring(resp.get_data())


def _items(root: ElementTree.Element, tag: str, item: str) -> list[dict[str, str | None]]:
    assert root.tag == tag and all(child.tag == item for child in root)
    return [{field.tag: field.text for field in child} for child in root]


def test_services_in_xml_as_the_spec_example(client: FlaskClient) -> None:
    services = _items(_xml(client.get(f"{BASE}/services.xml")), "services", "service")
    as_json = client.get(f"{BASE}/services.json").get_json()
    assert services and set(services[0]) == SERVICE_KEYS
    assert services[0] == {k: ("false" if v is False else str(v)) for k, v in as_json[0].items()}
    definition = _xml(client.get(f"{BASE}/services/garbage_overflow.xml"))
    assert definition.tag == "service_definition" and [c.tag for c in definition] == ["service_code", "attributes"]
    assert definition.findtext("service_code") == "garbage_overflow" and list(definition.find("attributes")) == []


def test_post_and_read_back_in_xml(client: FlaskClient, key: str) -> None:
    body = {"api_key": key, "service_code": "garbage_overflow", "address_string": "和平里小区北门",
            "description": "垃圾桶满溢 <b>&</b>", "lat": "39.95", "long": "116.41"}
    posted = client.post(f"{BASE}/requests.xml", data=body)
    assert posted.status_code == 201
    answer = _items(_xml(posted), "service_requests", "request")
    assert len(answer) == 1 and set(answer[0]) >= POSTED_KEYS and answer[0]["account_id"] is None
    number, token = answer[0]["service_request_id"], answer[0]["token"]
    one = _items(_xml(client.get(f"{BASE}/requests/{number}.xml", query_string={"api_key": key})),
                 "service_requests", "request")
    assert set(one[0]) == REQUEST_KEYS and one[0]["status"] == "open" and one[0]["lat"] == "39.95"
    assert one[0]["description"] == "垃圾桶满溢 <b>&</b>"  # escaped in the document, read back whole
    listed = _items(_xml(client.get(f"{BASE}/requests.xml", query_string={"api_key": key})),
                    "service_requests", "request")
    assert number in [r["service_request_id"] for r in listed]
    tokens = _items(_xml(client.get(f"{BASE}/tokens/{token}.xml", query_string={"api_key": key})),
                    "service_requests", "request")
    assert tokens == [{"service_request_id": number, "token": token}]


def test_errors_in_xml_as_the_spec_example(client: FlaskClient) -> None:
    refused = client.get(f"{BASE}/requests.xml", query_string={"api_key": "forged"})
    errors = _items(_xml(refused), "errors", "error")
    assert refused.status_code == 403 and errors[0]["code"] == "403" and "api_key" in (errors[0]["description"] or "")
    assert client.get(f"{BASE}/services/nope.xml").status_code == 404


# --- media_url -------------------------------------------------------------------------------------


def _png() -> io.BytesIO:
    image = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(image, "PNG")
    image.seek(0)
    return image


def _request_of(client: FlaskClient, key: str, number: str) -> dict[str, Any]:
    return client.get(f"{BASE}/requests/{number}.json", query_string={"api_key": key}).get_json()[0]


def test_media_url_as_a_link_or_an_uploaded_photo(app: Flask, client: FlaskClient, key: str) -> None:
    linked = _post(client, key, media_url="https://img.example.org/a/垃圾.jpg").get_json()[0]["service_request_id"]
    assert _request_of(client, key, linked)["media_url"] == "https://img.example.org/a/垃圾.jpg"
    body = {"api_key": key, "service_code": "garbage_overflow", "address_id": "dc-s1-c1-g1", "description": "满溢",
            "media": (_png(), "photo.png")}
    posted = client.post(f"{BASE}/requests.json", data=body, content_type="multipart/form-data")
    assert posted.status_code == 201, posted.get_json()
    url = _request_of(client, key, posted.get_json()[0]["service_request_id"])["media_url"]
    assert url.startswith("http://localhost/track/") and "/attachments/" in url
    photo = client.get(url.removeprefix("http://localhost"))
    assert photo.status_code == 200 and photo.mimetype == "image/png"


@pytest.mark.parametrize(("form", "field"), [
    ({"media_url": "javascript:alert(1)"}, "media_url"),
    ({"media_url": "https://x.org/" + "a" * 1000}, "media_url"),
    ({"media": b"not an image"}, "media"),
])
def test_bad_media_is_refused_and_stores_nothing(app: Flask, client: FlaskClient, key: str, form: dict[str, Any],
                                                 field: str) -> None:
    before = _cases(app)
    body = {"api_key": key, "service_code": "garbage_overflow", "address_id": "dc-s1-c1-g1"} | form
    if "media" in body:  # a fresh file for each run of the test
        body["media"] = (io.BytesIO(body["media"]), "photo.png")
    resp = client.post(f"{BASE}/requests.json", data=body, content_type="multipart/form-data")
    assert resp.status_code == 400 and field in resp.get_json()[0]["description"], resp.get_json()
    assert _cases(app) == before
