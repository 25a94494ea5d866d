"""Keep a looping case's live task tree small: drop the loop iterations the engine no longer needs.

SpiffWorkflow never forgets a task: each time a case loops (a dispatched case sent back 回退 and
re-judged, a whistle returned in review 退回修改, rework 返工) the next iteration's tasks hang
below the last one's, so the tree gets about ten levels deeper per loop. Its recursive walks
(``Task.is_descendant_of``, ``find_ancestor``) then pass Python's recursion limit after ~90 loops
and every step costs time and state in proportion to the case's whole past.

The engine only ever looks at the part of the tree that still holds work: the unfinished tasks
(READY, WAITING, STARTED, predicted) and their ancestors up to the split they started from (a
join finds its split among its ancestors, a boundary event sits beside its activity). Everything
else is finished history, which the audit chain keeps (every step's snapshot and events). So each
(sub)process tree is cut at the deepest COMPLETED task above all unfinished ones: that task is
hung directly below the tree's root and every other finished task, with the subprocesses it ran,
is dropped. The cut depends only on the tree, so a replay that prunes at the same points of the
same steps reaches the same tree (app/engine/history.py hashes the pruned one).

``PRUNE_RULE`` versions this behaviour: a step records the rule it ran with, and replay runs
each step with the rule recorded for it (0: no pruning, what every step before this rule did).

Under a rule, the element ids the case has completed are kept in the state
(``workflow.finished_elements``, stored by app/engine/serializer.py), so where a case has been
survives the pruning of the tasks that went there (the history page reads it from one snapshot).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.simple import TerminateEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

PRUNE_RULE = 1  # the rule new steps run with; recorded with each step's saved state
_DONE = TaskState.COMPLETED | TaskState.CANCELLED


def finished_elements(workflow: BpmnWorkflow) -> dict[str, set[str]]:
    """Completed element ids per diagram process noted in the state (empty before any rule)."""
    found: dict[str, set[str]] | None = getattr(workflow, "finished_elements", None)
    return found if found is not None else {}


def remember_finished(workflow: BpmnWorkflow, completed: dict[str, set[str]]) -> None:
    noted = finished_elements(workflow)
    for process, elements in completed.items():
        noted.setdefault(process, set()).update(elements)
    workflow.finished_elements = noted


def prune(workflow: BpmnWorkflow, rule: int) -> int:
    """Apply pruning rule ``rule`` (0: none) to the workflow and its running subprocesses; the
    number of tasks dropped."""
    if rule == 0:
        return 0
    if rule != PRUNE_RULE:
        raise ValueError(f"unknown pruning rule {rule} (this engine knows 0 and {PRUNE_RULE})")
    dropped = _prune_tree(workflow, workflow)
    for sub in workflow.get_active_subprocesses():
        if sub.parent_task_id in workflow.subprocesses:  # not dropped with an outer iteration
            dropped += _prune_tree(workflow, sub)
    _drop_terminations(workflow)
    return dropped


def _drop_terminations(workflow: BpmnWorkflow) -> None:
    """Each subprocess ending in a terminate end event (a supervised task's, once per loop) leaves
    that event in the workflow's outbox of events nobody inside caught; nothing reads them here."""
    workflow.bpmn_events = [event for event in workflow.bpmn_events
                            if not isinstance(event.event_definition, TerminateEventDefinition)]


def _prune_tree(top: BpmnWorkflow, tree: Any) -> int:
    """Cut one (sub)process tree below its root at its deepest completed common ancestor."""
    root = tree.task_tree
    cut = _cut_point(root, [t for t in tree.tasks.values() if not t.state & _DONE])
    if cut is None or cut is root or cut.parent is root:
        return 0
    keep = _subtree_ids(cut)
    keep.add(root.id)
    gone = [task for task_id, task in tree.tasks.items() if task_id not in keep]
    for task in gone:
        del tree.tasks[task.id]
        top.event_manager.remove_task(task)
    _drop_subprocesses(top, {task.id for task in gone})
    root.children = [cut]
    cut.parent = root
    if tree.last_task is not None and tree.last_task.id not in keep:
        tree.last_task = None
    return len(gone)


def _cut_point(root: Any, unfinished: list[Any]) -> Any:
    """The deepest COMPLETED task that is an ancestor-or-self of every unfinished task."""
    if not unfinished:
        return None
    path = _path_from_root(unfinished[0])
    index = {id(task): i for i, task in enumerate(path)}
    end = len(path)  # path[:end] is common to every unfinished task seen so far
    for task in unfinished[1:]:
        node = task
        while id(node) not in index or index[id(node)] >= end:
            node = node.parent
            if node is None:
                return None  # not in this tree (cannot happen): leave it alone
        end = index[id(node)] + 1
    for task in reversed(path[:end]):
        if task.state == TaskState.COMPLETED:
            return task
    return root


def _path_from_root(task: Any) -> list[Any]:
    path = []
    node = task
    while node is not None:
        path.append(node)
        node = node.parent
    path.reverse()
    return path


def _subtree_ids(task: Any) -> set[Any]:
    ids, stack = set(), [task]
    while stack:
        node = stack.pop()
        ids.add(node.id)
        stack.extend(node.children)
    return ids


def _drop_subprocesses(top: BpmnWorkflow, task_ids: set[Any]) -> None:
    """Forget the subprocesses these (dropped) tasks ran, and the subprocesses those ran."""
    while gone := [sid for sid in top.subprocesses if sid in task_ids]:
        for sid in gone:
            sub = top.subprocesses.pop(sid)
            for task in sub.tasks.values():
                top.event_manager.remove_task(task)
                task_ids.add(task.id)
            task_ids.discard(sid)
