"""JSON Schema → form fields, and the posted inputs back into typed data for the schema check."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from werkzeug.datastructures import MultiDict

from app.settings import ROOT
from app.web.forms import fields_of, parse, short_message


def _choices(*pairs: tuple[Any, str]) -> list[dict[str, Any]]:
    return [{"const": const, "title": title} for const, title in pairs]


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["decision", "done", "score"],
    "properties": {
        "decision": {"type": "string", "oneOf": _choices(("approve", "同意"), ("return", "退回"))},
        "grade": {"type": "integer", "oneOf": [{"const": n, "title": str(n)} for n in range(1, 8)]},
        "tags": {"type": "array", "items": {"type": "string", "oneOf": _choices(("a", "甲"), ("b", "乙"))}},
        "score": {"type": "integer", "minimum": 1, "maximum": 5, "x-widget": "rating"},
        "done": {"type": "boolean"},
        "urgent": {"type": "boolean"},
        "count": {"type": "integer", "minimum": 0},
        "amount": {"type": "number"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "code": {"type": "string", "maxLength": 20},
        "name": {"type": "string", "x-widget": "text"},
        "note": {"type": "string"},
        "people": {"type": "array", "items": {"type": "string"}},
        "lead": {"type": "string", "x-widget": "department"},
        "depts": {"type": "array", "items": {"type": "string"}, "x-widget": "department"},
        "files": {"type": "array", "items": {"type": "string"}, "x-widget": "attachments"},
    },
}
DEPTS = [("dept-cgzf", "城管"), ("dept-hw", "环卫")]


def test_every_widget_kind() -> None:
    fields = {f.name: f for f in fields_of(SCHEMA, {"department": DEPTS})}
    assert {n: f.kind for n, f in fields.items()} == {
        "decision": "choice", "grade": "select", "tags": "multi", "score": "rating", "done": "boolean",
        "urgent": "checkbox", "count": "integer", "amount": "number", "day": "date", "at": "datetime",
        "code": "text", "name": "text", "note": "textarea", "people": "lines", "lead": "select",
        "depts": "multi", "files": "attachments",
    }
    assert fields["decision"].options == [("approve", "同意"), ("return", "退回")]
    assert fields["score"].options == [(str(n), str(n)) for n in range(1, 6)]
    assert fields["lead"].options == DEPTS and fields["depts"].options == DEPTS
    assert fields["decision"].required and not fields["note"].required


def test_posted_inputs_become_typed_data() -> None:
    form = MultiDict([
        ("decision", "approve"), ("grade", "3"), ("tags", "a"), ("tags", "b"), ("score", "4"), ("done", "false"),
        ("urgent", "true"), ("count", "12"), ("amount", "2.5"), ("day", "2026-05-01"), ("note", "  "),
        ("people", "张三\n\n李四 \n"), ("lead", "dept-hw"), ("depts", "dept-cgzf"), ("files", "ignored"),
    ])
    assert parse(SCHEMA, form) == {
        "decision": "approve", "grade": 3, "tags": ["a", "b"], "score": 4, "done": False, "urgent": True,
        "count": 12, "amount": 2.5, "day": "2026-05-01", "people": ["张三", "李四"], "lead": "dept-hw",
        "depts": ["dept-cgzf"],
    }
    assert parse(SCHEMA, MultiDict()) == {"urgent": False}  # empty inputs are missing, so required ones are named


def test_unconvertible_input_is_left_for_the_schema_to_name() -> None:
    data = parse(SCHEMA, MultiDict([("count", "twelve"), ("done", "maybe")]))
    assert data == {"count": "twelve", "done": "maybe", "urgent": False}
    found = Draft202012Validator(SCHEMA).iter_errors(data)
    errors = {".".join(map(str, e.path)) or e.validator: e.message for e in found}
    assert short_message(errors["count"]) == "请填写数字"
    assert short_message(errors["required"]) == "必填"


def test_every_process_form_renders() -> None:
    for path in sorted((ROOT / "processes" / "forms").glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        fields = fields_of(schema)
        assert [f.name for f in fields] == list(schema["properties"]), path.name
        assert all(f.label for f in fields)
