"""`sync-pipeline`: the command line for operators and scripts (DESIGN §8).

    sync-pipeline db upgrade|init|current     the operational schema (Alembic)
    sync-pipeline db start|stop|status|url|createdb|dropdb|recreatedb|ensure-schema
                                              the project-local PostgreSQL, Dagster's schema
    sync-pipeline simulator --port --scale --seed [--fresh] [--store PATH | --no-store]
    sync-pipeline backfill --start-date D [--end-date D] [--empreendimento KEY ...] [--dry-run]
    sync-pipeline status
    sync-pipeline demo

A failure is one line on stderr naming what to fix (sync_pipeline/errors.py has the exit codes);
``sync-pipeline --debug COMMAND ...`` shows the traceback instead.

Configuration comes only from the environment (README): SYNC_DEPLOYMENT, ODOO_URL, ODOO_DB,
ODOO_USERNAME, ODOO_API_KEY, ODOO_PROTOCOL, ODOO_MAX_RETRIES, ODOO_BACKOFF_SECONDS, DATABASE_URL,
DAGSTER_PG_URL, SYNC_START_DATE, SYNC_TIMEZONE.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from datetime import date, timedelta
from typing import NoReturn

from sync_pipeline import errors
from sync_pipeline.dagster_home import prepare_dagster_home


def _print(msg: str = "") -> None:
    print(msg, flush=True)


# --- environment ---------------------------------------------------------------------------------


def _require_database_url() -> str:
    from sync_pipeline import settings

    return settings.database_url()


def _odoo_resource():
    """The deployment's Odoo resource; a production deployment missing a variable is one error line."""
    from sync_pipeline.resources.config import odoo_resource_from_env

    return odoo_resource_from_env()


def _require_local_deployment() -> None:
    """The demo writes generated data to DATABASE_URL: never with a production deployment."""
    from sync_pipeline import settings

    chosen = settings.deployment()
    if chosen != settings.LOCAL:
        raise errors.CommandError(
            f"the demo loads the simulator's generated data into DATABASE_URL; it runs with "
            f"{settings.DEPLOYMENT_VARIABLE}={settings.LOCAL} only (it is {chosen})"
        )


# --- db ------------------------------------------------------------------------------------------


_MIGRATION_ACTIONS = ("init", "upgrade", "current")


def cmd_db(args: argparse.Namespace) -> int:
    if args.action not in _MIGRATION_ACTIONS:
        return _local_postgres(args)
    from sync_pipeline.db import migrate
    from sync_pipeline.resources.postgres import PostgresResource

    postgres = PostgresResource(database_url=_require_database_url())
    if args.action == "current":
        with postgres.engine().connect() as conn:
            _print(f"current revision: {migrate.current(conn) or 'none'} (newest: {migrate.head()})")
        return 0
    # init is upgrade: a new database and an existing one are brought to the same revision
    revision = args.revision
    report = postgres.unit_of_work(lambda conn: migrate.run(conn, revision), name="schema").value
    _print(f"revisions applied: {', '.join(report.applied) or 'none'}")
    if report.created_tables:
        _print(f"created {len(report.created_tables)} tables: {', '.join(report.created_tables)}")
    _print(f"current revision: {report.current}")
    return 0


def _local_postgres(args: argparse.Namespace) -> int:
    """The project-local PostgreSQL for make and scripts/: one line per action; exit 0 on success.

    ``status`` exits 3 when the cluster is not running (like ``pg_ctl status``); an error is one
    line on stderr and exit 1.
    """
    from sync_pipeline.db.localpg import DEFAULT_DBNAME, LocalPostgres

    action = args.action
    try:
        pg = LocalPostgres()
        if action == "start":
            was_running = pg.is_running()
            pg.start()
            pg.create_database(DEFAULT_DBNAME)  # so the printed URL works as is
            _print(f"{'already running' if was_running else 'started'}: {pg.url()}")
        elif action == "stop":
            was_running = pg.is_running()
            pg.stop()
            _print(f"{'stopped' if was_running else 'not running'}: {pg.host}:{pg.port} ({pg.data_dir})")
        elif action == "status":
            if not pg.is_running():
                _print(f"not running: {pg.data_dir} (port {pg.port})")
                return 3
            _print(f"running (pid {pg.postmaster_pid()}): {pg.url()}")
        elif action == "url":
            _print(pg.url(args.name or DEFAULT_DBNAME))
        elif action == "createdb":
            _print(f"{'created' if pg.create_database(args.name) else 'exists'}: {pg.url(args.name)}")
        elif action == "dropdb":
            _print(f"{'dropped' if pg.drop_database(args.name) else 'absent'}: {args.name}")
        elif action == "recreatedb":
            pg.recreate_database(args.name)
            _print(f"recreated: {pg.url(args.name)}")
        elif action == "ensure-schema":
            from sync_pipeline.dagster_home import ensure_dagster_schema

            _print(f"schema ready: {ensure_dagster_schema(args.url)}")
        else:
            raise ValueError(f"unknown action {action!r}")
    except Exception as exc:  # one clear line for operators; the traceback adds nothing here
        if getattr(args, "debug", False):
            raise
        print(f"sync-pipeline db {action}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _add_db_parser(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="operational schema and the project-local PostgreSQL")
    db.set_defaults(func=cmd_db)
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (
        ("upgrade", "migrate the operational schema to --revision (idempotent)"),
        ("init", "the same: a new database is upgraded from nothing"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--revision", default="head", help="the migration to upgrade to (default: head)")
    actions.add_parser("current", help="the revision DATABASE_URL is at")
    actions.add_parser("start", help="init (once) and start the project-local PostgreSQL; prints its URL")
    actions.add_parser("stop", help="stop it; the port is free afterwards")
    actions.add_parser("status", help="running (pid, URL) or not running (exit 3)")
    url = actions.add_parser("url", help="the URL of a database of the local cluster")
    url.add_argument("name", nargs="?", help="database (default: sync_pipeline)")
    for name, help_text in (
        ("createdb", "create database NAME unless it exists"),
        ("dropdb", "drop database NAME (disconnecting its sessions) if it exists"),
        ("recreatedb", "drop and create database NAME"),
    ):
        actions.add_parser(name, help=help_text).add_argument("name")
    schema = actions.add_parser("ensure-schema", help="create Dagster's storage schema of URL's search_path")
    schema.add_argument("url")


# --- simulator -----------------------------------------------------------------------------------


def cmd_simulator(args: argparse.Namespace) -> int:
    from sync_pipeline.simulator.persist import StoreInUse
    from sync_pipeline.simulator.serve import serve_from_args

    try:
        return serve_from_args(args)
    except StoreInUse as exc:
        raise errors.CommandError(str(exc)) from exc


# --- backfill ------------------------------------------------------------------------------------


def discover_empreendimentos(odoo) -> dict[str, int]:
    from sync_pipeline.partitions import empreendimento_key

    client = odoo.get_client()
    companies = client.search_read("res.company", [], ["name"], order="id")
    return {empreendimento_key(int(c["id"])): int(c["id"]) for c in companies}


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    import calendar

    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def run_backfill(
    *,
    start: date,
    end: date,
    empreendimentos: list[str] | None,
    dry_run: bool,
    force: bool = True,
    skip_recent_hours: float | None = None,
) -> dict:
    """One Dagster asset backfill of the faturamento graph for [start, end] × empreendimentos.

    Submitted to the configured instance (visible in the UI's backfills page) and run by the
    dagster-daemon — the one already running for the instance (`make dev`) or one started for it.
    The assets' multi-run policy batches the partitions: one run per empreendimento up to 400 dates.
    """
    from sync_pipeline import settings
    from sync_pipeline.backfill import run_backfill_through_daemon
    from sync_pipeline.partitions import last_day

    first_day, newest = settings.start_date(), last_day()
    if start < first_day:
        _print(
            f"note: {start} is before SYNC_START_DATE {first_day}; starting at {first_day} "
            "(the first partition holds older documents)"
        )
        start = first_day
    if end > newest:
        _print(
            f"note: {end} is after the last date partition {newest} (today in {settings.timezone_name()}); "
            f"ending at {newest}: it holds the documents dated after it, which move to their own date "
            "when that partition exists"
        )
        end = newest
    if start > end:
        raise errors.UsageError(f"--start-date {start} is after the last date partition {newest}: nothing to sync")
    found = discover_empreendimentos(_odoo_resource())
    chosen = empreendimentos or sorted(found)
    unknown = [e for e in chosen if e not in found]
    if unknown:
        raise errors.UsageError(
            f"--empreendimento {', '.join(unknown)}: not an empreendimento of Odoo's companies; they are "
            f"{', '.join(sorted(found)) or 'none'} (keys from SYNC_EMPREENDIMENTO_KEYS or empresa-<company id>)"
        )
    days = (end - start).days + 1
    _print(
        f"backfill {start}..{end}: {len(chosen)} empreendimentos ({', '.join(chosen)}) × {days} days "
        f"= {len(chosen) * days} partitions"
    )
    keys = None
    if not force or skip_recent_hours:
        plan = _plan(chosen, start, end, force=force, skip_recent_hours=skip_recent_hours)
        for line in plan.lines(skip_recent_hours=skip_recent_hours, force=force):
            _print(line)
        keys = plan.keys
        if not keys:
            _print("nothing to sync: every partition of the range is left out")
            return {"runs": 0, "failed": 0, "partitions": 0, "seconds": 0.0, "status": "NOTHING_TO_DO"}
        _print(f"to sync: {len(keys)} partitions")
    partitions = len(keys) if keys is not None else len(chosen) * days
    if dry_run:
        _print("dry run: nothing submitted")
        return {"runs": 0, "failed": 0, "partitions": partitions, "seconds": 0.0, "status": "DRY_RUN"}
    return run_backfill_through_daemon(empreendimentos=chosen, start=start, end=end, partition_keys=keys, echo=_print)


def _plan(chosen: list[str], start: date, end: date, *, force: bool, skip_recent_hours: float | None):
    from dagster import DagsterInstance

    from sync_pipeline import settings
    from sync_pipeline.backfill import synced_asset_keys
    from sync_pipeline.backfill_plan import plan_backfill
    from sync_pipeline.db.engine import get_engine
    from sync_pipeline.db.staging import staged_partitions

    prepare_dagster_home()
    engine = get_engine(_require_database_url())
    with DagsterInstance.get() as instance:
        return plan_backfill(
            instance,
            synced_asset_keys(),
            empreendimentos=chosen,
            start=start,
            end=end,
            force=force,
            skip_recent_hours=skip_recent_hours,
            client_factory=lambda: _odoo_resource().get_client(),
            staged_partitions_of=lambda model, ids: staged_partitions(engine, model, ids),
            tz=settings.timezone_name(),
        )


def cmd_backfill(args: argparse.Namespace) -> int:
    _require_database_url()
    from sync_pipeline.partitions import last_day

    start, end = args.start_date, args.end_date
    if end is not None and end < start:
        raise errors.UsageError(f"--end-date {end} is before --start-date {start}")
    end = end or last_day()
    if args.max_months is not None:
        if args.max_months < 1:
            raise errors.UsageError(f"--max-months {args.max_months}: give 1 or more months")
        bound = add_months(start, args.max_months) - timedelta(days=1)
        if bound < end:
            _print(f"note: --max-months {args.max_months} ends the range at {bound} (instead of {end})")
            end = bound
    if args.skip_recent_hours is not None and args.skip_recent_hours <= 0:
        raise errors.UsageError(f"--skip-recent-hours {args.skip_recent_hours:g}: give a number of hours above 0")
    summary = run_backfill(
        start=start,
        end=end,
        empreendimentos=args.empreendimento,
        dry_run=args.dry_run,
        force=args.force,
        skip_recent_hours=args.skip_recent_hours,
    )
    if args.dry_run or summary["status"] == "NOTHING_TO_DO":
        return 0
    print_status(runs=False)
    return 0 if summary["status"] == "COMPLETED_SUCCESS" else 1


# --- status --------------------------------------------------------------------------------------


def print_status(*, runs: bool = True, last_runs: int = 10) -> None:
    from sync_pipeline.db import report
    from sync_pipeline.db.engine import get_engine
    from sync_pipeline.db.schema import (
        FINANCEIRO_STAGING_TABLES,
        FINANCEIRO_TABLES,
        OPERATIONAL_TABLES,
        STAGING_TABLES,
    )
    from sync_pipeline.partitions import last_day

    def counts(pairs) -> str:
        return ", ".join(f"{k}={n}" for k, n in pairs) or "none"

    engine = get_engine(_require_database_url())
    with engine.connect() as conn:
        found = report.summary(
            conn,
            (*STAGING_TABLES, *FINANCEIRO_STAGING_TABLES, *OPERATIONAL_TABLES, *FINANCEIRO_TABLES),
            today=last_day(),
        )
        finance = report.financeiro_months(conn, months=3)
    _print("rows per table:")
    for table, count in found.rows.items():
        _print(f"  {table:<34} {'-' if count is None else count}")
    if found.numbers is not None:
        for line in found.numbers.lines():
            _print(line)
    if found.faturamento_by_status:
        _print(f"faturamento_produto by status_nf: {counts(found.faturamento_by_status)}")
    if found.products_without_code:
        _print(f"products without default_code in Odoo (synced as ODOO-<id>): {', '.join(found.products_without_code)}")
    if found.rows.get("carteira_principal") is not None:
        _print(
            f"carteira: {found.carteira_open_lines} open lines, saldo {found.carteira_saldo}; "
            f"diffs by kind: {counts(found.diffs_by_kind)}"
        )
    if found.rows.get("sync_rejeitado") is not None:
        _print(f"records set aside (sync_rejeitado): {counts(found.rejects_by_rule)}")
    if found.rows.get("alerta_separacao_cotada") is not None:
        _print(f"open alerts (alerta_separacao_cotada): {counts(found.open_alerts_by_level)}")
    if finance:
        _print(
            "financeiro, the last 3 months in which cash came in or went out, per empreendimento "
            "(entradas_caixa, saidas_caixa, inadimplencia, estatisticas_portfolio):"
        )
        for line in finance:
            _print(line)
    if runs:
        prepare_dagster_home()
        from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

        instance = DagsterInstance.get()
        counts = {s.value: instance.get_runs_count(RunsFilter(statuses=[s])) for s in DagsterRunStatus}
        _print("Dagster runs by status: " + (", ".join(f"{s}={n}" for s, n in counts.items() if n) or "none"))
        if last_runs:
            records = instance.get_run_records(RunsFilter(), limit=last_runs)
            _print("last runs:")
            for rec in records:
                run = rec.dagster_run
                started = rec.start_time and time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(rec.start_time))
                rng = run.tags.get("dagster/asset_partition_range_start") or run.tags.get("dagster/partition", "")
                _print(f"  {run.run_id[:8]} {run.job_name:<18} {run.status.value:<8} {started or '':<19} {rng}")
            if not records:
                _print("  none")


def cmd_status(args: argparse.Namespace) -> int:  # noqa: ARG001
    print_status()
    return 0


# --- demo ----------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulator with generated data → schema → one backfill of everything → what it wrote.

    Always a freshly generated Odoo, saved (with the day's edits) to the simulator's store under
    .local/simulator/, which ``sync-pipeline simulator`` (``make dev``) then serves.
    """

    from sync_pipeline import demo, settings
    from sync_pipeline.simulator import persist
    from sync_pipeline.simulator.core import OdooSimulator
    from sync_pipeline.simulator.generator import generate
    from sync_pipeline.simulator.server import SimulatorServer

    _require_local_deployment()
    demo.require_project_local_database(settings.libpq_url(_require_database_url()))
    store = persist.default_store_path()
    try:
        claim = persist.Claim(store, port=args.port)
    except persist.StoreInUse as exc:
        raise errors.CommandError(f"{exc} (a `make dev`?): the demo replaces that Odoo") from exc
    with contextlib.ExitStack() as stack:
        stack.callback(claim.release)
        start = settings.start_date()
        t0 = time.perf_counter()
        sim = OdooSimulator()
        summary = generate(
            sim, seed=args.seed, scale=args.scale, start_date=start, days=args.days, companies=args.companies
        )
        persist.save(sim, store)
        server = SimulatorServer(sim, port=args.port)
        server.start()
        stack.callback(server.stop)
        claim.update(port=server.port)
        stack.callback(persist.Autosave(sim, store).close)  # closed first: the last edits saved, then stop
        return _demo_stages(args, server, store, start, summary, t0)


def _demo_stages(args: argparse.Namespace, server, store, start: date, summary: dict, t0: float) -> int:
    from dagster import DagsterInstance

    from sync_pipeline import demo
    from sync_pipeline.simulator import persist

    os.environ.update({"ODOO_URL": server.url, "ODOO_DB": "odoo", "ODOO_USERNAME": "admin", "ODOO_API_KEY": "admin"})
    _print(
        f"Odoo simulator at {server.url} (db odoo, login admin, API key admin); generated in "
        f"{time.perf_counter() - t0:.1f}s: " + ", ".join(f"{k}={v}" for k, v in summary.items() if k != "seconds")
    )
    _print(f"its data, with the day's edits, are kept in {persist.shown_path(store)}: `make dev` serves them")
    cmd_db(argparse.Namespace(action="init", revision="head"))
    _print(f"full Dagster logs (daemon, code server, runs): {demo.start_dagster_log()}")
    prepare_dagster_home()
    started = time.time()  # the runs of this demo are those created since
    with DagsterInstance.get() as instance, demo.backfill_daemon(instance):
        result = run_backfill(
            start=start, end=start + timedelta(days=args.days - 1), empreendimentos=None, dry_run=False
        )
    if result["status"] != "COMPLETED_SUCCESS":
        print_status()
        _print(f"demo: the backfill ended {result['status']}; runs of this demo: {_demo_runs(started)}")
        return 1
    day_runs = demo_day_in_the_life()
    print_status(last_runs=0)
    tally = _demo_runs(started)
    _print()
    _print(
        f"demo: backfill of {result['partitions']} partitions in {result['runs']} runs ({result['seconds']:.1f}s), "
        f"then {day_runs} sensor-requested runs for the day's changes; runs of this demo: {tally}; "
        f"{time.perf_counter() - t0:.0f}s in all"
    )
    return 0 if tally.ok else 1


def _demo_runs(since: float):
    from dagster import DagsterInstance

    from sync_pipeline import demo

    with DagsterInstance.get() as instance:
        return demo.tally_runs(instance, since)


def demo_day_in_the_life() -> int:
    """Decisions on the carteira, Odoo changing under them, the sensors' runs, what they did."""
    from dagster import DagsterInstance

    from sync_pipeline import demo
    from sync_pipeline.db import report
    from sync_pipeline.db.engine import get_engine
    from sync_pipeline.definitions import defs
    from sync_pipeline.partitions import last_day
    from sync_pipeline.resources.config import build_resources, odoo_resource_from_env

    engine = get_engine(_require_database_url())
    instance = DagsterInstance.get()
    resources = build_resources()
    cursors = demo.sensor_cursors(instance, resources)
    pre, sep = demo.plant_decisions(engine)
    _print()
    _print(f"a day in the life: logistics plans {pre} pré-separações and {sep} separação rows in lots")
    _print("  (PREVISAO / ABERTO / COTADO); then, in Odoo:")
    client = odoo_resource_from_env().get_client()
    done = demo.change_odoo(client, engine)
    ahead = last_day() + timedelta(days=3)
    invoiced = demo.invoice_ahead(client, engine, ahead)
    _print(
        f"  {done['reduced']} order lines reduced, {done['increased']} increased, "
        f"{done['cancelled']} orders with a quoted (COTADO) lot cancelled"
        + (f", order {invoiced} invoiced dated {ahead} (3 days ahead)" if invoiced else "")
    )
    runs = demo.run_sensor_requests(instance, defs, resources, cursors, _print)
    with engine.connect() as conn:
        kinds, alerts = report.day_in_the_life(conn)
    _print("  diffs of the day: " + (", ".join(f"{k}={n}" for k, n in sorted(kinds)) or "none"))
    for nivel, tipo, lote, pedido, produto, antes, depois in alerts[:8]:
        _print(f"  alert {nivel:<8} {tipo:<14} {pedido}/{produto} lote {lote or '-'}: {antes} → {depois}")
    if len(alerts) > 8:
        _print(f"  ... {len(alerts) - 8} more in alerta_separacao_cotada")
    return runs


# --- parser --------------------------------------------------------------------------------------


class _OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors as one line (exit 2, as argparse's); subcommands inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(errors.EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _iso_date(text: str) -> date:
    """argparse ``type=`` for dates: a wrong one is named with the format expected."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: expected YYYY-MM-DD ({exc})") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="sync-pipeline", description="Odoo → PostgreSQL sync on Dagster")
    parser.add_argument(
        "--debug", action="store_true", help="on an error, show the Python traceback instead of one line"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    _add_db_parser(sub)

    from sync_pipeline.simulator.persist import default_store_path
    from sync_pipeline.simulator.serve import add_arguments

    sim = sub.add_parser(
        "simulator", help="serve the Odoo simulator: the one saved under .local/simulator/, else generated data"
    )
    add_arguments(sim, default_store=default_store_path())
    sim.set_defaults(func=cmd_simulator)

    bf = sub.add_parser("backfill", help="sync a range of partitions through Dagster")
    bf.add_argument("--start-date", required=True, type=_iso_date, metavar="YYYY-MM-DD")
    bf.add_argument("--end-date", type=_iso_date, metavar="YYYY-MM-DD", help="default: the last date partition")
    bf.add_argument("--empreendimento", action="append", help="repeatable; default: all")
    bf.add_argument("--dry-run", action="store_true", help="print what would be synced, submit nothing")
    bf.add_argument("--max-months", type=int, metavar="N", help="end the range N months after --start-date at most")
    bf.add_argument(
        "--force",
        action="store_true",
        help="also run partitions already synced with nothing changed in Odoo since (left out by default)",
    )
    bf.add_argument(
        "--skip-recent-hours",
        type=float,
        metavar="H",
        help="leave out partitions whose every table was synced in the last H hours",
    )
    bf.set_defaults(func=cmd_backfill)

    st = sub.add_parser("status", help="rows per table, last runs, open alerts")
    st.set_defaults(func=cmd_status)

    demo = sub.add_parser("demo", help="generate data, sync it all, print what was written")
    demo.add_argument("--port", type=int, default=0)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--days", type=int, default=60)
    demo.add_argument("--companies", type=int, default=3)
    demo.set_defaults(func=cmd_demo)
    return parser


@contextlib.contextmanager
def _package_logging(*, debug: bool):
    """The package's log lines on stderr while a command runs: from INFO with --debug; otherwise
    errors only: a warning such as an Odoo retry is progress, and a failure ends with its one line."""
    logger = logging.getLogger("sync_pipeline")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if debug else logging.ERROR)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def main(argv: list[str] | None = None) -> int:
    """Run one command; a failure is one line on stderr and its exit code (errors.py), unless --debug."""
    args = build_parser().parse_args(argv)
    try:
        with _package_logging(debug=args.debug):
            return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        if args.debug:
            raise
        failure = errors.explain(exc)
        print(f"sync-pipeline {args.command}: error: {failure.message}", file=sys.stderr, flush=True)
        return failure.exit_code


if __name__ == "__main__":
    sys.exit(main())
