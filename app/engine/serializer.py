"""Instance state as JSON without the process specs.

The specs are half of a serialized workflow and are identical for every case on one process
version, so they are not stored with each case: they come from the parsed bundle cache when a
case is loaded. The serializer's format version is stored next to the state, and states written
by older versions run through SpiffWorkflow's own format migrations on load.
"""

from __future__ import annotations

import contextvars
import json
import threading
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION, BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .history import hash_projection, live_projection, projection_of
from .prune import finished_elements, remember_finished

SERIALIZER_VERSION = VERSION

_specs: contextvars.ContextVar[tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]] = (
    contextvars.ContextVar("whistle_specs")
)


class _SpecLessWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        finished = finished_elements(workflow)
        if finished:  # where a pruned case has been (app/engine/prune.py); not part of the projection
            dct["finished_elements"] = {process: sorted(ids) for process, ids in sorted(finished.items())}
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        spec, subprocess_specs = _specs.get()
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        finished = dct.get("finished_elements")
        if finished:
            remember_finished(workflow, {process: set(ids) for process, ids in finished.items()})
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpecLessWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_local = threading.local()


def _serializer() -> BpmnWorkflowSerializer:
    # The registry flips a mode flag while encoding, so each thread gets its own serializer.
    serializer = getattr(_local, "serializer", None)
    if serializer is None:
        serializer = _local.serializer = _make_serializer()
    return serializer


def dump_state(workflow: BpmnWorkflow) -> str:
    return _encoded(workflow, state=True, projected=False)[0]


def dump_state_and_projection(workflow: BpmnWorkflow) -> tuple[str, str]:
    """The stored state and the hash of its projection (app/engine/history.py)."""
    state, projected = _encoded(workflow, state=True, projected=True)
    return state, projected


def state_projection_hash(workflow: BpmnWorkflow) -> str:
    """The projection hash alone (replay): read from the running workflow, nothing serialized."""
    return _encoded(workflow, state=False, projected=True)[1]


def _encoded(workflow: BpmnWorkflow, state: bool, projected: bool) -> tuple[str, str]:
    serializer = _serializer()
    serializer.registry._encoder_mode = True  # the encoder converts dates, UUIDs … as the state stores them
    try:
        if not state:  # replay: read the projection from the running workflow, serialize nothing
            return "", hash_projection(live_projection(workflow), serializer._encoder_cls)
        dct = serializer.to_dict(workflow)
        text = json.dumps(dct, cls=serializer._encoder_cls, ensure_ascii=False, separators=(",", ":"))
        # a step that saves has the dict already: its projection is the same as the live one
        digest = hash_projection(projection_of(dct), serializer._encoder_cls) if projected else ""
        return text, digest
    finally:
        serializer.registry._encoder_mode = False


def load_state(
    state: str,
    serializer_version: str,
    specs: tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]],
) -> BpmnWorkflow:
    serializer = _serializer()
    dct = json.loads(state)
    if serializer_version != SERIALIZER_VERSION:
        _migrate(serializer, dct, serializer_version, specs)
    token = _specs.set(specs)
    try:
        return serializer.from_dict(dct)
    finally:
        _specs.reset(token)


def _migrate(
    serializer: BpmnWorkflowSerializer,
    dct: dict[str, Any],
    version: str,
    specs: tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]],
) -> None:
    """Run SpiffWorkflow's format migrations; they expect the specs, which the stored state omits."""
    if version not in MIGRATIONS:
        raise ValueError(f"unknown engine state format '{version}' (this engine writes {SERIALIZER_VERSION})")
    spec, subprocess_specs = specs
    dct["spec"] = serializer.registry.convert(spec)
    dct["subprocess_specs"] = {name: serializer.registry.convert(sub) for name, sub in subprocess_specs.items()}
    MIGRATIONS[version](dct)


def spec_registry() -> Any:
    """The serializer's registry, which SpiffWorkflow's spec diff compares task specs with."""
    return _serializer().registry
