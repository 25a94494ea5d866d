"""throttles (login back-off, public rate limits and quotas) and server-side web sessions

Revision ID: 0007_websec
Revises: 0006_case_path
Create Date: 2026-12-01 09:00:00

Both tables start empty: sessions made before this revision (cookies holding only a user id) are
no longer accepted, so everyone logs in again once.
"""

from alembic import op
import sqlalchemy as sa


revision = '0007_websec'
down_revision = '0006_case_path'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'throttles',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.DateTime(), nullable=False),
        sa.Column('blocked_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'web_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('seen_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name='fk_web_sessions_user_id_users'),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    op.create_index('ix_web_sessions_user_id', 'web_sessions', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_web_sessions_user_id', table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_table('throttles')
