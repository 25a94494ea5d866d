"""Moving a running case onto another process version (SpiffWorkflow's ``diff_workflow`` and
``migrate_workflow``), the same way live and on replay.

A case can move when every task that is running or done still has its element in the new version
(aligned by element id, else by SpiffWorkflow's structural match) and no task holding a token
changed its kind (a user task that became a script task). The READY and WAITING branches are
predicted again from the new diagrams; a waiting timer whose element is unchanged keeps its due
time (SpiffWorkflow would restart it at the moment of the migration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.util.diff import WorkflowDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from .serializer import spec_registry

# Tasks that hold a token or have run: their element must exist in the new version.
_DEFINITE = TaskState.FINISHED_MASK | TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
_TOKEN = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
_RESET = TaskState.READY | TaskState.WAITING


@dataclass
class MigrationPlan:
    """What moving one workflow onto new specs means: why it cannot, and what changes where."""

    problems: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # elements of tasks holding a token that changed
    top: WorkflowDiff | None = None
    subprocesses: dict[Any, WorkflowDiff | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def plan_migration(workflow: BpmnWorkflow, spec: BpmnProcessSpec,
                   subprocess_specs: dict[str, BpmnProcessSpec]) -> MigrationPlan:
    """Diff a workflow against new specs; the plan's problems say why it cannot move."""
    top, subs = diff_workflow(spec_registry(), workflow, spec, subprocess_specs)
    plan = MigrationPlan(top=top, subprocesses=subs)
    if workflow.spec.name != spec.name:
        plan.problems.append(f"the case runs process '{workflow.spec.name}', the new version starts '{spec.name}'")
    for sp_id, sp_diff in subs.items():
        if sp_diff is None:
            name = workflow.subprocesses[sp_id].spec.name
            plan.problems.append(f"the running subprocess '{name}' is not in the new version")
    for diff in [top, *(d for d in subs.values() if d is not None)]:
        _task_problems(diff, plan)
    return plan


def _task_problems(diff: WorkflowDiff, plan: MigrationPlan) -> None:
    for task in diff.removed:
        if task.state & _DEFINITE:
            plan.problems.append(f"task '{task.task_spec.name}' ({TaskState.get_name(task.state)}) "
                                 "has no element in the new version")
    for task in diff.changed:
        if not task.state & _TOKEN:
            continue
        new = diff.alignment.get(task)
        if new is not None and type(new) is not type(task.task_spec):
            plan.problems.append(f"task '{task.task_spec.name}' ({TaskState.get_name(task.state)}) changed kind: "
                                 f"{type(task.task_spec).__name__} → {type(new).__name__}")
        else:
            plan.changed.append(task.task_spec.name)


def migrate(workflow: BpmnWorkflow, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> None:
    """Move the workflow onto the new specs; raises ValueError naming the problems when it cannot.
    Call it inside the engine's clock (``engine_time``): re-predicted timers start from that now."""
    plan = plan_migration(workflow, spec, subprocess_specs)
    if not plan.ok:
        raise ValueError("; ".join(plan.problems))
    assert plan.top is not None
    due = _timer_due_times(workflow, plan)
    workflow.subprocess_specs = subprocess_specs
    _drop_events(workflow, migrate_workflow(plan.top, workflow, spec))
    for sp_id, sp_diff in plan.subprocesses.items():
        sub = workflow.subprocesses[sp_id]
        assert sp_diff is not None
        _drop_events(workflow, migrate_workflow(sp_diff, sub, subprocess_specs[sub.spec.name]))
    for task in workflow.get_tasks(state=TaskState.WAITING):
        if task.id in due:
            task._set_internal_data(event_value=due[task.id])
    stale = [t.task_spec.name for t in workflow.get_tasks() if _spec_of(t) is not t.task_spec]
    if stale:  # a predicted task outside the re-predicted branches still names an old element
        raise ValueError(f"tasks {sorted(set(stale))} keep elements the new version lacks")


def _timer_due_times(workflow: BpmnWorkflow, plan: MigrationPlan) -> dict[Any, Any]:
    """The due times of the waiting timers whose element did not change."""
    changed = set(plan.changed)
    return {task.id: task._get_internal_data("event_value") for task in workflow.get_tasks(state=TaskState.WAITING)
            if task.task_spec.name not in changed and task._get_internal_data("event_value") is not None}


def _drop_events(workflow: BpmnWorkflow, removed: list[Any]) -> None:
    for task in removed:
        workflow.event_manager.remove_task(task)


def _spec_of(task: Any) -> Any:
    return task.workflow.spec.task_specs.get(task.task_spec.name)
