"""Expressions that only read the task data are answered in the worker (app/engine/quick.py), not
by the script host: the same value (a copy, as the host's pickled answer is), and for anything
else, or anything that fails, the host answers with its usual error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.engine import isolation
from app.engine.isolation import MAX_STORED_BYTES, IsolatedEnvironment
from app.engine.quick import quick_value
from app.engine.sandbox import SandboxEnvironment

DATA: dict[str, Any] = {
    "dept": {"code": "D1", "duty": "roads"}, "decision": "approve", "review_step": 1,
    "review_chain": ["a", "b", "c"], "self_handled": False, "direct_whistle_level": None, "grade": 0,
    "departments": [{"code": "D1"}, {"code": "D2"}], "limits": {"triage": 4.0}, "flag": True, "n": 2,
}

QUICK = [
    "dept['code']", "departments", "'review'", "None", "3", "decision == 'approve'", "grade == 3",
    "review_step < len(review_chain)", "review_chain[review_step]", "not self_handled",
    "not self_handled and direct_whistle_level is not None", "self_handled or dept", "grade or 'x'",
    "'b' in review_chain", "'z' not in review_chain", "0 <= grade < 3", "flag is True", "len(dept)",
    "departments[1]['code']", "limits['triage']", "dept[dept['code'] and 'duty']",
]
HOST = [
    "n + 1", "dept.get('code')", "departments == [{'code': 'D1'}, {'code': 'D2'}]",
    "review_chain[-1]", "sorted(review_chain)", "[x for x in review_chain]", "missing",
    "dept['nope']", "review_chain['a']", "grade < 'a'", "_hidden", "dept[True]", "decision[0]", "review_chain[1:]",
    "review_chain[flag]",
]


@pytest.fixture
def isolated() -> Iterator[IsolatedEnvironment]:
    environment = IsolatedEnvironment()
    yield environment
    environment.close()


def _outcome(evaluate: Any, expression: str) -> tuple[str, Any]:
    try:
        value = evaluate(expression, dict(DATA), {"limits": {"triage": 9.0}})
    except Exception as error:  # the error is what is compared
        return type(error).__name__, str(error)
    return type(value).__name__, value


@pytest.mark.parametrize("expression", QUICK + HOST)
def test_same_value_or_error_as_the_sandbox(isolated: IsolatedEnvironment, expression: str) -> None:
    assert _outcome(isolated.evaluate, expression) == _outcome(SandboxEnvironment().evaluate, expression)


@pytest.mark.parametrize("expression", QUICK)
def test_simple_reads_need_no_host(isolated: IsolatedEnvironment, expression: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IsolatedEnvironment, "_call", lambda *args: pytest.fail("sent to the host"))
    isolated.evaluate(expression, dict(DATA))


# identity of anything but None/True/False differs between the host and the worker
@pytest.mark.parametrize("expression", [*HOST, "decision is 'approve'", "None is grade"])
def test_anything_else_goes_to_the_host(expression: str) -> None:
    assert quick_value(expression, dict(DATA), MAX_STORED_BYTES) == (False, None)


def test_the_answer_is_a_copy(isolated: IsolatedEnvironment) -> None:
    context = dict(DATA)
    value = isolated.evaluate("dept", context)
    value["code"] = "changed"
    assert value == {"code": "changed", "duty": "roads"} and context["dept"] == {"code": "D1", "duty": "roads"}


def test_a_value_too_large_is_left_to_the_host() -> None:
    assert quick_value("departments", dict(DATA), 10) == (False, None)


def test_the_data_over_the_external_context(isolated: IsolatedEnvironment) -> None:
    assert isolated.evaluate("limits['triage']", {}, {"limits": {"triage": 9.0}}) == 9.0
    assert isolated.evaluate("limits['triage']", dict(DATA), {"limits": {"triage": 9.0}}) == 4.0


def test_an_environment_with_helpers_asks_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = IsolatedEnvironment(extra_globals={"len": lambda value: 42})
    try:
        monkeypatch.setattr(isolation, "quick_value", lambda *args: pytest.fail("answered in the worker"))
        assert environment.evaluate("len(review_chain)", dict(DATA)) == 42
    finally:
        environment.close()
