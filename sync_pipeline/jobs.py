"""Jobs the sensors and the command line run."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from sync_pipeline.assets.faturamento import EXTRACT_KEY, FATURAMENTO_KEY, RELATORIO_KEY

faturamento_job = define_asset_job(
    "faturamento_job",
    selection=AssetSelection.assets(EXTRACT_KEY, FATURAMENTO_KEY, RELATORIO_KEY),
    description="Odoo invoice lines → faturamento_produto / relatorio_faturamento_importado.",
)
