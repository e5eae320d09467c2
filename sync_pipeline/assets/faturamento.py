"""The faturamento graph (DESIGN §5.1): Odoo invoice lines → faturamento_produto, with
relatorio_faturamento_importado and cadastro_palletizacao written in the same transaction (one
multi-asset).

Both steps take many partitions per run (a multi-run backfill policy) and work through them in
chunks of one empreendimento and up to ``CHUNK_DAYS`` dates: one Odoo extraction per chunk, then
one database transaction per chunk (set-based across its partitions; a chunk with nothing in it
is skipped), and a materialization (with its own metadata) for every partition they were given.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    asset,
    multi_asset,
)

from sync_pipeline.assets.common import (
    BACKFILL_POLICY,
    Extracted,
    pick,
    run_extract,
    run_transform,
)
from sync_pipeline.assets.operational import EMBARQUE_KEY, MOVIMENTACAO_KEY, SEPARACAO_KEY
from sync_pipeline.db.faturamento import COUNTS as FATURAMENTO_COUNTS
from sync_pipeline.db.faturamento import apply_partitions, has_rows
from sync_pipeline.db.schema import faturamento_produto as faturamento_produto_table
from sync_pipeline.db.schema import odoo_fatura_linha as odoo_fatura_linha_table
from sync_pipeline.db.schema import relatorio_faturamento_importado as relatorio_table
from sync_pipeline.odoo.faturamento import extract_invoices
from sync_pipeline.partitions import company_id_for, partition_day, sync_partitions
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

EXTRACT_KEY = AssetKey("odoo_fatura_linha")
FATURAMENTO_KEY = AssetKey("faturamento_produto")
RELATORIO_KEY = AssetKey("relatorio_faturamento_importado")
CADASTRO_KEY = AssetKey("cadastro_palletizacao")


def extract_faturamento(client, emp: str, first, last, ids=None) -> Extracted:
    """What ``odoo_fatura_linha`` reads of one empreendimento, dates [first, last] or documents ``ids``."""
    found = extract_invoices(
        client,
        empreendimento=emp,
        company_id=company_id_for(emp),
        first=first,
        last=last,
        partition_day_of=partition_day,
        ids=ids,
    )
    summary = f"{len(found.documents)} invoices, {found.lines} lines"
    return Extracted(found.staged.rows_by_day, found.staged.rejects, summary, found.documents)


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

    return run_extract(
        context,
        odoo,
        postgres,
        table=odoo_fatura_linha_table,
        document_column="odoo_move_id",
        extract=extract_faturamento,
    )


@multi_asset(
    name="faturamento",
    specs=[
        AssetSpec(
            FATURAMENTO_KEY,
            deps=[EXTRACT_KEY, MOVIMENTACAO_KEY, EMBARQUE_KEY, SEPARACAO_KEY],
            group_name="faturamento",
            kinds={"postgres"},
            description=(
                "Invoiced products: one row per NF, product and order (`origem`), key (empreendimento, "
                "numero_nf, cod_produto, origem), also unique per (odoo_move_id, cod_produto, origem). "
                "Status Provisório/Lançado/Cancelado; a credit note's rows are negative. In the same "
                "transaction: a cancelled NF cascades to movimentacao_estoque, embarque_itens and "
                "separacao; a posted NF invoices its order's open separação lot."
            ),
        ),
        AssetSpec(
            RELATORIO_KEY,
            deps=[FATURAMENTO_KEY],
            group_name="faturamento",
            kinds={"postgres"},
            description=(
                "One row per NF (key empreendimento, numero_nf): valor_total = Σ valor, peso_bruto = Σ peso "
                "of its faturamento_produto rows; `origem` lists its orders."
            ),
        ),
        AssetSpec(
            CADASTRO_KEY,
            deps=[EXTRACT_KEY],
            group_name="faturamento",
            kinds={"postgres"},
            description="Products first seen on an invoice line, created in one batch (never overwritten).",
        ),
    ],
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    can_subset=False,
)
def faturamento(context: AssetExecutionContext, postgres: PostgresResource):
    """The faturamento of each partition (empreendimento × invoice date): three tables, in one
    transaction per chunk of partitions, with a constant number of set-based statements whatever
    the number of partitions and lines (DESIGN §5.1)."""
    return run_transform(
        context,
        postgres,
        lambda conn, scope, _keys: apply_partitions(conn, scope),
        active=has_rows,
        counts=FATURAMENTO_COUNTS,
        by_asset=_faturamento_metadata,
        analyze=(faturamento_produto_table, relatorio_table),
    )


def _faturamento_metadata(counts: dict) -> dict:
    return {
        FATURAMENTO_KEY: pick(
            counts,
            "numbers_taken_over",
            "rows_of_taken_numbers",
            "movimentacao_cancelled",
            "embarque_cleared",
            "separacao_released",
            "separacao_invoiced",
            "movimentacao_written",
            rows_inserted="inserted",
            rows_updated="updated",
            rows_cancelled="cancelled",
            rows_deleted="deleted",
        )
        | {"odoo_calls": 0},
        RELATORIO_KEY: pick(counts, rows_upserted="relatorio_upserted", rows_deleted="relatorio_deleted"),
        CADASTRO_KEY: pick(counts, products_created="products_created"),
    }
