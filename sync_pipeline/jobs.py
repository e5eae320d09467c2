"""Jobs the sensors and the command line run."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job, in_process_executor

# Every table the sync writes (not the operational app's own, group "operacional"): a partition
# touched by an invoice or an order is synced whole, in dependency order (invoices before the
# carteira whose saldos they lower); the financeiro of the partition's receivables and payables.
SYNCED = AssetSelection.groups("faturamento", "carteira", "financeiro")

# Steps run one after the other in the run worker's own process: Dagster's default executor starts
# a process per step (code loaded again, ~2-3 s each on 2 cores), which made a one-partition sensor
# run cost far more than its SQL. The graph is a chain (extract, then transform), each step one
# transaction per chunk, so nothing is lost by not running steps in parallel; a dead worker fails
# the run and run retries launch it again (dagster.yaml).
sync_job = define_asset_job(
    "sync_job",
    selection=SYNCED,
    executor_def=in_process_executor,
    description=("One partition (empreendimento × date) of every table: faturamento, then carteira; financeiro."),
)
