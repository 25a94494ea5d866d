"""Alembic is the only way the schema is made: models and migrations agree, and both directions run."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.cli import run_migrations
from app.models import Base


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_match_the_models(empty_database_url: str) -> None:
    run_migrations(empty_database_url)
    assert _diff(empty_database_url) == []
    assert _tables(empty_database_url) == set(Base.metadata.tables)


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    run_migrations(empty_database_url)
    run_migrations(empty_database_url, "base", "downgrade")
    assert _tables(empty_database_url) == set()
    run_migrations(empty_database_url)
    assert _diff(empty_database_url) == []
