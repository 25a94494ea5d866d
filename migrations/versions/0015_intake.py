"""intake: reports closed at triage into another case (并案 / 重复件), background import jobs, Open311 media

Revision ID: 0015_intake
Revises: 0014_inbox_keyset
Create Date: 2026-12-04 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0015_intake'
down_revision = '0014_inbox_keyset'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_merges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('merged_by_id', sa.Integer(), nullable=False),
        sa.Column('merged_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['target_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['merged_by_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id'),
    )
    op.create_index('ix_case_merges_target_id', 'case_merges', ['target_id'])
    op.create_table(
        'import_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('counts', sa.Text(), nullable=False),
        sa.Column('results', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_import_jobs_user_id', 'import_jobs', ['user_id'])
    with op.batch_alter_table('open311_requests') as batch:
        batch.add_column(sa.Column('media_url', sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column('attachment_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_open311_requests_attachment_id', 'attachments', ['attachment_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('open311_requests') as batch:
        batch.drop_constraint('fk_open311_requests_attachment_id', type_='foreignkey')
        batch.drop_column('attachment_id')
        batch.drop_column('media_url')
    op.drop_index('ix_import_jobs_user_id', table_name='import_jobs')
    op.drop_table('import_jobs')
    op.drop_index('ix_case_merges_target_id', table_name='case_merges')
    op.drop_table('case_merges')
