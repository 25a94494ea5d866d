"""Bad input is refused with a 4xx JSON error that says what is wrong, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.engine import read_bundle_dir
from app.models import ApiToken, Case
from app.settings import ROOT
from tests.conftest import Api
from tests.integration.flow import FORMS, Flow

GRID = "dc-s1-c1-g1"
REPORT = {"title": "垃圾堆放", "grid": GRID, "channel": "grid_patrol", "description": "三个小区交界处"}
TRIAGE = FORMS["triage_whistle"]
DEPTS = ["dept-cgzf", "dept-hw"]


@pytest.fixture()
def flow(api: Api) -> Flow:
    return Flow(api)


@pytest.fixture()
def triage(flow: Flow) -> tuple[int, int]:
    """A fresh case waiting for triage by op-dc: (case id, task id)."""
    case_id = flow.report()["id"]
    return case_id, flow.task(case_id, "triage")["id"]


@pytest.fixture(scope="module")
def idle_triage(app: Flask) -> tuple[int, int]:
    """A case waiting for triage that the tests only try (and fail) to change."""
    flow = Flow(Api(app.test_client(), {}))
    case_id = flow.report()["id"]
    return case_id, flow.task(case_id, "triage")["id"]


@pytest.fixture(scope="module")
def evaluate(app: Flask) -> tuple[int, int]:
    """A community whistle at its evaluation (一哨一考) by sec-s1c1: (case id, task id)."""
    flow = Flow(Api(app.test_client(), {}))
    case_id = flow.report(title="违规广告")["id"]
    flow.do("op-dc", case_id, "triage", TRIAGE)
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    flow.handle_all(case_id, DEPTS)
    flow.do("op-s1", case_id, "verify", FORMS["verify_ok"])
    flow.do("staff-s1c1", case_id, "feedback", FORMS["feedback"])
    flow.do("callback", case_id, "callback", FORMS["callback"])
    return case_id, flow.task(case_id, "evaluate")["id"]


def view(api: Api, case_id: int) -> dict[str, Any]:
    resp = api.get("auditor", f"/api/cases/{case_id}")
    assert resp.status_code == 200
    return resp.get_json()


def count(app: Flask, model: type) -> int:
    with app.extensions["whistle.db"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def assert_error(resp: Any, status: int, error: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str) and body["message"]
    if error:
        assert body["error"] == error
    return body


# --- bodies that are not JSON ----------------------------------------------------------------------

# (user, path); "{task}" is a task waiting for op-dc's triage
JSON_ENDPOINTS = [
    ("gw-s1c1g1", "/api/reports"),
    (None, "/api/public/reports"),
    ("op-dc", "/api/tasks/{task}/complete"),
    ("op-dc", "/api/tasks/{task}/assign"),
    ("admin", "/api/processes"),
    (None, "/api/login"),
    (None, "/api/tokens"),
]
NOT_JSON = {
    "malformed": {"data": "{not json", "content_type": "application/json"},
    "form_encoded": {"data": "title=x&grid=dc-s1-c1-g1", "content_type": "application/x-www-form-urlencoded"},
    "text_plain": {"data": '{"title": "垃圾堆放"}', "content_type": "text/plain"},
    "no_body": {},
}


@pytest.mark.parametrize("kind", sorted(NOT_JSON))
@pytest.mark.parametrize(("user", "path"), JSON_ENDPOINTS)
def test_body_that_is_not_json_is_a_400(api: Api, app: Flask, idle_triage: tuple[int, int], user: str | None,
                                        path: str, kind: str) -> None:
    case_id, task_id = idle_triage
    before = view(api, case_id), count(app, Case), api.get("admin", "/api/processes").get_json()
    resp = api.post(user, path.format(task=task_id), **NOT_JSON[kind])
    assert_error(resp, 400, "bad_request")
    assert (view(api, case_id), count(app, Case), api.get("admin", "/api/processes").get_json()) == before


def test_body_over_one_mebibyte_is_a_413(api: Api, app: Flask, triage: tuple[int, int]) -> None:
    case_id, task_id = triage
    big = '{"title": "' + "x" * (1024 * 1024) + '", "grid": "dc-s1-c1-g1", "channel": "web"}'
    before = view(api, case_id), count(app, Case)
    for user, path in [("gw-s1c1g1", "/api/reports"), (None, "/api/public/reports"),
                       ("op-dc", f"/api/tasks/{task_id}/complete"), ("admin", "/api/processes")]:
        assert_error(api.post(user, path, data=big, content_type="application/json"), 413, "too_large")
    assert (view(api, case_id), count(app, Case)) == before


# --- ids, paths, methods -----------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["op-dc", "auditor"])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/tasks/999999"), ("GET", "/api/cases/999999"),
    ("POST", "/api/tasks/999999/complete"), ("POST", "/api/tasks/999999/claim"),
    ("POST", "/api/tasks/999999/unclaim"), ("POST", "/api/tasks/999999/assign"),
])
def test_unknown_ids_are_404(api: Api, user: str, method: str, path: str) -> None:
    kwargs = {"json": {"username": "op-dc"}} if method == "POST" else {}
    if user == "auditor" and method == "POST":  # auditors are refused every write before any lookup
        assert_error(api.call(method, user, path, **kwargs), 403, "forbidden")
        return
    assert_error(api.call(method, user, path, **kwargs), 404, "not_found")


@pytest.mark.parametrize(("method", "path", "status", "error"), [
    ("GET", "/api/no-such-thing", 404, "not_found"),
    ("POST", "/api/tasks/abc/complete", 404, "not_found"),
    ("GET", "/api/reports", 405, "method_not_allowed"),
    ("DELETE", "/api/cases/1", 405, "method_not_allowed"),
    ("PUT", "/api/tasks/1/complete", 405, "method_not_allowed"),
    ("GET", "/api/login", 405, "method_not_allowed"),
])
def test_unknown_path_or_method_answers_in_json(api: Api, method: str, path: str, status: int, error: str) -> None:
    assert_error(api.call(method, "op-dc", path), status, error)


def test_task_of_another_role_is_403_and_changes_nothing(api: Api, triage: tuple[int, int]) -> None:
    case_id, task_id = triage
    before = view(api, case_id)
    assert_error(api.post("gw-s1c1g1", f"/api/tasks/{task_id}/complete", json=TRIAGE), 403, "forbidden")
    assert view(api, case_id) == before


# --- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer "},
    {"Authorization": "Basic b3AtZGM6ZGVtbzEyMzQ="},  # op-dc:demo1234, but only bearer tokens are accepted
], ids=["none", "bad_token", "empty_token", "basic"])
def test_requests_without_valid_credentials_are_401(api: Api, app: Flask, triage: tuple[int, int],
                                                    headers: dict[str, str]) -> None:
    case_id, task_id = triage
    before = view(api, case_id), count(app, Case)
    for method, path, body in [("GET", "/api/me", None), ("GET", "/api/inbox", None),
                               ("GET", f"/api/cases/{case_id}", None), ("POST", "/api/reports", REPORT),
                               ("POST", f"/api/tasks/{task_id}/complete", TRIAGE)]:
        resp = api.client.open(path, method=method, headers=headers, json=body)
        assert_error(resp, 401, "unauthorized")
    assert (view(api, case_id), count(app, Case)) == before


@pytest.mark.parametrize("path", ["/api/login", "/api/tokens"])
@pytest.mark.parametrize(("body", "status"), [
    ({"username": "op-dc", "password": "wrong"}, 401),
    ({"username": "no-such-user", "password": "demo1234"}, 401),
    ({"username": "op-dc", "password": ""}, 401),
    ({"username": "op-dc"}, 422),
    ({"username": "op-dc", "password": 1234}, 422),
])
def test_bad_login_is_refused(api: Api, app: Flask, path: str, body: dict[str, Any], status: int) -> None:
    tokens = count(app, ApiToken)
    resp = api.client.post(path, json=body)
    assert_error(resp, status)
    assert "Set-Cookie" not in resp.headers
    assert count(app, ApiToken) == tokens


@pytest.mark.parametrize(("query", "field"), [
    ("page=0", "page"), ("page=-1", "page"), ("page=abc", "page"), ("page=1.5", "page"),
    ("per_page=1000", "per_page"), ("per_page=0", "per_page"), ("per_page=x", "per_page"),
])
def test_bad_inbox_paging_is_422(api: Api, query: str, field: str) -> None:
    body = assert_error(api.get("op-dc", f"/api/inbox?{query}"), 422, "invalid")
    assert list(body["fields"]) == [field]


# --- reports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "change", "fields"), [
    ("gw-s1c1g1", {"grid": "dc-s9-c9-g9"}, {"grid"}),
    ("gw-s1c1g1", {"grid": "dc-s1"}, {"grid"}),              # a street, not a grid
    ("gw-s1c1g1", {"grid": "dc-s1-c1"}, {"grid"}),           # a community
    ("gw-s1c1g1", {"grid": "dept-hw"}, {"grid"}),            # a department
    ("gw-s1c1g1", {"grid": ""}, {"grid"}),
    ("gw-s1c1g1", {"channel": "fax"}, {"channel"}),
    ("gw-s1c1g1", {"title": "x"}, {"title"}),
    ("gw-s1c1g1", {"title": None}, {"title"}),
    ("gw-s1c1g1", {"urgent": "yes"}, {"urgent"}),
    ("gw-s1c1g1", {"reporter_phone": "call me"}, {"reporter_phone"}),
    ("gw-s1c1g1", {"matter": "no_such_matter"}, {"matter"}),
    ("gw-s1c1g1", {"whistle_level": "city"}, {"whistle_level"}),
    ("gw-s1c1g1", {"foo": 1}, {"foo"}),
    ("gw-s1c1g1", {"foo": 1, "bar": 2}, {"foo", "bar"}),     # every extra field is named
    ("gw-s1c1g1", {"title": "x", "channel": "fax", "foo": 1}, {"title", "channel", "foo"}),
    ("sec-s1c1", {"whistle_level": "community"}, {"matter"}),  # a whistle needs its matter
])
def test_invalid_report_is_422_naming_the_field_and_creates_no_case(
    api: Api, app: Flask, user: str, change: dict[str, Any], fields: set[str]
) -> None:
    cases = count(app, Case)
    body = assert_error(api.post(user, "/api/reports", json=REPORT | change), 422, "invalid")
    assert set(body["fields"]) == fields
    assert count(app, Case) == cases


@pytest.mark.parametrize("body", [
    {"title": "垃圾堆放", "grid": GRID, "channel": "grid_patrol"},
    [REPORT], "report", 42,
])
def test_report_body_missing_or_not_an_object_is_422(api: Api, app: Flask, body: Any) -> None:
    cases = count(app, Case)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "grid"}
    assert_error(api.post("gw-s1c1g1", "/api/reports", json=body), 422, "invalid")
    assert count(app, Case) == cases


@pytest.mark.parametrize("change", [
    {"self_handled": True},
    {"whistle_level": "community", "matter": "illegal_advertising"},
    {"channel": "grid_patrol"},
    {"channel": "hotline_12345"},
])
def test_public_report_cannot_use_staff_powers(api: Api, app: Flask, change: dict[str, Any]) -> None:
    cases = count(app, Case)
    public = {"title": "垃圾堆放", "grid": GRID, "channel": "web"}
    assert_error(api.post(None, "/api/public/reports", json=public | change), 403, "forbidden")
    assert count(app, Case) == cases
    assert api.post(None, "/api/public/reports", json=public).status_code == 201
    assert count(app, Case) == cases + 1


# --- forms ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("form", "fields"), [
    ({"grade": 3, "level": "community"}, {"matter"}),                       # missing required
    ({"grade": 3, "matter": "illegal_advertising"}, {"level"}),              # required when grade is 3
    (TRIAGE | {"grade": "3"}, {"grade"}),                                    # wrong type
    (TRIAGE | {"urgent": "no"}, {"urgent"}),
    (TRIAGE | {"grade": 4}, {"grade"}),                                      # not one of the choices
    (TRIAGE | {"level": "city"}, {"level"}),
    (TRIAGE | {"matter": ""}, {"matter"}),
    (TRIAGE | {"secret": 1}, {"secret"}),                                    # extra field
    (TRIAGE | {"secret": 1, "other": 2}, {"secret", "other"}),
    ({"grade": "x", "matter": 5, "level": "city", "x": 1}, {"grade", "matter", "level", "x"}),
])
def test_invalid_triage_form_is_422_and_the_task_stays_open(
    api: Api, triage: tuple[int, int], form: dict[str, Any], fields: set[str]
) -> None:
    case_id, task_id = triage
    before = view(api, case_id)
    body = assert_error(api.post("op-dc", f"/api/tasks/{task_id}/complete", json=form), 422, "invalid")
    assert set(body["fields"]) == fields
    assert view(api, case_id) == before
    assert api.post("op-dc", f"/api/tasks/{task_id}/complete", json=TRIAGE).status_code == 200


@pytest.mark.parametrize("body", [[], [TRIAGE], "triage", 3, None])
def test_form_that_is_not_an_object_is_refused(api: Api, triage: tuple[int, int], body: Any) -> None:
    case_id, task_id = triage
    before = view(api, case_id)
    resp = api.post("op-dc", f"/api/tasks/{task_id}/complete", data=_json(body), content_type="application/json")
    assert_error(resp, 400 if body is None else 422)
    assert view(api, case_id) == before


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@pytest.mark.parametrize(("change", "fields"), [
    ({"efficiency": 6}, {"efficiency"}),
    ({"cooperation": 0}, {"cooperation"}),
    ({"professionalism": 4.5}, {"professionalism"}),
    ({"responsibility": "5"}, {"responsibility"}),
    ({"comment": 5}, {"comment"}),
    ({"efficiency": 6, "cooperation": -1, "score": 5}, {"efficiency", "cooperation", "score"}),
])
def test_rating_out_of_range_is_422(api: Api, evaluate: tuple[int, int], change: dict[str, Any],
                                    fields: set[str]) -> None:
    case_id, task_id = evaluate
    before = view(api, case_id)
    resp = api.post("sec-s1c1", f"/api/tasks/{task_id}/complete", json=FORMS["evaluate"] | change)
    body = assert_error(resp, 422, "invalid")
    assert set(body["fields"]) == fields
    after = view(api, case_id)
    assert after == before and after["evaluations"] == []


@pytest.mark.parametrize("form", [
    {"grade": 2, "matter": "no_such_matter"},
    TRIAGE | {"matter": "no_such_matter"},
    TRIAGE | {"matter": "no_such_matter", "level": "street"},
    TRIAGE | {"matter": "no_such_matter", "level": "district"},
])
def test_unknown_matter_in_triage_is_422_with_nothing_half_applied(
    api: Api, app: Flask, triage: tuple[int, int], form: dict[str, Any]
) -> None:
    case_id, task_id = triage
    before = view(api, case_id), count(app, Case)
    body = assert_error(api.post("op-dc", f"/api/tasks/{task_id}/complete", json=form), 422, "invalid")
    assert list(body["fields"]) == ["matter"]
    after = view(api, case_id)
    assert [t["id"] for t in after["open_tasks"]] == [task_id]
    assert (after, count(app, Case)) == before


def test_completed_task_cannot_be_acted_on_again(api: Api, flow: Flow, triage: tuple[int, int]) -> None:
    case_id, task_id = triage
    assert api.post("op-dc", f"/api/tasks/{task_id}/complete", json=TRIAGE).status_code == 200
    before = view(api, case_id)
    for action, body in [("complete", TRIAGE), ("claim", {}), ("unclaim", {}), ("assign", {"username": "op-dc"})]:
        assert_error(api.post("op-dc", f"/api/tasks/{task_id}/{action}", json=body), 409, "conflict")
    assert view(api, case_id) == before
    assert api.get("op-dc", f"/api/tasks/{task_id}").get_json()["status"] == "completed"


# --- deploying process bundles --------------------------------------------------------------------

XXE = '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'


def _bad_bundles() -> dict[str, tuple[dict[str, str], str]]:
    """name → (files, a phrase the refusal must contain)."""
    files = read_bundle_dir(ROOT / "processes")
    case, whistle = files["case.bpmn"], files["whistle.bpmn"]
    xxe = XXE + case.split("?>", 1)[1].replace('name="研判分级 Triage"', 'name="&e;"', 1)
    return {
        "malformed_xml": (files | {"case.bpmn": case[: len(case) // 2]}, "not well-formed"),
        "not_xml": (files | {"whistle_levels.dmn": "{not xml"}, "not well-formed"),
        "xxe": (files | {"case.bpmn": xxe}, "DOCTYPE"),
        "xxe_in_dmn": (files | {"whistle_levels.dmn": XXE + "<definitions>&e;</definitions>"}, "DOCTYPE"),
        "unknown_handler": (
            files | {"whistle.bpmn": whistle.replace('serviceTaskOperator id="record_report_in"',
                                                     'serviceTaskOperator id="no_such_handler"')},
            "unknown handler 'no_such_handler'",
        ),
        "dotdot": (files | {"../evil.schema.json": "{}"}, "inside the bundle"),
        "dotdot_nested": (files | {"forms/../../evil.bpmn": files["callback.bpmn"]}, "inside the bundle"),
        "absolute": (files | {"/etc/evil.schema.json": "{}"}, "inside the bundle"),
        "bad_form": (files | {"forms/triage.schema.json": '{"type": 5}'}, "JSON Schema"),
        "no_case_process": ({k: v for k, v in files.items() if k != "case.bpmn"}, "'case'"),
        "stray_file": (files | {"notes.txt": "{}"}, "only .bpmn"),
        "name_too_long": (files | {"case.bpmn": case.replace('name="研判分级 Triage"', f'name="{"长" * 150}"')},
                          "longer than 128"),
        "unknown_lane": (files | {"case.bpmn": case.replace('name="platform_operator"', 'name="wizard"', 1)},
                         "lane 'wizard' is not a role"),
        "bad_role_expression": (files | {"whistle.bpmn": whistle.replace(
            "value=\"supervision['head_role']\"", "value=\"supervision[\"", 1)}, "is not a Python expression"),
        "unknown_stage": (files | {"case.bpmn": case.replace('value="triage"', 'value="brewing"', 1)},
                          "stage 'brewing' is unknown"),
        "import_in_script": (files | {"case.bpmn": case.replace("<bpmn:script>grade = 1<", "<bpmn:script>import os<")},
                             "case.bpmn: set_grade_1 (line "),
        "escape_in_condition": (files | {"case.bpmn": case.replace(">grade == 3<", ">().__class__.__base__<")},
                                "condition: access to '__class__' is not allowed"),
        "absurd_timer": (files | {"case.bpmn": case.replace("handle_deadline['remind']<", "'P99999999Y'<", 1)},
                         "timer duration 'P99999999Y' is longer than 100 years"),
        "escape_in_dmn_cell": (files | {"whistle_levels.dmn": _in_rule(files["whistle_levels.dmn"], "rule_street_level",
                                                                       '"street"', "__import__('os')")},
                               "rule_street_level (line "),
        "duplicate_form": (files | {"other/triage.schema.json": files["forms/triage.schema.json"]},
                           "two forms named 'triage.schema.json'"),
    }


def _in_rule(dmn: str, entry_id: str, old: str, new: str) -> str:
    """The DMN with the first ``old`` after the element ``entry_id`` replaced."""
    before, after = dmn.split(f'id="{entry_id}"', 1)
    return f'{before}id="{entry_id}"{after.replace(old, new, 1)}'


BAD_BUNDLES = sorted(_bad_bundles())


@pytest.mark.parametrize("name", BAD_BUNDLES)
def test_bad_bundle_is_refused_and_deploys_nothing(api: Api, app: Flask, name: str) -> None:
    files, phrase = _bad_bundles()[name]
    versions = api.get("admin", "/api/processes").get_json()
    body = assert_error(api.post("admin", "/api/processes", json={"files": files}), 422, "invalid")
    assert phrase in body["message"], body["message"]
    assert "root:" not in body["message"]  # nothing of /etc/passwd comes back
    assert api.get("admin", "/api/processes").get_json() == versions
    flow = Flow(api)  # and new cases still start on the deployed version
    assert flow.open_types(flow.report()["id"]) == ["triage"]


@pytest.mark.parametrize("body", [{}, {"files": {}}, {"files": []}, {"files": {"case.bpmn": 1}}, ["case.bpmn"]])
def test_deploy_without_files_is_422(api: Api, body: Any) -> None:
    versions = api.get("admin", "/api/processes").get_json()
    response = assert_error(api.post("admin", "/api/processes", json=body), 422, "invalid")
    assert "files" in response["fields"]
    assert api.get("admin", "/api/processes").get_json() == versions


# --- values no database column can hold -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/tasks/{}", "/api/cases/{}"])
@pytest.mark.parametrize("big", [2**31, 2**63, 10**30])
def test_ids_beyond_any_row_are_404(api: Api, path: str, big: int) -> None:
    assert_error(api.get("auditor", path.format(big)), 404, "not_found")


def test_a_task_one_may_not_see_answers_like_a_missing_one(api: Api, idle_triage: tuple[int, int]) -> None:
    _, task_id = idle_triage
    hidden = assert_error(api.get("gw-s2c1g1", f"/api/tasks/{task_id}"), 404)["message"]
    missing = assert_error(api.get("gw-s2c1g1", f"/api/tasks/{2**31 - 1}"), 404)["message"]
    assert hidden.replace(str(task_id), "N") == missing.replace(str(2**31 - 1), "N")


@pytest.mark.parametrize("text", ["a\x00b", "bell\x07", "esc\x1b[31m"])
def test_control_characters_are_refused_by_name(api: Api, app: Flask, idle_triage: tuple[int, int], text: str) -> None:
    before = count(app, Case)
    body = assert_error(api.post("gw-s1c1g1", "/api/reports", json=REPORT | {"description": text}), 422)
    assert "description" in body["fields"]
    assert count(app, Case) == before
    case_id, task_id = idle_triage
    snapshot = view(api, case_id)
    form = TRIAGE | {"note": text}
    assert "note" in assert_error(api.post("op-dc", f"/api/tasks/{task_id}/complete", json=form), 422)["fields"]
    assert view(api, case_id) == snapshot


@pytest.mark.parametrize("arg", ["overdue=maybe", "mine=2"])
def test_inbox_flags_must_be_booleans(api: Api, arg: str) -> None:
    body = assert_error(api.get("op-dc", f"/api/inbox?{arg}"), 422)
    assert arg.split("=")[0] in body["fields"]


def test_logout_with_a_token_revokes_it(client: Any) -> None:
    token = client.post("/api/tokens", json={"username": "op-s1", "password": "demo1234"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    assert client.post("/api/logout", headers=headers).status_code == 200
    assert_error(client.get("/api/me", headers=headers), 401)
