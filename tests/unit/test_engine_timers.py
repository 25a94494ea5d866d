"""The engine's timers see only the time they are given, never the wall clock."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from app.engine import BundleError, Instance, ProcessScriptEngine, check_bundle, parse_bundle

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:userTask id="work">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="f.schema.json"/>
        <spiffworkflow:property name="unit" value="'u'"/>
        <spiffworkflow:property name="stage" value="handling"/>
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="late" name="Late" attachedToRef="work" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDate>deadline</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="late" targetRef="mark"/>
    <bpmn:scriptTask id="mark"><bpmn:script>late = True</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="mark" targetRef="late_end"/>
    <bpmn:endEvent id="late_end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""
BUNDLE = parse_bundle({"p.bpmn": BPMN, "f.schema.json": json.dumps({"type": "object"})})
DUE = datetime(2030, 1, 2, 3, 4, 5)


def _reload(instance: Instance) -> Instance:
    state, version = instance.dump()
    return Instance.load(BUNDLE, "p", state, version, instance.script_engine)


def _started() -> Instance:
    instance = Instance.start(BUNDLE, "p", {"deadline": "2030-01-02T03:04:05+00:00"}, ProcessScriptEngine({}))
    instance.advance(None, datetime(2030, 1, 1))
    return _reload(instance)


def test_waiting_timers_report_their_due_time() -> None:
    instance = _started()
    [timer] = instance.waiting_timers()
    assert (timer.name, timer.title, timer.due_at) == ("late", "Late", DUE)


def test_a_timer_fires_when_the_given_time_passes_its_due_time_and_not_before() -> None:
    instance = _started()
    instance.advance(None, datetime(2030, 1, 2, 3, 4, 4))  # the wall clock (years earlier) is never read
    assert "late" not in instance.data and instance.waiting_timers()
    instance.advance(None, datetime(2030, 1, 2, 3, 4, 6))
    instance = _reload(instance)
    assert instance.waiting_timers() == []
    # non-interrupting: the work is still open
    assert [t.name for t in instance.ready_tasks()] == ["work"]


def test_completing_the_work_in_time_removes_the_timer() -> None:
    instance = _started()
    [task] = instance.ready_tasks()
    instance.complete(task.id, {}, None, datetime(2030, 1, 1, 12))
    assert instance.completed and instance.waiting_timers() == []


def _bundle_with_timer(definition: str) -> dict[str, str]:
    bpmn = BPMN.replace("<bpmn:timeDate>deadline</bpmn:timeDate>", definition)
    lanes = ('<bpmn:laneSet id="ls"><bpmn:lane id="l" name="platform_operator">'
             '<bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>')
    bpmn = bpmn.replace('<bpmn:startEvent id="start"/>', lanes + '<bpmn:startEvent id="start"/>')
    return {"p.bpmn": bpmn, "f.schema.json": json.dumps({"type": "object"})}


def test_deploy_accepts_date_and_duration_timers() -> None:
    for definition in ("<bpmn:timeDate>deadline</bpmn:timeDate>", "<bpmn:timeDuration>'PT4H'</bpmn:timeDuration>"):
        check_bundle(_bundle_with_timer(definition), set(), {"platform_operator"}, {"handling"})


@pytest.mark.parametrize(("definition", "message"), [
    ("<bpmn:timeCycle>'R3/PT1H'</bpmn:timeCycle>", "timer cycles are not supported"),
    ("<bpmn:timeDate>deadline[</bpmn:timeDate>", "is not a Python expression"),
])
def test_deploy_refuses_timers_the_scheduler_cannot_fire(definition: str, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        check_bundle(_bundle_with_timer(definition), set(), {"platform_operator"}, {"handling"})
