"""The faturamento graph (DESIGN §5.1): Odoo invoice lines → faturamento tables.

Both assets take many partitions per run (a multi-run backfill policy) and work through them in
chunks of one empreendimento and up to ``CHUNK_DAYS`` dates: one Odoo extraction per chunk, then
one database transaction per partition, and a materialization (with its own metadata) for every
partition they were given.
"""

import time
from collections import defaultdict

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    asset,
    multi_asset,
)

from sync_pipeline.assets.common import ensure_schema_once, partitions_of
from sync_pipeline.db.faturamento import Scope, apply_partition, stage_partition
from sync_pipeline.odoo.faturamento import extract_invoices
from sync_pipeline.partitions import (
    SyncPartition,
    chunk_partitions,
    company_id_for,
    partition_day,
    sync_partitions,
)
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

CHUNK_DAYS = 31
MAX_PARTITIONS_PER_RUN = 400  # about a year of one empreendimento per run (DESIGN §7)
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)

EXTRACT_KEY = AssetKey("odoo_fatura_linha")
FATURAMENTO_KEY = AssetKey("faturamento_produto")
RELATORIO_KEY = AssetKey("relatorio_faturamento_importado")


def _scope(p: SyncPartition) -> Scope:
    return Scope(empreendimento=p.empreendimento, day=p.day, first=p.is_first)


@asset(
    key=EXTRACT_KEY,
    group_name="faturamento",
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"odoo", "postgres"},
)
def odoo_fatura_linha(
    context: AssetExecutionContext, odoo: OdooResource, postgres: PostgresResource
) -> MaterializeResult:
    """Customer-invoice product lines as read from Odoo, one row per `account.move.line`.

    Key: `odoo_line_id`. Partition: the empreendimento (Odoo company) and the invoice date (a
    draft's accounting date; documents older than SYNC_START_DATE belong to the first date).
    Lines that break a rule (no product, negative quantity, another company, malformed date) are
    set aside in `sync_rejeitado` with the rule, and the rest of the partition commits.
    """
    ensure_schema_once(postgres, context.log)
    partitions = partitions_of(context)
    run_id = context.run.run_id
    totals: dict[str, int] = defaultdict(int)
    client = odoo.get_client(logger=context.log)  # one per run: fields_get is asked once
    for chunk in chunk_partitions(partitions, CHUNK_DAYS):
        started = time.perf_counter()
        calls_before = client.stats.total
        emp = chunk[0].empreendimento
        first = None if chunk[0].is_first else chunk[0].day
        extracted = extract_invoices(
            client,
            empreendimento=emp,
            company_id=company_id_for(emp),
            first=first,
            last=chunk[-1].day,
            partition_day_of=partition_day,
        )
        calls = client.stats.total - calls_before
        extract_seconds = time.perf_counter() - started
        context.log.info(
            f"{emp} {chunk[0].day}..{chunk[-1].day}: read {extracted.moves} invoices, "
            f"{extracted.lines} lines in {calls} Odoo calls ({extract_seconds:.2f}s); "
            f"{len(extracted.staged.rejects)} set aside"
        )
        rejects_by_day = defaultdict(list)
        for r in extracted.staged.rejects:
            rejects_by_day[r.partition_day].append(r)
        for p in chunk:
            rows = extracted.staged.rows_by_day.get(p.day, [])
            rejects = rejects_by_day.get(p.day, [])
            t0 = time.perf_counter()
            unit = postgres.unit_of_work(
                lambda conn, p=p, rows=rows, rejects=rejects: stage_partition(
                    conn,
                    _scope(p),
                    rows,
                    rejects,
                    asset=EXTRACT_KEY.to_user_string(),
                    partition_key=p.key,
                    run_id=run_id,
                ),
                name=f"odoo_fatura_linha {p.key}",
                logger=context.log,
                lock=f"empreendimento:{p.empreendimento}",
            )
            counts = unit.value
            for k, v in counts.items():
                totals[k] += v
            context.add_asset_metadata(
                {
                    "lines": len(rows),
                    "rows_inserted": counts["inserted"],
                    "rows_updated": counts["updated"],
                    "rows_deleted": counts["deleted"],
                    "rejects": counts["rejects"],
                    "sql_statements": unit.statements,
                    "db_attempts": unit.attempts,
                    "odoo_calls_chunk": calls,
                    "chunk_partitions": len(chunk),
                    "seconds": round(time.perf_counter() - t0 + extract_seconds / len(chunk), 3),
                },
                partition_key=p.key,
            )
    context.log.info(
        f"odoo_fatura_linha: {len(partitions)} partitions, " + ", ".join(f"{k}={v}" for k, v in sorted(totals.items()))
    )
    return MaterializeResult()


@multi_asset(
    specs=[
        AssetSpec(
            FATURAMENTO_KEY,
            deps=[EXTRACT_KEY],
            group_name="faturamento",
            kinds={"postgres"},
            description=(
                "Invoiced products: one row per (numero_nf, cod_produto), also unique per "
                "(odoo_move_id, cod_produto). Partition: empreendimento × invoice date. "
                "Status Provisório/Lançado/Cancelado; a cancelled NF cascades to "
                "movimentacao_estoque, embarque_itens and separacao in the same transaction."
            ),
        ),
        AssetSpec(
            RELATORIO_KEY,
            deps=[FATURAMENTO_KEY],
            group_name="faturamento",
            kinds={"postgres"},
            description=(
                "One row per NF (valor_total = Σ valor, peso_bruto = Σ peso), consolidated for "
                "the NFs of each partition in the same transaction as faturamento_produto."
            ),
        ),
    ],
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    can_subset=False,
)
def faturamento_produto(context: AssetExecutionContext, postgres: PostgresResource):
    """faturamento_produto + relatorio_faturamento_importado + new cadastro_palletizacao rows.

    One transaction per partition, a constant number of set-based statements whatever the
    number of lines. First-seen products are created in one batch in cadastro_palletizacao.
    """
    ensure_schema_once(postgres, context.log)
    partitions = partitions_of(context)
    totals: dict[str, int] = defaultdict(int)
    for p in partitions:
        unit = postgres.unit_of_work(
            lambda conn, p=p: apply_partition(conn, _scope(p)),
            name=f"faturamento_produto {p.key}",
            logger=context.log,
            lock=f"empreendimento:{p.empreendimento}",
        )
        counts = unit.value
        for k, v in counts.items():
            totals[k] += v
        context.add_asset_metadata(
            {
                "rows_inserted": counts["inserted"],
                "rows_updated": counts["updated"],
                "rows_cancelled": counts["cancelled"],
                "rows_deleted": counts["deleted"],
                "products_created": counts["products_created"],
                "movimentacao_cancelled": counts["movimentacao_cancelled"],
                "embarque_cleared": counts["embarque_cleared"],
                "separacao_released": counts["separacao_released"],
                "sql_statements": unit.statements,
                "db_attempts": unit.attempts,
                "odoo_calls": 0,
                "seconds": round(unit.seconds, 3),
            },
            asset_key=FATURAMENTO_KEY,
            partition_key=p.key,
        )
        context.add_asset_metadata(
            {
                "rows_upserted": counts["relatorio_upserted"],
                "rows_deleted": counts["relatorio_deleted"],
            },
            asset_key=RELATORIO_KEY,
            partition_key=p.key,
        )
    context.log.info(
        f"faturamento_produto: {len(partitions)} partitions, "
        + ", ".join(f"{k}={v}" for k, v in sorted(totals.items()))
    )
    yield MaterializeResult(asset_key=FATURAMENTO_KEY)
    yield MaterializeResult(asset_key=RELATORIO_KEY)
