"""Re-execution proof: re-run a case from its record and check every step reaches the recorded state.

The run starts from the ``process_started`` event (process id and start data) on the process
version pinned by the case, then feeds each step what the record says happened in it:

* a ``task_completed`` step completes the recorded task (its engine task id is mapped to the
  replayed one through the ``task_ready`` events, which name the new READY tasks of each step in
  tree order) with the recorded form data;
* a step without a completion (a timer, once issue 4 records ``timer_fired``) just advances;
* a ``case_migrated`` step moves the replayed instance onto the version the migration names
  (app/engine/migration.py, as the live step did at the recorded moment), then advances; the
  steps after it run on that version;
* every service task is answered from the step's ``handler_called`` events, in order: handlers are
  never called (they write to the database); a call with another handler or other parameters
  than recorded is a divergence.

After each step the replayed state's normalized projection (app/engine/history.py: task tree,
states and data, without the random task ids and wall-clock stamps) must hash to the
``projection_hash`` the step recorded in its ``state_saved`` event; the first step that does not
is reported, with the first task whose data or state differs from the stored snapshot.

Time: the engine sees only the "now" it is given. Each step records its one moment in its
``state_saved`` event (``at``); the replay runs the step at that moment, so the timers that fired in
it (a reminder, a 督办 boundary, an escalation) fire again, and no others.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.versions import bundle_of
from app.engine import Instance, ProcessError, RecordedCalls, ReplayDivergence, projection
from app.models import Case, Event
from app.services import snapshots
from app.services.workflow import script_engine


@dataclass
class Divergence:
    step: int
    seq: int | None
    message: str


@dataclass
class ReplayResult:
    case_id: int
    number: str
    steps: int = 0
    engine_steps: int = 0
    ok: bool = True
    divergence: Divergence | None = None
    # The replay could not run a step (an engine limit, say): ``ok`` is False, but the record is
    # not contradicted, so this is no divergence.
    error: Divergence | None = None
    ms: float = 0.0
    cpu_ms: float = 0.0  # CPU time of this process: what the machine's other load does not inflate
    step_times: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        found = self.divergence or self.error
        if found is None:
            return f"case {self.case_id} ({self.number}): {self.steps} steps replayed, no divergence"
        where = f" seq {found.seq}" if found.seq is not None else ""
        what = "divergence" if self.divergence else "replay error (not a divergence)"
        return f"case {self.case_id} ({self.number}) step {found.step}{where}: {what}: {found.message}"


class _Diverged(Exception):
    def __init__(self, step: int, seq: int | None, message: str) -> None:
        super().__init__(message)
        self.divergence = Divergence(step, seq, message)


class _Failed(Exception):
    """The replay itself could not run a step (an engine limit, a bug): not a divergence."""

    def __init__(self, step: int, seq: int | None, message: str) -> None:
        super().__init__(message)
        self.error = Divergence(step, seq, message)


# Failures of the engine itself rather than of the recorded process: a step that ran live and hits
# one of these in the replay says nothing about whether the record is true.
ENGINE_LIMITS = (RecursionError, MemoryError)


def replay_case(session: Session, case_id: int, events: list[Event] | None = None) -> ReplayResult:
    """Replay one case from its events (or from ``events`` given, e.g. a dossier's)."""
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"case {case_id} not found")
    if events is None:
        events = list(session.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.seq)))
    result = ReplayResult(case.id, case.number)
    started, cpu = time.perf_counter(), time.process_time()
    try:
        _replay(session, case, events, result)
    except _Diverged as exc:
        result.ok, result.divergence = False, exc.divergence
    except _Failed as exc:
        result.ok, result.error = False, exc.error
    result.ms = round((time.perf_counter() - started) * 1000, 2)
    result.cpu_ms = round((time.process_time() - cpu) * 1000, 2)
    return result


def _replay(session: Session, case: Case, events: list[Event], result: ReplayResult) -> None:
    current = events[0].process_version_id if events else case.process_version_id
    bundle = bundle_of(session, current or case.process_version_id)
    instance: Instance | None = None
    mapped: dict[str, str] = {}  # recorded engine task id → replayed one
    for version, group in itertools.groupby(events, key=lambda e: e.state_version or 0):
        step = list(group)
        result.steps += 1
        moved_to = _step_version(version, step, current)
        if moved_to != current:  # a migration step: from here on the case runs on the new version
            current, bundle = moved_to, bundle_of(session, moved_to or 0)
        try:
            instance = _replay_step(session, case, bundle, instance, version, step, mapped, result)
        except (_Diverged, _Failed):
            raise
        except Exception as exc:  # the replay broke, not the record: say so, accuse nobody
            raise _Failed(version, step[0].seq, f"the replay could not run this step "
                                                f"({type(exc).__name__}: {exc})") from exc
    if current != case.process_version_id:
        raise _Diverged(result.steps, None, f"the events end on process version {current}, "
                                            f"the case is pinned to {case.process_version_id}")


def _step_version(version: int, step: list[Event], current: int | None) -> int | None:
    """The process version a step runs on: the one before it, unless the step is a recorded
    migration (``case_migrated``) from that version to another."""
    found = {e.process_version_id for e in step}
    migrated = next((e for e in step if e.type == "case_migrated"), None)
    expected = migrated.data.get("to_version_id") if migrated is not None else current
    if migrated is not None and migrated.data.get("from_version_id") != current:
        raise _Diverged(version, migrated.seq, f"the migration starts from process version "
                                               f"{migrated.data.get('from_version_id')}, the case ran on {current}")
    if found != {expected}:
        raise _Diverged(version, step[0].seq, f"events name process versions {sorted(v or 0 for v in found)}, "
                                              f"the case ran on {expected}")
    return expected


def _replay_step(session: Session, case: Case, bundle: Any, instance: Instance | None, version: int,
                 step: list[Event], mapped: dict[str, str], result: ReplayResult) -> Instance | None:
    """Run one recorded step and check it reaches the recorded projection; the instance after it."""
    saved = next((e for e in step if e.type == "state_saved"), None)
    if saved is None:
        if any(e.type in ("process_started", "task_completed", "handler_called", "process_cancelled") for e in step):
            raise _Diverged(version, step[0].seq, "the step changed the process but saved no state")
        return instance  # a claim, assignment or give-back: the engine state did not change
    result.step_times.append(step_time(step).isoformat())
    instance = _run_step(bundle, instance, version, step, mapped, int(saved.data.get("prune") or 0))
    result.engine_steps += 1
    replayed = instance.projection_hash()
    if replayed != saved.data.get("projection_hash"):
        detail = _first_difference(session, case.id, version, instance.dump()[0])
        recorded = str(saved.data.get("projection_hash"))
        raise _Diverged(version, saved.seq, f"the replayed state{_after(step)} differs from the recorded one "
                                            f"(projection {replayed[:12]}… ≠ {recorded[:12]}…){detail}")
    _map_ready(instance, version, step, mapped)
    return instance


def _after(step: list[Event]) -> str:
    completed = next((e for e in step if e.type == "task_completed"), None)
    return f" after task '{completed.data.get('task')}'" if completed is not None else ""


def step_time(step: list[Event]) -> datetime:
    """The recorded "now" of a step: the moment its ``state_saved`` event names, else (records
    older than that field) when its timer fired, else when its first event happened."""
    for event in step:
        if event.type == "state_saved" and isinstance(event.data.get("at"), str):
            return datetime.fromisoformat(event.data["at"])
    for event in step:
        if event.type == "timer_fired" and isinstance(event.data.get("fired_at"), str):
            return datetime.fromisoformat(event.data["fired_at"].removesuffix("Z"))
    return step[0].created_at


def _run_step(bundle: Any, instance: Instance | None, version: int, step: list[Event],
              mapped: dict[str, str], prune_rule: int) -> Instance:
    calls = RecordedCalls([(e.data.get("task"), e.data.get("handler"), e.data.get("params"), e.data.get("result"))
                           for e in step if e.type == "handler_called"])
    started = next((e for e in step if e.type == "process_started"), None)
    completed = next((e for e in step if e.type == "task_completed"), None)
    cancelled = any(e.type == "process_cancelled" for e in step)
    migrated = any(e.type == "case_migrated" for e in step)
    now = step_time(step)
    try:
        if migrated and instance is not None:  # the step that moved the case (its bundle is the new one)
            instance.migrate(bundle, now)
            instance.advance(None, now, calls, prune_rule)
        elif started is not None:
            instance = Instance.start(bundle, started.data["process"], started.data["data"], script_engine())
            instance.advance(None, now, calls, prune_rule)
        elif instance is None:
            raise _Diverged(version, step[0].seq, "the record does not start with a process_started event")
        elif cancelled:
            instance.cancel(None, now)
        elif completed is not None:
            recorded_id = completed.data.get("engine_task_id")
            if recorded_id not in mapped:
                raise _Diverged(version, completed.seq,
                                f"task '{completed.data.get('task')}' ({recorded_id}) was never ready in the replay")
            instance.complete(mapped[recorded_id], completed.data.get("form") or {}, None, now, calls, prune_rule)
        else:
            instance.advance(None, now, calls, prune_rule)
    except ProcessError as exc:
        seq = (completed or step[0]).seq
        if isinstance(exc.cause, ENGINE_LIMITS):  # the engine gave out: no evidence against the record
            raise _Failed(version, seq, f"the engine could not run this step: {exc}") from exc
        cause = exc.cause if isinstance(exc.cause, ReplayDivergence) else exc
        raise _Diverged(version, seq, f"the replay failed: {cause}") from exc
    if calls.used != len(calls.recorded):
        missing = calls.recorded[calls.used]
        raise _Diverged(version, step[0].seq, f"the record has {len(calls.recorded)} handler calls, the replay made "
                                              f"{calls.used}: '{missing[0]}' calling {missing[1]} did not happen")
    return instance


def _map_ready(instance: Instance, version: int, step: list[Event], mapped: dict[str, str]) -> None:
    """Pair the step's recorded task_ready events with the replay's new READY tasks, in order."""
    known = set(mapped.values())
    new = [(tid, name) for tid, name in instance.ready_task_names() if tid not in known]
    recorded = [e for e in step if e.type == "task_ready"]
    got = [name for _, name in new]
    want = [e.data.get("task") for e in recorded]
    if got != want:
        seq = recorded[0].seq if recorded else step[-1].seq
        raise _Diverged(version, seq, f"the replay opened tasks {got}, the record {want}")
    for event, (tid, _) in zip(recorded, new, strict=True):
        mapped[event.data["engine_task_id"]] = tid


def _first_difference(session: Session, case_id: int, version: int, state: str) -> str:
    """Name the first task whose state or data differ from the stored snapshot of the step."""
    recorded_state = snapshots.state(session, case_id, version)
    if recorded_state is None:
        return ""
    (mine, my_data), (theirs, their_data) = projection(state), projection(recorded_state)
    for index, (a, b) in enumerate(zip(mine, theirs, strict=False)):
        if a != b:
            recorded, replayed = _differing(b, a)
            return (f"; first difference at task #{index} '{b[1]}': recorded {_short(recorded)}, "
                    f"replayed {_short(replayed)}")
    if len(mine) != len(theirs):
        return f"; the replay has {len(mine)} tasks, the record {len(theirs)}"
    if my_data != their_data:
        return "; the workflow data differ"
    return ""


def _differing(recorded: list[Any], replayed: list[Any]) -> tuple[Any, Any]:
    """The parts of two projected tasks ``[depth, element, state, triggered, data, delta]`` that
    differ: state and flags, else only the data keys that differ (a task can carry the whole case
    data, e.g. the first one kept when finished iterations were pruned)."""
    if recorded[:4] != replayed[:4]:
        return recorded[1:4], replayed[1:4]
    mine: dict[str, Any] = {**recorded[4], **recorded[5]["updates"], "(deleted)": recorded[5]["deletions"]}
    theirs: dict[str, Any] = {**replayed[4], **replayed[5]["updates"], "(deleted)": replayed[5]["deletions"]}
    keys = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    return {k: mine.get(k) for k in keys}, {k: theirs.get(k) for k in keys}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "…"


def replay_all(session: Session, case_ids: list[int] | None = None) -> list[ReplayResult]:
    ids = case_ids if case_ids is not None else list(session.scalars(select(Case.id).order_by(Case.id)))
    return [replay_case(session, case_id) for case_id in ids]
