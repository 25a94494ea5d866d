"""The modeler's helpers: the check as you edit (deploy check and lint rules, with element ids and
rule names), the properties panel's pick-lists, the form editor's preview, and the DMN and form
editors on drafts; only process admins may use them."""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from sqlalchemy import select

from app.definitions.lint import lint_files
from app.models import ProcessDraft
from app.settings import ROOT
from tests.web.pages_client import Pages, text

CASE = (ROOT / "processes" / "case.bpmn").read_text(encoding="utf-8")
FORM = (ROOT / "processes" / "forms" / "triage.schema.json").read_text(encoding="utf-8")
DMN = (ROOT / "processes" / "whistle_levels.dmn").read_text(encoding="utf-8")
XSS = "<script>alert(1)</script>"


@pytest.fixture()
def admin(own_app: Flask) -> Pages:
    pages = Pages(own_app.test_client())
    pages.login("admin")
    pages.get("/admin/processes/1/edit/case.bpmn")
    return pages


def check(admin: Pages, bpmn: str, name: str = "case.bpmn") -> dict:
    resp = admin.post("/admin/modeling/check", {"version": "1", "file": name, "text": bpmn})
    assert resp.status_code == 200, text(resp)[:500]
    return resp.get_json()


def by_rule(result: dict) -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for p in result["problems"]:
        found.setdefault(p["rule"], set()).add(p["element"])
    return found


def test_the_shipped_case_diagram_has_no_problems(admin: Pages) -> None:
    result = check(admin, CASE)
    assert result == {"file": "case.bpmn", "ok": True, "problems": []}


def test_a_deploy_error_names_the_element_its_line_and_the_rule(admin: Pages) -> None:
    stage = r'(<spiffworkflow:property name="stage" value=")triage("\s*/>)'
    broken = re.sub(stage, r"\1no_such_stage\2", CASE, count=1)
    assert broken != CASE  # the diagram still has the property this test breaks
    result = check(admin, broken)
    assert result["ok"] is False
    [problem] = [p for p in result["problems"] if p["element"] == "triage"]
    assert problem["rule"] == "deploy-check" and problem["severity"] == "error"
    assert problem["file"] == "case.bpmn" and "no_such_stage" in problem["message"]
    assert problem["line"] == CASE[:CASE.index('id="triage"')].count("\n") + 1


def test_lint_rules_find_an_unlabelled_unreachable_task_and_a_superfluous_gateway(admin: Pages) -> None:
    """An unlabelled task no flow leads to, a gateway that passes one flow on, and a task reached
    only from that orphan: each reported by its rule, as warnings (deploy would accept them)."""
    extra = """
    <bpmn:task id="orphan" />
    <bpmn:exclusiveGateway id="pass_on" name="只有一条出线" />
    <bpmn:task id="after_orphan" name="孤立之后" />
    <bpmn:sequenceFlow id="f_orphan" sourceRef="orphan" targetRef="pass_on" />
    <bpmn:sequenceFlow id="f_pass" sourceRef="pass_on" targetRef="after_orphan" />
  </bpmn:process>"""
    defective = CASE.replace("</bpmn:process>", extra, 1)
    result = check(admin, defective)
    rules = by_rule(result)
    assert rules["no-implicit-start"] == {"orphan"}
    assert rules["no-unreachable"] == {"pass_on", "after_orphan"}
    assert rules["superfluous-gateway"] == {"pass_on"}
    assert rules["label-required"] == {"orphan"}
    assert {p["severity"] for p in result["problems"] if p["rule"] != "deploy-check"} == {"warning"}
    orphan = next(p for p in result["problems"] if p["rule"] == "label-required")
    assert orphan["message"] == "元素缺少名称" and orphan["file"] == "case.bpmn" and orphan["line"]


def test_a_process_without_start_or_end_event_is_reported() -> None:
    bpmn = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
            '<bpmn:process id="p" isExecutable="true"><bpmn:task id="t" name="做事" /></bpmn:process>'
            '</bpmn:definitions>')
    found = {(p.rule, p.element) for p in lint_files({"p.bpmn": bpmn})}
    assert found == {("start-event-required", "p"), ("end-event-required", "p"), ("no-implicit-start", "t")}


def test_a_boundary_event_and_an_event_subprocess_are_reachable() -> None:
    bpmn = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
            '<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s" />'
            '<bpmn:userTask id="t" name="办" /><bpmn:endEvent id="e" /><bpmn:endEvent id="late_end" />'
            '<bpmn:boundaryEvent id="late" attachedToRef="t" />'
            '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />'
            '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" />'
            '<bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="late_end" />'
            '<bpmn:subProcess id="on_event" name="事件子流程" triggeredByEvent="true"><bpmn:startEvent id="s2" />'
            '<bpmn:endEvent id="e2" /><bpmn:sequenceFlow id="f4" sourceRef="s2" targetRef="e2" /></bpmn:subProcess>'
            '</bpmn:process></bpmn:definitions>')
    assert lint_files({"p.bpmn": bpmn}) == []


def test_the_check_reads_the_other_drafts_and_stores_nothing(own_app: Flask, admin: Pages) -> None:
    broken = FORM.replace('"type": "object"', '"type": "objekt"', 1)
    saved = admin.post("/admin/drafts", {"version": "1", "file": "forms/triage.schema.json", "text": broken})
    assert saved.status_code == 200
    result = check(admin, CASE)
    assert not result["ok"]
    assert any("triage.schema.json" in (p["file"] or "") + p["message"] for p in result["problems"])
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        assert list(s.scalars(select(ProcessDraft.file_name))) == ["forms/triage.schema.json"]


@pytest.mark.parametrize(("data", "field"), [({"version": "x", "file": "case.bpmn", "text": CASE}, "version"),
                                             ({"version": "1", "file": "config/locality.yaml", "text": "a"}, "file"),
                                             ({"version": "1", "file": "case.bpmn", "text": " "}, "text")])
def test_bad_check_input_is_a_422_naming_the_field(admin: Pages, data: dict, field: str) -> None:
    resp = admin.post("/admin/modeling/check", data)
    assert resp.status_code == 422 and field in resp.get_json()["fields"]


def test_the_picklists_come_from_the_versions_locality_forms_and_handlers(admin: Pages) -> None:
    resp = admin.get("/admin/modeling/1/picklists")
    assert resp.status_code == 200
    lists = resp.get_json()
    assert {"grid_worker", "platform_operator"} <= {r["code"] for r in lists["roles"]}
    assert "triage" in {s["code"] for s in lists["stages"]}
    assert {"top", "community", "street"} <= {u["code"] for u in lists["units"]}
    assert "limits['triage']" in {d["code"] for d in lists["due_hours"]}
    assert "triage.schema.json" in lists["forms"]
    handlers = {h["name"]: h["parameters"] for h in lists["handlers"]}
    assert handlers["lookup_catalogue"] == [{"name": "matter", "required": True}, {"name": "urgent", "required": False}]
    times = {h["name"]: h["times"] for h in lists["handlers"]}
    assert times["set_deadline"] == ["remind", "due", "escalate"] and times["lookup_catalogue"] == []
    conditions = {c["code"]: c["label"] for c in lists["conditions"]}  # from the forms' choice fields
    assert conditions["grade == 3"].startswith("triage · 分级 · 三级")
    assert {"fixed", "not fixed", "action == 'returned'", "verdict == 'accept'"} <= set(conditions)
    assert "matter" not in " ".join(conditions)  # a free-text field offers no condition
    assert admin.get("/admin/modeling/99/picklists").status_code == 404


def test_the_form_preview_draws_the_task_pages_fields_and_escapes_text(admin: Pages) -> None:
    schema = {"type": "object", "required": ["ok"], "properties": {
        "ok": {"type": "boolean", "title": XSS},
        "grade": {"type": "integer", "title": "等级", "minimum": 1, "maximum": 3}}}
    resp = admin.post("/admin/modeling/form-preview", {"schema": json.dumps(schema)})
    body = resp.get_json()
    assert resp.status_code == 200 and body["fields"] == ["ok", "grade"]
    assert 'data-field="ok" data-kind="boolean"' in body["html"] and 'type="number" name="grade"' in body["html"]
    assert XSS not in body["html"] and "&lt;script&gt;" in body["html"]


@pytest.mark.parametrize(("schema", "says"), [("{not json", "not a valid JSON Schema"),
                                              ('{"type": "objekt"}', "/type"), ("true", "JSON object")])
def test_a_broken_form_schema_is_a_422_saying_what_is_wrong(admin: Pages, schema: str, says: str) -> None:
    resp = admin.post("/admin/modeling/form-preview", {"schema": schema})
    assert resp.status_code == 422 and says in resp.get_json()["error"]


def test_dmn_and_form_files_open_in_their_editors_and_save_as_drafts(admin: Pages) -> None:
    page = text(admin.get("/admin/processes/1/edit/whistle_levels.dmn"))
    assert 'data-testid="dmn-editor"' in page and "/admin/vendor/dmn-js/dmn-modeler.production.min.js" in page
    page = text(admin.get("/admin/processes/1/edit/forms/triage.schema.json"))
    assert 'data-testid="form-editor"' in page and "/admin/modeling/form-preview" in page
    assert admin.post("/admin/drafts", {"version": "1", "file": "whistle_levels.dmn", "text": DMN}).status_code == 200
    assert 'data-file="whistle_levels.dmn"' in text(admin.get("/admin/processes"))
    page = text(admin.get("/admin/processes/1"))
    links = set(re.findall(r'href="/admin/processes/1/edit/([^"]+)" data-testid="edit"', page))
    assert {"case.bpmn", "whistle_levels.dmn", "forms/triage.schema.json"} <= links
    assert admin.get("/admin/processes/1/edit/config/locality.yaml").status_code == 404


def test_dmn_js_is_served_but_not_the_rest_of_node_modules(admin: Pages) -> None:
    resp = admin.client.get("/admin/vendor/dmn-js/dmn-modeler.production.min.js")
    assert resp.status_code == 200 and b"dmn-js" in resp.data[:200]
    assert admin.client.get("/admin/vendor/dmn-js/assets/dmn-js-decision-table.css").status_code == 200
    assert admin.client.get("/admin/vendor/dmn-js/dmn-modeler.development.js").status_code == 404
    assert admin.client.get("/admin/vendor/dmn-js/../package.json").status_code == 404


@pytest.mark.parametrize("user", ["op-dc", "auditor"])
def test_other_roles_get_403(own_app: Flask, user: str) -> None:
    pages = Pages(own_app.test_client())
    pages.login(user)
    assert pages.get("/admin/modeling/1/picklists").status_code == 403
    pages.get("/inbox")
    assert pages.post("/admin/modeling/check", {"version": "1", "file": "case.bpmn", "text": CASE}).status_code == 403
    assert pages.post("/admin/modeling/form-preview", {"schema": "{}"}).status_code == 403
    assert pages.get("/admin/processes/1/edit/whistle_levels.dmn").status_code == 403


def test_posts_without_the_csrf_token_are_refused(admin: Pages) -> None:
    assert admin.post("/admin/modeling/check", {"version": "1", "file": "case.bpmn", "text": CASE},
                      token=False).status_code == 400
    assert admin.post("/admin/modeling/form-preview", {"schema": "{}"}, token=False).status_code == 400


def test_the_modeler_page_has_the_check_and_properties_panels(admin: Pages) -> None:
    page = text(admin.get("/admin/processes/1/edit/case.bpmn"))
    assert 'data-testid="check-panel"' in page and 'data-check-url="/admin/modeling/check"' in page
    assert 'data-picklists-url="/admin/modeling/1/picklists"' in page and "spiff-moddle.js" in page




def test_lint_messages_and_picklist_labels_follow_the_readers_language(admin: Pages) -> None:
    admin.get("/lang/en?next=/")
    admin.get("/admin/processes/1/edit/case.bpmn")
    unlabelled = CASE.replace('name="研判分级 Triage"', "", 1)
    [problem] = [p for p in check(admin, unlabelled)["problems"] if p["rule"] == "label-required"]
    assert problem["element"] == "triage" and problem["message"] == "The element has no name"
    units = admin.get("/admin/modeling/1/picklists").get_json()["units"]
    assert units[0] == {"code": "top", "label": "The top unit (its platform)"}
