"""The history page of a long case (issue 18, part 3): what one view costs must not grow with the
case. At a late step the page lists the events of the steps around it (not all of them), opens
one snapshot and issues as many SQL statements as at an early step; a case recorded before the
pruning rule reads each earlier snapshot once, not on every view, and still shows every element
it went through. Timings are printed by ``python -m bench.long_case``, not asserted here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from app.definitions.versions import bundle_of
from app.engine import Instance, completed_elements
from app.models import Case, Snapshot
from app.services import audit, snapshots
from app.services import workflow as workflow_service
from tests.conftest import Api
from tests.integration.flow import FORMS
from tests.integration.test_long_case import GRADE_2, RETURNED, Driver
from tests.web.pages_client import Pages
from tests.web.pages_client import text as body_of

SEND_BACKS = 15  # 32 steps: more than the event window's 21


class Reads:
    """Counts the SQL statements, the snapshots opened as workflows and those read as JSON."""

    def __init__(self) -> None:
        self.statements = self.opened = self.read = 0


@contextmanager
def counting(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    reads = Reads()
    engine = app.extensions["whistle.db"].engine
    opened, read = audit._open, audit.completed_elements

    def statement(*_args: Any) -> None:
        reads.statements += 1

    def opening(*args: Any) -> Instance:
        reads.opened += 1
        return opened(*args)

    def reading(*args: Any) -> dict[str, set[str]]:
        reads.read += 1
        return read(*args)

    with monkeypatch.context() as patch:  # undone on leaving: counters do not nest
        patch.setattr(audit, "_open", opening)
        patch.setattr(audit, "completed_elements", reading)
        event.listen(engine, "before_cursor_execute", statement)
        try:
            yield reads
        finally:
            event.remove(engine, "before_cursor_execute", statement)


def looped(api: Api, app: Flask, title: str, send_backs: int = SEND_BACKS) -> Driver:
    case = Driver(api, app, title)
    case.do("op-dc", "triage", GRADE_2)
    case.send_back(send_backs)
    return case


def view(pages: Pages, case_id: int, step: int) -> str:
    resp = pages.get(f"/cases/{case_id}/history?step={step}")
    assert resp.status_code == 200
    assert pages.get(f"/cases/{case_id}/history/{step}/diagram.json").status_code == 200
    return body_of(resp)


def listed_steps(html: str) -> set[int]:
    return {int(k) for k in re.findall(r'<li data-event="[^"]+" data-seq="\d+" data-step="(\d+)"', html)}


def test_a_late_step_costs_what_an_early_one_does(
    pages: Pages, api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = looped(api, app, "长案件 历史页")
    last = case.case().version
    pages.login("auditor")
    view(pages, case.case_id, 3)  # warm: the parsed process version, the login's session
    counts = []
    for step in (3, last):
        with counting(app, monkeypatch) as reads:
            view(pages, case.case_id, step)
        counts.append((reads.statements, reads.opened, reads.read))
    early, late = counts
    assert late == early, (early, late)  # a bounded number of statements, whatever the step
    assert late[1] == 2 and late[2] == 0  # one snapshot opened per request (page, diagram data)
    assert late[0] <= 30


def test_the_page_lists_the_events_of_the_steps_around_the_chosen_one(pages: Pages, api: Api, app: Flask) -> None:
    case = looped(api, app, "长案件 事件窗口")
    last = case.case().version
    pages.login("auditor")
    middle = body_of(pages.get(f"/cases/{case.case_id}/history?step=15"))
    assert listed_steps(middle) == set(range(5, 26))
    assert re.search(r'data-testid="event-window" data-first="5" data-last="25"', middle)
    assert f'href="/cases/{case.case_id}/history?step=1"' in middle  # the window before: steps 1–4
    assert f'data-testid="events-later"\n         href="/cases/{case.case_id}/history?step={min(36, last)}"' in middle
    latest = body_of(pages.get(f"/cases/{case.case_id}/history"))
    assert listed_steps(latest) == set(range(last - 10, last + 1)) and 'data-testid="events-later"' not in latest
    assert 'data-current="true"' in latest and f'data-step="{last}"' in latest
    # the diagram, the open task and the data of the step are those of the whole case
    state = api.get("auditor", f"/api/cases/{case.case_id}/history/{last}").get_json()
    assert [t["task_type"] for t in state["open_tasks"]] == ["handle_dispatched"]
    assert {"triage", "handle_dispatched", "count_return"} <= set(state["elements"]["case"]["completed"])
    # every event is still in the API and the dossier
    assert len(api.get("auditor", f"/api/cases/{case.case_id}/history").get_json()["events"]) == \
        case_event_count(app, case.case_id)


def case_event_count(app: Flask, case_id: int) -> int:
    with app.extensions["whistle.db"].sessions() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.event_count


def test_a_case_recorded_before_pruning_reads_each_old_snapshot_once(
    pages: Pages, api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workflow_service, "PRUNE_RULE", 0)  # every step recorded before the rule
    case = looped(api, app, "规则之前的长案件", send_backs=4)
    case.do("hw-staff", "handle_dispatched", RETURNED)
    case.do("op-dc", "triage", FORMS["triage_whistle"])  # a called process (whistle) too
    last = case.case().version
    pages.login("auditor")
    with counting(app, monkeypatch) as first:
        view(pages, case.case_id, last)
    with counting(app, monkeypatch) as again:
        view(pages, case.case_id, last)
    assert first.read == last - 1 and first.opened == 2  # every earlier snapshot once, for both requests
    assert again.read == 0 and again.opened == 2
    assert again.statements <= first.statements
    # what it shows is the union over every snapshot up to the step, as before
    state = api.get("auditor", f"/api/cases/{case.case_id}/history/{last}").get_json()
    assert {pid: set(p["completed"]) for pid, p in state["elements"].items() if p["completed"]} == \
        union_of_snapshots(app, case.case_id, last)


def union_of_snapshots(app: Flask, case_id: int, step: int) -> dict[str, set[str]]:
    """Completed elements of every snapshot up to ``step``, each rebuilt as a workflow."""
    union: dict[str, set[str]] = {}
    with app.extensions["whistle.db"].sessions() as s:
        case = s.get(Case, case_id)
        assert case is not None
        bundle = bundle_of(s, case.process_version_id)
        snaps = s.scalars(select(Snapshot).where(Snapshot.case_id == case_id, Snapshot.state_version <= step)).all()
        texts = snapshots.states(s, case_id, [snap.state_version for snap in snaps])
        for snap in snaps:
            instance = Instance.load(bundle, case.process_id, texts[snap.state_version],
                                     snap.serializer_version, workflow_service.script_engine())
            for pid, states in instance.element_states().items():
                union.setdefault(pid, set()).update(states.completed)
    return {pid: ids for pid, ids in union.items() if ids}


@pytest.mark.parametrize("rule", [0, 1])
def test_completed_elements_read_from_json_are_the_workflows(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch, rule: int
) -> None:
    monkeypatch.setattr(workflow_service, "PRUNE_RULE", rule)
    case = looped(api, app, f"JSON 读取 规则 {rule}", send_backs=3)
    case.do("hw-staff", "handle_dispatched", RETURNED)
    case.do("op-dc", "triage", FORMS["triage_whistle"])
    case.do("staff-s1c1", "prepare_whistle", FORMS["prepare_whistle"])
    with app.extensions["whistle.db"].sessions() as s:
        stored = s.get(Case, case.case_id)
        assert stored is not None
        bundle = bundle_of(s, stored.process_version_id)
        specs = bundle.spec(stored.process_id)
        snaps = s.scalars(select(Snapshot).where(Snapshot.case_id == case.case_id)).all()
        texts = snapshots.states(s, case.case_id, [snap.state_version for snap in snaps])
        for snap in snaps:
            state = texts[snap.state_version]
            instance = Instance.load(bundle, stored.process_id, state, snap.serializer_version,
                                     workflow_service.script_engine())
            expected = {pid: set(st.completed) for pid, st in instance.element_states().items() if st.completed}
            found = {pid: ids for pid, ids in completed_elements(state, *specs).items() if ids}
            assert found == expected, snap.state_version


@pytest.mark.parametrize("prune_rule", [0, None])
def test_the_snapshot_in_force_is_the_last_whatever_order_the_database_returns_steps_in(
    api: Api, app: Flask, monkeypatch: pytest.MonkeyPatch, prune_rule: int | None
) -> None:
    """PostgreSQL returns the steps' records in no set order: the history opened the first one it
    was given as the state in force (a wrong diagram and one snapshot too many read)."""
    if prune_rule is not None:
        monkeypatch.setattr(workflow_service, "PRUNE_RULE", prune_rule)
    case = looped(api, app, "任意顺序的步骤", send_backs=2)
    last = case.case().version
    with app.extensions["whistle.db"].sessions() as s:
        row = s.get(Case, case.case_id)
        assert row is not None
        saved = {step: False for step in range(last, 0, -1)}  # newest first
        versions = audit._versions_to_open(s, row, last, saved)
    assert versions == sorted(versions) and versions[-1] == last
