"""The faturamento graph end to end: simulator over HTTP → Dagster → real PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from dagster import instance_for_test
from sqlalchemy import text

from sync_pipeline.partitions import SyncPartition
from sync_pipeline_tests.oracle import expected_faturamento, expected_relatorio
from sync_pipeline_tests.support import (
    START,
    empreendimentos,
    partition_metadata,
    resources,
    sync_partition,
    sync_range,
    table_rows,
)

FAT_COLUMNS = [
    "empreendimento",
    "numero_nf",
    "move_type",
    "data_fatura",
    "cnpj_cliente",
    "nome_cliente",
    "municipio",
    "estado",
    "vendedor",
    "equipe_vendas",
    "origem",
    "cod_produto",
    "nome_produto",
    "qtd_produto_faturado",
    "preco_produto_faturado",
    "valor_produto_faturado",
    "peso_unitario_produto",
    "peso_total",
    "status_nf",
    "revertida",
    "nota_credito_id",
    "data_reversao",
    "odoo_move_id",
]


def _normalise(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, date):
            v = v.isoformat()
        out[k] = v
    return out


def _actual_faturamento(engine) -> dict:
    rows = table_rows(engine, f"SELECT {', '.join(FAT_COLUMNS)} FROM faturamento_produto")
    return {(r["odoo_move_id"], r["cod_produto"], r["origem"]): _normalise(r) for r in rows}


def _sync_all(instance, res, handle, days):
    for emp in empreendimentos(handle):
        result = sync_range(instance, res, emp, START, START + timedelta(days=days - 1))
        assert result.success


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc", "json2"])
def test_generated_data_equals_oracle(db, database_url, simulator, protocol):
    handle = simulator(seed=13, scale=2, days=10, companies=2)
    res = resources(handle, database_url, protocol=protocol, page_size=200)
    with instance_for_test() as instance:
        # the generator posts a few invoices dated up to 5 days after its last day
        _sync_all(instance, res, handle, 10 + 5)

    expected = expected_faturamento(handle.sim)
    actual = _actual_faturamento(db)
    assert len(expected) > 50
    assert set(actual) == set(expected)
    for key, row in expected.items():
        assert actual[key] == row, key

    statuses = {r["status_nf"] for r in expected.values()}
    assert statuses == {"Lançado", "Cancelado", "Provisório"}  # the generator covers all three
    assert any(r["revertida"] for r in expected.values())
    # and the real-Odoo shapes: credit notes, one NF for several orders, numbers repeated across companies
    assert any(r["move_type"] == "out_refund" for r in expected.values())
    origins: dict[int, set] = {}
    for (move_id, _, origem), _row in expected.items():
        origins.setdefault(move_id, set()).add(origem)
    assert any(len(o) > 1 for o in origins.values())
    by_number: dict[str, set] = {}
    for row in expected.values():
        by_number.setdefault(row["numero_nf"], set()).add(row["empreendimento"])
    assert any(len(e) > 1 for e in by_number.values())

    relatorio = {
        r["odoo_move_id"]: _normalise(r)
        for r in table_rows(
            db,
            "SELECT odoo_move_id, numero_nf, empreendimento, move_type, data_fatura, cnpj_cliente, origem, "
            "valor_total, peso_bruto, status_nf, ativo FROM relatorio_faturamento_importado",
        )
    }
    exp_rel = expected_relatorio(expected)
    assert set(relatorio) == set(exp_rel)
    for move_id, row in exp_rel.items():
        got = dict(relatorio[move_id])
        got.pop("odoo_move_id")
        assert got == row, move_id

    # every product seen is in cadastro_palletizacao, created once
    codes = {k[1] for k in expected}
    cad = table_rows(db, "SELECT cod_produto, palletizacao FROM cadastro_palletizacao")
    assert {r["cod_produto"] for r in cad} == codes
    assert all(r["palletizacao"] == Decimal("1.000") for r in cad)


def test_rerun_writes_nothing(db, database_url, simulator):
    handle = simulator(seed=3, scale=0.5, days=4, companies=1)
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    with instance_for_test() as instance:
        sync_range(instance, res, emp, START, START + timedelta(days=3))
        before = table_rows(db, "SELECT * FROM faturamento_produto ORDER BY id")
        rel_before = table_rows(db, "SELECT * FROM relatorio_faturamento_importado ORDER BY id")
        xmin_before = table_rows(db, "SELECT xmin::text AS x FROM faturamento_produto ORDER BY id")
        sync_range(instance, res, emp, START, START + timedelta(days=3))
        for day in range(4):
            key = SyncPartition(emp, START + timedelta(days=day)).key
            md = partition_metadata(instance, "faturamento_produto", key)
            assert (md["rows_inserted"], md["rows_updated"], md["rows_deleted"]) == (0, 0, 0)
            md = partition_metadata(instance, "odoo_fatura_linha", key)
            assert (md["rows_inserted"], md["rows_updated"], md["rows_deleted"]) == (0, 0, 0)
    assert table_rows(db, "SELECT * FROM faturamento_produto ORDER BY id") == before
    assert table_rows(db, "SELECT * FROM relatorio_faturamento_importado ORDER BY id") == rel_before
    # not even rewritten with the same values: no new row versions
    assert table_rows(db, "SELECT xmin::text AS x FROM faturamento_produto ORDER BY id") == xmin_before


def _posted_invoice_with_origin(handle, company_id: int, day: date | None = None) -> dict:
    for m in handle.sim.rows("account.move"):
        if (
            m["move_type"] == "out_invoice"
            and m["state"] == "posted"
            and m["company_id"] == company_id
            and m.get("invoice_origin")
            and m.get("payment_state") != "reversed"
            and (day is None or m["invoice_date"] == day.isoformat())
        ):
            return m
    raise AssertionError("generator made no posted invoice with an origin")


def test_cancel_cascades_and_repost_restores(db, database_url, simulator):
    handle = simulator(seed=5, scale=0.5, days=3, companies=1)
    company = handle.company_ids()[0]
    res = resources(handle, database_url)
    emp = empreendimentos(handle)[0]
    move = _posted_invoice_with_origin(handle, company)
    nf, day = move["name"], date.fromisoformat(move["invoice_date"])
    with instance_for_test() as instance:
        sync_partition(instance, res, emp, day)
        with db.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status,"
                    " sincronizado_nf, numero_nf) VALUES ('LOTE-1', :pedido, 'X', 5, 'FATURADO', true, :nf),"
                    " ('LOTE-2', :pedido, 'Y', 1, 'ABERTO', false, NULL)"
                ),
                {"pedido": move["invoice_origin"], "nf": nf},
            )
            conn.execute(
                text(
                    "INSERT INTO embarque_itens (embarque_id, separacao_lote_id, pedido, nota_fiscal)"
                    " VALUES (1, 'LOTE-1', :p, :nf), (2, 'LOTE-9', 'OTHER', 'NF-OTHER')"
                ),
                {"p": move["invoice_origin"], "nf": nf},
            )
            conn.execute(
                text(
                    "INSERT INTO movimentacao_estoque (cod_produto, tipo_movimentacao, local_movimentacao,"
                    " qtd_movimentacao, numero_nf, status_nf, ativo)"
                    " VALUES ('X', 'FATURAMENTO', 'VENDA', -5, :nf, 'FATURADO', true)"
                ),
                {"nf": nf},
            )
        handle.call("account.move", "button_draft", [move["id"]])
        handle.call("account.move", "button_cancel", [move["id"]])
        sync_partition(instance, res, emp, day)

        fat = table_rows(db, "SELECT status_nf FROM faturamento_produto WHERE numero_nf = :nf", nf=nf)
        assert fat and {r["status_nf"] for r in fat} == {"Cancelado"}
        assert table_rows(db, "SELECT status_nf, ativo FROM movimentacao_estoque WHERE numero_nf = :nf", nf=nf) == [
            {"status_nf": "CANCELADO", "ativo": False}
        ]
        assert table_rows(db, "SELECT nota_fiscal, erro_validacao FROM embarque_itens ORDER BY embarque_id") == [
            {"nota_fiscal": None, "erro_validacao": "NF cancelada no Odoo"},
            {"nota_fiscal": "NF-OTHER", "erro_validacao": None},
        ]
        assert table_rows(db, "SELECT separacao_lote_id, numero_nf, sincronizado_nf FROM separacao ORDER BY id") == [
            {"separacao_lote_id": "LOTE-1", "numero_nf": None, "sincronizado_nf": False},
            {"separacao_lote_id": "LOTE-2", "numero_nf": None, "sincronizado_nf": False},
        ]
        rel = table_rows(
            db, "SELECT status_nf, ativo FROM relatorio_faturamento_importado WHERE numero_nf = :nf", nf=nf
        )
        assert rel == [{"status_nf": "Cancelado", "ativo": False}]
        key = SyncPartition(emp, day).key
        md = partition_metadata(instance, "faturamento_produto", key)
        assert md["rows_cancelled"] == len(fat)
        assert (md["movimentacao_cancelled"], md["embarque_cleared"], md["separacao_released"]) == (1, 1, 1)

        # posted again: processed as new, the NF is live again
        handle.call("account.move", "button_draft", [move["id"]])
        handle.call("account.move", "action_post", [move["id"]])
        sync_partition(instance, res, emp, day)
        fat = table_rows(
            db, "SELECT status_nf, numero_nf FROM faturamento_produto WHERE odoo_move_id = :m", m=move["id"]
        )
        assert {r["status_nf"] for r in fat} == {"Lançado"} and {r["numero_nf"] for r in fat} == {nf}
        rel = table_rows(
            db, "SELECT status_nf, ativo FROM relatorio_faturamento_importado WHERE odoo_move_id = :m", m=move["id"]
        )
        assert rel == [{"status_nf": "Lançado", "ativo": True}]
    assert _actual_faturamento(db) == {
        k: v for k, v in expected_faturamento(handle.sim).items() if v["data_fatura"] == day.isoformat()
    }
