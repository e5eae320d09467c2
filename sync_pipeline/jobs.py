"""Jobs the sensors and the command line run."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from sync_pipeline.assets.carteira import CARTEIRA_KEY, ORDERS_KEY, SALDO_KEY
from sync_pipeline.assets.faturamento import EXTRACT_KEY, FATURAMENTO_KEY

# Every partitioned asset: a partition touched by an invoice or an order is synced whole, in
# dependency order (invoices before the carteira whose saldos they lower).
sync_job = define_asset_job(
    "sync_job",
    selection=AssetSelection.assets(EXTRACT_KEY, FATURAMENTO_KEY, ORDERS_KEY, CARTEIRA_KEY, SALDO_KEY),
    description="One partition (empreendimento × date) of every table: faturamento, then carteira.",
)
