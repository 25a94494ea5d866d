"""partial indexes of the assessment aggregates that read whole tables (统计考核 at scale)

Revision ID: 0019_assessment_partial_indexes
Revises: 0018_org_revision
Create Date: 2026-12-04 18:30:00

- ``cases (id) WHERE rework_count <> 0``: 返工率 counts, of the handling tasks due in a period,
  the cases sent back for rework; with the reworked cases indexed alone it no longer joins every
  case's row.
- ``events (created_at, unit_id, case_id) WHERE type = 'task_completed' AND`` the form's ``action`` is
  ``returned``: 回退率's send-backs, without reading every completion of the period. The predicate is
  the one the query sends for config/assessment.yaml's ``sent_back`` rule as shipped (field
  ``action``, value ``returned``); a locality that changes the rule gets the same counts from the
  (type, created_at) index, only slower. Each database gets its own JSON syntax.
- ``events (case_id) WHERE type = 'whistle_started'``: a whistle counts once its head approved it
  (blown); the whistles of a period are checked against these few events, not against every event
  of each case.

bench/assessment_scale.py measures them (bench/README.md, session 9).
"""

import sqlalchemy as sa
from alembic import op

revision = '0019_assessment_partial_indexes'
down_revision = '0018_org_revision'
branch_labels = None
depends_on = None

REWORKED = sa.text('rework_count <> 0')
BLOWN = sa.text("type = 'whistle_started'")
SENT_BACK = {
    'postgresql': sa.text("type = 'task_completed' AND (data #>> '{form,action}') = 'returned'"),
    'sqlite': sa.text("type = 'task_completed' AND json_extract(data, '$.form.action') = 'returned'"),
}


def upgrade() -> None:
    op.create_index('ix_cases_reworked', 'cases', ['id'], postgresql_where=REWORKED, sqlite_where=REWORKED)
    op.create_index('ix_events_sent_back', 'events', ['created_at', 'unit_id', 'case_id'],
                    postgresql_where=SENT_BACK['postgresql'], sqlite_where=SENT_BACK['sqlite'])
    op.create_index('ix_events_whistle_started', 'events', ['case_id'], postgresql_where=BLOWN, sqlite_where=BLOWN)


def downgrade() -> None:
    op.drop_index('ix_events_whistle_started', table_name='events')
    op.drop_index('ix_events_sent_back', table_name='events')
    op.drop_index('ix_cases_reworked', table_name='cases')
