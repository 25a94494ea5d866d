"""The canonical form of an event and its hash: one definition, written two ways, always equal."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from app.services import chain

EVENT = {
    "case_id": 7, "seq": 3, "type_": "task_completed", "actor": "op-dc", "actor_id": 12, "role": "platform_operator",
    "unit_id": None, "process_version_id": 1, "state_version": 2,
    "data": {"form": {"note": "含\"引号\"与\n换行\u0001", "grade": 3, "x": [1.5, None, True]}, "a": {}},
    "created_at": datetime(2026, 11, 21, 9, 0, 0, 123456), "prev_hash": "ab" * 32,
}


def _reference(event: dict[str, object]) -> str:
    fields = [chain.FORMAT, event["case_id"], event["seq"], event["type_"], event["actor"], event["actor_id"],
              event["role"], event["unit_id"], event["process_version_id"], event["state_version"],
              event["created_at"].isoformat(), event["data"], event["prev_hash"]]  # type: ignore[attr-defined]
    return hashlib.sha256(chain.canonical_json(fields).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("change", [{}, {"case_id": None, "role": None, "actor_id": None},
                                    {"created_at": datetime(2026, 1, 1)}, {"actor": "网格员\t甲"}])
def test_the_fast_hash_is_the_canonical_json_hash(change: dict[str, object]) -> None:
    event = EVENT | change
    assert chain.event_hash(**event) == _reference(event)  # type: ignore[arg-type]


def test_every_field_is_covered() -> None:
    base = chain.event_hash(**EVENT)  # type: ignore[arg-type]
    for key, other in [("case_id", 8), ("seq", 4), ("type_", "task_claimed"), ("actor", "op-dd"), ("actor_id", 13),
                       ("role", "secretary"), ("unit_id", 1), ("process_version_id", 2), ("state_version", 3),
                       ("data", {"form": {}}), ("created_at", datetime(2026, 11, 21, 9, 0, 0, 123457)),
                       ("prev_hash", "cd" * 32)]:
        assert chain.event_hash(**(EVENT | {key: other})) != base, key  # type: ignore[arg-type]


def test_canonical_json_sorts_keys_and_refuses_nan() -> None:
    assert chain.canonical_json({"b": 1, "a": "中"}) == '{"a":"中","b":1}'
    with pytest.raises(ValueError):
        chain.canonical_json({"x": float("nan")})


def test_dates_in_event_data_are_iso_text() -> None:
    assert chain.canonical_json({"due_at": datetime(2027, 1, 4, 8, 30)}) == '{"due_at":"2027-01-04T08:30:00"}'
    assert chain.normalized({"due_at": datetime(2027, 1, 4)}) == {"due_at": "2027-01-04T00:00:00"}
