"""The fault matrix through a real instance and `dagster-daemon` (issue 10 item 1; docs/reliability.md).

The stack of test_daemon_e2e (the simulator over HTTP, a DAGSTER_HOME with the project's
dagster.yaml, one `dagster-daemon run -w workspace.yaml`), on a PostgreSQL cluster of its own: a
project-local cluster (db/localpg.py) in a temp dir on a free port, holding the operational tables
and Dagster's storage as a deployment does, so restarting it disturbs no other test. Settings of
this test instance keep each fault short: the run queue dequeues every second, run monitoring
polls every 2 s, the sensors tick every 3 s, and the backfill daemon loops every 2 s instead of
Dagster's fixed 30 s (no setting exists: a sitecustomize on the daemon's PYTHONPATH sets it).

Every test ends with the operational tables equal to the oracle (``synced_state`` of one clean
in-process run per empreendimento over the same source) and prints the figures docs/reliability.md
quotes. Whatever a test starts (daemons, clusters, simulators) is stopped, also on failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter, instance_for_test
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from sqlalchemy import text
from sqlalchemy.engine import Engine

from sync_pipeline.backfill import DaemonProcess, submit_asset_backfill, wait_for_backfill
from sync_pipeline.dagster_home import ensure_dagster_schema
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.localpg import LocalPostgres
from sync_pipeline.db.schema import create_schema, metadata
from sync_pipeline.odoo.changes import Cursor
from sync_pipeline.partitions import SyncPartition, empreendimento_key
from sync_pipeline.run_launcher import run_worker_pid
from sync_pipeline.settings import normalize_pg_url
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline.simulator.server import SimulatorServer
from sync_pipeline_tests.support import (
    START,
    SimulatorHandle,
    empreendimentos,
    resources,
    start_simulator,
    sync_range,
    synced_state,
)
from sync_pipeline_tests.test_daemon_e2e import (
    INVOICE_SENSOR,
    REPO_ROOT,
    _initialise_invoice_sensor,
    _state_of_one_run,
    _wait,
)

DAYS = 6
END = START + timedelta(days=DAYS - 1)
SENSOR_INTERVAL_S = 3
MONITOR_POLL_S = 2
BACKFILL_LOOP_S = 2
TIMEOUT_S = 480  # generous: runs take minutes when the 2-core machine is loaded
# Odoo calls of a run take this long while a fault is injected mid-run, so the fault lands between
# the run's first commit and its last.
SLOW_ODOO_S = 0.05

pytestmark = pytest.mark.timeout(1200)

_SITECUSTOMIZE = """\
import os

if os.environ.get("SYNC_TEST_BACKFILL_LOOP_SECONDS"):
    # Dagster's backfill daemon sleeps DEFAULT_DAEMON_INTERVAL_SECONDS (30) between iterations
    # and reads it at call time; a test instance has no setting for it.
    import dagster._daemon.controller as _controller

    _controller.DEFAULT_DAEMON_INTERVAL_SECONDS = int(os.environ["SYNC_TEST_BACKFILL_LOOP_SECONDS"])
"""


@dataclass
class Stack:
    handle: SimulatorHandle
    instance: DagsterInstance
    engine: Engine
    database_url: str
    cluster: LocalPostgres
    home: Path
    env: dict[str, str]
    daemon: DaemonProcess | None = None
    daemons: list[DaemonProcess] = field(default_factory=list)

    def start_daemon(self) -> DaemonProcess:
        daemon = DaemonProcess(
            "workspace.yaml",
            env={**os.environ, **self.env},
            log_path=self.home / f"daemon-{len(self.daemons)}.log",
        )
        self.daemons.append(daemon)
        self.daemon = daemon.start()
        return daemon

    def restart_simulator(self) -> None:
        """Serve the same Odoo on the same port again (the daemon's ODOO_URL)."""
        port = int(self.env["ODOO_URL"].rsplit(":", 1)[1])
        self.handle.server = SimulatorServer(self.handle.sim, port=port, faults=self.handle.faults).start()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_dagster_yaml(home: Path) -> None:
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    config["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    config["run_monitoring"]["poll_interval_seconds"] = MONITOR_POLL_S
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with contextlib.ExitStack() as cleanup, pytest.MonkeyPatch.context() as mp:
        # Not under pytest's basetemp: a later pytest session chmods /tmp/pytest-of-<user> to 0700,
        # and the server (an unprivileged user when run as root) then loses its data dir (PANIC).
        data_root = Path(tempfile.mkdtemp(prefix="sync-faults-pg-"))
        cleanup.callback(shutil.rmtree, data_root, ignore_errors=True)
        cluster = LocalPostgres(data_dir=data_root / "pg", port=_free_port())
        cleanup.callback(cluster.stop)
        cluster.start()
        cluster.create_database("faults")
        database_url = normalize_pg_url(cluster.url("faults"))
        engine = get_engine(database_url)
        cleanup.callback(engine.dispose)
        with engine.begin() as conn:
            create_schema(conn)
        dagster_pg_url = f"{database_url}?options=-csearch_path%3Ddagster"
        ensure_dagster_schema(dagster_pg_url)

        handle = start_simulator(seed=5, scale=0.3, days=DAYS, companies=2)
        cleanup.callback(lambda: handle.stop())  # the handle's server may be replaced by a test

        home = tmp_path_factory.mktemp("dagster_home")
        _test_dagster_yaml(home)
        site = tmp_path_factory.mktemp("site")
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        env = {
            "ODOO_URL": handle.url,
            "ODOO_DB": "odoo",
            "ODOO_USERNAME": "admin",
            "ODOO_API_KEY": "admin",
            "ODOO_PROTOCOL": "jsonrpc",
            "DATABASE_URL": database_url,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": dagster_pg_url,
            "SYNC_START_DATE": START.isoformat(),
            "SYNC_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL_S),
        }
        for name, value in env.items():
            mp.setenv(name, value)  # _state_of_one_run's databases go to this cluster too
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
        env["SYNC_TEST_BACKFILL_LOOP_SECONDS"] = str(BACKFILL_LOOP_S)

        instance = cleanup.enter_context(DagsterInstance.from_config(str(home)))
        instance.add_dynamic_partitions("empreendimento", empreendimentos(handle))
        _initialise_invoice_sensor(instance, Cursor(write_date=handle.sim.clock.now().strftime("%Y-%m-%d %H:%M:%S")))

        s = Stack(
            handle=handle,
            instance=instance,
            engine=engine,
            database_url=database_url,
            cluster=cluster,
            home=home,
            env=env,
        )
        s.start_daemon()
        try:
            yield s
        finally:
            left = []
            for daemon in s.daemons:
                with contextlib.suppress(Exception):
                    daemon.stop()
                left += daemon.leftover_pids()
            assert not left, f"left in the daemons' process groups: {left}"


def _failure_context(stack: Stack) -> str:
    return f"\n--- dagster-daemon log (tail) ---\n{stack.daemon.log_tail(60)}"


# --- the oracle and clean starts ------------------------------------------------------------------

_oracles: dict[tuple, dict] = {}


def _source_fingerprint(stack: Stack) -> tuple:
    sim = stack.handle.sim
    return tuple(
        (model, len(rows), max((r.get("write_date") or "" for r in rows), default=""))
        for model in ("account.move", "account.move.line", "sale.order", "sale.order.line")
        for rows in [sim.rows(model)]
    )


def _oracle(stack: Stack, emps: list[str]) -> dict[str, list[tuple]]:
    """One clean in-process run per empreendimento over START..END, into a database of its own."""
    key = (tuple(emps), _source_fingerprint(stack))
    if key not in _oracles:
        _oracles[key] = _state_of_one_run(stack, emps, START, END)
    return _oracles[key]


def _quiet(stack: Stack) -> None:
    """No run of the instance is queued or running (a test starts after the last one's runs)."""

    def idle():
        return not stack.instance.get_runs(filters=RunsFilter(statuses=list(_ACTIVE)))

    _wait(idle, TIMEOUT_S, "the instance's runs to finish", stack)


_ACTIVE = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)


def _empty_tables(stack: Stack) -> None:
    _quiet(stack)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with stack.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


def _clean_sync(stack: Stack) -> None:
    """The operational tables as one clean sync of START..END leaves them (run in-process)."""
    emps = empreendimentos(stack.handle)
    if synced_state(stack.engine) == _oracle(stack, emps):
        return
    _empty_tables(stack)
    res = resources(stack.handle, stack.database_url)
    with instance_for_test() as instance:
        for emp in emps:
            assert sync_range(instance, res, emp, START, END).success
    assert synced_state(stack.engine) == _oracle(stack, emps)


@pytest.fixture(autouse=True)
def _clear_faults(stack: Stack) -> Iterator[None]:
    stack.handle.faults.clear()
    yield
    stack.handle.faults.clear()


# --- helpers --------------------------------------------------------------------------------------


def _runs(stack: Stack, **tags: str) -> list:
    return stack.instance.get_runs(filters=RunsFilter(tags=tags))


def _messages(stack: Stack, run_id: str) -> list[tuple[float, str]]:
    """(timestamp, message) of every log line of a run: user logs and Dagster's events."""
    out = []
    for entry in stack.instance.all_logs(run_id):
        message = entry.user_message or (entry.dagster_event.message if entry.dagster_event else "") or ""
        out.append((entry.timestamp, message))
    return out


def _error_chain(error) -> str:
    """The messages of a SerializableErrorInfo and its causes (Dagster wraps the user's error)."""
    messages = []
    while error is not None:
        messages.append(error.message.strip())
        error = error.cause or error.context
    return " <- ".join(messages)


def _step_failure(stack: Stack, run_id: str) -> str:
    for entry in stack.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.step_failure_data
        if data and data.error:
            return _error_chain(data.error)
    return ""


def _no_overlap(records: list) -> list:
    spans = sorted((r.start_time, r.end_time) for r in records if r.start_time is not None)
    return [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]


def _started_run(stack: Stack, backfill_id: str, *, materialized: int = 1):
    """A STARTED run of the backfill, with its worker's pid, once it committed ``materialized``
    asset partitions (so a fault now falls between its first commit and its last)."""

    def started():
        for run in _runs(stack, **{"dagster/backfill": backfill_id}):
            if run.status != DagsterRunStatus.STARTED:
                continue
            pid = run_worker_pid(stack.instance, run.run_id)
            done = len(stack.instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION))
            if pid and done >= materialized:
                return run, pid, done
        return None

    return _wait(started, TIMEOUT_S, f"a run of backfill {backfill_id} to commit a partition", stack)


def _backfill_runs(stack: Stack, backfill_id: str) -> list:
    return _runs(stack, **{"dagster/backfill": backfill_id})


# --- (a) PostgreSQL restarted mid-run -------------------------------------------------------------


def test_postgresql_restarted_mid_run_the_backfill_converges(stack: Stack) -> None:
    """Stop and start the cluster holding the operational tables and Dagster's storage while a
    backfill's run is between two commits: the run's units of work replay on a new connection; a
    step whose Dagster storage call met a dead connection fails, and run retries launch its run
    again (dagster.yaml retries step failures); the backfill completes, and the end state equals
    one run."""
    emps = empreendimentos(stack.handle)
    expected = _oracle(stack, emps)
    _empty_tables(stack)
    stack.handle.faults.update(latency_per_call=SLOW_ODOO_S)
    backfill_id = submit_asset_backfill(stack.instance, empreendimentos=emps, start=START, end=END, title="pg restart")
    run, _pid, committed = _started_run(stack, backfill_id)
    t0, t0_wall = time.monotonic(), time.time()
    stack.cluster.stop()
    stopped = time.monotonic() - t0
    stack.cluster.start()
    down_s = time.monotonic() - t0
    stack.handle.faults.clear()

    outcome = wait_for_backfill(stack.instance, backfill_id, timeout_seconds=TIMEOUT_S, check=stack.daemon.check_alive)
    recovered_s = time.monotonic() - t0
    runs = _backfill_runs(stack, backfill_id)
    replays = [m for r in runs for _, m in _messages(stack, r.run_id) if "transient database error on attempt" in m]
    retries = [r for r in runs if r.tags.get("dagster/parent_run_id")]
    statuses = sorted(r.status.value for r in runs)
    timeline = []
    for r in sorted(runs, key=lambda r: stack.instance.get_run_record_by_id(r.run_id).create_timestamp.timestamp()):
        rec = stack.instance.get_run_record_by_id(r.run_id)
        ended = f"{rec.end_time - t0_wall:+.1f}s" if rec.end_time else "?"
        timeline.append(f"{r.run_id[:8]} {r.tags['sync/empreendimento']} {r.status.value} ended {ended}")
    failed_steps = [_step_failure(stack, r.run_id)[:300] for r in runs if r.status == DagsterRunStatus.FAILURE]
    print(
        f"PostgreSQL stopped {stopped:.1f}s after run {run.run_id[:8]} committed {committed} asset partitions, "
        f"back after {down_s:.1f}s; backfill {outcome.status} {recovered_s:.1f}s after the stop; "
        f"runs {statuses} ({len(retries)} retries): {timeline}; {len(replays)} units of work replayed: "
        f"{replays[:3]}; failed steps: {failed_steps}"
    )
    assert outcome.status == "COMPLETED_SUCCESS", f"{outcome}{_failure_context(stack)}"
    stack.daemon.check_alive()
    # every range of the backfill ended in a successful run (the first attempt or its retry)
    ok = {r.tags.get("sync/empreendimento") for r in runs if r.status == DagsterRunStatus.SUCCESS}
    assert ok == set(emps), f"{statuses}{_failure_context(stack)}"
    assert synced_state(stack.engine) == expected


# --- (b) the daemon SIGKILLed and restarted mid-backfill -------------------------------------------


def test_daemon_killed_and_restarted_mid_backfill_the_backfill_completes(stack: Stack) -> None:
    """SIGKILL the dagster-daemon (only it: its code server and the run worker it launched live
    on) while a backfill's run is between two commits, and start a new daemon: the new one picks
    the backfill up where the instance's storage says it is, the run in flight finishes or is
    retried, the backfill completes, and the end state equals one run."""
    emps = empreendimentos(stack.handle)
    expected = _oracle(stack, emps)
    _empty_tables(stack)
    stack.handle.faults.update(latency_per_call=SLOW_ODOO_S)
    backfill_id = submit_asset_backfill(
        stack.instance, empreendimentos=emps, start=START, end=END, title="daemon killed"
    )
    run, pid, committed = _started_run(stack, backfill_id)
    killed = stack.daemon
    os.kill(killed.pid, signal.SIGKILL)
    t0 = time.monotonic()
    try:
        killed.proc.wait(timeout=10)
        before = {r.run_id: r.status.value for r in _backfill_runs(stack, backfill_id)}
        stack.start_daemon()
        stack.handle.faults.clear()
        outcome = wait_for_backfill(
            stack.instance, backfill_id, timeout_seconds=TIMEOUT_S, check=stack.daemon.check_alive
        )
        completed_s = time.monotonic() - t0
    finally:
        killed.stop()  # what is left of its process group (its code server)
    runs = _backfill_runs(stack, backfill_id)
    in_flight = stack.instance.get_run_by_id(run.run_id)
    print(
        f"daemon pid {killed.pid} killed while run {run.run_id[:8]} (worker pid {pid}) had committed {committed} "
        f"asset partitions; runs then {sorted(before.values())}; backfill {outcome.status} {completed_s:.1f}s "
        f"after the kill in {len(runs)} runs {sorted(r.status.value for r in runs)}; the run in flight ended "
        f"{in_flight.status.value}"
    )
    assert outcome.status == "COMPLETED_SUCCESS", f"{outcome}{_failure_context(stack)}"
    # one run per empreendimento's range, none submitted twice by the new daemon (retries aside)
    firsts = [r for r in runs if not r.tags.get("dagster/parent_run_id")]
    assert sorted(r.tags["sync/empreendimento"] for r in firsts) == sorted(emps)
    ok = {r.tags["sync/empreendimento"] for r in runs if r.status == DagsterRunStatus.SUCCESS}
    assert ok == set(emps), f"{[r.status for r in runs]}{_failure_context(stack)}"
    assert synced_state(stack.engine) == expected


# --- (e) two identical backfills at once ----------------------------------------------------------


def test_two_identical_backfills_at_once_never_write_concurrently(stack: Stack) -> None:
    """Dagster keeps the second identical backfill as a backfill of its own and runs all of it; the
    run queue runs one run per empreendimento at a time, so the second's runs come after the
    first's, find nothing to change, and the end state equals one run."""
    emps = empreendimentos(stack.handle)
    expected = _oracle(stack, emps)
    _empty_tables(stack)
    ids = [
        submit_asset_backfill(stack.instance, empreendimentos=emps, start=START, end=END, title=f"twin {i}")
        for i in range(2)
    ]
    t0 = time.monotonic()
    outcomes = [
        wait_for_backfill(stack.instance, b, timeout_seconds=TIMEOUT_S, check=stack.daemon.check_alive) for b in ids
    ]
    runs = {b: _backfill_runs(stack, b) for b in ids}
    records = [stack.instance.get_run_record_by_id(r.run_id) for b in ids for r in runs[b]]
    with stack.engine.connect() as conn:
        diffs = dict(conn.execute(text("SELECT run_id, count(*) FROM carteira_diff GROUP BY run_id")).all())
    later = {}  # per empreendimento, the run that started last
    for rec in records:
        if rec.start_time is None:  # never started (e.g. retried before launch): wrote nothing
            continue
        emp = rec.dagster_run.tags["sync/empreendimento"]
        if emp not in later or rec.start_time > later[emp].start_time:
            later[emp] = rec
    print(
        f"two identical backfills: {[o.status for o in outcomes]} in {time.monotonic() - t0:.1f}s, "
        f"{[len(runs[b]) for b in ids]} runs; carteira_diff rows per run {diffs}; "
        f"the later run of each empreendimento wrote {[diffs.get(r.dagster_run.run_id, 0) for r in later.values()]}"
    )
    assert all(o.status == "COMPLETED_SUCCESS" and o.succeeded for o in outcomes), (
        f"{outcomes}{_failure_context(stack)}"
    )
    assert [len(runs[b]) for b in ids] == [len(emps), len(emps)]
    for emp in emps:
        of_emp = [r for r in records if r.dagster_run.tags["sync/empreendimento"] == emp]
        assert not _no_overlap(of_emp), f"runs of {emp} ran at once: {_no_overlap(of_emp)}"
        assert diffs.get(later[emp].dagster_run.run_id, 0) == 0  # idempotent: nothing left to change
    assert synced_state(stack.engine) == expected


# --- (f) a sensor run and a backfill of one empreendimento at once --------------------------------


def _new_invoice(stack: Stack, company: int, day, qty: float) -> int:
    sim = stack.handle.sim
    sim.clock.advance(600)  # written well after everything before it
    partner = next(p["id"] for p in sim.rows("res.partner") if p.get("vat"))
    product = sim.rows("product.product")[0]["id"]
    return add_invoice(sim, company, partner, [(product, qty, 3.5, None)], day.isoformat())


def test_a_sensor_run_and_a_backfill_of_one_empreendimento_never_overlap(stack: Stack) -> None:
    emps = empreendimentos(stack.handle)
    company = stack.handle.company_ids()[0]
    emp = empreendimento_key(company)
    _empty_tables(stack)
    day = START + timedelta(days=2)
    move = _new_invoice(stack, company, day, 5)
    backfill_id = submit_asset_backfill(
        stack.instance, empreendimentos=[emp], start=START, end=END, title="with sensor"
    )
    key = SyncPartition(emp, day).key

    def sensor_run_done():
        runs = [r for r in _runs(stack, **{"sync/trigger": "invoice_sensor"}) if r.tags.get("dagster/partition") == key]
        return runs if runs and all(r.is_finished for r in runs) else None

    sensor_runs = _wait(sensor_run_done, TIMEOUT_S, f"the invoice sensor's run for {key}", stack)
    outcome = wait_for_backfill(stack.instance, backfill_id, timeout_seconds=TIMEOUT_S, check=stack.daemon.check_alive)
    records = [
        stack.instance.get_run_record_by_id(r.run_id) for r in [*sensor_runs, *_backfill_runs(stack, backfill_id)]
    ]
    order = [r.dagster_run.tags.get("sync/trigger", "backfill") for r in sorted(records, key=lambda r: r.start_time)]
    print(f"invoice {move}: runs of {emp} in order {order}; backfill {outcome.status}")
    assert outcome.status == "COMPLETED_SUCCESS" and outcome.succeeded, f"{outcome}{_failure_context(stack)}"
    assert all(r.status == DagsterRunStatus.SUCCESS for r in sensor_runs)
    assert {r.dagster_run.tags["sync/empreendimento"] for r in records} == {emp}
    assert not _no_overlap(records), f"runs of {emp} ran at once: {_no_overlap(records)}"
    assert synced_state(stack.engine) == _oracle(stack, [emp])
    assert len(emps) > 1  # the other empreendimento was left alone: the oracle holds only this one


# --- (c) Odoo unreachable for a while -------------------------------------------------------------


def _sensor_state(stack: Stack, name: str = INVOICE_SENSOR):
    (state,) = [s for s in stack.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR) if s.name == name]
    return state


def _sensor_cursor(stack: Stack) -> Cursor:
    return Cursor.parse(_sensor_state(stack).instigator_data.cursor)


def _sensor_ticks(stack: Stack, since: float) -> list:
    state = _sensor_state(stack)
    ticks = stack.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=500)
    return sorted((t for t in ticks if t.timestamp >= since), key=lambda t: t.timestamp)


def test_odoo_unreachable_sensor_ticks_fail_keep_their_cursor_and_runs_retry(stack: Stack) -> None:
    """Stop Odoo's server (connections refused) right after the invoice sensor requested a run,
    and post a second invoice while it is down. The run's calls retry with backoff and the run
    fails naming the call; sensor ticks fail without moving their cursor. Odoo comes back as soon
    as the run failed: run retries launch the run again (step failures are retried, dagster.yaml:
    a sensor's run key is spent once requested), the next tick catches up with the second invoice,
    and the end state equals one clean run."""
    emps = empreendimentos(stack.handle)
    _clean_sync(stack)
    company = stack.handle.company_ids()[1]
    emp = empreendimento_key(company)
    first_day, second_day = START + timedelta(days=1), START + timedelta(days=3)
    first = _new_invoice(stack, company, first_day, 6)
    first_key = SyncPartition(emp, first_day).key

    def requested():
        runs = [
            r
            for r in _runs(stack, **{"sync/trigger": "invoice_sensor"})
            if r.tags.get("dagster/partition") == first_key
        ]
        return runs[0] if runs else None

    run = _wait(requested, TIMEOUT_S, f"the invoice sensor's run for {first_key}", stack)
    stack.handle.server.stop()
    down_at, down_wall = time.monotonic(), time.time()
    second = _new_invoice(stack, company, second_day, 8)
    try:

        def a_failed_tick():
            failures = [t for t in _sensor_ticks(stack, down_wall) if t.status == TickStatus.FAILURE]
            return _sensor_cursor(stack) if failures else None

        cursor_in_outage = _wait(a_failed_tick, TIMEOUT_S, "an invoice sensor tick to fail", stack)

        def failed():
            r = stack.instance.get_run_by_id(run.run_id)
            return r if r is not None and r.status == DagsterRunStatus.FAILURE else None

        _wait(failed, TIMEOUT_S, f"run {run.run_id} to fail while Odoo is down", stack)
        failed_s = time.monotonic() - down_at
        cursor_before_up = _sensor_cursor(stack)
    finally:
        stack.restart_simulator()
    outage_s = time.monotonic() - down_at
    up_wall = time.time()
    error = _step_failure(stack, run.run_id)
    retry_lines = [m for _, m in _messages(stack, run.run_id) if re.search(r"retry \d+/\d+ in", m)]

    def retried():
        runs = _runs(stack, **{"dagster/parent_run_id": run.run_id})
        return runs[0] if runs and runs[0].is_finished else None

    retry = _wait(retried, TIMEOUT_S, f"the retry of run {run.run_id}", stack)
    second_key = SyncPartition(emp, second_day).key

    def caught_up():
        runs = [
            r
            for r in _runs(stack, **{"sync/trigger": "invoice_sensor"})
            if r.tags.get("dagster/partition") == second_key
        ]
        return runs if runs and all(r.is_finished for r in runs) else None

    second_runs = _wait(caught_up, TIMEOUT_S, f"the sensor to catch up with invoice {second} ({second_key})", stack)
    caught_up_s = time.monotonic() - down_at
    _quiet(stack)
    ticks = _sensor_ticks(stack, down_wall)
    during = [t for t in ticks if t.timestamp < up_wall]
    failures = [t for t in during if t.status == TickStatus.FAILURE]
    cursor_after = _sensor_cursor(stack)
    print(
        f"invoice {first}: Odoo down {outage_s:.1f}s; run {run.run_id[:8]} failed {failed_s:.1f}s after the stop after "
        f"{len(retry_lines)} retries: {error.split(' <- ')[-1][:300]}; tick error: "
        f"{_error_chain(failures[0].error).split(' <- ')[-1][:200] if failures else '-'}; retry {retry.run_id[:8]} "
        f"{retry.status.value}; {len(failures)}/{len(during)} ticks failed during the outage; invoice {second} "
        f"synced by {len(second_runs)} run(s) {caught_up_s:.1f}s after the stop; cursor {cursor_in_outage.write_date} "
        f"through the outage, {cursor_after.write_date} after"
    )
    assert "via jsonrpc" in error and "gave up after" in error, error
    assert len(retry_lines) >= 5, retry_lines  # OdooResource's max_retries, each logged to the run
    assert retry.status == DagsterRunStatus.SUCCESS, f"{retry.run_id}{_failure_context(stack)}"
    assert failures, [t.status for t in during]
    assert all("via jsonrpc" in _error_chain(t.error) for t in failures), _error_chain(failures[0].error)
    # failed ticks keep the cursor; the first good tick after the outage goes on from it
    assert cursor_before_up == cursor_in_outage
    assert cursor_after.write_date > cursor_in_outage.write_date
    assert all(r.status == DagsterRunStatus.SUCCESS for r in second_runs)
    assert synced_state(stack.engine) == _oracle(stack, emps)


# --- (d) Odoo answering 429 / 503 with Retry-After ------------------------------------------------


def test_odoo_rate_limiting_with_retry_after_is_honoured_by_a_sensor_run(stack: Stack) -> None:
    """Odoo (or its proxy) answers the run's invoice-line search 429 then 503, both with
    ``Retry-After: 2``: the run waits what it was told before each attempt and succeeds."""
    emps = empreendimentos(stack.handle)
    _clean_sync(stack)
    company = stack.handle.company_ids()[0]
    emp = empreendimento_key(company)
    day = START + timedelta(days=4)
    move = _new_invoice(stack, company, day, 4)
    key = SyncPartition(emp, day).key

    def of_key():
        return [r for r in _runs(stack, **{"sync/trigger": "invoice_sensor"}) if r.tags.get("dagster/partition") == key]

    _wait(of_key, TIMEOUT_S, f"the invoice sensor's run for {key}", stack)
    # armed once the run is requested (before its worker starts): the sensor's own ticks read no lines
    stack.handle.faults.update(retry_after=2)
    stack.handle.faults.inject("429", count=1, model="account.move.line", method="search")
    stack.handle.faults.inject("503", count=1, model="account.move.line", method="search")

    def done():
        runs = of_key()
        return runs if runs and all(r.is_finished for r in runs) else None

    runs = _wait(done, TIMEOUT_S, f"the invoice sensor's run for {key}", stack)
    waits = [(ts, m) for r in runs for ts, m in _messages(stack, r.run_id) if "Retry-After" in m]
    injected = stack.handle.faults.stats()["injected"]
    gaps = [round(b[0] - a[0], 2) for a, b in zip(waits, waits[1:], strict=False)]
    print(
        f"invoice {move}: {len(runs)} run(s) {[r.status.value for r in runs]}; injected {injected}; "
        f"retries {[m.split('failed')[1].strip() for _, m in waits]}; seconds between them {gaps}"
    )
    assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), f"{runs}{_failure_context(stack)}"
    assert injected.get("429") == 1 and injected.get("503") == 1
    assert len(waits) == 2 and all("in 2.00s (Retry-After 2s)" in m for _, m in waits), waits
    assert all(g >= 2 for g in gaps), gaps  # the second refusal came after the first wait
    assert synced_state(stack.engine) == _oracle(stack, emps)
