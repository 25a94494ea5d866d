"""Structural lint of a BPMN diagram (bpmnlint-style rules, in Python): what deploy accepts but a
modeller most likely did not mean — a process without a start or end event, an element no flow
leads to, a gateway that decides nothing, an activity without a label.

Problems are reported in the form the modeler shows the deploy check's errors in
(:class:`Problem`): the file, the element id, its line, and the rule. Messages are msgids
(zh-CN) with named arguments, translated where they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from app.engine.bundle import BundleError, _parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
ACTIVITIES = {"task", "userTask", "serviceTask", "scriptTask", "businessRuleTask", "manualTask", "sendTask",
              "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess"}
FLOW_NODES = EVENTS | GATEWAYS | ACTIVITIES
SCOPES = {"process", "subProcess", "transaction", "adHocSubProcess"}
DECIDING = {"exclusiveGateway", "inclusiveGateway", "complexGateway"}



def N_(text: str) -> str:
    """Marks a msgid for the catalogue; translated where it is shown."""
    return text


# rule → message (a msgid, zh-CN first; the English is in the catalogue)
MESSAGES = {
    "start-event-required": N_("流程缺少开始事件"),
    "end-event-required": N_("流程缺少结束事件"),
    "no-implicit-start": N_("没有顺序流进入此元素（无法到达）"),
    "no-unreachable": N_("从开始事件无法到达此元素"),
    "superfluous-gateway": N_("网关只有一条出线且不做判断：可删除"),
    "label-required": N_("元素缺少名称"),
}


@dataclass
class Problem:
    """One problem with a diagram element; ``element``/``line`` are None where none is known."""

    file: str | None
    element: str | None
    line: int | None
    message: str
    rule: str
    severity: str = "error"  # error: deploy refuses it; warning: a lint rule
    args: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "element": self.element, "line": self.line, "message": self.message,
                "rule": self.rule, "severity": self.severity}


def lint_files(files: dict[str, str]) -> list[Problem]:
    """The lint problems of every BPMN file of a bundle (files that do not parse are the deploy
    check's to report)."""
    problems: list[Problem] = []
    for name, text in sorted(files.items()):
        if name.endswith(".bpmn"):
            try:
                root = _parse_xml(name, text).getroot()
            except BundleError:
                continue
            problems += lint_tree(name, root)
    return problems


def lint_tree(filename: str, root: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    for scope in root.iter(*(_q(tag) for tag in SCOPES)):
        problems += _scope_problems(filename, scope)
    return problems


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _problem(filename: str, element: etree._Element, rule: str) -> Problem:
    return Problem(filename, element.get("id"), element.sourceline, MESSAGES[rule], rule, "warning")


def _nodes(scope: etree._Element) -> dict[str, etree._Element]:
    """The flow nodes directly in this scope, by id."""
    return {child.get("id", ""): child for child in scope if _local(child) in FLOW_NODES and child.get("id")}


def _flows(scope: etree._Element) -> list[tuple[str, str]]:
    return [(flow.get("sourceRef", ""), flow.get("targetRef", "")) for flow in scope.iterchildren(_q("sequenceFlow"))]


def _scope_problems(filename: str, scope: etree._Element) -> list[Problem]:
    nodes = _nodes(scope)
    flows = _flows(scope)
    kinds = [_local(node) for node in nodes.values()]
    problems = []
    if "startEvent" not in kinds and not _is_ad_hoc(scope):
        problems.append(_problem(filename, scope, "start-event-required"))
    if "endEvent" not in kinds and not _is_ad_hoc(scope) and _local(scope) == "process":
        problems.append(_problem(filename, scope, "end-event-required"))
    incoming = {target for _, target in flows}
    outgoing: dict[str, list[str]] = {}
    for source, target in flows:
        outgoing.setdefault(source, []).append(target)
    reached = _reachable(nodes, outgoing)
    for node_id, node in nodes.items():
        problems += _node_problems(filename, node, node_id in incoming, node_id in reached,
                                   len(outgoing.get(node_id, [])), sum(t == node_id for _, t in flows))
    return problems


def _node_problems(filename: str, node: etree._Element, has_incoming: bool, reached: bool,
                   outs: int, ins: int) -> list[Problem]:
    kind = _local(node)
    problems = []
    if not has_incoming and not _is_entry(node):
        problems.append(_problem(filename, node, "no-implicit-start"))
    elif not reached:
        problems.append(_problem(filename, node, "no-unreachable"))
    if kind in DECIDING and outs == 1 and ins <= 1:
        problems.append(_problem(filename, node, "superfluous-gateway"))
    if _needs_label(node, outs) and not (node.get("name") or "").strip():
        problems.append(_problem(filename, node, "label-required"))
    return problems


def _needs_label(node: etree._Element, outs: int) -> bool:
    kind = _local(node)
    return kind in ACTIVITIES or (kind in DECIDING and outs > 1)


def _is_ad_hoc(scope: etree._Element) -> bool:
    return _local(scope) == "adHocSubProcess"


def _is_entry(node: etree._Element) -> bool:
    """Where a path may begin without a sequence flow in: start and boundary events, event
    subprocesses, link catch events, compensation handlers."""
    kind = _local(node)
    if kind in ("startEvent", "boundaryEvent"):
        return True
    if node.get("triggeredByEvent") == "true" or node.get("isForCompensation") == "true":
        return True
    return kind == "intermediateCatchEvent" and node.find(_q("linkEventDefinition")) is not None


def _reachable(nodes: dict[str, etree._Element], outgoing: dict[str, list[str]]) -> set[str]:
    """The nodes a token can reach from the scope's entries (a boundary event when its activity is)."""
    attached: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        if _local(node) == "boundaryEvent":
            attached.setdefault(node.get("attachedToRef", ""), []).append(node_id)
    pending = [node_id for node_id, node in nodes.items() if _is_entry(node) and _local(node) != "boundaryEvent"]
    reached: set[str] = set()
    while pending:
        node_id = pending.pop()
        if node_id not in reached:
            reached.add(node_id)
            pending += outgoing.get(node_id, []) + attached.get(node_id, [])
    return reached
