"""Days passing (docs/financeiro.md): an open instalment becomes overdue and today's figures move
with nothing changing in Odoo — the financeiro step's status statement, the last partition always
running, and the `financeiro_daily` schedule (real PostgreSQL, a real Dagster instance)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from dagster import RunRequest, build_schedule_context, instance_for_test
from sqlalchemy import text

from sync_pipeline.db.financeiro import apply_partitions, has_rows
from sync_pipeline.db.staging import Scope
from sync_pipeline.partitions import SyncPartition, last_day
from sync_pipeline.schedules import financeiro_daily
from sync_pipeline.settings import SettingsError
from sync_pipeline_tests.support import table_rows

EMP = "empresa-7"


def _parcela(conn, line_id: int, due: str, status: str, residual: str) -> None:
    conn.execute(
        text(
            "INSERT INTO parcelas (odoo_line_id, empreendimento, partition_date, odoo_move_id, numero_nf, "
            "numero_parcela, data_vencimento, valor_original, valor_pago, valor_residual, status) "
            "VALUES (:id, :emp, '2025-01-05', 1, 'NF1', :id, :due, 100, 100 - :res, :res, :status)"
        ),
        {"id": line_id, "emp": EMP, "due": due, "status": status, "res": Decimal(residual)},
    )


def test_open_instalments_past_due_become_overdue_in_a_run_of_another_partition(db):
    with db.begin() as conn:
        _parcela(conn, 1, "2025-03-10", "ABERTA", "100")  # due yesterday: overdue now
        _parcela(conn, 2, "2025-03-10", "PARCIAL", "40")  # partly paid, due yesterday: overdue now
        _parcela(conn, 3, "2025-03-11", "ABERTA", "100")  # due today: not overdue
        _parcela(conn, 4, "2025-03-01", "PAGA", "0")  # paid: stays paid
        today = Scope.single(EMP, date(2025, 3, 11), first=False, last=True)
        assert has_rows(conn, today), "the last partition runs even with nothing staged"
        assert not has_rows(conn, Scope.single(EMP, date(2025, 3, 9), first=False)), "an empty older one does not"
        counts = apply_partitions(conn, today, today=date(2025, 3, 11), rate=Decimal("0.10"))
    assert counts[date(2025, 3, 11)]["parcelas_now_overdue"] == 2
    rows = table_rows(db, "SELECT odoo_line_id, status FROM parcelas ORDER BY odoo_line_id")
    assert [r["status"] for r in rows] == ["VENCIDA", "VENCIDA", "ABERTA", "PAGA"]


def _tick(instance):
    from sync_pipeline.definitions import defs

    with build_schedule_context(
        instance=instance, scheduled_execution_time=datetime.now(), repository_def=defs.get_repository_def()
    ) as context:
        return financeiro_daily.evaluate_tick(context)


def test_the_daily_schedule_runs_today_for_every_empreendimento():
    with instance_for_test() as instance:
        assert "no empreendimento yet" in (_tick(instance).skip_message or "")
        instance.add_dynamic_partitions("empreendimento", ["empresa-2", "empresa-1"])
        requests = _tick(instance).run_requests
    assert all(isinstance(r, RunRequest) for r in requests)
    today = last_day()
    assert [r.partition_key for r in requests] == [SyncPartition(e, today).key for e in ("empresa-1", "empresa-2")]
    assert len({r.run_key for r in requests}) == 2 and all(today.isoformat() in r.run_key for r in requests)


def test_the_schedule_starts_with_the_daemon_unless_switched_off(monkeypatch):
    from dagster import DefaultScheduleStatus

    from sync_pipeline import schedules

    assert financeiro_daily.default_status == DefaultScheduleStatus.STOPPED  # the suite sets off
    monkeypatch.delenv("SYNC_FINANCEIRO_DAILY")
    assert schedules.default_status() == DefaultScheduleStatus.RUNNING
    monkeypatch.setenv("SYNC_FINANCEIRO_DAILY", "maybe")
    with pytest.raises(SettingsError, match="SYNC_FINANCEIRO_DAILY"):
        schedules.default_status()
