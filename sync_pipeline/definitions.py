"""The one Definitions object: it only assembles what the other modules define."""

from dagster import Definitions

from sync_pipeline.assets.carteira import carteira_principal, carteira_saldo, odoo_pedido_linha
from sync_pipeline.assets.faturamento import faturamento_produto, odoo_fatura_linha
from sync_pipeline.checks import (
    no_ambiguous_order_numbers,
    no_critical_alerts,
    no_rejected_invoice_lines,
    relatorio_matches_lines,
)
from sync_pipeline.jobs import sync_job
from sync_pipeline.resources.config import build_resources
from sync_pipeline.sensors import empreendimento_sensor, invoice_sensor, order_sensor, reconciliation_sensor

defs = Definitions(
    assets=[odoo_fatura_linha, faturamento_produto, odoo_pedido_linha, carteira_principal, carteira_saldo],
    asset_checks=[no_rejected_invoice_lines, relatorio_matches_lines, no_critical_alerts, no_ambiguous_order_numbers],
    jobs=[sync_job],
    sensors=[empreendimento_sensor, invoice_sensor, order_sensor, reconciliation_sensor],
    resources=build_resources(),
)
