"""hashes as their 32 bytes; the single-column case_id indexes of events and snapshots dropped (issue 17)

Revision ID: 0020_binary_hashes
Revises: 0019_assessment_partial_indexes
Create Date: 2026-12-04 20:30:00

``events.prev_hash``, ``events.hash``, ``snapshots.state_hash``, ``snapshots.projection_hash`` and
``cases.chain_head`` held SHA-256 digests as 64 hex characters; they become the 32 bytes (bytea,
BLOB), the empty text of a chain's start the empty bytes (app.models.HexDigest: Python still sees
the hex text, so no hash changes). ``ix_events_case_id`` and ``ix_snapshots_case_id`` duplicated
the leading column of the unique (case_id, seq) and (case_id, state_version); the foreign keys stay.

PostgreSQL converts in place (ALTER COLUMN TYPE … USING decode/encode: a table rewrite, which fires
no row trigger, so the append-only triggers stay on). SQLite 3.40 has no unhex(): the values are
converted by a function registered on the connection, then the column type is changed by copying
the table (a BLOB is copied as it is, and so is a hex text on the way down). The downgrade gives
back the same lowercase hex text.
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = '0020_binary_hashes'
down_revision = '0019_assessment_partial_indexes'
branch_labels = None
depends_on = None

COLUMNS = {"events": ("prev_hash", "hash"), "snapshots": ("state_hash", "projection_hash"),
           "cases": ("chain_head",)}
INDEXES = {"events": "ix_events_case_id", "snapshots": "ix_snapshots_case_id"}


def upgrade() -> None:
    for table, index in INDEXES.items():
        op.drop_index(index, table_name=table)
    if op.get_bind().dialect.name == "postgresql":
        _alter_postgres("bytea", "decode({}, 'hex')")
    else:
        _convert_sqlite("whistle_unhex", lambda value: bytes.fromhex(value) if isinstance(value, str) else value)
        _retype_sqlite(sa.String(length=64), sa.LargeBinary())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _alter_postgres("varchar(64)", "encode({}, 'hex')")
    else:
        _convert_sqlite("whistle_hex", lambda value: value.hex() if isinstance(value, bytes) else value)
        _retype_sqlite(sa.LargeBinary(), sa.String(length=64))
    for table, index in INDEXES.items():
        op.create_index(index, table, ["case_id"], unique=False)


def _alter_postgres(type_: str, using: str) -> None:
    for table, columns in COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {c} TYPE {type_} USING {using.format(c)}" for c in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def _convert_sqlite(name: str, convert: Callable[[object], object]) -> None:
    bind = op.get_bind()
    bind.connection.driver_connection.create_function(name, 1, convert, deterministic=True)
    for table, columns in COLUMNS.items():
        op.execute(f"UPDATE {table} SET " + ", ".join(f"{c} = {name}({c})" for c in columns))


def _retype_sqlite(old: sa.types.TypeEngine[object], new: sa.types.TypeEngine[object]) -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=False)
