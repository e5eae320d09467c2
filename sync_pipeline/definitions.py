"""The one Definitions object: it only assembles what the other modules define."""

from dagster import Definitions, in_process_executor

from sync_pipeline.assets.carteira import carteira, carteira_saldo, odoo_pedido_linha
from sync_pipeline.assets.faturamento import faturamento, odoo_fatura_linha
from sync_pipeline.assets.financeiro import financeiro, odoo_financeiro
from sync_pipeline.assets.operational import operational_tables
from sync_pipeline.checks import (
    carteira_matches_odoo,
    no_ambiguous_order_numbers,
    no_critical_alerts,
    no_rejected_invoice_lines,
    relatorio_matches_lines,
)
from sync_pipeline.jobs import sync_job
from sync_pipeline.resources.config import build_resources
from sync_pipeline.schedules import financeiro_daily
from sync_pipeline.sensors import (
    empreendimento_sensor,
    financeiro_sensor,
    invoice_sensor,
    order_sensor,
    reconciliation_sensor,
)

ASSETS = [
    *operational_tables,
    odoo_fatura_linha,
    faturamento,
    odoo_pedido_linha,
    carteira,
    carteira_saldo,
    odoo_financeiro,
    financeiro,
]
ASSET_CHECKS = [
    no_rejected_invoice_lines,
    relatorio_matches_lines,
    no_critical_alerts,
    no_ambiguous_order_numbers,
    carteira_matches_odoo,
]

defs = Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[sync_job],
    sensors=[empreendimento_sensor, invoice_sensor, financeiro_sensor, order_sensor, reconciliation_sensor],
    schedules=[financeiro_daily],
    resources=build_resources(),
    # Backfills launched from the UI or `sync-pipeline backfill` run the assets' own job, not
    # sync_job: the same executor for them (see jobs.py).
    executor=in_process_executor,
)
