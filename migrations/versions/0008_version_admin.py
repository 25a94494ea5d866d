"""process versions: a deploy comment, and retired_at (a retired version takes no new cases)

Revision ID: 0008_version_admin
Revises: 0007_websec
Create Date: 2026-12-04 11:40:00

Both columns are nullable: versions deployed before this revision have no comment and are current.
"""

from alembic import op
import sqlalchemy as sa


revision = '0008_version_admin'
down_revision = '0007_websec'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_versions') as batch:
        batch.add_column(sa.Column('comment', sa.Text(), nullable=True))
        batch.add_column(sa.Column('retired_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('process_versions') as batch:
        batch.drop_column('retired_at')
        batch.drop_column('comment')
