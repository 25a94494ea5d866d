"""吹哨全留痕: verify the hash chains, read a case's history step by step, replay it, export it.

* ``verify``: every chain (one per case, plus ``system`` for events of no case) is walked in
  ``seq`` order; each event's hash is recomputed from its content, its ``prev_hash`` must be the
  hash of the event before it, ``seq`` must run 1, 2, 3 … without a gap, and the last hash must be
  the head kept on the case (and the count the case's ``event_count``). The first broken link is
  reported with its case, seq and what did not match. With ``snapshots`` it also checks each stored
  snapshot against the hashes its step's ``state_saved`` event put into the chain.
* ``history`` / ``state_at``: the events grouped into steps (one step = one state version), and the
  state after step k opened from its snapshot: open tasks, who held them, case data, diagram
  element states. Nothing is re-run.
* ``replay`` (see :mod:`app.services.replay`) re-runs the process from the record.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Row, Select, Text, cast, func, select
from sqlalchemy.orm import Session

from app.definitions.versions import bundle_of
from app.engine import SERIALIZER_VERSION, Instance, completed_elements
from app.models import AuditChain, Case, CaseUnit, Event, Snapshot, Task, Unit
from app.services import chain, snapshots
from app.services.anchor import ChainKey, Mark
from app.services.auth import Principal
from app.services.cases import iso, visible
from app.services.errors import Forbidden, Invalid, NotFound
from app.services.journal import SYSTEM_CHAIN
from app.services.workflow import script_engine

# The stored data text itself, not its parsed value: it is the canonical JSON the hash covers.
_COLUMNS = [getattr(Event, name) for name in chain.HASHED_COLUMNS if name != "data"] + [
    cast(Event.data, Text).label("data_text"), Event.hash]


@dataclass
class Break:
    """The first broken link of a chain."""

    chain: str  # "case 12 (20261121-000012)" or "system"
    case_id: int | None
    seq: int | None
    problem: str  # altered | reordered | missing | link | head | count | snapshot | anchor
    message: str

    def line(self) -> str:
        where = f"{self.chain} seq {self.seq}" if self.seq is not None else self.chain
        return f"{where}: {self.problem}: {self.message}"


@dataclass
class Verification:
    ok: bool = True
    chains: int = 0
    events: int = 0
    snapshots: int = 0
    root: str = ""  # SHA-256 over every chain's head: one value to publish or file as an anchor
    first_break: Break | None = None
    # Chains that no longer hold what an anchor filed (app/services/anchor.py): every one is listed.
    anchor_breaks: list[Break] = field(default_factory=list)
    anchored: int = 0  # chains checked against an anchor
    _heads: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_heads")
        broken = self.first_break
        out["first_break"] = (asdict(broken) | {"line": broken.line()}) if broken else None
        out["anchor_breaks"] = [asdict(b) | {"line": b.line()} for b in self.anchor_breaks]
        return out

    def anchor_break(self, problem: Break) -> None:
        self.ok = False
        self.anchor_breaks.append(problem)


# --- verify ------------------------------------------------------------------------------------


def verify(session: Session, case_ids: Iterable[int] | Select[Any] | None = None, snapshots: bool = False,
           system: bool = True, marks: Mapping[ChainKey, Mark] | None = None) -> Verification:
    """Verify the chains of the given cases (ids, a select of ids, or all when None) and of the
    system chain, stopping at the first broken link. With ``marks`` (an anchor ledger's), each
    verified chain must also still hold its anchored head at its anchored length, and (verifying
    all) every anchored case must still exist; every mismatch is listed."""
    result = Verification()
    marks = marks or {}
    wanted = case_ids if case_ids is None or isinstance(case_ids, Select) else sorted(set(case_ids))
    cases = _case_heads(session, wanted)
    if system:
        head = session.get(AuditChain, SYSTEM_CHAIN)
        rows = session.connection().execute(select(*_COLUMNS).where(Event.case_id.is_(None)).order_by(Event.seq))
        _record(result, _walk(SYSTEM_CHAIN, None, rows, head.head if head else "", head.length if head else 0,
                              result, marks.get(SYSTEM_CHAIN)))
    events = select(*_COLUMNS).where(Event.case_id.is_not(None)).order_by(Event.case_id, Event.seq)
    if wanted is not None:
        events = events.where(Event.case_id.in_(wanted))
    stream = session.connection().execute(events.execution_options(yield_per=5000))
    grouped = itertools.groupby(stream, key=lambda r: r.case_id)
    current = next(grouped, None)
    for case in cases.values():  # in id order, as the events stream
        if result.first_break is not None:
            break
        while current is not None and current[0] < case.id:  # events of a case that does not exist
            _record(result, Break(f"case {current[0]}", current[0], None, "missing", "events of an unknown case"))
            current = next(grouped, None)
        rows: Iterable[Any] = []
        if current is not None and current[0] == case.id:
            rows = current[1]
        _verify_chain(session, case, rows, result, marks.get(case.id), snapshots)
        if rows:
            current = next(grouped, None)
    if wanted is None:
        _anchored_cases_exist(result, marks, cases)
    _root(result)
    if result.first_break is None and result.anchor_breaks:
        result.first_break = result.anchor_breaks[0]
    return result


def _verify_chain(session: Session, case: Any, rows: Iterable[Any], result: Verification,
                  mark: Mark | None = None, snapshots: bool = True) -> None:
    """One case's chain (and its snapshots) from its event rows in seq order."""
    collected: list[Any] = []
    problem = _walk(_label(case), case.id, _collecting(rows, collected), case.chain_head, case.event_count,
                    result, mark)
    if problem is None and snapshots:
        problem = _check_snapshots(session, case, collected, result)
    _record(result, problem)


def _root(result: Verification) -> None:
    result.root = hashlib.sha256("\n".join(result._heads).encode()).hexdigest()


def _anchored_cases_exist(result: Verification, marks: Mapping[ChainKey, Mark], cases: dict[int, Any]) -> None:
    for key, mark in marks.items():
        if key != SYSTEM_CHAIN and key not in cases:
            result.anchor_break(Break(f"case {key}", int(key), None, "anchor",
                                      f"{mark.where()} filed {mark.length} events of this case, but the case "
                                      "no longer exists (it was deleted)"))


def _case_heads(session: Session, wanted: list[int] | Select[Any] | None) -> dict[int, Any]:
    query = select(Case.id, Case.number, Case.chain_head, Case.event_count).order_by(Case.id)
    if wanted is not None:
        query = query.where(Case.id.in_(wanted))
    cases = {row.id: row for row in session.execute(query)}
    if isinstance(wanted, list) and (missing := [c for c in wanted if c not in cases]):
        raise NotFound(f"case {missing[0]} not found")
    return cases


def _collecting(rows: Iterable[Any], into: list[Any]) -> Iterator[Any]:
    for row in rows:
        into.append(row)
        yield row


def _label(case: Any) -> str:
    return f"case {case.id} ({case.number})"


def _record(result: Verification, problem: Break | None) -> None:
    result.chains += 1
    if problem is not None:
        _fail(result, problem)


def _fail(result: Verification, problem: Break) -> None:
    result.ok = False
    if result.first_break is None:
        result.first_break = problem


def _walk(label: str, case_id: int | None, rows: Iterable[Any], head: str, count: int,
          result: Verification, mark: Mark | None = None) -> Break | None:
    prev, expected = chain.GENESIS, 1
    if mark is not None:
        result.anchored += 1
    for row in rows:
        if row.seq != expected:
            if row.seq > expected:
                return Break(label, case_id, expected, "missing",
                             f"seq {expected} is missing: the chain jumps from seq {expected - 1} to {row.seq} "
                             "(an event was deleted)")
            return Break(label, case_id, row.seq, "reordered", f"seq {row.seq} appears twice or out of order")
        computed = _hash(row, row.seq)
        if computed != row.hash:
            moved = _recorded_seq(row)
            if moved is not None:
                return Break(label, case_id, row.seq, "reordered",
                             f"the event stored at seq {row.seq} was recorded as seq {moved} "
                             "(events were reordered)")
            return Break(label, case_id, row.seq, "altered",
                         f"its content does not match its hash (stored {row.hash[:16]}…, computed {computed[:16]}…): "
                         f"the {row.type} event was changed after it was recorded")
        if row.prev_hash != prev:
            return Break(label, case_id, row.seq, "link",
                         f"prev_hash {row.prev_hash[:16]}… is not the hash of seq {expected - 1} ({prev[:16]}…): "
                         "an event before it was removed, replaced or reordered")
        if mark is not None and row.seq == mark.length and row.hash != mark.head:
            result.anchor_break(Break(label, case_id, row.seq, "anchor",
                                      f"the chain up to seq {row.seq} is not what {mark.where()} filed (its hash "
                                      f"there is {row.hash[:16]}…, filed {mark.head[:16]}…): the record up to "
                                      "that event was rewritten after it was anchored"))
        prev, expected = row.hash, expected + 1
        result.events += 1
    last = expected - 1
    if mark is not None and last < mark.length:
        result.anchor_break(Break(label, case_id, None, "anchor",
                                  f"{mark.where()} filed {mark.length} events, the chain now has {last}: events "
                                  f"after seq {last} that were recorded before that anchor were removed"))
    if (count or 0) != last:
        return Break(label, case_id, None, "count",
                     f"the chain has {last} events but {count} were recorded: events after seq {last} are missing")
    if (head or chain.GENESIS) != prev:
        return Break(label, case_id, None, "head",
                     f"the head kept for the chain ({(head or '—')[:16]}…) is not the hash of its last event "
                     f"seq {last} ({prev[:16] or '—'}…)")
    result._heads.append(f"{case_id if case_id is not None else SYSTEM_CHAIN}:{prev}")
    return None


def _hash(row: Any, seq: int) -> str:
    return chain.text_hash(row.case_id, seq, row.type, row.actor, row.actor_id, row.role, row.unit_id,
                           row.process_version_id, row.state_version, row.created_at, row.data_text, row.prev_hash)


def _recorded_seq(row: Any) -> int | None:
    """The seq this event's hash was computed with, if it is another one (a reordering)."""
    for seq in range(max(1, row.seq - 50), row.seq + 51):
        if seq != row.seq and _hash(row, seq) == row.hash:
            return seq
    return None


def _check_snapshots(session: Session, case: Any, events: list[Any], result: Verification) -> Break | None:
    """Each snapshot must hash to what its step's state_saved event recorded, and each such event
    must have its snapshot."""
    saved = {e.state_version: e for e in events if e.type == "state_saved"}
    label = _label(case)
    rows = session.execute(
        select(Snapshot.state_version, Snapshot.state, Snapshot.is_delta, Snapshot.state_hash,
               Snapshot.projection_hash)
        .where(Snapshot.case_id == case.id).order_by(Snapshot.state_version)
    ).all()
    try:
        return _check_snapshot_rows(case, rows, saved, result)
    except snapshots.Unreadable as exc:
        event = saved.get(exc.version)
        return Break(label, case.id, event.seq if event else None, "snapshot",
                     f"the snapshot of step {exc.version} cannot be read: {exc}")


def _check_snapshot_rows(case: Any, rows: Sequence[Any], saved: dict[int | None, Any],
                         result: Verification) -> Break | None:
    label = _label(case)
    for snap, text in zip(rows, snapshots.texts(rows), strict=True):
        event = saved.pop(snap.state_version, None)
        if event is None:
            return Break(label, case.id, None, "snapshot",
                         f"the snapshot of step {snap.state_version} has no state_saved event in the chain")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        recorded = json.loads(event.data_text)
        if digest != recorded.get("state_hash") or snap.state_hash != digest:
            return Break(label, case.id, event.seq, "snapshot",
                         f"the snapshot of step {snap.state_version} does not match the state hash its step recorded")
        if snap.projection_hash != recorded.get("projection_hash"):
            return Break(label, case.id, event.seq, "snapshot",
                         f"the snapshot of step {snap.state_version} carries another projection hash than recorded")
        result.snapshots += 1
    if saved:
        version = min(saved)
        return Break(label, case.id, saved[version].seq, "snapshot", f"the snapshot of step {version} is missing")
    return None


def require_auditor(principal: Principal) -> None:
    if not principal.can("audit"):
        raise Forbidden("verifying the record needs a role that audits (the auditor's, the admin's)")


def verify_case(session: Session, case: Case, rows: Sequence[Any]) -> Verification:
    """``verify([case.id], snapshots=True, system=False)`` over the case's event rows already read
    (with ``data_text`` and ``hash``): what a view of its history shows, without a second read."""
    result = Verification()
    _verify_chain(session, case, rows, result)
    _root(result)
    return result


def verify_view(session: Session, principal: Principal, case_id: Any) -> dict[str, Any]:
    """GET /api/audit/verify: one case (with its snapshots), or every case the user may see."""
    require_auditor(principal)
    if case_id is None:
        scope = select(CaseUnit.case_id).where(CaseUnit.unit_id.in_(principal.visible_units or {-1}))
        return verify(session, scope).as_dict()
    try:
        number = int(case_id)
    except (TypeError, ValueError):
        raise Invalid("'case' must be a case id", {"case": "must be an integer"}) from None
    visible(session, principal, number)
    return verify(session, [number], snapshots=True, system=False).as_dict()


# --- history -----------------------------------------------------------------------------------


# An event as the views read it: the ORM object, or a row of the columns below.
RecordedEvent = Event | Row[Any]
# What verify hashes (the data's stored text) and its parsed value: one read serves both.
_VIEWED = [*_COLUMNS, Event.data]


def event_view(event: RecordedEvent, units: dict[int, Unit]) -> dict[str, Any]:
    return {
        "seq": event.seq, "type": event.type, "actor": event.actor, "role": event.role,
        "unit": units[event.unit_id].code if event.unit_id in units else None, "at": iso(event.created_at),
        "state_version": event.state_version, "process_version_id": event.process_version_id,
        "data": event.data, "prev_hash": event.prev_hash, "hash": event.hash,
    }


@dataclass
class CaseRecord:
    """A visible case with its events and the units they name, each read once per view."""

    case: Case
    events: list[RecordedEvent]
    units: dict[int, Unit]

    def events_of_steps(self, first: int, last: int) -> list[dict[str, Any]]:
        """The events of steps ``first``–``last`` (a page's window), as the history shows them."""
        return [event_view(e, self.units) for e in self.events if first <= (e.state_version or 0) <= last]

    def task_titles(self) -> dict[str, str]:
        """Task type → its title, as the case's "task ready" events name them."""
        return {e.data["task"]: e.data.get("title", e.data["task"]) for e in self.events
                if e.type == "task_ready" and isinstance(e.data, dict) and "task" in e.data}


def record_of(session: Session, principal: Principal, case_id: int) -> CaseRecord:
    """The case (404 unless this user may see it) and its record, for one view."""
    case = visible(session, principal, case_id)
    return CaseRecord(case, _events(session, case), _units(session))


def _events(session: Session, case: Case) -> list[RecordedEvent]:
    """The case's events as plain rows (several times cheaper than ORM objects for a long case)."""
    return list(session.execute(select(*_VIEWED).where(Event.case_id == case.id).order_by(Event.seq)))


def _units(session: Session) -> dict[int, Unit]:
    return {u.id: u for u in session.scalars(select(Unit))}


def steps_of(events: Sequence[RecordedEvent]) -> list[dict[str, Any]]:
    """One step per state version: when, who, what kind (the first event's type), its events."""
    steps = []
    for version, group in itertools.groupby(events, key=lambda e: e.state_version):
        items = list(group)
        saved = next((e for e in items if e.type == "state_saved"), None)
        main = next((e for e in items if e.type in ("task_completed", "process_started", "timer_fired")), items[0])
        steps.append({
            "step": version, "at": iso(items[0].created_at), "actor": main.actor, "kind": main.type,
            "task": main.data.get("task") if main.type == "task_completed" else None,
            "events": [e.seq for e in items], "snapshot": saved is not None,
            "state_hash": saved.data.get("state_hash") if saved else None,
            "projection_hash": saved.data.get("projection_hash") if saved else None,
        })
    return steps


def case_header(case: Case) -> dict[str, Any]:
    return {
        "id": case.id, "number": case.number, "title": case.title, "process_id": case.process_id,
        "process_version": case.process_version.version, "process_version_id": case.process_version_id,
        "status": case.status, "outcome": case.outcome, "created_at": iso(case.created_at),
        "event_count": case.event_count, "chain_head": case.chain_head, "state_version": case.version,
    }


def history(session: Session, principal: Principal, case_id: int) -> dict[str, Any]:
    record = record_of(session, principal, case_id)
    return history_of(session, record) | {"events": [event_view(e, record.units) for e in record.events]}


def history_of(session: Session, record: CaseRecord) -> dict[str, Any]:
    """The case's header, its chain's verification (snapshots included) and its steps."""
    case = record.case
    return {
        "case": case_header(case),
        "verification": verify_case(session, case, record.events).as_dict(),
        "steps": steps_of(record.events),
    }


Elements = dict[str, dict[str, list[str]]]  # process id → {"completed": [...], "active": [...]}


def state_at(session: Session, principal: Principal, case_id: int, step: int) -> dict[str, Any]:
    """The case right after step ``step``, from the snapshots: nothing is re-run."""
    return state_of(session, record_of(session, principal, case_id), step)


def state_of(session: Session, record: CaseRecord, step: int) -> dict[str, Any]:
    """The case right after step ``step`` of an already read record."""
    case, units = record.case, record.units
    _check_step(case, step)
    saved = {e.state_version: bool(e.data.get("prune")) for e in record.events if e.type == "state_saved"}
    instance, last, elements, state = _opened_at(session, case, step, saved)
    events = [e for e in record.events if (e.state_version or 0) <= step]
    return {
        "case": case_header(case),
        "step": step,
        "snapshot_step": last.state_version,
        "at": iso(events[-1].created_at) if events else None,
        "state_hash": last.state_hash,
        "projection_hash": last.projection_hash,
        "snapshot_intact": hashlib.sha256(state.encode("utf-8")).hexdigest() == last.state_hash,
        "completed": instance.completed,
        "open_tasks": _open_tasks(session, instance, events, units),
        "data": instance.case_data(),
        "elements": elements,
        "events": record.events_of_steps(step, step),
    }


def elements_at(session: Session, principal: Principal, case_id: int, step: int) -> tuple[Case, Elements]:
    """Only the diagram's element states after step ``step`` (what diagram data needs): reads the
    steps' saved-state records, not every event of the case."""
    case = visible(session, principal, case_id)
    _check_step(case, step)
    saved = {version: bool(data.get("prune")) for version, data in session.execute(
        select(Event.state_version, Event.data).where(
            Event.case_id == case.id, Event.type == "state_saved", Event.state_version <= step))}
    return case, _opened_at(session, case, step, saved)[2]


def _check_step(case: Case, step: int) -> None:
    if step < 1 or step > case.version:
        raise NotFound(f"case {case.number} has no step {step} (its steps are 1–{case.version})")


def _opened_at(session: Session, case: Case, step: int, saved: dict[int | None, bool]
               ) -> tuple[Instance, Snapshot, Elements, str]:
    """The snapshot in force at ``step`` opened, and the element states it and the earlier
    snapshots it needs (below) give."""
    versions = _versions_to_open(session, case, step, saved)
    if not versions:
        raise NotFound(f"case {case.number} has no saved state at step {step}")
    found = snapshots.snapshot_at(session, case.id, versions[-1])
    if found is None:
        raise NotFound(f"case {case.number} has no saved state at step {step}")
    last, state = found
    bundle = bundle_of(session, case.process_version_id)
    instance = _open(bundle, case.process_id, state, last.serializer_version)
    elements = {pid: states.to_dict() for pid, states in instance.element_states().items()}
    earlier = _completed_in(session, case, bundle, versions[:-1])
    for pid, ids in earlier.items():
        states = elements.setdefault(pid, {"completed": [], "active": []})
        states["completed"] = sorted(ids.union(states["completed"]))
    return instance, last, elements, state


def _versions_to_open(session: Session, case: Case, step: int, saved: dict[int | None, bool]) -> list[int]:
    """The snapshots that tell where the case had been by ``step``: the last one at or before it,
    which under a pruning rule notes every element completed so far (app/engine/prune.py), and
    every earlier snapshot of a step recorded without one (elements of its finished subprocesses
    are only there). ``saved``: step → whether it was recorded under a pruning rule."""
    last = session.scalar(select(func.max(Snapshot.state_version)).where(
        Snapshot.case_id == case.id, Snapshot.state_version <= step))
    if last is None:
        return []
    if not saved.get(last):  # ``saved`` comes in the database's row order: sorted, last at the end
        return sorted(v for v in saved if v is not None and v <= last)
    return [*sorted(v for v, pruned in saved.items() if v is not None and v < last and not pruned), last]


class _CompletedMemo:
    """Completed element ids per snapshot, by its state hash: a step recorded before pruning needs
    those of every earlier such step (quadratic over a case's views), and a snapshot never
    changes (append-only; an edited one still shows in verify), so each is read once per process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: dict[str, dict[str, frozenset[str]]] = {}
        self.lock = threading.Lock()  # threaded workers share it

    def get(self, state_hash: str) -> dict[str, frozenset[str]] | None:
        return self.items.get(state_hash)

    def put(self, state_hash: str, completed: dict[str, set[str]]) -> dict[str, frozenset[str]]:
        frozen = {pid: frozenset(ids) for pid, ids in completed.items()}
        with self.lock:
            if len(self.items) >= self.size:  # oldest first (dicts keep insertion order)
                del self.items[next(iter(self.items))]
            self.items[state_hash] = frozen
        return frozen


_MEMO = _CompletedMemo(20_000)


def _completed_in(session: Session, case: Case, bundle: Any, versions: list[int]) -> dict[str, set[str]]:
    """The union of the completed element ids of these snapshots (old steps only: none under a
    pruning rule), each read from its JSON (app/engine/history.py) or the memo."""
    if not versions:
        return {}
    rows = session.execute(select(Snapshot.state_version, Snapshot.state_hash, Snapshot.serializer_version).where(
        Snapshot.case_id == case.id, Snapshot.state_version.in_(versions))).all()
    known = {row.state_version: _MEMO.get(row.state_hash) for row in rows}
    if missing := [row for row in rows if known[row.state_version] is None]:
        states = snapshots.states(session, case.id, [row.state_version for row in missing])
        for row in missing:
            completed = _completed_of(bundle, case.process_id, states[row.state_version], row.serializer_version)
            known[row.state_version] = _MEMO.put(row.state_hash, completed)
    union: dict[str, set[str]] = {}
    for found in known.values():
        for pid, ids in (found or {}).items():
            union.setdefault(pid, set()).update(ids)
    return union


def _completed_of(bundle: Any, process_id: str, state: str, serializer_version: str) -> dict[str, set[str]]:
    if serializer_version != SERIALIZER_VERSION:  # an older format: the serializer migrates it
        opened = _open(bundle, process_id, state, serializer_version)
        return {pid: set(states.completed) for pid, states in opened.element_states().items()}
    return completed_elements(state, *bundle.spec(process_id))


def _open(bundle: Any, process_id: str, state: str, serializer_version: str) -> Instance:
    return Instance.load(bundle, process_id, state, serializer_version, script_engine())


def _open_tasks(
    session: Session, instance: Instance, events: list[RecordedEvent], units: dict[int, Unit]
) -> list[dict[str, Any]]:
    """The READY human tasks of the snapshot, with their inbox row and who held each then."""
    ready = instance.ready_task_names()
    rows = {t.engine_task_id: t for t in session.scalars(
        select(Task).where(Task.engine_task_id.in_([engine_id for engine_id, _ in ready])))} if ready else {}
    holders = holders_from(events)
    out = []
    for engine_id, element in ready:
        row = rows.get(engine_id)
        out.append({
            "engine_task_id": engine_id, "task_type": element, "id": row.id if row else None,
            "title": row.title if row else element, "role": row.role if row else None,
            "unit": units[row.unit_id].code if row and row.unit_id in units else None,
            "holder": holders.get(row.id) if row else None,
        })
    return out


def holders_from(events: Iterable[RecordedEvent]) -> dict[int, str | None]:
    """Inbox task id → the user holding it after these events (claims, assignments, give-backs)."""
    holders: dict[int, str | None] = {}
    for e in events:
        task_id = e.data.get("task_id") if isinstance(e.data, dict) else None
        if e.type == "task_claimed":
            holders[task_id] = e.actor
        elif e.type == "task_assigned":
            holders[task_id] = e.data.get("assignee")
        elif e.type == "task_unclaimed":
            holders[task_id] = None
    return holders
