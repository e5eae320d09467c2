"""Schedules: what the passing of days changes with nothing changing in Odoo."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from sync_pipeline import settings
from sync_pipeline.jobs import sync_job
from sync_pipeline.partitions import EMPREENDIMENTO, SyncPartition, last_day


def default_status() -> DefaultScheduleStatus:
    """Running with the daemon unless SYNC_FINANCEIRO_DAILY=off."""
    return DefaultScheduleStatus.RUNNING if settings.financeiro_daily_running() else DefaultScheduleStatus.STOPPED


@schedule(
    name="financeiro_daily",
    job=sync_job,
    cron_schedule="30 0 * * *",
    execution_timezone=settings.timezone_name(),
    default_status=default_status(),
    description=(
        "Every day at 00:30, today's partition of every empreendimento: an open instalment becomes overdue "
        "and the current month's portfolio and delinquency move to the new day although nothing changed in "
        "Odoo (docs/financeiro.md, Days passing). Any other change is the sensors' job."
    ),
)
def financeiro_daily(context: ScheduleEvaluationContext):
    empreendimentos = sorted(context.instance.get_dynamic_partitions(EMPREENDIMENTO))
    if not empreendimentos:
        return SkipReason("no empreendimento yet: empreendimento_sensor adds them from Odoo's companies")
    today = last_day()
    return [
        RunRequest(
            run_key=f"financeiro_daily:{emp}:{today.isoformat()}",
            partition_key=SyncPartition(emp, today).key,
            tags={"sync/trigger": "financeiro_daily"},
        )
        for emp in empreendimentos
    ]
