"""process drafts: an admin's edits of a version's files in the browser modeler, kept on the server

Revision ID: 0009_process_drafts
Revises: 0008_version_admin
Create Date: 2026-12-04 11:55:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009_process_drafts'
down_revision = '0008_version_admin'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'process_drafts',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('base_version', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_process_drafts_user_id_users'),
        sa.PrimaryKeyConstraint('user_id', 'file_name'),
    )


def downgrade() -> None:
    op.drop_table('process_drafts')
