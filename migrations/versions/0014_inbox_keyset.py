"""the inbox at scale: partial indexes of the open tasks, in the inbox's deadline order

Revision ID: 0014_inbox_keyset
Revises: 0013_assessment
Create Date: 2026-12-04 14:10:00

Only open tasks are in them (a district has a few hundred thousand of those among millions of
completed ones). (role, unit, due, id) answers one page of an inbox by seeking to the page's cursor;
(role, unit, type, due, id) the same under a type filter, and the per-type counts by skipping from
type to type; (assignee, due, id) 只看我签收的. EXPLAIN plans and figures: bench/README.md.
"""

from alembic import op
import sqlalchemy as sa


revision = '0014_inbox_keyset'
down_revision = '0013_assessment'
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")
INDEXES = {
    'ix_tasks_open_due': ['role', 'unit_id', 'due_at', 'id'],
    'ix_tasks_open_type_due': ['role', 'unit_id', 'task_type', 'due_at', 'id'],
    'ix_tasks_open_assignee': ['assignee_id', 'due_at', 'id'],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'tasks', columns, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='tasks')
