"""Alembic environment: the only way the schema is created.

With ``WHISTLE_DB_APP_ROLE`` set (PostgreSQL), every upgrade ends by granting that role what the
application needs and no more: it reads and writes the tables, but may only read and insert the
audit record (``events``, ``snapshots``) and not touch ``alembic_version``. Migrations run as the
tables' owner; the application connects as the app role, which does not own the tables and so
cannot switch the append-only triggers off (docs/audit.md, *Roles*).
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine, text

from app.models import Base
from app.settings import Settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_engine(_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        role = os.environ.get("WHISTLE_DB_APP_ROLE")
        if role and connection.dialect.name == "postgresql":
            grant_app_role(connection, role)


APPEND_ONLY = ("events", "snapshots")


def grant_app_role(connection: Connection, role: str) -> None:
    """The app role's privileges, given again after every upgrade (new tables included)."""
    quoted = connection.dialect.identifier_preparer.quote(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {', '.join(APPEND_ONLY)} FROM {quoted}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {quoted}",
    ):
        connection.execute(text(statement))


if context.is_offline_mode():
    run_offline()
else:
    run_online()
