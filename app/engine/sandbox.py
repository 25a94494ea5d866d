"""A sandboxed Python environment for process scripts and expressions.

Process admins upload BPMN/DMN whose script tasks, gateway conditions, DMN cells and service-task
parameters are Python. :class:`SandboxEnvironment` runs them for SpiffWorkflow's
``PythonScriptEngine`` with the same data semantics as SpiffWorkflow's ``TaskDataEnvironment`` but:

* **Checked before running.** The source is parsed and rejected (:class:`SandboxError`) if it uses
  ``import``, ``global``/``nonlocal``, ``class``, decorators, ``async``/``await``, ``yield``, ``with``,
  ``except*``, a name or attribute starting with ``_`` (``__class__``, ``__globals__``,
  ``__import__`` ...; a bare ``_`` throw-away variable is allowed), ``str.format``/``format_map``
  (they reach attributes through the format string), ``mro``, frame/code/generator/traceback
  attributes (``gi_frame``, ``f_globals``, ``tb_frame``, ``co_code`` ...) or the clock (``now``,
  ``utcnow``, ``today``). ``def`` and ``lambda`` are allowed.
* **Whitelisted builtins only** (see ``SAFE_BUILTIN_NAMES``): no ``open``, ``eval``, ``exec``,
  ``compile``, ``getattr``, ``type``, ``object``, ``vars``, ``globals``, ``print``, ``iter``, ``hash``
  ... Using one raises ``SandboxError("name 'open' is not defined ...")``.
* **A time budget per call**, enforced with :func:`sys.settrace` on the script's own frames (file name
  ``<process-script>``): works in any thread, and the previous trace function (coverage, a debugger)
  is restored afterwards. The stop signal is not an ``Exception`` so ``except Exception`` cannot
  swallow it, and every ``except``/``finally`` block re-checks the budget first, so a script cannot
  catch its way out of it either.
* **Size guards** on the cheap memory/CPU bombs: ``range`` is capped, ``+ * ** << %`` (and the
  augmented forms) check result sizes, and so do ``pow``, ``round``, ``sum``, the str/bytes
  padding/joining/replacing methods, ``list.extend``, ``int.to_bytes``/``from_bytes``, f-strings
  with two or more fields (``f"{s}{s}"``) and widths in format specs.
* **Deterministic**: no clock, randomness or I/O is reachable.
* Results that are functions or lazy iterators are refused by ``evaluate`` and dropped from the task
  data by ``execute``: they would otherwise run later, outside the supervision.

Compiled code objects are cached by source text (LRU), so the thousands of repeated gateway and DMN
expressions are parsed once.

Limits: the budget is wall-clock time checked between the lines a script executes, so one builtin
call on huge data (``str()`` of a list holding the same big list a million times, sorting millions
of items) cannot be interrupted, and growth the guards don't see (``[*a, *a]``, slice assignment)
is bounded only by what fits in the budget. Where admins are not trusted that far, also run the
engine under OS limits (memory rlimit / cgroup, a worker process that can be killed). Set iteration
order of strings depends on PYTHONHASHSEED; use ``sorted()``.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import CodeType, FrameType
from typing import Any, NamedTuple, NoReturn

from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

__all__ = [
    "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS",
    "MAX_RANGE_LENGTH",
    "MAX_SEQUENCE_LENGTH",
    "SAFE_BUILTIN_NAMES",
    "SCRIPT_FILENAME",
    "SandboxEnvironment",
    "SandboxError",
    "check_source",
]

#: File name of every compiled process script; the tracer only watches frames with this name.
SCRIPT_FILENAME = "<process-script>"
#: Largest ``range()`` a script may create.
MAX_RANGE_LENGTH = 1_000_000
#: Largest str/bytes/list/tuple an operator or guarded method may produce.
MAX_SEQUENCE_LENGTH = 1_000_000
#: Largest integer (in bits) ``*``, ``**``, ``<<``, ``pow()`` and ``int.from_bytes`` may produce
#: (about 30,000 digits; keeps a single big-int division in the milliseconds).
MAX_INT_BITS = 100_000
#: Largest width/precision in a format spec or %-format.
MAX_FORMAT_WIDTH = 10_000
#: Size of the compiled-code cache (entries keyed by source text).
CODE_CACHE_SIZE = 4096

_RESERVED_PREFIX = "__sandbox_"
_INTERPRETER_KEYS = frozenset({"__builtins__", "__annotations__"})  # exec() may add these to the data
_TMP_OBJECT = "__sandbox_obj"
_TMP_KEY = "__sandbox_key"
_TICK = "__sandbox_tick"


class SandboxError(Exception):
    """A process script broke a sandbox rule, ran out of its time budget or hit a size limit."""

    def __init__(self, message: str, *, lineno: int | None = None) -> None:
        super().__init__(f"{message} (line {lineno})" if lineno else message)
        self.lineno = lineno


class _Abort(BaseException):
    """Stops a running script. Not an ``Exception``, so ``except Exception`` in a script can't catch it."""

    def __init__(self, message: str, lineno: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


# ----------------------------------------------------------------------------------------------
# Static checks
# ----------------------------------------------------------------------------------------------

_FORBIDDEN_NODES: dict[type[ast.AST], str] = {
    ast.Import: "import is not allowed in process scripts",
    ast.ImportFrom: "import is not allowed in process scripts",
    ast.Global: "'global' is not allowed in process scripts",
    ast.Nonlocal: "'nonlocal' is not allowed in process scripts",
    ast.ClassDef: "class definitions are not allowed in process scripts",
    ast.AsyncFunctionDef: "async/await is not allowed in process scripts",
    ast.AsyncFor: "async/await is not allowed in process scripts",
    ast.AsyncWith: "async/await is not allowed in process scripts",
    ast.Await: "async/await is not allowed in process scripts",
    ast.Yield: "yield is not allowed in process scripts",
    ast.YieldFrom: "yield is not allowed in process scripts",
    ast.With: "'with' is not allowed in process scripts",
    ast.TryStar: "'except*' is not allowed in process scripts",
}

_BLOCKED_ATTRIBUTES: dict[str, str] = {
    "format": "str.format() is not allowed in process scripts (it can reach attributes); use an f-string",
    "format_map": "str.format_map() is not allowed in process scripts (it can reach attributes); use an f-string",
    "mro": "access to 'mro' is not allowed in process scripts",
    "now": "reading the clock ('now') is not allowed in process scripts; scripts must be deterministic",
    "utcnow": "reading the clock ('utcnow') is not allowed in process scripts; scripts must be deterministic",
    "today": "reading the clock ('today') is not allowed in process scripts; scripts must be deterministic",
}
# Frame, generator, coroutine, traceback and code object internals (they lead to f_globals/f_back).
_BLOCKED_ATTRIBUTE_PREFIXES = ("_", "gi_", "cr_", "ag_", "f_", "tb_", "co_")


def _name_allowed(name: str) -> bool:
    return name == "_" or not name.startswith("_")


def _attribute_problem(attr: str) -> str | None:
    if attr in _BLOCKED_ATTRIBUTES:
        return _BLOCKED_ATTRIBUTES[attr]
    if attr.startswith(_BLOCKED_ATTRIBUTE_PREFIXES):
        return f"access to '{attr}' is not allowed in process scripts"
    return None


def _is_plain_reference(node: ast.expr) -> bool:
    """``Name``, ``a.b.c`` or a tuple of those: evaluating it runs no script code."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _is_plain_reference(node.value)
    if isinstance(node, ast.Tuple):
        return all(_is_plain_reference(element) for element in node.elts)
    return False


class _Validator(ast.NodeVisitor):
    """Rejects forbidden constructs. Raises :class:`SandboxError` on the first one found."""

    def __init__(self, with_lines: bool) -> None:
        self._with_lines = with_lines

    def fail(self, message: str, node: ast.AST) -> NoReturn:
        lineno = getattr(node, "lineno", None) if self._with_lines else None
        raise SandboxError(message, lineno=lineno)

    def visit(self, node: ast.AST) -> None:
        message = _FORBIDDEN_NODES.get(type(node))
        if message is not None:
            self.fail(message, node)
        super().visit(node)

    def _check_name(self, name: str | None, node: ast.AST) -> None:
        if name is not None and not _name_allowed(name):
            self.fail(f"access to '{name}' is not allowed in process scripts", node)

    def visit_Name(self, node: ast.Name) -> None:
        self._check_name(node.id, node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.generic_visit(node)  # report the first offending attribute of a chain, as written
        problem = _attribute_problem(node.attr)
        if problem is not None:
            self.fail(problem, node)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node.arg, node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.decorator_list:
            self.fail("decorators are not allowed in process scripts", node)
        self._check_name(node.name, node)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        # The exception type is evaluated while an exception propagates, so it must not run code.
        if node.type is not None and not _is_plain_reference(node.type):
            self.fail("'except' must name exception classes (e.g. 'except (KeyError, ValueError):')", node)
        self._check_name(node.name, node)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self._check_name(node.name, node)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self._check_name(node.name, node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        self._check_name(node.rest, node)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:  # class patterns read attributes: case C(attr=...)
            problem = _attribute_problem(attr)
            if problem is not None:
                self.fail(problem, node)
        self.generic_visit(node)


# ----------------------------------------------------------------------------------------------
# Rewriting: guarded operators and methods, supervision checks
# ----------------------------------------------------------------------------------------------

_BINOP_HELPERS: dict[type[ast.operator], str] = {
    ast.Add: "__sandbox_add",
    ast.Mult: "__sandbox_mul",
    ast.Pow: "__sandbox_pow",
    ast.LShift: "__sandbox_lshift",
    ast.Mod: "__sandbox_mod",
}
_INPLACE_HELPERS: dict[type[ast.operator], str] = {
    ast.Add: "__sandbox_iadd",
    ast.Mult: "__sandbox_imul",
    ast.Pow: "__sandbox_ipow",
    ast.LShift: "__sandbox_ilshift",
    ast.Mod: "__sandbox_imod",
}
# Methods whose result size is set by an argument; scripts reach them through _guarded_attribute.
_GUARDED_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate", "to_bytes",
     "from_bytes", "extend"}
)  # fmt: skip


def _call(helper: str, args: list[ast.expr]) -> ast.Call:
    return ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=args, keywords=[])


def _has_slice(node: ast.expr) -> bool:
    return isinstance(node, ast.Slice) or (
        isinstance(node, ast.Tuple) and any(isinstance(element, ast.Slice) for element in node.elts)
    )


class _Transformer(ast.NodeTransformer):
    """Routes size-sensitive operations through guards and adds supervision checks."""

    def __init__(self, with_lines: bool) -> None:
        self._with_lines = with_lines

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        helper = _BINOP_HELPERS.get(type(node.op))
        if helper is None:
            return node
        return ast.copy_location(_call(helper, [node.left, node.right]), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt:
        self.generic_visit(node)
        helper = _INPLACE_HELPERS.get(type(node.op))
        if helper is None:
            return node
        target = node.target
        load: ast.expr
        store: ast.expr
        if isinstance(target, ast.Name):
            load = ast.Name(id=target.id, ctx=ast.Load())
            store = ast.Name(id=target.id, ctx=ast.Store())
        elif isinstance(target, ast.Attribute):
            # obj.attr += v  ->  obj.attr = op((tmp := obj).attr, v) evaluates obj once, in order.
            holder = ast.NamedExpr(target=ast.Name(id=_TMP_OBJECT, ctx=ast.Store()), value=target.value)
            load = ast.Attribute(value=holder, attr=target.attr, ctx=ast.Load())
            held = ast.Name(id=_TMP_OBJECT, ctx=ast.Load())
            store = ast.Attribute(value=held, attr=target.attr, ctx=ast.Store())
        else:
            assert isinstance(target, ast.Subscript)
            holder = ast.NamedExpr(target=ast.Name(id=_TMP_OBJECT, ctx=ast.Store()), value=target.value)
            if _has_slice(target.slice):  # a slice can't be bound to a name; it is evaluated twice
                key_load, key_store = target.slice, copy.deepcopy(target.slice)
            else:
                key_load = ast.NamedExpr(target=ast.Name(id=_TMP_KEY, ctx=ast.Store()), value=target.slice)
                key_store = ast.Name(id=_TMP_KEY, ctx=ast.Load())
            load = ast.Subscript(value=holder, slice=key_load, ctx=ast.Load())
            held = ast.Name(id=_TMP_OBJECT, ctx=ast.Load())
            store = ast.Subscript(value=held, slice=key_store, ctx=ast.Store())
        assign = ast.Assign(targets=[store], value=_call(helper, [load, node.value]))
        return ast.copy_location(assign, node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and node.attr in _GUARDED_METHODS:
            return ast.copy_location(_call("__sandbox_attr", [node.value, ast.Constant(node.attr)]), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.expr:
        # f"{s}{s}{s}" builds its result in one C step: with two or more fields, each field is
        # formatted on its own and the joined length is checked before the join.
        self.generic_visit(node)
        if sum(isinstance(value, ast.FormattedValue) for value in node.values) < 2:
            return node
        parts: list[ast.expr] = [
            ast.JoinedStr(values=[value]) if isinstance(value, ast.FormattedValue) else value for value in node.values
        ]
        return ast.copy_location(_call("__sandbox_fstring", [ast.Tuple(elts=parts, ctx=ast.Load())]), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.expr:
        node.value = self.visit(node.value)
        if node.format_spec is not None:  # the spec stays a JoinedStr (not joined by the helper)
            self.generic_visit(node.format_spec)
        spec = node.format_spec
        if not isinstance(spec, ast.JoinedStr):
            return node
        constants = [str(part.value) for part in spec.values if isinstance(part, ast.Constant)]
        if len(constants) == len(spec.values):
            try:
                _check_format_spec("".join(constants))
            except SandboxError as error:
                lineno = node.lineno if self._with_lines else None
                raise SandboxError(str(error), lineno=lineno) from None
            return node
        checked = ast.FormattedValue(value=_call("__sandbox_spec", [spec]), conversion=-1, format_spec=None)
        node.format_spec = ast.JoinedStr(values=[checked])
        return node

    def visit_While(self, node: ast.While) -> ast.stmt:
        # `while True: pass` compiles to a jump onto itself, which emits no trace events; a name load
        # in front of the body gives the loop a real backward edge (one cheap LOAD per iteration).
        self.generic_visit(node)
        tick = ast.Expr(value=ast.Name(id=_TICK, ctx=ast.Load()))
        node.body.insert(0, ast.copy_location(tick, node.body[0]))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.excepthandler:
        self.generic_visit(node)
        node.body.insert(0, self._check(node.body[0]))
        return node

    def visit_Try(self, node: ast.Try) -> ast.stmt:
        self.generic_visit(node)
        if node.finalbody:
            node.finalbody.insert(0, self._check(node.finalbody[0]))
        return node

    @staticmethod
    def _check(where: ast.stmt) -> ast.stmt:
        # After the tracer stops a script, tracing is off; handlers and finally blocks are the only
        # script code that can still run, so each starts by re-checking that supervision is intact.
        return ast.copy_location(ast.Expr(value=_call("__sandbox_check", [])), where)


class _Compiled(NamedTuple):
    code: CodeType
    #: an ``eval`` expression without nested scopes or ``:=`` can take the task data as its locals
    plain: bool
    #: the ``__sandbox_*`` helpers the code looks up by name (task data must not shadow them)
    helpers: tuple[str, ...]


def _helper_names(code: CodeType) -> set[str]:
    names = {name for name in code.co_names if name.startswith(_RESERVED_PREFIX)}
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _helper_names(const)
    return names


_NESTED_OR_BINDING = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr)


@functools.lru_cache(maxsize=CODE_CACHE_SIZE)
def _compile(source: str, mode: str) -> _Compiled:
    """Parse, check, rewrite and compile ``source`` (``mode`` is ``"eval"`` or ``"exec"``)."""
    with_lines = mode == "exec"
    tree = ast.parse(source, filename=SCRIPT_FILENAME, mode=mode)
    _Validator(with_lines).visit(tree)
    plain = mode == "eval" and not any(isinstance(node, _NESTED_OR_BINDING) for node in ast.walk(tree))
    tree = ast.fix_missing_locations(_Transformer(with_lines).visit(tree))
    code = compile(tree, SCRIPT_FILENAME, mode, dont_inherit=True)
    return _Compiled(code, plain, tuple(sorted(_helper_names(code))))


def check_source(source: str, mode: str) -> None:
    """Raise SyntaxError or SandboxError (with the line) if ``source`` cannot run in the sandbox."""
    _compile(source, mode)


# ----------------------------------------------------------------------------------------------
# Runtime guards
# ----------------------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)
_STRINGS = (str, bytes)


def _too_large(what: str, limit: int, unit: str) -> NoReturn:
    raise SandboxError(f"{what} would exceed the sandbox limit of {limit:,} {unit}")


def _check_length(length: int, what: str) -> None:
    if length > MAX_SEQUENCE_LENGTH:
        _too_large(what, MAX_SEQUENCE_LENGTH, "items")


def _check_add(a: Any, b: Any) -> None:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_length(len(a) + len(b), "concatenation")


def _check_mul(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            _too_large("multiplication", MAX_INT_BITS, "bits")
    elif isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_length(len(a) * b, "repetition")
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_length(len(b) * a, "repetition")


def _check_pow(a: Any, b: Any) -> None:
    big = isinstance(a, int) and isinstance(b, int) and b > 0 and a not in (0, 1, -1)
    if big and (b > MAX_INT_BITS or b * math.log2(abs(a)) > MAX_INT_BITS):
        _too_large("power", MAX_INT_BITS, "bits")


def _check_lshift(a: Any, b: Any) -> None:
    big = isinstance(a, int) and isinstance(b, int) and a and b > 0
    if big and (b > MAX_INT_BITS or a.bit_length() + b > MAX_INT_BITS):
        _too_large("shift", MAX_INT_BITS, "bits")


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _check_width(digits: str) -> None:
    if len(digits) > 6 or int(digits) > MAX_FORMAT_WIDTH:
        raise SandboxError(f"format width {digits} exceeds the sandbox limit of {MAX_FORMAT_WIDTH:,}")


def _check_percent_format(template: str | bytes) -> None:
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    if "%" not in text:
        return
    for match in _PERCENT_FIELD.finditer(text):
        for group in match.groups():
            if group == "*":
                raise SandboxError("'*' widths in %-formatting are not allowed in process scripts")
            if group:
                _check_width(group)


def _check_format_spec(spec: str) -> str:
    for digits in _DIGITS.findall(spec):
        _check_width(digits)
    return spec


def _add(a: Any, b: Any) -> Any:
    _check_add(a, b)
    return a + b


def _iadd(a: Any, b: Any) -> Any:
    _check_add(a, b)
    a += b
    return a


def _mul(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    return a * b


def _imul(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    a *= b
    return a


def _pow(a: Any, b: Any) -> Any:
    _check_pow(a, b)
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    _check_lshift(a, b)
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, _STRINGS):
        _check_percent_format(a)
    return a % b


def _imod(a: Any, b: Any) -> Any:
    return _mod(a, b)


def _fstring(parts: tuple[str, ...]) -> str:
    _check_length(sum(map(len, parts)), "f-string")
    return "".join(parts)


# str/bytes methods and int.to_bytes whose result size is set by an argument.
def _pad_guard(name: str) -> Callable[..., Any]:
    def guard(self: Any, width: Any, *args: Any) -> Any:
        if isinstance(width, int):
            _check_length(width, f"{name}()")
        return getattr(self, name)(width, *args)

    guard.__name__ = name
    return guard


def _expandtabs(self: Any, tabsize: Any = 8) -> Any:
    if isinstance(self, _STRINGS) and isinstance(tabsize, int):
        tabs = self.count("\t" if isinstance(self, str) else b"\t")
        _check_length(len(self) + tabs * max(tabsize, 0), "expandtabs()")
    return self.expandtabs(tabsize)


def _replace(self: Any, old: Any, new: Any, count: Any = -1, /) -> Any:
    same_kind = isinstance(self, _STRINGS) and type(old) is type(self) and type(new) is type(self)
    if same_kind and len(new) > len(old):
        hits = self.count(old) if old else len(self) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        _check_length(len(self) + hits * (len(new) - len(old)), "replace()")
    return self.replace(old, new, count)


def _join(self: Any, iterable: Iterable[Any], /) -> Any:
    items = list(iterable)
    if isinstance(self, _STRINGS):
        try:
            total = sum(map(len, items)) + len(self) * max(len(items) - 1, 0)
        except TypeError:  # not all strings: let join() report it
            total = 0
        _check_length(total, "join()")
    return self.join(items)


def _translate(self: Any, table: Any, /, *args: Any, **kwargs: Any) -> Any:
    if isinstance(self, str) and isinstance(table, Mapping):
        longest = max((len(value) for value in table.values() if isinstance(value, str)), default=1)
        _check_length(len(self) * longest, "translate()")
    return self.translate(table, *args, **kwargs)


def _to_bytes(self: Any, length: Any = 1, *args: Any, **kwargs: Any) -> Any:
    if isinstance(length, int):
        _check_length(length, "to_bytes()")
    return self.to_bytes(length, *args, **kwargs)


def _extend(self: Any, iterable: Iterable[Any], /) -> None:
    items = iterable if isinstance(iterable, _SEQUENCES) else list(iterable)
    if isinstance(self, list):
        _check_length(len(self) + len(items), "extend()")
    self.extend(items)


def _from_bytes(method: Callable[..., int], data: Any, *args: Any, **kwargs: Any) -> int:
    if isinstance(data, bytes | bytearray | list | tuple) and len(data) * 8 > MAX_INT_BITS:
        _too_large("from_bytes()", MAX_INT_BITS, "bits")
    return method(data, *args, **kwargs)


# name -> (receiver types, guard taking the receiver first)
_METHOD_GUARDS: dict[str, tuple[tuple[type, ...], Callable[..., Any]]] = {
    "center": (_STRINGS, _pad_guard("center")),
    "ljust": (_STRINGS, _pad_guard("ljust")),
    "rjust": (_STRINGS, _pad_guard("rjust")),
    "zfill": (_STRINGS, _pad_guard("zfill")),
    "expandtabs": (_STRINGS, _expandtabs),
    "replace": (_STRINGS, _replace),
    "join": (_STRINGS, _join),
    "translate": (_STRINGS, _translate),
    "to_bytes": ((int,), _to_bytes),
    "extend": ((list,), _extend),
}
assert set(_METHOD_GUARDS) | {"from_bytes"} == _GUARDED_METHODS


def _guarded_attribute(obj: Any, name: str) -> Any:
    """``obj.name`` for the size-sensitive method names; other objects (e.g. datetime.replace) pass."""
    value = getattr(obj, name)
    is_class = isinstance(obj, type)
    if name == "from_bytes":  # a classmethod: wrap the bound method
        if isinstance(obj, int) or (is_class and issubclass(obj, int)):
            return functools.partial(_from_bytes, value)
        return value
    kinds, guard = _METHOD_GUARDS[name]
    if isinstance(obj, kinds):
        return functools.partial(guard, obj)
    if is_class and issubclass(obj, kinds):  # unbound: str.join(sep, items)
        return guard
    return value


# C code imports lazily through the running frame's builtins (datetime.strftime imports "time",
# strptime imports "_strptime"). Scripts can't name __import__ (it starts with "_"); C code may
# import only these, for its own use; the module is never returned to the script.
_INTERNAL_IMPORTS = frozenset({"time", "_strptime"})


def _internal_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Mapping[str, Any] | None = None,
    fromlist: tuple[str, ...] = (),
    level: int = 0,
) -> Any:
    if level == 0 and name in _INTERNAL_IMPORTS:
        return builtins.__import__(name, None, None, fromlist, 0)
    raise SandboxError(f"import is not allowed in process scripts (module {name!r})")


def _safe_range(*args: Any) -> range:
    result = range(*args)
    try:
        length = len(result)
    except OverflowError:
        length = MAX_RANGE_LENGTH + 1
    if length > MAX_RANGE_LENGTH:
        _too_large("range()", MAX_RANGE_LENGTH, "elements")
    return result


def _safe_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is None:
        return _pow(base, exp)
    big = isinstance(exp, int) and isinstance(mod, int) and max(exp.bit_length(), mod.bit_length()) > 4096
    if big:
        _too_large("pow() with a modulus", 4096, "bits")
    return pow(base, exp, mod)


def _safe_round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(number)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_WIDTH:
        raise SandboxError(f"round() ndigits beyond ±{MAX_FORMAT_WIDTH:,} is not allowed in process scripts")
    return round(number, ndigits)


def _safe_sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    if isinstance(start, _SEQUENCES):
        raise SandboxError("sum() of sequences is not allowed in process scripts; use a comprehension")
    return sum(iterable, start)


# ----------------------------------------------------------------------------------------------
# Supervision (time budget)
# ----------------------------------------------------------------------------------------------

TraceFunction = Callable[[FrameType, str, Any], Any]

_state = threading.local()  # .run: the _Run active in this thread, if any


class _Run:
    """One supervised call: its deadline and its tracer."""

    __slots__ = ("aborted", "deadline", "time_limit", "tracer")

    def __init__(self, time_limit: float) -> None:
        self.time_limit = time_limit
        self.deadline = time.perf_counter() + time_limit
        self.aborted: str | None = None
        self.tracer: TraceFunction | None = self._make_tracer()

    def abort(self, lineno: int | None) -> NoReturn:
        if self.aborted is None:
            if time.perf_counter() > self.deadline:
                self.aborted = f"script exceeded its time budget ({self.time_limit} s)"
            else:
                self.aborted = (
                    "script stopped: its time supervision was interrupted "
                    "(usually by a RecursionError caught inside the script)"
                )
        raise _Abort(self.aborted, lineno)

    def _make_tracer(self) -> TraceFunction:
        deadline = self.deadline
        clock = time.perf_counter
        abort = self.abort

        def trace_lines(frame: FrameType, event: str, arg: Any) -> TraceFunction:
            if event == "line" and clock() > deadline:
                abort(frame.f_lineno)
            return trace_lines

        def trace_calls(frame: FrameType, event: str, arg: Any) -> TraceFunction | None:
            if frame.f_code.co_filename != SCRIPT_FILENAME:
                return None  # helpers and library code are not line-traced (cheap)
            if clock() > deadline:
                abort(frame.f_lineno)
            return trace_lines

        return trace_calls


def _check_supervision() -> None:
    """Runs first in every script ``except``/``finally`` block (see ``_Transformer._check``)."""
    run: _Run | None = getattr(_state, "run", None)
    if run is None:
        return
    if run.aborted is not None or sys.gettrace() is not run.tracer or time.perf_counter() > run.deadline:
        run.abort(sys._getframe(1).f_lineno)


def _script_lineno(error: BaseException) -> int | None:
    lineno = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SCRIPT_FILENAME:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


# ----------------------------------------------------------------------------------------------
# Builtins
# ----------------------------------------------------------------------------------------------

_SAFE_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in (
        "abs", "all", "any", "bin", "bool", "callable", "chr", "dict", "divmod", "enumerate", "filter",
        "float", "frozenset", "hex", "int", "isinstance", "len", "list", "map", "max", "min", "next",
        "oct", "ord", "repr", "reversed", "set", "sorted", "str", "tuple", "zip",
        # exceptions a script may raise or catch
        "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError",
        "LookupError", "NameError", "OverflowError", "RecursionError", "RuntimeError", "StopIteration",
        "TypeError", "ValueError", "ZeroDivisionError",
    )
}  # fmt: skip
_SAFE_BUILTINS.update(range=_safe_range, pow=_safe_pow, round=_safe_round, sum=_safe_sum)
#: Names a script can use besides its data (plus a SandboxEnvironment's ``extra_globals``).
SAFE_BUILTIN_NAMES = frozenset(_SAFE_BUILTINS)

_UNAVAILABLE_BUILTINS = frozenset(name for name in vars(builtins) if not name.startswith("_"))
_UNAVAILABLE_BUILTINS -= SAFE_BUILTIN_NAMES

_HELPERS: dict[str, Any] = {
    "__sandbox_add": _add,
    "__sandbox_iadd": _iadd,
    "__sandbox_mul": _mul,
    "__sandbox_imul": _imul,
    "__sandbox_pow": _pow,
    "__sandbox_ipow": _pow,
    "__sandbox_lshift": _lshift,
    "__sandbox_ilshift": _lshift,
    "__sandbox_mod": _mod,
    "__sandbox_imod": _imod,
    "__sandbox_attr": _guarded_attribute,
    "__sandbox_spec": _check_format_spec,
    "__sandbox_fstring": _fstring,
    "__sandbox_check": _check_supervision,
    _TICK: None,
    "__import__": _internal_import,
}

# Results that can be stored as they are (anything else is checked for callables/iterators).
_PLAIN_TYPES = frozenset({bool, int, float, str, type(None), dict, list, tuple})


def _storable(value: Any) -> bool:
    return type(value) in _PLAIN_TYPES or not (callable(value) or isinstance(value, Iterator))


# ----------------------------------------------------------------------------------------------
# The environment
# ----------------------------------------------------------------------------------------------


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that runs process Python in a sandbox.

    ``time_limit``: seconds one ``evaluate``/``execute`` call may run (wall clock, checked on every
    line the script executes). ``extra_globals``: safe helper functions made available to scripts
    by name (they are trusted code: they run unsupervised and must not swallow ``BaseException``).
    """

    def __init__(self, time_limit: float = 1.0, extra_globals: Mapping[str, Any] | None = None) -> None:
        if not (isinstance(time_limit, int | float) and 0 < time_limit < math.inf):
            raise ValueError(f"time_limit must be a positive number of seconds, not {time_limit!r}")
        extra = dict(extra_globals or {})
        hidden = sorted(name for name in extra if not _name_allowed(name) or not name.isidentifier())
        if hidden:
            raise ValueError(f"extra_globals names must be identifiers not starting with '_': {hidden}")
        super().__init__(extra)
        self.time_limit = float(time_limit)
        self._builtins: dict[str, Any] = {**_SAFE_BUILTINS, **extra, **_HELPERS}
        self._globals: dict[str, Any] = {"__builtins__": self._builtins}

    # SpiffWorkflow API -------------------------------------------------------------------------

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> Any:
        """Return the value of ``expression`` over the task data ``context`` (which is not modified)."""
        compiled = _compile(expression, "eval")
        names = {**external_context, **context} if external_context else context
        if compiled.plain and not any(name in names for name in compiled.helpers):
            # No nested scope and no binding: names are looked up in the data directly, no copy.
            result = self._run(compiled.code, self._globals, names, with_lines=False)
        else:
            scope = {key: value for key, value in names.items() if key not in compiled.helpers}
            scope["__builtins__"] = self._builtins
            result = self._run(compiled.code, scope, None, with_lines=False)
        if not _storable(result):
            raise SandboxError(
                f"expression produced a {type(result).__name__}, which cannot be used as a value "
                "(functions and lazy iterators are not allowed; wrap it in list(...))"
            )
        return result

    def execute(self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> bool:
        """Run ``script`` with the task data ``context`` as its variables; ``context`` is updated in place.

        Afterwards ``context`` holds the data plus the variables the script assigned, minus functions,
        lazy iterators, builtins and ``external_context`` entries.
        """
        external = external_context or {}
        self.check_for_overwrite(context, external)
        compiled = _compile(script, "exec")
        context.update(external)
        for name in compiled.helpers:  # reserved names: data can't hide the guards
            context.pop(name, None)
        context["__builtins__"] = self._builtins
        try:
            self._run(compiled.code, context, None, with_lines=True)
        finally:
            self._clean(context, external)
        return True

    # Helpers -----------------------------------------------------------------------------------

    def check_for_overwrite(self, context: Mapping[str, Any], external_context: Mapping[str, Any]) -> None:
        """Fail fast, like TaskDataEnvironment, when task data would hide a helper function."""
        overwrites = set(self.globals).intersection(context) | set(external_context).intersection(context)
        if overwrites:
            raise ValueError(
                "You have task data that overwrites a predefined function(s). Please change the "
                f"following variable or field name(s) to something else: {overwrites}"
            )

    def _clean(self, context: dict[str, Any], external: Mapping[str, Any]) -> None:
        for key in list(context):
            value = context[key]
            if (
                key in _INTERPRETER_KEYS
                or key in external
                or key in self.globals
                or (isinstance(key, str) and key.startswith(_RESERVED_PREFIX))
                or not _storable(value)
            ):
                del context[key]

    def _run(self, code: CodeType, scope: dict[str, Any], names: Mapping[str, Any] | None, with_lines: bool) -> Any:
        run = _Run(self.time_limit)
        previous_trace = sys.gettrace()
        previous_run = getattr(_state, "run", None)
        _state.run = run
        sys.settrace(run.tracer)
        try:
            try:
                return eval(code, scope, names)
            finally:
                sys.settrace(previous_trace)
                _state.run = previous_run
                run.tracer = None  # break the run <-> tracer cycle
        except _Abort as abort:
            raise SandboxError(abort.message, lineno=abort.lineno if with_lines else None) from None
        except NameError as error:
            name = getattr(error, "name", None)
            if name in _UNAVAILABLE_BUILTINS and name not in self._builtins:
                lineno = _script_lineno(error) if with_lines else None
                raise SandboxError(
                    f"name '{name}' is not defined ('{name}' is not available in process scripts)",
                    lineno=lineno,
                ) from None
            raise
