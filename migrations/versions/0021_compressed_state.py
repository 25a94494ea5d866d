"""cases.state stored zstd-compressed (issue 17)

Revision ID: 0021_compressed_state
Revises: 0020_binary_hashes
Create Date: 2026-12-04 21:00:00

``cases.state`` (the engine's JSON, ~45 KB for a whistle case, rewritten at every step) becomes
binary: app.models.CompressedText writes it zstd-compressed. The upgrade only changes the column's
type, keeping each value as its UTF-8 bytes (one table rewrite, no per-row work: a case is
compressed at its next step; a value of UTF-8 bytes reads as it is). On PostgreSQL the column is
then stored out of line without PostgreSQL's own compression, which the zstd frames would not gain
from. The downgrade gives back the text of every value, compressed or not.
"""

import sqlalchemy as sa
from alembic import op

from app.compression import text_of

revision = '0021_compressed_state'
down_revision = '0020_binary_hashes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE cases ALTER COLUMN state TYPE bytea USING convert_to(state, 'UTF8')")
        op.execute("ALTER TABLE cases ALTER COLUMN state SET STORAGE EXTERNAL")
        return
    op.execute("UPDATE cases SET state = CAST(state AS BLOB)")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("state", existing_type=sa.Text(), type_=sa.LargeBinary(), existing_nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer()), sa.column("state", sa.LargeBinary()))
    rows = bind.execute(sa.select(cases.c.id, cases.c.state)).all()
    texts = {row.id: text_of(row.state) or "" for row in rows}
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE cases ALTER COLUMN state SET STORAGE EXTENDED")
        op.execute("ALTER TABLE cases ALTER COLUMN state TYPE text USING ''")
    else:
        with op.batch_alter_table("cases", schema=None) as batch_op:
            batch_op.alter_column("state", existing_type=sa.LargeBinary(), type_=sa.Text(), existing_nullable=False)
    restored = sa.table("cases", sa.column("id", sa.Integer()), sa.column("state", sa.Text()))
    update = restored.update().where(restored.c.id == sa.bindparam("case_id")).values(state=sa.bindparam("text"))
    if texts:
        bind.execute(update, [{"case_id": case_id, "text": text} for case_id, text in texts.items()])

