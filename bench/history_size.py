"""History storage per case on PostgreSQL: snapshots (as stored, and as they would be whole), events,
the cases table, after VACUUM.

``python -m bench.history_size [--cases 100] [--seed 1] [--database-url URL]``

1. A fresh PostgreSQL database (migrations, the demo organisation, ``processes/``), then ``--cases``
   realistic cases driven to varied ends by :class:`app.services.simulate.Simulator` through the
   real services (the mix of bench.lifecycle).
2. The same snapshots once more, every state whole (zlib of the full JSON, as every row was stored
   before snapshots became deltas), in a table of the same shape: the before figure, same cases,
   same run.
3. ``VACUUM ANALYZE``, then each table's total size on disk (heap, TOAST, indexes:
   ``pg_total_relation_size``) divided by the cases, and the bytes of the rows of the whistle cases
   alone (those filed as a whistle, 备案: a ``whistle_filed`` event; ``pg_column_size`` of each row)
   per whistle case.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, text

from app.db import Database
from app.models import HexDigest, Snapshot
from app.services import snapshots
from app.services.simulate import Simulator
from bench.lifecycle import PG_URL, fresh_postgres, setup_database

KB = 1024
WHOLE = "snapshots_whole"


@dataclass
class Sizes:
    cases: int
    whistles: int
    steps: int  # snapshots
    table_kb: dict[str, float]  # per case: total relation size / cases
    whistle_kb: dict[str, float]  # per whistle case: bytes of its rows


def measure(url: str, cases: int, seed: int = 1) -> Sizes:
    db = setup_database(url)
    try:
        Simulator(db, seed).run(cases)
        _whole_copy(db)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            return _sizes(conn)
    finally:
        db.dispose()


def _whole_copy(db: Database) -> None:
    """Every snapshot again, whole: what the history stored before deltas."""
    with db.unit_of_work() as s:
        s.execute(text(f"CREATE TABLE {WHOLE} (LIKE snapshots INCLUDING ALL)"))
        for case_id in s.scalars(select(Snapshot.case_id).distinct()).all():
            rows = s.execute(select(Snapshot).where(Snapshot.case_id == case_id)
                             .order_by(Snapshot.state_version)).scalars().all()
            s.execute(text(
                f"INSERT INTO {WHOLE} (id, case_id, state_version, serializer_version, state, is_delta, "
                "state_hash, projection_hash, created_at) VALUES (:id, :case_id, :state_version, "
                ":serializer_version, :state, false, :state_hash, :projection_hash, :created_at)").bindparams(
                bindparam("state_hash", type_=HexDigest), bindparam("projection_hash", type_=HexDigest)), [
                {"id": row.id, "case_id": row.case_id, "state_version": row.state_version,
                 "serializer_version": row.serializer_version, "state": zlib.compress(body.encode("utf-8"), 6),
                 "state_hash": row.state_hash, "projection_hash": row.projection_hash, "created_at": row.created_at}
                for row, body in zip(rows, snapshots.texts(rows), strict=True)])


def _sizes(conn: Any) -> Sizes:
    count = conn.scalar(text("SELECT count(*) FROM cases"))
    whistle_ids = "SELECT DISTINCT case_id FROM events WHERE type = 'whistle_filed'"
    whistles = conn.scalar(text(f"SELECT count(*) FROM ({whistle_ids}) w"))
    steps = conn.scalar(text("SELECT count(*) FROM snapshots"))
    tables = {"snapshots": "snapshots", "snapshots whole (before)": WHOLE, "events": "events", "cases": "cases"}
    table_kb = {label: conn.scalar(text(f"SELECT pg_total_relation_size('{name}')")) / KB / count
                for label, name in tables.items()}
    whistle_kb = {}
    for label, name in tables.items():
        key = "id" if name == "cases" else "case_id"
        total = conn.scalar(text(f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {name} t "
                                 f"WHERE t.{key} IN ({whistle_ids})"))
        whistle_kb[label] = total / KB / max(whistles, 1)
    return Sizes(count, whistles, steps, table_kb, whistle_kb)


def report(sizes: Sizes) -> str:
    lines = [f"{sizes.cases} cases ({sizes.whistles} whistle cases), {sizes.steps} snapshots; after VACUUM ANALYZE",
             "",
             "| table | KB per case (table + TOAST + indexes) | KB per whistle case (its rows) |",
             "|---|---:|---:|"]
    for label in sizes.table_kb:
        lines.append(f"| {label} | {sizes.table_kb[label]:.1f} | {sizes.whistle_kb[label]:.1f} |")
    history = sizes.whistle_kb["snapshots"] + sizes.whistle_kb["events"]
    before = sizes.whistle_kb["snapshots whole (before)"] + sizes.whistle_kb["events"]
    lines += ["", f"history per whistle case (snapshots + events): {history:.1f} KB "
              f"(whole snapshots: {before:.1f} KB); snapshots alone {sizes.whistle_kb['snapshots']:.1f} KB "
              f"({sizes.whistle_kb['snapshots whole (before)'] / max(sizes.whistle_kb['snapshots'], 1e-9):.1f}× less)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_size", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=PG_URL, help="a PostgreSQL server; a fresh database is made on it")
    args = parser.parse_args(argv)
    with fresh_postgres(args.database_url) as url:
        print(report(measure(url, args.cases, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
