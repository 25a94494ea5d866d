"""grades a leader gives (等次评定), kept with their history; whistles pushed to the city (推送市级);
Excel exports made in the background (export_jobs)

Revision ID: 0013_assessment
Revises: 0012_supervision_rounds
Create Date: 2026-12-04 14:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0013_assessment'
down_revision = '0012_supervision_rounds'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'assessment_grades',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('grading', sa.String(length=64), nullable=False),
        sa.Column('grade', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('given_by_id', sa.Integer(), nullable=True),
        sa.Column('given_at', sa.DateTime(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['given_by_id'], ['users.id']),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('period_start', 'period_end', 'unit_id', 'version'),
    )
    op.create_index('ix_assessment_grades_period', 'assessment_grades', ['period_start', 'period_end'])
    op.create_index(op.f('ix_assessment_grades_unit_id'), 'assessment_grades', ['unit_id'])
    op.create_table(
        'whistle_pushes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('pushed_by_id', sa.Integer(), nullable=True),
        sa.Column('pushed_at', sa.DateTime(), nullable=False),
        sa.Column('undone_by_id', sa.Integer(), nullable=True),
        sa.Column('undone_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['pushed_by_id'], ['users.id']),
        sa.ForeignKeyConstraint(['undone_by_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_whistle_pushes_case_id'), 'whistle_pushes', ['case_id'])
    op.create_table(
        'export_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('what', sa.String(length=32), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('progress', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_export_jobs_user_id'), 'export_jobs', ['user_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_export_jobs_user_id'), table_name='export_jobs')
    op.drop_table('export_jobs')
    op.drop_index(op.f('ix_whistle_pushes_case_id'), table_name='whistle_pushes')
    op.drop_table('whistle_pushes')
    op.drop_index(op.f('ix_assessment_grades_unit_id'), table_name='assessment_grades')
    op.drop_index('ix_assessment_grades_period', table_name='assessment_grades')
    op.drop_table('assessment_grades')
