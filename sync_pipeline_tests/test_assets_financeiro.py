"""The financeiro graph end to end: simulator over HTTP → Dagster → real PostgreSQL.

A hand-built contract (three instalments: one paid early, one late, one open), a vendor bill on two
expense accounts (paid) and an unmatched customer payment, in a company of their own, give exact rows
of every table; a generated data set equals the oracle computed straight from the simulator's store.
The runs select the financeiro assets only (the rest of sync_job has its own tests).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

from dagster import AssetSelection, Definitions, build_sensor_context, define_asset_job, instance_for_test
from sqlalchemy import text

from sync_pipeline.definitions import ASSETS
from sync_pipeline.domain import financeiro as f
from sync_pipeline.partitions import SyncPartition, empreendimento_key, last_day
from sync_pipeline.sensors import financeiro_sensor, invoice_sensor
from sync_pipeline.simulator.generator import add_invoice, add_payment
from sync_pipeline_tests.oracle_financeiro import TABLE_KEYS, expected_financeiro
from sync_pipeline_tests.support import START, empreendimentos, partition_metadata, resources, table_rows

TABLES = TABLE_KEYS
ASSET_NAMES = ("odoo_financeiro", *TABLES)


def _job(res: dict):
    job = define_asset_job("financeiro_job", selection=AssetSelection.groups("financeiro"))
    return Definitions(assets=ASSETS, jobs=[job], resources=res).resolve_job_def("financeiro_job")


def _sync(instance, res, emp: str, first: date, last: date):
    if emp not in set(instance.get_dynamic_partitions("empreendimento")):
        instance.add_dynamic_partitions("empreendimento", [emp])
    result = _job(res).execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": SyncPartition(emp, first).key,
            "dagster/asset_partition_range_end": SyncPartition(emp, last).key,
        },
    )
    assert result.success
    return result


def _rows(engine, table: str, emp: str | None = None) -> list[dict]:
    where = "WHERE empreendimento = :emp" if emp else ""
    rows = table_rows(engine, f"SELECT * FROM {table} {where} ORDER BY {TABLES[table]}", emp=emp)
    return [{k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in rows]


def _versions(engine, table: str) -> dict[tuple, str]:
    """Each row's key and row version (xmin): a row rewritten, even with equal values, changes it."""
    rows = table_rows(engine, f"SELECT {TABLES[table]}, xmin::text AS v FROM {table}")
    return {tuple(v for k, v in r.items() if k != "v"): r["v"] for r in rows}


def _oracle_of(handle, emp: str) -> dict[str, list[dict]]:
    expected = expected_financeiro(handle.sim, today=last_day())
    return {t: [r for r in rows if r["empreendimento"] == emp] for t, rows in expected.items()}


# --- the hand-built case ---------------------------------------------------------------------------
INVOICE_DAY, BILL_DAY, LAST_DAY = date(2025, 1, 10), date(2025, 1, 15), date(2025, 1, 20)


def _hand_built(handle) -> dict:
    """A company of its own with: a 900 invoice on 40/30/30 % at 30/60/90 days, its first instalment
    paid early (Jan 25, due Feb 9) and its second late (Apr 5, due Mar 11), the third open (due Apr
    10); a 1000 vendor bill (600 freight, 400 goods) paid on Feb 3; a 150 customer payment matched to
    nothing on Jan 20."""
    call = handle.call
    company = call("res.company", "create", {"name": "Empreendimento Teste"})
    partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
    product = handle.sim.rows("product.product")[0]["id"]
    term = call(
        "account.payment.term",
        "create",
        {
            "name": "30/60/90",
            "line_ids": [
                (0, 0, {"value_amount": pct, "nb_days": days}) for pct, days in ((40, 30), (30, 60), (30, 90))
            ],
        },
    )
    invoice = add_invoice(
        handle.sim, company, partner, [(product, 1, 900.0, None)], INVOICE_DAY.isoformat(), invoice_payment_term_id=term
    )
    add_payment(handle.sim, invoice, 360.0, "2025-01-25")
    add_payment(handle.sim, invoice, 270.0, "2025-04-05")
    goods = call("account.account", "search", [("company_id", "=", company), ("account_type", "=", "expense")])[0]
    freight = call(
        "account.account",
        "create",
        {"code": "4.2.1.01", "name": "Fretes", "account_type": "expense", "company_id": company},
    )
    bill = call(
        "account.move",
        "create",
        {
            "move_type": "in_invoice",
            "partner_id": partner,
            "company_id": company,
            "invoice_date": BILL_DAY.isoformat(),
            "invoice_line_ids": [
                (0, 0, {"name": "Frete", "account_id": freight, "quantity": 1, "price_unit": 600.0}),
                (0, 0, {"name": "Mercadoria", "account_id": goods, "quantity": 1, "price_unit": 400.0}),
            ],
        },
    )
    call("account.move", "action_post", [bill])
    add_payment(handle.sim, bill, 1000.0, "2025-02-03")
    payment = call(
        "account.payment",
        "create",
        {
            "payment_type": "inbound",
            "partner_type": "customer",
            "partner_id": partner,
            "company_id": company,
            "amount": 150.0,
            "date": "2025-01-20",
        },
    )
    call("account.payment", "action_post", [payment])
    lines = sorted(
        (ln for ln in handle.sim.rows("account.move.line") if ln["move_id"] == invoice),
        key=lambda ln: ln["id"],
    )
    terms = [ln["id"] for ln in lines if ln["display_type"] == "payment_term"]
    return {"company": company, "emp": empreendimento_key(company), "invoice": invoice, "bill": bill, "terms": terms}


def _m(month: int, year: int = 2025) -> date:
    return date(year, month, 1)


def test_hand_built_contract_bill_and_payment_give_exact_rows_and_a_rerun_writes_nothing(db, database_url, simulator):
    handle = simulator(seed=2, scale=0.1, days=1, companies=1)
    case = _hand_built(handle)
    emp, (t1, t2, t3) = case["emp"], case["terms"]
    res = resources(handle, database_url)
    number = next(m["name"] for m in handle.sim.rows("account.move") if m["id"] == case["invoice"])
    with instance_for_test() as instance:
        _sync(instance, res, emp, INVOICE_DAY, LAST_DAY)
        today = last_day()

        common = dict(empreendimento=emp, partition_date=INVOICE_DAY, odoo_move_id=case["invoice"], numero_nf=number)
        common["num_pedido"] = None
        assert _rows(db, "parcelas") == [
            dict(odoo_line_id=t1, **common, numero_parcela=1, data_vencimento=date(2025, 2, 9),
                 valor_original=Decimal("360.00"), valor_pago=Decimal("360.00"),
                 data_ultimo_pagamento=date(2025, 1, 25), valor_residual=Decimal("0.00"), status="PAGA"),
            dict(odoo_line_id=t2, **common, numero_parcela=2, data_vencimento=date(2025, 3, 11),
                 valor_original=Decimal("270.00"), valor_pago=Decimal("270.00"),
                 data_ultimo_pagamento=date(2025, 4, 5), valor_residual=Decimal("0.00"), status="PAGA"),
            dict(odoo_line_id=t3, **common, numero_parcela=3, data_vencimento=date(2025, 4, 10),
                 valor_original=Decimal("270.00"), valor_pago=Decimal("0.00"),
                 data_ultimo_pagamento=None, valor_residual=Decimal("270.00"), status="VENCIDA"),
        ]  # fmt: skip
        money = Decimal

        def cash(month, categoria, previsto, realizado):
            return dict(empreendimento=emp, ref_month=month, categoria=categoria, previsto=money(previsto),
                        realizado=money(realizado))  # fmt: skip

        assert _rows(db, "entradas_caixa") == [
            cash(_m(1), "ANTECIPACOES", "0.00", "360.00"),  # instalment 1, due in February, paid Jan 25
            cash(_m(1), "OUTRAS", "0.00", "150.00"),  # the payment matched to nothing
            cash(_m(2), "ATIVOS", "360.00", "0.00"),
            cash(_m(3), "ATIVOS", "270.00", "0.00"),
            cash(_m(4), "ATIVOS", "270.00", "0.00"),
            cash(_m(4), "RECUPERACOES", "0.00", "270.00"),  # instalment 2, due in March, paid Apr 5
        ]
        freight = "4.2.1.01 Fretes"  # 600 of the bill's 1000
        assert _rows(db, "saidas_caixa") == [
            dict(empreendimento=emp, ref_month=_m(1), categoria=freight, orcamento=money("1000.00"), realizado=0),
            dict(empreendimento=emp, ref_month=_m(2), categoria=freight, orcamento=0, realizado=money("1000.00")),
        ]
        portfolio = {r["ref_month"]: r for r in _rows(db, "estatisticas_portfolio")}
        assert min(portfolio) == _m(1) and max(portfolio) == today.replace(day=1)
        jan = portfolio[_m(1)]
        # as of Jan 31: instalment 1 paid; 270 due in 39 days and 270 in 69 days
        pv = [f.present_value(Decimal(270), 39), f.present_value(Decimal(270), 69)]
        assert jan == dict(
            empreendimento=emp,
            ref_month=_m(1),
            as_of=date(2025, 1, 31),
            valor_presente=f.money(sum(pv)),
            saldo_aberto=Decimal("540.00"),
            total_contratos=1,
            contratos_ativos=1,
            prazo_medio_meses=f.rounded(f.remaining_months(date(2025, 4, 10), date(2025, 1, 31)), 2),
            duration_anos=f.rounded(f.macaulay_duration([(Decimal(270), 39), (Decimal(270), 69)]), 4),
        )
        assert jan["prazo_medio_meses"] == Decimal("2.27")
        # as of Mar 31 instalment 2 (paid Apr 5) is 20 days overdue: history as of then, not today's
        assert portfolio[_m(3)]["saldo_aberto"] == Decimal("540.00")
        overdue = {r["ref_month"]: r for r in _rows(db, "inadimplencia")}
        assert (overdue[_m(2)]["total_vencido"], overdue[_m(3)]["ate_30"]) == (0, Decimal("270.00"))
        assert overdue[_m(4)]["ate_30"] == Decimal("270.00")  # now instalment 3, 20 days
        assert overdue[_m(5)]["de_31_a_60"] == Decimal("270.00")  # 51 days
        assert overdue[_m(9)]["de_91_a_180"] == Decimal("270.00")  # 173 days
        assert overdue[_m(10)]["acima_180"] == Decimal("270.00")
        assert (overdue[_m(10)]["parcelas_vencidas"], overdue[_m(10)]["contratos_inadimplentes"]) == (1, 1)

        # and every table equals the oracle's computation from the simulator's store
        for table, rows in _oracle_of(handle, emp).items():
            assert _rows(db, table, emp) == rows, table

        # metadata a finance user reads: the month's figures
        key = SyncPartition(emp, INVOICE_DAY).key
        md = partition_metadata(instance, "entradas_caixa", key)
        assert (md["month"], md["entradas_realizado_antecipacoes"], md["entradas_realizado_outras"]) == (
            "2025-01",
            360.0,
            150.0,
        )
        assert partition_metadata(instance, "parcelas", key)["rows_inserted"] == 3

        # a second run writes no row
        before = {t: _versions(db, t) for t in TABLES}
        _sync(instance, res, emp, INVOICE_DAY, LAST_DAY)
        assert {t: _versions(db, t) for t in TABLES} == before
        first_day = SyncPartition(emp, INVOICE_DAY).key
        for asset in TABLES:
            md = partition_metadata(instance, asset, first_day)
            assert (md.get("rows_inserted"), md.get("rows_updated"), md.get("rows_deleted")) == (0, 0, 0), asset
        md = partition_metadata(instance, "odoo_financeiro", key)
        assert (md["rows_inserted"], md["rows_updated"], md["rows_deleted"], md["related_rows_written"]) == (0, 0, 0, 0)


def test_a_payment_on_an_old_invoice_is_requested_by_the_sensor_and_changes_exactly_its_months(
    db, database_url, simulator
):
    handle = simulator(seed=2, scale=0.1, days=1, companies=1)
    case = _hand_built(handle)
    emp = case["emp"]
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        _sync(instance, res, emp, INVOICE_DAY, LAST_DAY)
        first = invoice_sensor(build_sensor_context(instance=instance, cursor=None, resources=res))
        before = {t: _versions(db, t) for t in TABLES}
        add_payment(handle.sim, case["invoice"], 270.0, "2025-06-10")  # instalment 3, due Apr 10: late
        tick = invoice_sensor(build_sensor_context(instance=instance, cursor=first.cursor, resources=res))
        assert [r.partition_key for r in tick.run_requests] == [SyncPartition(emp, INVOICE_DAY).key]
        _sync(instance, res, emp, INVOICE_DAY, INVOICE_DAY)
        after = {t: _versions(db, t) for t in TABLES}

    def changed(table):
        return sorted(k for k, v in after[table].items() if before[table].get(k) != v)

    assert changed("parcelas") == [(case["terms"][2],)]
    assert changed("entradas_caixa") == [(emp, _m(6), "RECUPERACOES")]
    assert changed("saidas_caixa") == []
    # open as of a month's end changes from June on only: the months before keep their rows
    months = sorted(m for _e, m in after["estatisticas_portfolio"])
    from_june = [(emp, m) for m in months if m >= _m(6)]
    assert changed("estatisticas_portfolio") == from_june
    assert changed("inadimplencia") == from_june
    assert _rows(db, "parcelas")[2]["status"] == "PAGA"
    for table, rows in _oracle_of(handle, emp).items():
        assert _rows(db, table, emp) == rows, table


def test_a_rejected_instalment_is_set_aside_with_its_rule_and_the_rest_commits(db, database_url, simulator):
    handle = simulator(seed=2, scale=0.1, days=1, companies=1)
    case = _hand_built(handle)
    emp, (t1, t2, t3) = case["emp"], case["terms"]
    lines = handle.sim.store["account.move.line"]
    with handle.sim._lock:  # a real Odoo's data broken by a module or a hand-made import
        lines.update(t1, {"date_maturity": False})
        lines.update(t3, {"amount_residual": 999.0})
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        _sync(instance, res, emp, INVOICE_DAY, LAST_DAY)
        md = partition_metadata(instance, "odoo_financeiro", SyncPartition(emp, INVOICE_DAY).key)
    rejects = table_rows(db, "SELECT odoo_id, rule, asset, partition_key FROM sync_rejeitado ORDER BY odoo_id")
    key = str(SyncPartition(emp, INVOICE_DAY).key)
    assert rejects == [
        dict(odoo_id=t1, rule=f.RULE_NO_DUE_DATE, asset="odoo_financeiro", partition_key=key),
        dict(odoo_id=t3, rule=f.RULE_BAD_RESIDUAL, asset="odoo_financeiro", partition_key=key),
    ]
    assert md["rejects"] == 2
    assert [r["odoo_line_id"] for r in _rows(db, "parcelas")] == [t2]  # the rest committed
    assert [r["numero_parcela"] for r in _rows(db, "parcelas")] == [1]
    assert _rows(db, "saidas_caixa")  # the bill too


def _statements(instance, emp: str, day: date) -> dict[str, int]:
    key = SyncPartition(emp, day).key
    return {a: partition_metadata(instance, a, key)["sql_statements"] for a in ("odoo_financeiro", "parcelas")}


def test_statements_per_chunk_do_not_grow_with_instalments(db, database_url, simulator):
    handle = simulator(seed=2, scale=0.1, days=1, companies=1)
    small, large = _hand_built(handle), _hand_built(handle)
    partner = next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))
    product = handle.sim.rows("product.product")[0]["id"]
    term = handle.call(
        "account.payment.term",
        "create",
        {"name": "12x", "line_ids": [(0, 0, {"value_amount": 100 / 12, "nb_days": 30 * n}) for n in range(1, 13)]},
    )
    for k in range(40):  # 40 contracts of 12 instalments, some paid
        day = INVOICE_DAY + timedelta(days=k % 5)
        move = add_invoice(
            handle.sim,
            large["company"],
            partner,
            [(product, 1, 1200.0 + k, None)],
            day.isoformat(),
            invoice_payment_term_id=term,
        )
        if k % 3 == 0:
            add_payment(handle.sim, move, 250.0, (day + timedelta(days=40)).isoformat())
    res = resources(handle, database_url, page_size=100)
    with instance_for_test() as instance:
        _sync(instance, res, small["emp"], INVOICE_DAY, LAST_DAY)
        _sync(instance, res, large["emp"], INVOICE_DAY, LAST_DAY)
        few, many = _statements(instance, small["emp"], INVOICE_DAY), _statements(instance, large["emp"], INVOICE_DAY)
    assert table_rows(db, "SELECT count(*) AS n FROM parcelas WHERE empreendimento = :e", e=large["emp"])[0]["n"] > 480
    assert few == many
    assert many["parcelas"] <= 10  # lock, question, lower month, parcelas, statuses now overdue, 4 monthly, figures


def test_generated_data_equals_oracle(db, database_url, simulator):
    handle = simulator(seed=11, scale=0.5, days=12, companies=2)
    res = resources(handle, database_url, page_size=200)
    with instance_for_test() as instance:
        for emp in empreendimentos(handle):
            _sync(instance, res, emp, START, START + timedelta(days=17))
    expected = expected_financeiro(handle.sim, today=last_day())
    for table in TABLES:
        assert expected[table], table
        assert _rows(db, table) == expected[table], table
    rows = _rows(db, "entradas_caixa")
    assert "ATIVOS" in {r["categoria"] for r in rows} and sum(r["realizado"] for r in rows) > 0
    assert _rows(db, "saidas_caixa")
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM odoo_financeiro_pagamento")).scalar() > 0


def test_a_vendor_bill_paid_is_requested_by_the_financeiro_sensor(db, database_url, simulator):
    handle = simulator(seed=2, scale=0.1, days=1, companies=1)
    case = _hand_built(handle)
    res = resources(handle, database_url)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("empreendimento", [case["emp"]])
        first = financeiro_sensor(build_sensor_context(instance=instance, cursor=None, resources=res))
        assert first.run_requests == []
        # the hand-built bill is paid already: a new one, then its payment
        bill = handle.call(
            "account.move",
            "create",
            {
                "move_type": "in_invoice",
                "partner_id": next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat")),
                "company_id": case["company"],
                "invoice_date": "2025-01-16",
                "invoice_line_ids": [(0, 0, {"name": "Frete", "quantity": 1, "price_unit": 80.0})],
            },
        )
        handle.call("account.move", "action_post", [bill])
        tick = financeiro_sensor(build_sensor_context(instance=instance, cursor=first.cursor, resources=res))
        keys = {r.partition_key for r in tick.run_requests}
        assert keys == {SyncPartition(case["emp"], date(2025, 1, 16)).key}
        # write_date has whole seconds: a change in the second already reported would look the same
        time.sleep(1.1)
        add_payment(handle.sim, bill, 80.0, "2025-02-20")  # the bill's write_date moves, and its payment's entry
        again = financeiro_sensor(build_sensor_context(instance=instance, cursor=tick.cursor, resources=res))
        keys = {r.partition_key for r in again.run_requests}
        assert SyncPartition(case["emp"], date(2025, 1, 16)).key in keys
        assert keys <= {SyncPartition(case["emp"], d).key for d in (date(2025, 1, 16), date(2025, 2, 20))}


def test_a_run_of_many_chunks_recomputes_the_months_once_and_a_failed_end_leaves_them_to_the_next_run(
    db, database_url, simulator, monkeypatch
):
    """A run of two chunks (40 dates) applies each chunk's parcelas and recomputes the monthly tables
    once, after its last chunk: one upsert per monthly table per run, not per chunk. A run failing
    between its chunks and its end leaves the months it touched in ``financeiro_pendente``; the next
    run of the empreendimento — one partition of another month — recomputes from there, and the
    tables equal Odoo's figures."""
    import sqlalchemy as sa

    import sync_pipeline.assets.financeiro as financeiro_assets

    handle = simulator(seed=11, scale=0.2, days=40, companies=1)
    (emp,) = empreendimentos(handle)
    res = resources(handle, database_url, page_size=200)
    last = START + timedelta(days=39)
    monthly_upserts: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        for table in ("entradas_caixa", "saidas_caixa", "estatisticas_portfolio", "inadimplencia"):
            if f"INSERT INTO {table} " in statement:
                monthly_upserts.append(table)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        with instance_for_test() as instance:
            instance.add_dynamic_partitions("empreendimento", [emp])
            _sync(instance, res, emp, START, last)
            md = partition_metadata(instance, "parcelas", SyncPartition(emp, START).key)
            later = partition_metadata(instance, "parcelas", SyncPartition(emp, last).key)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)
    assert sorted(monthly_upserts) == ["entradas_caixa", "estatisticas_portfolio", "inadimplencia", "saidas_caixa"]
    assert md["chunk_partitions"] == 31 and later["chunk_partitions"] == 9  # two chunks
    assert md["run_sql_statements"] == later["run_sql_statements"] <= 9  # lock, 7 statements, commit
    assert md["run_partitions"] == 40
    expected = _oracle_of(handle, emp)
    for table in TABLES:
        assert expected[table], table
        assert _rows(db, table, emp) == expected[table], table
    assert table_rows(db, "SELECT * FROM financeiro_pendente") == []

    # the same again from empty tables, the run failing at its end
    with db.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE parcelas, financeiro_particao, entradas_caixa, saidas_caixa, estatisticas_portfolio, "
                "inadimplencia, odoo_financeiro_parcela, odoo_financeiro_pagamento"
            )
        )

    def fail(*_a, **_kw):
        raise RuntimeError("the run's end failed")

    with instance_for_test() as instance:
        instance.add_dynamic_partitions("empreendimento", [emp])
        with monkeypatch.context() as m:
            m.setattr(financeiro_assets, "apply_months", fail)
            failed = _job(res).execute_in_process(
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": SyncPartition(emp, START).key,
                    "dagster/asset_partition_range_end": SyncPartition(emp, last).key,
                },
                raise_on_error=False,
            )
        assert not failed.success
        assert [m for m in failed.get_asset_materialization_events() if m.asset_key.path == ["parcelas"]] == []
        pending = table_rows(db, "SELECT empreendimento, desde FROM financeiro_pendente")
        assert pending == [{"empreendimento": emp, "desde": START.replace(day=1)}]
        assert _rows(db, "parcelas", emp) == expected["parcelas"]  # the chunks committed
        assert _rows(db, "estatisticas_portfolio", emp) == []  # the months did not
        (day,) = [r["d"] for r in table_rows(db, "SELECT max(partition_date) AS d FROM parcelas")]
        assert day.month == 2
        _sync(instance, res, emp, day, day)  # one partition, of the second month
    for table in TABLES:
        assert _rows(db, table, emp) == expected[table], table
    assert table_rows(db, "SELECT * FROM financeiro_pendente") == []
