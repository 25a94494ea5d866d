"""``flask --app wsgi import-orders FILE``: import a 12345 export from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from app.intake.buildings import BUILDINGS_FILE, load_buildings
from app.intake.open311 import create_client
from app.intake.orders import ImportReport, import_orders
from app.intake.sources import IntakeConfigError, find_source
from app.models import User
from app.services.auth import principal_for
from app.services.errors import ServiceError


@click.command("import-orders")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default="hotline_12345", show_default=True, help="a source of config/intake.yaml")
@click.option("--dry-run", is_flag=True, help="check every row and report; store nothing")
@click.option("--user", "username", required=True, envvar="WHISTLE_IMPORT_USER", metavar="USERNAME",
              help="the user the cases are filed as; must hold the capability import_orders")
def import_orders_command(file: Path, source: str, dry_run: bool, username: str) -> None:
    """Import work orders (xlsx or csv): each row is created, skipped (办件编号 already imported) or
    refused with its reason. Exit 0 when no row was refused, 1 when some were, 2 on a bad file."""
    try:
        with current_app.extensions["whistle.db"].unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                raise ServiceError(f"no active user '{username}'", {"user": "unknown user"})
            report = import_orders(session, principal_for(session, user), find_source(source), file.name,
                                   file.read_bytes(), dry_run=dry_run)
    except (ServiceError, IntakeConfigError) as exc:
        click.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        sys.exit(2)
    _print(report)
    sys.exit(1 if report.counts()["refused"] else 0)


def _print(report: ImportReport) -> None:
    for row in report.rows:
        detail = row.case_number or row.reason
        click.echo(f"row {row.row}\t{row.number}\t{row.outcome}\t{detail}")
    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items())
    click.echo(f"{'dry run: ' if report.dry_run else ''}{counts}")


@click.command("open311-client")
@with_appcontext
@click.argument("name")
def open311_client_command(name: str) -> None:
    """Register an Open311 client application and print its API key (shown only this once)."""
    try:
        with current_app.extensions["whistle.db"].unit_of_work() as session:
            key = create_client(session, name)
    except ServiceError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    click.echo(f"api_key for {name}: {key}")


@click.command("load-buildings")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
def load_buildings_command(path: Path | None) -> None:
    """Add or update buildings (楼栋) with their report place and coordinates (default config/buildings.yaml)."""
    try:
        with current_app.extensions["whistle.db"].unit_of_work() as session:
            count = load_buildings(session, path or BUILDINGS_FILE)
    except ServiceError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    click.echo(f"buildings loaded: {count}")
