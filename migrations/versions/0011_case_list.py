"""indexes of the case list (案件查询): its sort orders, filters and the scope by unit

Revision ID: 0011_case_list
Revises: 0010_intake
Create Date: 2026-12-04 12:00:00

The composite (unit_id, case_id) index of case_units replaces the one on unit_id alone: it answers
"the cases linked to these units" from the index without reading the table.
"""

from alembic import op


revision = '0011_case_list'
down_revision = '0010_intake'
branch_labels = None
depends_on = None

CASE_INDEXES = {
    'ix_cases_created': ['created_at', 'id'],
    'ix_cases_updated': ['updated_at', 'id'],
    'ix_cases_status_due': ['status', 'due_at'],
    'ix_cases_reported_by': ['reported_by_id', 'created_at'],
    'ix_cases_matter': ['matter'],
}


def upgrade() -> None:
    for name, columns in CASE_INDEXES.items():
        op.create_index(name, 'cases', columns)
    op.create_index('ix_case_units_unit_case', 'case_units', ['unit_id', 'case_id'])
    op.drop_index('ix_case_units_unit_id', table_name='case_units')


def downgrade() -> None:
    op.create_index('ix_case_units_unit_id', 'case_units', ['unit_id'])
    op.drop_index('ix_case_units_unit_case', table_name='case_units')
    for name in CASE_INDEXES:
        op.drop_index(name, table_name='cases')
