"""Anchor benchmark: what anchoring every chain head costs, and what the anchor check adds to verify.

``python -m bench.anchor [--cases 10000] [--events 20] [--grow 1000] [--database-url URL] [--pg]``

For each backend, on a fresh database (migrations, the demo organisation, ``processes/``):

1. ``--cases`` synthetic chains of ``--events`` events (``bench.audit.synthetic_chains``: the
   recording code's hashes), then **anchor 1**: every chain is new to the ledger.
2. ``--grow`` of those chains get one more event and ``--grow`` new cases are added, then
   **anchor 2**: the changed chains are checked against their marks (one indexed lookup each).
3. **anchor 3** with nothing changed: the fixed cost (ledger read + one streaming pass over heads).
4. ``audit.verify`` over everything without and with the ledger's marks: the anchor check's cost.

Wall and CPU seconds per step, chains/s, and the ledger's bytes. Ratios within one run are what
to compare (the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.db import Database
from app.models import Case, Event
from app.services import anchor, audit, chain
from bench.audit import _database, _setup, synthetic_chains


@dataclass
class Step:
    name: str
    chains: int
    wall_s: float
    cpu_s: float
    note: str = ""


@dataclass
class Result:
    backend: str
    steps: list[Step] = field(default_factory=list)
    ledger_bytes: int = 0


def _timed(name: str, chains: int, work: Callable[[], Any]) -> tuple[Step, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = work()
    return Step(name, chains, time.perf_counter() - wall, time.process_time() - cpu), value


def grow(db: Database, case_ids: list[int]) -> None:
    """One more event on each of these chains, as record_event links it."""
    with db.unit_of_work() as s:
        cases = list(s.scalars(select(Case).where(Case.id.in_(case_ids))))
        for case in cases:
            last = s.scalar(select(Event).where(Event.case_id == case.id, Event.seq == case.event_count))
            assert last is not None
            row = {"case_id": case.id, "seq": case.event_count + 1, "type": "task_claimed", "actor": last.actor,
                   "actor_id": None, "role": last.role, "unit_id": last.unit_id,
                   "process_version_id": last.process_version_id, "state_version": last.state_version,
                   "data": chain.normalized({"task_id": 1}), "created_at": last.created_at + timedelta(seconds=1),
                   "prev_hash": case.chain_head}
            row["hash"] = chain.event_hash(**{("type_" if k == "type" else k): v for k, v in row.items()})
            s.add(Event(**row))
            case.event_count, case.chain_head = row["seq"], row["hash"]


def run_backend(url: str, backend: str, cases: int, events: int, growing: int, ledger: Path) -> Result:
    db = _setup(url)
    result = Result(backend)
    try:
        synthetic_chains(db, cases, events)
        step, first = _timed("anchor 1 (every chain new)", cases, lambda: anchor.anchor(db, ledger))
        result.steps.append(step)
        with db.sessions() as s:
            ids = list(s.scalars(select(Case.id).order_by(Case.id).limit(growing)))
        grow(db, ids)
        synthetic_chains(db, growing, events)
        step, second = _timed(f"anchor 2 ({growing:,} grown + {growing:,} new)", cases + growing,
                              lambda: anchor.anchor(db, ledger))
        step.note = f"{second.summary['changed']:,} entries, {len(second.conflicts)} conflicts"
        result.steps.append(step)
        step, third = _timed("anchor 3 (nothing changed)", cases + growing, lambda: anchor.anchor(db, ledger))
        step.note = f"{third.summary['changed']:,} entries"
        result.steps.append(step)
        step, marks = _timed("read + check the ledger", cases + growing, lambda: anchor.read_ledger(ledger).marks)
        result.steps.append(step)
        for name, given in (("verify without anchors", None), ("verify with the anchor check", marks)):
            step, verified = _timed(name, cases + growing, lambda given=given: _verify(db, given))
            assert verified.ok, verified.first_break
            step.note = f"{verified.events:,} events, {verified.anchored:,} chains checked against anchors"
            result.steps.append(step)
        result.steps[0].note = f"{first.summary['changed']:,} entries"
        result.ledger_bytes = ledger.stat().st_size
    finally:
        db.dispose()
    return result


def _verify(db: Database, marks: dict[anchor.ChainKey, anchor.Mark] | None) -> audit.Verification:
    with db.sessions() as s:
        return audit.verify(s, marks=marks)


def report(results: list[Result]) -> str:
    lines = ["| backend | step | chains | wall s | CPU s | chains/s | |", "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        for st in r.steps:
            lines.append(f"| {r.backend} | {st.name} | {st.chains:,} | {st.wall_s:.2f} | {st.cpu_s:.2f} | "
                         f"{st.chains / st.wall_s:,.0f} | {st.note} |")
        lines.append(f"| {r.backend} | ledger after 3 anchors | | | | | {r.ledger_bytes:,} bytes |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anchor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="synthetic chains to anchor")
    parser.add_argument("--events", type=int, default=20, help="events per synthetic chain")
    parser.add_argument("--grow", type=int, default=1_000, help="chains grown, and cases added, before anchor 2")
    parser.add_argument("--database-url", help="SQLite URL to use instead of a temporary file")
    parser.add_argument("--pg", action="store_true", help="also run on a temporary PostgreSQL database")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ["sqlite", *(["postgresql"] if args.pg else [])]:
            with _database(backend, args.database_url if backend == "sqlite" else None, Path(tmp)) as url:
                print(f"{backend}: {args.cases} synthetic chains, anchoring …", file=sys.stderr)
                ledger = Path(tmp) / f"anchors-{backend}.jsonl"
                results.append(run_backend(url, backend, args.cases, args.events, args.grow, ledger))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
