"""Snapshot rows of every format a database may hold read back as the exact state text.

Rows written before zstd (issue 17) stay as they are: whole states compressed with zlib, and
structural deltas (app/engine/delta.py) compressed with the state before them as zlib's preset
dictionary. New rows are zstd, whole or with the state before them as the dictionary. A case's
history may hold both, old rows first.
"""

from __future__ import annotations

import json
import zlib
from types import SimpleNamespace

import pytest

from app import compression
from app.engine.delta import dumps
from app.services import snapshots

FIRST = dumps({"last_task": "a", "tasks": {"a": {"state": 8, "data": {"title": "垃圾满溢"}}}})
SECOND = dumps({"last_task": "b", "tasks": {"a": {"state": 64, "data": {"title": "垃圾满溢"}},
                                            "b": {"state": 16, "data": {}}}})
LEGACY_DELTA = {"set": {"last_task": "b"}, "sub": {"tasks": {"set": {"b": {"state": 16, "data": {}}},
                                                             "sub": {"a": {"set": {"state": 64}}}}}}
THIRD = SECOND.replace('"state":16', '"state":64')


def _row(version: int, body: bytes, is_delta: bool) -> SimpleNamespace:
    return SimpleNamespace(state_version=version, state=body, is_delta=is_delta)


def _legacy_delta(previous: str, delta: dict[str, object]) -> bytes:
    packer = zlib.compressobj(6, zdict=previous.encode("utf-8")[-32768:])
    return packer.compress(json.dumps(delta, ensure_ascii=False).encode("utf-8")) + packer.flush()


def test_old_rows_and_new_rows_read_back_in_one_history() -> None:
    third, is_delta = snapshots.encode(3, THIRD, SECOND)
    assert is_delta and compression.is_zstd(third)
    rows = [_row(1, zlib.compress(FIRST.encode("utf-8")), False),
            _row(2, _legacy_delta(FIRST, LEGACY_DELTA), True),
            _row(3, third, True)]
    assert list(snapshots.texts(rows)) == [FIRST, SECOND, THIRD]


def test_a_new_history_is_whole_at_its_first_step_and_every_full_step() -> None:
    body, is_delta = snapshots.encode(1, FIRST, None)
    assert not is_delta
    assert snapshots.encode(snapshots.FULL_EVERY, SECOND, FIRST)[1] is False
    delta, is_delta = snapshots.encode(2, SECOND, FIRST)
    assert is_delta
    assert list(snapshots.texts([_row(1, body, False), _row(2, delta, True)])) == [FIRST, SECOND]


def test_a_new_delta_is_smaller_than_the_state_alone() -> None:
    big = dumps({"tasks": {f"task-{i}": {"state": 64, "data": {"n": i, "title": "占道经营"}} for i in range(300)}})
    bigger = big[:-2] + ',"task-300":{"state":16,"data":{}}}}'
    whole, _ = snapshots.encode(1, bigger, None)
    delta, _ = snapshots.encode(2, bigger, big)
    assert len(delta) * 10 < len(whole), (len(delta), len(whole))


@pytest.mark.parametrize("problem", ["missing_previous", "cut_short"])
def test_an_unreadable_row_names_its_step(problem: str) -> None:
    delta, _ = snapshots.encode(2, SECOND, FIRST)
    if problem == "missing_previous":
        rows = [_row(2, delta, True)]
    else:
        rows = [_row(1, snapshots.encode(1, FIRST, None)[0], False), _row(2, delta[: len(delta) // 2], True)]
    with pytest.raises(snapshots.Unreadable) as raised:
        list(snapshots.texts(rows))
    assert raised.value.version == 2
