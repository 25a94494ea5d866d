"""What running process scripts in a child process costs: per script call and per step.

``python -m bench.sandbox [--cases 20] [--calls 2000] [--seed 1]``

1. **Per call.** ``evaluate`` of a gateway condition and ``execute`` of a three-line script over
   task data of the size the demo processes carry (about 2 KB), in this process
   (``SandboxEnvironment``) and through a script host (``IsolatedEnvironment``): µs per call.
2. **Per step.** A fresh temporary SQLite database with the demo organisation and ``processes/``;
   the simulator files ``--cases`` realistic cases and drives them to their ends, alternating case
   by case between the app's script engine in-process and isolated (so background load on a noisy
   machine hits both alike). Printed: ms per step (human task completed, through the whole
   service layer and the database) of each, the difference, and the script calls per step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.engine import ProcessScriptEngine
from app.engine.isolation import IsolatedEnvironment
from app.engine.sandbox import SandboxEnvironment
from app.services import workflow
from app.services.simulate import Simulator
from bench.lifecycle import setup_database
from handlers import HANDLERS

DATA: dict[str, Any] = {
    "title": "违规广告", "description": "小区门口有人张贴小广告" * 10, "grade": 3, "level": "community",
    "matter": {"code": "illegal_advertising", "depts": ["dept-cgzf", "dept-hw"], "hours": 4},
    "reviews": [{"by": f"user-{i}", "decision": "approve", "note": "同意" * 5} for i in range(6)],
    "departments": [{"dept": d, "reported_at": "2026-06-08T09:30:00", "result": "已处理" * 8}
                    for d in ("dept-cgzf", "dept-hw", "dept-jt")],
}  # fmt: skip
CONDITION = "level == 'community' and grade >= 2"
SCRIPT = (
    "count = len(departments)\n"
    "late = [d['dept'] for d in departments if d['reported_at'] > '2026-06-08']\n"
    "done = count > 0"
)


def per_call_us(call: Callable[[], Any], calls: int) -> float:
    call()  # warm: compiled-code cache, host started
    began = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - began) / calls * 1e6


class CountingEngine(ProcessScriptEngine):
    """The app's script engine, counting the sandbox calls."""

    calls = 0

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        CountingEngine.calls += 1
        return super().evaluate(task, expression, external_context)

    def execute(self, task: Any, script: str, external_context: Any = None) -> Any:
        CountingEngine.calls += 1
        return super().execute(task, script, external_context)


def per_step(cases: int, seed: int) -> tuple[float, float, float]:
    engines = {True: CountingEngine(HANDLERS, isolated=True), False: CountingEngine(HANDLERS, isolated=False)}
    seconds = {True: 0.0, False: 0.0}
    steps = {True: 0, False: 0}
    with tempfile.TemporaryDirectory() as tmp:
        db = setup_database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        sim = Simulator(db, seed)
        sim.run(1)  # warm: the bundle parsed, the host started
        CountingEngine.calls = 0
        for n in range(2 * cases):
            isolated = n % 2 == 0
            workflow._script_engine = engines[isolated]
            before, began = sim.steps, time.perf_counter()
            sim.run(1)
            seconds[isolated] += time.perf_counter() - began
            steps[isolated] += sim.steps - before
        db.dispose()
    workflow._script_engine = None
    calls_per_step = CountingEngine.calls / (steps[True] + steps[False])
    return seconds[False] / steps[False] * 1e3, seconds[True] / steps[True] * 1e3, calls_per_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    local, isolated = SandboxEnvironment(), IsolatedEnvironment()
    for name, env in (("in-process", local), ("isolated", isolated)):
        evaluate = per_call_us(lambda env=env: env.evaluate(CONDITION, DATA), args.calls)
        execute = per_call_us(lambda env=env: env.execute(SCRIPT, dict(DATA)), args.calls)
        print(f"{name:>10}: evaluate {evaluate:7.1f} µs/call   execute {execute:7.1f} µs/call")
    isolated.close()
    in_ms, iso_ms, calls = per_step(args.cases, args.seed)
    print(f"per step ({args.cases} cases each, alternating): in-process {in_ms:.2f} ms, isolated {iso_ms:.2f} ms "
          f"(+{iso_ms - in_ms:.2f} ms, x{iso_ms / in_ms:.2f}); {calls:.1f} script calls per step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
