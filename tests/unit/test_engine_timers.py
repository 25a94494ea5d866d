"""The engine's timers see only the time they are given, never the wall clock."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from app.engine import BundleError, Instance, ProcessScriptEngine, check_bundle, parse_bundle
from app.settings import ROOT

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


@pytest.mark.parametrize(("definition", "script", "message"), [
    ("<bpmn:timeDuration>'P99999999Y'</bpmn:timeDuration>", "late = True",
     r"p.bpmn: late \(line 14\): timer expression: timer duration 'P99999999Y' is longer than 100 years"),
    ("<bpmn:timeDate>'2999-01-01T00:00:00+00:00'</bpmn:timeDate>", "late = True",
     "timer date '2999-01-01T00:00:00[+]00:00' is more than 100 years from now"),
    ("<bpmn:timeDuration>'PT4X'</bpmn:timeDuration>", "late = True", "is not an ISO 8601 duration"),
    ("<bpmn:timeDate>deadline</bpmn:timeDate>", "import os",
     r"p.bpmn: mark \(line 18\): script: import is not allowed in process scripts \(line 1\)"),
    ("<bpmn:timeDate>deadline</bpmn:timeDate>", "late = True\nlate = (",
     r"p.bpmn: mark \(line 18\): script: syntax error on line 2"),
    ("<bpmn:timeDate>__import__('os')</bpmn:timeDate>", "late = True", "timer expression: access to '__import__'"),
])
def test_deploy_refuses_absurd_timers_and_scripts_that_cannot_run(definition: str, script: str, message: str) -> None:
    files = _bundle_with_timer(definition)
    files["p.bpmn"] = files["p.bpmn"].replace("<bpmn:script>late = True</bpmn:script>",
                                              f"<bpmn:script>{script}</bpmn:script>")
    with pytest.raises(BundleError, match=message):
        check_bundle(files, set(), {"platform_operator"}, {"handling"})


_ABSURD_DURATION = """
from datetime import datetime
from tests.unit.test_engine_timers import _bundle_with_timer
from app.engine import Instance, ProcessError, ProcessScriptEngine, parse_bundle

bundle = parse_bundle(_bundle_with_timer("<bpmn:timeDuration>wait</bpmn:timeDuration>"))
instance = Instance.start(bundle, "p", {"wait": "P99999999Y"}, ProcessScriptEngine({}))
try:
    instance.advance(None, datetime(2030, 1, 1))
    print("no error")
except ProcessError as error:
    print(error)
"""


def test_an_absurd_duration_from_the_data_fails_the_step_instead_of_spinning() -> None:
    # Before: SpiffWorkflow added 1.2 billion months one by one, for hours (run in a subprocess
    # with a timeout, so the old behaviour fails this test instead of hanging it).
    run = subprocess.run([sys.executable, "-c", _ABSURD_DURATION], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "task 'late': timer duration 'P99999999Y' is longer than 100 years"
