"""Which data a running case's remaining work will read that nothing gives it: a case moved onto a
newer version past the step that sets a variable (送审 sets ``handling_departments`` in today's
whistle) would fail when the work that reads it comes up. The migration refuses such a case and
names the variable, instead of moving it.

The diagrams are read as a graph of flow elements (a subprocess or call activity is entered at its
start events and left from its end events). Each element reads the names its Python reads (scripts,
conditions, timers, task properties, service parameters, a loop's collection, a DMN decision's
inputs) before it sets them (scripts, a service's result, its form's fields, a decision's outputs,
a loop's items). From where the case's tokens are, with the data each holds, a variable is *set*
at an element when every way there sets it (or the token had it); a read of a variable not set
there is missing data. Generous where unsure (a form sets all its fields, a compound statement its
names), so a case that would run is never refused.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from .expressions import BPMN_NS, SPIFF_NS, Source, bpmn_sources
from .sandbox import SAFE_BUILTIN_NAMES

NodeKey = tuple[str, str]  # (file, element id); a subprocess is left from (file, id + DONE)
Place = tuple[tuple[NodeKey, ...], NodeKey]  # an element under the call activities it was called from
DONE = "#done"
MAX_CALL_DEPTH = 8
MAX_VISITS_PER_PLACE = 64
# Names an expression may read besides the case's data: the sandbox's builtins, a dueHours's limits.
KNOWN_NAMES = SAFE_BUILTIN_NAMES | {"limits"}
_FLOW_TAGS = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "task",
    "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask", "receiveTask",
    "callActivity", "subProcess", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "sequenceFlow",
})
_CONTAINERS = ("process", "subProcess")
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass
class Node:
    title: str
    reads: set[str] = field(default_factory=set)  # read before the element itself sets them
    writes: set[str] = field(default_factory=set)
    outputs: list[NodeKey] = field(default_factory=list)
    parallel: bool = False  # a parallel join: its branches' data all arrive


@dataclass
class DataGraph:
    nodes: dict[NodeKey, Node]
    files: dict[str, str]  # process or subprocess id -> its file
    starts: dict[str, list[NodeKey]]  # process id -> its start events
    ends: dict[str, list[NodeKey]]  # process id -> its end events
    called: dict[NodeKey, str]  # call activity -> the process it calls


@dataclass(frozen=True)
class Position:
    """A token: the element it is at, the process (or subprocess) holding it, the names of its
    data, and the call activities it was called through (outermost first)."""

    process: str
    element: str
    names: frozenset[str]
    callers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Missing:
    variable: str
    readers: tuple[str, ...]  # titles of the elements that read it
    setters: tuple[str, ...]  # titles of the elements of the version that set it

    def __str__(self) -> str:
        setters = f"; this version sets it at {', '.join(self.setters)}" if self.setters else ""
        return (f"the case's data lacks '{self.variable}', which {', '.join(self.readers)} will read "
                f"before anything ahead of the case sets it{setters}")


def data_graph(files: dict[str, str], forms: dict[str, dict]) -> DataGraph:
    """The data graph of a bundle's BPMN and DMN files (``forms`` by file name)."""
    decisions = _decisions(files)
    graph = DataGraph({}, {}, {}, {}, {})
    for name, text in sorted(files.items()):
        if name.endswith(".bpmn"):
            _add_file(graph, name, etree.fromstring(text.encode(), _XML_PARSER), forms, decisions)
    return graph


def missing_data(graph: DataGraph, positions: Iterable[Position]) -> list[Missing]:
    """What the remaining work reads that no token has and no way to it sets, by variable."""
    entries: dict[Place, frozenset[str]] = {}
    for position in positions:
        file = graph.files.get(position.process)
        if file is None or (file, position.element) not in graph.nodes:
            continue  # the engine's own bookkeeping tasks (joins, the process's start)
        callers = [(graph.files.get(process, ""), element) for process, element in position.callers]
        place = (tuple(c for c in callers if c in graph.called), (file, position.element))
        entries[place] = entries.get(place, position.names) & position.names
    outputs = _reachable(graph, list(entries))
    have = _must_set(graph, entries, outputs)
    return _missing(graph, have)


def _reachable(graph: DataGraph, roots: list[Place]) -> dict[Place, list[Place]]:
    """The places reachable from the tokens, with their outputs. A place is an element and the
    call activities it runs under: a called process returns to the activity that called it."""
    outputs: dict[Place, list[Place]] = {}
    todo = list(roots)
    while todo:
        place = todo.pop()
        if place in outputs:
            continue
        stack, key = place
        nexts = [(stack, nxt) for nxt in graph.nodes[key].outputs if nxt in graph.nodes]
        process = graph.called.get(key)
        if process is not None and len(stack) < MAX_CALL_DEPTH:
            nexts += [((*stack, key), start) for start in graph.starts.get(process, [])]
        if stack and key in graph.ends.get(graph.called[stack[-1]], []):
            caller = stack[-1]
            nexts.append((stack[:-1], (caller[0], caller[1] + DONE)))
        outputs[place] = nexts
        todo += nexts
    return outputs


def _must_set(graph: DataGraph, entries: dict[Place, frozenset[str]],
              outputs: dict[Place, list[Place]]) -> dict[Place, frozenset[str]]:
    """The names set on every way to each reachable place (on entry), to a fixed point: each place's
    names only shrink, from "anything" (not reached yet), so it ends."""
    preds: dict[Place, list[Place]] = {place: [] for place in outputs}
    for place, nexts in outputs.items():
        for nxt in nexts:
            preds[nxt].append(place)
    have: dict[Place, frozenset[str]] = {}  # absent: not reached yet (anything, for the meet)
    todo, queued = deque(entries), set(entries)  # breadth first from the tokens: few revisits
    budget = MAX_VISITS_PER_PLACE * len(outputs)  # a guard: the meet shrinks, so it ends long before
    while todo and budget > 0:
        budget -= 1
        place = todo.popleft()
        queued.discard(place)
        arriving = [have[p] | graph.nodes[p[1]].writes if p in have else None for p in preds[place]]
        new = _meet(graph.nodes[place[1]], place[1][1].endswith(DONE), arriving, entries.get(place))
        if new is not None and have.get(place) != new:
            have[place] = new
            fresh = [nxt for nxt in outputs[place] if nxt not in queued]
            todo.extend(fresh)
            queued.update(fresh)
    return have


def _meet(node: Node, done: bool, arriving: list[frozenset[str] | None],
          entry: frozenset[str] | None) -> frozenset[str] | None:
    """The names on entry to an element from what each way into it brings (None: not reached yet,
    so anything) and its token's. Where branches that run side by side meet (a parallel join, the
    end of a subprocess whose reminder and 督办 branches end beside its work) the names any of them
    sets are there, once all have arrived; elsewhere those that every way sets."""
    tokens = [entry] if entry is not None else []
    if done or node.parallel:
        if not arriving or None in arriving:
            return entry
        return frozenset.union(*(names for names in arriving if names is not None), *tokens)
    ins = [names for names in arriving if names is not None] + tokens
    return frozenset.intersection(*ins) if ins else None


def _missing(graph: DataGraph, have: dict[Place, frozenset[str]]) -> list[Missing]:
    readers: dict[str, list[str]] = {}
    for (_stack, key), names in have.items():
        for variable in sorted(graph.nodes[key].reads - names):
            readers.setdefault(variable, []).append(graph.nodes[key].title)
    return [Missing(variable, tuple(sorted(set(titles))), _setters(graph, variable))
            for variable, titles in sorted(readers.items())]


def _setters(graph: DataGraph, variable: str) -> tuple[str, ...]:
    return tuple(sorted({node.title for node in graph.nodes.values() if variable in node.writes}))


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _add_file(graph: DataGraph, file: str, root: etree._Element, forms: dict[str, dict],
              decisions: dict[str, tuple[set[str], set[str]]]) -> None:
    sources: dict[str, list[Source]] = {}
    for source in bpmn_sources(root):
        sources.setdefault(source.element.get("id", ""), []).append(source)
    for container in root.iter(*(f"{{{BPMN_NS}}}{tag}" for tag in _CONTAINERS)):
        if container.get("triggeredByEvent") == "true":
            continue  # event subprocesses: none in the product's diagrams; left out, not guessed
        graph.files.setdefault(container.get("id"), file)
        for element in container:
            if _local(element) in _FLOW_TAGS and element.get("id"):
                _add_element(graph, file, container, element, sources.get(element.get("id"), []), forms, decisions)


def _add_element(graph: DataGraph, file: str, container: etree._Element, element: etree._Element,
                 sources: list[Source], forms: dict[str, dict],
                 decisions: dict[str, tuple[set[str], set[str]]]) -> None:
    tag, ident = _local(element), element.get("id")
    key = (file, ident)
    node = graph.nodes.setdefault(key, Node(""))
    node.title, node.parallel = _title(element), tag == "parallelGateway"
    node.reads, node.writes = _element_names(element, sources, forms, decisions)
    inner = (file, container.get("id") + DONE) if _local(container) == "subProcess" else None
    if tag == "sequenceFlow":
        node.outputs.append((file, element.get("targetRef")))
        source = container.find(f"*[@id='{element.get('sourceRef')}']")
        leaves = source is not None and _local(source) in ("subProcess", "callActivity")
        start = (file, element.get("sourceRef") + (DONE if leaves else ""))
        graph.nodes.setdefault(start, Node("")).outputs.append(key)
    elif tag == "boundaryEvent":
        graph.nodes.setdefault((file, element.get("attachedToRef")), Node("")).outputs.append(key)
    elif tag == "startEvent" and not any(_local(c).endswith("EventDefinition") for c in element):
        if inner is not None:
            graph.nodes.setdefault((file, container.get("id")), Node("")).outputs.append(key)
        graph.starts.setdefault(container.get("id"), []).append(key)
    elif tag == "endEvent":
        if inner is not None:
            node.outputs.append(inner)
        graph.ends.setdefault(container.get("id"), []).append(key)
    elif tag == "subProcess":
        done = graph.nodes.setdefault((file, ident + DONE), Node(""))
        done.title, done.writes = node.title, done.writes | _loop_output(element)
    elif tag == "callActivity":
        graph.called[key] = element.get("calledElement", "")
        graph.nodes.setdefault((file, ident + DONE), Node("")).title = node.title


def _title(element: etree._Element) -> str:
    name = (element.get("name") or "").strip()
    return f"{name} ({element.get('id')})" if name else str(element.get("id"))


def _loop_output(element: etree._Element) -> set[str]:
    found = element.find(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics/{{{BPMN_NS}}}loopDataOutputRef")
    return {found.text.strip()} if found is not None and found.text else set()


def _element_names(element: etree._Element, sources: list[Source], forms: dict[str, dict],
                   decisions: dict[str, tuple[set[str], set[str]]]) -> tuple[set[str], set[str]]:
    """What the element reads before it sets it, and what it sets, in the engine's order: its
    pre-script, then its expressions and script, then what it stores, then its post-script."""
    phases: list[tuple[set[str], set[str]]] = []
    phases += [_names(s.text) for s in sources if s.kind.what == "pre-script"]
    for source in sources:
        if source.kind.what in ("pre-script", "post-script", "loop output collection", "loop item"):
            continue
        phases.append(_names(source.text, source.kind.mode) if source.kind.mode != "name"
                      else ({source.text.strip()} if source.text else set(), set()))
    decision = element.find(f".//{{{SPIFF_NS}}}calledDecisionId")
    inputs, outputs = decisions.get(decision.text.strip() if decision is not None and decision.text else "",
                                    (set(), set()))
    phases.append((inputs, outputs | _stored(element, sources, forms)))
    phases += [_names(s.text) for s in sources if s.kind.what == "post-script"]
    reads: set[str] = set()
    writes: set[str] = set()
    for read, write in phases:
        reads |= read - writes
        writes |= write
    return reads - KNOWN_NAMES, writes


def _stored(element: etree._Element, sources: list[Source], forms: dict[str, dict]) -> set[str]:
    """A service's result, a form's fields and a loop's items."""
    names = {s.text for s in sources if s.kind.what == "loop item" and s.text}
    for operator in element.iter(f"{{{SPIFF_NS}}}serviceTaskOperator"):
        if operator.get("resultVariable"):
            names.add(operator.get("resultVariable"))
    for prop in element.iter(f"{{{SPIFF_NS}}}property"):
        if prop.get("name") == "formJsonSchemaFilename":
            names |= set(forms.get(prop.get("value", ""), {}).get("properties", {}))
    return names


def _names(text: str | None, mode: str = "exec") -> tuple[set[str], set[str]]:
    """(read before set, set) of a script or expression; a compound statement's own names count
    as set before it reads them (a loop's variable), which may miss a read but never invents one."""
    if not text or not text.strip():
        return set(), set()
    try:
        tree = ast.parse(text.strip() if mode == "eval" else text, mode=mode)
    except SyntaxError:
        return set(), set()  # the deploy check refuses it; nothing to say here
    body = tree.body if isinstance(tree, ast.Module) else [tree.body]
    reads: set[str] = set()
    writes: set[str] = set()
    for statement in body:
        loads, stores, bound = _statement_names(statement)
        simple = isinstance(statement, ast.Assign | ast.AnnAssign | ast.Expr | ast.expr)
        reads |= loads - writes - bound - (set() if simple else stores)
        writes |= stores
    return reads, writes


def _statement_names(statement: ast.AST) -> tuple[set[str], set[str], set[str]]:
    loads: set[str] = set()
    stores: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
        elif isinstance(node, ast.comprehension):
            bound |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loads, stores - bound, bound


def _decisions(files: dict[str, str]) -> dict[str, tuple[set[str], set[str]]]:
    """Decision id -> (names its input expressions read, its outputs' names)."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for name, text in files.items():
        if not name.endswith(".dmn"):
            continue
        for decision in etree.fromstring(text.encode(), _XML_PARSER).iter("{*}decision"):
            reads: set[str] = set()
            for expression in decision.iter("{*}inputExpression"):
                body = expression.find("{*}text")
                reads |= _names(body.text if body is not None else None, "eval")[0]
            outputs = {o.get("name") for o in decision.iter("{*}output") if o.get("name")}
            found[decision.get("id", "")] = (reads - KNOWN_NAMES, outputs)
    return found
