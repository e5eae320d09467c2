"""The one upsert (db/upsert.py): unchanged rows are not rewritten, changed ones are, new ones are
inserted, and every call is one statement, against the real PostgreSQL."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import column, event, select, text
from sqlalchemy import table as sql_table

from sync_pipeline.db.saldos import refresh_faturado, refresh_saldos, refresh_separado
from sync_pipeline.db.schema import (
    carteira_saldo,
    faturamento_produto,
    odoo_fatura_linha,
    relatorio_faturamento_importado,
)
from sync_pipeline.db.staging import Scope, mirror_partitions
from sync_pipeline.db.upsert import UpsertCounts, conflict_columns, upsert

DAY = date(2025, 3, 4)


def _saldo(pedido: str, produto: str, livre: str, **extra) -> dict:
    return {
        "empreendimento": "EMP",
        "num_pedido": pedido,
        "cod_produto": produto,
        "data_pedido": DAY,
        "qtd_produto_pedido": Decimal("10.000"),
        "qtd_faturada": Decimal("0.000"),
        "qtd_saldo_produto_pedido": Decimal("10.000"),
        "qtd_em_separacao": Decimal("0.000"),
        "qtd_pre_separada": Decimal("0.000"),
        "saldo_livre": Decimal(livre),
        **extra,
    }


@contextmanager
def _statements(engine):
    """Every statement the engine sends while the block runs."""
    sent: list[str] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ARG001
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def _versions(engine) -> dict[str, tuple[int, object, Decimal]]:
    """xmin (the transaction that last wrote the row), updated_at and saldo_livre per order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT num_pedido, xmin::text::bigint, updated_at, saldo_livre FROM carteira_saldo ORDER BY 1")
        )
        return {pedido: (xmin, updated, livre) for pedido, xmin, updated, livre in rows}


def _upsert(engine, rows: list[dict]) -> tuple[UpsertCounts, list[str]]:
    with _statements(engine) as sent, engine.begin() as conn:
        counts = upsert(conn, carteira_saldo, None, rows)
    return counts, sent


def test_new_rows_are_inserted_unchanged_skipped_changed_updated(db):
    first, sent = _upsert(db, [_saldo("P1", "X", "10.000"), _saldo("P2", "X", "4.500")])
    assert first == UpsertCounts(inserted=2, updated=0)
    assert len(sent) == 1
    before = _versions(db)

    again, sent = _upsert(db, [_saldo("P1", "X", "10.000"), _saldo("P2", "X", "4.500")])
    assert again == UpsertCounts(inserted=0, updated=0)
    assert len(sent) == 1
    assert _versions(db) == before  # not rewritten: same xmin, same updated_at

    changed, sent = _upsert(db, [_saldo("P1", "X", "10.000"), _saldo("P2", "X", "3.000"), _saldo("P3", "X", "1.000")])
    assert changed == UpsertCounts(inserted=1, updated=1)
    assert len(sent) == 1
    after = _versions(db)
    assert after["P1"] == before["P1"]
    assert after["P2"][0] != before["P2"][0]
    assert after["P2"][1] > before["P2"][1]
    assert after["P2"][2] == Decimal("3.000")
    assert after["P3"][2] == Decimal("1.000")


def _locks(engine) -> dict[str, str]:
    """xmax per order: 0 on a row no transaction has locked or deleted since it was written."""
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT num_pedido, xmax::text FROM carteira_saldo ORDER BY 1")).all())


def test_filter_unchanged_leaves_unchanged_rows_unlocked(db):
    rows = [_saldo("P1", "X", "10.000"), _saldo("P2", "X", "4.500")]
    _upsert(db, rows)
    before = _versions(db)
    assert set(_locks(db).values()) == {"0"}

    with db.begin() as conn:
        filtered = upsert(conn, carteira_saldo, None, rows, filter_unchanged=True)
    assert filtered == UpsertCounts(0, 0)
    assert _versions(db) == before
    assert set(_locks(db).values()) == {"0"}  # not even locked

    with db.begin() as conn:
        changed = upsert(conn, carteira_saldo, None, [rows[0], _saldo("P2", "X", "3.000")], filter_unchanged=True)
    assert changed == UpsertCounts(0, 1)
    after = _versions(db)
    assert after["P1"] == before["P1"] and after["P2"][2] == Decimal("3.000")

    # without the filter the unchanged rows are not rewritten, but ON CONFLICT locks them
    _upsert(db, [rows[0]])
    assert _versions(db) == after and _locks(db)["P1"] != "0"


def test_statement_count_does_not_grow_with_rows(db):
    few, sent_few = _upsert(db, [_saldo(f"A{i}", "X", "1.000") for i in range(3)])
    many, sent_many = _upsert(db, [_saldo(f"B{i}", "X", "1.000") for i in range(500)])
    assert (few, many) == (UpsertCounts(3, 0), UpsertCounts(500, 0))
    assert len(sent_few) == len(sent_many) == 1


def test_values_round_trip_exactly_and_null_changes_count(db):
    _upsert(db, [_saldo("P1", "X", "0.001", data_pedido=None)])
    counts, _ = _upsert(db, [_saldo("P1", "X", "0.001", data_pedido=DAY)])
    assert counts == UpsertCounts(0, 1)  # NULL → a date is a change (IS DISTINCT FROM)
    counts, _ = _upsert(db, [_saldo("P1", "X", "0.001", data_pedido=None)])
    assert counts == UpsertCounts(0, 1)
    with db.connect() as conn:
        assert conn.execute(select(carteira_saldo.c.saldo_livre, carteira_saldo.c.data_pedido)).one() == (
            Decimal("0.001"),
            None,
        )


def test_a_select_source_and_a_unique_key_that_is_not_the_pk(db):
    """INSERT … SELECT from a temporary table, keyed by relatorio's unique odoo_move_id."""
    names = ["numero_nf", "odoo_move_id", "empreendimento", "valor_total", "peso_bruto", "status_nf"]
    stage = sql_table("stage_rel", *(column(c) for c in names))
    fill = text(
        "CREATE TEMPORARY TABLE stage_rel ON COMMIT DROP AS SELECT 'NF-1'::varchar AS numero_nf, 7 AS odoo_move_id, "
        "'EMP'::varchar AS empreendimento, CAST(:valor AS numeric) AS valor_total, 1.0 AS peso_bruto, "
        "'Lançado'::varchar AS status_nf"
    )

    def run(valor: str) -> tuple[UpsertCounts, list[str]]:
        with db.begin() as conn:
            conn.execute(fill, {"valor": valor})
            with _statements(db) as sent:
                counts = upsert(conn, relatorio_faturamento_importado, "odoo_move_id", select(*stage.c))
        return counts, sent

    counts, sent = run("12.50")
    assert counts == UpsertCounts(1, 0) and len(sent) == 1
    counts, sent = run("12.50")
    assert counts == UpsertCounts(0, 0) and len(sent) == 1
    counts, sent = run("13.00")
    assert counts == UpsertCounts(0, 1) and len(sent) == 1


def test_keys_come_from_the_table():
    assert [c.name for c in conflict_columns(carteira_saldo)] == ["empreendimento", "num_pedido", "cod_produto"]
    by_name = conflict_columns(faturamento_produto, "uq_faturamento_move_produto_origem")
    assert [c.name for c in by_name] == ["odoo_move_id", "cod_produto", "origem"]
    by_columns = conflict_columns(faturamento_produto, ("empreendimento", "numero_nf", "cod_produto", "origem"))
    assert [c.name for c in by_columns] == ["empreendimento", "numero_nf", "cod_produto", "origem"]
    assert [c.name for c in conflict_columns(relatorio_faturamento_importado, "odoo_move_id")] == ["odoo_move_id"]
    with pytest.raises(ValueError, match="no unique key"):
        conflict_columns(faturamento_produto, ("numero_nf",))


def _line(line_id: int, quantidade: str) -> dict:
    return {
        "odoo_line_id": line_id,
        "odoo_move_id": 1,
        "empreendimento": "EMP",
        "partition_date": DAY,
        "numero_nf": "NF-1",
        "move_type": "out_invoice",
        "move_state": "posted",
        "data_fatura": DAY,
        "cnpj_cliente": None,
        "nome_cliente": "Cliente",
        "municipio": None,
        "estado": None,
        "vendedor": None,
        "equipe_vendas": None,
        "origem": "S001",
        "cod_produto": f"P{line_id}",
        "nome_produto": None,
        "quantidade": Decimal(quantidade),
        "preco_unitario": Decimal("1.0000"),
        "valor_total": Decimal(quantidade),
        "peso_unitario": None,
        "nota_credito_id": None,
        "data_reversao": None,
        "odoo_write_date": None,
    }


def _mirror(engine, rows: list[dict]) -> dict[str, int]:
    with engine.begin() as conn:
        scope = Scope.single("EMP", DAY, first=False)
        (counts,) = mirror_partitions(
            conn, odoo_fatura_linha, scope, rows, {}, asset="a", partition_keys={DAY: "k"}, run_id="r"
        ).values()
        return counts


def test_staging_mirror_skips_unchanged_lines(db):
    def stamps() -> dict[int, tuple]:
        with db.connect() as conn:
            rows = conn.execute(text("SELECT odoo_line_id, xmin::text::bigint, staged_at FROM odoo_fatura_linha"))
            return {line: (xmin, staged) for line, xmin, staged in rows}

    assert _mirror(db, [_line(1, "2"), _line(2, "3")])["inserted"] == 2
    before = stamps()
    counts = _mirror(db, [_line(1, "2"), _line(2, "3")])
    assert (counts["inserted"], counts["updated"], counts["deleted"]) == (0, 0, 0)
    assert stamps() == before
    counts = _mirror(db, [_line(1, "2"), _line(2, "4")])
    assert (counts["inserted"], counts["updated"], counts["deleted"]) == (0, 1, 0)
    after = stamps()
    assert after[1] == before[1] and after[2][1] > before[2][1]


class _OdooThatChecksThePool:
    """Answers the reconciliation as an Odoo that deleted everything, and records how many pooled
    connections were checked out at each call (the reconciliation of the same change as the upsert:
    its SQL moved to db/reconcile.py, read in connections of its own)."""

    def __init__(self, engine):
        self.engine, self.checked_out = engine, []

    def group_counts(self, model, domain, groupby, context=None):  # noqa: ARG002
        self.checked_out.append(self.engine.pool.checkedout())
        return []

    def search(self, model, domain):  # noqa: ARG002
        self.checked_out.append(self.engine.pool.checkedout())
        return []


def test_reconcile_holds_no_connection_while_odoo_answers(db):
    from sync_pipeline.odoo.reconcile import reconcile

    _mirror(db, [_line(1, "2")])
    odoo = _OdooThatChecksThePool(db)
    (report,) = reconcile(odoo, db, {"EMP": 1}, tz="UTC")
    assert report.kinds["account.move"].gone == {1}
    assert report.partitions == {("EMP", DAY): {("account.move", 1)}}
    assert len(odoo.checked_out) >= 4 and set(odoo.checked_out) == {0}


def _saldo_inputs(engine) -> None:
    """Two open lines of one partition: P1/X invoiced 4 with 3 in separação, P2/Y with 2 pré-separadas."""
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO odoo_pedido_linha (odoo_line_id, odoo_order_id, empreendimento, partition_date,
                    num_pedido, order_state, data_pedido, cod_produto, qtd_produto_pedido)
                VALUES (1, 1, 'EMP', :day, 'P1', 'sale', :day, 'X', 10),
                       (2, 2, 'EMP', :day, 'P2', 'sale', :day, 'Y', 5);
                INSERT INTO carteira_principal (empreendimento, num_pedido, cod_produto, data_pedido,
                    qtd_produto_pedido, qtd_saldo_produto_pedido)
                VALUES ('EMP', 'P1', 'X', :day, 10, 6), ('EMP', 'P2', 'Y', :day, 5, 5);
                INSERT INTO faturamento_produto (empreendimento, numero_nf, data_fatura, origem, cod_produto,
                    qtd_produto_faturado, status_nf, odoo_move_id)
                VALUES ('EMP', 'NF-1', :day, 'P1', 'X', 4, 'Lançado', 1);
                INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status)
                VALUES ('L1', 'P1', 'X', 3, 'ABERTO');
                INSERT INTO pre_separacao_item (num_pedido, cod_produto, qtd_selecionada_usuario)
                VALUES ('P2', 'Y', 2);
                """
            ),
            {"day": DAY},
        )


_SALDO_TABLES = ("faturado_por_pedido", "separado_por_pedido", "carteira_saldo")


def _refresh_saldos(engine) -> dict[str, int]:
    """The three refreshes of a carteira partition, in one transaction: rows written per table."""
    scope = Scope.single("EMP", DAY, first=False)
    with _statements(engine) as sent, engine.begin() as conn:
        written = {
            "faturado_por_pedido": refresh_faturado(conn, scope)[DAY]["rows_written"],
            "separado_por_pedido": refresh_separado(conn, scope)[DAY]["rows_written"],
            "carteira_saldo": refresh_saldos(conn, scope)[DAY]["rows_written"],
        }
    assert len(sent) == 3  # one statement each
    return written


def _row_versions(engine) -> dict[str, dict[tuple[str, str], tuple]]:
    """Per table and key: xmin (last writer), xmax (0: never locked since) and updated_at."""
    with engine.connect() as conn:
        return {
            t: {
                (pedido, produto): rest
                for pedido, produto, *rest in conn.execute(
                    text(f"SELECT num_pedido, cod_produto, xmin::text, xmax::text, updated_at FROM {t}")
                )
            }
            for t in _SALDO_TABLES
        }


def test_saldo_refreshes_leave_unchanged_rows_alone(db):
    _saldo_inputs(db)
    assert _refresh_saldos(db) == {"faturado_por_pedido": 1, "separado_por_pedido": 2, "carteira_saldo": 2}
    saldos = "SELECT num_pedido, qtd_faturada, qtd_em_separacao, qtd_pre_separada, saldo_livre FROM carteira_saldo"
    with db.connect() as conn:
        assert sorted(conn.execute(text(saldos)).all()) == [
            ("P1", Decimal("4.000"), Decimal("3.000"), Decimal("0.000"), Decimal("3.000")),
            ("P2", Decimal("0.000"), Decimal("0.000"), Decimal("2.000"), Decimal("3.000")),
        ]
    before = _row_versions(db)
    assert {xmax for rows in before.values() for _, xmax, _ in rows.values()} == {"0"}

    # a re-run writes nothing: same xmin and updated_at, and no row locked (xmax still 0)
    assert _refresh_saldos(db) == dict.fromkeys(_SALDO_TABLES, 0)
    assert _row_versions(db) == before

    # a new invoice of P1/X moves its rows, and only those
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO faturamento_produto (empreendimento, numero_nf, data_fatura, origem, cod_produto, "
                "qtd_produto_faturado, status_nf, odoo_move_id) "
                "VALUES ('EMP', 'NF-2', :day, 'P1', 'X', 1, 'Lançado', 2)"
            ),
            {"day": DAY},
        )
    assert _refresh_saldos(db) == {"faturado_por_pedido": 1, "separado_por_pedido": 0, "carteira_saldo": 1}
    after = _row_versions(db)
    assert after["separado_por_pedido"] == before["separado_por_pedido"]
    assert after["carteira_saldo"][("P2", "Y")] == before["carteira_saldo"][("P2", "Y")]
    for t in ("faturado_por_pedido", "carteira_saldo"):
        assert after[t][("P1", "X")][0] != before[t][("P1", "X")][0]
        assert after[t][("P1", "X")][2] > before[t][("P1", "X")][2]
