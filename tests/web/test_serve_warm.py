"""`serve` warms the master before it forks: a worker's first request finds the page templates
compiled, the current version's configuration read and its diagrams parsed (issue 14: a month's
dashboard within 1 s on a worker's first request too)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app import create_app
from app.cli import run_migrations
from app.definitions import configuration, versions
from app.engine.bundle import cached_bundle
from app.serve import warm
from app.settings import Settings


def test_warm_compiles_every_template_and_reads_the_current_version(own_app: Flask) -> None:
    env = own_app.jinja_env
    pages = set(env.list_templates(extensions=["html"]))
    assert not pages & {key[1] for key in env.cache or {}}  # a fresh app has compiled none yet

    assert warm(own_app) == len(pages) > 20

    assert {key[1] for key in env.cache or {}} >= pages
    db = own_app.extensions["whistle.db"]
    with db.unit_of_work() as session:
        version = versions.latest_version(session)
        assert version is not None
        key = (str(session.get_bind().url), version.id)
        config = versions._config_by_version[key]
        assert set(config._parsed) == set(configuration._loaders)  # every loader has read its file
        assert cached_bundle(versions._hash_by_version[key]) is not None


def test_warm_without_a_deployed_version_still_compiles_the_templates(tmp_path: Path, empty_database_url: str) -> None:
    run_migrations(empty_database_url)
    app = create_app(Settings(database_url=empty_database_url, testing=True, upload_dir=tmp_path))
    try:
        assert warm(app) == len(app.jinja_env.list_templates(extensions=["html"]))
    finally:
        app.extensions["whistle.db"].dispose()
