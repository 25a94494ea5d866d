"""snapshots as deltas: each step's state stored as the delta against the step before (issue 17)

Revision ID: 0016_snapshot_deltas
Revises: 0015_intake
Create Date: 2026-12-04 14:00:00

Existing snapshots are rewritten in place: per case, every one but the first and those of steps
divisible by FULL_EVERY becomes the delta against the snapshot before it (app/services/snapshots.py);
a state no delta rebuilds exactly stays whole. Their hashes do not change: a reader rebuilds the
same text. The append-only trigger of PostgreSQL is switched off for the rewrite alone. The
downgrade writes every state whole again, zlib-compressed as before this revision.

(Since zstd, the upgrade writes each such row compressed against the state before it, as a step
does now; the reader still reads the structural deltas this revision first wrote.)
"""

import zlib
from collections.abc import Callable
from typing import Any

from alembic import op
import sqlalchemy as sa

from app.compression import is_zstd
from app.services.snapshots import encode, texts


revision = '0016_snapshot_deltas'
down_revision = '0015_intake'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_delta', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.alter_column('is_delta', server_default=None)
    _rewrite(_to_deltas)


def downgrade() -> None:
    _rewrite(_to_whole)
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_column('is_delta')


def _to_deltas(rows: list[Any]) -> list[tuple[int, bytes, bool]]:
    changes = []
    previous: str | None = None
    for row, text in zip(rows, texts(rows), strict=True):
        body, is_delta = encode(row.state_version, text, previous)
        if is_delta:
            changes.append((row.id, body, True))
        previous = text
    return changes


def _to_whole(rows: list[Any]) -> list[tuple[int, bytes, bool]]:
    return [(row.id, zlib.compress(text.encode("utf-8"), 6), False)
            for row, text in zip(rows, texts(rows), strict=True) if row.is_delta or is_zstd(row.state)]


def _rewrite(convert: Callable[[list[Any]], list[tuple[int, bytes, bool]]]) -> None:
    bind = op.get_bind()
    snapshots = sa.Table("snapshots", sa.MetaData(), autoload_with=bind)
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE snapshots DISABLE TRIGGER snapshots_append_only")
    update = snapshots.update().where(snapshots.c.id == sa.bindparam("row_id")).values(
        state=sa.bindparam("body"), is_delta=sa.bindparam("delta"))
    for case_id in bind.scalars(sa.select(snapshots.c.case_id).distinct()).all():
        rows = bind.execute(
            sa.select(snapshots.c.id, snapshots.c.state_version, snapshots.c.state, snapshots.c.is_delta)
            .where(snapshots.c.case_id == case_id).order_by(snapshots.c.state_version)).all()
        changes = convert(rows)
        if changes:
            bind.execute(update, [{"row_id": i, "body": b, "delta": d} for i, b, d in changes])
    if postgres:
        op.execute("ALTER TABLE snapshots ENABLE TRIGGER snapshots_append_only")
