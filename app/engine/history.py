"""What a stored engine state means for the record: its normalized projection and its hash.

SpiffWorkflow's serialized state holds random task UUIDs and ``last_state_change`` wall-clock
stamps, so two runs that did exactly the same thing never serialize to the same bytes. A replay
therefore compares a *projection* that keeps everything that decides behaviour and drops only
those two incidental things:

* every task in tree order (depth first, children in order, a subprocess's tree right after the
  task that started it), as ``[depth, element, state, triggered, data, delta]``: the task spec's
  name, its state, and its data (the engine stores a task's data as a delta from its parent's:
  form values, handler results, gateway inputs);
* the workflow's own data.

The deleted keys of a delta are compared as a set. Task ids, ``last_state_change`` and
``internal_data`` (engine bookkeeping, e.g. timer anchors computed from wall time) are left out.
A different path, a different form value, a different handler result or a task in another state
changes the projection.
"""

from __future__ import annotations

import hashlib
import json
from types import ModuleType
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.util.task import TaskState


def projection(state: str) -> list[Any]:
    """The projection of a stored state (serializer JSON)."""
    return projection_of(json.loads(state))


def projection_of(dct: dict[str, Any]) -> list[Any]:
    """The projection of a state in its serializer dict form (before or after JSON)."""
    subprocesses: dict[str, Any] = dct.get("subprocesses", {})
    nodes: list[Any] = []
    _walk(dct, subprocesses, nodes)
    return [nodes, dct.get("data", {})]


def projection_hash(state: str) -> str:
    return hash_projection(projection(state))


def hash_projection(value: list[Any], encoder: type[json.JSONEncoder] | None = None) -> str:
    body = json.dumps(value, cls=encoder, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _delta(delta: dict[str, Any]) -> dict[str, Any]:
    # Which keys a task deleted is a set; their order follows dict insertion order, which is
    # incidental (the recorded start data comes back from JSON with sorted keys).
    return {"updates": delta.get("updates", {}), "deletions": sorted(delta.get("deletions", []))}


def _walk(workflow: dict[str, Any], subprocesses: dict[str, Any], nodes: list[Any]) -> None:
    tasks: dict[str, Any] = workflow["tasks"]
    stack: list[tuple[str, int]] = [(workflow["root"], 0)]
    while stack:
        task_id, depth = stack.pop()
        task = tasks[task_id]
        nodes.append([depth, task["task_spec"], task["state"], task.get("triggered"), task.get("data", {}),
                      _delta(task.get("delta") or {})])
        sub = subprocesses.get(task_id)
        if sub is not None:
            _walk(sub, subprocesses, nodes)
        stack.extend((child, depth + 1) for child in reversed(task.get("children", [])))


def live_projection(workflow: Any) -> list[Any]:
    """The same projection, read from a running workflow without serializing it (what each step
    saves and each replayed step checks; a test in tests/integration/test_audit.py holds both forms
    equal)."""
    nodes: list[Any] = []
    subprocesses = workflow.subprocesses
    _walk_live(workflow.task_tree, subprocesses, nodes)
    return [nodes, _clean(workflow.data)]


def _walk_live(root: Any, subprocesses: dict[Any, Any], nodes: list[Any]) -> None:
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        task, depth = stack.pop()
        parent = task.parent
        if parent is None:  # as the serializer stores it: full data at the root, deltas below
            data, delta = task.data, {"updates": {}, "deletions": []}
        else:
            data, delta = {}, {
                "updates": {k: v for k, v in task.data.items() if k not in parent.data or v != parent.data[k]},
                "deletions": sorted(k for k in parent.data if k not in task.data),
            }
        nodes.append([depth, task.task_spec.name, task.state, task.triggered, data, delta])
        sub = subprocesses.get(task.id)
        if sub is not None:
            _walk_live(sub.task_tree, subprocesses, nodes)
        stack.extend((child, depth + 1) for child in reversed(task.children))


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    # what the serializer keeps of the workflow data (it drops callables and modules)
    return {k: v for k, v in data.items() if not callable(v) and not isinstance(v, ModuleType)}


def completed_elements(state: str, spec: BpmnProcessSpec,
                       subprocess_specs: dict[str, BpmnProcessSpec]) -> dict[str, set[str]]:
    """Completed element ids per diagram process of a stored state (current serializer format),
    read from its JSON without rebuilding the workflow (several times cheaper on a large state):
    what ``Instance.element_states()`` reports as completed (tests/web/test_history_long_case.py
    holds the two equal). The history reads old steps' snapshots this way (app/services/audit.py)."""
    dct = json.loads(state)
    subs: dict[str, Any] = dct.get("subprocesses", {})
    holder = {task_id: key for key, sub in subs.items() for task_id in sub["tasks"]}
    owners: dict[str | None, str] = {None: spec.name}
    found: dict[str, set[str]] = {}
    for key, workflow in [(None, dct), *subs.items()]:
        workflow_spec = spec if key is None else subprocess_specs[workflow["spec"]]
        ids = found.setdefault(_owner(key, subs, holder, owners, dct, spec, subprocess_specs), set())
        for task in workflow["tasks"].values():
            element = getattr(workflow_spec.task_specs.get(task["task_spec"]), "bpmn_id", None)
            if element is not None and task["state"] == TaskState.COMPLETED:
                ids.add(element)
    for process, elements in dct.get("finished_elements", {}).items():
        found.setdefault(process, set()).update(elements)
    return found


def _owner(key: str | None, subs: dict[str, Any], holder: dict[str, str], owners: dict[str | None, str],
           top: dict[str, Any], spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
    """The process whose diagram draws a (sub)workflow's elements: a called process draws its
    own, an embedded subprocess is drawn in its parent's diagram (as ``Instance`` decides it)."""
    if key not in owners:
        assert key is not None
        parent_id = subs[key]["parent_task_id"]
        parent_key = holder.get(parent_id)  # None: the parent task is in the top workflow
        parent_workflow, parent_spec = ((top, spec) if parent_key is None else
                                        (subs[parent_key], subprocess_specs[subs[parent_key]["spec"]]))
        parent = parent_spec.task_specs[parent_workflow["tasks"][parent_id]["task_spec"]]
        owners[key] = (subs[key]["spec"] if isinstance(parent, CallActivity)
                       else _owner(parent_key, subs, holder, owners, top, spec, subprocess_specs))
    return owners[key]
