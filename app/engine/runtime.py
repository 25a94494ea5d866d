"""Running a case: start, load, complete a human task, run engine steps, list READY human tasks.

Every workflow gets the sandboxed script engine on creation AND on every load: SpiffWorkflow does
not serialize the script engine, and a workflow without one silently runs the unrestricted default.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .bundle import ParsedBundle
from .clock import engine_time
from .dataflow import Missing, Position, missing_data
from .isolation import IsolatedEnvironment
from .migration import migrate
from .prune import finished_elements, prune, remember_finished
from .sandbox import SandboxEnvironment, SandboxError
from .serializer import (
    SERIALIZER_VERSION,
    dump_state,
    dump_state_and_projection,
    load_state,
    state_projection_hash,
)
from .timing import timer_value_problem

# SpiffWorkflow logs every task state change at INFO, and while its loggers' own level is unset it
# also collects each task's data and walks the whole task tree for those log records, whether or
# not anything is logged. The case history is the audit record, so these stay at WARNING unless
# they were configured otherwise.
for _name in ("spiff.task", "spiff.workflow"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)

Handler = Callable[..., Any]

# The caller's context (database session, case, actor ...) handed to handlers during a run.
_handler_context: contextvars.ContextVar[Any] = contextvars.ContextVar("whistle_handler_context")
# How service tasks reach their handlers during the run (live and recorded, or answered from a record).
_service_calls: contextvars.ContextVar[ServiceCalls | None] = contextvars.ContextVar(
    "whistle_service_calls", default=None
)


class ProcessError(Exception):
    """The process could not advance. ``cause`` is the original exception (a handler's, a script's)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class TaskNotOpen(ProcessError):
    """The task was completed, cancelled or taken away by a timer in the meantime."""


class ServiceCalls:
    """Live service calls: the handler runs, then ``on_call`` hears what it was asked and answered
    (the service layer records a ``handler_called`` event from it, for every handler alike)."""

    def __init__(self, on_call: Callable[[str, str, dict[str, Any], Any], None] | None = None) -> None:
        self.on_call = on_call

    def call(self, handler: Handler, context: Any, task_name: str, name: str, params: dict[str, Any]) -> Any:
        result = _plain(handler(context, **params))
        if self.on_call is not None:
            self.on_call(task_name, name, _plain(params), result)
        return result


class RecordedCalls(ServiceCalls):
    """Replay: answer each service call from the recorded ones, in order, without calling handlers
    (they write to the database). A call that differs from the record is a divergence."""

    def __init__(self, recorded: list[tuple[str, str, dict[str, Any], Any]]) -> None:
        super().__init__()
        self.recorded = list(recorded)
        self.used = 0

    def call(self, handler: Handler, context: Any, task_name: str, name: str, params: dict[str, Any]) -> Any:
        if self.used >= len(self.recorded):
            raise ReplayDivergence(f"service task '{task_name}' called handler '{name}', which the record lacks")
        want_task, want_name, want_params, result = self.recorded[self.used]
        self.used += 1
        got = (task_name, name, _plain(params))
        if got != (want_task, want_name, want_params):
            raise ReplayDivergence(
                f"service task '{task_name}' called {name}({got[2]}); the record has "
                f"'{want_task}' calling {want_name}({want_params})"
            )
        return result


def _plain(value: Any) -> Any:
    """The value as JSON gives it back: what the engine stores and the audit record keeps."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


class ReplayDivergence(Exception):
    """A replayed run asked for something other than what was recorded."""


class ProcessScriptEngine(PythonScriptEngine):
    """Scripts and expressions run in the sandbox; service tasks can call registered handlers only.

    ``isolated`` (the default): the sandbox runs in a child process (app.engine.isolation), so a
    script that crashes the interpreter or overruns its budget inside one builtin call fails its
    step instead of killing the worker. ``isolated=False`` runs it in this process (tests, tools).
    """

    def __init__(self, handlers: Mapping[str, Handler], time_limit: float = 1.0, isolated: bool = True) -> None:
        environment: SandboxEnvironment | IsolatedEnvironment = (
            IsolatedEnvironment(time_limit=time_limit) if isolated else SandboxEnvironment(time_limit=time_limit)
        )
        super().__init__(environment=environment)
        self.handlers = handlers

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        """As SpiffWorkflow's, and a timer's value is refused when it is absurd (see app.engine.timing)."""
        value = super().evaluate(task, expression, external_context)
        definition = getattr(task.task_spec, "event_definition", None)
        if definition is not None and expression == getattr(definition, "expression", None):
            problem = timer_value_problem(definition, value)
            if problem is not None:
                raise ProcessError(f"task '{task.task_spec.name}': {problem}")
        return value

    def call_service(self, task: Any, operation_name: str = "", operation_params: Any = None, **_: Any) -> str:
        handler = self.handlers.get(operation_name)
        if handler is None:
            raise ProcessError(f"service task '{task.task_spec.name}' calls unknown handler '{operation_name}'")
        params = {name: param["value"] for name, param in (operation_params or {}).items()}
        calls = _service_calls.get() or ServiceCalls()
        result = calls.call(handler, _handler_context.get(None), task.task_spec.name, operation_name, params)
        return json.dumps(result if result is not None else {}, ensure_ascii=False)


# Task states that hold a token: waiting for a person, a timer or a message, or running a (call) subprocess.
_TOKEN_STATES = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


@dataclass(frozen=True)
class ElementStates:
    """Where one process (one diagram) of a case stands, by BPMN element id.

    ``completed``: elements that have run at least once. ``active``: elements holding a token now
    (a READY or WAITING task, a running call activity or subprocess). An element in a loop or a
    multi-instance can be in both. Both are sorted, so equal states compare equal.
    """

    completed: tuple[str, ...]
    active: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"completed": list(self.completed), "active": list(self.active)}


# Task data kept with the inbox row: the department of a multi-instance task, and on a 督办 task the
# open_supervision reply it was opened for (which ledger entry it answers).
CONTEXT_KEYS = ("dept", "supervision")
# The name a dueHours expression reads the configured hours per stage by (calendar.yaml's deadlines).
LIMITS = "limits"


@dataclass(frozen=True)
class ReadyTask:
    """A READY human task, with the properties the diagram gives it evaluated on its data."""

    id: str
    name: str
    title: str
    role: str
    unit: str
    stage: str
    form: str
    due_hours: float | None
    context: dict[str, Any]


@dataclass(frozen=True)
class WaitingTimer:
    """A timer event waiting in a case: its engine task, BPMN id and name, and due time (naive UTC)."""

    id: str
    name: str
    title: str
    due_at: datetime


class Instance:
    """One running case's workflow, bound to its parsed process version."""

    def __init__(self, workflow: BpmnWorkflow, bundle: ParsedBundle, script_engine: ProcessScriptEngine) -> None:
        self.workflow = workflow
        self.bundle = bundle
        self.script_engine = script_engine
        workflow.script_engine = script_engine
        self.prune_rule = 0  # the pruning rule of the last run (recorded with the state it leads to)
        # the text of the stored state it was loaded from or saved as
        self.stored: str | None = None

    @classmethod
    def start(
        cls, bundle: ParsedBundle, process_id: str, data: dict[str, Any], script_engine: ProcessScriptEngine
    ) -> Instance:
        spec, subprocess_specs = bundle.spec(process_id)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
        workflow.data.update(data)
        workflow.task_tree.data.update(data)
        return cls(workflow, bundle, script_engine)

    @classmethod
    def load(
        cls,
        bundle: ParsedBundle,
        process_id: str,
        state: str,
        serializer_version: str,
        script_engine: ProcessScriptEngine,
    ) -> Instance:
        workflow = load_state(state, serializer_version, bundle.spec(process_id))
        return cls(workflow, bundle, script_engine)

    def dump(self) -> tuple[str, str]:
        return dump_state(self.workflow), SERIALIZER_VERSION

    def dump_with_projection(self) -> tuple[str, str, str]:
        """(state, serializer version, projection hash): what a step saves and its replay must match."""
        state, projected = dump_state_and_projection(self.workflow)
        return state, SERIALIZER_VERSION, projected

    def projection_hash(self) -> str:
        return state_projection_hash(self.workflow)

    @property
    def completed(self) -> bool:
        return bool(self.workflow.completed)

    @property
    def data(self) -> dict[str, Any]:
        return self.workflow.data

    def advance(self, context: Any, now: datetime, calls: ServiceCalls | None = None, prune_rule: int = 0) -> None:
        """Fire the timers due at ``now`` (naive UTC), then run every engine task until only human
        tasks or waits remain. ``now`` is the only time the engine sees (the app's clock, or a
        recorded time on replay); ``calls`` records (or, on replay, answers) the handler calls;
        ``prune_rule`` drops finished loop iterations before and after the run (app/engine/prune.py)."""

        def run() -> None:
            self._settle(prune_rule)
            self._engine_steps()
            self._settle(prune_rule)

        self.prune_rule = prune_rule
        self._guarded(context, now, run, calls)

    def complete(
        self, task_id: str, form: dict[str, Any], context: Any, now: datetime, calls: ServiceCalls | None = None,
        prune_rule: int = 0,
    ) -> None:
        """Load → fire due timers → run the task → engine steps. A task that a timer has just
        taken away (an interrupting deadline, say) is no longer open: TaskNotOpen. ``prune_rule``
        as for :meth:`advance`."""

        def run() -> None:
            self._settle(prune_rule)  # before anything walks the tree of a case grown long
            self._engine_steps()
            task = self._ready_task(task_id)
            task.set_data(**form)
            task.run()
            self._engine_steps()
            self._settle(prune_rule)

        self.prune_rule = prune_rule
        self._guarded(context, now, run, calls)

    def cancel(self, context: Any, now: datetime) -> None:
        """End the whole process without a diagram path: every open task and waiting event is
        cancelled (a report merged into another case, or closed as a duplicate of one)."""
        self.prune_rule = 0
        self._guarded(context, now, self.workflow.cancel)

    def migrate(self, bundle: ParsedBundle, now: datetime) -> None:
        """Move the case onto another version's specs (app/engine/migration.py) at ``now``, the
        moment re-predicted timers start from; ProcessError names why it cannot move."""
        try:
            spec, subprocess_specs = bundle.spec(self.workflow.spec.name)
            with engine_time(now):
                migrate(self.workflow, spec, subprocess_specs)
        except (ValueError, KeyError, SpiffWorkflowException) as exc:
            raise ProcessError(str(exc), exc) from exc
        self.bundle = bundle

    def missing_data(self) -> list[Missing]:
        """The data the case's remaining work would read that neither its tokens hold nor any way
        ahead sets (app/engine/dataflow.py): a case migrated past the step that sets it."""
        return missing_data(self.bundle.data_graph(), [self._position(task) for task in self.workflow.get_tasks(
            state=TaskState.READY | TaskState.WAITING)])

    def _position(self, task: Any) -> Position:
        callers = []
        workflow = task.workflow
        while getattr(workflow, "parent_task_id", None) is not None:
            parent = self.workflow.get_task_from_id(workflow.parent_task_id)
            callers.append((parent.workflow.spec.name, parent.task_spec.name))
            workflow = parent.workflow
        return Position(task.workflow.spec.name, task.task_spec.name, frozenset(task.data), tuple(reversed(callers)))

    def waiting_timers(self) -> list[WaitingTimer]:
        """Every timer event waiting in the case (subprocesses included), with its due time."""
        timers = []
        for task in self.workflow.event_manager.tasks.values():
            spec = task.task_spec
            due = task._get_internal_data("event_value")
            if not hasattr(spec.event_definition, "expression") or not isinstance(due, str):
                continue
            moment = datetime.fromisoformat(due)
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            timers.append(WaitingTimer(str(task.id), spec.name, spec.bpmn_name or spec.name, moment))
        return sorted(timers, key=lambda t: (t.due_at, t.id))

    def case_data(self) -> dict[str, Any]:
        """The case's data as its open work sees it: the first READY human task's, else the workflow's."""
        ready = self.workflow.get_tasks(state=TaskState.READY, manual=True)
        return dict(ready[0].data) if ready and not self.completed else dict(self.workflow.data)

    def task_data(self, task_id: str) -> dict[str, Any]:
        return self._ready_task(task_id).data

    def ready_task_ids(self) -> list[str]:
        return [str(task.id) for task in self.workflow.get_tasks(state=TaskState.READY, manual=True)]

    def describe(self, task_id: str, limits: Mapping[str, float] | None = None) -> ReadyTask:
        """A READY human task with the diagram's properties (unit, deadline ...) evaluated; a
        ``dueHours`` expression may read ``limits``, the configured hours per stage
        (``limits['triage']``)."""
        return self._describe(self._ready_task(task_id), limits or {})

    def ready_tasks(self) -> list[ReadyTask]:
        return [self.describe(task_id) for task_id in self.ready_task_ids()]

    def ready_task_names(self) -> list[tuple[str, str]]:
        """(engine task id, BPMN element id) of every READY human task, in tree order."""
        return [(str(t.id), t.task_spec.name) for t in self.workflow.get_tasks(state=TaskState.READY, manual=True)]

    def element_states(self) -> dict[str, ElementStates]:
        """Completed elements and elements holding tokens, per process the case has entered.

        Keyed by BPMN process id (the main process first, then called processes in the order they
        were entered). Elements of an embedded subprocess count for the process whose diagram
        draws them; a call activity's called process gets its own entry, merged over all calls.
        Engine-internal tasks (implicit start/end joins) have no element id and are left out.
        Completed elements include those of the loop iterations pruning has dropped (the state
        keeps their ids), so one state tells where the case has been.
        """
        completed, active = self._live_elements()
        for process, elements in finished_elements(self.workflow).items():
            completed.setdefault(process, set()).update(elements)
            active.setdefault(process, set())
        return {p: ElementStates(tuple(sorted(completed[p])), tuple(sorted(active[p]))) for p in completed}

    def _settle(self, prune_rule: int) -> None:
        """Under a pruning rule: note the completed element ids in the state, then prune."""
        if prune_rule:
            completed, _ = self._live_elements()
            remember_finished(self.workflow, completed)
        prune(self.workflow, prune_rule)

    def _live_elements(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """(completed, active) element ids per diagram process, of the tasks in the live tree."""
        completed: dict[str, set[str]] = {}
        active: dict[str, set[str]] = {}
        owners: dict[Any, str] = {}
        for task in self.workflow.get_tasks():
            element = getattr(task.task_spec, "bpmn_id", None)
            process = self._diagram_process(task.workflow, owners)
            completed.setdefault(process, set())
            active.setdefault(process, set())
            if element is None:
                continue
            if task.state == TaskState.COMPLETED:
                completed[process].add(element)
            elif task.state & _TOKEN_STATES:
                active[process].add(element)
        return completed, active

    def _diagram_process(self, workflow: Any, owners: dict[Any, str]) -> str:
        """The id of the process whose diagram draws this (sub)workflow's elements."""
        key = id(workflow)
        if key not in owners:
            parent_id = getattr(workflow, "parent_task_id", None)
            if parent_id is None:
                owners[key] = workflow.spec.name
            else:
                parent = self.workflow.get_task_from_id(parent_id)
                called = isinstance(parent.task_spec, CallActivity)
                owners[key] = workflow.spec.name if called else self._diagram_process(parent.workflow, owners)
        return owners[key]

    def _engine_steps(self) -> None:
        run_engine_steps(self.workflow)

    def _ready_task(self, task_id: str) -> Any:
        try:
            task = self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, SpiffWorkflowException):
            task = None
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotOpen(f"task {task_id} is not open in this case")
        return task

    def _guarded(
        self, context: Any, now: datetime, work: Callable[[], None], calls: ServiceCalls | None = None
    ) -> None:
        token = _handler_context.set(context)
        calls_token = _service_calls.set(calls)
        try:
            with engine_time(now):
                work()
        except ProcessError:
            raise
        except Exception as exc:  # a script, condition or handler failed: report its root cause
            cause = _root_cause(exc)
            if isinstance(cause, ProcessError):
                raise cause from exc
            raise ProcessError(_describe_error(exc, cause), cause) from exc
        finally:
            _service_calls.reset(calls_token)
            _handler_context.reset(token)

    def _describe(self, task: Any, limits: Mapping[str, float]) -> ReadyTask:
        spec = task.task_spec
        props: dict[str, str] = spec.extensions.get("properties", {})
        due = props.get("dueHours")
        keys = (*CONTEXT_KEYS, *context_keys(props))
        context = {key: task.data[key] for key in keys if key in task.data}
        return ReadyTask(
            id=str(task.id),
            name=spec.name,
            title=spec.bpmn_name or spec.name,
            # A task inside a subprocess sits in the subprocess's lane; "role" names another (督办).
            role=str(self._evaluate(task, props["role"])) if "role" in props else spec.lane or "",
            unit=str(self._evaluate(task, props["unit"])) if "unit" in props else _no_unit(spec.name),
            stage=props.get("stage", ""),
            form=props.get("formJsonSchemaFilename", ""),
            due_hours=float(self._evaluate(task, due, {LIMITS: dict(limits)})) if due else None,
            context=context,
        )

    def _evaluate(self, task: Any, expression: str, extra: dict[str, Any] | None = None) -> Any:
        try:
            return self.script_engine.evaluate(task, expression, extra)
        except Exception as exc:
            raise ProcessError(f"task '{task.task_spec.name}': cannot evaluate '{expression}': {exc}", exc) from exc


def context_keys(props: dict[str, str]) -> list[str]:
    """The variables a user task's ``contextKeys`` property names (comma-separated): the task row keeps
    their values when it becomes ready, for its page to show (the proposed departments, the whistle's
    summary, a return's reason) and to prefill its form with."""
    return [key.strip() for key in props.get("contextKeys", "").split(",") if key.strip()]


def _no_unit(task_name: str) -> str:
    raise ProcessError(f"task '{task_name}' has no 'unit' property: the diagram must say whose task it is")


def run_engine_steps(workflow: BpmnWorkflow) -> None:
    """Fire the due timers, then run every READY engine task until only human tasks or waits remain.

    Timers first: a due timer only becomes READY on refresh, and must run in this same step. This is
    ``BpmnWorkflow.do_engine_steps`` with one fix: when an interrupting boundary event cancels a
    multi-instance subprocess, SpiffWorkflow 3.2 goes on to look up the instances it has just
    deleted (TaskNotFoundException); here those are skipped.
    """
    workflow.refresh_timers()
    while _engine_pass(workflow):
        _drop_orphans(workflow)
    _drop_orphans(workflow)
    workflow.refresh_timers()


def _drop_orphans(workflow: BpmnWorkflow) -> None:
    """Forget subprocesses (and their waiting events) whose task a cancellation has removed."""
    while orphans := [sid for sid in workflow.subprocesses if _task_or_none(workflow, sid) is None]:
        for sid in orphans:
            gone = workflow.subprocesses.pop(sid)
            for task in gone.get_tasks():
                workflow.event_manager.remove_task(task)


def _engine_pass(workflow: BpmnWorkflow) -> bool:
    def run_ready(wf: Any) -> int:
        count = 0
        for task in wf.get_tasks(state=TaskState.READY):
            if not task.task_spec.manual:
                task.run()
                count += 1
        return count

    active = workflow.get_active_subprocesses()
    for subprocess in sorted(active, key=lambda sp: sp.depth, reverse=True):
        task = _task_or_none(workflow, subprocess.parent_task_id)
        if task is None or task.state == TaskState.CANCELLED:
            continue  # cancelled by an interrupting event earlier in this pass
        while run_ready(subprocess) > 0:
            pass
        task = _task_or_none(workflow, subprocess.parent_task_id)
        if task is not None:
            task.task_spec._update(task)
    count = run_ready(workflow)
    return count > 0 or len(workflow.get_active_subprocesses()) > len(active)


def _task_or_none(workflow: BpmnWorkflow, task_id: UUID) -> Any:
    try:
        return workflow.get_task_from_id(task_id)
    except SpiffWorkflowException:
        return None


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "exception", None) or current.__cause__ or current.__context__
        if not isinstance(inner, BaseException):
            break
        if isinstance(current, (ProcessError, SandboxError)) and not isinstance(inner, ProcessError):
            break
        current = inner
    return current


def _describe_error(exc: BaseException, cause: BaseException) -> str:
    task = getattr(exc, "task", None) or getattr(cause, "task", None)
    where = f"task '{task.task_spec.name}': " if task is not None else ""
    return f"{where}{cause}"
