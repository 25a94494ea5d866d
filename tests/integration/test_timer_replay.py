"""Deadlines and the audit record together: a case whose timers fired (80 % reminder, 督办,
escalation) verifies and replays with zero divergence, because every step records its one moment
and the replay runs the engine at it; replayed at another moment, the timer steps diverge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import Database
from app.models import Case, Event
from app.services import replay
from app.services.audit import verify
from tests.integration.flow import FORMS, Flow
from tests.integration.test_deadlines import LEAD, at_monday_morning, beijing, travel, whistle_at_report_in

__all__ = ["at_monday_morning"]  # the fixture, used by name below


def _late_whistle(app: Flask, api: Any) -> tuple[Database, int]:
    db: Database = app.extensions["whistle.db"]
    flow = Flow(api)
    case_id = whistle_at_report_in(flow)
    flow.do("cgzf-staff", case_id, "report_in", FORMS["report_in"], unit=LEAD)
    for moment in (beijing(8, 14, 13), beijing(8, 15, 2), beijing(9, 10, 1)):  # reminder, 督办, escalation
        travel(db, moment)
    return db, case_id


def test_a_case_whose_timers_fired_verifies_and_replays_without_divergence(
    app: Flask, api: Any, at_monday_morning: None
) -> None:
    db, case_id = _late_whistle(app, api)
    with db.unit_of_work() as s:
        types = [e.type for e in s.scalars(select(Event).where(Event.case_id == case_id))]
        assert {"timer_fired", "reminder", "supervision_opened", "escalated"} <= set(types)
        escalated_to = s.scalars(select(Case.id).where(Case.parent_case_id == case_id)).all()
        assert len(escalated_to) == 1
        assert verify(s, [case_id, *escalated_to], snapshots=True).first_break is None
        for cid in (case_id, *escalated_to):
            result = replay.replay_case(s, cid)
            assert result.ok, result.line()


def test_replayed_at_other_moments_the_timer_steps_diverge(
    app: Flask, api: Any, at_monday_morning: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, case_id = _late_whistle(app, api)
    recorded = replay.step_time

    def an_hour_early(step: list[Event]) -> datetime:
        moment = recorded(step)
        fired = any(e.type == "timer_fired" for e in step)
        return moment - timedelta(hours=1) if fired else moment

    monkeypatch.setattr(replay, "step_time", an_hour_early)
    with db.unit_of_work() as s:
        result = replay.replay_case(s, case_id)
        timer_steps = {e.state_version for e in s.scalars(
            select(Event).where(Event.case_id == case_id, Event.type == "timer_fired"))}
    assert not result.ok
    assert result.divergence is not None and result.divergence.step == min(timer_steps)
