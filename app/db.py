"""Database engine and the unit of work: one transaction that commits or rolls back whole."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from app.services.chain import canonical_json


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        # JSON columns are written in the audit chain's canonical form (sorted keys, no spaces), so
        # an event's stored data text is exactly what its hash covers (app/services/chain.py).
        kwargs: dict = {"future": True, "json_serializer": canonical_json}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, class_=StagingSession, expire_on_commit=False)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back whole on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


_STAGED = "staged_rows"


class StagingSession(Session):
    """A session that also writes append-only rows (audit events, snapshots) staged with
    :func:`stage_insert`: at each flush, one multi-row INSERT per table, before the ORM's own
    changes and each table's rows in the order staged. They are never read back into the session, so they need no
    identity map, no RETURNING of their ids and no per-row bookkeeping. A rollback — of the
    transaction or of a savepoint — forgets the rows staged within it, as it forgets new objects
    (a savepoint begins with a flush, so what was staged before it is written by then)."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        staged: dict[Table, list[dict[str, Any]]] = self.info.pop(_STAGED, {})
        if staged:
            connection = self.connection()
            for table, rows in staged.items():
                connection.execute(insert(table), rows)
        super().flush(objects)


def stage_insert(session: Session, table: Table, row: dict[str, Any]) -> None:
    """Insert ``row`` (every column given) into ``table`` at the session's next flush."""
    assert isinstance(session, StagingSession), "sessions come from Database.unit_of_work"
    session.info.setdefault(_STAGED, {}).setdefault(table, []).append(row)


@event.listens_for(StagingSession, "after_transaction_end")
def _forget_staged(session: Session, transaction: SessionTransaction) -> None:
    """A transaction or savepoint that ended without writing its staged rows rolled back."""
    if transaction.nested or transaction.parent is None:
        session.info.pop(_STAGED, None)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@contextmanager
def temporary_postgres_database(base_url: str, prefix: str = "whistle_tmp") -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``base_url``, dropped afterwards
    (for test runs and benchmarks that must not touch anyone's data)."""
    url = make_url(base_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
