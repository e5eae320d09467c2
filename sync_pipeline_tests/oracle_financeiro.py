"""Expected finance tables (docs/financeiro.md) computed straight from the simulator's store.

Written independently of the pipeline's code: it reads raw records (``sim.rows``), follows the
page's words and formulas one by one, and shares nothing with ``sync_pipeline.db.financeiro`` but
``partitions.partition_day`` (how a document date becomes a partition) and the empreendimento key.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sync_pipeline import partitions
from sync_pipeline.simulator.core import OdooSimulator

# each table's key: the order its rows are compared in
TABLE_KEYS = {
    "parcelas": "odoo_line_id",
    "entradas_caixa": "empreendimento, ref_month, categoria",
    "saidas_caixa": "empreendimento, ref_month, categoria",
    "estatisticas_portfolio": "empreendimento, ref_month",
    "inadimplencia": "empreendimento, ref_month",
}
CENT, PRAZO, DURATION = Decimal("0.01"), Decimal("0.01"), Decimal("0.0001")
ZERO = Decimal(0)
BUCKETS = (("ate_30", 30), ("de_31_a_60", 60), ("de_61_a_90", 90), ("de_91_a_180", 180), ("acima_180", None))


def q(value, places: Decimal = CENT) -> Decimal:
    return Decimal(str(value)).quantize(places, rounding=ROUND_HALF_UP)


def _day(value) -> date | None:
    return date.fromisoformat(value) if value else None


def _month(day: date) -> date:
    return day.replace(day=1)


def _month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def _is_contract(move: dict, move_type: str) -> bool:
    """A posted document of ``move_type``, or one posted once and cancelled since."""
    if move["move_type"] != move_type:
        return False
    return move["state"] == "posted" or (move["state"] == "cancel" and bool(move["posted_before"]))


def expected_financeiro(
    sim: OdooSimulator,
    *,
    today: date,
    key_of: Callable[[int], str] = partitions.empreendimento_key,
    discount_rate: float = 0.10,
) -> dict[str, list[dict]]:
    """The rows of parcelas, entradas_caixa, saidas_caixa, estatisticas_portfolio and inadimplencia
    (without their timestamps) for the simulator's data as of ``today`` (company time zone)."""
    moves = {r["id"]: r for r in sim.rows("account.move")}
    lines = {r["id"]: r for r in sim.rows("account.move.line")}
    accounts = {r["id"]: r for r in sim.rows("account.account")}
    partials = sim.rows("account.partial.reconcile")

    def account_type(line):
        account = accounts.get(line["account_id"])
        return account["account_type"] if account else None

    def valid_instalment(line, original, residual):
        return line["date_maturity"] and ZERO <= residual <= original

    receivables, payables = {}, {}
    for line in lines.values():
        move = moves[line["move_id"]]
        if account_type(line) == "asset_receivable" and _is_contract(move, "out_invoice"):
            original, residual = q(line["balance"]), q(line["amount_residual"])
            if valid_instalment(line, original, residual):
                receivables[line["id"]] = dict(line=line, move=move, original=original, residual=residual)
        elif account_type(line) == "liability_payable" and _is_contract(move, "in_invoice"):
            original, residual = q(-line["balance"]), q(-line["amount_residual"])
            if valid_instalment(line, original, residual):
                payables[line["id"]] = dict(line=line, move=move, original=original, residual=residual)
    # payments: partials with the instalment on its debit (receivable) / credit (payable) side
    paid: dict[int, list[tuple[Decimal, date, bool]]] = defaultdict(list)
    for partial in partials:
        amount = q(partial["amount"])
        if amount <= 0:
            continue
        for own, other, table in (
            ("debit_move_id", "credit_move_id", receivables),
            ("credit_move_id", "debit_move_id", payables),
        ):
            if partial[own] in table:
                cash = moves[lines[partial[other]]["move_id"]]["move_type"] == "entry"
                paid[partial[own]].append((amount, _day(partial["max_date"]), cash))

    parcelas = _parcelas(receivables, paid, today, key_of)
    entradas = _entradas(receivables, paid, lines, moves, accounts, key_of)
    saidas = _saidas(payables, paid, lines, accounts, key_of)
    portfolio, inadimplencia = _portfolio(receivables, paid, today, key_of, Decimal(str(discount_rate)))
    return dict(
        parcelas=parcelas,
        entradas_caixa=entradas,
        saidas_caixa=saidas,
        estatisticas_portfolio=portfolio,
        inadimplencia=inadimplencia,
    )


def _parcelas(receivables, paid, today, key_of) -> list[dict]:
    by_move = defaultdict(list)
    for line_id, inst in receivables.items():
        by_move[inst["move"]["id"]].append(line_id)
    number = {}
    for line_ids in by_move.values():
        ordered = sorted(line_ids, key=lambda i: (receivables[i]["line"]["date_maturity"], i))
        number.update({line_id: n for n, line_id in enumerate(ordered, start=1)})
    rows = []
    for line_id in sorted(receivables):
        inst = receivables[line_id]
        line, move = inst["line"], inst["move"]
        payments = paid.get(line_id, [])
        due = _day(line["date_maturity"])
        residual = inst["residual"]
        if move["state"] == "cancel":
            status = "CANCELADA"
        elif residual == 0:
            status = "PAGA"
        elif due < today:
            status = "VENCIDA"
        elif payments:
            status = "PARCIAL"
        else:
            status = "ABERTA"
        rows.append(
            dict(
                odoo_line_id=line_id,
                empreendimento=key_of(move["company_id"]),
                partition_date=partitions.partition_day(_day(move["invoice_date"])),
                odoo_move_id=move["id"],
                numero_nf=move["name"],
                num_pedido=move["invoice_origin"] or None,
                numero_parcela=number[line_id],
                data_vencimento=due,
                valor_original=inst["original"],
                valor_pago=q(sum((amount for amount, _d, _c in payments), ZERO)),
                data_ultimo_pagamento=max((d for _a, d, _c in payments), default=None),
                valor_residual=residual,
                status=status,
            )
        )
    return rows


def _entradas(receivables, paid, lines, moves, accounts, key_of) -> list[dict]:
    previsto: dict[tuple, Decimal] = defaultdict(Decimal)
    realizado: dict[tuple, Decimal] = defaultdict(Decimal)
    for line_id, inst in receivables.items():
        move = inst["move"]
        key = key_of(move["company_id"])
        due_month = _month(_day(inst["line"]["date_maturity"]))
        if move["state"] != "cancel":
            previsto[(key, due_month, "ATIVOS")] += inst["original"]
        for amount, day, cash in paid.get(line_id, []):
            if not cash:
                continue
            month = _month(day)
            categoria = "ATIVOS" if month == due_month else "ANTECIPACOES" if due_month > month else "RECUPERACOES"
            realizado[(key, month, categoria)] += amount
    # OUTRAS: receivable lines of posted entries with a credit balance still open
    for line in lines.values():
        move = moves[line["move_id"]]
        account = accounts.get(line["account_id"])
        if not account or account["account_type"] != "asset_receivable":
            continue
        if move["move_type"] != "entry" or move["state"] != "posted" or line["balance"] >= 0:
            continue
        open_amount = q(-line["amount_residual"])
        if open_amount:
            realizado[(key_of(move["company_id"]), _month(_day(move["date"])), "OUTRAS")] += open_amount
    rows = []
    for key in sorted(set(previsto) | set(realizado)):
        row_previsto, row_realizado = previsto.get(key, ZERO), realizado.get(key, ZERO)
        if row_previsto or row_realizado:
            rows.append(
                dict(
                    empreendimento=key[0],
                    ref_month=key[1],
                    categoria=key[2],
                    previsto=q(row_previsto),
                    realizado=q(row_realizado),
                )
            )
    return rows


def _bill_category(move_id, lines, accounts) -> str | None:
    """The expense account with the largest share of the bill's expense lines (ties: lowest code)."""
    share: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines.values():
        account = accounts.get(line["account_id"])
        if line["move_id"] == move_id and account and account["account_type"] == "expense":
            share[account["id"]] += q(line["balance"])
    if not share:
        return None
    best = min(share, key=lambda a: (-share[a], accounts[a]["code"]))
    return f"{accounts[best]['code']} {accounts[best]['name']}"


def _saidas(payables, paid, lines, accounts, key_of) -> list[dict]:
    orcamento: dict[tuple, Decimal] = defaultdict(Decimal)
    realizado: dict[tuple, Decimal] = defaultdict(Decimal)
    categories: dict[int, str | None] = {}
    for line_id, inst in payables.items():
        move = inst["move"]
        if move["id"] not in categories:
            categories[move["id"]] = _bill_category(move["id"], lines, accounts)
        key, categoria = key_of(move["company_id"]), categories[move["id"]]
        if move["state"] != "cancel":
            orcamento[(key, _month(_day(inst["line"]["date_maturity"])), categoria)] += inst["original"]
        for amount, day, cash in paid.get(line_id, []):
            if cash:
                realizado[(key, _month(day), categoria)] += amount
    rows = []
    for key in sorted(set(orcamento) | set(realizado), key=lambda k: (k[0], k[1], k[2] or "")):
        row_orcamento, row_realizado = orcamento.get(key, ZERO), realizado.get(key, ZERO)
        if row_orcamento or row_realizado:
            rows.append(
                dict(
                    empreendimento=key[0],
                    ref_month=key[1],
                    categoria=key[2],
                    orcamento=q(row_orcamento),
                    realizado=q(row_realizado),
                )
            )
    return rows


def _portfolio(receivables, paid, today, key_of, rate) -> tuple[list[dict], list[dict]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for line_id, inst in receivables.items():
        if inst["move"]["state"] != "cancel":
            by_key[key_of(inst["move"]["company_id"])].append(line_id)
    portfolio, overdue_rows = [], []
    current = _month(today)
    for key in sorted(by_key):
        instalments = [receivables[i] | {"id": i} for i in by_key[key]]
        month = _month(min(_day(inst["move"]["invoice_date"]) for inst in instalments))
        while month <= current:
            as_of = today if month == current else _month_end(month)
            portfolio.append(dict(empreendimento=key, ref_month=month, **_stats_as_of(instalments, paid, as_of, rate)))
            overdue_rows.append(dict(empreendimento=key, ref_month=month, **_overdue_as_of(instalments, paid, as_of)))
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return portfolio, overdue_rows


def _open_as_of(inst, paid, as_of) -> Decimal:
    """Original minus the payments (cash or not) dated on or before ``as_of``."""
    return inst["original"] - sum((a for a, d, _c in paid.get(inst["id"], []) if d <= as_of), ZERO)


def _issued(instalments, as_of):
    return [inst for inst in instalments if _day(inst["move"]["invoice_date"]) <= as_of]


def _stats_as_of(instalments, paid, as_of, rate) -> dict:
    issued = _issued(instalments, as_of)
    contracts: dict[int, list] = defaultdict(list)
    pv_sum = weighted = saldo = ZERO
    for inst in issued:
        contracts[inst["move"]["id"]].append(inst)
        open_amount = _open_as_of(inst, paid, as_of)
        if not open_amount:
            continue
        days_to_due = (_day(inst["line"]["date_maturity"]) - as_of).days
        if days_to_due >= 0:
            pv = open_amount * (1 + rate) ** (Decimal(-days_to_due) / 365)
        else:
            pv = open_amount
        saldo += open_amount
        pv_sum += pv
        weighted += Decimal(max(days_to_due, 0)) / 365 * pv
    terms = []
    for insts in contracts.values():
        open_dues = [_day(i["line"]["date_maturity"]) for i in insts if _open_as_of(i, paid, as_of) > 0]
        if open_dues:
            terms.append(Decimal(max((max(open_dues) - as_of).days, 0)) / (Decimal(365) / 12))
    return dict(
        as_of=as_of,
        valor_presente=q(pv_sum),
        saldo_aberto=q(saldo),
        total_contratos=len(contracts),
        contratos_ativos=len(terms),
        prazo_medio_meses=q(sum(terms, ZERO) / len(terms), PRAZO) if terms else q(0, PRAZO),
        duration_anos=q(weighted / pv_sum, DURATION) if pv_sum else None,
    )


def _overdue_as_of(instalments, paid, as_of) -> dict:
    row = dict.fromkeys((name for name, _limit in BUCKETS), ZERO)
    count, contracts = 0, set()
    for inst in _issued(instalments, as_of):
        open_amount = _open_as_of(inst, paid, as_of)
        days = (as_of - _day(inst["line"]["date_maturity"])).days
        if open_amount <= 0 or days < 1:
            continue
        bucket = next(name for name, limit in BUCKETS if limit is None or days <= limit)
        row[bucket] += open_amount
        count += 1
        contracts.add(inst["move"]["id"])
    return dict(
        as_of=as_of,
        **{name: q(amount) for name, amount in row.items()},
        total_vencido=q(sum(row.values(), ZERO)),
        parcelas_vencidas=count,
        contratos_inadimplentes=len(contracts),
    )
