"""`make demo`'s second act: a day in the life of the carteira.

After the backfill, logistics people take decisions on the open order book (pré-separações and
separação lots, some with a freight quote: COTADO); then Odoo changes under them (lines reduced
and increased, orders cancelled). The sensors find the partitions touched, the runs they request
are executed through Dagster, and the hierarchy adjusts the decisions, records every diff and
raises alerts where a human must look. One order is invoiced with a date days ahead: today's
partition holds that NF.

The sensors run where they run in production: in ``dagster-daemon``, which evaluates them on their
interval and launches the runs they request (the UI shows each run as launched by its sensor, tag
``dagster/sensor_name``). The demo only makes sure they are on and have seen Odoo before the day
(:func:`sensor_cursors`), then starts a daemon after the day's edits and waits for those ticks and
runs (:func:`run_sensor_requests`).

A daemon the demo started is stopped only once every run created since it started has finished
(:func:`_finish_runs`): stopping it kills the run workers in its process group, which ended runs
still going (a sensor's run while the backfill ended, a run retry) as FAILURE or left them STARTED.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, Definitions, RunsFilter
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine, make_url

from sync_pipeline import errors
from sync_pipeline.backfill import REPO_ROOT, DaemonProcess, daemon_is_running
from sync_pipeline.dagster_private import loaded_workspace, tick_statuses
from sync_pipeline.db import localpg
from sync_pipeline.odoo.changes import INVOICE_DOMAIN, Cursor, OrderCursor, latest_change, latest_order_change
from sync_pipeline.odoo.client import OdooClient
from sync_pipeline.resources.config import odoo_resource_from_env

# Decisions planted on the carteira: deterministic picks (hash order) so the demo repeats.
_PLANT_SQL = """
WITH lines AS (
    SELECT num_pedido, cod_produto, qtd_saldo_produto_pedido AS saldo,
           row_number() OVER (ORDER BY md5(num_pedido || cod_produto)) AS rn
    FROM carteira_principal WHERE status_pedido = 'Pedido de venda' AND qtd_saldo_produto_pedido >= 4
      AND NOT EXISTS (SELECT 1 FROM separacao s WHERE s.num_pedido = carteira_principal.num_pedido)
      AND NOT EXISTS (SELECT 1 FROM pre_separacao_item p WHERE p.num_pedido = carteira_principal.num_pedido)
),
orders AS (
    SELECT num_pedido, row_number() OVER (ORDER BY md5(num_pedido)) AS rn
    FROM (SELECT DISTINCT num_pedido FROM lines) o
),
lots AS (SELECT num_pedido, rn FROM orders WHERE rn <= :lots),
pre AS (
    INSERT INTO pre_separacao_item (num_pedido, cod_produto, qtd_selecionada_usuario)
    SELECT l.num_pedido, l.cod_produto, floor(l.saldo * 0.3)
    FROM lines l WHERE l.num_pedido NOT IN (SELECT num_pedido FROM lots) AND l.rn <= :pre
    RETURNING 1
),
sep AS (
    INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, tipo_envio)
    SELECT 'DEMO-' || lots.rn, l.num_pedido, l.cod_produto, floor(l.saldo * 0.5),
           (ARRAY['PREVISAO', 'ABERTO', 'COTADO'])[1 + lots.rn % 3], 'total'
    FROM lines l JOIN lots USING (num_pedido)
    RETURNING 1
)
SELECT (SELECT count(*) FROM pre), (SELECT count(*) FROM sep)
"""


_LOCAL_TCP_HOSTS = ("127.0.0.1", "localhost")


def _local_socket_dirs() -> set[Path]:
    """Where the project-local PostgreSQL puts its socket: its data dir, or the directory its
    postmaster.pid names (a short temp dir when the data dir's path is too long for a socket)."""
    dirs = {localpg.DEFAULT_DATA_DIR.resolve()}
    with contextlib.suppress(OSError, IndexError):
        dirs.add(Path((localpg.DEFAULT_DATA_DIR / "postmaster.pid").read_text().splitlines()[4]).resolve())
    return dirs


def foreign_database(url: str | URL) -> str | None:
    """None when ``url`` is a database of the project-local PostgreSQL (db/localpg.py: 127.0.0.1 or
    its socket, at SYNC_LOCAL_PG_PORT); else the URL as shown to the operator (password hidden)."""
    parsed = make_url(url) if isinstance(url, str) else url
    host = parsed.host or parsed.query.get("host") or ""
    port = parsed.port or parsed.query.get("port") or 5432
    if isinstance(host, tuple | list) or isinstance(port, tuple | list):
        is_local = False  # several hosts: libpq tries them in turn, not only ours
    else:
        on_tcp = host in _LOCAL_TCP_HOSTS
        on_socket = host.startswith("/") and Path(host).resolve() in _local_socket_dirs()
        is_local = (on_tcp or on_socket) and str(port) == str(localpg.default_port())
    if parsed.drivername.startswith("postgresql+"):
        parsed = parsed.set(drivername="postgresql")  # as the operator wrote it: the driver is ours
    return None if is_local else parsed.render_as_string(hide_password=True)


def require_project_local_database(url: str | URL) -> None:
    """The demo writes generated Odoo data and plants fake pré-separações and separações: only in
    the project-local PostgreSQL, never in a database someone else's data lives in."""
    shown = foreign_database(url)
    if shown is not None:
        raise errors.CommandError(
            f"DATABASE_URL is {shown}, not the project-local PostgreSQL (127.0.0.1:{localpg.default_port()}): "
            "the demo plants fake pré-separações and separações and loads generated Odoo data, so it runs only "
            "there; unset DATABASE_URL and run `make demo` (it starts that PostgreSQL); nothing was written"
        )


def plant_decisions(engine: Engine, *, lots: int = 12, pre: int = 60) -> tuple[int, int]:
    require_project_local_database(engine.url)
    with engine.begin() as conn:
        row = conn.execute(text(_PLANT_SQL), {"lots": lots, "pre": pre}).one()
    return int(row[0]), int(row[1])


def change_odoo(client: OdooClient, engine: Engine) -> dict[str, int]:
    """What happens in Odoo during the day, done through its API as a user would."""
    with engine.connect() as conn:
        reduce = conn.execute(
            text(
                "SELECT c.num_pedido, c.cod_produto, c.qtd_produto_pedido FROM carteira_principal c "
                "WHERE c.qtd_saldo_produto_pedido = c.qtd_produto_pedido "
                "AND EXISTS (SELECT 1 FROM pre_separacao_item p WHERE p.num_pedido = c.num_pedido "
                "AND p.cod_produto = c.cod_produto) OR c.qtd_saldo_produto_pedido = c.qtd_produto_pedido "
                "AND EXISTS (SELECT 1 FROM separacao s "
                "WHERE s.num_pedido = c.num_pedido AND s.cod_produto = c.cod_produto AND s.status <> 'COTADO') "
                "ORDER BY md5(c.num_pedido || c.cod_produto) LIMIT 12"
            )
        ).all()
        cancel = (
            conn.execute(
                text("SELECT DISTINCT num_pedido FROM separacao WHERE status = 'COTADO' ORDER BY num_pedido LIMIT 2")
            )
            .scalars()
            .all()
        )
        increase = conn.execute(
            text(
                "SELECT c.num_pedido, c.cod_produto, c.qtd_produto_pedido FROM carteira_principal c "
                "JOIN separacao s ON s.num_pedido = c.num_pedido AND s.cod_produto = c.cod_produto "
                "WHERE s.status IN ('PREVISAO', 'ABERTO') AND c.num_pedido <> ALL(:cancel) "
                "ORDER BY md5(c.num_pedido) LIMIT 4"
            ),
            {"cancel": list(cancel)},
        ).all()
    orders = {
        o["name"]: o["id"]
        for o in client.search_read(
            "sale.order", [("name", "in", sorted({r[0] for r in (*reduce, *increase)} | set(cancel)))], ["name"]
        )
    }
    products = {
        p["default_code"]: p["id"]
        for p in client.search_read("product.product", [("default_code", "!=", False)], ["default_code"])
    }

    def line_id(pedido: str, produto: str) -> int | None:
        product = products.get(produto) or (int(produto[5:]) if produto.startswith("ODOO-") else None)
        found = client.search(
            "sale.order.line", [("order_id", "=", orders.get(pedido, 0)), ("product_id", "=", product)], limit=1
        )
        return found[0] if found else None

    done = {"reduced": 0, "increased": 0, "cancelled": 0}
    for pedido, produto, qty in reduce:
        if pedido in cancel or (lid := line_id(pedido, produto)) is None:
            continue
        client.write("sale.order.line", [lid], {"product_uom_qty": float(qty) * 0.2})
        done["reduced"] += 1
    for pedido, produto, qty in increase:
        if (lid := line_id(pedido, produto)) is not None:
            client.write("sale.order.line", [lid], {"product_uom_qty": float(qty) + 10})
            done["increased"] += 1
    for pedido in cancel:
        client.call_action("sale.order", "action_cancel", [orders[pedido]], context={"disable_cancel_warning": True})
        done["cancelled"] += 1
    return done


def invoice_ahead(client: OdooClient, engine: Engine, day: date) -> str | None:
    """A user invoices an order of the carteira with an invoice date days ahead (a real Odoo takes
    it): no partition exists for that date, so today's holds it. Returns the order, None if none."""
    with engine.connect() as conn:
        pedido = conn.execute(
            text(
                "SELECT c.num_pedido FROM carteira_principal c WHERE c.status_pedido = 'Pedido de venda' "
                "AND NOT EXISTS (SELECT 1 FROM separacao s WHERE s.num_pedido = c.num_pedido) "
                "AND NOT EXISTS (SELECT 1 FROM pre_separacao_item p WHERE p.num_pedido = c.num_pedido) "
                "ORDER BY md5(c.num_pedido) LIMIT 1"
            )
        ).scalar()
    order = client.search("sale.order", [("name", "=", pedido)], limit=1) if pedido else []
    if not order:
        return None
    wizard, context = "sale.advance.payment.inv", {"active_model": "sale.order", "active_ids": order}
    wizard_id = client.execute(wizard, "create", {"advance_payment_method": "delivered"}, context=context)
    move = client.execute(wizard, "create_invoices", [wizard_id], context=context)["res_id"]
    client.write("account.move", [move], {"invoice_date": day.isoformat()})
    client.call_action("account.move", "action_post", [move])
    return pedido


# The sensors that turn the day's Odoo edits into runs, in the order their summary is printed.
CHANGE_SENSORS = ("invoice_sensor", "order_sensor")
# A sensor run is a run process plus one process per step: about a minute each on a busy 2-core machine.
DAY_TIMEOUT_SECONDS = 1800.0
_POLL_SECONDS = 2.0
PROGRESS_EVERY_SECONDS = 30.0  # at most one progress line per interval, and the last one
DAEMON_START_SECONDS = 180.0  # until every daemon of a new dagster-daemon heartbeats
# The demo's daemons, their code servers and runs write here (DEBUG events included), not to the
# terminal. Not under DAGSTER_HOME/logs: that is Dagster's telemetry queue, which each daemon's
# upload thread moves away and deletes (with telemetry disabled too).
DAGSTER_LOG = REPO_ROOT / ".local" / "demo" / "dagster.log"
_DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
_UNFINISHED = [s for s in DagsterRunStatus if s not in _DONE]


def runs_since(instance: DagsterInstance, since: float, *, unfinished: bool = False) -> list:
    """The runs created since ``since`` (a time.time()), every kind (backfill, sensor, retry)."""
    filters = RunsFilter(created_after=datetime.fromtimestamp(since, UTC), statuses=_UNFINISHED if unfinished else [])
    return list(instance.get_runs(filters=filters))


@dataclass(frozen=True)
class RunTally:
    """How the runs of a stretch of the demo ended."""

    succeeded: int
    failed: int  # FAILURE or CANCELED with no successful retry
    retried: int  # failed, and a retry (run retries) succeeded
    unfinished: int  # still queued or running

    @property
    def ok(self) -> bool:
        return not (self.failed or self.unfinished)

    def __str__(self) -> str:
        parts = [f"{self.succeeded} succeeded", f"{self.failed} failed"]
        if self.retried:
            parts.append(f"{self.retried} failed and retried successfully")
        if self.unfinished:
            parts.append(f"{self.unfinished} not finished")
        return ", ".join(parts)


def tally_runs(instance: DagsterInstance, since: float) -> RunTally:
    runs = runs_since(instance, since)
    by_status = Counter(r.status for r in runs)
    succeeded = {r.run_id for r in runs if r.status == DagsterRunStatus.SUCCESS}
    recovered = {r.tags.get("dagster/parent_run_id") for r in runs if r.run_id in succeeded}
    failed = [r for r in runs if r.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)]
    retried = sum(1 for r in failed if r.run_id in recovered)
    return RunTally(
        succeeded=by_status[DagsterRunStatus.SUCCESS],
        failed=len(failed) - retried,
        retried=retried,
        unfinished=sum(n for status, n in by_status.items() if status not in _DONE),
    )


def _finish_runs(
    instance: DagsterInstance,
    since: float,
    daemon: DaemonProcess,
    echo: Callable[[str], None],
    *,
    timeout_seconds: float = DAY_TIMEOUT_SECONDS,
) -> None:
    """Before our daemon stops: wait until every run created since ``since`` finished, whoever
    launched it (stopping the daemon kills the run workers in its process group)."""
    started, shown = time.monotonic(), False
    while pending := runs_since(instance, since, unfinished=True):
        elapsed = time.monotonic() - started
        if elapsed >= timeout_seconds:
            echo(
                f"  {len(pending)} runs still not finished after {timeout_seconds:.0f}s; stopping the daemon fails them"
            )
            return
        if not shown:
            shown = True
            echo(f"  waiting for {len(pending)} runs to finish before stopping dagster-daemon")
        daemon.check_alive()
        time.sleep(_POLL_SECONDS)


def _print(msg: str) -> None:
    print(msg, flush=True)


@dataclass(frozen=True)
class _SensorRef:
    """Where the instance keeps a sensor's state and ticks."""

    name: str
    origin_id: str
    selector_id: str


@contextlib.contextmanager
def _workspace_sensors(instance: DagsterInstance) -> Iterator[dict]:
    """Every sensor as the daemon loads it (``workspace.yaml``), by name, change sensors first.

    Dagster's only way from a sensor's name to its state and ticks in the instance is the loaded
    workspace (a private API: ``dagster_private.loaded_workspace``). The code location starts here
    and stops on exit.
    """
    with loaded_workspace(instance, str(REPO_ROOT / "workspace.yaml")) as workspace:
        (entry,) = workspace.create_request_context().get_code_location_entries().values()
        if entry.code_location is None:
            raise RuntimeError(f"the code location failed to load: {entry.load_error}")
        (repo,) = entry.code_location.get_repositories().values()
        names = [*CHANGE_SENSORS, *sorted(s.name for s in repo.get_sensors() if s.name not in CHANGE_SENSORS)]
        yield {name: repo.get_sensor(name) for name in names}


def _refs(sensors: dict) -> list[_SensorRef]:
    return [_SensorRef(s.name, s.get_remote_origin_id(), s.selector_id) for s in sensors.values()]


def _stored_cursor(instance: DagsterInstance, ref: _SensorRef) -> str | None:
    state = instance.get_instigator_state(ref.origin_id, ref.selector_id)
    return getattr(state.instigator_data, "cursor", None) if state is not None else None


def _caught_up(name: str, cursor: str | None, client: OdooClient) -> bool:
    """The sensor's cursor is at Odoo's newest change: its next tick sees only what happens next."""
    if not cursor:
        return False

    def key(c: Cursor) -> tuple[str, int]:
        return c.write_date, c.id

    if name == "invoice_sensor":
        return key(Cursor.parse(cursor)) >= key(latest_change(client, "account.move", INVOICE_DOMAIN))
    seen, newest = OrderCursor.parse(cursor), latest_order_change(client)
    return key(seen.order) >= key(newest.order) and key(seen.line) >= key(newest.line)


def start_dagster_log() -> str:
    """Empty DAGSTER_LOG for this demo; its path as the demo prints it (relative to the repo)."""
    DAGSTER_LOG.parent.mkdir(parents=True, exist_ok=True)
    DAGSTER_LOG.write_bytes(b"")
    return str(DAGSTER_LOG.relative_to(REPO_ROOT))


@contextlib.contextmanager
def backfill_daemon(instance: DagsterInstance) -> Iterator[DaemonProcess | None]:
    """A ``dagster-daemon`` writing to DAGSTER_LOG for the backfill (stopped on exit), up once all
    its daemons heartbeat, so the backfill uses it rather than one logging into DAGSTER_HOME/logs.
    None when one already runs for the instance."""
    if daemon_is_running(instance):
        yield None
        return
    with contextlib.ExitStack() as stack:
        stack.callback(instance.wipe_daemon_heartbeats)
        started = time.time()
        daemon = stack.enter_context(DaemonProcess(log_path=DAGSTER_LOG))
        deadline = time.monotonic() + DAEMON_START_SECONDS
        while not daemon_is_running(instance):
            daemon.check_alive()
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"dagster-daemon (pid {daemon.pid}) did not heartbeat in {DAEMON_START_SECONDS:.0f}s"
                )
            time.sleep(_POLL_SECONDS)
        yield daemon
        _finish_runs(instance, started, daemon, _print)


@contextlib.contextmanager
def _daemon(instance: DagsterInstance, echo: Callable[[str], None]) -> Iterator[DaemonProcess | None]:
    """Our own ``dagster-daemon`` (stopped on exit), or None when one already runs for the instance."""
    if daemon_is_running(instance):
        echo("  the sensors run in the dagster-daemon already running for this instance")
        yield None
        return
    with contextlib.ExitStack() as stack:
        # After the daemon stopped (LIFO): its last heartbeats would look like a running daemon.
        stack.callback(instance.wipe_daemon_heartbeats)
        started = time.time()
        daemon = stack.enter_context(DaemonProcess(log_path=DAGSTER_LOG))
        echo(f"  the sensors run in dagster-daemon (pid {daemon.pid}; logs in the file above)")
        yield daemon
        _finish_runs(instance, started, daemon, echo)


def _target(tags: Mapping[str, str]) -> str:
    first = tags.get("dagster/asset_partition_range_start")
    return f"{first}..{tags.get('dagster/asset_partition_range_end')}" if first else tags.get("dagster/partition", "?")


def _wait_for_sensors(
    instance: DagsterInstance,
    refs: list[_SensorRef],
    *,
    since: float,
    ready: Callable[[], bool],
    daemon: DaemonProcess | None,
    echo: Callable[[str], None],
    timeout_seconds: float = DAY_TIMEOUT_SECONDS,
) -> tuple[dict[str, list], bool]:
    """Poll until each change sensor completed a tick started after ``since`` and none is under
    way, ``ready()`` holds and every run created since then finished, a sensor's or not (nothing is
    left running when the daemon stops). A progress line at most every PROGRESS_EVERY_SECONDS, and
    the last one. Returns each sensor's runs and whether it finished."""
    TickStatus = tick_statuses()  # noqa: N806 (the enum, not exported by dagster)

    started = time.monotonic()
    last_line, last_shown, reported = "", -PROGRESS_EVERY_SECONDS, set()
    while True:
        runs_by_sensor: dict[str, list] = {}
        parts, ticked = [], True
        for ref in refs:
            ticks = instance.get_ticks(ref.origin_id, ref.selector_id, after=since)
            for t in ticks:
                if t.status == TickStatus.FAILURE and t.tick_id not in reported:
                    reported.add(t.tick_id)
                    error = t.error.message.strip().splitlines()[0] if t.error else "?"
                    echo(f"  {ref.name}: a tick failed (the next one retries): {error}")
            run_ids = sorted({i for t in ticks for i in t.run_ids})
            runs = list(instance.get_runs(filters=RunsFilter(run_ids=run_ids))) if run_ids else []
            runs_by_sensor[ref.name] = runs
            has_ticked = any(t.status in (TickStatus.SUCCESS, TickStatus.SKIPPED) for t in ticks)
            if ref.name in CHANGE_SENSORS:
                # newest first: a tick under way may still request runs
                ticked = ticked and has_ticked and ticks[0].status != TickStatus.STARTED
                state = (
                    f"{len(runs)} runs, {sum(r.status in _DONE for r in runs)} finished"
                    if has_ticked
                    else "no tick yet"
                )
                parts.append(f"{ref.name}: {state}")
            elif runs:
                parts.append(f"{ref.name}: {len(runs)} runs, {sum(r.status in _DONE for r in runs)} finished")
        line = "; ".join(parts)
        elapsed = time.monotonic() - started
        done = (
            ticked
            and all(r.status in _DONE for runs in runs_by_sensor.values() for r in runs)
            and not runs_since(instance, since, unfinished=True)
            and ready()
        )
        if line != last_line and (done or elapsed - last_shown >= PROGRESS_EVERY_SECONDS):
            last_line, last_shown = line, elapsed
            echo(f"  [{elapsed:4.0f}s] {line}")
        if done:
            return runs_by_sensor, True
        if elapsed >= timeout_seconds:
            echo(f"  not finished after {timeout_seconds:.0f}s; stopping the daemon stops what still runs")
            return runs_by_sensor, False
        if daemon is not None:
            daemon.check_alive()
        time.sleep(_POLL_SECONDS)


def sensor_cursors(instance: DagsterInstance, resources: dict) -> dict[str, str]:  # noqa: ARG001
    """The change sensors before the day: on, and their cursors at Odoo's newest change.

    Starts a change sensor that was stopped (in the UI). They are normally current already: the
    backfill's daemon ticked them (a first tick only records where Odoo is). One that is behind
    (never ticked, or left at an earlier data set's cursor) ticks in a daemon until it caught up
    and its runs finished. Returns each change sensor's stored cursor.
    """
    client = odoo_resource_from_env().get_client()  # the resources' EnvVars resolve only inside Dagster
    with _workspace_sensors(instance) as sensors:
        for name in CHANGE_SENSORS:
            if not instance.start_sensor(sensors[name]).is_running:
                raise RuntimeError(f"{name} could not be started")
        refs = _refs(sensors)
    changes = [r for r in refs if r.name in CHANGE_SENSORS]

    def behind() -> list[str]:
        return [r.name for r in changes if not _caught_up(r.name, _stored_cursor(instance, r), client)]

    if lagging := behind():
        _print(f"  {', '.join(lagging)}: cursor behind Odoo; ticking in dagster-daemon until caught up")
        since = time.time()
        with _daemon(instance, _print) as daemon:
            _, finished = _wait_for_sensors(
                instance, refs, since=since, ready=lambda: not behind(), daemon=daemon, echo=_print
            )
        if not finished:
            raise RuntimeError(f"{', '.join(behind())}: did not catch up with Odoo in {DAY_TIMEOUT_SECONDS:.0f}s")
    return {r.name: _stored_cursor(instance, r) or "" for r in changes}


def run_sensor_requests(
    instance: DagsterInstance,
    defs: Definitions,  # noqa: ARG001 - the caller's signature; the daemon loads the definitions itself
    resources: dict,  # noqa: ARG001
    cursors: dict[str, str],
    echo: Callable[[str], None],
) -> int:
    """The day's edits through Dagster: a daemon evaluates the sensors and launches the runs they
    request (the UI shows them launched by their sensor). Waits until each change sensor ticked
    after the edits and every run they launched finished, then prints one line per sensor.
    ``cursors``: where each change sensor stood before the day. Returns the runs launched."""
    since = time.time()  # the day's edits are all older: a tick from now on sees every one
    with _workspace_sensors(instance) as sensors:
        refs = _refs(sensors)
    with _daemon(instance, echo) as daemon:
        runs_by_sensor, _ = _wait_for_sensors(instance, refs, since=since, ready=lambda: True, daemon=daemon, echo=echo)
    total = 0
    for ref in refs:
        runs = sorted(runs_by_sensor[ref.name], key=lambda r: _target(r.tags))
        total += len(runs)
        if not runs:
            if ref.name in CHANGE_SENSORS:
                unchanged = _stored_cursor(instance, ref) == cursors.get(ref.name)
                echo(f"  {ref.name}: no runs" + (" (no change in Odoo since its cursor)" if unchanged else ""))
            continue
        targets = [_target(r.tags) for r in runs]
        shown = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
        failed = [
            f"run {r.run_id[:8]} {r.status.value} for {_target(r.tags)}"
            for r in runs
            if r.status != DagsterRunStatus.SUCCESS
        ]
        echo(
            f"  {ref.name}: {len(runs)} runs launched ({shown}), "
            + (f"{len(failed)} not successful: {', '.join(failed)}" if failed else "all ok")
        )
    return total
