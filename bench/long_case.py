"""Long cases (issue 18): one case looped again and again; step cost, state size and history page per 10 loops.

``python -m bench.long_case [--returns 100] [--reworks 0] [--review-returns 50] [--pg] [--database-url URL]
[--prune-rule 0] [--recursion-limit N]``

On a fresh database (migrations, the demo organisation, ``processes/``) one grade-2 case is filed
and driven through the real services (each step its own unit of work, as through the API):

1. ``--returns`` send-back loops (回退): the department returns the dispatched case, the platform
   re-judges it as grade 2 again (2 steps per loop);
2. ``--reworks`` rework loops (返工): handled, verification finds it not fixed (2 steps per loop);
3. then it is returned once more, re-judged as a community whistle (grade 3), and
   ``--review-returns`` review loops (退回修改): prepared, returned by the section head (2 steps).

Every 10 loops it prints the mean wall time of the last 10 loops' steps, the engine state's size
(JSON and compressed snapshot) and tree depth, the history services' time at the last step
(``audit.history`` + ``audit.state_at``) and the auditor's history page with its diagram data,
fetched through the Flask test client, at that step (``page ms``) and at the middle step (``mid ms``),
with the SQL statements of the last-step view (``page SQL``). At the end: ``replay`` and ``verify`` of the case.
The figures are what to compare between lines: flat means a case can loop as often as it must.

``--prune-rule 0`` records the case as before pruning existed (app/engine/prune.py), to compare
in one run; with it the engine passes Python's recursion limit after ~90 send-backs unless
``--recursion-limit`` raises it (the "raise limits" option of the issue).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from app import create_app
from app.db import Database, temporary_postgres_database
from app.models import Case, Task, User
from app.services import audit, tasks
from app.services import workflow as workflow_service
from app.services.auth import Principal, principal_for, users_holding
from app.services.cases import file_report
from app.services.errors import ServiceError
from app.services.replay import replay_case
from app.settings import Settings
from bench.served import prepare_database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
GRID = "dc-s1-c1-g1"
MATTER = "public_toilet_fault"  # one department (环卫), grade 2
FORMS: dict[str, dict[str, Any]] = {
    "triage": {"grade": 2, "matter": MATTER, "urgent": False},
    "triage_whistle": {"grade": 3, "matter": "illegal_advertising", "level": "community", "urgent": False},
    "returned": {"action": "returned", "reason": "不属于本部门职责"},
    "handled": {"action": "handled", "result": "已处置"},
    "not_fixed": {"fixed": False, "note": "仍有问题"},
    "prepare_whistle": {"summary": "反复退回的吹哨", "situation": "enforcement"},
    "review_return": {"decision": "return", "reason": "材料需补充"},
}


@dataclass
class Line:
    phase: str
    loops: int
    steps: int
    step_ms: float
    state_kb: float
    snapshot_kb: float
    depth: int
    history_ms: float
    page_ms: float
    middle_ms: float
    page_sql: int


class Pages:
    """The history page and its diagram data as the auditor's browser fetches them (Flask test
    client), with the SQL statements the two requests issue."""

    def __init__(self, url: str, enabled: bool = True) -> None:
        self.enabled = enabled
        self.app = create_app(Settings(database_url=url, testing=True))
        self.client = self.app.test_client()
        self.statements = 0
        event.listen(self.app.extensions["whistle.db"].engine, "before_cursor_execute", self._count)
        login = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', login)
        resp = self.client.post("/login", data={"username": "auditor", "password": "demo1234",
                                                "csrf_token": token.group(1) if token else ""})
        assert resp.status_code == 302, resp.status_code

    def _count(self, *_args: Any) -> None:
        self.statements += 1

    def ms(self, case_id: int, step: int) -> float:
        if not self.enabled:
            return 0.0
        self.statements = 0
        began = time.perf_counter()
        for path in (f"/cases/{case_id}/history?step={step}", f"/cases/{case_id}/history/{step}/diagram.json"):
            resp = self.client.get(path)
            assert resp.status_code == 200, (path, resp.status_code)
        return (time.perf_counter() - began) * 1000


class LongCase:
    """One case on a database, driven one task completion at a time."""

    def __init__(self, db: Database, pages: Pages) -> None:
        self.db = db
        self.pages = pages
        self.principals: dict[tuple[str, int], Principal] = {}
        self.step_ms: list[float] = []
        with db.unit_of_work() as s:
            grid_worker = self._principal_of(s, "grid_worker", GRID)
            body = {"title": "反复回退的案件", "grid": GRID, "description": "长案件", "channel": "grid_patrol",
                    "matter": MATTER}
            self.case_id = file_report(s, grid_worker, body).id

    def complete(self, task_type: str, form: dict[str, Any]) -> None:
        began = time.perf_counter()
        with self.db.unit_of_work() as s:
            task = s.scalar(select(Task).where(Task.case_id == self.case_id, Task.status == "open",
                                               Task.task_type == task_type).order_by(Task.id))
            if task is None:
                open_types = s.scalars(select(Task.task_type).where(Task.case_id == self.case_id,
                                                                    Task.status == "open")).all()
                raise SystemExit(f"no open {task_type}: the case has {open_types}")
            tasks.complete(s, self._principal(s, task.role, task.unit_id), task.id, form)
        self.step_ms.append((time.perf_counter() - began) * 1000)

    def measure(self, phase: str, loops: int) -> Line:
        with self.db.sessions() as s:
            case = s.get(Case, self.case_id)
            assert case is not None
            auditor = principal_for(s, s.scalars(select(User).where(User.username == "auditor")).one())
            state, version = case.state, case.version
            began = time.perf_counter()
            if self.pages.enabled:
                audit.history(s, auditor, self.case_id)
                audit.state_at(s, auditor, self.case_id, version)
            history_ms = (time.perf_counter() - began) * 1000
        recent = self.step_ms[-20:]
        middle_ms = self.pages.ms(self.case_id, max(version // 2, 1))
        page_ms = self.pages.ms(self.case_id, version)
        return Line(phase, loops, len(self.step_ms), statistics.mean(recent) if recent else 0.0,
                    len(state) / 1024, len(zlib.compress(state.encode(), 6)) / 1024, tree_depth(state), history_ms,
                    page_ms, middle_ms, self.pages.statements)

    def _principal(self, s: Any, role: str, unit_id: int) -> Principal:
        key = (role, unit_id)
        if key not in self.principals:
            self.principals[key] = principal_for(s, users_holding(s, role, unit_id)[0])
        return self.principals[key]

    def _principal_of(self, s: Any, role: str, unit_code: str) -> Principal:
        from app.models import Unit

        unit = s.scalars(select(Unit).where(Unit.code == unit_code)).one()
        return self._principal(s, role, unit.id)


def tree_depth(state: str) -> int:
    """The deepest task of the stored state's main tree (subprocess trees counted separately)."""
    dct = json.loads(state)
    deepest = 0
    for workflow in [dct, *dct.get("subprocesses", {}).values()]:
        stack = [(workflow["root"], 0)]
        while stack:
            task_id, depth = stack.pop()
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in workflow["tasks"][task_id].get("children", []))
    return deepest


def loop(case: LongCase, phase: str, count: int, steps: list[tuple[str, str]],
         print_line: Callable[[Line], None]) -> None:
    for n in range(1, count + 1):
        for task_type, form in steps:
            case.complete(task_type, FORMS[form])
        if n % 10 == 0 or n == count:
            print_line(case.measure(phase, n))


def run_backend(url: str, returns: int, reworks: int, review_returns: int, pages: bool = True) -> None:
    prepare_database(url)
    db = Database(url)
    try:
        case = LongCase(db, Pages(url, pages))
        print(f"{'phase':<15}{'loops':>6}{'steps':>6}{'step ms':>9}{'state KB':>10}{'snap KB':>9}{'depth':>7}"
              f"{'history ms':>12}{'page ms':>9}{'mid ms':>8}{'page SQL':>10}")
        out = _printer()
        try:
            _drive(case, returns, reworks, review_returns, out)
        except ServiceError as exc:  # the case stopped advancing: what the issue saw at ~90 loops
            print(f"step {len(case.step_ms) + 1}: HTTP {exc.status} {exc.error}: {exc}")
        _check(db, case.case_id)
    finally:
        db.dispose()


def _drive(case: LongCase, returns: int, reworks: int, review_returns: int, out: Callable[[Line], None]) -> None:
    case.complete("triage", FORMS["triage"])
    loop(case, "send-back", returns, [("handle_dispatched", "returned"), ("triage", "triage")], out)
    loop(case, "rework", reworks, [("handle_dispatched", "handled"), ("verify_dispatched", "not_fixed")], out)
    if review_returns:
        case.complete("handle_dispatched", FORMS["returned"])
        case.complete("triage", FORMS["triage_whistle"])
        loop(case, "review-return", review_returns,
             [("prepare_whistle", "prepare_whistle"), ("review", "review_return")], out)


def _printer() -> Callable[[Line], None]:
    def out(line: Line) -> None:
        print(f"{line.phase:<15}{line.loops:>6}{line.steps:>6}{line.step_ms:>9.0f}{line.state_kb:>10.1f}"
              f"{line.snapshot_kb:>9.1f}{line.depth:>7}{line.history_ms:>12.0f}{line.page_ms:>9.0f}{line.middle_ms:>8.0f}"
              f"{line.page_sql:>10}", flush=True)
    return out


def _check(db: Database, case_id: int) -> None:
    with db.sessions() as s:
        result = replay_case(s, case_id)
        verification = audit.verify(s, [case_id], snapshots=True, system=False)
    print(f"replay: {result.line()} ({result.ms / 1000:.1f} s)")
    print(f"verify: {'intact' if verification.ok else verification.first_break}")


def _database(url: str | None, pg: bool, tmp: Path) -> AbstractContextManager[str]:
    if url:
        return nullcontext(url)
    if pg:
        return temporary_postgres_database(PG_URL, "whistle_bench")
    return nullcontext(f"sqlite:///{tmp / 'long_case.db'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=100)
    parser.add_argument("--reworks", type=int, default=0)
    parser.add_argument("--review-returns", type=int, default=50)
    parser.add_argument("--database-url")
    parser.add_argument("--pg", action="store_true", help="a fresh PostgreSQL database instead of SQLite")
    parser.add_argument("--prune-rule", type=int, default=workflow_service.PRUNE_RULE,
                        help="the pruning rule steps run with (0: none, as before issue 18)")
    parser.add_argument("--recursion-limit", type=int, help="raise Python's recursion limit to this")
    parser.add_argument("--no-history", action="store_true", help="skip the history timings (slow unpruned)")
    args = parser.parse_args(argv)
    workflow_service.PRUNE_RULE = args.prune_rule
    if args.recursion_limit:
        sys.setrecursionlimit(args.recursion_limit)
    with tempfile.TemporaryDirectory() as tmp, _database(args.database_url, args.pg, Path(tmp)) as url:
        print(f"database: {url.split('@')[-1]}, pruning rule {args.prune_rule}, recursion limit "
              f"{sys.getrecursionlimit()}")
        run_backend(url, args.returns, args.reworks, args.review_returns, not args.no_history)
    return 0


if __name__ == "__main__":
    sys.exit(main())
