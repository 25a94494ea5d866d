"""intake beyond the web form: imported work orders (12345), buildings, Open311 clients and requests

Revision ID: 0010_intake
Revises: 0009_process_drafts
Create Date: 2026-12-04 11:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010_intake'
down_revision = '0009_process_drafts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'imported_orders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('dispatched_at', sa.DateTime(), nullable=True),
        sa.Column('promised_at', sa.DateTime(), nullable=True),
        sa.Column('imported_at', sa.DateTime(), nullable=False),
        sa.Column('imported_by', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source', 'number'),
    )
    op.create_index('ix_imported_orders_case_id', 'imported_orders', ['case_id'])
    op.create_table(
        'buildings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('place_id', sa.Integer(), nullable=False),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('long', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['place_id'], ['units.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
    )
    op.create_index('ix_buildings_place_id', 'buildings', ['place_id'])
    op.create_table(
        'open311_clients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
        sa.UniqueConstraint('key_hash'),
    )
    op.create_table(
        'open311_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('long', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['client_id'], ['open311_clients.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('case_id'),
        sa.UniqueConstraint('token'),
    )
    op.create_index('ix_open311_requests_client_id', 'open311_requests', ['client_id'])


def downgrade() -> None:
    op.drop_index('ix_open311_requests_client_id', table_name='open311_requests')
    op.drop_table('open311_requests')
    op.drop_table('open311_clients')
    op.drop_index('ix_buildings_place_id', table_name='buildings')
    op.drop_table('buildings')
    op.drop_index('ix_imported_orders_case_id', table_name='imported_orders')
    op.drop_table('imported_orders')
