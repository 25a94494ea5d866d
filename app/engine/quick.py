"""The simplest expressions of a diagram, answered in the worker instead of its script host.

Most expressions a step evaluates only read the task data: a variable (``departments``), a key of
one (``dept['code']``, ``limits[name]``), a literal (``'text'``), a comparison with a plain value
(``decision == 'approve'``, ``step < len(chain)``), ``and``/``or``/``not`` of those. None of them
can run long, recurse in C code or change anything, so sending them to the script host
(app/engine/isolation.py: one pipe round trip and the whole task data pickled both ways, ~1 ms)
protects nothing. :func:`quick_value` answers such an expression here, and the value
goes through the same pickle round trip the host's answer does (a copy, the same size limit).

Anything else, or anything that fails here (a missing variable or key, a comparison of unlike
types), is answered by the host as before, so errors read exactly as they did.
"""

from __future__ import annotations

import ast
import functools
import operator
import pickle
from collections.abc import Callable, Mapping
from typing import Any

from .sandbox import SandboxError, check_source

# Values whose comparison cannot recurse (one side of every comparison must be one).
_SCALARS = (str, int, float, bool, type(None))
# What an answer may be (anything else goes to the host, which checks it).
_PLAIN = frozenset({bool, int, float, str, type(None), dict, list})
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: operator.contains(b, a), ast.NotIn: lambda a, b: not operator.contains(b, a),
}

Node = Callable[[Mapping[str, Any]], Any]


class _NotQuick(Exception):
    """The expression is not one answered here: the host answers it."""


def quick_value(expression: str, names: Mapping[str, Any], limit: int) -> tuple[bool, Any]:
    """(True, the value) of a simple expression over ``names`` (the task data over the external
    context, as the sandbox sees them), or (False, None) when the host must answer. ``limit``: the
    largest answer, pickled. Only for an environment without helper functions of its own (a helper
    could hide ``len``)."""
    node = _plan(expression)
    if node is None:
        return False, None
    try:
        value = node(names)
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL) if type(value) in _PLAIN else None
    except Exception:  # the host gives the error its usual wording
        return False, None
    if data is None or len(data) > limit:
        return False, None
    return True, pickle.loads(data)


@functools.lru_cache(maxsize=4096)
def _plan(expression: str) -> Node | None:
    """The expression as a function of the names, or None if it is not a simple one."""
    try:
        check_source(expression, "eval")  # what the sandbox refuses, the host refuses in its words
        return _node(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, SandboxError, _NotQuick):
        return None


def _node(tree: ast.expr) -> Node:
    if isinstance(tree, ast.Constant) and isinstance(tree.value, _SCALARS):
        value = tree.value
        return lambda names: value
    if isinstance(tree, ast.Name) and not tree.id.startswith("_"):
        return _name(tree.id)
    if isinstance(tree, ast.Subscript):
        return _subscript(tree)
    if isinstance(tree, ast.Compare):
        return _comparison(tree)
    if isinstance(tree, ast.BoolOp):
        return _boolean(tree)
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not):
        operand = _node(tree.operand)
        return lambda names: not operand(names)
    if (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "len"
            and len(tree.args) == 1 and not tree.keywords):
        return _length(_node(tree.args[0]))
    raise _NotQuick


def _name(name: str) -> Node:
    def value(names: Mapping[str, Any]) -> Any:
        return names[name]  # a name not in the data: a builtin or an error, for the host
    return value


def _subscript(tree: ast.Subscript) -> Node:
    container, key = _node(tree.value), _node(tree.slice)  # a slice (a[1:]) is not a simple node

    def value(names: Mapping[str, Any]) -> Any:
        found, index = container(names), key(names)
        if (type(found) is dict and type(index) in (str, int)) or (type(found) is list and type(index) is int):
            return found[index]
        raise _NotQuick
    return value


def _length(operand: Node) -> Node:
    def value(names: Mapping[str, Any]) -> Any:
        if "len" in names:  # the data or a helper hides the builtin
            raise _NotQuick
        found = operand(names)
        if type(found) not in (list, dict, str):
            raise _NotQuick
        return len(found)
    return value


def _comparison(tree: ast.Compare) -> Node:
    ops = [_COMPARE.get(type(op)) or _identity(op, each) for op, each in zip(tree.ops, tree.comparators, strict=True)]
    left, rights = _node(tree.left), [_node(each) for each in tree.comparators]

    def value(names: Mapping[str, Any]) -> Any:
        a = left(names)
        for op, right in zip(ops, rights, strict=True):
            b = right(names)
            if not (isinstance(a, _SCALARS) or isinstance(b, _SCALARS)):
                raise _NotQuick  # two containers: a deep comparison, for the host
            if not op(a, b):  # type: ignore[misc]
                return False
            a = b
        return True
    return value


def _identity(op: ast.cmpop, right: ast.expr) -> Callable[[Any, Any], Any]:
    """``is``/``is not`` only against None, True or False (the same objects in every process)."""
    if not (isinstance(op, ast.Is | ast.IsNot) and isinstance(right, ast.Constant)
            and any(right.value is each for each in (None, True, False))):
        raise _NotQuick
    return operator.is_ if isinstance(op, ast.Is) else operator.is_not


def _boolean(tree: ast.BoolOp) -> Node:
    operands = [_node(each) for each in tree.values]
    is_and = isinstance(tree.op, ast.And)

    def value(names: Mapping[str, Any]) -> Any:
        result: Any = None
        for operand in operands:
            result = operand(names)
            if bool(result) != is_and:
                return result
        return result
    return value
