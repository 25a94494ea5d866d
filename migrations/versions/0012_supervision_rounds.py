"""督办 the right way round: the rounds of a supervision (issued, answered, closed or pressed again)

Revision ID: 0012_supervision_rounds
Revises: 0011_case_list
Create Date: 2026-12-04 14:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0012_supervision_rounds'
down_revision = '0011_case_list'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'supervision_rounds',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('entry_id', sa.Integer(), sa.ForeignKey('supervision_entries.id'), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('issued_at', sa.DateTime(), nullable=False),
        sa.Column('issued_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('answer_due_at', sa.DateTime(), nullable=True),
        sa.Column('answer_reason', sa.Text(), nullable=True),
        sa.Column('answer_measures', sa.Text(), nullable=True),
        sa.Column('promised_date', sa.Date(), nullable=True),
        sa.Column('answered_at', sa.DateTime(), nullable=True),
        sa.Column('answered_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('verdict', sa.String(length=16), nullable=True),
        sa.Column('verdict_note', sa.Text(), nullable=True),
        sa.Column('verdict_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_supervision_rounds_entry_id', 'supervision_rounds', ['entry_id'])


def downgrade() -> None:
    op.drop_index('ix_supervision_rounds_entry_id', table_name='supervision_rounds')
    op.drop_table('supervision_rounds')
