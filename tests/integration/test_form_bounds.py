"""Every field of every task form is bounded, and an attachment field names only files of its own case."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from app.settings import ROOT
from tests.conftest import Api
from tests.integration.flow import FORMS, Flow
from tests.integration.test_bad_input import DEPTS, TRIAGE, assert_error, view


def _unbounded(prop: dict[str, Any], path: str) -> list[str]:
    found = []
    if prop.get("type") == "string" and "maxLength" not in prop:
        found.append(path)
    if prop.get("type") == "array" and "maxItems" not in prop:
        found.append(path)
    for name, child in prop.get("properties", {}).items():
        found += _unbounded(child, f"{path}.{name}")
    if isinstance(prop.get("items"), dict):
        found += _unbounded(prop["items"], f"{path}[]")
    return found


def test_every_form_field_has_a_bound() -> None:
    unbounded = []
    for path in sorted((ROOT / "processes" / "forms").glob("*.schema.json")):
        unbounded += _unbounded(json.loads(path.read_text()), path.name)
    assert unbounded == []


@pytest.fixture(scope="module")
def handling(app: Flask) -> tuple[Flow, int, int]:
    """A community whistle at the departments' handling: (flow, case id, cgzf's handle task id)."""
    flow = Flow(Api(app.test_client(), {}))
    case_id = flow.report(title="办理材料 越界")["id"]
    flow.do("op-dc", case_id, "triage", TRIAGE)
    flow.review_chain(case_id, "community")
    flow.report_in_all(case_id, DEPTS)
    flow.do("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    return flow, case_id, flow.task(case_id, "handle", "dept-cgzf")["id"]


def test_a_100000_character_answer_is_refused_by_name(api: Api, handling: tuple[Flow, int, int]) -> None:
    _, case_id, task_id = handling
    before = view(api, case_id)
    body = assert_error(api.post("cgzf-staff", f"/api/tasks/{task_id}/complete",
                                 json={"actions": "x" * 100_000}), 422, "invalid")
    assert list(body["fields"]) == ["actions"]
    body = assert_error(api.post("cgzf-staff", f"/api/tasks/{task_id}/complete",
                                 json={"actions": "清理", "materials": ["1"] * 21}), 422)
    assert list(body["fields"]) == ["materials"]
    assert view(api, case_id) == before


def _png() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "PNG")
    out.seek(0)
    return out


def _upload(api: Api, user: str, case_id: int) -> str:
    resp = api.post(user, f"/api/cases/{case_id}/attachments", data={"files": (_png(), "p.png")},
                    content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["attachments"][0]["id"])


def test_materials_name_only_files_of_the_case(api: Api, handling: tuple[Flow, int, int]) -> None:
    flow, case_id, task_id = handling
    other_case = flow.report(title="别的案件")["id"]
    foreign = _upload(api, "gw-s1c1g1", other_case)
    own = _upload(api, "cgzf-staff", case_id)
    before = view(api, case_id)
    for materials in ([foreign], [own, "99999999"], [own, "photo.jpg"]):
        body = assert_error(api.post("cgzf-staff", f"/api/tasks/{task_id}/complete",
                                     json={"actions": "清理", "materials": materials}), 422, "invalid")
        assert list(body["fields"]) == [f"materials.{len(materials) - 1}"], materials
        assert "不是本案件的文件" in body["fields"][f"materials.{len(materials) - 1}"]
    assert view(api, case_id) == before
    done = api.post("cgzf-staff", f"/api/tasks/{task_id}/complete", json={"actions": "清理", "materials": [own]})
    assert done.status_code == 200, done.get_json()
