"""Accounting rules: a company's chart and journals, invoice journal items (product, tax and
payment term lines), sequence numbers and reconciliation."""

from __future__ import annotations

from .compute import PRODUCT_SIGN, add_days, line_amounts, money, tax_pcts

CHART = [  # (key, code, name, account_type, reconcile)
    ("receivable", "1.1.2.01", "Clientes", "asset_receivable", True),
    ("bank", "1.1.1.02", "Bancos conta movimento", "asset_cash", False),
    ("tax_paid", "1.1.5.01", "Impostos a recuperar", "asset_current", False),
    ("payable", "2.1.1.01", "Fornecedores", "liability_payable", True),
    ("tax_due", "2.1.3.01", "Impostos a recolher", "liability_current", False),
    ("income", "3.1.1.01", "Receita de vendas de mercadorias", "income", False),
    ("expense", "4.1.1.01", "Custo das mercadorias", "expense", False),
]
# The chart's operating expense accounts, created on a company's first vendor bill (after the accounts
# above, so the ids of those stay what they were before the chart had them).
EXPENSE_CHART = [  # (code, name)
    ("4.2.1.01", "Despesas com pessoal"),
    ("4.2.2.01", "Aluguéis"),
    ("4.2.3.01", "Fretes e carretos"),
    ("4.2.4.01", "Energia elétrica"),
    ("4.2.5.01", "Serviços de terceiros"),
]
# Every company gets the same journal codes, as installing a chart of accounts does in Odoo: the
# numbers they give (INV/2025/00001) repeat across companies.
JOURNALS = [  # (type, code, name)
    ("sale", "INV", "Faturas de Clientes"),
    ("purchase", "BILL", "Faturas de Fornecedores"),
    ("bank", "BNK1", "Banco"),
    ("general", "MISC", "Operações Diversas"),
]
REFUND_TYPES = ("out_refund", "in_refund")
YEARLY_JOURNAL_TYPES = ("sale", "bank", "cash")  # the others number per month


def setup_company(env, company_id: int) -> None:
    """What installing a chart of accounts does for a new company: accounts and journals."""
    from .orm import insert

    accounts = {}
    for key, code, name, account_type, reconcile in CHART:
        accounts[key] = insert(
            env,
            "account.account",
            dict(code=code, name=name, account_type=account_type, reconcile=reconcile, company_id=company_id),
        )
    for jtype, code, name in JOURNALS:
        default = {"sale": "income", "purchase": "expense", "bank": "bank"}.get(jtype)
        insert(
            env,
            "account.journal",
            dict(
                name=name,
                code=code,
                type=jtype,
                company_id=company_id,
                default_account_id=accounts.get(default),
            ),
        )


def expense_accounts(env, company_id: int) -> dict[str, int]:
    """The company's operating expense accounts by code, created the first time they are needed."""
    from .orm import insert

    accounts = env.sim.store["account.account"]
    found = {
        accounts.records[i]["code"]: i
        for i in sorted(accounts.referrers("company_id", company_id))
        if accounts.records[i]["account_type"] == "expense"
    }
    for code, name in EXPENSE_CHART:
        if code not in found:
            found[code] = insert(
                env,
                "account.account",
                dict(code=code, name=name, account_type="expense", reconcile=False, company_id=company_id),
            )
    return {code: found[code] for code, _name in EXPENSE_CHART}


def company_account(env, company_id: int, account_type: str) -> int | None:
    accounts = env.sim.store["account.account"].records
    for acc_id in sorted(accounts):
        acc = accounts[acc_id]
        if acc["company_id"] == company_id and acc["account_type"] == account_type:
            return acc_id
    return None


def company_journal(env, company_id: int, jtype: str) -> int | None:
    journals = env.sim.store["account.journal"].records
    for journal_id in sorted(journals):
        journal = journals[journal_id]
        if journal["company_id"] == company_id and journal["type"] == jtype:
            return journal_id
    return None


def sync_invoice_lines(env, move_id: int) -> None:
    """Recompute product lines' amounts and rebuild the tax and payment term lines of an invoice."""
    from .orm import delete, insert, write_raw

    store = env.sim.store
    move = store["account.move"].records[move_id]
    amls = store["account.move.line"]
    lines = [amls.records[i] for i in sorted(amls.referrers("move_id", move_id))]
    sign = PRODUCT_SIGN[move["move_type"]]
    customer = move["move_type"].startswith("out_")
    company = move["company_id"]
    tax_totals: dict[int, float] = {}
    untaxed = 0.0
    for line in lines:
        if line["display_type"] in ("line_section", "line_note"):
            vals = dict(price_subtotal=0.0, price_total=0.0, balance=0.0, debit=0.0, credit=0.0)
        elif line["display_type"] == "product":
            subtotal, _tax, total, taxes = line_amounts(
                line["quantity"],
                line["price_unit"],
                line["discount"],
                tax_pcts(store, line["tax_ids"]),
            )
            for tax_id, amount in zip(line["tax_ids"], taxes, strict=True):
                tax_totals[tax_id] = tax_totals.get(tax_id, 0.0) + amount
            untaxed += subtotal
            balance = money(sign * subtotal)
            vals = dict(
                price_subtotal=subtotal,
                price_total=total,
                balance=balance,
                debit=max(balance, 0.0),
                credit=max(-balance, 0.0),
            )
            if not line["account_id"]:
                vals["account_id"] = company_account(env, company, "income" if customer else "expense")
        else:
            continue
        write_raw(env, "account.move.line", line["id"], vals)
    existing_tax = {ln["tax_line_id"]: ln for ln in lines if ln["display_type"] == "tax"}
    taxes = store["account.tax"].records
    tax_account = company_account(env, company, "liability_current" if customer else "asset_current")
    total_tax = 0.0
    for tax_id, amount in sorted(tax_totals.items()):
        amount = money(amount)
        if not amount:
            continue
        total_tax += amount
        balance = money(sign * amount)
        vals = dict(
            display_type="tax",
            quantity=0.0,  # a real Odoo's tax and payment term lines carry no quantity
            tax_line_id=tax_id,
            name=taxes[tax_id]["name"],
            balance=balance,
            debit=max(balance, 0.0),
            credit=max(-balance, 0.0),
            account_id=tax_account,
            partner_id=move["partner_id"],
        )
        line = existing_tax.pop(tax_id, None)
        if line:
            write_raw(env, "account.move.line", line["id"], vals)
        else:
            insert(env, "account.move.line", dict(vals, move_id=move_id))
    delete(env, "account.move.line", [ln["id"] for ln in existing_tax.values()])
    total = money(untaxed + total_tax)
    instalments = _instalments(env, move, total)
    term_lines = [ln for ln in lines if ln["display_type"] == "payment_term"]
    term_account = company_account(env, company, "asset_receivable" if customer else "liability_payable")
    for n, (amount, due) in enumerate(instalments):
        balance = money(-sign * amount)
        vals = dict(
            display_type="payment_term",
            quantity=0.0,
            date_maturity=due,
            balance=balance,
            debit=max(balance, 0.0),
            credit=max(-balance, 0.0),
            partner_id=move["partner_id"],
            name=f"installment #{n + 1}" if len(instalments) > 1 else None,
        )
        if n < len(term_lines):
            if not term_lines[n]["account_id"]:
                vals["account_id"] = term_account
            write_raw(env, "account.move.line", term_lines[n]["id"], vals)
        else:
            insert(env, "account.move.line", dict(vals, move_id=move_id, account_id=term_account))
    delete(env, "account.move.line", [ln["id"] for ln in term_lines[len(instalments) :]])


def _instalments(env, move, total: float) -> list[tuple[float, str]]:
    store = env.sim.store
    base = move["invoice_date"] or move["date"]
    shares = [(100.0, 0)]
    if move["invoice_payment_term_id"]:
        terms = store["account.payment.term.line"]
        ids = sorted(terms.referrers("payment_id", move["invoice_payment_term_id"]))
        shares = [(terms.records[i]["value_amount"], terms.records[i]["nb_days"]) for i in ids] or shares
    out, left = [], total
    for n, (pct, days) in enumerate(shares):
        amount = left if n == len(shares) - 1 else money(total * pct / 100.0)
        left = money(left - amount)
        out.append((amount, add_days(base, days)))
    return out


def next_move_name(env, move: dict) -> str:
    """The next number of the move's journal, as Odoo's sequence mixin starts them: per journal and
    year (sale, bank) or month (purchase, miscellaneous), credit notes in a sequence of their own."""
    journal = env.sim.store["account.journal"].records[move["journal_id"]]
    day = move["date"]
    if journal["type"] in YEARLY_JOURNAL_TYPES:
        prefix, digits = f"{journal['code']}/{day[:4]}/", 5
    else:
        prefix, digits = f"{journal['code']}/{day[:4]}/{day[5:7]}/", 4
    if move["move_type"] in REFUND_TYPES and journal["type"] in ("sale", "purchase"):
        prefix = "R" + prefix
    number = env.sim.next_number((journal["id"], prefix))
    return f"{prefix}{number:0{digits}d}"


def reconcile(env, debit_line_ids, credit_line_ids) -> list[int]:
    """Match open debit lines with open credit lines, oldest due first (account.partial.reconcile)."""
    from .orm import insert

    amls = env.sim.store["account.move.line"].records
    debits = sorted(debit_line_ids, key=lambda i: (amls[i]["date_maturity"] or "", i))
    credits = sorted(credit_line_ids, key=lambda i: (amls[i]["date_maturity"] or "", i))
    open_amount = {i: abs(amls[i]["amount_residual"]) for i in debits + credits}
    partials = []
    for d in debits:
        for c in credits:
            amount = money(min(open_amount[d], open_amount[c]))
            if amount <= 0:
                continue
            open_amount[d] = money(open_amount[d] - amount)
            open_amount[c] = money(open_amount[c] - amount)
            max_date = max(amls[d]["date"] or "", amls[c]["date"] or "")
            partials.append(
                insert(
                    env,
                    "account.partial.reconcile",
                    dict(
                        debit_move_id=d,
                        credit_move_id=c,
                        amount=amount,
                        max_date=max_date,
                        company_id=amls[d]["company_id"],
                    ),
                )
            )
            if not open_amount[d]:
                break
    env.mark("account.move.line", debits + credits)
    return partials


def unreconcile(env, move_id: int) -> None:
    """Remove the matchings of a move's journal items (what button_draft does)."""
    from .orm import delete

    store = env.sim.store
    partials = store["account.partial.reconcile"]
    amls = store["account.move.line"]
    doomed = set()
    for line_id in amls.referrers("move_id", move_id):
        doomed |= partials.referrers("debit_move_id", line_id)
        doomed |= partials.referrers("credit_move_id", line_id)
    for p in doomed:
        rec = partials.records[p]
        env.mark(
            "account.move",
            [amls.records[rec["debit_move_id"]]["move_id"], amls.records[rec["credit_move_id"]]["move_id"]],
        )
    delete(env, "account.partial.reconcile", sorted(doomed))
