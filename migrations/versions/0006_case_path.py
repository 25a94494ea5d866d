"""A case's place and path instead of four fixed unit columns

Revision ID: 0006_case_path
Revises: 0005_ledger
Create Date: 2026-12-04 06:00:00

A case belonged to exactly a grid, a community, a street and a district (four columns). Now it has
a ``place`` (the unit it was reported on) and its path — the place and every unit above it, any
number of levels of any kinds — is kept in ``case_units`` with each unit's ``depth`` (0 = the
place). Existing cases keep the same four units, at depths 0 to 3. Downgrading works for cases
whose path has those four levels.
"""

from alembic import op
import sqlalchemy as sa


revision = '0006_case_path'
down_revision = '0005_ledger'
branch_labels = None
depends_on = None

OLD_COLUMNS = ('grid_id', 'community_id', 'street_id', 'district_id')  # depth 0, 1, 2, 3


def upgrade() -> None:
    with op.batch_alter_table('case_units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('depth', sa.Integer(), nullable=True))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place_id', sa.Integer(), nullable=True))
    op.execute("UPDATE cases SET place_id = grid_id")
    for depth, column in enumerate(OLD_COLUMNS):
        # a path unit not linked yet (never the case so far, but cheap to make sure) gets its link
        op.execute(f"INSERT INTO case_units (case_id, unit_id) SELECT c.id, c.{column} FROM cases c "
                   f"WHERE NOT EXISTS (SELECT 1 FROM case_units cu WHERE cu.case_id = c.id "
                   f"AND cu.unit_id = c.{column})")
        op.execute(f"UPDATE case_units SET depth = {depth} WHERE unit_id = "
                   f"(SELECT c.{column} FROM cases c WHERE c.id = case_units.case_id)")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_street')
        for column in OLD_COLUMNS:
            batch_op.drop_column(column)
        batch_op.alter_column('place_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key('fk_cases_place_id_units', 'units', ['place_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_cases_place_id'), ['place_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for column in OLD_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
    for depth, column in enumerate(OLD_COLUMNS):
        op.execute(f"UPDATE cases SET {column} = (SELECT cu.unit_id FROM case_units cu "
                   f"WHERE cu.case_id = cases.id AND cu.depth = {depth})")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_place_id'))
        batch_op.drop_constraint('fk_cases_place_id_units', type_='foreignkey')
        batch_op.drop_column('place_id')
        for column in OLD_COLUMNS:
            batch_op.alter_column(column, existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(f'fk_cases_{column}_units', 'units', [column], ['id'])
        batch_op.create_index('ix_cases_street', ['street_id'], unique=False)
    with op.batch_alter_table('case_units', schema=None) as batch_op:
        batch_op.drop_column('depth')
