"""Structural deltas between two stored engine states, as snapshot rows written before zstd held them.

Such a row (app/services/snapshots.py reads it) is ``{"set": {key: value}, "del": [key], "sub":
{key: delta}}`` against the state before it: keys whose value is new or replaced, keys gone, and
keys whose object value changed in part; arrays and scalars replaced whole. The delta was only made
where applying it gives back the very text that was hashed when the step was saved, key order
included, so applying it and dumping the result as the serializer writes it restores that text.
New rows are compressed against the state before them instead, and need none of this.
"""

from __future__ import annotations

import json
from typing import Any

Delta = dict[str, Any]


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
