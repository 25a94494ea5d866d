"""Task forms from their JSON Schema: the fields to draw, and the posted form turned back into data.

Validation stays where it is for the API (the task's JSON Schema, checked by the service); this
module only turns HTML inputs into typed values and the service's field errors into short messages.

Widgets (``processes/forms/*.schema.json``):
- ``oneOf`` of ``const`` choices → radio buttons (a drop-down past 5 choices);
  an array whose items have choices → check boxes (multi choice)
- ``"x-widget": "rating"`` → 1–5 radio scale · integer/number → number input
- boolean → 是/否 radios when required, a check box otherwise
- string: ``"format": "date"`` / ``"date-time"`` → date pickers; ``"x-widget": "text"`` or a
  ``maxLength`` up to 200 → one line; any other string → long text
- array of strings → long text, one item per line
- ``"x-widget"`` naming the responding unit (``record_keys.RESPONDING_UNIT``; string or array) →
  picker of the units a whistle may summon; ``"x-widget": "matter"`` →
  responsibility-catalogue matter picker; ``"x-widget": "whistle_level"`` → the locality model's
  whistle levels; ``"x-widget": "summoned"`` → the departments the task's context proposes
  (to remove one); ``"x-widget": "attachments"`` → file upload; ``"x-widget": "division"`` (array of
  {department, task, due}) → one row per summoned department: its task (分工) and due date
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from app.services.record_keys import RESPONDING_UNIT
from app.web.labels import is_english

ONE_LINE_MAX = 200
RADIO_MAX = 5


@dataclass
class Field:
    name: str
    label: str
    help: str
    # choice|select|multi|rating|boolean|checkbox|integer|number|date|datetime|text|textarea|lines|attachments|division
    kind: str
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    codes_readable: bool = False  # the choice values are English words, worth showing to English readers
    widget: str | None = None  # the schema's "x-widget", if any


def fields_of(schema: dict[str, Any], options: dict[str, list[tuple[str, str]]] | None = None) -> list[Field]:
    """The fields of a form, in the schema's order; ``options`` fills department and matter pickers."""
    required = set(schema.get("required", []))
    return [_field(name, prop, name in required, options or {}) for name, prop in schema.get("properties", {}).items()]


def _field(name: str, prop: dict[str, Any], required: bool, options: dict[str, list[tuple[str, str]]]) -> Field:
    f = Field(name=name, label=prop.get("title", name), help=prop.get("description", ""), kind="text",
              required=required, minimum=prop.get("minimum"), maximum=prop.get("maximum"),
              max_length=prop.get("maxLength"), widget=prop.get("x-widget"))
    widget = f.widget
    kind = prop.get("type")
    items = prop.get("items", {}) if kind == "array" else {}
    if widget == "attachments":
        f.kind = "attachments"
    elif widget == "division":
        f.options, f.kind = options.get("summoned", []), "division"
    elif widget in (RESPONDING_UNIT, "matter", "whistle_level", "summoned"):
        f.options = options.get(widget, [])
        f.kind = "multi" if kind == "array" else "select"
    elif choices := _choices(prop):
        f.options, f.codes_readable = choices, not _has_english(prop)
        f.kind = "choice" if len(choices) <= RADIO_MAX else "select"
    elif kind == "array" and (choices := _choices(items)):
        f.options, f.kind, f.codes_readable = choices, "multi", not _has_english(items)
    elif kind == "array":
        f.kind = "lines"
    elif widget == "rating":
        f.kind = "rating"
        f.options = [(str(n), str(n)) for n in range(int(prop.get("minimum", 1)), int(prop.get("maximum", 5)) + 1)]
    elif kind == "boolean":
        f.kind = "boolean" if required else "checkbox"
    elif kind in ("integer", "number"):
        f.kind = kind
    elif prop.get("format") in ("date", "date-time"):
        f.kind = "date" if prop["format"] == "date" else "datetime"
    elif widget == "text" or (f.max_length is not None and f.max_length <= ONE_LINE_MAX):
        f.kind = "text"
    else:
        f.kind = "textarea"
    return f


def _choices(prop: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, text) of a field's choices; the text in English is the choice's ``description``."""
    if "oneOf" in prop and all(isinstance(o, dict) and "const" in o for o in prop["oneOf"]):
        english = is_english()
        return [(str(o["const"]), str((english and o.get("description")) or o.get("title", o["const"])))
                for o in prop["oneOf"]]
    if "enum" in prop:
        return [(str(v), str(v)) for v in prop["enum"]]
    return []


def _has_english(prop: dict[str, Any]) -> bool:
    """Every choice has its English text: the values need not be shown to English readers."""
    options = prop.get("oneOf", [])
    return bool(options) and all(isinstance(o, dict) and o.get("description") for o in options)


def parse(schema: dict[str, Any], form: MultiDict[str, str]) -> dict[str, Any]:
    """The posted inputs as the typed data the schema describes. Empty inputs are left out (so a
    required one is reported missing); what cannot be converted is passed on as typed, for the
    schema check to name it."""
    data: dict[str, Any] = {}
    for f in fields_of(schema):
        prop = schema["properties"][f.name]
        if f.kind == "attachments":
            continue  # the page stores the uploaded files and fills these in
        if f.kind == "checkbox":
            data[f.name] = form.get(f.name) in ("true", "on", "1")
            continue
        if f.kind == "division":
            if rows := division_rows(f.name, form):
                data[f.name] = rows
            continue
        if f.kind in ("multi", "lines"):
            raw = form.getlist(f.name) if f.kind == "multi" else (form.get(f.name) or "").splitlines()
            values = [v.strip() for v in raw if v.strip()]
            if values:
                data[f.name] = [_typed(prop.get("items", {}), v) for v in values]
            continue
        value = (form.get(f.name) or "").strip()
        if value:
            data[f.name] = _typed(prop, value)
    return data


def division_input(name: str, part: str, department: str) -> str:
    """The input of one department's row of a division field: ``division-task-dept-hw``."""
    return f"{name}-{part}-{department}"


def division_rows(name: str, form: MultiDict[str, str]) -> list[dict[str, str]]:
    """The rows filled in (a task or a due date), in the page's order; a row with a date and no task
    is kept, for the schema check to say the task is missing."""
    prefix = division_input(name, "task", "")
    rows = []
    for key in form:
        if not key.startswith(prefix):
            continue
        department = key[len(prefix):]
        task = (form.get(key) or "").strip()
        due = (form.get(division_input(name, "due", department)) or "").strip()
        if task or due:
            row = {RESPONDING_UNIT: department} | ({"task": task} if task else {})
            rows.append(row | ({"due": due} if due else {}))
    return rows


def _typed(prop: dict[str, Any], value: str) -> Any:
    consts = [o["const"] for o in prop.get("oneOf", []) if isinstance(o, dict) and "const" in o]
    for const in consts:
        if str(const) == value:
            return const
    kind = prop.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def N_(text: str) -> str:
    """Marks a message id for extraction; translated where it is shown."""
    return text


# jsonschema's messages, said shortly for a person next to the field
_MESSAGES: list[tuple[str, str]] = [
    (r"is a required property|required", N_("必填")),
    (r"should be non-empty|is too short", N_("不能为空")),
    (r"is not valid under any of the given schemas|is not one of", N_("请从选项中选择")),
    (r"is less than the minimum|is greater than the maximum", N_("超出允许范围")),
    (r"is too long", N_("内容过长")),
    (r"is not of type 'integer'|is not of type 'number'", N_("请填写数字")),
    (r"is not of type", N_("格式不正确")),
    (r"does not match", N_("格式不正确")),
    (r"contains control characters", N_("含有不允许的控制字符")),
    (r"is before today", N_("日期不能早于今天")),
    (r"is not a summoned department|has two rows", N_("请填写被召集的部门，每个部门一行")),
]


def short_message(message: str) -> str:
    """A Chinese msgid for a validation message we know, else the message as the service gave it."""
    for pattern, text in _MESSAGES:
        if re.search(pattern, message):
            return text
    return message
