"""Whole-lifecycle benchmark: the app's service layer against bare SpiffWorkflow on the same diagrams.

``python -m bench.lifecycle [--cases 200] [--database-url URL] [--pg] [--seed 1] [--mem-cases 25]
[--profile FILE]``

For each backend, in one process:

1. **App path.** A fresh database (Alembic migrations, the demo organisation, ``processes/``
   deployed), then ``--cases`` realistic cases pushed to varied end states by
   :class:`app.services.simulate.Simulator`: every human task completion is one unit of work
   through the real services (load state → run → save state → inbox rows → events → commit),
   done by a user holding the task's role in its unit. Each task's form data is recorded.
2. **Bare path.** The same diagrams parsed once with ``SpiffBpmnParser``, run in memory by the
   default ``PythonScriptEngine`` (subclassed only to answer service tasks with canned replies
   equivalent to the handlers, no database), replaying exactly the recorded cases: same start
   data, same task sequence, same form data. After the start and after every task the workflow
   goes through a full ``BpmnWorkflowSerializer`` (``SPIFF_CONFIG``, specs included)
   ``serialize_json`` → ``deserialize_json`` round trip, as a plain SpiffWorkflow app storing
   its workflows would do. The two paths alternate case by case (each case through the app, then
   its bare replay), so a noisy machine's background load hits both alike.
3. Cost per completed human task of each path (wall time of the whole lifecycles, filing and
   starts included, divided by the human tasks), their ratio, tracemalloc peaks (from a separate
   ``--mem-cases`` pass, so tracing does not distort the timings), ru_maxrss, and the stored state
   size per case (``cases.state``) against the bare serializer's JSON.

This module may import SpiffWorkflow directly: the bare path is the baseline, not app code.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import pstats
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.cli import run_migrations
from app.db import Database, temporary_postgres_database
from app.definitions.versions import bundle_of, deploy_directory, latest_version
from app.models import Case, Task
from app.services.cases import process_data
from app.services.catalogue import load_catalogue
from app.services.locality import load_locality
from app.services.org import load_organisation
from app.services.simulate import Scenario, Simulator
from app.settings import ROOT

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROCESSES = ROOT / "processes"
ORG_FILE = ROOT / "config" / "demo_org.yaml"
MB = 1024 * 1024

Specs = dict[str, tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]]


# ------------------------------------------------------------------------------------------------
# App path: the real services, driven by the simulator, recording what it does
# ------------------------------------------------------------------------------------------------


@dataclass
class CaseTrace:
    """One case as the app ran it: its process, start data and the human tasks completed in order."""

    case_id: int
    process: str
    data: dict[str, Any]
    steps: list[tuple[str, str | None, dict[str, Any]]]  # (task type, department code or None, form)
    children: list[CaseTrace] = field(default_factory=list)  # escalated whistles, started by a task


class RecordingSimulator(Simulator):
    """The app's simulator, also recording start data and every form it submits (for the bare replay).

    The start data of a case is read right after filing, in its own short transaction; that time is
    kept in ``overhead`` and subtracted from the app's timing.
    """

    def __init__(self, db: Database, seed: int) -> None:
        super().__init__(db, seed)
        self.roots: list[int] = []
        self.start_data: dict[int, dict[str, Any]] = {}
        self.forms: dict[int, list[tuple[str, str | None, dict[str, Any]]]] = defaultdict(list)
        self.overhead = 0.0

    def file(self, scenario: Scenario) -> int:
        case_id = super().file(scenario)
        began = time.perf_counter()
        self.roots.append(case_id)
        with self.db.unit_of_work() as s:
            case = s.get(Case, case_id)
            assert case is not None
            self.start_data[case_id] = process_data(case) | {
                "self_handled": scenario.grade == 1,
                "direct_whistle_level": None,
            }
        self.overhead += time.perf_counter() - began
        return case_id

    def form(self, task: Task, sc: Scenario, nth: int, case: Case) -> dict[str, Any]:
        data = super().form(task, sc, nth, case)
        dept = (task.context or {}).get("dept") or {}
        self.forms[case.id].append((task.task_type, dept.get("code"), dict(data)))
        return data

    def traces(self, roots: list[int] | None = None) -> list[CaseTrace]:
        """The recorded cases (all, or these), escalated whistles attached to the case that escalated them."""
        with self.db.unit_of_work() as s:

            def build(case: Case, data: dict[str, Any]) -> CaseTrace:
                trace = CaseTrace(case.id, case.process_id, data, list(self.forms.get(case.id, [])))
                children = s.scalars(select(Case).where(Case.parent_case_id == case.id).order_by(Case.id)).all()
                for child in children:
                    # cases.start_escalated_whistle: the source's data plus level, escalated_from, grade
                    child_data = process_data(child) | {"level": child.level, "escalated_from": case.number,
                                                         "grade": 3}
                    trace.children.append(build(child, child_data))
                return trace

            return [build(s.get(Case, cid), self.start_data[cid])  # type: ignore[arg-type]
                    for cid in (self.roots if roots is None else roots)]


def _all_cases(traces: list[CaseTrace]) -> Iterator[CaseTrace]:
    for trace in traces:
        yield trace
        yield from _all_cases(trace.children)


def setup_database(url: str) -> Database:
    """Migrations, the demo organisation and processes/ deployed: what tests/conftest.py does."""
    run_migrations(url)
    db = Database(url)
    with db.unit_of_work() as s:
        load_organisation(s, ORG_FILE)
        deploy_directory(s, PROCESSES, "bench")
    with db.unit_of_work() as s:  # parse the bundle now: a worker does it once, not per case
        bundle_of(s, latest_version(s).id)  # type: ignore[union-attr]
    return db


@dataclass
class AppRun:
    seconds: float
    tasks: int
    ends: dict[str, int]
    traces: list[CaseTrace]


def stored_state_bytes(db: Database, traces: list[CaseTrace]) -> list[int]:
    """Bytes (UTF-8) of cases.state of every case of these traces, escalated whistles included."""
    ids = [t.case_id for t in _all_cases(traces)]
    with db.unit_of_work() as s:
        states = s.scalars(select(Case.state).where(Case.id.in_(ids))).all()
    return [len(state.encode("utf-8")) for state in states]


# ------------------------------------------------------------------------------------------------
# Bare path: SpiffWorkflow alone, in memory, canned service replies, full serializer round trips
# ------------------------------------------------------------------------------------------------


def parse_specs(directory: Path = PROCESSES) -> Specs:
    parser = SpiffBpmnParser()
    parser.add_bpmn_files(sorted(str(p) for p in directory.glob("*.bpmn")))
    parser.add_dmn_files(sorted(str(p) for p in directory.glob("*.dmn")))
    return {pid: (parser.get_spec(pid), parser.get_subprocess_specs(pid)) for pid in ("case", "whistle")}


class CannedServices:
    """Replies equivalent to handlers/*.py, computed from the organisation and catalogue files."""

    def __init__(self) -> None:
        raw = yaml.safe_load(ORG_FILE.read_text(encoding="utf-8"))
        self.names = {u["code"]: u["name"] for u in raw["units"]}
        self.parents = {u["code"]: u.get("parent") for u in raw["units"]}
        self.catalogue = load_catalogue()
        self.escalations = 0

    def lookup_catalogue(self, data: dict[str, Any], matter: str, urgent: bool = False) -> dict[str, Any]:
        entry = self.catalogue.matter(matter)
        assert entry is not None, matter
        codes = [entry.lead, *entry.cooperating]
        return {
            "matter": entry.code, "name": entry.name, "class": entry.klass, "situation": entry.situation,
            "lead": entry.lead,
            "departments": [{"code": c, "name": self.names[c], "duty": "lead" if c == entry.lead else "cooperating"}
                            for c in codes],
            "report_in_hours": entry.report_in_hours_urgent if urgent else entry.report_in_hours,
            "handle_hours": entry.handle_hours,
        }

    def whistle_units(self, data: dict[str, Any], level: str) -> dict[str, Any]:
        whistle = data[level]
        above = self.parents.get(whistle) or whistle
        return {"whistle": whistle, "filing": above, "verifier": above, "district": data["district"],
                "review_chain": list(load_locality().levels[level].review_chain)}

    def dispatch_case(self, data: dict[str, Any], department: str) -> dict[str, Any]:
        return {"department": department, "dispatched_at": _now().isoformat()}

    def record_report_in(self, data: dict[str, Any], department: str, duty: str, photos: list[str] | None = None,
                         location: str | None = None) -> dict[str, Any]:
        return {"on_time": True}

    def record_division(self, data: dict[str, Any], division: list[dict[str, Any]] | None,
                        summoned: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return division or []

    def set_handling_deadlines(self, data: dict[str, Any], stage: str, hours: float | None,
                               division: list[dict[str, Any]] | None,
                               summoned: list[dict[str, Any]]) -> dict[str, Any]:
        general = self.set_deadline(data, stage, hours)  # no 分工 in the bench: every department the same
        return {**general, "departments": {str(d["code"]): {**general, "task": None, "due_date": None}
                                           for d in summoned}}

    def return_to_department(self, data: dict[str, Any], department: str, reason: str,
                             summoned: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [d for d in summoned if d.get("code") == department]

    def record_evaluation(self, data: dict[str, Any], department: str, comment: str | None = None,
                          **scores: int) -> dict[str, Any]:
        return {"score": round(sum(scores.values()) / len(scores), 2)}

    def record_satisfaction(self, data: dict[str, Any], satisfaction: str, comment: str | None = None,
                            resolution: str | None = None) -> dict:
        return {}

    def escalate_whistle(self, data: dict[str, Any], level: str, reason: str | None = None) -> dict[str, Any]:
        self.escalations += 1
        return {"case_number": f"{_now():%Y%m%d}-E{self.escalations:05d}", "case_id": -self.escalations}

    def close_case(self, data: dict[str, Any], outcome: str, reason: str | None = None) -> dict[str, Any]:
        return {}

    def set_deadline(self, data: dict[str, Any], stage: str, hours: float | None = None) -> dict[str, Any]:
        # plain hours from now (the working-time arithmetic is not part of the engine comparison)
        at = {"remind": 0.8, "due": 1.0, "escalate": 2.0}
        moments = {k: (_now() + timedelta(hours=(hours or 8) * f)).replace(tzinfo=UTC).isoformat()
                   for k, f in at.items()}
        return {"stage": stage, "hours": hours, "start": _now().replace(tzinfo=UTC).isoformat(), **moments}

    def send_reminder(self, data: dict[str, Any], stage: str, unit: str, task: str) -> dict[str, Any]:
        return {"notified": 0}

    def open_supervision(self, data: dict[str, Any], stage: str, unit: str, task: str, due: str) -> dict[str, Any]:
        return {"entry": 0}

    def adjust_departments(self, data: dict[str, Any], proposed: list[dict[str, Any]], add: list[str],
                           remove: list[str], reason: str | None = None) -> list[dict[str, Any]]:
        return [d for d in proposed if d["code"] not in remove] + [
            {"code": c, "name": self.names[c], "duty": "cooperating"} for c in add]

    def record_whistle_started(self, data: dict[str, Any], summoned: list[dict[str, Any]]) -> dict[str, Any]:
        return {"at": _now().isoformat(), "departments": [d["code"] for d in summoned]}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class BareScriptEngine(PythonScriptEngine):
    """The default script engine; service tasks answered by the canned services."""

    def __init__(self, services: CannedServices) -> None:
        super().__init__()
        self.services = services

    def call_service(self, task: Any, operation_name: str = "", operation_params: Any = None, **_: Any) -> str:
        params = {name: p["value"] for name, p in (operation_params or {}).items()}
        result = getattr(self.services, operation_name)(task.data, **params)
        return json.dumps(result, ensure_ascii=False)


class BareRunner:
    """A plain SpiffWorkflow app: every step loads the stored JSON, runs, and stores JSON again.

    With ``round_trip=False`` the workflow stays in memory between steps: the engine's own cost,
    reported for reference only.
    """

    def __init__(self, specs: Specs, round_trip: bool = True) -> None:
        self.specs = specs
        self.round_trip = round_trip
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.engine = BareScriptEngine(CannedServices())
        self.tasks = 0
        self.completed = 0
        self.sizes: list[int] = []

    def _store(self, workflow: BpmnWorkflow) -> Any:
        return self.serializer.serialize_json(workflow) if self.round_trip else workflow

    def _load(self, state: Any) -> BpmnWorkflow:
        if not self.round_trip:
            return state
        workflow = self.serializer.deserialize_json(state)
        workflow.script_engine = self.engine  # the script engine is not serialized
        return workflow

    def start(self, process: str, data: dict[str, Any]) -> tuple[Any, bool]:
        spec, subprocess_specs = self.specs[process]
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.engine)
        workflow.data.update(data)
        workflow.task_tree.data.update(data)
        workflow.refresh_timers()
        workflow.do_engine_steps()
        return self._store(workflow), workflow.completed

    def step(self, state: Any, name: str, dept: str | None, form: dict[str, Any]) -> tuple[Any, bool]:
        workflow = self._load(state)
        task = next(
            (t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
             if t.task_spec.name == name and (dept is None or (t.data.get("dept") or {}).get("code") == dept)),
            None,
        )
        if task is None:
            raise AssertionError(f"bare replay: task {name} ({dept}) is not ready")
        task.set_data(**form)
        task.run()
        workflow.refresh_timers()
        workflow.do_engine_steps()
        self.tasks += 1
        return self._store(workflow), workflow.completed

    def replay(self, trace: CaseTrace) -> None:
        state, completed = self.start(trace.process, trace.data)
        for name, dept, form in trace.steps:
            state, completed = self.step(state, name, dept, form)
        self.completed += completed
        if self.round_trip:
            self.sizes.append(len(state.encode("utf-8")))
        for child in trace.children:
            self.replay(child)

    def spec_bytes(self) -> int:
        """Bytes of the specs inside one serialized 'case' workflow (the same in every state)."""
        spec, subprocess_specs = self.specs["case"]
        dct = json.loads(self.serializer.serialize_json(BpmnWorkflow(spec, subprocess_specs)))
        return len(json.dumps(dct["spec"])) + len(json.dumps(dct["subprocess_specs"]))


@dataclass
class BareRun:
    seconds: float
    tasks: int
    completed: int
    sizes: list[int]
    spec_bytes: int


def run_bare(specs: Specs, traces: list[CaseTrace], round_trip: bool = True) -> BareRun:
    runner = BareRunner(specs, round_trip)
    gc.collect()
    began = time.perf_counter()
    for trace in traces:
        runner.replay(trace)
    seconds = time.perf_counter() - began
    return BareRun(seconds, runner.tasks, runner.completed, runner.sizes, runner.spec_bytes())


def run_interleaved(db: Database, specs: Specs, cases: int, seed: int) -> tuple[AppRun, BareRun, BareRun]:
    """Both paths case by case: each case through the app, then replayed bare (with the serializer
    round trips, then the engine alone). Background load on a noisy machine hits both paths alike."""
    sim = RecordingSimulator(db, seed)
    bare, engine = BareRunner(specs), BareRunner(specs, round_trip=False)
    app_s = bare_s = engine_s = 0.0
    ends: Counter[str] = Counter()
    traces: list[CaseTrace] = []
    gc.collect()
    for _ in range(cases):
        overhead, began = sim.overhead, time.perf_counter()
        summary = sim.run(1)  # the simulator's random stream is the same as for one run(cases)
        app_s += time.perf_counter() - began - (sim.overhead - overhead)
        ends.update(summary["ends"])
        (trace,) = sim.traces(sim.roots[-1:])
        traces.append(trace)
        began = time.perf_counter()
        bare.replay(trace)
        bare_s += time.perf_counter() - began
        began = time.perf_counter()
        engine.replay(trace)
        engine_s += time.perf_counter() - began
    spec_bytes = bare.spec_bytes()
    return (
        AppRun(app_s, sim.steps, dict(sorted(ends.items())), traces),
        BareRun(bare_s, bare.tasks, bare.completed, bare.sizes, spec_bytes),
        BareRun(engine_s, engine.tasks, engine.completed, engine.sizes, spec_bytes),
    )


# ------------------------------------------------------------------------------------------------
# One backend, both paths
# ------------------------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    cases: int
    workflows: int  # cases plus the escalated whistles they started
    tasks: int
    app_s: float
    bare_s: float
    app_ms: float
    bare_ms: float
    ratio: float
    app_peak_mb: float
    bare_peak_mb: float
    maxrss_mb: float
    app_state_bytes: float
    bare_state_bytes: float
    bare_spec_bytes: int
    engine_ms: float  # bare engine without any serialization, for reference
    ends: dict[str, int]

    @property
    def engine_ratio(self) -> float:
        """The app's cost per task against the engine's own in memory (issue 17's goal: ≤ 3×)."""
        return self.app_ms / self.engine_ms if self.engine_ms else float("inf")


def traced_peak(work: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``work`` under tracemalloc; its result and the peak of traced memory in MB."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak / MB


def run_backend(url: str, backend: str, cases: int, seed: int = 1, mem_cases: int = 25,
                specs: Specs | None = None) -> Result:
    """Both paths on one database URL (which gets migrations, the demo org and processes/)."""
    specs = specs or parse_specs()
    db = setup_database(url)
    try:
        app, bare, engine_only = run_interleaved(db, specs, cases, seed)
        if bare.tasks != app.tasks:
            raise AssertionError(f"bare replay completed {bare.tasks} tasks, the app {app.tasks}")
        workflows = list(_all_cases(app.traces))
        closed = sum(v for k, v in app.ends.items() if k.startswith("closed:"))
        if bare.completed != closed:
            raise AssertionError(f"bare replay finished {bare.completed} workflows, the app closed {closed}")
        app_sizes = stored_state_bytes(db, app.traces)

        # Memory: a separate, smaller pass of each path under tracemalloc (tracing slows code a lot).
        mem = max(1, min(mem_cases, cases))
        mem_sim = RecordingSimulator(db, seed + 1)
        _, app_peak = traced_peak(lambda: mem_sim.run(mem))
        mem_traces = mem_sim.traces()
        _, bare_peak = traced_peak(lambda: run_bare(specs, mem_traces))
    finally:
        db.dispose()
    return Result(
        backend=backend,
        cases=cases,
        workflows=len(workflows),
        tasks=app.tasks,
        app_s=app.seconds,
        bare_s=bare.seconds,
        app_ms=1000 * app.seconds / max(app.tasks, 1),
        bare_ms=1000 * bare.seconds / max(bare.tasks, 1),
        ratio=app.seconds / bare.seconds if bare.seconds else float("inf"),
        app_peak_mb=app_peak,
        bare_peak_mb=bare_peak,
        maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        app_state_bytes=sum(app_sizes) / max(len(app_sizes), 1),
        bare_state_bytes=sum(bare.sizes) / max(len(bare.sizes), 1),
        bare_spec_bytes=bare.spec_bytes,
        engine_ms=1000 * engine_only.seconds / max(engine_only.tasks, 1),
        ends=app.ends,
    )


@contextlib.contextmanager
def temp_sqlite() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="whistle-bench-")
    try:
        yield f"sqlite:///{Path(directory) / 'bench.db'}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def fresh_postgres(base_url: str = PG_URL) -> contextlib.AbstractContextManager[str]:
    """A new, empty PostgreSQL database for the run, dropped afterwards."""
    return temporary_postgres_database(base_url, "whistle_bench")


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------

COLUMNS = [
    ("backend", "{}", "backend"),
    ("cases", "{}", "cases"),
    ("tasks", "{}", "tasks"),
    ("total s app", "{:.1f}", "app_s"),
    ("total s bare", "{:.1f}", "bare_s"),
    ("ms/task app", "{:.2f}", "app_ms"),
    ("ms/task bare", "{:.2f}", "bare_ms"),
    ("app/bare", "{:.2f}×", "ratio"),
    ("ms/task engine", "{:.2f}", "engine_ms"),
    ("app/engine", "{:.1f}×", "engine_ratio"),
    ("tracemalloc peak app MB", "{:.1f}", "app_peak_mb"),
    ("bare MB", "{:.1f}", "bare_peak_mb"),
    ("ru_maxrss MB", "{:.0f}", "maxrss_mb"),
    ("state B/case app", "{:,.0f}", "app_state_bytes"),
    ("bare JSON B/case", "{:,.0f}", "bare_state_bytes"),
]


def table(results: list[Result]) -> str:
    """A Markdown table, one row per backend."""
    rows = [[fmt.format(getattr(r, attr)) for _, fmt, attr in COLUMNS] for r in results]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, (name, _, _) in enumerate(COLUMNS)]
    lines = ["| " + " | ".join(name.ljust(w) for (name, _, _), w in zip(COLUMNS, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"]
    for row in rows:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes(results: list[Result], mem_cases: int) -> str:
    lines = []
    for r in results:
        lines.append(
            f"{r.backend}: {r.cases} cases + {r.workflows - r.cases} escalated whistles, {r.tasks} human tasks; "
            f"ends {r.ends}"
        )
        lines.append(
            f"  bare JSON includes ≈{r.bare_spec_bytes:,} B of specs per state; app state stores none "
            f"(ratio of state sizes app/bare {r.app_state_bytes / r.bare_state_bytes:.2f})"
        )
        lines.append(
            f"  reference: the bare engine alone (no serializer, workflow kept in memory) {r.engine_ms:.2f} ms/task"
        )
    lines.append(f"tracemalloc peaks come from a separate traced pass of {mem_cases} case(s) per path; "
                 "ru_maxrss is the whole process so far.")
    return "\n".join(lines)


def profile_app(url: str, cases: int, seed: int, out: str | None, top: int = 30) -> str:
    """cProfile of the app path alone (a separate run; profiling distorts the timings above)."""
    db = setup_database(url)
    try:
        sim = Simulator(db, seed)
        profiler = cProfile.Profile()
        profiler.enable()
        sim.run(cases)
        profiler.disable()
    finally:
        db.dispose()
    if out:
        profiler.dump_stats(out)
    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="cases to file and drive (default 200)")
    parser.add_argument("--database-url", help="database for the app path (default: a fresh temp SQLite file)")
    parser.add_argument("--pg", action="store_true", help=f"also run on a fresh database at {PG_URL}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mem-cases", type=int, default=25, help="cases of the tracemalloc pass (default 25)")
    parser.add_argument("--profile", metavar="FILE", help="also cProfile the app path; write stats to FILE")
    args = parser.parse_args(argv)

    specs = parse_specs()
    results: list[Result] = []
    backends: list[tuple[str, Callable[[], contextlib.AbstractContextManager[str]]]] = [
        (
            "sqlite" if not args.database_url else make_url(args.database_url).get_backend_name(),
            (lambda: contextlib.nullcontext(args.database_url)) if args.database_url else temp_sqlite,
        )
    ]
    if args.pg:
        backends.append(("postgresql", fresh_postgres))
    for backend, database in backends:
        with database() as url:
            print(f"… {backend}: {args.cases} cases", file=sys.stderr, flush=True)
            results.append(run_backend(url, backend, args.cases, args.seed, args.mem_cases, specs))
    print(table(results))
    print()
    print(notes(results, max(1, min(args.mem_cases, args.cases))))
    if args.profile:
        with temp_sqlite() as url:
            print(profile_app(url, args.cases, args.seed, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
