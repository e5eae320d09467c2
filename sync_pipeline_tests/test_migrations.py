"""Migrations (sync_pipeline.db.migrate) on the real PostgreSQL, each test in a schema of its own.

Every test builds what a user's database may hold — nothing, a database created by ``create_all``
at commit f13f814 with data, one deployed before ``staged_at``, the operational application's own
tables and ``alembic_version`` — upgrades it and looks at what is there afterwards.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from sync_pipeline import cli
from sync_pipeline.db import migrate
from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.schema import create_schema, metadata
from sync_pipeline.settings import normalize_pg_url
from sync_pipeline_tests.fixtures import schema_f13f814 as f13f814

BASELINE = "0001_baseline"
VERSION_TABLE = "sync_pipeline_alembic_version"


# --- a schema per test ---------------------------------------------------------------------------


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{normalize_pg_url(url)}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def schema_name(database_url) -> Iterator[str]:
    """A PostgreSQL schema created for the test and dropped afterwards."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    admin = get_engine(database_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    yield name
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))


@pytest.fixture
def engine(database_url, schema_name) -> Iterator[Engine]:
    """Connections whose search_path is the test's schema alone (its current schema)."""
    eng = sa.create_engine(_with_search_path(database_url, schema_name), poolclass=NullPool)
    yield eng
    eng.dispose()


def _tables(conn: Connection) -> set[str]:
    return migrate.table_names(conn)


def _columns(conn: Connection, table: str) -> dict[str, tuple]:
    rows = conn.execute(
        sa.text(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :t"
        ),
        {"t": table},
    )
    return {r.column_name: (r.data_type, r.is_nullable, r.column_default) for r in rows}


def _indexes(conn: Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"),
        {"t": table},
    )
    return {r.indexname: r.indexdef for r in rows}


def _snapshot(conn: Connection) -> dict[str, tuple]:
    """Every table of the schema: its columns, indexes and constraints."""
    constraints = conn.execute(
        sa.text(
            "SELECT t.relname AS table_name, c.conname, pg_get_constraintdef(c.oid) AS definition "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "WHERE c.connamespace = current_schema()::regnamespace"
        )
    ).all()
    return {
        t: (
            _columns(conn, t),
            _indexes(conn, t),
            sorted((c.conname, c.definition) for c in constraints if c.table_name == t),
        )
        for t in sorted(_tables(conn))
    }


def _schema_differences(conn: Connection, target: sa.MetaData) -> list:
    """What Alembic's autogenerate would change to make the database match ``target``."""

    def include(name, type_, *_args) -> bool:
        return not (type_ == "table" and name == VERSION_TABLE)

    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include})
    return compare_metadata(context, target)


def _rows(conn: Connection, table: sa.Table) -> list[tuple]:
    """The table's rows, in the columns of ``table`` (a definition of an earlier schema)."""
    key = list(table.primary_key.columns) or list(table.columns)
    return [tuple(r) for r in conn.execute(sa.select(*table.columns).order_by(*key))]


# --- (a) an empty database -----------------------------------------------------------------------


def test_fresh_database_has_the_schema(engine):
    applied = migrate.upgrade(engine)

    assert applied[0] == BASELINE and applied[-1] == migrate.head()
    with engine.connect() as conn:
        tables = _tables(conn)
        assert set(metadata.tables) | {VERSION_TABLE} == tables
        assert "alembic_version" not in tables
        for table in metadata.sorted_tables:
            assert set(table.columns.keys()) <= set(_columns(conn, table.name)), table.name
        # types, nullability, keys and indexes too: db/schema.py and the revisions agree
        assert _schema_differences(conn, metadata) == []
        assert migrate.current(conn) == migrate.head()
        assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all() == [migrate.head()]


def test_baseline_is_the_f13f814_schema(engine):
    assert migrate.upgrade(engine, BASELINE) == [BASELINE]
    with engine.connect() as conn:
        assert _schema_differences(conn, f13f814.metadata) == []
        assert migrate.current(conn) == BASELINE


def test_version_table_is_in_the_current_schema_only(engine, schema_name, database_url):
    migrate.upgrade(engine)
    with get_engine(database_url).connect() as conn:
        schemas = conn.execute(
            sa.text("SELECT schemaname FROM pg_tables WHERE tablename = :t AND schemaname = :s"),
            {"t": VERSION_TABLE, "s": schema_name},
        ).scalars()
        assert list(schemas) == [schema_name]


def test_create_schema_returns_the_tables_it_created(engine):
    with engine.begin() as conn:
        assert sorted(create_schema(conn)) == sorted(metadata.tables)
    with engine.begin() as conn:
        assert create_schema(conn) == []


# --- (b) a database created at f13f814, with data -------------------------------------------------

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def _f13f814_rows() -> dict[sa.Table, list[dict]]:
    nf = dict(cnpj_cliente="12345678000199", nome_cliente="Cliente A", municipio="Campinas", estado="SP")
    return {
        f13f814.odoo_fatura_linha: [
            dict(
                odoo_line_id=501,
                odoo_move_id=50,
                empreendimento="empresa-1",
                partition_date=date(2026, 11, 3),
                numero_nf="NF-0001",
                move_state="posted",
                data_fatura=date(2026, 11, 3),
                **nf,
                origem="S00010",
                cod_produto="P1",
                quantidade=Decimal("5.000"),
                preco_unitario=Decimal("10.5000"),
                valor_total=Decimal("52.50"),
                peso_unitario=Decimal("1.250"),
                staged_at=NOW,
            )
        ],
        f13f814.odoo_pedido_linha: [
            dict(
                odoo_line_id=101,
                odoo_order_id=10,
                empreendimento="empresa-1",
                partition_date=date(2026, 11, 1),
                num_pedido="S00010",
                order_state="sale",
                cod_produto="P1",
                qtd_produto_pedido=Decimal("8.000"),
                staged_at=NOW,
            )
        ],
        f13f814.faturamento_produto: [
            dict(
                id=1,
                empreendimento="empresa-1",
                numero_nf="NF-0001",
                data_fatura=date(2026, 11, 3),
                **nf,
                origem="S00010",
                cod_produto="P1",
                qtd_produto_faturado=Decimal("5.000"),
                preco_produto_faturado=Decimal("10.5000"),
                valor_produto_faturado=Decimal("52.50"),
                status_nf="Lançado",
                odoo_move_id=50,
                created_at=NOW,
                updated_at=NOW,
            )
        ],
        f13f814.relatorio_faturamento_importado: [
            dict(
                id=1,
                numero_nf="NF-0001",
                odoo_move_id=50,
                empreendimento="empresa-1",
                **nf,
                valor_total=Decimal("52.50"),
                peso_bruto=Decimal("6.250"),
                status_nf="Lançado",
                created_at=NOW,
                updated_at=NOW,
            )
        ],
        f13f814.cadastro_palletizacao: [
            dict(
                id=1,
                cod_produto="P1",
                palletizacao=Decimal("40.000"),
                peso_bruto=Decimal("1.250"),
                created_at=NOW,
                updated_at=NOW,
            )
        ],
        f13f814.separacao: [
            dict(
                id=1,
                separacao_lote_id="LOTE-1",
                num_pedido="S00010",
                cod_produto="P1",
                qtd_saldo=Decimal("3.000"),
                status="COTADO",
                criado_em=NOW,
            )
        ],
        f13f814.carteira_principal: [
            dict(
                id=1,
                empreendimento="empresa-1",
                num_pedido="S00010",
                cod_produto="P1",
                qtd_produto_pedido=Decimal("8.000"),
                qtd_saldo_produto_pedido=Decimal("3.000"),
                created_at=NOW,
                updated_at=NOW,
            )
        ],
        f13f814.carteira_saldo: [
            dict(
                num_pedido="S00010",
                cod_produto="P1",
                empreendimento="empresa-1",
                qtd_produto_pedido=Decimal("8.000"),
                qtd_faturada=Decimal("5.000"),
                qtd_saldo_produto_pedido=Decimal("3.000"),
                qtd_em_separacao=Decimal("3.000"),
                qtd_pre_separada=Decimal("0.000"),
                saldo_livre=Decimal("0.000"),
                created_at=NOW,
                updated_at=NOW,
            )
        ],
        f13f814.carteira_diff: [
            dict(
                id=1,
                run_id="run-1",
                partition_key="2026-11-03|empresa-1",
                num_pedido="S00010",
                cod_produto="P1",
                tipo="REDUCAO",
                qtd_antes=Decimal("4.000"),
                qtd_depois=Decimal("3.000"),
                delta=Decimal("-1.000"),
                created_at=NOW,
            )
        ],
        f13f814.alerta_separacao_cotada: [
            dict(
                id=1,
                separacao_lote_id="LOTE-1",
                num_pedido="S00010",
                cod_produto="P1",
                tipo_alteracao="REDUCAO",
                qtd_anterior=Decimal("4.000"),
                qtd_nova=Decimal("3.000"),
                run_id="run-1",
                criado_em=NOW,
            )
        ],
        f13f814.sync_rejeitado: [
            dict(
                id=1,
                model="account.move.line",
                odoo_id=777,
                rule="sem_produto",
                message="line without product",
                asset="faturamento_produto",
                partition_key="2026-11-03|empresa-1",
                run_id="run-1",
                payload={"name": "Frete"},
                created_at=NOW,
            )
        ],
    }


def test_f13f814_database_with_data_upgrades_intact(engine):
    rows = _f13f814_rows()
    with engine.begin() as conn:
        f13f814.create_schema(conn)  # as a deployment of commit f13f814 created it
        for table, values in rows.items():
            conn.execute(sa.insert(table), values)
    with engine.connect() as conn:
        before = _snapshot(conn)
        data = {table.name: _rows(conn, table) for table in rows}
        assert migrate.current(conn) is None

    # recognised: the baseline finds every table there, creates nothing and records itself
    assert migrate.upgrade(engine, BASELINE) == [BASELINE]
    with engine.connect() as conn:
        after = _snapshot(conn)
        assert after.pop(VERSION_TABLE)
        assert after == before
        assert migrate.current(conn) == BASELINE

    applied = migrate.upgrade(engine)
    assert applied == [] or applied[-1] == migrate.head()
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
        assert {table.name: _rows(conn, table) for table in rows} == data
        assert "alembic_version" not in _tables(conn)

    # the key change of 0002: the same numbers in another empreendimento are rows of their own now
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO faturamento_produto (id, empreendimento, numero_nf, cod_produto, origem,"
                " qtd_produto_faturado, status_nf, odoo_move_id)"
                " VALUES (2, 'empresa-2', 'NF-0001', 'P1', 'S00010', 1, 'Lançado', 51)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO relatorio_faturamento_importado (id, numero_nf, odoo_move_id, empreendimento, valor_total,"
                " peso_bruto, status_nf) VALUES (2, 'NF-0001', 51, 'empresa-2', 1, 1, 'Lançado')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO carteira_principal (id, empreendimento, num_pedido, cod_produto, qtd_produto_pedido,"
                " qtd_saldo_produto_pedido) VALUES (2, 'empresa-2', 'S00010', 'P1', 2, 2)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO carteira_saldo (empreendimento, num_pedido, cod_produto, qtd_produto_pedido, qtd_faturada,"
                " qtd_saldo_produto_pedido, qtd_em_separacao, qtd_pre_separada, saldo_livre)"
                " VALUES ('empresa-2', 'S00010', 'P1', 2, 0, 2, 0, 0, 2)"
            )
        )
        # one NF invoicing two orders: one row per order of a product
        conn.execute(
            sa.text(
                "INSERT INTO faturamento_produto (id, empreendimento, numero_nf, cod_produto, origem,"
                " qtd_produto_faturado, status_nf, odoo_move_id)"
                " VALUES (3, 'empresa-1', 'NF-0001', 'P1', 'S00011', 2, 'Lançado', 50)"
            )
        )
        counts = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM faturamento_produto WHERE numero_nf = 'NF-0001'),"
                " (SELECT count(*) FROM carteira_principal WHERE num_pedido = 'S00010'),"
                " (SELECT min(move_type) FROM faturamento_produto)"
            )
        ).one()
        assert tuple(counts) == (3, 2, "out_invoice")
        # the old rows' diffs and alerts name their empreendimento (from the partition key, the run's diffs)
        named = conn.execute(
            sa.text(
                "SELECT (SELECT array_agg(DISTINCT empreendimento) FROM carteira_diff),"
                " (SELECT array_agg(DISTINCT empreendimento) FROM alerta_separacao_cotada)"
            )
        ).one()
        assert tuple(named) == (["empresa-1"], ["empresa-1"])


# --- (c) the operational application's tables, with more columns ---------------------------------


def test_operational_tables_with_extra_columns_keep_them(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                CREATE TABLE separacao (
                    id serial PRIMARY KEY,
                    separacao_lote_id varchar(64) NOT NULL,
                    num_pedido varchar(64) NOT NULL,
                    cod_produto varchar(64) NOT NULL,
                    qtd_saldo numeric(15, 3) NOT NULL,
                    status varchar(20) NOT NULL DEFAULT 'ABERTO',
                    tipo_envio varchar(10) DEFAULT 'total',
                    sincronizado_nf boolean NOT NULL DEFAULT false,
                    numero_nf varchar(64),
                    criado_em timestamptz DEFAULT now(),
                    observacao text,
                    rota varchar(20) NOT NULL DEFAULT 'SUL'
                );
                CREATE INDEX app_separacao_pedido ON separacao (num_pedido, cod_produto);
                INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, observacao)
                VALUES ('LOTE-9', 'S00099', 'P9', 12, 'COTADO', 'entregar pela manhã');
                CREATE TABLE cadastro_palletizacao (
                    id serial PRIMARY KEY,
                    cod_produto varchar(64) NOT NULL,
                    nome_produto varchar(255),
                    palletizacao numeric(15, 3) NOT NULL,
                    peso_bruto numeric(15, 3) NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    ean varchar(14)
                );
                CREATE UNIQUE INDEX app_palletizacao_produto ON cadastro_palletizacao (cod_produto);
                INSERT INTO cadastro_palletizacao (cod_produto, palletizacao, peso_bruto, ean)
                VALUES ('P9', 40, 1.5, '7891234567895');
                """
            )
        )
    with engine.connect() as conn:
        sep_columns = _columns(conn, "separacao")

    migrate.upgrade(engine)

    with engine.connect() as conn:
        columns = _columns(conn, "separacao")
        assert {c: columns[c] for c in sep_columns} == sep_columns  # nothing of the app's altered
        row = conn.execute(sa.text("SELECT num_pedido, qtd_saldo, observacao, rota FROM separacao")).one()
        assert tuple(row) == ("S00099", Decimal("12.000"), "entregar pela manhã", "SUL")
        assert "ean" in _columns(conn, "cadastro_palletizacao")
        assert conn.execute(sa.text("SELECT cod_produto, ean FROM cadastro_palletizacao")).one() == (
            "P9",
            "7891234567895",
        )

        indexes = _indexes(conn, "separacao")
        # the app's index on (num_pedido, cod_produto) serves: no second one; the others are added
        assert "app_separacao_pedido" in indexes and "ix_separacao_pedido_produto" not in indexes
        assert {"ix_separacao_numero_nf", "ix_separacao_lote"} <= set(indexes)
        # the app's unique index is the key ON CONFLICT (cod_produto) needs: no second one
        assert set(_indexes(conn, "cadastro_palletizacao")) == {
            "cadastro_palletizacao_pkey",
            "app_palletizacao_produto",
        }
        # the other tables were created
        assert set(metadata.tables) <= _tables(conn)


def test_operational_table_without_a_key_gets_it(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE cadastro_palletizacao (id serial PRIMARY KEY, cod_produto varchar(64) NOT NULL, "
                "nome_produto varchar(255), palletizacao numeric(15, 3) NOT NULL, peso_bruto numeric(15, 3) NOT NULL, "
                "created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())"
            )
        )
    migrate.upgrade(engine, BASELINE)
    with engine.connect() as conn:
        assert "cadastro_palletizacao_cod_produto_key" in _indexes(conn, "cadastro_palletizacao")


def test_operational_table_lacking_a_named_column_stops_the_upgrade_naming_it(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE embarque_itens (id serial PRIMARY KEY, embarque_id integer, pedido varchar(64), "
                "status varchar(20) NOT NULL DEFAULT 'ativo')"
            )
        )
    with pytest.raises(RuntimeError, match="embarque_itens exists without column\\(s\\) nota_fiscal"):
        migrate.upgrade(engine)
    with engine.connect() as conn:  # rolled back whole: nothing half-done
        assert _tables(conn) == {"embarque_itens"}


# --- (d) staging tables deployed before commit 1dc8502 --------------------------------------------


def test_staging_tables_without_staged_at_get_it(engine):
    with engine.begin() as conn:
        f13f814.create_schema(conn)
        for name in ("odoo_fatura_linha", "odoo_pedido_linha"):
            conn.execute(sa.text(f"ALTER TABLE {name} DROP COLUMN staged_at"))
        conn.execute(sa.text("DROP TABLE carteira_saldo"))  # came after 1dc8502 too
        conn.execute(
            sa.text(
                "INSERT INTO odoo_pedido_linha (odoo_line_id, odoo_order_id, empreendimento, partition_date, "
                "num_pedido, order_state, cod_produto, qtd_produto_pedido) "
                "VALUES (101, 10, 'empresa-1', '2026-11-01', 'S00010', 'sale', 'P1', 8)"
            )
        )
        assert "staged_at" not in _columns(conn, "odoo_pedido_linha")

    started = datetime.now(UTC)
    migrate.upgrade(engine)

    with engine.connect() as conn:
        for name in ("odoo_fatura_linha", "odoo_pedido_linha"):
            data_type, nullable, default = _columns(conn, name)["staged_at"]
            assert (data_type, nullable, default) == ("timestamp with time zone", "NO", "now()")
        row = conn.execute(sa.text("SELECT num_pedido, qtd_produto_pedido, staged_at FROM odoo_pedido_linha")).one()
        assert row.num_pedido == "S00010" and row.qtd_produto_pedido == Decimal("8.000")
        assert row.staged_at >= started - timedelta(seconds=1)  # stamped at the upgrade
        assert "carteira_saldo" in _tables(conn)


# --- (e) twice -----------------------------------------------------------------------------------


def test_financeiro_ledger_is_filled_from_the_staging_as_it_stands(engine):
    """0005: each staged financeiro partition enters ``financeiro_particao`` with the earliest
    month its rows touch (issue, due or payment date), so a row leaving staging after the upgrade
    still has its months recomputed."""
    assert migrate.upgrade(engine, "0004_financeiro")[-1] == "0004_financeiro"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO odoo_financeiro_parcela (odoo_line_id, odoo_move_id, empreendimento, partition_date, "
                "tipo, move_type, move_state, data_emissao, data_vencimento, valor_original, valor_residual) VALUES "
                "(1, 10, 'empresa-1', '2025-03-10', 'RECEBER', 'out_invoice', 'posted', '2025-03-10', '2025-04-09', "
                "100, 100), "
                "(2, 11, 'empresa-1', '2025-03-12', 'AVULSO', 'entry', 'posted', '2025-03-12', NULL, 50, 50), "
                "(3, 12, 'empresa-2', '2025-05-02', 'PAGAR', 'in_invoice', 'posted', '2025-05-02', '2025-06-01', "
                "70, 70)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO odoo_financeiro_pagamento (odoo_partial_id, odoo_line_id, empreendimento, "
                "partition_date, valor, data, em_caixa) "
                "VALUES (7, 3, 'empresa-2', '2025-05-02', 70, '2025-04-28', true)"
            )
        )
    assert migrate.upgrade(engine, "0005_financeiro_particao") == ["0005_financeiro_particao"]
    with engine.connect() as conn:
        ledger = conn.execute(
            sa.text("SELECT empreendimento, partition_date, primeiro_mes FROM financeiro_particao ORDER BY 1, 2")
        ).all()
    assert [tuple(r) for r in ledger] == [
        ("empresa-1", date(2025, 3, 10), date(2025, 3, 1)),
        ("empresa-1", date(2025, 3, 12), date(2025, 3, 1)),
        ("empresa-2", date(2025, 5, 2), date(2025, 4, 1)),  # a payment dated in April
    ]


def test_upgrade_twice_is_a_noop(engine):
    assert migrate.upgrade(engine)
    with engine.connect() as conn:
        before = _snapshot(conn)

    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert migrate.upgrade(engine) == []
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

    writes = [s for s in statements if s.lstrip().split(None, 1)[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT"}]
    assert writes == [] and statements  # it looked, and wrote nothing
    with engine.connect() as conn:
        assert _snapshot(conn) == before


# --- (f) the operational application's own Alembic ------------------------------------------------


def test_the_other_apps_alembic_version_is_untouched(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('3f9c2a1b7d4e')"))  # unknown to us
        before = (_columns(conn, "alembic_version"), _indexes(conn, "alembic_version"))

    migrate.upgrade(engine)
    migrate.upgrade(engine)

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["3f9c2a1b7d4e"]
        assert (_columns(conn, "alembic_version"), _indexes(conn, "alembic_version")) == before
        assert migrate.current(conn) == migrate.head()


# --- two first runs ------------------------------------------------------------------------------


def test_two_first_runs_starting_together_migrate_once(engine):
    results: dict[str, object] = {}
    with engine.connect() as first:
        with first.begin():
            assert migrate.upgrade(first)[0] == BASELINE  # not committed yet: the lock is held
            second = threading.Thread(target=lambda: results.setdefault("second", migrate.upgrade(engine)))
            second.start()
            time.sleep(0.5)
            assert second.is_alive()  # waiting on the schema lock held by the first run
        second.join(timeout=30)
    assert results["second"] == []
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()


# --- the scripts ---------------------------------------------------------------------------------


def test_revisions_form_one_line_named_by_their_files():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_heads() == [migrate.head()]
    revisions = list(script.walk_revisions())  # newest first
    assert revisions[-1].revision == BASELINE and revisions[-1].down_revision is None
    for newer, older in zip(revisions, revisions[1:], strict=False):
        assert newer.down_revision == older.revision
    for rev in revisions:
        assert Path(rev.path).stem == rev.revision
        source = Path(rev.path).read_text()
        assert "db.schema" not in source and "db import schema" not in source, f"{rev.revision} is not frozen"


def test_cli_db_upgrade_and_init(monkeypatch, capsys, database_url, schema_name):
    url = _with_search_path(database_url, schema_name)
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        assert cli.main(["db", "current"]) == 0
        assert "current revision: none" in capsys.readouterr().out
        assert cli.main(["db", "upgrade"]) == 0
        out = capsys.readouterr().out
        assert f"revisions applied: {BASELINE}" in out and f"current revision: {migrate.head()}" in out
        assert cli.main(["db", "init"]) == 0
        out = capsys.readouterr().out
        assert "revisions applied: none" in out and f"current revision: {migrate.head()}" in out
    finally:
        get_engine(url).dispose()
