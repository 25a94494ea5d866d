"""Process bundles: the BPMN, DMN and form files of processes/, parsed once per content hash.

A bundle is deployed as one immutable version; cases pin the version they started on. Parsing is
slow (tens of ms), so each worker keeps the parsed specs in a cache keyed by the content hash.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from .dataflow import DataGraph, data_graph

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
    files: dict[str, str] = field(default_factory=dict, repr=False)
    _data_graph: DataGraph | None = field(default=None, repr=False)

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

    def data_graph(self) -> DataGraph:
        """What each element of the diagrams reads and sets (app/engine/dataflow.py), built once."""
        if self._data_graph is None:
            self._data_graph = data_graph(self.files, self.forms)
        return self._data_graph

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
    return ParsedBundle(content_hash or bundle_hash(files), specs, forms,
                        files={name: text for name, text in files.items() if name.endswith((".bpmn", ".dmn"))})


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
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name}: not a valid JSON Schema: {exc}") from exc
    if (problem := _schema_problem(text)) is not None:
        raise BundleError(f"{name}: not a valid JSON Schema: {problem}")
    if not isinstance(schema, dict):
        raise BundleError(f"{name}: a form schema must be a JSON object")
    return schema


@lru_cache(maxsize=512)
def _schema_problem(text: str) -> str | None:
    """What is wrong with a schema against the JSON Schema meta-schema, or None. Checking takes
    ~50-100 ms a form and a check reads each form twice; the modeler checks after every save, with
    the forms mostly unchanged: remembered by text."""
    try:
        Draft202012Validator.check_schema(json.loads(text))
    except SchemaError as exc:
        return f"{exc.message} (at /{'/'.join(map(str, exc.path))})"
    return None
