"""Structural deltas between two stored engine states (their serializer JSON as dicts).

A step changes a few tasks of a state that holds hundreds: the history keeps each step's state as
the delta against the step before (and a whole state now and then, app/services/snapshots.py).
A delta of two JSON objects is ``{"set": {key: value}, "del": [key], "sub": {key: delta}}``: keys
whose value is new or replaced, keys gone, and keys whose object value changed in part. Arrays and
scalars are replaced whole.

Applying a delta must give back the very text that was hashed when the step was saved, key order
included (the state hash is over the JSON text). So a delta is only made for an object whose
common keys kept their order and whose new keys come after them (how the engine's dicts grow);
otherwise the object is replaced whole, which :func:`apply` restores exactly too.
"""

from __future__ import annotations

import json
from typing import Any

Delta = dict[str, Any]


def delta_between(old: dict[str, Any], new: dict[str, Any], new_text: str) -> Delta | None:
    """The delta that rebuilds ``new_text`` (``new`` as JSON) from ``old``, or None where none
    does exactly (keys reordered, a number that changed only its type): store the whole state."""
    if not _keeps_order(old, new):
        return None
    delta = diff(old, new)
    return delta if dumps(apply(old, delta)) == new_text else None


def diff(old: dict[str, Any], new: dict[str, Any]) -> Delta:
    """What turns ``old`` into ``new`` (both JSON objects whose common keys are in the same order)."""
    delta: Delta = {}
    changed: dict[str, Any] = {}
    nested: dict[str, Delta] = {}
    for key, value in new.items():
        if key not in old:
            changed[key] = value
            continue
        before = old[key]
        if before == value and type(before) is type(value):
            continue
        if isinstance(value, dict) and isinstance(before, dict) and _keeps_order(before, value):
            nested[key] = diff(before, value)
        else:
            changed[key] = value
    gone = [key for key in old if key not in new]
    if changed:
        delta["set"] = changed
    if gone:
        delta["del"] = gone
    if nested:
        delta["sub"] = nested
    return delta


def _keeps_order(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether patching ``old`` in place (deletions, updates, new keys appended) yields ``new``'s
    key order."""
    kept = [key for key in old if key in new]
    order = list(new)
    return order[: len(kept)] == kept


def apply(old: dict[str, Any], delta: Delta) -> dict[str, Any]:
    """``old`` with ``delta`` applied (a new dict; ``old`` is not changed)."""
    gone = set(delta.get("del", ()))
    result = {key: value for key, value in old.items() if key not in gone}
    for key, sub in delta.get("sub", {}).items():
        result[key] = apply(result[key], sub)
    result.update(delta.get("set", {}))
    return result


def dumps(value: Any) -> str:
    """A state's JSON text as the serializer writes it (app/engine/serializer.py)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
