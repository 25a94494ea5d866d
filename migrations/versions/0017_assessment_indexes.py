"""indexes of the assessment indicators (统计考核) counted by SQL aggregates over a period

Revision ID: 0017_assessment_indexes
Revises: 0016_snapshot_deltas
Create Date: 2026-12-04 14:30:00

Each indicator reads the rows of one period: the summonses (report_ins.summoned_at), the handling
tasks due (tasks.stage, due_at), the dispatches (events.type, created_at: the largest table) and the
cases closed (cases.closed_at, for 满意率). bench/assessment_scale.py measures them.
"""

from alembic import op


revision = '0017_assessment_indexes'
down_revision = '0016_snapshot_deltas'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_report_ins_summoned': ('report_ins', ['summoned_at']),
    'ix_tasks_stage_due': ('tasks', ['stage', 'due_at']),
    'ix_events_type_created': ('events', ['type', 'created_at']),
    'ix_cases_closed': ('cases', ['closed_at']),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
