"""audit: hash-chained events, chain heads, snapshots, append-only trigger (issue 5)

Revision ID: 0004_audit
Revises: 0003_timers
Create Date: 2026-11-21 09:50:00

Existing events are chained in place (per case by seq; events of no case renumbered by id into
the ``system`` chain) BEFORE the PostgreSQL trigger that refuses UPDATE/DELETE is installed.
See docs/audit.md.
"""

from alembic import op
import sqlalchemy as sa

from app.services import chain


revision = '0004_audit'
down_revision = '0003_timers'
branch_labels = None
depends_on = None

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION whistle_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the audit record is append-only (吹哨全留痕)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
PROTECTED = ("events", "snapshots")


def upgrade() -> None:
    op.create_table('audit_chains',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('head', sa.String(length=64), nullable=False),
    sa.Column('length', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('state_version', sa.Integer(), nullable=False),
    sa.Column('serializer_version', sa.String(length=16), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('projection_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'state_version')
    )
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snapshots_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_head', sa.String(length=64), nullable=False, server_default=''))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=False, server_default=''))
    _chain_existing_events()
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.alter_column('chain_head', server_default=None)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', server_default=None)
        batch_op.alter_column('hash', server_default=None)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        for table in PROTECTED:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION whistle_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION whistle_append_only()")


def _chain_existing_events() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    events = sa.Table("events", meta, autoload_with=bind)
    cases = sa.Table("cases", meta, autoload_with=bind)
    chains = sa.Table("audit_chains", meta, autoload_with=bind)
    rows = bind.execute(sa.select(events).order_by(events.c.case_id, events.c.seq, events.c.id)).all()
    # The data is rewritten as its canonical JSON text, which is what the hash covers and what
    # the application's engine writes (app/db.py).
    as_json = "CAST(:data AS json)" if bind.dialect.name == "postgresql" else ":data"
    rewrite = sa.text(f"UPDATE events SET seq = :seq, prev_hash = :prev, hash = :hash, data = {as_json} "
                      "WHERE id = :id")
    heads: dict[object, tuple[str, int]] = {}
    for row in rows:
        prev, length = heads.get(row.case_id, (chain.GENESIS, 0))
        seq = row.seq if row.case_id is not None else length + 1
        text = chain.canonical_json(row.data or {})
        digest = chain.text_hash(row.case_id, seq, row.type, row.actor, row.actor_id, row.role, row.unit_id,
                                 row.process_version_id, row.state_version, row.created_at, text, prev)
        bind.execute(rewrite, {"seq": seq, "prev": prev, "hash": digest, "data": text, "id": row.id})
        heads[row.case_id] = (digest, length + 1)
    # The system chain's head row exists from the start, so the first appends lock it, never race to insert it.
    head, length = heads.pop(None, (chain.GENESIS, 0))
    bind.execute(chains.insert().values(name="system", head=head, length=length))
    for case_id, (head, _) in heads.items():
        bind.execute(cases.update().where(cases.c.id == case_id).values(chain_head=head))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in PROTECTED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS whistle_append_only()")
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('chain_head')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshots_case_id'))
    op.drop_table('snapshots')
    op.drop_table('audit_chains')
