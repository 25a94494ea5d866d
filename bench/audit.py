"""Audit-record benchmark: verify hash chains, replay real cases, measure what the history costs to keep.

``python -m bench.audit [--cases 10000] [--events 20] [--replay-cases 1000] [--database-url URL] [--pg]``

For each backend, on a fresh database (migrations, the demo organisation, ``processes/``):

1. **Real cases.** ``--replay-cases`` realistic cases driven to varied ends by
   :class:`app.services.simulate.Simulator` through the real services (every step records its
   events, hash chain and snapshot exactly as in production).
2. **Synthetic chains.** ``--cases`` more cases with ``--events`` events each, built with the
   same code that records events (:func:`app.services.chain.event_hash`, the canonical form and
   links of ``workflow.record_event``) and bulk-inserted, heads and counts set on the cases.
3. **Verify.** ``audit.verify`` over every chain (the real and the synthetic, plus the system
   chain), timed: events/s and chains/s. Then the real cases again with their snapshots checked.
4. **Replay.** ``replay.replay_case`` on each real case (the first one's bundle parse excluded),
   timed per case: cases/s, median / p90 / max ms. Every replay must show no divergence.
5. **Storage.** Bytes per event of the real cases: the stored event columns, and the snapshots
   (compressed state + hashes) divided by the events, i.e. what each event of history costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.cli import run_migrations
from app.db import Database, temporary_postgres_database
from app.definitions.versions import bundle_of, deploy_directory
from app.models import Case, CaseUnit, Event, ProcessVersion, Snapshot, Unit
from app.services import audit, chain, clock
from app.services.org import ancestors, load_organisation
from app.services.replay import replay_case
from app.services.simulate import run_simulation
from app.settings import ROOT

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
EVENT_TYPES = ("task_ready", "task_completed", "handler_called", "state_saved", "task_claimed")


@dataclass
class Result:
    backend: str
    chains: int
    events: int
    verify_s: float
    verify_cpu_s: float
    snapshot_events: int
    snapshot_s: float
    replayed: int
    replay_ms: list[float]
    replay_cpu_ms: list[float]
    diverged: int
    event_bytes: float
    snapshot_bytes: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.verify_s

    @property
    def events_per_cpu_s(self) -> float:
        return self.events / self.verify_cpu_s

    @property
    def replay_cases_per_s(self) -> float:
        return len(self.replay_ms) / (sum(self.replay_ms) / 1000) if self.replay_ms else 0.0


def _setup(url: str) -> Database:
    run_migrations(url)
    db = Database(url)
    with db.unit_of_work() as s:
        load_organisation(s, ROOT / "config" / "demo_org.yaml")
        deploy_directory(s, ROOT / "processes", "bench")
    return db


def synthetic_chains(db: Database, cases: int, events: int) -> None:
    """Cases with chained events, made by the recording code's hash and canonical form."""
    with db.unit_of_work() as s:
        grid = s.scalars(select(Unit).where(Unit.kind == "grid").order_by(Unit.id)).first()
        version = s.scalar(select(ProcessVersion.id).order_by(ProcessVersion.version.desc()).limit(1))
        assert grid is not None and version is not None
        path = [unit.id for unit in ancestors(grid)]  # the place, then every unit above it
        district_id = path[-1]
        start = (s.scalar(select(func.max(Case.id))) or 0) + 1
    now = clock.now()
    batch = 500
    for first in range(start, start + cases, batch):
        ids = range(first, min(first + batch, start + cases))
        case_rows, event_rows = [], []
        for case_id in ids:
            prev = chain.GENESIS
            for seq in range(1, events + 1):
                row = {"case_id": case_id, "seq": seq, "type": EVENT_TYPES[seq % len(EVENT_TYPES)],
                       "actor": "op-dc", "actor_id": None, "role": "platform_operator", "unit_id": district_id,
                       "process_version_id": version, "state_version": seq // 3 + 1,
                       "data": chain.normalized({"task": "triage", "form": {"grade": 2, "note": "合成事件"}}),
                       "created_at": now + timedelta(seconds=seq), "prev_hash": prev}
                row["hash"] = chain.event_hash(**{("type_" if k == "type" else k): v for k, v in row.items()})
                prev = row["hash"]
                event_rows.append(row)
            case_rows.append({
                "id": case_id, "number": f"SYN-{case_id:08d}", "tracking_code": f"S{case_id:011d}",
                "process_id": "case", "process_version_id": version, "title": "合成", "description": "",
                "channel": "web", "address": "", "reporter_name": "", "reporter_phone": "", "place_id": path[0],
                "status": "open", "current_step": "", "rework_count": 0, "return_count": 0, "urgent": False,
                "created_at": now, "updated_at": now, "event_count": events, "chain_head": prev,
                "serializer_version": "", "state": "", "version": events // 3 + 1,
            })
        with db.engine.begin() as conn:
            conn.execute(Case.__table__.insert(), case_rows)
            conn.execute(Event.__table__.insert(), event_rows)
            conn.execute(CaseUnit.__table__.insert(), [
                {"case_id": case_id, "unit_id": unit_id, "depth": depth}
                for case_id in ids for depth, unit_id in enumerate(path)])


def storage(db: Database, case_ids: list[int]) -> tuple[float, float]:
    """(event bytes, snapshot bytes) per event of these cases, as stored column payloads."""
    event_bytes = snapshot_bytes = 0
    count = 0
    with db.sessions() as s:
        for row in s.execute(select(Event).where(Event.case_id.in_(case_ids))).scalars():
            count += 1
            event_bytes += (len(chain.canonical_json(row.data).encode()) + len(row.type) + len(row.actor.encode())
                            + len(row.role or "") + (len(row.prev_hash) + len(row.hash)) // 2 + 7 * 8)
        for size, in s.execute(select(func.length(Snapshot.state)).where(Snapshot.case_id.in_(case_ids))):
            snapshot_bytes += size + 32 + 32 + 16 + 3 * 8  # the two digests stored as 32 bytes each
    return event_bytes / max(count, 1), snapshot_bytes / max(count, 1)


def run_backend(url: str, backend: str, cases: int, events: int, replay_cases: int, seed: int = 1) -> Result:
    db = _setup(url)
    try:
        run_simulation(db, replay_cases, seed)
        with db.sessions() as s:
            real = list(s.scalars(select(Case.id).order_by(Case.id)))
        synthetic_chains(db, cases, events)
        with db.sessions() as s:
            began, cpu = time.perf_counter(), time.process_time()
            verification = audit.verify(s)
            verify_s, verify_cpu_s = time.perf_counter() - began, time.process_time() - cpu
            if not verification.ok:
                raise SystemExit(f"verify failed: {verification.first_break}")
            began = time.perf_counter()
            with_snapshots = audit.verify(s, real, snapshots=True, system=False)
            snapshot_s = time.perf_counter() - began
            assert with_snapshots.ok, with_snapshots.first_break
            first = s.get(Case, real[0])
            assert first is not None
            bundle_of(s, first.process_version_id)  # parsed once per worker, as in production
            times, cpu_times, diverged = [], [], 0
            for case_id in real:
                result = replay_case(s, case_id)
                times.append(result.ms)
                cpu_times.append(result.cpu_ms)
                diverged += not result.ok
        event_b, snap_b = storage(db, real)
        return Result(backend, verification.chains, verification.events, verify_s, verify_cpu_s,
                      with_snapshots.events, snapshot_s, len(real), times, cpu_times, diverged, event_b, snap_b)
    finally:
        db.dispose()


def _spread(values: list[float]) -> str:
    ordered = sorted(values) or [0.0]
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(ordered):.1f} / {p90:.1f} / {ordered[-1]:.1f}"


def report(results: list[Result]) -> str:
    lines = [
        "| backend | chains | events | verify events/s (per CPU-s) | verify+snapshots events/s | replayed cases | "
        "replay cases/s | replay ms median / p90 / max | replay CPU ms median / p90 / max | diverged | "
        "bytes/event (events + snapshots) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.chains:,} | {r.events:,} | {r.events_per_s:,.0f} ({r.events_per_cpu_s:,.0f}) | "
            f"{r.snapshot_events / r.snapshot_s:,.0f} | {r.replayed:,} | {r.replay_cases_per_s:,.1f} | "
            f"{_spread(r.replay_ms)} | {_spread(r.replay_cpu_ms)} | {r.diverged} | "
            f"{r.event_bytes + r.snapshot_bytes:,.0f} ({r.event_bytes:,.0f} + {r.snapshot_bytes:,.0f}) |"
        )
    return "\n".join(lines)


def _database(backend: str, url: str | None, tmp: Path) -> AbstractContextManager[str]:
    if backend == "postgresql":
        return temporary_postgres_database(url or PG_URL, "whistle_bench")
    return nullcontext(url or f"sqlite:///{tmp / 'audit-bench.db'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="synthetic chains to verify")
    parser.add_argument("--events", type=int, default=20, help="events per synthetic chain")
    parser.add_argument("--replay-cases", type=int, default=1_000, help="real cases to simulate and replay")
    parser.add_argument("--database-url", help="SQLite URL to use instead of a temporary file")
    parser.add_argument("--pg", action="store_true", help="also run on a temporary PostgreSQL database")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ["sqlite", *(["postgresql"] if args.pg else [])]:
            with _database(backend, args.database_url if backend == "sqlite" else None, Path(tmp)) as url:
                print(f"{backend}: simulating {args.replay_cases} cases, then {args.cases} synthetic chains …",
                      file=sys.stderr)
                results.append(run_backend(url, backend, args.cases, args.events, args.replay_cases, args.seed))
    print(report(results))
    return 1 if any(r.diverged for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
