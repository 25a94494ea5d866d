"""Every piece of process Python in a bundle's XML, found and checked before it is deployed.

A case runs these through the sandbox long after the deploy: a script, a flow's condition, a timer,
a DMN cell, a task's ``unit``/``role``/``dueHours``, a service parameter, a loop's collection. Each
one is parsed and checked here with the sandbox's own rules (:func:`sandbox.check_source`), and a
constant whose value the engine would refuse (a timer of ``'P99999999Y'``) is refused too, so a
deploy is refused instead of every new case failing.

Each problem names the file, the id of the element an admin edits (the task, flow, event or DMN
cell) and that element's line.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

from .sandbox import SandboxError, check_source
from .timing import date_problem, duration_problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# Elements whose children are the flow elements an admin sees in the diagram.
_CONTAINER_KEYS = frozenset((BPMN_NS, name) for name in ("process", "subProcess", "adHocSubProcess", "transaction"))
_NOT_FLOW_ELEMENTS = frozenset({"multiInstanceLoopCharacteristics", "standardLoopCharacteristics", "ioSpecification",
                                "extensionElements"})
# Task properties the engine evaluates as Python (``stage`` and the form name are plain text).
EXPRESSION_PROPERTIES = ("unit", "role", "dueHours")

ValueRule = Callable[[Any], str | None]


def _positive_hours(value: Any) -> str | None:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool) and value > 0):
        return None
    return f"{value!r} is not a positive number of hours"


@dataclass(frozen=True)
class Kind:
    """How the engine runs one kind of source: ``eval``, ``exec``, or ``name`` (a variable name)."""

    what: str
    mode: str = "eval"
    required: bool = False  # an empty one fails at run time (else the engine skips it)
    value: ValueRule | None = None  # what a constant must be


@dataclass(frozen=True)
class Source:
    element: etree._Element  # the element an admin edits: its id and line go into the message
    kind: Kind
    text: str | None
    what: str
    problem: str | None = None  # known without running the checks


# BPMN elements whose text is Python, by (namespace, local name).
_TEXTS: dict[tuple[str, str], Kind] = {
    (BPMN_NS, "script"): Kind("script", "exec", required=True),
    (BPMN_NS, "conditionExpression"): Kind("condition"),
    (BPMN_NS, "condition"): Kind("condition"),  # a conditional event's
    (BPMN_NS, "timeDate"): Kind("timer expression", required=True, value=date_problem),
    (BPMN_NS, "timeDuration"): Kind("timer expression", required=True, value=duration_problem),
    (BPMN_NS, "loopCardinality"): Kind("loop cardinality", required=True),
    (BPMN_NS, "completionCondition"): Kind("completion condition"),
    (BPMN_NS, "loopCondition"): Kind("loop condition"),
    (BPMN_NS, "loopDataInputRef"): Kind("loop input collection", "name", required=True),
    (BPMN_NS, "loopDataOutputRef"): Kind("loop output collection", "name", required=True),
    (BPMN_NS, "messagePath"): Kind("correlation expression"),
    (SPIFF_NS, "preScript"): Kind("pre-script", "exec"),
    (SPIFF_NS, "postScript"): Kind("post-script", "exec"),
    (SPIFF_NS, "messagePayload"): Kind("message payload"),
    (SPIFF_NS, "payloadExpression"): Kind("payload expression"),
    (SPIFF_NS, "expression"): Kind("correlation expression"),
    (BPMN_NS, "formalExpression"): Kind("correlation expression"),  # as bpmn.io writes messagePath
}
_PARENTS = {(SPIFF_NS, "expression"): "processVariableCorrelation",
            (BPMN_NS, "formalExpression"): "correlationPropertyRetrievalExpression"}
_CYCLE = Kind("timer expression")
_PROPERTY = Kind("property", required=True)
_DUE_HOURS = Kind("property", value=_positive_hours)
_PARAMETER = Kind("parameter", required=True)
_LOOP_ITEM = Kind("loop item", "name", required=True)
_DMN_INPUT = Kind("input expression")
_DMN_OUTPUT = Kind("output entry")


def _local(element: etree._Element) -> tuple[str, str]:
    name = etree.QName(element)
    return name.namespace or "", name.localname


def owner(element: etree._Element) -> etree._Element:
    """The flow element (task, event, flow ...) holding ``element``, or the nearest one with an id."""
    node: etree._Element | None = element
    while node is not None:
        if _is_flow_element(node):
            return node
        node = node.getparent()
    node = element
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return node if node is not None else element


def _is_flow_element(node: etree._Element) -> bool:
    parent = node.getparent()
    return (
        node.get("id") is not None and _local(node)[1] not in _NOT_FLOW_ELEMENTS
        and parent is not None and _local(parent) in _CONTAINER_KEYS
    )


def bpmn_sources(root: etree._Element) -> Iterator[Source]:
    for element in root.iter(etree.Element):
        key = _local(element)
        kind = _TEXTS.get(key)
        if kind is not None and _in_place(element, key):
            yield Source(owner(element), kind, element.text, kind.what)
        elif key == (SPIFF_NS, "property") and element.get("name") in EXPRESSION_PROPERTIES:
            name = element.get("name")
            yield Source(owner(element), _DUE_HOURS if name == "dueHours" else _PROPERTY,
                         element.get("value"), f"property '{name}'")
        elif key == (SPIFF_NS, "parameter"):
            yield Source(owner(element), _PARAMETER, element.get("value"), f"parameter '{element.get('id')}'")
        elif key in ((BPMN_NS, "inputDataItem"), (BPMN_NS, "outputDataItem")):
            yield Source(owner(element), _LOOP_ITEM, element.get("id"), f"loop item '{element.get('id')}'")
        elif key == (BPMN_NS, "timeCycle"):  # the scheduler stores one due time per timer, never a cycle
            yield Source(owner(element), _CYCLE, element.text, _CYCLE.what, "timer cycles are not supported; "
                         "use timeDate (or timeDuration)")
        elif key == (BPMN_NS, "scriptTask") and element.find(f"{{{BPMN_NS}}}script") is None:
            yield Source(element, Kind("script", "exec", required=True), None, "script")


def _in_place(element: etree._Element, key: tuple[str, str]) -> bool:
    """Elements that are Python only inside a certain parent are checked only there."""
    parent = element.getparent()
    required = _PARENTS.get(key)
    return required is None or (parent is not None and _local(parent)[1] == required)


def dmn_sources(root: etree._Element) -> Iterator[Source]:
    """Input expressions, input entries (as the DMN engine tests them) and output entries."""
    for table in root.iter(etree.Element):
        if _local(table)[1] != "decisionTable":
            continue
        inputs = [_text_of(child, "inputExpression") for child in table if _local(child)[1] == "input"]
        for child in table:
            if _local(child)[1] == "input":
                yield Source(child, _DMN_INPUT, _text_of(child, "inputExpression"), _DMN_INPUT.what)
            elif _local(child)[1] == "rule":
                yield from _rule_sources(child, inputs)


def _rule_sources(rule: etree._Element, inputs: list[str | None]) -> Iterator[Source]:
    entries = [child for child in rule if _local(child)[1] == "inputEntry"]
    for entry, expression in zip(entries, inputs, strict=False):
        cell = _text_of(entry)
        if cell is None or cell == "-" or expression is None:
            continue  # '-' (or nothing) matches anything; no input expression: the label is read
        for test, problem in dmn_cell_tests(expression, cell):
            what = f"input entry {cell!r}" + (f" (tested as {test!r})" if test != cell else "")
            yield Source(entry, _DMN_INPUT, test, what, problem)
    for entry in rule:
        if _local(entry)[1] == "outputEntry" and _text_of(entry):
            yield Source(entry, _DMN_OUTPUT, _text_of(entry), _DMN_OUTPUT.what)


def _text_of(element: etree._Element, child: str | None = None) -> str | None:
    if child is not None:
        found = [c for c in element if _local(c)[1] == child]
        if not found:
            return None
        element = found[0]
    texts = [c for c in element if _local(c)[1] == "text"]
    return texts[0].text if texts else None


class _RecordingEngine(PythonScriptEngine):
    """Hands back the expressions SpiffWorkflow's DMN engine would run, instead of running them."""

    def __init__(self) -> None:
        super().__init__()
        self.expressions: list[str] = []

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        self.expressions.append(expression)
        return True


def dmn_cell_tests(input_expression: str, cell: str) -> list[tuple[str, str | None]]:
    """The Python a DMN input entry runs as, built by SpiffWorkflow's own DMN engine: ``"a"`` is
    tested as ``(level) == ("a")``, ``> 3`` as ``level> 3``, ``? in (1, 2)`` with ``?`` standing
    for the input. A cell the engine cannot even turn into Python comes back as itself (so the
    check reports its syntax error). Each with a problem found on the way, or None."""
    engine = _RecordingEngine()
    task = SimpleNamespace(workflow=SimpleNamespace(script_engine=engine))
    try:
        DMNEngine(None).evaluate(input_expression, cell, task)
    except SyntaxError:
        return [(cell, None)]
    return [(test, _glued(input_expression, cell, test)) for test in engine.expressions]


def _glued(input_expression: str, cell: str, test: str) -> str | None:
    """The engine appends an operator cell to the input without a space: ``level`` and ``in (1, 2)``
    become ``levelin (1, 2)``, a call of a name that does not exist."""
    if test != input_expression + cell:
        return None
    try:
        same = ast.dump(ast.parse(test, mode="eval")) == ast.dump(ast.parse(f"{input_expression} {cell}", mode="eval"))
    except SyntaxError:
        return None  # reported as the syntax error it is
    return None if same else f"the DMN engine joins it to the input without a space; write '? {cell.strip()}'"


def source_problem(source: Source) -> str | None:
    """Why this source would fail when a case runs it, or None."""
    kind, text = source.kind, source.text
    if source.problem is not None:
        return source.problem
    if text is None or not text.strip():
        return "is empty" if kind.required and (text is None or kind.mode != "exec") else None
    if kind.mode == "name":
        return None if text.isidentifier() and _check(text, "eval") is None else f"{text!r} is not a variable name"
    problem = _check(text, kind.mode)
    if problem is None and kind.value is not None:
        problem = _constant_problem(text, kind.value)
    return problem


def _check(text: str, mode: str) -> str | None:
    try:
        check_source(text, mode)
    except SyntaxError as error:
        if mode == "exec":
            return f"syntax error on line {error.lineno}: {error.msg}"
        return f"{text[:60]!r} is not a Python expression ({error.msg})"
    except SandboxError as error:
        return str(error)
    return None


def _constant_problem(text: str, rule: ValueRule) -> str | None:
    """A constant is checked now; an expression over the case's data when the engine evaluates it."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return rule(value)
