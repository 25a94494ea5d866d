"""JSON Schema validation with errors that name the fields (HTTP 422)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from jsonschema import Draft202012Validator

from app.services.errors import Invalid

# Row ids are 32-bit on PostgreSQL: a larger id in a URL simply names nothing.
MAX_ID = 2**31 - 1
# Control characters other than tab and newlines have no place in user text (PostgreSQL refuses NUL).
_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def validate(
    validator: Draft202012Validator, payload: Any, choices: dict[str, set[str]] | None = None
) -> dict[str, Any]:
    """Validate against the schema; ``choices``: fields whose value must be one of a set known only
    at run time (the locality model's whistle levels, the catalogue's matters)."""
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object", {"": "expected a JSON object"})
    fields: dict[str, str] = dict(_control_characters(payload))
    for name, allowed in (choices or {}).items():
        value = payload.get(name)
        if isinstance(value, str) and value and value not in allowed:
            fields[name] = f"'{value[:64]}' is not one of {', '.join(sorted(allowed))}"
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


def _control_characters(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path or "(body)", "contains control characters")] if _CONTROL & set(value) else []
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _control_characters(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in _control_characters(v, f"{path}.{i}" if path else str(i))]
    return []


def has_visible_text(text: str) -> bool:
    """Whether ``text`` shows anything: not only spaces, line breaks and invisible format characters
    (zero-width space U+200B, joiners, BOM, direction marks...)."""
    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc", "Zs", "Zl", "Zp", "Mn")
               for ch in text)
