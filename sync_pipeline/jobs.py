"""Jobs the sensors and the command line run."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

# Every table the sync writes (not the operational app's own, group "operacional"): a partition
# touched by an invoice or an order is synced whole, in dependency order (invoices before the
# carteira whose saldos they lower).
SYNCED = AssetSelection.groups("faturamento", "carteira")

sync_job = define_asset_job(
    "sync_job",
    selection=SYNCED,
    description="One partition (empreendimento × date) of every table: faturamento, then carteira.",
)
