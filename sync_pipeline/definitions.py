"""The one Definitions object: it only assembles what the other modules define."""

from dagster import Definitions

from sync_pipeline.assets.faturamento import faturamento_produto, odoo_fatura_linha
from sync_pipeline.checks import no_rejected_invoice_lines, relatorio_matches_lines
from sync_pipeline.jobs import faturamento_job
from sync_pipeline.resources.config import build_resources
from sync_pipeline.sensors import empreendimento_sensor, invoice_sensor

defs = Definitions(
    assets=[odoo_fatura_linha, faturamento_produto],
    asset_checks=[no_rejected_invoice_lines, relatorio_matches_lines],
    jobs=[faturamento_job],
    sensors=[empreendimento_sensor, invoice_sensor],
    resources=build_resources(),
)
