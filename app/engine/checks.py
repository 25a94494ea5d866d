"""Deploy-time validation of a process bundle: refuse now what would otherwise fail on a running case.

``check_bundle`` reads every file (names, XML, the BPMN/DMN XSDs, forms), checks every piece of
process Python in it with the sandbox's rules (see :mod:`.expressions`), then parses the bundle and
checks what the diagrams ask of the product: lanes naming roles, known stages, forms present,
registered handlers, values fitting the inbox. All problems are collected and reported together,
one line each, naming the file, the element id and its line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask

from .bundle import DATA_PREFIX, BundleError, ParsedBundle, _check_name, _load_form, _parse_xml, parse_bundle
from .expressions import SPIFF_NS, Source, bpmn_sources, dmn_sources, owner, source_problem

# Lengths of the inbox-row columns a task's properties are stored in.
MAX_LENGTHS = {"id": 64, "name": 128, "lane": 32, "stage": 32, "formJsonSchemaFilename": 128}
# XSD errors reported per file (one mistake repeated in a generated file would drown the rest).
MAX_XSD_ERRORS = 10


class BundleProblems(BundleError):
    """Everything wrong with a bundle, one problem a line (``problems``), in file order."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        many = len(self.problems) > 1
        super().__init__((f"{len(self.problems)} problems:\n" if many else "") + "\n".join(self.problems))


class _Lines:
    """Where an element is: ``file: id (line n)`` (extension elements such as service parameters
    carry ids of their own; the diagram's element is meant)."""

    def __init__(self, trees: dict[str, etree._ElementTree]) -> None:
        self.trees = trees
        self.by_id: dict[str, dict[str, int]] = {}

    def line(self, filename: str, element_id: str) -> int | None:
        if filename not in self.by_id:
            tree = self.trees.get(filename)
            elements = tree.getroot().iter(etree.Element) if tree is not None else iter(())
            found: dict[str, int] = {}
            for element in elements:
                if element.get("id") and etree.QName(element).namespace != SPIFF_NS:
                    found.setdefault(element.get("id"), element.sourceline)
            self.by_id[filename] = found
        return self.by_id[filename].get(element_id)

    def where(self, filename: str, element_id: str) -> str:
        line = self.line(filename, element_id)
        return f"{filename}: {element_id}" + (f" (line {line})" if line else "")


def check_bundle(
    files: dict[str, str], handler_names: set[str], roles: set[str], stages: set[str]
) -> ParsedBundle:
    """The parsed bundle, or :class:`BundleProblems` listing everything a deploy must refuse."""
    trees, blocking = _read_files(files)
    lines = _Lines(trees)
    flagged: set[tuple[str, str]] = set()  # (file, element id) already reported for its Python
    problems = _duplicate_forms(files)
    for name, tree in trees.items():
        problems += _python_problems(name, tree, flagged)
    blocking += _xsd_problems(trees)  # after the Python: the validator rewrites some elements
    if blocking:
        raise BundleProblems(blocking + problems)
    try:
        bundle = parse_bundle(files)
    except BundleError as exc:
        raise BundleProblems([*problems, *_parse_problem(exc, lines, flagged)]) from exc
    problems += _spec_problems(bundle, lines, handler_names, roles, stages)
    if problems:
        raise BundleProblems(problems)
    return bundle


def _read_files(files: dict[str, str]) -> tuple[dict[str, etree._ElementTree], list[str]]:
    """The XML trees of the bundle, and what keeps files from being read at all."""
    trees: dict[str, etree._ElementTree] = {}
    problems: list[str] = []
    for name, text in sorted(files.items()):
        try:
            _check_name(name, text)
            if name.endswith((".bpmn", ".dmn")):
                trees[name] = _parse_xml(name, text)
            elif not name.startswith(DATA_PREFIX):  # the configuration is the app's to check
                _load_form(name, text)
        except BundleError as exc:
            problems.append(str(exc))
    return trees, problems


def _duplicate_forms(files: dict[str, str]) -> list[str]:
    """A user task names its form by file name only, so two forms of one name (in two folders, or
    differing in letter case, which is one file on some file systems) are ambiguous."""
    seen: dict[str, str] = {}
    problems = []
    for name in sorted(files):
        if not name.endswith(".schema.json") or name.startswith(DATA_PREFIX):
            continue
        key = Path(name).name.casefold()
        if key in seen:
            problems.append(f"{seen[key]} and {name}: two forms named '{Path(name).name}' "
                            "(a user task names its form by file name; names must differ in more than letter case)")
        else:
            seen[key] = name
    return problems


def _python_problems(filename: str, tree: etree._ElementTree, flagged: set[tuple[str, str]]) -> list[str]:
    sources = bpmn_sources(tree.getroot()) if filename.endswith(".bpmn") else dmn_sources(tree.getroot())
    problems = []
    for source in sources:
        problem = source_problem(source)
        if problem is not None:
            problems.append(_at(filename, source, problem))
            flagged.add((filename, source.element.get("id", "")))
    return problems


def _at(filename: str, source: Source, problem: str) -> str:
    element_id = source.element.get("id") or etree.QName(source.element).localname
    return f"{filename}: {element_id} (line {source.element.sourceline}): {source.what}: {problem}"


def _xsd_problems(trees: dict[str, etree._ElementTree]) -> list[str]:
    """Every file against the BPMN or DMN schema SpiffWorkflow validates with, all errors of a file."""
    dmn_schemas = SpiffBpmnParser().dmn_schemas
    validators: dict[str, BpmnValidator] = {}
    problems = []
    for name, tree in trees.items():
        root = tree.getroot()
        xsd = dmn_schemas.get(etree.QName(root).namespace or "") if name.endswith(".dmn") else ""
        if xsd is None:
            continue  # a DMN version SpiffWorkflow has no schema for: it does not validate it either
        if xsd not in validators:
            validators[xsd] = BpmnValidator(xsd) if xsd else BpmnValidator()
        validator = validators[xsd]
        validator.preprocess(root)
        if not validator.validator.validate(root):
            problems += _schema_errors(name, root, validator.validator.error_log)
    return problems


def _schema_errors(name: str, root: etree._Element, log: Any) -> list[str]:
    errors = list(log)[:MAX_XSD_ERRORS]
    at_line: dict[int, etree._Element] = {}
    for element in root.iter(etree.Element):
        at_line.setdefault(element.sourceline, element)
    ids = {line: owner(element).get("id") for line, element in at_line.items()}
    return [
        f"{name}: {ids.get(error.line) or 'line'} (line {error.line}): not valid "
        f"{'DMN' if name.endswith('.dmn') else 'BPMN'}: {error.message}"
        for error in errors
    ]


def _parse_problem(exc: BundleError, lines: _Lines, flagged: set[tuple[str, str]]) -> list[str]:
    """SpiffWorkflow's own refusal (a flow without condition, an unknown called process ...), placed
    like the others; dropped when it is about an element already reported (a malformed DMN cell)."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationException) or not cause.file_name:
        return [str(exc)]
    if (cause.file_name, cause.id) in flagged:
        return []
    line = cause.line_number or (lines.line(cause.file_name, cause.id) if cause.id else None)
    where = f"{cause.file_name}: {cause.id or cause.tag or 'file'}" + (f" (line {line})" if line else "")
    return [f"{where}: {cause.args[0] if cause.args else cause}"]


def _spec_problems(
    bundle: ParsedBundle, lines: _Lines, handler_names: set[str], roles: set[str], stages: set[str]
) -> list[str]:
    problems: list[str] = []
    for spec, subprocesses in bundle.specs.values():
        for process in (spec, *subprocesses.values()):
            for task_spec in process.task_specs.values():
                where = lines.where(process.file, task_spec.bpmn_id or task_spec.name)
                problems += _task_problems(where, task_spec, bundle, handler_names)
                if isinstance(task_spec, UserTask):
                    problems += _user_task_problems(where, task_spec, roles, stages)
    return problems


def _task_problems(where: str, task_spec: Any, bundle: ParsedBundle, handler_names: set[str]) -> list[str]:
    if isinstance(task_spec, ServiceTask) and task_spec.operation_name not in handler_names:
        return [f"{where}: service task calls unknown handler '{task_spec.operation_name}'"]
    if not isinstance(task_spec, UserTask):
        return []
    props = task_spec.extensions.get("properties", {})
    problems = [f"{where}: user task lacks property '{key}'" for key in ("unit", "stage") if key not in props]
    if not task_spec.lane:
        problems.append(f"{where}: user task is not in a lane (lanes name roles)")
    form = props.get("formJsonSchemaFilename")
    if not form:
        problems.append(f"{where}: user task lacks property 'formJsonSchemaFilename'")
    elif form not in bundle.forms:
        problems.append(f"{where}: form '{form}' is missing from the bundle")
    return problems


def _user_task_problems(where: str, task_spec: Any, roles: set[str], stages: set[str]) -> list[str]:
    props = task_spec.extensions.get("properties", {})
    values = {
        "id": task_spec.name, "name": task_spec.bpmn_name or "", "lane": task_spec.lane or "",
        "stage": props.get("stage", ""), "formJsonSchemaFilename": props.get("formJsonSchemaFilename", ""),
    }
    problems = [
        f"{where}: {key} '{value[:40]}…' is longer than {MAX_LENGTHS[key]} characters"
        for key, value in values.items() if len(value) > MAX_LENGTHS[key]
    ]
    if task_spec.lane and task_spec.lane not in roles:
        problems.append(f"{where}: lane '{task_spec.lane}' is not a role ({', '.join(sorted(roles))})")
    if props.get("stage") and props["stage"] not in stages:
        problems.append(f"{where}: stage '{props['stage']}' is unknown ({', '.join(sorted(stages))})")
    return problems
