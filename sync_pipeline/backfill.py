"""Backfills through Dagster itself: one asset backfill in the instance, run by ``dagster-daemon``.

What the UI's "Materialize → Launch backfill" does, from Python: the faturamento assets over
(start..end × empreendimentos) registered as ONE asset backfill; the daemon's backfill loop
splits it into runs by the assets' backfill policy (DESIGN §7: one run per empreendimento and up
to 400 dates) and the run queue applies the per-empreendimento limit. Orchestration only: no
business logic here.

    instance = DagsterInstance.get()
    backfill_id = submit_asset_backfill(instance, empreendimentos=["empresa-1"], start=d0, end=d1)
    with DaemonProcess():            # unless daemon_is_running(instance), e.g. under `make dev`
        outcome = wait_for_backfill(instance, backfill_id, timeout_seconds=3600)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from sync_pipeline.dagster_home import prepare_dagster_home
from sync_pipeline.dagster_private import add_asset_backfill, backfill_is_terminal
from sync_pipeline.jobs import sync_job
from sync_pipeline.partitions import EMPREENDIMENTO, SyncPartition, date_partitions, date_range
from sync_pipeline.processes import group_members, stop_group, stop_pid
from sync_pipeline.settings import normalize_pg_url

REPO_ROOT = Path(__file__).resolve().parent.parent

# The backfill daemon iterates every 30 s and the daemons heartbeat every 30 s (Dagster defaults).
HEARTBEAT_MAX_AGE_SECONDS = 75.0
STOP_TIMEOUT_SECONDS = 30.0

_DONE_RUN_STATUSES = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
_FAILED_RUN_STATUSES = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
_UNSAFE_KEY_CHARS = set("|,[]")


# --- submitting ----------------------------------------------------------------------------------


def synced_asset_keys() -> list:
    """The assets a backfill targets: the same selection as ``sync_job``."""
    from sync_pipeline.definitions import defs

    return sorted(sync_job.selection.resolve(defs.resolve_asset_graph()))


def _check_range(empreendimentos: list[str], start: date, end: date) -> None:
    if not empreendimentos:
        raise ValueError("a backfill needs at least one empreendimento")
    bad = [e for e in empreendimentos if not e or _UNSAFE_KEY_CHARS & set(e)]
    if bad:
        raise ValueError(f"invalid empreendimento key(s) {bad}: keys cannot be empty or hold | , [ ]")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    first = date.fromisoformat(date_partitions.get_first_partition_key())
    last = date.fromisoformat(date_partitions.get_last_partition_key())
    if start < first or end > last:
        raise ValueError(f"dates {start}..{end} fall outside the date partitions {first}..{last}")


def submit_asset_backfill(
    instance: DagsterInstance,
    *,
    empreendimentos: list[str],
    start: date,
    end: date,
    title: str | None = None,
    tags: Mapping[str, str] | None = None,
    partition_keys: list[str] | None = None,
) -> str:
    """Register ONE asset backfill of the faturamento assets over (start..end × empreendimentos).

    The same ``PartitionBackfill`` the UI's launchPartitionBackfill mutation stores for an asset
    selection and a list of partitions; the daemon does the rest. Missing empreendimento
    partitions are added first. Returns the backfill id.
    """
    from sync_pipeline.definitions import defs

    empreendimentos = sorted(set(empreendimentos))
    _check_range(empreendimentos, start, end)
    known = set(instance.get_dynamic_partitions(EMPREENDIMENTO))
    missing = [e for e in empreendimentos if e not in known]
    if missing:
        instance.add_dynamic_partitions(EMPREENDIMENTO, missing)

    every = [SyncPartition(emp, day).key for emp in empreendimentos for day in date_range(start, end)]
    if partition_keys is None:
        partition_keys = every
    else:
        outside = sorted(set(partition_keys) - set(every))
        if outside:
            raise ValueError(f"partition keys outside {start}..{end} × {', '.join(empreendimentos)}: {outside[:5]}")
        partition_keys = [k for k in every if k in set(partition_keys)]
    return add_asset_backfill(
        instance,
        asset_graph=defs.resolve_asset_graph(),
        asset_selection=synced_asset_keys(),
        partition_keys=partition_keys,
        title=title,
        description=f"faturamento {start}..{end} × {', '.join(empreendimentos)} ({len(partition_keys)} partitions)",
        tags=dict(tags or {}),
    )


# --- the daemon ----------------------------------------------------------------------------------


def daemon_is_running(instance: DagsterInstance, *, max_age_seconds: float = HEARTBEAT_MAX_AGE_SECONDS) -> bool:
    """True when every daemon this instance needs (backfill, sensors, run queue...) heartbeat recently.

    Heartbeats come every 30 s; a daemon stopped less than ``max_age_seconds`` ago still looks
    alive, so a caller that reuses one keeps checking while it waits (``wait_for_backfill``'s
    ``check``).
    """
    heartbeats = instance.get_daemon_heartbeats()
    required = instance.get_required_daemon_types()
    if not required:
        return False
    now = time.time()
    return all(t in heartbeats and now - heartbeats[t].timestamp <= max_age_seconds for t in required)


# A child can inherit SIGINT/SIGTERM as ignored (background jobs of a non-interactive shell), and
# Dagster maps SIGTERM onto SIGINT's handler, so both must be at their defaults. This little Python
# resets them and execs the command (same pid). Not Popen's preexec_fn: it runs Python between fork
# and exec, which can deadlock a process with threads (seen here: a test process hung for good in
# fork while starting the daemon).
_DEFAULT_SIGNALS_THEN_EXEC = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):  # the last two: Python's own\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def with_default_signals(argv: list[str]) -> list[str]:
    """``argv`` (its first item an absolute path) run with SIGINT and SIGTERM at their defaults."""
    return [sys.executable, "-c", _DEFAULT_SIGNALS_THEN_EXEC, *argv]


def _daemon_executable() -> str:
    beside = Path(sys.executable).parent / "dagster-daemon"
    if beside.exists():
        return str(beside)
    found = shutil.which("dagster-daemon")
    if not found:
        raise RuntimeError("dagster-daemon is not installed in this environment (pip install dagster)")
    return found


class DaemonProcess:
    """``dagster-daemon run -w <workspace>`` as a child process, stopped on exit.

    It runs in its own session (its process group holds its code server and the run workers it
    launches) with SIGINT/SIGTERM at their defaults. Exit: SIGTERM, wait, SIGKILL; then whatever
    is left in its process group, TERM then KILL, by group id. Output goes to ``log_path``.
    """

    def __init__(
        self,
        workspace: str | Path = "workspace.yaml",
        env: Mapping[str, str] | None = None,
        *,
        cwd: str | Path = REPO_ROOT,
        log_path: str | Path | None = None,
        stop_timeout_seconds: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self.workspace = str(workspace)
        self.env = dict(os.environ if env is None else env)
        if self.env.get("DAGSTER_PG_URL"):  # SQLAlchemy 2.1 needs the psycopg2 form (DESIGN §8)
            self.env["DAGSTER_PG_URL"] = normalize_pg_url(self.env["DAGSTER_PG_URL"])
        self.cwd = Path(cwd)
        home = self.env.get("DAGSTER_HOME")
        self.log_path = Path(log_path) if log_path else Path(home or self.cwd) / "logs" / "dagster-daemon.log"
        self.stop_timeout_seconds = stop_timeout_seconds
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> DaemonProcess:
        if self.proc is not None:
            raise RuntimeError("this DaemonProcess was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                with_default_signals([_daemon_executable(), "run", "-w", self.workspace]),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def is_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Raise with the log's tail when the daemon exited on its own."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"dagster-daemon (pid {self.proc.pid}) exited with status {self.proc.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def leftover_pids(self) -> list[int]:
        """Processes still alive in the daemon's process group (empty once stopped)."""
        return group_members(self.proc.pid) if self.proc is not None else []

    def stop(self) -> None:
        """Stop the daemon by its pid, then the rest of its process group; never by name."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:  # not reaped yet, so its pid cannot belong to another process
            stop_pid(proc.pid, ((signal.SIGTERM, self.stop_timeout_seconds), (signal.SIGKILL, 10.0)))
            proc.wait(timeout=10)
        pgid = proc.pid  # start_new_session: the group id is the daemon's pid
        left = stop_group(pgid)
        if left:
            raise RuntimeError(f"processes of dagster-daemon's group {pgid} survived SIGKILL: {left}")

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


# --- waiting -------------------------------------------------------------------------------------


@dataclass
class BackfillOutcome:
    backfill_id: str
    status: str  # BulkActionStatus value, e.g. COMPLETED_SUCCESS
    run_ids: list[str] = field(default_factory=list)
    failed: int = 0
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status == "COMPLETED_SUCCESS" and not self.failed and not self.timed_out


ProgressFn = Callable[[int, int, int, str], None]


def wait_for_backfill(
    instance: DagsterInstance,
    backfill_id: str,
    *,
    timeout_seconds: float,
    on_progress: ProgressFn | None = None,
    poll_seconds: float = 1.0,
    check: Callable[[], None] | None = None,
) -> BackfillOutcome:
    """Poll the backfill and its runs until the backfill reaches a terminal status or time runs out.

    ``on_progress(done_runs, total_runs_so_far, failed_runs, status)`` is called whenever one of
    them changes. ``check`` is called on every poll and may raise (e.g. the daemon died).
    """
    started = time.monotonic()
    last_seen: tuple | None = None
    while True:
        backfill = instance.get_backfill(backfill_id)
        if backfill is None:
            raise LookupError(f"no backfill {backfill_id!r} in this Dagster instance")
        runs = instance.get_runs(filters=RunsFilter.for_backfill(backfill_id))
        run_ids = sorted(r.run_id for r in runs)
        done = sum(r.status in _DONE_RUN_STATUSES for r in runs)
        failed = sum(r.status in _FAILED_RUN_STATUSES for r in runs)
        status = backfill.status.value
        if (done, len(runs), failed, status) != last_seen:
            last_seen = (done, len(runs), failed, status)
            if on_progress is not None:
                on_progress(done, len(runs), failed, status)
        elapsed = time.monotonic() - started
        terminal = backfill_is_terminal(backfill) and done == len(runs)
        if terminal or elapsed >= timeout_seconds:
            return BackfillOutcome(
                backfill_id=backfill_id,
                status=status,
                run_ids=run_ids,
                failed=failed,
                seconds=round(elapsed, 1),
                timed_out=not terminal,
            )
        if check is not None:
            check()
        time.sleep(poll_seconds)


# --- the command line's backfill -----------------------------------------------------------------


def run_backfill_through_daemon(
    *,
    empreendimentos: list[str],
    start: date,
    end: date,
    timeout_seconds: float = 3600,
    echo: Callable[[str], None] = print,
    partition_keys: list[str] | None = None,
) -> dict:
    """`sync-pipeline backfill`: ONE asset backfill, run by a daemon (ours unless one already runs).

    Prepares DAGSTER_HOME and Dagster's storage schema, submits the backfill, starts a
    ``DaemonProcess`` unless the instance's daemons heartbeat (e.g. `make dev`), waits with one
    progress line per change and prints the outcome. A daemon it started is stopped on return.
    """
    home = prepare_dagster_home()
    started = time.monotonic()
    partitions = (
        len(partition_keys) if partition_keys is not None else len(set(empreendimentos)) * ((end - start).days + 1)
    )
    with contextlib.ExitStack() as stack:
        instance = stack.enter_context(DagsterInstance.get())
        backfill_id = submit_asset_backfill(
            instance,
            empreendimentos=empreendimentos,
            start=start,
            end=end,
            title=f"sync-pipeline backfill {start}..{end}",
            tags={"sync/trigger": "cli-backfill"},
            partition_keys=partition_keys,
        )
        echo(f"backfill {backfill_id}: {partitions} partitions submitted to the Dagster instance ({home})")
        daemon: DaemonProcess | None = None

        def start_daemon() -> DaemonProcess:
            # Runs after the daemon stopped (LIFO): its last heartbeats would make the next
            # caller think a daemon still runs for up to HEARTBEAT_MAX_AGE_SECONDS.
            stack.callback(instance.wipe_daemon_heartbeats)
            started_daemon = stack.enter_context(DaemonProcess())
            echo(f"started dagster-daemon (pid {started_daemon.pid}; log {started_daemon.log_path})")
            return started_daemon

        if daemon_is_running(instance):
            echo("using the dagster-daemon already running for this instance")
        else:
            daemon = start_daemon()

        def check() -> None:
            nonlocal daemon
            if daemon is not None:
                daemon.check_alive()
            elif not daemon_is_running(instance):  # the daemon we relied on went away
                echo("the running dagster-daemon stopped heartbeating")
                daemon = start_daemon()

        def progress(done: int, total: int, failed: int, status: str) -> None:
            echo(
                f"  [{time.monotonic() - started:6.1f}s] {status}: {done}/{total} runs finished"
                + (f", {failed} failed" if failed else "")
            )

        outcome = wait_for_backfill(
            instance, backfill_id, timeout_seconds=timeout_seconds, on_progress=progress, check=check
        )
        if outcome.timed_out:
            echo(f"backfill {backfill_id}: not finished after {timeout_seconds:.0f}s (status {outcome.status})")
        for run_id in outcome.run_ids:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.status in _FAILED_RUN_STATUSES:
                echo(f"  run {run_id[:8]} {run.status.value}: {_run_range(run.tags)}")
    seconds = round(time.monotonic() - started, 1)
    echo(
        f"backfill {backfill_id} {outcome.status}: {partitions} partitions in {len(outcome.run_ids)} runs, "
        f"{outcome.failed} failed, {seconds:.1f}s"
    )
    return {
        "backfill_id": backfill_id,
        "runs": len(outcome.run_ids),
        "failed": outcome.failed,
        "partitions": partitions,
        "seconds": seconds,
        "status": "TIMED_OUT" if outcome.timed_out else outcome.status,
    }


def _run_range(tags: Mapping[str, str]) -> str:
    first = tags.get("dagster/asset_partition_range_start")
    last = tags.get("dagster/asset_partition_range_end")
    return f"{first} .. {last}" if first else tags.get("dagster/partition", "")
