"""What a stored engine state means for the record: its normalized projection and its hash.

SpiffWorkflow's serialized state holds random task UUIDs and ``last_state_change`` wall-clock
stamps, so two runs that did exactly the same thing never serialize to the same bytes. A replay
therefore compares a *projection* that keeps everything that decides behaviour and drops only
those two incidental things:

* every task in tree order (depth first, children in order, a subprocess's tree right after the
  task that started it), as ``[depth, element, state, data]``: the task spec's name, its state
  and its whole data (form values, handler results, gateway inputs);
* the workflow's own data.

Task ids, ``last_state_change`` and ``internal_data`` (engine bookkeeping, e.g. timer anchors
computed from wall time) are left out. A different path, a different form value, a different
handler result or a task in another state changes the projection.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def projection(state: str) -> list[Any]:
    dct = json.loads(state)
    subprocesses: dict[str, Any] = dct.get("subprocesses", {})
    nodes: list[Any] = []
    _walk(dct, subprocesses, nodes)
    return [nodes, dct.get("data", {})]


def projection_hash(state: str) -> str:
    body = json.dumps(projection(state), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _walk(workflow: dict[str, Any], subprocesses: dict[str, Any], nodes: list[Any]) -> None:
    tasks: dict[str, Any] = workflow["tasks"]
    stack: list[tuple[str, int]] = [(workflow["root"], 0)]
    while stack:
        task_id, depth = stack.pop()
        task = tasks[task_id]
        nodes.append([depth, task["task_spec"], task["state"], task.get("data", {})])
        sub = subprocesses.get(task_id)
        if sub is not None:
            _walk(sub, subprocesses, nodes)
        stack.extend((child, depth + 1) for child in reversed(task.get("children", [])))
