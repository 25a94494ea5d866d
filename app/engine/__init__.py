"""The engine: the only package that imports SpiffWorkflow.

It parses process bundles (cached per content hash), runs scripts in a sandbox, serializes
instance state, advances workflows and reports the READY human tasks.
"""

from .bundle import (
    BundleError,
    ParsedBundle,
    bundle_hash,
    cached_bundle,
    check_bundle,
    get_bundle,
    parse_bundle,
    read_bundle_dir,
)
from .runtime import ElementStates, Instance, ProcessError, ProcessScriptEngine, ReadyTask, TaskNotOpen
from .serializer import SERIALIZER_VERSION

__all__ = [
    "SERIALIZER_VERSION",
    "BundleError",
    "ElementStates",
    "Instance",
    "ParsedBundle",
    "ProcessError",
    "ProcessScriptEngine",
    "ReadyTask",
    "TaskNotOpen",
    "bundle_hash",
    "cached_bundle",
    "check_bundle",
    "get_bundle",
    "parse_bundle",
    "read_bundle_dir",
]
