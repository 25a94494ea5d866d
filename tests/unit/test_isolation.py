"""Process scripts run in a child process: a script that crashes the interpreter, overruns its
budget inside one builtin call, runs out of memory or stores a huge or too deeply nested value
fails its call with a SandboxError, and the worker goes on.

The crash probes run in a subprocess of pytest: before the fix they killed the process running
them (SIGSEGV), and a test must not take pytest down with it."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from app.engine.isolation import MAX_STORED_BYTES, IsolatedEnvironment
from app.engine.sandbox import SandboxError
from app.settings import ROOT

DEEP_TUPLE_HASHED = "t = ()\nfor i in range(200000):\n    t = (t,)\nd = {t: 1}"
SELF_MAPPING_LIST = "l = []\nm = map(list, l)\nl.extend([m] * 200000)\nx = list(m)"  # no loop at all
DEEP_TUPLE_EXPRESSION = "(t := ()) or [(t := (t,)) for i in range(200000)] and {t: 1}"

# Through the app's script engine, as a step runs it: the same probes in a script task and in an
# expression (a gateway condition, a DMN cell or a `unit` property are evaluated alike).
_PROBE = textwrap.dedent("""
    import sys
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from app.engine import ProcessScriptEngine
    from app.engine.sandbox import SandboxError

    class Task:  # what the script engine reads of a task
        def __init__(self):
            self.data = {"n": 1}

    engine = ProcessScriptEngine({}, time_limit=30.0)  # the crash must end the call, not the budget
    mode, source = sys.argv[1], sys.argv[2]
    for attempt in range(2):  # the second call gets a fresh host
        try:
            engine.environment.execute(source, {}) if mode == "exec" else engine.environment.evaluate(source, {})
            print("no error")
        except SandboxError as error:
            print("SandboxError:", error)
    print("after:", engine.environment.evaluate("n + 1", {"n": 1}))
""")


@pytest.mark.parametrize(
    ("mode", "source"),
    [("exec", DEEP_TUPLE_HASHED), ("exec", SELF_MAPPING_LIST), ("eval", DEEP_TUPLE_EXPRESSION)],
    ids=["deep-tuple-hashed", "map-over-itself", "expression"],
)
def test_a_script_that_crashes_the_interpreter_fails_cleanly_and_the_worker_goes_on(mode: str, source: str) -> None:
    run = subprocess.run([sys.executable, "-c", _PROBE, mode, source], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"the worker died ({run.returncode}): {run.stderr[-2000:]}"
    lines = run.stdout.splitlines()
    assert lines[:2] == ["SandboxError: script crashed its sandbox process (SIGSEGV; e.g. a value nested too "
                         "deeply for Python's C code)"] * 2
    assert lines[2] == "after: 2"


@pytest.fixture(scope="module")
def env() -> Iterator[IsolatedEnvironment]:
    environment = IsolatedEnvironment(time_limit=0.5)
    yield environment
    environment.close()


def test_isolated_calls_keep_the_sandbox_semantics(env: IsolatedEnvironment) -> None:
    data = {"n": 1, "keep": [1, 2]}
    env.execute("m = n + 1\nkeep.append(3)\nf = lambda: 1", data)
    assert data == {"n": 1, "keep": [1, 2, 3], "m": 2}  # functions are dropped, as in process
    assert env.evaluate("n * 10 + m", data) == 12
    with pytest.raises(ZeroDivisionError):
        env.execute("x = 1 / 0", data)
    with pytest.raises(NameError, match="name 'nope' is not defined"):
        env.evaluate("nope + 1", data)
    with pytest.raises(SandboxError, match="import is not allowed"):
        env.execute("import os", data)
    assert data == {"n": 1, "keep": [1, 2, 3], "m": 2}  # a failed call changes nothing


def test_one_builtin_call_over_its_budget_is_stopped_by_killing_the_host(env: IsolatedEnvironment) -> None:
    # str() of a list holding the same big list 1,000,000 times: one C call the tracer cannot stop
    script = "l = list(range(100000))\nx = str([l] * 1000000)"
    with pytest.raises(SandboxError, match="exceeded its time budget"):
        env.execute(script, {})
    assert env.evaluate("1 + 1", {}) == 2


def test_memory_is_limited() -> None:
    env = IsolatedEnvironment(time_limit=10.0)  # a budget that a loaded machine cannot hit first
    try:
        script = "s = 'x' * 999000\nparts = [s + str(i) for i in range(2000)]"
        with pytest.raises(SandboxError, match="ran out of memory"):
            env.execute(script, {})
        assert env.evaluate("2 + 2", {}) == 4
    finally:
        env.close()


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("big = [str(i) * 50 for i in range(20000)]", r"'big' is [\d,]+ bytes; a value a script stores is limited"),
        ("t = []\nfor i in range(5000):\n    t = [t]", "'t' is nested too deeply to be stored"),
    ],
)
def test_a_value_too_large_or_too_deep_is_not_stored(env: IsolatedEnvironment, script: str, message: str) -> None:
    data = {"keep": 1}
    with pytest.raises(SandboxError, match=message):
        env.execute(script, data)
    assert data == {"keep": 1}


def test_an_expression_result_too_large_is_refused(env: IsolatedEnvironment) -> None:
    with pytest.raises(SandboxError, match=f"limited to {MAX_STORED_BYTES:,} bytes"):
        env.evaluate("[str(i) * 50 for i in range(20000)]", {})


def test_a_host_does_not_keep_the_workers_other_descriptors_open() -> None:
    """Regression: hosts forked while the worker held a pipe (a browser driver's, a socket) kept it
    open, so whoever waited for its end — Playwright stopping its driver — waited forever."""
    read_end, write_end = os.pipe()
    fresh = IsolatedEnvironment(time_limit=1.0)
    try:
        assert fresh.evaluate("1 + 1", {}) == 2  # starts a host while the pipe is open in the worker
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], 5.0)
        assert ready and os.read(read_end, 1) == b""  # end of file: no host holds the write end
    finally:
        fresh.close()
        os.close(read_end)
