"""The engine: sandbox set on every start and every load, spec-less state, clear process errors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS

from app.engine import Instance, ProcessError, ProcessScriptEngine, parse_bundle
from app.engine.isolation import IsolatedEnvironment
from app.engine.sandbox import SandboxError

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="platform_operator">
      <bpmn:flowNodeRef>ask</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ask"/>
    <bpmn:userTask id="ask" name="问 Ask">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="unit" value="'dc'"/>
        <spiffworkflow:property name="stage" value="triage"/>
        <spiffworkflow:property name="formJsonSchemaFilename" value="f.schema.json"/>
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="run"/>
    <bpmn:scriptTask id="run"><bpmn:script>SCRIPT</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="run" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""


NOW = datetime(2025, 6, 10, 1, 0)


def _instance(script: str, time_limit: float = 1.0) -> Instance:
    files = {"p.bpmn": BPMN.replace("SCRIPT", script), "f.schema.json": json.dumps({"type": "object"})}
    bundle = parse_bundle(files)
    engine = ProcessScriptEngine({}, time_limit=time_limit)
    instance = Instance.start(bundle, "p", {"n": 1}, engine)
    instance.advance(None, NOW)
    state, version = instance.dump()
    # every step after this one runs on a reloaded instance, as the app does
    return Instance.load(bundle, "p", state, version, engine)


def _complete(instance: Instance) -> None:
    [task] = instance.ready_tasks()
    instance.complete(task.id, {"answer": 2}, None, NOW)


def test_a_reloaded_instance_runs_scripts_in_the_sandbox() -> None:
    instance = _instance("n = n + answer")
    assert isinstance(instance.workflow.script_engine.environment, IsolatedEnvironment)  # sandbox in a child
    _complete(instance)
    assert instance.completed and instance.data["n"] == 3


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import os", "import is not allowed"),
        ("x = open('/etc/passwd').read()", "'open' is not available"),
        ("x = __import__('os')", "__import__"),
        ("x = ().__class__.__base__.__subclasses__()", "__class__"),
    ],
)
def test_escapes_fail_after_a_reload_with_a_clear_error(script: str, message: str) -> None:
    instance = _instance(script)
    with pytest.raises(ProcessError, match="task 'run'") as caught:
        _complete(instance)
    assert isinstance(caught.value.cause, SandboxError)
    assert message in str(caught.value)


def test_a_runaway_script_is_stopped() -> None:
    instance = _instance("while True:\n    n = n + 1", time_limit=0.2)
    with pytest.raises(ProcessError, match="time budget"):
        _complete(instance)


def test_ready_tasks_carry_role_unit_stage_and_form() -> None:
    [task] = _instance("n = 1").ready_tasks()
    assert (task.name, task.title, task.role, task.unit, task.stage, task.form) == (
        "ask", "问 Ask", "platform_operator", "dc", "triage", "f.schema.json"
    )


def test_stored_state_leaves_out_the_specs() -> None:
    state, _ = _instance("n = 1").dump()
    stored = json.loads(state)
    assert "spec" not in stored and "subprocess_specs" not in stored
    assert "tasks" in stored


def test_completing_a_task_that_is_not_open_is_refused() -> None:
    instance = _instance("n = 1")
    with pytest.raises(ProcessError, match="not open"):
        instance.complete("00000000-0000-0000-0000-000000000000", {}, None, NOW)


def _stored(script: str = "n = 1") -> tuple[Any, str, ProcessScriptEngine]:
    files = {"p.bpmn": BPMN.replace("SCRIPT", script), "f.schema.json": json.dumps({"type": "object"})}
    bundle = parse_bundle(files)
    engine = ProcessScriptEngine({})
    instance = Instance.start(bundle, "p", {"n": 1}, engine)
    instance.advance(None, NOW)
    return bundle, instance.dump()[0], engine


def test_an_unknown_state_format_is_refused() -> None:
    bundle, state, engine = _stored()
    with pytest.raises(ValueError, match=r"unknown engine state format '9\.9'"):
        Instance.load(bundle, "p", state, "9.9", engine)


def test_an_older_state_format_is_migrated_with_its_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, state, engine = _stored()
    seen: dict[str, Any] = {}
    monkeypatch.setitem(MIGRATIONS, "1.4", seen.update)  # SpiffWorkflow's migrations read the specs
    instance = Instance.load(bundle, "p", state, "1.4", engine)
    assert seen["spec"]["name"] == "p" and "tasks" in seen
    assert [t.name for t in instance.ready_tasks()] == ["ask"]


MULTI = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="each"/>
    <bpmn:subProcess id="each">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>depts</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>results</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="dept" name="dept"/>
        <bpmn:outputDataItem id="result" name="result"/>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="g1" sourceRef="s" targetRef="work"/>
      <bpmn:userTask id="work">
        <bpmn:extensionElements><spiffworkflow:properties>
          <spiffworkflow:property name="unit" value="dept"/>
          <spiffworkflow:property name="role" value="'dept_staff'"/>
        </spiffworkflow:properties></bpmn:extensionElements>
      </bpmn:userTask>
      <bpmn:sequenceFlow id="g2" sourceRef="work" targetRef="e"/>
      <bpmn:endEvent id="e"><bpmn:terminateEventDefinition id="t"/></bpmn:endEvent>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f2" sourceRef="each" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_each_instance_output_is_kept_when_a_fresh_worker_loads_a_running_multi_instance() -> None:
    """Regression: a worker whose first act is completing an instance of a multi-instance that an
    earlier process started lost that instance's output (SpiffWorkflow wires the merge only when it
    creates instances); every department's output must reach the collection whichever worker runs it."""
    files = {"p.bpmn": MULTI}
    engine = ProcessScriptEngine({})
    instance = Instance.start(parse_bundle(files), "p", {"depts": ["a", "b", "c"]}, engine)
    instance.advance(None, NOW)
    for answer in ("A", "B", "C"):
        state, version = instance.dump()
        fresh = parse_bundle(files)  # a new worker: specs parsed anew, no instance created in it yet
        instance = Instance.load(fresh, "p", state, version, engine)
        task = next(t for t in instance.ready_tasks() if t.unit == answer.lower())
        instance.complete(task.id, {"result": answer}, None, NOW)
    assert instance.completed
    assert sorted(instance.data["results"]) == ["A", "B", "C"]
