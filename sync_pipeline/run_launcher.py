"""Run monitoring for local run workers (DESIGN §7, issue "Operations").

Dagster's run monitoring can only tell a dead run worker from a live one if the run launcher can
check it; ``DefaultRunLauncher`` (a process per run, started by the code server) cannot, so a run
whose worker was SIGKILLed or OOM-killed stayed STARTED forever — and, with one run per
empreendimento in the queue, blocked that empreendimento's runs for good. This launcher is the
default one plus that check: the code server records each run worker's pid in the run's event log
("Started process for run (pid: N)"), and a worker whose pid is gone on this host is reported
FAILED. Run monitoring then marks the run failed and run retries launch it again
(``dagster.yaml``). Workers run on the daemon's host here; past one machine, the Kubernetes or
Docker launchers check their own workers (docs/deploy.md).
"""

from __future__ import annotations

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher

from sync_pipeline.dagster_private import run_health
from sync_pipeline.processes import pid_alive


def run_worker_pid(instance, run_id: str) -> int | None:
    """The pid of the run's newest worker, as its code server recorded it; None before it did."""
    pid = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        value = data.metadata.get("pid") if data and data.metadata else None
        if value is not None and str(value.value).isdigit():
            pid = int(value.value)
    return pid


class MonitoredRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers run monitoring can check (same host)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun):
        pid = run_worker_pid(self._instance, run.run_id)
        if pid is None:
            return run_health(None, "no run worker pid recorded yet")
        if pid_alive(pid):
            return run_health(True, f"run worker pid {pid} is running")
        return run_health(False, f"run worker pid {pid} is gone (killed or crashed)")
