"""The financeiro formulas (docs/financeiro.md) against cases computed by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sync_pipeline.domain import financeiro as f
from sync_pipeline.domain.values import Reject


def test_present_value_of_an_instalment_90_days_ahead_at_ten_percent():
    # 1000 × 1.1^(−90/365) = 1000 × e^(−0.0235012) = 976.7729
    pv = f.present_value(Decimal(1000), 90, Decimal("0.10"))
    assert abs(pv - Decimal("976.7729")) < Decimal("0.0001")
    assert f.money(pv) == Decimal("976.77")
    # due today or overdue: face value
    assert f.present_value(Decimal(1000), 0) == Decimal(1000)
    assert f.present_value(Decimal(1000), -45) == Decimal(1000)


def test_macaulay_duration_of_two_instalments():
    # 1000 due now (t = 0) and 1000 in a year (PV 1000/1.1): D = (1000/1.1) / (1000 + 1000/1.1) = 1/2.1
    duration = f.macaulay_duration([(Decimal(1000), 0), (Decimal(1000), 365)], Decimal("0.10"))
    assert f.rounded(duration, 4) == Decimal("0.4762")
    assert abs(duration - Decimal(1) / Decimal("2.1")) < Decimal("1e-20")
    # an overdue instalment counts at face value with t = 0
    assert f.macaulay_duration([(Decimal(500), -10)]) == 0
    assert f.macaulay_duration([]) is None


def test_buckets_at_month_ends_across_a_payment_made_later():
    due, original = date(2025, 1, 10), Decimal(100)
    payments = [(Decimal(100), date(2025, 3, 5))]  # paid in March
    assert f.as_of(date(2025, 1, 1), today=date(2025, 6, 1)) == date(2025, 1, 31)
    jan, feb, mar = date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31)
    # history does not change when it is paid later: still open at the end of January and February
    assert f.open_as_of(original, payments, jan) == 100
    assert f.bucket_of((jan - due).days) == "ate_30"  # 21 days
    assert f.open_as_of(original, payments, feb) == 100
    assert f.bucket_of((feb - due).days) == "de_31_a_60"  # 49 days
    assert f.open_as_of(original, payments, mar) == 0
    assert f.open_as_of(original, payments, date(2025, 3, 4)) == 100
    assert f.open_as_of(original, payments, date(2025, 3, 5)) == 0  # a payment dated on as_of counts


def test_bucket_bounds():
    assert [f.bucket_of(d) for d in (-3, 0, 1, 30, 31, 60, 61, 90, 91, 180, 181, 4000)] == [
        None,
        None,
        "ate_30",
        "ate_30",
        "de_31_a_60",
        "de_31_a_60",
        "de_61_a_90",
        "de_61_a_90",
        "de_91_a_180",
        "de_91_a_180",
        "acima_180",
        "acima_180",
    ]
    params = f.bucket_params()
    assert (params["ate_30_low"], params["ate_30_high"], params["acima_180_low"]) == (1, 30, 181)


def test_categories_of_a_payment_on_the_last_day_of_a_month_and_the_first_of_the_next():
    due = date(2025, 1, 15)
    assert f.categoria_entrada(due, date(2025, 1, 31)) == f.ATIVOS
    assert f.categoria_entrada(due, date(2025, 2, 1)) == f.RECUPERACOES
    assert f.categoria_entrada(date(2025, 2, 1), date(2025, 1, 31)) == f.ANTECIPACOES
    assert f.categoria_entrada(date(2025, 2, 1), date(2025, 2, 1)) == f.ATIVOS
    # a year apart, same month number: still another month
    assert f.categoria_entrada(date(2026, 1, 15), date(2025, 1, 15)) == f.ANTECIPACOES


def test_the_current_months_as_of_is_today():
    today = date(2025, 3, 17)
    assert f.as_of(date(2025, 3, 1), today) == today
    assert f.as_of(date(2025, 2, 1), today) == date(2025, 2, 28)
    assert f.as_of(date(2024, 2, 1), today) == date(2024, 2, 29)
    assert f.months_between(date(2024, 12, 20), today) == [
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
        date(2025, 3, 1),
    ]


def test_remaining_term_in_months_and_status():
    # 89 days at 365/12 days a month
    assert f.rounded(f.remaining_months(date(2025, 4, 30), date(2025, 1, 31)), 2) == Decimal("2.93")
    assert f.remaining_months(date(2025, 1, 1), date(2025, 1, 31)) == 0
    today = date(2025, 3, 17)
    status = lambda **kw: f.status_parcela(today=today, **{"move_state": "posted", "paid": Decimal(0), **kw})  # noqa: E731
    assert status(move_state="cancel", residual=Decimal(5), due=today) == f.CANCELADA
    assert status(residual=Decimal(0), due=date(2025, 1, 1)) == f.PAGA
    assert status(residual=Decimal(5), due=date(2025, 3, 16)) == f.VENCIDA
    assert status(residual=Decimal(5), due=today, paid=Decimal(1)) == f.PARCIAL
    assert status(residual=Decimal(5), due=today) == f.ABERTA


def test_expense_category_is_the_largest_share_ties_to_the_lowest_code():
    lines = [("4.1.2", "Fretes", Decimal(30)), ("4.1.1", "Energia", Decimal(20)), ("4.1.1", "Energia", Decimal(15))]
    assert f.categoria_despesa(lines) == "4.1.1 Energia"
    assert f.categoria_despesa([("4.2", "B", Decimal(10)), ("4.1", "A", Decimal(10))]) == "4.1 A"
    assert f.categoria_despesa([]) == f.SEM_CATEGORIA


def _line(line_id, move_id, **kw):
    return {
        "id": line_id,
        "move_id": [move_id, "INV/1"],
        "account_type": "asset_receivable",
        "date_maturity": "2025-02-01",
        "balance": 100.0,
        "amount_residual": 100.0,
        "matched_debit_ids": [],
        "matched_credit_ids": [],
        "write_date": "2025-01-05 10:00:00",
    } | kw


def test_staging_sets_aside_what_breaks_a_rule_and_keeps_the_rest():
    move = {"id": 1, "name": "INV/1", "move_type": "out_invoice", "state": "posted", "invoice_date": "2025-01-05"}
    lines = [
        _line(10, 1, matched_credit_ids=[100, 101, 102]),
        _line(11, 1, date_maturity=False),
        _line(12, 1, amount_residual=150.0),
        _line(13, 1, account_type="asset_current"),
    ]
    partials = {
        100: {
            "id": 100,
            "debit_move_id": [10, "x"],
            "credit_move_id": [90, "y"],
            "amount": 40.0,
            "max_date": "2025-01-20",
        },
        101: {
            "id": 101,
            "debit_move_id": [10, "x"],
            "credit_move_id": [91, "y"],
            "amount": 10.0,
            "max_date": "2025-01-01",
        },
        102: {
            "id": 102,
            "debit_move_id": [10, "x"],
            "credit_move_id": [92, "y"],
            "amount": 0.0,
            "max_date": "2025-01-20",
        },
    }
    staged = f.stage_financeiro(
        empreendimento="empresa-1",
        moves=[move],
        term_lines=lines,
        partials=partials,
        counterpart_move_types={90: "entry", 91: "entry", 92: "out_refund"},
        categorias={},
        customer_payments=[],
        partition_day_of=lambda d: d,
        nf_number_field=None,
        unplaced_day=date(2025, 1, 1),
    )
    day = date(2025, 1, 5)
    assert [r["odoo_line_id"] for r in staged.parcelas[day]] == [10]
    row = staged.parcelas[day][0]
    assert (row["tipo"], row["valor_original"], row["valor_residual"], row["numero_nf"]) == (
        "RECEBER",
        Decimal("100.00"),
        Decimal("100.00"),
        "INV/1",
    )
    assert [(p["odoo_partial_id"], p["em_caixa"], p["valor"]) for p in staged.pagamentos[day]] == [
        (100, True, Decimal("40.00"))
    ]
    rules = {(r.odoo_id, r.rule) for r in staged.rejects}
    assert rules == {
        (11, f.RULE_NO_DUE_DATE),
        (12, f.RULE_BAD_RESIDUAL),
        (13, f.RULE_UNKNOWN_ACCOUNT_TYPE),
        (101, f.RULE_PAID_BEFORE_INVOICE),
        (102, f.RULE_BAD_PAYMENT),
    }
    assert all(isinstance(r, Reject) and r.partition_day == day for r in staged.rejects)


def test_a_draft_cancelled_before_ever_being_posted_is_no_contract():
    assert f.is_contract({"state": "posted"})
    assert f.is_contract({"state": "cancel", "posted_before": True})
    assert not f.is_contract({"state": "cancel", "posted_before": False})
    assert not f.is_contract({"state": "draft"})
