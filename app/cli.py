"""Command line: ``flask --app wsgi <command>``."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.db import Database
from app.definitions import configuration, packs
from app.definitions.packs import Pack
from app.intake.cli import import_orders_command, load_buildings_command, open311_client_command
from app.services.anchor import Ledger
from app.settings import ROOT, Settings


def register(app: Flask) -> None:
    for command in (upgrade_db, downgrade_db, load_org, deploy, check_processes, demo, simulate, scheduler, serve):
        app.cli.add_command(command)
    for command in (verify, replay, anchor):  # issue 5: the audit record
        app.cli.add_command(command)
    # issue 16: intake beyond the web form
    for command in (import_orders_command, open311_client_command, load_buildings_command):
        app.cli.add_command(command)


LOCALITY_OPTION = click.option(
    "--locality", default=None, metavar="NAME", envvar="WHISTLE_LOCALITY",
    help="a locality pack under config/localities/ (guandu, dongcheng, zaozhuang, zhaoyuan); default: the demo",
)


def _pack(name: str | None) -> Pack:
    from app.services.errors import ServiceError

    try:
        return packs.find(name)
    except ServiceError as exc:
        _fail(exc.message)
        raise


def _db() -> Database:
    return current_app.extensions["whistle.db"]


def _settings() -> Settings:
    return current_app.extensions["whistle.settings"]


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def run_migrations(url: str, revision: str = "head", direction: str = "upgrade") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    getattr(command, direction)(config, revision)


@click.command("upgrade-db")
@with_appcontext
@click.option("--revision", default="head")
def upgrade_db(revision: str) -> None:
    """Create or upgrade the database schema (Alembic)."""
    run_migrations(_settings().database_url, revision)
    click.echo(f"database at revision {revision}")


@click.command("downgrade-db")
@with_appcontext
@click.argument("revision")
def downgrade_db(revision: str) -> None:
    """Downgrade the database schema to REVISION (e.g. base)."""
    run_migrations(_settings().database_url, revision, "downgrade")
    click.echo(f"database at revision {revision}")


@click.command("load-org")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@LOCALITY_OPTION
def load_org(path: Path | None, locality: str | None) -> None:
    """Load (or update) an organisation: units, users and their roles, checked against the locality
    model of the latest deployed version (deploy first). PATH defaults to the locality's org.yaml."""
    from app.services.errors import ServiceError
    from app.services.org import load_organisation

    path = path or _pack(locality).org_file
    try:
        with _db().unit_of_work() as session:
            counts = load_organisation(session, path)
    except (ServiceError, KeyError) as exc:
        _fail(f"{path}: {exc}")
    click.echo(f"organisation loaded: {counts}")


@click.command("deploy")
@with_appcontext
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False)
@click.option("--by", "deployed_by", default="cli")
@click.option("--comment", default=None, help="why this version is deployed (shown in the versions list)")
@LOCALITY_OPTION
def deploy(directory: Path | None, deployed_by: str, comment: str | None, locality: str | None) -> None:
    """Deploy processes/ (or DIRECTORY) with the locality's configuration as a new process version
    (no-op when nothing changed)."""
    from app.definitions.versions import deploy as deploy_files
    from app.definitions.versions import deploy_warnings
    from app.services.errors import ServiceError

    try:
        files = _pack(locality).files(directory or _settings().processes_dir)
        with _db().unit_of_work() as session:
            version, created = deploy_files(session, files, deployed_by, comment)
            warnings = deploy_warnings(session, version.id)
    except ServiceError as exc:
        _fail(exc.message)
    click.echo(f"process version {version.version} {'deployed' if created else 'unchanged'}")
    for warning in warnings:
        click.echo(f"warning: {warning}")


@click.command("check-processes")
@with_appcontext
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", "org_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the organisation the scenarios run in (default: the locality's org.yaml)")
@LOCALITY_OPTION
def check_processes(directory: Path | None, org_file: Path | None, locality: str | None) -> None:
    """Validate a process bundle as deploy would and play its scenarios (DIRECTORY/scenarios/*.yaml)
    in a throwaway database; your database is not touched. Exit 0 when all pass, 1 when one fails,
    2 when the bundle or a scenario file is invalid."""
    from app.definitions.scenarios import ScenarioError
    from app.definitions.scenarios import check_processes as run_check
    from app.services.errors import ServiceError

    try:
        pack = _pack(locality)
        files = pack.files(directory or _settings().processes_dir)
        scenarios = directory or pack.scenarios_dir
        report = run_check(scenarios, org_file or pack.org_file, files)
    except (ScenarioError, ServiceError) as exc:
        _fail(str(exc))
    if report.bundle_error is not None:
        _fail(report.bundle_error)
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    for result in report.results:
        click.echo(result.line())
    passed = sum(r.ok for r in report.results)
    click.echo(f"{passed} passed, {len(report.results) - passed} failed")
    if not report.ok:
        sys.exit(1)


@click.command("demo")
@with_appcontext
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--no-serve", is_flag=True, help="set everything up but do not start the server")
@click.option("--cases", default=30, type=click.IntRange(0, 10_000),
              help="simulated cases to fill the inboxes with, on a database that has none yet")
@click.option("--months", default=4, type=click.IntRange(1, 24),
              help="spread the simulated cases over this many months up to today (统计考核 trends)")
@LOCALITY_OPTION
def demo(host: str, port: int, no_serve: bool, cases: int, months: int, locality: str | None) -> None:
    """Upgrade the database, deploy the processes with a locality's configuration, load its
    organisation (the demo district by default), print logins, and serve."""
    from sqlalchemy import func, select

    from app.assessment.pushes import push_for_demo
    from app.definitions.scenarios import read_scenarios
    from app.definitions.scenarios import seed as seed_from_scenarios
    from app.definitions.versions import configuration_of
    from app.definitions.versions import deploy as deploy_files
    from app.models import Case
    from app.services.errors import ServiceError
    from app.services.org import load_organisation
    from app.services.simulate import leave_open_work, run_simulation

    run_migrations(_settings().database_url)
    try:
        pack = _pack(locality)
        with _db().unit_of_work() as session:
            version, _ = deploy_files(session, pack.files(_settings().processes_dir), "demo")
            config = configuration_of(session, version.id)
        with configuration.activate(config), _db().unit_of_work() as session:
            load_organisation(session, pack.org_file)
            empty = not session.scalar(select(func.count()).select_from(Case))
    except ServiceError as exc:
        _fail(exc.message)
    if pack.name != "demo":
        if empty and cases:
            with configuration.activate(config):
                seeded = seed_from_scenarios(_db(), read_scenarios(pack.scenarios_dir))
            click.echo(f"the pack's scenarios played: {seeded['closed']} cases closed, {seeded['open']} left half way")
            with configuration.activate(config), _db().unit_of_work() as session:
                pushed = push_for_demo(session, "演示：办结及时、一次办结，推送市级考核")
            if pushed:
                click.echo(f"{pushed} closed whistles pushed to the city (推送市级)")
        click.echo(_pack_banner(host, port, version.version, pack))
        if not no_serve:
            _serve(host, port)
        return
    if empty and cases:
        ends = _simulate_months(run_simulation, cases, months)
        click.echo(f"{cases} demo cases simulated over {months} months: {ends}")
        waiting = leave_open_work(_db())
        click.echo(f"{sum(waiting['ends'].values())} more cases left waiting at every kind of task "
                   f"(和平里社区 第一网格): {waiting['ends']}")
    click.echo(_demo_banner(host, port, version.version))
    if not no_serve:
        _serve(host, port)


def _simulate_months(run: Callable[[Database, int, int], dict[str, Any]], cases: int,
                     months: int) -> dict[str, int]:
    """The cases spread over the last ``months`` months, each month's on a clock set that far back,
    so the dashboard has trends, rankings and late work (deadlines passed since fire as 督办)."""
    from app.services import clock

    ends: Counter[str] = Counter()
    for back in range(months - 1, -1, -1):
        shift = timedelta(days=30 * back)
        clock.advance(-shift)
        try:
            ends.update(run(_db(), cases // months + (back < cases % months), back + 1)["ends"])
        finally:
            clock.advance(shift)
    return dict(sorted(ends.items()))


def _serve(host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from app.services.scheduler import TimerScheduler

    # Deadlines fire while the demo runs: reminders, 督办 and escalations (see `scheduler`).
    TimerScheduler(_db(), scan_seconds=_settings().scheduler_scan_seconds,
                   anchor_path=_settings().anchor_path, anchor_hours=_settings().anchor_hours).start()
    # Flask refuses app.run() inside a CLI command; serve the same app with Werkzeug directly.
    run_simple(host, port, current_app._get_current_object(), threaded=True)  # type: ignore[attr-defined]


def _pack_banner(host: str, port: int, version: int, pack: Pack) -> str:
    """A locality pack's logins: one user per role, as its org.yaml lists them."""
    import yaml

    users = (yaml.safe_load(pack.org_file.read_text(encoding="utf-8")) or {}).get("users") or []
    seen: dict[str, str] = {}
    for user in users:
        for grant in user.get("roles") or []:
            seen.setdefault(grant["role"], f"{user['username']} ({grant['unit']})")
    return "\n".join([
        f"吹哨报到 — locality '{pack.name}', process version {version}",
        f"  网页 Web: http://{host}:{port}/   API: http://{host}:{port}/api",
        "  Password for every user of the pack: demo1234 (as its org.yaml sets it)",
        "  One login per role:",
        *[f"    {role:<24} {who}" for role, who in sorted(seen.items())],
        f"  All users are listed in {pack.org_file.relative_to(ROOT)}.",
    ])


# The demo district's logins the banner shows (usernames, not role codes: config/demo_org.yaml).
DEMO_LOGINS = """
gw-s1c1g1 | 网格员 grid worker, 和平里社区 第一网格
op-dc | 区级平台 district platform operator (triage, verify)
op-s1 | 街道平台 street platform operator
staff-s1c1 / section-s1c1 / deputy-s1c1 / sec-s1c1 | 社区吹哨审核链 community review chain
staff-s1 / section-s1 / deputy-s1 / sec-s1 | 街道 review chain
hw-staff / hw-head, cgzf-staff / cgzf-head ... | 部门 department staff / head
callback | 回访员 call-back agent
auditor | 审计 auditor (read-only)
admin | 流程管理员 process admin
"""


def _demo_banner(host: str, port: int, version: int) -> str:
    logins = [line.split(" | ") for line in DEMO_LOGINS.strip().splitlines()]
    lines = [
        f"吹哨报到 demo — process version {version}",
        f"  网页 Web: http://{host}:{port}/  — open it in a browser and log in as any user below",
        f"  市民 Public report / tracking: http://{host}:{port}/report , http://{host}:{port}/track",
        f"  API:      http://{host}:{port}/api  (OpenAPI: http://{host}:{port}/api/openapi.json)",
        "  The deadline scheduler runs inside this server (reminders, 督办, escalation).",
        "  Password for every demo user: demo1234",
        "  Logins (web page, or POST /api/login / POST /api/tokens):",
        *[f"    {u:<52} {what}" for u, what in logins],
        "  All users are listed in config/demo_org.yaml.",
    ]
    return "\n".join(lines)


@click.command("simulate")
@with_appcontext
@click.argument("count", type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=1, type=int)
@click.option("--advance", "advance", default=None, metavar="DURATION",
              help="then let this much time pass on the test clock (e.g. 90m, 8h, 3d), firing timers as "
                   "they fall due: reminders, 督办 and escalations show without waiting")
def simulate(count: int, seed: int, advance: str | None) -> None:
    """Push COUNT realistic reports through the real engine to varied end states."""
    from app.services.simulate import advance_time, run_simulation

    delta = _duration(advance) if advance else None
    summary = run_simulation(_db(), count, seed)
    click.echo(f"simulated {count} cases: {summary}")
    if delta is not None:
        fired = advance_time(_db(), delta)
        click.echo(f"advanced the clock by {advance}: {fired}")


def _duration(text: str) -> timedelta:
    units = {"m": "minutes", "h": "hours", "d": "days"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        _fail(f"--advance '{text}': expected a positive number with m, h or d (90m, 8h, 3d)")
    return timedelta(**{units[unit]: int(number)})


LOG_FORMAT = click.option("--log-format", envvar="WHISTLE_LOG_FORMAT", default="json", show_default=True,
                          type=click.Choice(["json", "text"]), help="one JSON object per line, or plain text")
LOG_LEVEL = click.option("--log-level", envvar="WHISTLE_LOG_LEVEL", default="info", show_default=True,
                         type=click.Choice(["debug", "info", "warning", "error"]))


@click.command("scheduler")
@with_appcontext
@click.option("--scan-seconds", default=10.0, type=click.FloatRange(0.1, 3600),
              envvar="WHISTLE_SCHEDULER_SCAN_SECONDS", show_default=True,
              help="how often the timer table is rescanned (the safety net; timers wake at their due time)")
@click.option("--once", is_flag=True, help="fire every timer due now, then exit")
@LOG_FORMAT
@LOG_LEVEL
def scheduler(scan_seconds: float, once: bool, log_format: str, log_level: str) -> None:
    """Fire BPMN timers at their due time (reminders, 督办, escalation). Several may run at once.
    SIGTERM or SIGINT stops it cleanly: the step being fired finishes (or rolls back), then it exits."""
    from app.ops import configure_logging
    from app.services.scheduler import TimerScheduler
    from app.services.timers import fire_due

    if once:
        result = fire_due(_db())
        click.echo(f"timers fired: {result.fired}, failed attempts: {result.failed}")
        return
    configure_logging(log_format, log_level)
    settings = _settings()
    runner = TimerScheduler(_db(), scan_seconds=scan_seconds, blocking=True, anchor_path=settings.anchor_path,
                            anchor_hours=settings.anchor_hours)
    runner.stop_on_signals()
    logging.getLogger("whistle.scheduler").info("timer scheduler running (rescan every %g s)", scan_seconds)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        runner.start()
    _db().dispose()


@click.command("serve")
@with_appcontext
@click.option("--bind", envvar="WHISTLE_BIND", default="127.0.0.1:8000", show_default=True,
              help="HOST:PORT or unix:PATH to listen on (comma-separated for several)")
@click.option("--workers", envvar="WHISTLE_WORKERS", default=2, show_default=True, type=click.IntRange(1, 256),
              help="worker processes (about 2 per core; each holds its own database connections)")
@click.option("--threads", envvar="WHISTLE_THREADS", default=1, show_default=True, type=click.IntRange(1, 64),
              help="threads per worker (more than 1: gunicorn's gthread worker)")
@click.option("--timeout", envvar="WHISTLE_TIMEOUT", default=60, show_default=True, type=click.IntRange(5, 3600),
              help="seconds a request may run before its worker is killed and replaced")
@click.option("--graceful-timeout", envvar="WHISTLE_GRACEFUL_TIMEOUT", default=30, show_default=True,
              type=click.IntRange(1, 3600), help="on SIGTERM, seconds the requests in flight get to finish")
@LOG_FORMAT
@LOG_LEVEL
def serve(bind: str, workers: int, threads: int, timeout: int, graceful_timeout: int, log_format: str,
          log_level: str) -> None:
    """Serve the web pages and the API with gunicorn (production). Timers need `scheduler` processes
    (or WHISTLE_SCHEDULER=1); the schema must be current (`upgrade-db`)."""
    from app.serve import ServeOptions
    from app.serve import serve as run_server

    options = ServeOptions(bind=bind, workers=workers, threads=threads, timeout=timeout,
                           graceful_timeout=graceful_timeout, log_format=log_format, log_level=log_level)
    run_server(current_app._get_current_object(), options)  # type: ignore[attr-defined]


# --- issue 5: the audit record -----------------------------------------------------------------


def _case_selection(case_id: int | None, all_cases: bool) -> list[int] | None:
    if case_id is not None and all_cases:
        _fail("give either --case N or --all, not both")
    return [case_id] if case_id is not None else None


@click.command("verify")
@with_appcontext
@click.option("--case", "case_id", type=int, help="verify one case (its snapshots too)")
@click.option("--all", "all_cases", is_flag=True, help="verify every case and the system chain (the default)")
@click.option("--snapshots", is_flag=True, help="with --all: check every snapshot against its recorded hash too")
@click.option("--anchors", "anchors_path", type=click.Path(dir_okay=False, path_type=Path),
              help="check the chains against this anchor ledger (an auditor's copy); default: WHISTLE_ANCHOR_PATH "
                   "when it exists")
@click.option("--no-anchors", is_flag=True, help="do not check the chains against an anchor ledger")
@click.option("--expect", "filed", multiple=True, metavar="HASH",
              help="an anchor hash filed earlier: the ledger must still hold it (repeatable)")
def verify(case_id: int | None, all_cases: bool, snapshots: bool, anchors_path: Path | None, no_anchors: bool,
           filed: tuple[str, ...]) -> None:
    """Verify the hash chains, and that they still hold what was anchored; exit code 1 and a line
    per problem when one is broken."""
    from app.services.audit import verify as verify_chains
    from app.services.errors import ServiceError

    ids = _case_selection(case_id, all_cases)
    ledger = None if no_anchors else _ledger(anchors_path, filed)
    try:
        with _db().unit_of_work() as session:
            result = verify_chains(session, ids, snapshots=snapshots or ids is not None, system=ids is None,
                                   marks=ledger.marks if ledger else None)
    except ServiceError as exc:
        _fail(exc.message)
    problems = _ledger_problems(ledger, filed)
    if result.first_break is not None and result.first_break.problem != "anchor":
        problems.append(result.first_break.line())
    problems += [b.line() for b in result.anchor_breaks]
    for line in problems:
        click.echo(f"BROKEN {line}", err=True)
    if problems:
        sys.exit(1)
    click.echo(f"ok: {result.chains} chains, {result.events} events, {result.snapshots} snapshots verified; "
               f"root {result.root}")
    if ledger is not None:
        click.echo(_anchors_checked(ledger, result.anchored))


def _ledger(path: Path | None, filed: tuple[str, ...]) -> Ledger | None:
    from app.services.anchor import read_ledger

    if path is not None and not path.is_file():
        _fail(f"--anchors {path}: no such file")
    path = path or _settings().anchor_path
    if not path.is_file():
        if filed:
            _fail(f"--expect given but there is no anchor ledger at {path}")
        return None
    return read_ledger(path)


def _ledger_problems(ledger: Ledger | None, filed: tuple[str, ...]) -> list[str]:
    if ledger is None:
        return []
    return [f"anchors {ledger.path}: {p}" for p in ledger.problems + ledger.missing(filed)]


def _anchors_checked(ledger: Ledger, anchored: int) -> str:
    last = ledger.last
    if last is None:
        return f"anchors: {ledger.path} holds no anchor yet"
    return (f"anchors: {anchored} chains hold what {len(ledger.summaries)} anchors in {ledger.path} filed "
            f"(latest #{last['n']} at {last['at']} UTC, anchor hash {last['hash']})")


@click.command("anchor")
@with_appcontext
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path),
              help="the anchor ledger (default: WHISTLE_ANCHOR_PATH)")
@click.option("--list", "list_only", is_flag=True, help="print every anchor of the ledger for filing; anchor nothing")
def anchor(path: Path | None, list_only: bool) -> None:
    """Anchor every chain head in the ledger outside the database (and print the line to file)."""
    from app.services.anchor import AnchorError, read_ledger, summary_line
    from app.services.anchor import anchor as take_anchor

    path = path or _settings().anchor_path
    if list_only:
        ledger = read_ledger(path)
        for summary in ledger.summaries:
            click.echo(summary_line(summary))
        for problem in ledger.problems:
            click.echo(f"BROKEN anchors {path}: {problem}", err=True)
        sys.exit(1 if ledger.problems else 0)
    try:
        anchored = take_anchor(_db(), path)
    except AnchorError as exc:
        _fail(str(exc))
    assert anchored is not None
    click.echo(summary_line(anchored.summary))
    for key, reason in anchored.conflicts:
        click.echo(f"CONFLICT {'case ' if key != 'system' else ''}{key}: {reason} (not anchored anew; "
                   "`verify` reports it)", err=True)
    if anchored.conflicts:
        sys.exit(1)


@click.command("replay")
@with_appcontext
@click.option("--case", "case_id", type=int, help="replay one case")
@click.option("--all", "all_cases", is_flag=True, help="replay every case (the default)")
def replay(case_id: int | None, all_cases: bool) -> None:
    """Re-run cases from their record; exit code 1 and the first divergence when one diverges,
    2 and the error when a replay could not run (not a divergence)."""
    from app.models import Case
    from app.services.replay import replay_all

    ids = _case_selection(case_id, all_cases)
    with _db().unit_of_work() as session:
        if ids is not None and session.get(Case, ids[0]) is None:
            _fail(f"case {ids[0]} not found")
        results = replay_all(session, ids)
    diverged = [r for r in results if r.divergence is not None]
    failed = [r for r in results if r.error is not None]
    for result in diverged:
        click.echo(f"DIVERGED {result.line()}", err=True)
    for result in failed:
        click.echo(f"ERROR {result.line()}", err=True)
    steps = sum(r.engine_steps for r in results)
    ok = len(results) - len(diverged) - len(failed)
    click.echo(f"{ok} of {len(results)} cases replayed without divergence ({steps} steps)"
               + (f"; {len(failed)} could not be replayed (errors, not divergences)" if failed else ""))
    if diverged:
        sys.exit(1)
    if failed:
        sys.exit(2)
