"""The faturamento graph (DESIGN §5.1): Odoo invoice lines → faturamento tables.

Both assets take many partitions per run (a multi-run backfill policy) and work through them in
chunks of one empreendimento and up to ``CHUNK_DAYS`` dates: one Odoo extraction per chunk, then
one database transaction per partition, and a materialization (with its own metadata) for every
partition they were given.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    asset,
)

from sync_pipeline.assets.common import (
    BACKFILL_POLICY,
    Extracted,
    run_extract,
    run_transform,
    scope_of,
)
from sync_pipeline.db.faturamento import apply_partition
from sync_pipeline.db.schema import odoo_fatura_linha as odoo_fatura_linha_table
from sync_pipeline.odoo.faturamento import extract_invoices
from sync_pipeline.partitions import company_id_for, partition_day, sync_partitions
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

EXTRACT_KEY = AssetKey("odoo_fatura_linha")
FATURAMENTO_KEY = AssetKey("faturamento_produto")


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

    def extract(client, emp: str, first, last, ids=None) -> Extracted:
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

    return run_extract(
        context, odoo, postgres, table=odoo_fatura_linha_table, document_column="odoo_move_id", extract=extract
    )


@asset(
    key=FATURAMENTO_KEY,
    deps=[EXTRACT_KEY],
    group_name="faturamento",
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"postgres"},
)
def faturamento_produto(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    """Invoiced products: one row per (numero_nf, cod_produto), also unique per (odoo_move_id,
    cod_produto). Partition: empreendimento × invoice date. Status Provisório/Lançado/Cancelado.

    In the same transaction per partition (a constant number of set-based statements whatever the
    number of lines): first-seen products created in one batch in `cadastro_palletizacao`; a
    cancelled NF cascades to `movimentacao_estoque`, `embarque_itens` and `separacao`; a posted NF
    invoices its order's open separação lot; `relatorio_faturamento_importado` (one row per NF:
    valor_total = Σ valor, peso_bruto = Σ peso) is consolidated for the partition's NFs — its
    counts are in this asset's metadata (`relatorio_*`).
    """
    return run_transform(
        context, postgres, lambda conn, p: apply_partition(conn, scope_of(p)), metadata=_faturamento_metadata
    )


def _faturamento_metadata(counts: dict) -> dict:
    renamed = {
        "inserted": "rows_inserted",
        "updated": "rows_updated",
        "cancelled": "rows_cancelled",
        "deleted": "rows_deleted",
    }
    return {renamed.get(k, k): v for k, v in counts.items()} | {"odoo_calls": 0}
