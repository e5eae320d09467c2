"""Faturamento rules as plain code: mapping, numbering, and every rule that sets a line aside."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from sync_pipeline.domain.faturamento import (
    RULE_BAD_DATE,
    RULE_NEGATIVE_QTY,
    RULE_NO_PRODUCT,
    RULE_UNKNOWN_COMPANY,
    cod_produto,
    numero_nf,
    stage_invoice_lines,
)
from sync_pipeline.partitions import SyncPartition, chunk_partitions, partition_day

MOVE = {
    "id": 10,
    "name": "NF1/2025/00001",
    "state": "posted",
    "invoice_date": "2025-01-05",
    "date": "2025-01-05",
    "invoice_origin": "S00001",
    "partner_id": [3, "Cliente"],
    "company_id": [1, "Nacom"],
    "invoice_user_id": [2, "Vendedor A"],
    "team_id": [1, "Equipe SP"],
    "write_date": "2025-01-05 12:00:00",
}


def _line(line_id, **kw):
    base = {
        "id": line_id,
        "move_id": [10, "NF1/2025/00001"],
        "product_id": [5, "[P5] Azeitona"],
        "quantity": 2.0,
        "price_unit": 10.5,
        "price_total": 23.1,
        "company_id": [1, "Nacom"],
    }
    base.update(kw)
    return base


def _stage(moves, lines, company_id=1, refunded=2.0, **kw):
    return stage_invoice_lines(
        empreendimento="empresa-1",
        company_id=company_id,
        moves=moves,
        lines=lines,
        products={5: {"id": 5, "default_code": "P5", "name": "Azeitona", "weight": 2.5}},
        partners={
            3: {"id": 3, "name": "Cliente", "vat": "12.345.678/0001-95", "city": "Santos", "state_id": [25, "SP"]}
        },
        state_codes={25: "SP"},
        refunds=[
            {
                "id": 99,
                "reversed_entry_id": [10, "NF1"],
                "invoice_date": "2025-01-09",
                "date": "2025-01-09",
                "state": "posted",
            }
        ],
        refund_lines=[{"id": 990, "move_id": [99, "RNF1"], "product_id": [5, "P5"], "quantity": refunded}],
        partition_day_of=partition_day,
        **kw,
    )


def test_maps_a_line_with_partner_product_and_reversal():
    staged = _stage([MOVE], [_line(1)])
    assert not staged.rejects
    (row,) = staged.rows_by_day[date(2025, 1, 5)]
    assert row["numero_nf"] == "NF1/2025/00001"
    assert (row["cnpj_cliente"], row["municipio"], row["estado"]) == ("12.345.678/0001-95", "Santos", "SP")
    assert (row["vendedor"], row["equipe_vendas"], row["origem"]) == ("Vendedor A", "Equipe SP", "S00001")
    assert (row["quantidade"], row["preco_unitario"], row["valor_total"]) == (
        Decimal("2.000"),
        Decimal("10.5000"),
        Decimal("23.10"),
    )
    assert row["peso_unitario"] == Decimal("2.500")
    assert (row["nota_credito_id"], row["data_reversao"]) == (99, date(2025, 1, 9))  # 2 of 2 refunded


def test_partial_credit_note_is_no_reversal():
    (row,) = _stage([MOVE], [_line(1)], refunded=1.0).rows_by_day[date(2025, 1, 5)]
    assert (row["nota_credito_id"], row["data_reversao"]) == (None, None)


def test_origem_is_the_order_of_the_linked_order_line():
    grouped = dict(MOVE, invoice_origin="S00001, S00002")
    staged = _stage(
        [grouped],
        [_line(1, sale_line_ids=[71]), _line(2, sale_line_ids=[82]), _line(3, sale_line_ids=[])],
        order_of_sale_line={71: "S00001", 82: "S00002"},
    )
    origins = {r["odoo_line_id"]: r["origem"] for r in staged.rows_by_day[date(2025, 1, 5)]}
    assert origins == {1: "S00001", 2: "S00002", 3: "S00001, S00002"}  # unlinked: invoice_origin


@pytest.mark.parametrize(
    "move_changes, line_changes, rule",
    [
        ({}, {"product_id": False}, RULE_NO_PRODUCT),
        ({}, {"quantity": -1.0}, RULE_NEGATIVE_QTY),
        ({"company_id": [7, "Outra"]}, {"company_id": [7, "Outra"]}, RULE_UNKNOWN_COMPANY),
        ({}, {"company_id": False}, RULE_UNKNOWN_COMPANY),
        ({"invoice_date": "05/01/2025"}, {}, RULE_BAD_DATE),
        ({"invoice_date": False, "date": "2025-13-45"}, {}, RULE_BAD_DATE),
    ],
)
def test_each_rule_sets_the_line_aside_and_keeps_the_rest(move_changes, line_changes, rule):
    other = dict(MOVE, id=11, name="NF1/2025/00002")
    staged = _stage([dict(MOVE, **move_changes), other], [_line(1, **line_changes), _line(2, move_id=[11, "x"])])
    (reject,) = staged.rejects
    assert (reject.model, reject.odoo_id, reject.rule, reject.parent_id) == ("account.move.line", 1, rule, 10)
    assert "invoice line 1" in reject.message
    assert [r["odoo_line_id"] for rows in staged.rows_by_day.values() for r in rows] == [2]


def test_numbers_and_codes():
    assert numero_nf({"id": 4, "name": "/", "state": "draft"}) == "RASCUNHO-4"
    assert numero_nf({"id": 4, "name": False, "state": "draft"}) == "RASCUNHO-4"
    assert numero_nf({"id": 4, "name": "NF/1", "state": "cancel"}) == "NF/1"
    # a localisation's fiscal number wins over the journal entry name where the server has it
    move = {"id": 4, "name": "INV/2025/0001", "state": "posted", "l10n_latam_document_number": "000.123"}
    assert numero_nf(move, "l10n_latam_document_number") == "000.123"
    assert numero_nf(dict(move, l10n_latam_document_number=False), "l10n_latam_document_number") == "INV/2025/0001"
    assert cod_produto({"default_code": False}, 42) == "ODOO-42"
    assert cod_produto({"default_code": " 4310 "}, 42) == "4310"


def test_documents_older_than_the_start_belong_to_the_first_partition():
    assert partition_day(date(2020, 3, 1)) == date(2025, 1, 1)
    assert partition_day(date(2025, 2, 1)) == date(2025, 2, 1)


def test_chunks_split_by_empreendimento_and_span():
    parts = [SyncPartition("a", date(2025, 1, d)) for d in range(1, 11)] + [SyncPartition("b", date(2025, 1, 1))]
    chunks = chunk_partitions(parts, 4)
    assert [(c[0].empreendimento, len(c)) for c in chunks] == [("a", 4), ("a", 4), ("a", 2), ("b", 1)]
