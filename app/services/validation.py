"""JSON Schema validation with errors that name the fields (HTTP 422)."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from app.services.errors import Invalid


def validate(validator: Draft202012Validator, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object", {"": "expected a JSON object"})
    fields: dict[str, str] = {}
    for error in sorted(validator.iter_errors(payload), key=lambda e: list(e.path)):
        for name in _field_names(error):
            fields.setdefault(name, error.message)
    if fields:
        raise Invalid("invalid data: " + ", ".join(sorted(fields)), fields)
    return payload


def _field_names(error: Any) -> list[str]:
    path = ".".join(str(p) for p in error.path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return [f"{path}.{missing}" if path else missing]
    if error.validator == "additionalProperties" and not path and isinstance(error.instance, dict):
        # one error lists every unexpected field: name each of them
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        extras = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return extras or ["(unknown)"]
    return [path or "(body)"]
