"""Asset checks: what operators should look at, computed in PostgreSQL (never by loading a
partitioned asset as an input)."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from sync_pipeline.assets.carteira import ALERTA_KEY, CARTEIRA_KEY
from sync_pipeline.assets.faturamento import EXTRACT_KEY, RELATORIO_KEY
from sync_pipeline.db.carteira import critical_alerts_of_run
from sync_pipeline.db.faturamento import relatorio_mismatches
from sync_pipeline.db.rejects import rejects_by_rule, rejects_of_asset
from sync_pipeline.domain.values import RULE_AMBIGUOUS_NUMBER
from sync_pipeline.resources.postgres import PostgresResource


@asset_check(
    asset=EXTRACT_KEY,
    name="no_rejected_invoice_lines",
    description="Warns when invoice lines were set aside (sync_rejeitado) instead of synced.",
    blocking=False,
)
def no_rejected_invoice_lines(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    by_rule, sample = rejects_of_asset(postgres.engine(), EXTRACT_KEY.to_user_string())
    total = sum(by_rule.values())
    return AssetCheckResult(
        passed=total == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rejects": total,
            **{f"rule:{rule}": n for rule, n in sorted(by_rule.items())},
            "latest": "\n".join(f"{m} {i} [{rule}] {msg} ({pk})" for m, i, rule, msg, pk in sample) or "none",
        },
        description=(f"{total} invoice lines set aside; see sync_rejeitado" if total else "no rejects"),
    )


@asset_check(
    asset=RELATORIO_KEY,
    name="relatorio_matches_lines",
    description="Every NF's relatorio_faturamento_importado total equals the sum of its lines.",
    blocking=False,
)
def relatorio_matches_lines(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    mismatches = relatorio_mismatches(postgres.engine())
    return AssetCheckResult(
        passed=not mismatches,
        severity=AssetCheckSeverity.WARN,
        metadata={"mismatches": len(mismatches), "sample": ", ".join(mismatches) or "none"},
    )


@asset_check(
    asset=ALERTA_KEY,
    name="no_critical_alerts",
    description=(
        "Warns when this run touched a COTADO separação or left a negative saldo: the critical "
        "alerts it wrote to alerta_separacao_cotada are listed for a human to act on."
    ),
    blocking=False,
)
def no_critical_alerts(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    alerts = critical_alerts_of_run(postgres.engine(), context.run.run_id)
    listing = "\n".join(
        f"{tipo} {emp} {pedido}/{produto} lote {lote or '-'}: {antes} → {depois}"
        for lote, emp, pedido, produto, tipo, antes, depois in alerts[:50]
    )
    return AssetCheckResult(
        passed=not alerts,
        severity=AssetCheckSeverity.WARN,
        metadata={"critical_alerts": len(alerts), "alerts": listing or "none"},
        description=f"{len(alerts)} critical alerts in this run" if alerts else "no critical alerts",
    )


@asset_check(
    asset=CARTEIRA_KEY,
    name="no_ambiguous_order_numbers",
    description=(
        "Warns when an order number exists in more than one empreendimento (Odoo numbering orders per "
        "company): separação and pré-separação rows carry no empreendimento, so the sync leaves those "
        "orders' decisions unadjusted instead of merging them; each order is in sync_rejeitado."
    ),
    blocking=False,
)
def no_ambiguous_order_numbers(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    rows = rejects_by_rule(postgres.engine(), RULE_AMBIGUOUS_NUMBER)
    listing = "\n".join(f"{r['payload'].get('empreendimento')} {r['payload'].get('num_pedido')}" for r in rows[:50])
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.WARN,
        metadata={"ambiguous_orders": len(rows), "orders": listing or "none"},
        description=f"{len(rows)} orders with a number another empreendimento also has" if rows else "none",
    )
