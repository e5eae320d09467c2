"""sync_pipeline: Odoo → PostgreSQL on Dagster (README.md, DESIGN in ../shared)."""

import os

# Dagster writes an ASSET_MATERIALIZATION_PLANNED and an ASSET_MATERIALIZATION event per asset and
# partition, one connection and commit each unless batching is on: a run over a year of partitions
# spent most of its time there (issue 8). Every process that writes events imports this package
# (run workers and code servers load the definitions; the daemon and the webserver load the run
# queue and launcher from dagster.yaml; the CLI), so the default is set here; an explicit
# DAGSTER_EVENT_BATCH_SIZE wins.
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")

# When Dagster creates a run over a range of partitions (a backfill's run: up to a year of one
# empreendimento), it writes an ASSET_MATERIALIZATION_PLANNED event per asset and partition, one by
# one and before the run's worker starts: 6,800 events, 73-80 s, for 400 partitions of our 17 assets
# (benchmarks/backfill_scale.py, end to end 148.6 s). With this, one event per asset names the
# range (17 events, 58.4 s end to end). The price, in Dagster's words: the partitions of a range run
# that fails are not marked failed in the partition bar (they show as missing; the run and the
# backfill still show failed, and run retries relaunch it). An explicit value wins.
os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
