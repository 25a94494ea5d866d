"""The engine: the only package that imports SpiffWorkflow.

It parses process bundles (cached per content hash), runs scripts in a sandbox, serializes
instance state, advances workflows and reports the READY human tasks.
"""

from .bundle import (
    BundleError,
    ParsedBundle,
    bundle_hash,
    cached_bundle,
    get_bundle,
    parse_bundle,
    read_bundle_dir,
)
from .checks import BundleProblems, check_bundle
from .clock import engine_time
from .history import completed_elements, projection, projection_hash
from .prune import PRUNE_RULE
from .runtime import (
    ElementStates,
    Instance,
    ProcessError,
    ProcessScriptEngine,
    ReadyTask,
    RecordedCalls,
    ReplayDivergence,
    ServiceCalls,
    TaskNotOpen,
    WaitingTimer,
    run_engine_steps,
)
from .serializer import SERIALIZER_VERSION

__all__ = [
    "PRUNE_RULE",
    "SERIALIZER_VERSION",
    "BundleError",
    "BundleProblems",
    "ElementStates",
    "Instance",
    "ParsedBundle",
    "ProcessError",
    "ProcessScriptEngine",
    "ReadyTask",
    "RecordedCalls",
    "ReplayDivergence",
    "ServiceCalls",
    "TaskNotOpen",
    "WaitingTimer",
    "bundle_hash",
    "cached_bundle",
    "check_bundle",
    "completed_elements",
    "engine_time",
    "get_bundle",
    "parse_bundle",
    "projection",
    "projection_hash",
    "read_bundle_dir",
    "run_engine_steps",
]
