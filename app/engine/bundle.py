"""Process bundles: the BPMN, DMN and form files of processes/, parsed once per content hash.

A bundle is deployed as one immutable version; cases pin the version they started on. Parsing is
slow (tens of ms), so each worker keeps the parsed specs in a cache keyed by the content hash.
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask

from .sandbox import SandboxError, check_source
from .timing import timer_value_problem

BUNDLE_SUFFIXES = (".bpmn", ".dmn", ".schema.json")
# A version also carries its configuration (the app reads it, the engine does not): config/*.yaml.
DATA_PREFIX, DATA_SUFFIX = "config/", ".yaml"
MAX_FILE_BYTES = 2 * 1024 * 1024

# Hardened XML parsing: no entity expansion, no DTD or network access (an uploaded BPMN must not
# read local files through XXE).
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
)


class BundleError(ValueError):
    """A process bundle that cannot be deployed; the message names the file and the problem."""


@dataclass
class ParsedBundle:
    content_hash: str
    specs: dict[str, tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]]
    forms: dict[str, dict[str, Any]]
    validators: dict[str, Draft202012Validator] = field(default_factory=dict)

    def spec(self, process_id: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
        try:
            return self.specs[process_id]
        except KeyError:
            raise BundleError(f"process '{process_id}' is not in this process version") from None

    def process_file(self, process_id: str) -> tuple[str, str]:
        """(file name, process name) of a process: the BPMN file whose diagram draws it."""
        for spec, subprocesses in self.specs.values():
            for candidate in (spec, *subprocesses.values()):
                if candidate.name == process_id:
                    return candidate.file, candidate.description or process_id
        raise BundleError(f"process '{process_id}' is not in this process version")

    def task_titles(self) -> dict[str, str]:
        """Element id → name of every task in the version (the inbox names its task types so)."""
        titles: dict[str, str] = {}
        for spec, subprocesses in self.specs.values():
            for process in (spec, *subprocesses.values()):
                for task_id, task_spec in process.task_specs.items():
                    name = getattr(task_spec, "bpmn_name", None)
                    if name:
                        titles.setdefault(task_id, name)
        return titles

    def form(self, name: str) -> dict[str, Any]:
        try:
            return self.forms[name]
        except KeyError:
            raise BundleError(f"form '{name}' is not in this process version") from None

    def validator(self, name: str) -> Draft202012Validator:
        if name not in self.validators:
            self.validators[name] = Draft202012Validator(self.form(name))
        return self.validators[name]


def read_bundle_dir(directory: Path) -> dict[str, str]:
    """Read every bundle file under ``directory`` into {relative path: text}."""
    files: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name.endswith(BUNDLE_SUFFIXES):
            files[path.relative_to(directory).as_posix()] = path.read_text(encoding="utf-8")
    if not files:
        raise BundleError(f"no .bpmn/.dmn/.schema.json files under {directory}")
    return files


def bundle_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


_cache: dict[str, ParsedBundle] = {}
_cache_lock = threading.Lock()


def cached_bundle(content_hash: str) -> ParsedBundle | None:
    return _cache.get(content_hash)


def get_bundle(files: dict[str, str], content_hash: str | None = None) -> ParsedBundle:
    """The parsed bundle for these files, parsed at most once per worker."""
    key = content_hash or bundle_hash(files)
    bundle = _cache.get(key)
    if bundle is None:
        with _cache_lock:
            bundle = _cache.get(key)
            if bundle is None:
                bundle = parse_bundle(files, key)
                _cache[key] = bundle
    return bundle


def parse_bundle(
    files: dict[str, str], content_hash: str | None = None, *, validate: bool = False
) -> ParsedBundle:
    parser = SpiffBpmnParser(validator=BpmnValidator() if validate else None)
    forms: dict[str, dict[str, Any]] = {}
    for name, text in sorted(files.items()):
        _check_name(name, text)
        if name.startswith(DATA_PREFIX):
            continue
        try:
            if name.endswith(".bpmn"):
                parser.add_bpmn_xml(_parse_xml(name, text), filename=name)
            elif name.endswith(".dmn"):
                parser.add_dmn_xml(_parse_xml(name, text).getroot(), filename=name)
            else:
                forms[Path(name).name] = _load_form(name, text)
        except ValidationException as exc:
            raise BundleError(f"{name}: {exc}") from exc
    specs = {}
    try:
        for process_id in parser.get_process_ids():
            specs[process_id] = (parser.get_spec(process_id), parser.get_subprocess_specs(process_id))
    except SpiffWorkflowException as exc:
        raise BundleError(f"cannot build the process specs: {exc}") from exc
    for spec, subprocess_specs in specs.values():
        for each in (spec, *subprocess_specs.values()):
            connect_loop_merges(each)
    return ParsedBundle(content_hash or bundle_hash(files), specs, forms)


def connect_loop_merges(spec: BpmnProcessSpec) -> None:
    """Wire every multi-instance (and loop) task to hear its instances complete, as soon as the
    spec is parsed.

    SpiffWorkflow connects a loop task's ``merge_child`` to its instance spec's completed event
    only when it creates an instance (or when it deserializes a spec). A spec parsed from XML whose
    first use in this process is a case loaded with its instances already running never gets that
    connection: each instance then completes without its output (``handled_actions``,
    ``evaluation_results`` ...) reaching the collection, and the loop never ends. Connecting here
    makes the outcome independent of what the worker did before.
    """
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            child = spec.task_specs[task_spec.task_spec]
            if not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)


# Lengths of the inbox-row columns a task's properties are stored in.
MAX_LENGTHS = {"id": 64, "name": 128, "lane": 32, "stage": 32, "formJsonSchemaFilename": 128}


def check_bundle(
    files: dict[str, str], handler_names: set[str], roles: set[str], stages: set[str]
) -> ParsedBundle:
    """Full deploy-time validation: XSD, forms, lanes naming known roles, known stages, lengths that
    fit the inbox, and service tasks that name registered handlers."""
    bundle = parse_bundle(files, validate=True)
    problems: list[str] = []
    lines = _ElementLines(files)
    for process_id, (spec, subprocesses) in bundle.specs.items():
        for proc in [spec, *subprocesses.values()]:
            for task_spec in proc.task_specs.values():
                problems.extend(_check_task_spec(process_id, task_spec, bundle, handler_names))
                problems.extend(_check_python(proc.file, task_spec, lines))
                if isinstance(task_spec, UserTask):
                    problems.extend(_check_user_task(process_id, task_spec, roles, stages))
    if problems:
        raise BundleError("; ".join(sorted(set(problems))))
    return bundle


def _check_task_spec(
    process_id: str, task_spec: Any, bundle: ParsedBundle, handler_names: set[str]
) -> list[str]:
    where = f"{process_id}/{task_spec.name}"
    timer_problem = _check_timer(where, getattr(task_spec, "event_definition", None))
    if timer_problem:
        return [timer_problem]
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


class _ElementLines:
    """The line of a BPMN element in its file, for error messages (files parsed on first use)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.trees: dict[str, etree._ElementTree] = {}

    def where(self, filename: str, element_id: str) -> str:
        if filename not in self.trees:
            self.trees[filename] = _parse_xml(filename, self.files.get(filename, "<x/>"))
        found = self.trees[filename].getroot().xpath("//*[@id=$id]", id=element_id)
        line = f" (line {found[0].sourceline})" if found else ""
        return f"{filename}: {element_id}{line}"


def _check_python(filename: str, task_spec: Any, lines: _ElementLines) -> list[str]:
    """Scripts and timer expressions that could not run: syntax errors, sandbox rules (import ...)."""
    sources: list[tuple[str, str, str]] = []
    script = getattr(task_spec, "script", None)
    if isinstance(script, str):
        sources.append(("script", script, "exec"))
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition) and definition.expression:
        sources.append(("timer expression", definition.expression, "eval"))
    problems = []
    for what, source, mode in sources:
        problem = _source_problem(source, mode)
        if problem is None and what == "timer expression":
            problem = _literal_timer_problem(definition, source)
        if problem is not None:
            problems.append(f"{lines.where(filename, task_spec.bpmn_id or task_spec.name)}: {what}: {problem}")
    return problems


def _source_problem(source: str, mode: str) -> str | None:
    try:
        check_source(source, mode)
    except SyntaxError as error:
        return f"syntax error on line {error.lineno}: {error.msg}"
    except SandboxError as error:
        return str(error)
    return None


def _literal_timer_problem(definition: Any, source: str) -> str | None:
    """A timer given as a constant ('P99999999Y', '2999-01-01T00:00:00Z') is checked at deploy."""
    try:
        value = ast.literal_eval(source.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # an expression over the case's data: checked when the timer starts
    return timer_value_problem(definition, value)


def _check_timer(where: str, definition: Any) -> str | None:
    """Timers the scheduler can fire: a date or a duration, given as a Python expression (deadlines
    are absolute times put into the process data by the set_deadline handler). A cycle would never
    be written to the timer table, so it is refused."""
    if isinstance(definition, CycleTimerEventDefinition):
        return f"{where}: timer cycles are not supported; use timeDate (or timeDuration)"
    if not isinstance(definition, TimerEventDefinition):
        return None
    try:
        compile(definition.expression or "", where, "eval")
    except SyntaxError:
        return f"{where}: timer expression '{(definition.expression or '')[:60]}' is not a Python expression"
    if not (definition.expression or "").strip():
        return f"{where}: timer has no expression"
    return None


def _check_user_task(process_id: str, task_spec: Any, roles: set[str], stages: set[str]) -> list[str]:
    where = f"{process_id}/{task_spec.name}"
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
    if "role" in props:  # a task inside a subprocess naming another role than the lane (督办)
        try:
            compile(props["role"], where, "eval")
        except SyntaxError:
            problems.append(f"{where}: role '{props['role'][:40]}' is not a Python expression")
    if props.get("stage") and props["stage"] not in stages:
        problems.append(f"{where}: stage '{props['stage']}' is unknown ({', '.join(sorted(stages))})")
    return problems


def _check_name(name: str, text: str) -> None:
    if ".." in Path(name).parts or name.startswith("/"):
        raise BundleError(f"{name}: file names must stay inside the bundle")
    if name.startswith(DATA_PREFIX) and name.endswith(DATA_SUFFIX) and name.count("/") == 1:
        pass
    elif not name.endswith(BUNDLE_SUFFIXES):
        raise BundleError(f"{name}: only {', '.join(BUNDLE_SUFFIXES)} files belong in a process bundle")
    if len(text.encode()) > MAX_FILE_BYTES:
        raise BundleError(f"{name}: larger than {MAX_FILE_BYTES} bytes")


def _parse_xml(name: str, text: str) -> etree._ElementTree:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise BundleError(f"{name}: DOCTYPE and ENTITY declarations are not allowed")
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=_XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise BundleError(f"{name}: not well-formed XML: {exc}") from exc
    return etree.ElementTree(root)


def _load_form(name: str, text: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
        Draft202012Validator.check_schema(schema)
    except (json.JSONDecodeError, SchemaError) as exc:
        raise BundleError(f"{name}: not a valid JSON Schema: {exc}") from exc
    if not isinstance(schema, dict):
        raise BundleError(f"{name}: a form schema must be a JSON object")
    return schema
