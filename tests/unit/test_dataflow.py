"""The data analysis behind the migration's refusal (app/engine/dataflow.py): what a script reads
before it sets it, and a read on a way that sets nothing of that name."""

from __future__ import annotations

from app.engine.dataflow import Position, _names, data_graph, missing_data

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="set_a" name="设 a"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="f_no"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_yes</bpmn:outgoing><bpmn:outgoing>f_no</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="set_b">
      <bpmn:conditionExpression>a == 1</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="merge"/>
    <bpmn:scriptTask id="set_b"><bpmn:incoming>f_yes</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>b = [x for x in range(a)]</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="merge"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f_no</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="use_b" name="用 b"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:script>c = len(b) + a</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="set_a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="set_a" targetRef="gw"/>
    <bpmn:sequenceFlow id="f3" sourceRef="set_b" targetRef="merge"/>
    <bpmn:sequenceFlow id="f4" sourceRef="merge" targetRef="use_b"/>
    <bpmn:sequenceFlow id="f5" sourceRef="use_b" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_script_reads_what_it_uses_before_setting_it_not_its_comprehension_names() -> None:
    assert _names("x = x + 1\ny = x") == ({"x"}, {"x", "y"})
    assert _names("codes = [d['code'] for d in departments if len(d)]") == ({"departments", "len"}, {"codes"})
    assert _names("limits['review'] or hours", "eval") == ({"limits", "hours"}, set())


def test_a_read_is_missing_when_one_way_to_it_sets_nothing_of_that_name() -> None:
    graph = data_graph({"p.bpmn": PROCESS}, {})
    [missing] = missing_data(graph, [Position("p", "set_a", frozenset())])
    assert missing.variable == "b" and missing.readers == ("用 b (use_b)",) and missing.setters == ("set_b",)
    assert "lacks 'b'" in str(missing) and "set_b" in str(missing)
    assert missing_data(graph, [Position("p", "set_a", frozenset({"b"}))]) == []  # the token has it
    assert missing_data(graph, [Position("p", "set_b", frozenset({"a"}))]) == []  # on the way that sets b
    [late] = missing_data(graph, [Position("p", "use_b", frozenset({"b"}))])  # no "a"; "len" is a builtin
    assert late.variable == "a" and late.setters == ("设 a (set_a)",)
