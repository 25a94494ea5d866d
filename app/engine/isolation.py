"""Process scripts run in a child process, so a script that crashes the interpreter cannot take the
worker down with it.

The in-process sandbox (:mod:`app.engine.sandbox`) rejects escapes and stops runaway loops, but
CPython has C code that recurses without a depth check: hashing a 200,000-deep nested tuple, or
``list(m)`` over ``m = map(list, l)`` where ``l`` holds ``m`` itself, overflows the C stack and the
process dies of SIGSEGV. No guard inside the interpreter covers every such path, so the scripts of
a worker run in a *script host*: a child process started once (from a fork server that has
imported the sandbox already: forked from the worker, a new host costs milliseconds) and reused for every call. The host
runs the same :class:`~app.engine.sandbox.SandboxEnvironment` under an address-space limit, and the
parent waits for each answer at most the time budget plus a grace period. A host that dies (a C
stack overflow), runs out of memory or overruns its budget inside one builtin call (which the
tracer cannot interrupt) is killed if need be and replaced; the call fails with a
:class:`SandboxError` saying what happened, and the worker goes on.

What a script leaves in the task data (and what an expression returns) travels back pickled; its
size is checked there, value by value (``MAX_STORED_BYTES``), and a value nested too deeply to be
pickled is refused the same way, so neither reaches the case's state.

Cost: one pipe round trip per call plus pickling the task data both ways (``bench/sandbox.py``
prints it per call and per step).
"""

from __future__ import annotations

import _strptime  # noqa: F401 - imported before forking: C code imports these lazily in the host
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import time  # noqa: F401 - likewise
import weakref
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .quick import quick_value
from .sandbox import SandboxEnvironment, SandboxError

__all__ = ["MAX_STORED_BYTES", "IsolatedEnvironment", "shutdown_hosts"]

#: Largest value (pickled) a script may leave in the task data or an expression may return.
MAX_STORED_BYTES = 1_000_000
#: Default address-space limit of a script host, on top of what it uses when it starts.
DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
#: How long past its budget a call may take before its host is killed (pickling, start-up).
GRACE_SECONDS = 2.0

# Hosts are forked from the worker: a few milliseconds, and they start with the sandbox (and its
# compiled-code cache) already imported. A fork server would avoid copying a threaded parent, but
# its children re-import the parent's __main__ module; the host needs no lock another thread could
# hold at fork time: it logs nothing, and the modules C code imports lazily are imported here.
_context = multiprocessing.get_context("fork")


# ----------------------------------------------------------------------------------------------
# The child: one loop answering calls
# ----------------------------------------------------------------------------------------------


def _limit_memory(extra_bytes: int) -> None:
    with open("/proc/self/statm") as statm:  # Linux: the first field is the address space in pages
        pages = int(statm.read().split()[0])
    limit = pages * resource.getpagesize() + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _close_inherited(keep: int) -> None:
    """Close every descriptor the fork copied from the worker but the host's pipe and stdio: a host
    holding the worker's sockets or its subprocesses' pipes (a browser driver, a database
    connection) would keep them open after the worker closed them, and whoever waits for their end
    would wait forever."""
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def _serve(
    conn: Connection, parent_end: Connection, time_limit: float, extra_globals: dict[str, Any], memory_bytes: int
) -> None:
    parent_end.close()  # else the host holds its own pipe open and never sees its worker die
    _close_inherited(conn.fileno())
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops the host
    _limit_memory(memory_bytes)
    env = SandboxEnvironment(time_limit=time_limit, extra_globals=extra_globals)
    while True:
        while not conn.poll(5.0):
            if os.getppid() != parent:  # the worker died (another host may hold its pipe end)
                return
        try:
            mode, source, context, external = conn.recv()
        except EOFError:
            return
        conn.send_bytes(_answer(env, mode, source, context, external))


def _answer(env: SandboxEnvironment, mode: str, source: str, context: dict[str, Any], external: Any) -> bytes:
    try:
        if mode == "eval":
            value: Any = env.evaluate(source, context, external)
            return _pickle_checked(("value", value), {"the result": value})
        env.execute(source, context, external)
        return _pickle_checked(("context", context), context)
    except MemoryError:
        return _pickle_error(SandboxError("script ran out of memory (the sandbox's memory limit)"))
    except BaseException as error:  # everything goes back to the caller
        return _pickle_error(error)


def _pickle_checked(reply: tuple[str, Any], values: Mapping[str, Any]) -> bytes:
    """The reply, if it pickles and no value in it is larger than MAX_STORED_BYTES."""
    try:
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except RecursionError:
        data = None
    if data is not None and len(data) <= MAX_STORED_BYTES:
        return data  # the common case: no value can be too large
    for name, value in values.items():
        _check_value(name, value)
    assert data is not None  # a value that fails to pickle fails _check_value
    return data


def _check_value(name: str, value: Any) -> None:
    try:
        size = len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except RecursionError:
        raise SandboxError(f"'{name}' is nested too deeply to be stored") from None
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise SandboxError(f"'{name}' cannot be stored: {error}") from None
    if size > MAX_STORED_BYTES:
        raise SandboxError(
            f"'{name}' is {size:,} bytes; a value a script stores is limited to {MAX_STORED_BYTES:,} bytes"
        )


def _pickle_error(error: BaseException) -> bytes:
    if not isinstance(error, Exception):  # SystemExit, KeyboardInterrupt ... from a script
        error = SandboxError(f"script raised {type(error).__name__}")
    try:
        return pickle.dumps(("error", error), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an error that does not pickle is described instead
        return pickle.dumps(("error", SandboxError(f"{type(error).__name__}: {str(error)[:500]}")))


# ----------------------------------------------------------------------------------------------
# The parent: a pool of hosts
# ----------------------------------------------------------------------------------------------


class _Host:
    """One child process and the parent's end of its pipe."""

    def __init__(self, time_limit: float, extra_globals: dict[str, Any], memory_bytes: int) -> None:
        self.conn, child_conn = _context.Pipe()
        self.process = _context.Process(
            target=_serve, args=(child_conn, self.conn, time_limit, extra_globals, memory_bytes), daemon=True
        )
        self.process.start()
        child_conn.close()

    def call(self, request: tuple[str, str, dict[str, Any], Any], timeout: float) -> tuple[str, Any]:
        try:
            self.conn.send(request)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise SandboxError(f"the task data cannot be handed to the script: {error}") from None
        if not self.conn.poll(timeout):
            raise _HostLost("script exceeded its time budget (stopped by killing its sandbox process)")
        try:
            reply: tuple[str, Any] = pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.process.join(1.0)
            raise _HostLost(_death(self.process.exitcode)) from None
        return reply

    def close(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(1.0)
        self.conn.close()


class _HostLost(SandboxError):
    """The host died or was killed: it is not reused."""


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"script crashed its sandbox process ({name}; e.g. a value nested too deeply for Python's C code)"
    return f"script's sandbox process ended unexpectedly (exit code {exitcode})"


class IsolatedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment running every evaluate/execute in a script host.

    Same semantics as :class:`SandboxEnvironment` (which runs in the host), except that values
    cross a process boundary: ``execute`` replaces the contents of ``context`` with the host's
    copy, and an expression cannot modify the task data it reads.
    """

    def __init__(
        self,
        time_limit: float = 1.0,
        extra_globals: Mapping[str, Any] | None = None,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
    ) -> None:
        self._local = SandboxEnvironment(time_limit=time_limit, extra_globals=extra_globals)  # checks the args
        super().__init__(dict(extra_globals or {}))
        self.time_limit = float(time_limit)
        self.memory_bytes = memory_bytes
        self._idle: list[_Host] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        _pools.add(self)

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> Any:
        if not self.globals:  # a plain read of the data needs no host (app/engine/quick.py)
            answered, value = quick_value(expression, {**external_context, **context} if external_context else context,
                                          MAX_STORED_BYTES)
            if answered:
                return value
        return self._call("eval", expression, context, external_context)

    def execute(self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> bool:
        self._local.check_for_overwrite(context, external_context or {})
        result = self._call("exec", script, context, external_context or {})
        context.clear()
        context.update(result)
        return True

    def _call(self, mode: str, source: str, context: dict[str, Any], external: Any) -> Any:
        host = self._acquire()
        try:
            kind, value = host.call((mode, source, context, external), self.time_limit + GRACE_SECONDS)
        except _HostLost:
            host.close()
            raise
        except BaseException:
            host.close()  # the pipe may hold half a request: never reuse it
            raise
        self._release(host)
        if kind == "error":
            raise value
        return value

    def _acquire(self) -> _Host:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker does not share its parent's hosts
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return _Host(self.time_limit, dict(self.globals), self.memory_bytes)

    def _release(self, host: _Host) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._idle.append(host)
                return
        host.close()

    def close(self) -> None:
        """Stop the idle hosts (running calls keep theirs until they return)."""
        with self._lock:
            hosts, self._idle = self._idle, []
        for host in hosts:
            host.close()


_pools: weakref.WeakSet[IsolatedEnvironment] = weakref.WeakSet()


def shutdown_hosts() -> None:
    """Stop every idle script host of this process (tests, shutdown)."""
    for pool in list(_pools):
        pool.close()
