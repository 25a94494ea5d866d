"""the organisation's revision: one row every unit write bumps (the unit tree's cache stamp)

Revision ID: 0018_org_revision
Revises: 0017_assessment_indexes
Create Date: 2026-12-04 17:10:00

Workers cache the unit tree (who sees which units) per request stamp; a count and sums of the
parents alone could in theory miss several moves that cancel out. The revision is exact for every
write the app makes (app/services/per_version.py bumps it in the flush that writes a unit).
"""

import sqlalchemy as sa
from alembic import op


revision = '0018_org_revision'
down_revision = '0017_assessment_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'org_revision',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('revision', sa.Integer(), nullable=False),
    )
    op.bulk_insert(table, [{'id': 1, 'revision': 0}])


def downgrade() -> None:
    op.drop_table('org_revision')
