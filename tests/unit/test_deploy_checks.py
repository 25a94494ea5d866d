"""Deploy refuses what would fail later: every piece of process Python in a bundle is parsed and
checked with the sandbox's rules, each problem naming file, element id and line, all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine import BundleError, BundleProblems, check_bundle, read_bundle_dir
from app.services.locality import load_locality
from app.settings import ROOT
from handlers import HANDLERS

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane" name="operator">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>prepare</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>work</bpmn:flowNodeRef><bpmn:flowNodeRef>late</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gate</bpmn:flowNodeRef><bpmn:flowNodeRef>note</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>decide</bpmn:flowNodeRef><bpmn:flowNodeRef>each</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef><bpmn:flowNodeRef>late_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>
    <bpmn:scriptTask id="prepare"><bpmn:script>items = [1, 2]
level = 'a'</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="work"/>
    <bpmn:userTask id="work">
      <bpmn:extensionElements>
        <spiffworkflow:preScript>comment = None</spiffworkflow:preScript>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="work.schema.json"/>
          <spiffworkflow:property name="unit" value="unit_code"/>
          <spiffworkflow:property name="role" value="'operator'"/>
          <spiffworkflow:property name="stage" value="handling"/>
          <spiffworkflow:property name="dueHours" value="4"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="late" attachedToRef="work" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDuration>'PT4H'</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="late_end"/>
    <bpmn:endEvent id="late_end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="gate"/>
    <bpmn:exclusiveGateway id="gate" default="no"/>
    <bpmn:sequenceFlow id="yes" sourceRef="gate" targetRef="note">
      <bpmn:conditionExpression>decision == 'approve'</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="no" sourceRef="gate" targetRef="end"/>
    <bpmn:serviceTask id="note">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="note_it" resultVariable="noted">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="text" type="any" value="comment"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f5" sourceRef="note" targetRef="decide"/>
    <bpmn:businessRuleTask id="decide">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>levels</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f6" sourceRef="decide" targetRef="each"/>
    <bpmn:scriptTask id="each">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>
        <bpmn:inputDataItem id="item" name="item"/>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>seen = item</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f7" sourceRef="each" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs" name="Levels" namespace="t">
  <decision id="levels" name="Levels">
    <decisionTable id="table" hitPolicy="UNIQUE">
      <input id="input_level" label="Level">
        <inputExpression id="input_level_expression" typeRef="string"><text>level</text></inputExpression>
      </input>
      <output id="output_next" label="Next" name="next_level" typeRef="string"/>
      <rule id="rule_a">
        <inputEntry id="rule_a_level"><text>"a"</text></inputEntry>
        <outputEntry id="rule_a_next"><text>"b"</text></outputEntry>
      </rule>
      <rule id="rule_other">
        <inputEntry id="rule_other_level"><text>-</text></inputEntry>
        <outputEntry id="rule_other_next"><text>None</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""

FORM = json.dumps({"type": "object"})


def _files(bpmn: str = BPMN, dmn: str = DMN) -> dict[str, str]:
    return {"p.bpmn": bpmn, "levels.dmn": dmn, "forms/work.schema.json": FORM}


def _check(files: dict[str, str]) -> object:
    return check_bundle(files, {"note_it"}, {"operator"}, {"handling"})


def _problems(files: dict[str, str]) -> list[str]:
    with pytest.raises(BundleProblems) as refused:
        _check(files)
    return refused.value.problems


def _line(text: str, element_id: str) -> int:
    """The line of the element with this id: where an admin goes to fix it."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if f'id="{element_id}"' in line)


def _at(file: str, text: str, element_id: str, what: str) -> str:
    return f"{file}: {element_id} (line {_line(text, element_id)}): {what}: "


def _only(problems: list[str], start: str) -> str:
    found = [problem for problem in problems if problem.startswith(start)]
    assert found, f"no problem starting {start!r} in {problems}"
    return found[0]


def test_the_sample_and_the_stock_bundle_pass() -> None:
    _check(_files())
    locality = load_locality()
    check_bundle(read_bundle_dir(ROOT / "processes"), set(HANDLERS), set(locality.roles), set(locality.stages))


def test_a_script_that_cannot_run_is_refused_wherever_it_is() -> None:
    bpmn = (BPMN.replace("level = 'a'</bpmn:script>", "level = ('a'</bpmn:script>")
            .replace("<spiffworkflow:preScript>comment = None", "<spiffworkflow:preScript>comment = = None"))
    problems = _problems(_files(bpmn))
    script, prescript = _at("p.bpmn", bpmn, "prepare", "script"), _at("p.bpmn", bpmn, "work", "pre-script")
    assert _only(problems, script).endswith("syntax error on line 2: '(' was never closed")
    assert _only(problems, prescript).endswith("syntax error on line 1: invalid syntax")


def test_an_import_is_refused_in_any_script() -> None:
    bpmn = BPMN.replace("<spiffworkflow:preScript>comment = None", "<spiffworkflow:preScript>import os\ncomment = os")
    [problem] = _problems(_files(bpmn))
    assert problem == _at("p.bpmn", bpmn, "work", "pre-script") + "import is not allowed in process scripts (line 1)"


def test_a_condition_that_cannot_be_evaluated_is_refused() -> None:
    bpmn = BPMN.replace("decision == 'approve'", "decision == 'approve' and")
    [problem] = _problems(_files(bpmn))
    assert problem.startswith(_at("p.bpmn", bpmn, "yes", "condition") + "\"decision == 'approve' and\" is not a Python")


@pytest.mark.parametrize("escape", ["().__class__.__base__.__subclasses__()", "__import__('os').system('id')",
                                    "[c for c in ().__class__.__mro__]"])
def test_a_dunder_escape_is_refused_in_a_condition_and_a_service_parameter(escape: str) -> None:
    bpmn = (BPMN.replace("decision == 'approve'", escape)
            .replace('<spiffworkflow:parameter id="text" type="any" value="comment"/>',
                     f'<spiffworkflow:parameter id="text" type="any" value="{escape}"/>'))
    problems = _problems(_files(bpmn))
    assert "is not allowed in process scripts" in _only(problems, _at("p.bpmn", bpmn, "yes", "condition"))
    assert "is not allowed in process scripts" in _only(problems, _at("p.bpmn", bpmn, "note", "parameter 'text'"))
    assert len(problems) == 2


@pytest.mark.parametrize(("cell", "message"), [
    ('"a" +', "'\"a\" +' is not a Python expression"),
    ("().__class__", "access to '__class__' is not allowed"),
    ('in ("a", "b")', "the DMN engine joins it to the input without a space; write '? in (\"a\", \"b\")'"),
    ('not in ("a",)', "joins it to the input without a space"),
])
def test_a_dmn_input_cell_is_checked_as_the_dmn_engine_runs_it(cell: str, message: str) -> None:
    dmn = DMN.replace('<text>"a"</text>', f"<text>{cell}</text>")
    [problem] = _problems(_files(dmn=dmn))
    assert problem.startswith(f"levels.dmn: rule_a_level (line {_line(dmn, 'rule_a_level')}): input entry {cell!r}")
    assert message in problem


def test_dmn_output_cells_and_input_expressions_are_checked() -> None:
    dmn = (DMN.replace("<text>None</text>", "<text>level.__class__</text>")
           .replace("<text>level</text>", "<text>level[</text>"))
    problems = _problems(_files(dmn=dmn))
    assert "access to '__class__'" in _only(problems, _at("levels.dmn", dmn, "rule_other_next", "output entry"))
    expression = _only(problems, _at("levels.dmn", dmn, "input_level", "input expression"))
    assert "'level[' is not a Python expression" in expression


def test_dmn_cells_that_work_pass() -> None:
    for cell in ('"a"', '? in ("a", "b")', '> "a"', "-", ' in ("a",)'):
        _check(_files(dmn=DMN.replace('<text>"a"</text>', f"<text>{cell}</text>")))


@pytest.mark.parametrize(("name", "value", "message"), [
    ("unit", "units['x'", "\"units['x'\" is not a Python expression"),
    ("unit", "", "is empty"),
    ("role", "supervision.__dict__", "access to '__dict__' is not allowed"),
    ("dueHours", "hours +", "'hours +' is not a Python expression"),
    ("dueHours", "'four'", "'four' is not a positive number of hours"),
    ("dueHours", "-4", "-4 is not a positive number of hours"),
])
def test_unit_role_and_due_hours_expressions_are_checked(name: str, value: str, message: str) -> None:
    bpmn = BPMN.replace(f'name="{name}" value="', f'name="{name}" value="{value}" old="')
    [problem] = _problems(_files(bpmn))
    assert problem.startswith(_at("p.bpmn", bpmn, "work", f"property '{name}'"))
    assert message in problem


@pytest.mark.parametrize(("timer", "message"), [
    ("<bpmn:timeDuration>'P99999999Y'</bpmn:timeDuration>", "timer duration 'P99999999Y' is longer than 100 years"),
    ("<bpmn:timeDate>'P99999999Y'</bpmn:timeDate>", "timer duration 'P99999999Y' is longer than 100 years"),
    ("<bpmn:timeDate>'3999-01-01T00:00:00+00:00'</bpmn:timeDate>", "is more than 100 years from now"),
    ("<bpmn:timeDuration>'PT4X'</bpmn:timeDuration>", "is not an ISO 8601 duration"),
    ("<bpmn:timeDuration>deadline[</bpmn:timeDuration>", "'deadline[' is not a Python expression"),
    ("<bpmn:timeDuration></bpmn:timeDuration>", "is empty"),
    ("<bpmn:timeCycle>'R3/PT1H'</bpmn:timeCycle>", "timer cycles are not supported"),
])
def test_a_timer_the_timer_rules_refuse_is_refused_with_every_other_problem(timer: str, message: str) -> None:
    bpmn = BPMN.replace("<bpmn:timeDuration>'PT4H'</bpmn:timeDuration>", timer)
    files = _files(bpmn) | {"forms/broken.schema.json": '{"type": 5}'}  # reported together, not one by one
    problems = _problems(files)
    assert message in _only(problems, _at("p.bpmn", bpmn, "late", "timer expression"))
    assert _only(problems, "forms/broken.schema.json: not a valid JSON Schema")


def test_loop_collections_and_items_must_be_plain_variable_names() -> None:
    bpmn = (BPMN.replace("<bpmn:loopDataInputRef>items<", "<bpmn:loopDataInputRef>items[0]<")
            .replace('<bpmn:inputDataItem id="item" name="item"/>', '<bpmn:inputDataItem id="__item" name="item"/>'))
    problems = _problems(_files(bpmn))
    assert _only(problems, _at("p.bpmn", bpmn, "each", "loop input collection")).endswith("is not a variable name")
    assert _only(problems, _at("p.bpmn", bpmn, "each", "loop item '__item'")).endswith("is not a variable name")


@pytest.mark.parametrize("other", ["other/work.schema.json", "forms/Work.schema.json", "WORK.schema.json"])
def test_two_forms_of_one_name_are_refused(other: str) -> None:
    problems = _problems(_files() | {other: FORM})
    [first, second] = sorted(["forms/work.schema.json", other])
    assert problems == [f"{first} and {second}: two forms named '{Path(second).name}' (a user task names its form by "
                        "file name; names must differ in more than letter case)"]


def test_every_problem_is_reported_at_once_one_a_line() -> None:
    bpmn = (BPMN.replace("level = 'a'", "import os").replace("decision == 'approve'", "().__class__")
            .replace("'PT4H'", "'P99999999Y'").replace('name="operator"', 'name="wizard"'))
    dmn = DMN.replace("<text>None</text>", "<text>None.__class__</text>")
    with pytest.raises(BundleError) as refused:
        _check(_files(bpmn, dmn) | {"other/work.schema.json": FORM})
    lines = str(refused.value).splitlines()
    assert lines[0] == "6 problems:"
    assert [line.split(": ")[0:2] for line in lines[1:]] == [
        ["forms/work.schema.json and other/work.schema.json", "two forms named 'work.schema.json' (a user task names "
         "its form by file name; names must differ in more than letter case)"],
        ["levels.dmn", f"rule_other_next (line {_line(dmn, 'rule_other_next')})"],
        ["p.bpmn", f"prepare (line {_line(bpmn, 'prepare')})"],
        ["p.bpmn", f"late (line {_line(bpmn, 'late')})"],
        ["p.bpmn", f"yes (line {_line(bpmn, 'yes')})"],
        ["p.bpmn", f"work (line {_line(bpmn, 'work')})"],  # the lane: found once the bundle parses
    ]
    assert "lane 'wizard' is not a role" in lines[-1]


def test_xsd_errors_of_every_file_come_with_the_other_problems() -> None:
    bpmn = BPMN.replace('<bpmn:exclusiveGateway id="gate" default="no"/>',
                        '<bpmn:exclusiveGateway id="gate" default="no" colour="red"/>')
    dmn = DMN.replace('hitPolicy="UNIQUE"', 'hitPolicy="SOMETIMES"').replace("<text>None</text>", "<text>None +</text>")
    problems = _problems(_files(bpmn, dmn))
    assert "not valid BPMN" in _only(problems, f"p.bpmn: gate (line {_line(bpmn, 'gate')})")
    assert "not valid DMN" in _only(problems, f"levels.dmn: table (line {_line(dmn, 'table')})")
    assert _only(problems, f"levels.dmn: rule_other_next (line {_line(dmn, 'rule_other_next')}): output entry")
