"""Compare two bundles (versions, or a version and an upload): per file added, removed or changed
with a unified diff, and for BPMN/DMN the elements added, removed, changed and moved (a semantic
summary an admin reads before the text)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from app.engine.bundle import _XML_PARSER

MAX_DIFF_LINES = 3000  # a diff longer than this is cut, with a note: the files stay downloadable
XML_SUFFIXES = (".bpmn", ".dmn")
DI_NAMESPACES = ("http://www.omg.org/spec/BPMN/20100524/DI", "https://www.omg.org/spec/DMN/20191111/DMNDI/")
SHAPES = ("BPMNShape", "BPMNEdge", "DMNShape", "DMNEdge")


@dataclass
class ElementChanges:
    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    changed: list[dict[str, str]] = field(default_factory=list)
    moved: list[dict[str, str]] = field(default_factory=list)  # only its shape or edge on the diagram

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed, "moved": self.moved}


@dataclass
class FileChange:
    name: str
    status: str  # added · removed · changed
    diff: list[str]
    truncated: bool = False
    elements: ElementChanges | None = None
    error: str | None = None  # an XML file that does not parse: only the text diff is shown

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "diff": "\n".join(self.diff), "truncated": self.truncated,
                "elements": self.elements.as_dict() if self.elements else None, "error": self.error}


def compare(old: dict[str, str], new: dict[str, str], old_label: str = "a", new_label: str = "b") -> list[FileChange]:
    """The files that differ, by name; unchanged files are left out."""
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        lines = list(difflib.unified_diff((before or "").splitlines(), (after or "").splitlines(),
                                          f"{old_label}/{name}", f"{new_label}/{name}", lineterm=""))
        change = FileChange(name, status, lines[:MAX_DIFF_LINES], len(lines) > MAX_DIFF_LINES)
        if name.endswith(XML_SUFFIXES):
            try:
                change.elements = element_changes(before, after)
            except etree.XMLSyntaxError as exc:
                change.error = f"{name}: {exc}"
        changes.append(change)
    return changes


def element_changes(before: str | None, after: str | None) -> ElementChanges:
    """Elements by id: added, removed, changed (their own attributes, text or id-less children
    such as a condition or extension properties), and moved (only the diagram shape differs)."""
    old_model, old_shapes = _elements(before)
    new_model, new_shapes = _elements(after)
    result = ElementChanges(
        added=[new_model[i][0] for i in new_model.keys() - old_model.keys()],
        removed=[old_model[i][0] for i in old_model.keys() - new_model.keys()],
        changed=[new_model[i][0] for i in new_model.keys() & old_model.keys() if new_model[i][1] != old_model[i][1]],
    )
    changed_ids = {e["id"] for e in result.changed}
    result.moved = [new_model[i][0] for i in new_model.keys() & old_model.keys() - changed_ids
                    if old_shapes.get(i) != new_shapes.get(i)]
    for group in (result.added, result.removed, result.changed, result.moved):
        group.sort(key=lambda e: e["id"])
    return result


def _elements(text: str | None) -> tuple[dict[str, tuple[dict[str, str], bytes]], dict[str, bytes]]:
    """{id: (summary, signature)} of the model's elements and {element id: its shapes' XML}."""
    if text is None:
        return {}, {}
    root = etree.fromstring(text.encode("utf-8"), parser=_XML_PARSER)
    model: dict[str, tuple[dict[str, str], bytes]] = {}
    shapes: dict[str, bytes] = {}
    for element in root.iter(etree.Element):
        namespace = etree.QName(element).namespace or ""
        if namespace in DI_NAMESPACES:
            target = element.get("bpmnElement") or element.get("dmnElementRef")
            if target and etree.QName(element).localname in SHAPES:
                shapes[target] = shapes.get(target, b"") + etree.tostring(element)
        elif (ident := element.get("id")) is not None:
            summary = {"id": ident, "kind": etree.QName(element).localname, "name": element.get("name") or ""}
            model[ident] = (summary, _signature(element))
    return model, shapes


def _signature(element: Any) -> bytes:
    """The element without its children that have ids of their own (they are compared apart) and
    without the diagram: a change inside a sub-process is that element's change, not its parent's."""
    copy = etree.fromstring(etree.tostring(element), parser=_XML_PARSER)
    for child in list(copy.iter(etree.Element))[1:]:
        if child.get("id") is not None or etree.QName(child).namespace in DI_NAMESPACES:
            parent = child.getparent()
            if parent is not None:
                parent.remove(child)
    return etree.tostring(copy, method="c14n")
