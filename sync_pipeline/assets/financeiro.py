"""The financeiro graph (DESIGN §5.4, docs/financeiro.md): Odoo receivables and payables →
``parcelas`` (per partition) and the monthly tables finance reads (cash in, cash out, portfolio,
delinquency), one multi-asset writing parcelas in one transaction per chunk and the monthly tables
once per run, after its last chunk.

Everything hangs on the shared daily partitions (empreendimento × date): an instalment belongs to
its invoice's (or bill's) date, an unmatched customer payment to its own. A partition's run
recomputes, set-based for its whole empreendimento, the months its rows touch (old and new), so a
payment made in June on a March invoice — which requests the March partition — rewrites exactly the
June cash row and the portfolio/delinquency months from June on. A run of many chunks recomputes
those months once, from the earliest any chunk touched (``financeiro_pendente`` holds it between
the chunks, and after a run that failed before its end until the next run takes it in). Backfills stay one run per
empreendimento and year (the shared BACKFILL_POLICY).
"""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, asset, multi_asset

from sync_pipeline import settings
from sync_pipeline.assets.common import BACKFILL_POLICY, Extracted, pick, run_extract, run_transform
from sync_pipeline.db.financeiro import COUNTS, apply_months, apply_parcelas, has_rows
from sync_pipeline.db.schema import odoo_financeiro_pagamento, odoo_financeiro_parcela, parcelas
from sync_pipeline.odoo.financeiro import extract_financeiro
from sync_pipeline.partitions import company_id_for, last_day, partition_day, sync_partitions
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

GROUP = "financeiro"
EXTRACT_KEY = AssetKey("odoo_financeiro")
PARCELAS_KEY = AssetKey("parcelas")
ENTRADAS_KEY = AssetKey("entradas_caixa")
SAIDAS_KEY = AssetKey("saidas_caixa")
PORTFOLIO_KEY = AssetKey("estatisticas_portfolio")
INADIMPLENCIA_KEY = AssetKey("inadimplencia")


def extract_financeiro_of(client, emp: str, first, last, ids=None) -> Extracted:
    """What ``odoo_financeiro`` reads of one empreendimento, dates [first, last] or documents ``ids``."""
    found = extract_financeiro(
        client,
        empreendimento=emp,
        company_id=company_id_for(emp),
        first=first,
        last=last,
        partition_day_of=partition_day,
        ids=ids,
    )
    summary = (
        f"{len(found.documents)} documents, {found.instalments} instalments, {found.partials} payments, "
        f"{found.customer_payments} unmatched customer payments"
    )
    return Extracted(
        found.staged.parcelas,
        found.staged.rejects,
        summary,
        found.documents,
        related={odoo_financeiro_pagamento: found.staged.pagamentos},
    )


@asset(
    key=EXTRACT_KEY,
    group_name=GROUP,
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"odoo", "postgres"},
)
def odoo_financeiro(
    context: AssetExecutionContext, odoo: OdooResource, postgres: PostgresResource
) -> MaterializeResult:
    """Receivable instalments of posted and cancelled customer invoices, payable instalments of
    vendor bills and unmatched customer payments (`odoo_financeiro_parcela`, key `odoo_line_id`),
    and the `account.partial.reconcile` rows paying the instalments (`odoo_financeiro_pagamento`,
    key `odoo_partial_id`), both written in one transaction per chunk.

    Partition: the empreendimento and the invoice's (bill's, payment's) date, clamped to the
    partitions that exist. Lines and payments that break a rule (no due date, a residual outside
    0..original, an unknown account type, a cash payment before its invoice, a partial that is not
    positive) are set aside in `sync_rejeitado` with the rule, and the rest commits.
    """

    return run_extract(
        context,
        odoo,
        postgres,
        table=odoo_financeiro_parcela,
        document_column="odoo_move_id",
        extract=extract_financeiro_of,
    )


@multi_asset(
    name="financeiro",
    specs=[
        AssetSpec(
            PARCELAS_KEY,
            deps=[EXTRACT_KEY],
            group_name=GROUP,
            kinds={"postgres"},
            description=(
                "Receivable instalments, one row per instalment line (key odoo_line_id) of the partition's "
                "contracts: number within the contract, due date, original, paid (Σ payments) and last paid "
                "date, Odoo's residual, status ABERTA/PARCIAL/VENCIDA/PAGA/CANCELADA."
            ),
        ),
        AssetSpec(
            ENTRADAS_KEY,
            deps=[EXTRACT_KEY],
            group_name=GROUP,
            kinds={"postgres"},
            description=(
                "Cash in per (empreendimento, ref_month, categoria): previsto (Σ due in the month, ATIVOS row) "
                "and realizado (Σ cash payments) for ATIVOS, ANTECIPACOES, RECUPERACOES and OUTRAS (unmatched "
                "customer payments). Months recomputed for the empreendimento from the earliest a partition touches."
            ),
        ),
        AssetSpec(
            SAIDAS_KEY,
            deps=[EXTRACT_KEY],
            group_name=GROUP,
            kinds={"postgres"},
            description=(
                "Cash out per (empreendimento, ref_month, categoria = the bill's main expense account): orçamento "
                "(Σ payable instalments due) and realizado (Σ cash payments), one bulk upsert."
            ),
        ),
        AssetSpec(
            PORTFOLIO_KEY,
            deps=[EXTRACT_KEY],
            group_name=GROUP,
            kinds={"postgres"},
            description=(
                "Portfolio per (empreendimento, ref_month) as of the month's last day (today for the current "
                "month): present value at SYNC_DISCOUNT_RATE, open balance, total and active contracts, average "
                "remaining term in months, Macaulay duration in years."
            ),
        ),
        AssetSpec(
            INADIMPLENCIA_KEY,
            deps=[EXTRACT_KEY],
            group_name=GROUP,
            kinds={"postgres"},
            description=(
                "Delinquency per (empreendimento, ref_month) as of the month's last day (today for the current "
                "month): overdue open amounts by days overdue (≤30, 31–60, 61–90, 91–180, >180), their total, "
                "overdue instalments and contracts."
            ),
        ),
    ],
    partitions_def=sync_partitions,
    backfill_policy=BACKFILL_POLICY,
    can_subset=False,
)
def financeiro(context: AssetExecutionContext, postgres: PostgresResource):
    """The financeiro of each partition (empreendimento × invoice date): `parcelas` of its
    instalments in one transaction per chunk of partitions, then the months they touch of the four
    monthly tables once per run, in one more transaction, each with a constant number of set-based
    statements (docs/financeiro.md)."""
    today, rate = last_day(), settings.discount_rate()
    return run_transform(
        context,
        postgres,
        lambda conn, scope, _keys: apply_parcelas(conn, scope, today=today, rate=rate),
        active=has_rows,
        finish=lambda conn, emp, days: apply_months(conn, emp, days, today=today, rate=rate),
        counts=COUNTS,
        by_asset=_financeiro_metadata,
        analyze=(parcelas,),
    )


_CASH_IN = ("entradas_previsto", "entradas_realizado") + tuple(
    f"entradas_realizado_{c}" for c in ("ativos", "antecipacoes", "recuperacoes", "outras")
)


def _financeiro_metadata(counts: dict) -> dict:
    def written(name: str) -> dict:
        return pick(
            counts,
            "months_from",
            rows_inserted=f"{name}_inserted",
            rows_updated=f"{name}_updated",
            rows_deleted=f"{name}_deleted",
        )

    return {
        PARCELAS_KEY: pick(
            counts,
            "parcelas_now_overdue",
            rows_inserted="inserted",
            rows_updated="updated",
            rows_deleted="deleted",
        )
        | {"odoo_calls": 0},
        ENTRADAS_KEY: written("entradas_caixa") | pick(counts, "month", *_CASH_IN),
        SAIDAS_KEY: written("saidas_caixa") | pick(counts, "month", "saidas_orcamento", "saidas_realizado"),
        PORTFOLIO_KEY: written("estatisticas_portfolio")
        | pick(counts, "month", "saldo_aberto", "valor_presente", "contratos_ativos"),
        INADIMPLENCIA_KEY: written("inadimplencia") | pick(counts, "month", "valor_vencido", "contratos_inadimplentes"),
    }
