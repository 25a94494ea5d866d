"""JSON Schema validation with errors that name the fields (HTTP 422)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from app.services.errors import Invalid


def validate(validator: Draft202012Validator, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object", {"": "expected a JSON object"})
    fields: dict[str, str] = {}
    for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.path)):
        fields.setdefault(_field_name(error), error.message)
    if fields:
        raise Invalid("invalid data: " + ", ".join(sorted(fields)), fields)
    return payload


def _field_name(error: Any) -> str:
    path = ".".join(str(p) for p in error.path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return f"{path}.{missing}" if path else missing
    if error.validator == "additionalProperties" and not path:
        extra = error.message.split("'")[1] if "'" in error.message else "(unknown)"
        return extra
    return path or "(body)"
