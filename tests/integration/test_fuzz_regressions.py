"""Requests found by fuzzing (schemathesis and hand-made bodies) that used to answer 500."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from app.models import Case
from tests.conftest import Api
from tests.integration.test_bad_input import REPORT, TRIAGE, assert_error, count, idle_triage, view

__all__ = ["idle_triage"]  # the fixture, imported so that pytest finds it here

DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 3000 + "1" + "}" * 3000
NESTED_33 = json.dumps(TRIAGE | {"note": json.loads("[" * 33 + "]" * 33)})
SURROGATE_KEY = json.dumps(TRIAGE | {"\ud800": 1})  # json.dumps escapes it as "\ud800"
SURROGATE_VALUE = json.dumps(TRIAGE | {"note": "a\udfffb"})
NAN_VALUE = json.dumps(TRIAGE | {"note": float("nan")})  # Python's parser accepts NaN; JSON has none
INFINITY_VALUE = json.dumps(TRIAGE | {"grade": float("inf")})
BODIES = {
    "NaN": NAN_VALUE,
    "Infinity": INFINITY_VALUE,
    "deep array": DEEP_ARRAY,
    "deep object": DEEP_OBJECT,
    "33 levels": NESTED_33,
    "surrogate key": SURROGATE_KEY,
    "surrogate value": SURROGATE_VALUE,
}
ENDPOINTS = [
    ("op-dc", "/api/tasks/{task}/complete"),
    ("op-dc", "/api/tasks/{task}/assign"),
    ("gw-s1c1g1", "/api/reports"),
    (None, "/api/public/reports"),
    (None, "/api/tokens"),
    (None, "/api/login"),
    ("admin", "/api/processes"),
]


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize(("user", "path"), ENDPOINTS)
def test_deep_or_non_unicode_json_is_a_400(
    api: Api, app: Flask, idle_triage: tuple[int, int], user: str | None, path: str, kind: str
) -> None:
    case_id, task_id = idle_triage
    before = view(api, case_id), count(app, Case), api.get("admin", "/api/processes").get_json()
    resp = api.post(user, path.format(task=task_id), data=BODIES[kind], content_type="application/json")
    body = assert_error(resp, 400, "bad_request")
    assert "" in body["fields"]
    assert (view(api, case_id), count(app, Case), api.get("admin", "/api/processes").get_json()) == before


def test_shallow_nesting_and_real_unicode_still_work(api: Api, app: Flask) -> None:
    before = count(app, Case)
    resp = api.post("gw-s1c1g1", "/api/reports", json=REPORT | {"description": "😀 𠀀 \u00e9"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["description"] == "😀 𠀀 \u00e9"
    assert count(app, Case) == before + 1
