"""Commands for time: `simulate --advance` shows reminders, 督办 and escalation; `scheduler --once`."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest
from flask import Flask

from app import create_app
from app.services import clock
from app.settings import Settings


@pytest.fixture()
def ready_app(empty_database_url: str) -> Iterator[Flask]:
    application = create_app(Settings(database_url=empty_database_url, testing=True))
    runner = application.test_cli_runner()
    result = runner.invoke(args=["demo", "--no-serve", "--cases", "0"])
    assert result.exit_code == 0, result.output
    yield application
    clock.reset()
    application.extensions["whistle.db"].dispose()


def test_simulate_advance_lets_deadlines_pass(ready_app: Flask) -> None:
    result = ready_app.test_cli_runner().invoke(args=["simulate", "20", "--seed", "3", "--advance", "15d"])
    assert result.exit_code == 0, result.output
    assert "open:report_in" in result.output  # cases left waiting for departments to report in
    counts = ast.literal_eval(result.output.split("advanced the clock by 15d: ", 1)[1].strip())
    assert counts["reminder"] >= 1 and counts["supervision_opened"] >= 1 and counts["escalated"] >= 1
    assert counts["incident_opened"] == 0
    again = ready_app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert again.exit_code == 0 and "timers fired: 0," in again.output  # nothing is due twice


@pytest.mark.parametrize("bad", ["3x", "0d", "d", "-1h"])
def test_simulate_refuses_a_bad_duration(ready_app: Flask, bad: str) -> None:
    result = ready_app.test_cli_runner().invoke(args=["simulate", "1", "--advance", bad])
    assert result.exit_code == 2 and "--advance" in result.output
