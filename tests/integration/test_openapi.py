"""The OpenAPI document: valid, and in step with the routes and with what they really answer."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.engine import read_bundle_dir
from app.services.openapi import openapi_document
from app.settings import ROOT
from tests.conftest import Api
from tests.integration.flow import GRID, Flow

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
# Operations with no body, no login and no lookup: there is no 4xx they could answer. (Logout can:
# with the session cookie and without its CSRF token it is a 403.)
CANNOT_FAIL = {("/api/openapi.json", "get")}


def _openapi_path(rule: str) -> str:
    """Flask's /api/tasks/<int:task_id> → OpenAPI's /api/tasks/{task_id}."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in HTTP_METHODS}


@pytest.fixture()
def doc(client: FlaskClient) -> dict[str, Any]:
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    return resp.get_json()


def test_served_document_is_valid_openapi(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc == openapi_document()


def test_document_and_routes_name_the_same_operations(app: Flask, doc: dict[str, Any]) -> None:
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api") and rule.endpoint != "static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = set(_operations(doc))
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations without a route"


def test_every_operation_documents_errors_and_security(doc: dict[str, Any]) -> None:
    schemes = set(doc["components"]["securitySchemes"])
    assert {"bearerAuth", "cookieAuth"} <= schemes
    operations = _operations(doc)
    assert set(operations) >= CANNOT_FAIL, "CANNOT_FAIL names an operation that is gone"
    for key, op in operations.items():
        errors = [code for code in op["responses"] if code.startswith("4")]
        assert bool(errors) != (key in CANNOT_FAIL), (key, errors)
        assert "security" in op, f"{key} does not say whether it needs a login"
        if op["security"]:
            assert {name for req in op["security"] for name in req} <= schemes, key
            assert "401" in op["responses"], key


def test_declared_security_matches_the_routes(client: FlaskClient, doc: dict[str, Any]) -> None:
    """Operations with security answer 401 without credentials; public ones never do."""
    for (path, method), op in _operations(doc).items():
        url = path.format(task_id=1, case_id=1, code="NOSUCHCODE", step=1, notification_id=1, incident_id=1,
                          attachment_id=1, number=1, job_id=1)
        status = client.open(url, method=method.upper()).status_code
        assert (status == 401) == bool(op["security"]), (method, path, status)


# --- real responses against the documented schemas ------------------------------------------------


def _closed(node: Any) -> Any:
    """The schemas with every object that lists its properties closed, so undocumented keys fail."""
    if isinstance(node, dict):
        node = {key: _closed(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
    elif isinstance(node, list):
        node = [_closed(item) for item in node]
    return node


class Checker:
    """Calls an operation and validates the answer against what the document says for its status."""

    def __init__(self, api: Api, doc: dict[str, Any]) -> None:
        self.api = api
        self.doc = doc
        resource = Resource.from_contents(_closed(copy.deepcopy(doc)), default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)

    def __call__(self, user: str | None, method: str, path: str, status: int, **kwargs: Any) -> Any:
        names = ("task_id", "case_id", "code", "step", "notification_id", "incident_id", "attachment_id")
        params = {k: kwargs.pop(k) for k in names if k in kwargs}
        resp = self.api.call(method.upper(), user, path.format(**params), **kwargs)
        assert resp.status_code == status, (method, path, resp.get_json())
        response = self.doc["paths"][path][method]["responses"].get(str(status))
        assert response is not None, f"{method} {path} answered {status}, which is not documented"
        if "$ref" in response:
            response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        schema = response["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = {"$ref": "urn:openapi" + schema["$ref"]}
        Draft202012Validator(schema, registry=self.registry).validate(resp.get_json())
        return resp.get_json()


def test_responses_match_the_documented_schemas(api: Api, doc: dict[str, Any]) -> None:
    check = Checker(api, doc)
    token = check(None, "post", "/api/login", 200, json={"username": "op-dc", "password": "demo1234"})["csrf_token"]
    check(None, "post", "/api/logout", 403)  # the session cookie's write needs its CSRF token
    check(None, "post", "/api/logout", 200, headers={"X-CSRFToken": token})
    check(None, "post", "/api/tokens", 201, json={"username": "op-dc", "password": "demo1234"})
    check(None, "post", "/api/tokens", 401, json={"username": "op-dc", "password": "wrong"})
    check("op-dc", "get", "/api/me", 200)
    check("op-dc", "get", "/api/catalogue", 200)
    check("admin", "get", "/api/processes", 200)

    case = check("gw-s1c1g1", "post", "/api/reports", 201,
                 json={"title": "路灯不亮", "grid": GRID, "channel": "grid_patrol", "reporter_name": "王"})
    check("auditor", "get", "/api/cases/{case_id}", 200, case_id=case["id"])
    check("gw-s1c1g1", "post", "/api/reports", 422, json={"title": "x", "grid": GRID, "channel": "fax"})
    check("gw-s1c1g1", "post", "/api/reports", 400, data="{", content_type="application/json")

    receipt = check(None, "post", "/api/public/reports", 201,
                    json={"title": "噪音扰民", "grid": GRID, "channel": "web"})
    check(None, "get", "/api/public/track/{code}", 200, code=receipt["tracking_code"].lower())
    check(None, "get", "/api/public/track/{code}", 404, code="NOSUCHCODE")
    check(None, "post", "/api/public/reports", 403,
          json={"title": "噪音", "grid": GRID, "channel": "hotline_12345"})

    page = check("op-dc", "get", "/api/inbox", 200, query_string={"task_type": "triage", "per_page": 100})
    assert page["items"], "the new report should wait for triage at op-dc"
    check("op-dc", "get", "/api/inbox", 422, query_string={"per_page": 101})
    task_id = Flow(api).task(case["id"], "triage")["id"]
    check("op-dc", "get", "/api/tasks/{task_id}", 200, task_id=task_id)
    check("op-dc", "post", "/api/tasks/{task_id}/claim", 200, task_id=task_id)
    check("gw-s1c1g1", "post", "/api/tasks/{task_id}/claim", 403, task_id=task_id)
    check("op-dc", "post", "/api/tasks/{task_id}/unclaim", 200, task_id=task_id)
    check("op-dc", "post", "/api/tasks/{task_id}/assign", 422, task_id=task_id, json={"username": "nobody"})
    check("op-dc", "post", "/api/tasks/{task_id}/complete", 422, task_id=task_id, json={"grade": 9})
    check("op-dc", "post", "/api/tasks/{task_id}/complete", 200, task_id=task_id,
          json={"grade": 2, "matter": "streetlight_broken"})
    check("op-dc", "post", "/api/tasks/{task_id}/complete", 409, task_id=task_id, json={})
    check("op-dc", "get", "/api/tasks/{task_id}", 404, task_id=10**9)

    check("op-dc", "post", "/api/processes", 403, json={"files": {}})
    check("admin", "post", "/api/processes", 422, json={"files": {}})
    check("admin", "post", "/api/processes", 200, json={"files": read_bundle_dir(ROOT / "processes")})
