"""督办 ledger: the head's answer on the entry, and entries transferred (转办) by an escalation

Revision ID: 0005_ledger
Revises: 0004_audit
Create Date: 2026-11-28 10:00:00

``cleared_at`` becomes ``closed_at`` (struck off or transferred). Entries recorded before this
revision are brought up to date from what is already stored: the latest ``supervision_answered``
event of an entry gives its answer, and an open entry whose late task's inbox row was cancelled is
transferred at the row's cancel time (to the case's escalated whistle, when it was escalated).
No event is appended for these: the events that happened are already in the record.
"""

from datetime import date

from alembic import op
import sqlalchemy as sa


revision = '0005_ledger'
down_revision = '0004_audit'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('supervision_entries', schema=None) as batch_op:
        batch_op.alter_column('cleared_at', new_column_name='closed_at', existing_type=sa.DateTime(),
                              existing_nullable=True)
        batch_op.add_column(sa.Column('transferred_to_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('answer_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answer_measures', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('promised_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('answered_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('answered_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_supervision_entries_transferred_to_id_cases', 'cases',
                                    ['transferred_to_id'], ['id'])
        batch_op.create_foreign_key('fk_supervision_entries_answered_by_id_users', 'users',
                                    ['answered_by_id'], ['id'])
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    entries, events, tasks, cases = (sa.Table(name, meta, autoload_with=bind)
                                     for name in ("supervision_entries", "events", "tasks", "cases"))
    answered = bind.execute(sa.select(events.c.data, events.c.actor_id, events.c.created_at)
                            .where(events.c.type == "supervision_answered").order_by(events.c.id)).all()
    for data, actor_id, created_at in answered:  # in order: an entry's latest answer wins
        if not isinstance(data, dict) or not isinstance(data.get("entry"), int):
            continue
        bind.execute(entries.update().where(entries.c.id == data["entry"]).values(
            answer_reason=_text(data.get("reason")), answer_measures=_text(data.get("measures")),
            promised_date=_date(data.get("promised_date")), answered_at=created_at, answered_by_id=actor_id))
    stranded = bind.execute(
        sa.select(entries.c.id, entries.c.case_id, entries.c.due_at, tasks.c.completed_at, cases.c.outcome)
        .join(tasks, tasks.c.id == entries.c.task_id).join(cases, cases.c.id == entries.c.case_id)
        .where(entries.c.status == "open", tasks.c.status == "cancelled")
    ).all()
    for entry_id, case_id, due_at, cancelled_at, outcome in stranded:
        target = bind.scalar(sa.select(cases.c.id).where(cases.c.parent_case_id == case_id)
                             .order_by(cases.c.id.desc()).limit(1)) if outcome == "escalated" else None
        closed = cancelled_at or due_at
        bind.execute(entries.update().where(entries.c.id == entry_id).values(
            status="transferred", closed_at=closed, transferred_to_id=target,
            late_minutes=max(0, int((closed - due_at).total_seconds() // 60))))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def downgrade() -> None:
    bind = op.get_bind()
    # 0004 knows open and cleared only: a transferred entry was never struck off, so it is open there
    bind.execute(sa.text("UPDATE supervision_entries SET status = 'open', closed_at = NULL, late_minutes = NULL "
                         "WHERE status = 'transferred'"))
    with op.batch_alter_table('supervision_entries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_supervision_entries_answered_by_id_users', type_='foreignkey')
        batch_op.drop_constraint('fk_supervision_entries_transferred_to_id_cases', type_='foreignkey')
        batch_op.drop_column('answered_by_id')
        batch_op.drop_column('answered_at')
        batch_op.drop_column('promised_date')
        batch_op.drop_column('answer_measures')
        batch_op.drop_column('answer_reason')
        batch_op.drop_column('transferred_to_id')
        batch_op.alter_column('closed_at', new_column_name='cleared_at', existing_type=sa.DateTime(),
                              existing_nullable=True)

