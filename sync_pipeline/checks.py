"""Asset checks: what operators should look at, computed in PostgreSQL (never by loading a
partitioned asset as an input).

Every check reads the tables as they stand when it runs, not the rows its run wrote: Dagster keeps
one result per check (not per partition) and shows the newest, so a result about one run only
would turn green on the next quiet run while the problem is still in the table.

Severity says who must act (the UI draws a failed WARN check as a yellow warning, a failed ERROR
check in red; both read "Failed"): ERROR when the data logistics works from is wrong or a decision
needs a person (open CRITICO alerts, a carteira that disagrees with Odoo); WARN when records were
left out or could not be told apart and are listed for a look (rejects, ambiguous order numbers,
NF totals, Odoo not answering the comparison). No check blocks the run: the rows are committed
before the checks run, so blocking would only leave the assets below (carteira_saldo) behind them.
"""

from dataclasses import dataclass
from decimal import Decimal

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from sync_pipeline.assets.carteira import ALERTA_KEY, CARTEIRA_KEY
from sync_pipeline.assets.faturamento import EXTRACT_KEY, RELATORIO_KEY
from sync_pipeline.db.checks import (
    SampledLine,
    carteira_sample,
    nf_total_mismatches,
    open_critical_alerts,
    set_aside_records,
)
from sync_pipeline.db.rejects import rejects_by_rule
from sync_pipeline.domain.values import RULE_AMBIGUOUS_NUMBER, decimal, parse_datetime
from sync_pipeline.odoo.errors import OdooError
from sync_pipeline.partitions import SyncPartition
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.resources.postgres import PostgresResource

LISTED = 50  # rows a check lists in its metadata
# Carteira lines compared with Odoo per run: one search_read of their order lines (a few hundred
# ids at most), whatever the size of the carteira.
ODOO_COMPARISON_LINES = 200
# No command acknowledges alerts yet: the operator runs this (ids as listed, #<id>) once acted on.
ACK_SQL = "UPDATE alerta_separacao_cotada SET reconhecido = true WHERE id IN (<ids>)"


@asset_check(
    asset=EXTRACT_KEY,
    name="no_rejected_invoice_lines",
    description=(
        "Warns while invoice lines are set aside in sync_rejeitado: those still rejected now (a reject "
        "leaves the table when its partition syncs the line cleanly, and one whose line is staged again "
        "under another partition is not counted), whichever run set them aside."
    ),
    blocking=False,
)
def no_rejected_invoice_lines(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    found = set_aside_records(postgres.engine(), EXTRACT_KEY.to_user_string(), staged_in="odoo_fatura_linha")
    return AssetCheckResult(
        passed=found.total == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rejects": found.total,
            **{f"rule:{rule}": n for rule, n in sorted(found.by_rule.items())},
            "latest": "\n".join(f"{m} {i} [{rule}] {msg} ({pk})" for m, i, rule, msg, pk in found.newest) or "none",
        },
        description=(f"{found.total} invoice lines set aside; see sync_rejeitado" if found.total else "no rejects"),
    )


@asset_check(
    asset=RELATORIO_KEY,
    name="relatorio_matches_lines",
    description=(
        "Warns when an NF's total in relatorio_faturamento_importado differs from the sum of its lines in "
        "faturamento_produto, over the whole tables."
    ),
    blocking=False,
)
def relatorio_matches_lines(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    total, first = nf_total_mismatches(postgres.engine())
    return AssetCheckResult(
        passed=total == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "mismatches": total,
            "sample": "\n".join(f"{emp} {nf}: total {v} ≠ Σ lines {s}" for emp, nf, v, s in first) or "none",
        },
        description=f"{total} NFs whose total differs from their lines" if total else "every NF equals its lines",
    )


@asset_check(
    asset=ALERTA_KEY,
    name="no_critical_alerts",
    description=(
        "Fails (ERROR) while alerta_separacao_cotada holds CRITICO alerts no one has acknowledged — a COTADO "
        "separação reduced or removed, or a negative saldo — of every empreendimento and whichever run wrote "
        "them; lists the newest. Acknowledge them once acted on: " + ACK_SQL + "."
    ),
    blocking=False,
)
def no_critical_alerts(context: AssetCheckExecutionContext, postgres: PostgresResource) -> AssetCheckResult:
    """Every empreendimento, not just the run's: the UI shows one result for the asset, so a run of
    another empreendimento must not make it say "no critical alerts" while some are open. The
    alerts of the run's empreendimentos are in the listing and the counts per empreendimento."""
    found = open_critical_alerts(postgres.engine(), limit=LISTED)
    listing = "\n".join(
        f"#{a.id} {a.criado_em:%Y-%m-%d %H:%M} {a.tipo_alteracao} {a.empreendimento} {a.num_pedido}/{a.cod_produto} "
        f"lote {a.separacao_lote_id or '-'}: {a.qtd_anterior} → {a.qtd_nova}"
        for a in found.newest
    )
    return AssetCheckResult(
        passed=found.total == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "critical_alerts": found.total,
            **{f"empreendimento:{emp}": n for emp, n in found.by_empreendimento},
            **{f"tipo:{tipo}": n for tipo, n in found.by_tipo},
            "alerts": listing or "none",
            "listed": f"newest {len(found.newest)} of {found.total}",
            "acknowledge": ACK_SQL,
        },
        description=(
            f"{found.total} open critical alerts; act on them, then acknowledge (reconhecido = true)"
            if found.total
            else "no open critical alerts"
        ),
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
    payloads = [r["payload"] or {} for r in rows[:LISTED]]  # a row without one still counts
    listing = "\n".join(f"{p.get('empreendimento')} {p.get('num_pedido')}" for p in payloads)
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.WARN,
        metadata={"ambiguous_orders": len(rows), "orders": listing or "none"},
        description=f"{len(rows)} orders with a number another empreendimento also has" if rows else "none",
    )


# --- the carteira against Odoo's own figures ----------------------------------------------------------
ORDER_LINE_MODEL = "sale.order.line"
ORDER_LINE_FIGURES = ["product_uom_qty", "qty_invoiced", "write_date"]


@dataclass(frozen=True)
class Comparison:
    compared: int
    mismatches: list[str]  # the carteira disagrees with the same version of the Odoo lines
    pending: list[str]  # Odoo changed or deleted a line since it was synced: the sensors will catch up


def compare_with_odoo(lines: list[SampledLine], odoo_lines: dict[int, dict]) -> Comparison:
    """Each carteira line's saldo against Σ (product_uom_qty − qty_invoiced) of its Odoo order lines.

    A line Odoo changed (its write_date moved) or deleted since it was staged is not a disagreement
    but a sync still to come: it is listed apart and does not fail the check."""
    mismatches: list[str] = []
    pending: list[str] = []
    for line in lines:
        if not line.staged:
            mismatches.append(f"{line.key}: carteira {line.qtd_saldo}, no Odoo order line staged for it")
            continue
        gone = sorted(i for i in line.staged if i not in odoo_lines)
        moved = sorted(
            i
            for i, staged in line.staged.items()
            if i in odoo_lines and parse_datetime(odoo_lines[i]["write_date"]) != staged
        )
        if gone or moved:
            what = ", ".join([*(f"line {i} deleted" for i in gone), *(f"line {i} changed" for i in moved)])
            pending.append(f"{line.key}: {what} in Odoo since synced")
            continue
        odoo_saldo = sum(
            (
                decimal(odoo_lines[i]["product_uom_qty"], "0.001")
                - decimal(odoo_lines[i]["qty_invoiced"] or 0, "0.001")
                for i in line.staged
            ),
            Decimal("0.000"),
        )
        if odoo_saldo != line.qtd_saldo:
            ids = ", ".join(str(i) for i in sorted(line.staged))
            mismatches.append(
                f"{line.key}: carteira {line.qtd_saldo}, Odoo {odoo_saldo} (ordered − invoiced of line {ids})"
            )
    return Comparison(len(lines), mismatches, pending)


def _run_partitions(context: AssetCheckExecutionContext) -> list[tuple]:
    """(empreendimento, date) of the partitions of the run; none when the check runs alone."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return []
    return [(p.empreendimento, p.day) for p in sorted(SyncPartition.parse(k) for k in context.partition_keys)]


@asset_check(
    asset=CARTEIRA_KEY,
    name="carteira_matches_odoo",
    description=(
        "Fails (ERROR) when an open carteira line's qtd_saldo_produto_pedido differs from Odoo's own "
        f"product_uom_qty − qty_invoiced of the same sale order lines, read in one call. At most "
        f"{ODOO_COMPARISON_LINES} lines per run: the run's partitions first, then the most recently "
        "written. Lines Odoo changed since they were synced are listed as pending, not failed; Odoo not "
        "answering is a warning."
    ),
    blocking=False,
)
def carteira_matches_odoo(
    context: AssetCheckExecutionContext, postgres: PostgresResource, odoo: OdooResource
) -> AssetCheckResult:
    """Whole carteira, the run's lines first: a disagreement anywhere is a wrong carteira, and a
    result about the run's empreendimento only would hide another's until it runs again. The
    database is read (and its connection returned) before Odoo is asked."""
    partitions = _run_partitions(context)
    sample = carteira_sample(postgres.engine(), partitions, limit=ODOO_COMPARISON_LINES)
    ids = sorted({i for line in sample.lines for i in line.staged})
    scope = {
        "open_lines": sample.open_lines,
        "compared": len(sample.lines),
        "of_this_run": sum(1 for line in sample.lines if line.of_run),
        "odoo_order_lines": len(ids),
    }
    try:
        with odoo.get_client(context.log) as client:
            rows = (
                client.search_read(ORDER_LINE_MODEL, [("id", "in", ids)], ORDER_LINE_FIGURES, limit=len(ids))
                if ids
                else []
            )
            calls = client.stats.total
    except OdooError as exc:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={**scope, "error": str(exc)},
            description=f"could not compare the carteira with Odoo: {exc}",
        )
    found = compare_with_odoo(sample.lines, {int(r["id"]): r for r in rows})
    return AssetCheckResult(
        passed=not found.mismatches,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            **scope,
            "mismatches": len(found.mismatches),
            "mismatched_lines": "\n".join(found.mismatches[:LISTED]) or "none",
            "pending_sync": len(found.pending),
            "pending_lines": "\n".join(found.pending[:LISTED]) or "none",
            "odoo_calls": calls,
        },
        description=(
            f"{len(found.mismatches)} of {found.compared} carteira lines differ from Odoo"
            if found.mismatches
            else f"{found.compared} of {sample.open_lines} open lines equal Odoo's figures"
        ),
    )
