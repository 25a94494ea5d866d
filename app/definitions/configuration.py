"""A locality's configuration, versioned with its processes.

The locality model, the responsibility catalogue, the working-time calendar with the deadline rules,
and the scoring rules are deployed together with the diagrams and forms as one process version (the
files ``config/<name>`` of the version). A case runs with the configuration of the version it
started on; everything else (pages, new reports, the organisation) uses the latest version's. Before
anything is deployed, and for code running outside a request or a case's step, the files on disk
(``config/`` or ``WHISTLE_CONFIG_DIR``) are the configuration.

Each module that reads a file registers a loader here (:func:`loader`); a configuration parses each
file once and keeps the result, so a worker parses a version's files once however often they are
asked for. :meth:`Configuration.problems` runs every loader: deploy refuses a version whose files
do not load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import yaml

from app.settings import ROOT

CONFIG_DIR = ROOT / "config"
# The files of a locality's configuration (a pack may leave out any but the locality model, and
# takes the default's for the rest).
CONFIG_FILES = ("locality.yaml", "catalogue.yaml", "calendar.yaml", "assessment.yaml")
PREFIX = "config/"  # where they sit among a version's files

T = TypeVar("T")


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a date that does not exist (2027-02-30) stays text for the
    file's own check to name with its line, instead of an error that names neither."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[no-untyped-call]
        except ValueError:
            return self.construct_scalar(node)  # type: ignore[arg-type]


Loader.add_constructor("tag:yaml.org,2002:timestamp", Loader.construct_yaml_timestamp)


class ConfigurationError(ValueError):
    """A configuration file that cannot be used; the message names the file (and line, field)."""


class Configuration:
    """The configuration files of one version (or of the disk), each parsed at most once."""

    def __init__(self, files: Mapping[str, str], source: str) -> None:
        self.files = dict(files)
        self.source = source  # "version 3 (sha…)" or the directory: for messages
        self._parsed: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return digest.hexdigest()

    def text(self, name: str) -> str:
        if name not in self.files:
            raise ConfigurationError(f"{name}: missing from the configuration ({self.source})")
        return self.files[name]

    def yaml(self, name: str) -> Any:
        try:
            return yaml.load(self.text(name), Loader=Loader)  # a SafeLoader
        except yaml.YAMLError as exc:
            raise ConfigurationError(yaml_problem(name, exc)) from exc

    def get(self, key: str) -> Any:
        """What the loader registered under ``key`` makes of this configuration (computed once)."""
        if key not in self._parsed:
            with self._lock:
                if key not in self._parsed:
                    self._parsed[key] = _loaders[key](self)
        return self._parsed[key]

    def problems(self) -> list[str]:
        """Every file that does not load, one line each (deploy refuses the version then)."""
        found = []
        for key in sorted(_loaders):
            try:
                self.get(key)
            except (ValueError, KeyError, TypeError) as exc:
                found.append(str(exc) if isinstance(exc, ValueError) else f"{key}: {type(exc).__name__}: {exc}")
        return found


_loaders: dict[str, Callable[[Configuration], Any]] = {}


def loader(key: str) -> Callable[[Callable[[Configuration], T]], Callable[[Configuration], T]]:
    """Register how a module reads its part of a configuration (decorator)."""

    def register(function: Callable[[Configuration], T]) -> Callable[[Configuration], T]:
        _loaders[key] = function
        return function

    return register


def load(key: str) -> Any:
    """The part ``key`` of the configuration in effect here."""
    return current().get(key)


# --- which configuration is in effect -------------------------------------------------------------

_active: ContextVar[Configuration | None] = ContextVar("whistle_configuration", default=None)
_resolvers: list[Callable[[], Configuration | None]] = []


def current() -> Configuration:
    """The configuration in effect: the one activated (a case's step runs with its version's), else
    what a resolver finds (the app's latest deployed version during a request), else the disk's."""
    active = _active.get()
    if active is not None:
        return active
    for resolve in _resolvers:
        found = resolve()
        if found is not None:
            return found
    return from_disk()


@contextlib.contextmanager
def activate(configuration: Configuration) -> Iterator[Configuration]:
    token = _active.set(configuration)
    try:
        yield configuration
    finally:
        _active.reset(token)


def add_resolver(resolve: Callable[[], Configuration | None]) -> None:
    if resolve not in _resolvers:
        _resolvers.append(resolve)


# --- where configurations come from -----------------------------------------------------------------

_by_hash: dict[str, Configuration] = {}
_disk: dict[tuple[Path, tuple[tuple[str, int], ...]], Configuration] = {}


def of_files(files: Mapping[str, str], source: str) -> Configuration:
    """The configuration among a version's files (``config/<name>``), shared by content hash."""
    own = {name.removeprefix(PREFIX): text for name, text in files.items() if name.startswith(PREFIX)}
    candidate = Configuration(own, source)
    return _by_hash.setdefault(candidate.content_hash, candidate)


def disk_dir() -> Path:
    return Path(os.environ.get("WHISTLE_CONFIG_DIR") or CONFIG_DIR)


def read_dir(directory: Path, base: Path | None = None) -> dict[str, str]:
    """The configuration files of a directory, as a version stores them (``config/<name>``); the
    files it lacks are taken from ``base`` (a locality pack takes the default's calendar, say)."""
    files: dict[str, str] = {}
    for name in CONFIG_FILES:
        path = directory / name
        if not path.is_file() and base is not None:
            path = base / name
        if path.is_file():
            files[PREFIX + name] = path.read_text(encoding="utf-8")
    return files


def from_disk(directory: Path | None = None) -> Configuration:
    """The files on disk, read again when one changes (an edit takes effect without a restart)."""
    directory = directory or disk_dir()
    paths = [directory / name for name in CONFIG_FILES]
    override = os.environ.get("WHISTLE_LOCALITY_FILE")  # one file replaced (tests, trials)
    if override:
        paths[0] = Path(override)
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in paths if p.is_file())
    key = (directory, stamp)
    cached = _disk.get(key)
    if cached is None:
        files = {name: p.read_text(encoding="utf-8") for name, p in zip(CONFIG_FILES, paths, strict=True)
                 if p.is_file()}
        cached = _disk[key] = Configuration(files, str(directory))
    return cached


def yaml_with_lines(text: str, name: str, error: type[ValueError]) -> tuple[Any, dict[tuple[str, ...], int]]:
    """A YAML text and the line of each key in it; ``error`` (naming the file) when it is not YAML."""
    try:
        return yaml.load(text, Loader=Loader), key_lines(text)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise error(yaml_problem(name, exc)) from exc


def yaml_problem(name: str, exc: yaml.YAMLError) -> str:
    """A YAML syntax error on one line, naming the file and where: "calendar.yaml line 28, column 5:
    not valid YAML: expected ',' or ']' (while parsing a flow sequence)"."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{name} line {mark.line + 1}, column {mark.column + 1}" if mark is not None else name
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line number (1-based) of every mapping key and sequence item of a YAML text, by its path
    (("matters", "3", "lead") → 57): for errors that name the line."""
    return _node_lines(yaml.compose(text, Loader=yaml.SafeLoader))


def where(name: str, lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> str:
    """"catalogue.yaml line 57: matters.3.lead" — the nearest line known for the path."""
    line = next((lines[path[:i]] for i in range(len(path), -1, -1) if path[:i] in lines), 1)
    return f"{name} line {line}: {'.'.join(path) or '(top)'}"


def _node_lines(node: yaml.Node | None, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Line number (1-based) of every mapping key and sequence item, by its path."""
    found: dict[tuple[str, ...], int] = {}
    if node is None:
        return found
    found[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found.update(_node_lines(value, (*path, str(key.value))))
            found[(*path, str(key.value))] = key.start_mark.line + 1  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(_node_lines(item, (*path, str(index))))
    return found
