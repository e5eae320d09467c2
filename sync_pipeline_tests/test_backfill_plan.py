"""`sync-pipeline backfill --force / --skip-recent-hours / --max-months`: which partitions a backfill
runs, decided from Dagster's own records and Odoo's write_date (the real simulator, real PostgreSQL,
a real Dagster instance)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dagster import instance_for_test

from sync_pipeline import cli
from sync_pipeline.backfill import synced_asset_keys
from sync_pipeline.backfill_plan import plan_backfill
from sync_pipeline.db.staging import staged_partitions
from sync_pipeline.partitions import SyncPartition, company_id_for
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import START, empreendimentos, resources, sync_range

DAYS = 4


def _plan(instance, handle, engine, emp, **kw):
    res = resources(handle, engine.url.render_as_string(hide_password=False))
    options = {"force": False, "skip_recent_hours": None} | kw
    return plan_backfill(
        instance,
        synced_asset_keys(),
        empreendimentos=[emp],
        start=START,
        end=START + timedelta(days=DAYS),
        client_factory=lambda: res["odoo"].get_client(),
        staged_partitions_of=lambda model, ids: staged_partitions(engine, model, ids),
        tz="America/Sao_Paulo",
        **options,
    )


def test_synced_partitions_are_left_out_until_odoo_changes_one_and_force_runs_them_all(db, database_url, simulator):
    handle = simulator(seed=5, scale=0.3, days=DAYS, companies=1)
    res = resources(handle, database_url)
    (emp,) = empreendimentos(handle)
    every = [SyncPartition(emp, START + timedelta(days=i)) for i in range(DAYS + 1)]
    with instance_for_test() as instance:
        # Nothing synced yet: everything runs.
        assert _plan(instance, handle, db, emp).partitions == every
        # The first DAYS dates synced; the last one never was.
        assert sync_range(instance, res, emp, START, START + timedelta(days=DAYS - 1)).success
        plan = _plan(instance, handle, db, emp)
        assert plan.partitions == [every[-1]], "a partition never synced always runs"
        assert plan.unchanged == every[:-1]
        assert plan.changed_documents == 0

        # An invoice of the third date changes in Odoo: its partition runs again, the others not.
        company = company_id_for(emp)
        partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
        product = handle.sim.rows("product.product")[0]["id"]
        add_invoice(handle.sim, company, partner, [(product, 2, 10.0, None)], (START + timedelta(days=2)).isoformat())
        plan = _plan(instance, handle, db, emp)
        assert plan.partitions == [every[2], every[-1]]
        assert plan.changed_documents == 1
        assert [p.day for p in plan.unchanged] == [START, START + timedelta(days=1), START + timedelta(days=3)]

        # --force: the whole range.
        assert _plan(instance, handle, db, emp, force=True).partitions == every

        # --skip-recent-hours: the partitions just synced are left out even with --force; the one
        # never synced is not.
        plan = _plan(instance, handle, db, emp, force=True, skip_recent_hours=1)
        assert plan.recent == every[:-1] and plan.partitions == [every[-1]]
        # A cut-off before the sync leaves nothing out as recent.
        later = datetime.now(UTC) + timedelta(hours=2)
        plan = _plan(instance, handle, db, emp, force=True, skip_recent_hours=1, now=later)
        assert plan.recent == [] and plan.partitions == every


def test_max_months_bounds_the_range_and_bad_values_are_refused(capsys):
    assert cli.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert cli.add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)
    parser = cli.build_parser()
    args = parser.parse_args(["backfill", "--start-date", "2025-01-01", "--max-months", "0"])
    try:
        args.func(args)
    except Exception as exc:  # noqa: BLE001 - the CLI's usage error, whatever its class
        assert "--max-months 0" in str(exc)
    else:
        raise AssertionError("--max-months 0 was accepted")
