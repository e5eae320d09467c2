"""The bad-input matrix (DESIGN §6.7; the table is docs/bad_input.md): each kind of bad source
data, sent by the simulator over HTTP, through the extract assets into the real PostgreSQL.

Two outcomes, decided per kind:
- **reject**: one record is wrong and the answer around it is sound, so only that record is set
  aside in ``sync_rejeitado`` (model, id, rule, payload) and the rest of its partition commits.
  A record-level problem must never lose the rest of its partition.
- **fail the call**: the answer itself is not Odoo's (cut short, HTML, not UTF-8, an error object,
  records repeated, skipped or foreign to the request, a revoked key): nothing of it can be
  trusted, so the partition fails with an error naming the Odoo call and commits nothing, not
  even a half page.

Every test uses its own date, so the documents of one never meet another's on the one simulator
the module shares; faults are one-shot and cleared after each test.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

import pytest
from dagster import AssetKey, instance_for_test
from sqlalchemy import text

from sync_pipeline.db.engine import get_engine
from sync_pipeline.db.schema import metadata
from sync_pipeline.partitions import SyncPartition, empreendimento_key
from sync_pipeline.resources.odoo import OdooResource
from sync_pipeline.simulator.generator import add_invoice
from sync_pipeline_tests.support import START, definitions, resources, start_simulator, table_rows

UNKNOWN_ID = 987_654  # no record of any model has it
_days = itertools.count(40)  # the generated data lives on START and START + 1


@dataclass(frozen=True)
class Extract:
    """One extract asset: its Odoo models and staging table."""

    name: str
    asset: str
    header_model: str
    line_model: str
    table: str
    qty_field: str
    header_field: str  # the line's many2one to its document


FATURA = Extract(
    "fatura", "odoo_fatura_linha", "account.move", "account.move.line", "odoo_fatura_linha", "quantity", "move_id"
)
PEDIDO = Extract(
    "pedido", "odoo_pedido_linha", "sale.order", "sale.order.line", "odoo_pedido_linha", "product_uom_qty", "order_id"
)
EXTRACTS = {e.name: e for e in (FATURA, PEDIDO)}


@pytest.fixture(scope="module")
def handle():
    started = start_simulator(seed=5, scale=0.1, days=1, companies=1)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def instance():
    with instance_for_test() as inst:
        yield inst


@pytest.fixture(autouse=True)
def clean_faults(handle):
    handle.faults.clear()
    handle.faults.reset_stats()
    yield
    handle.faults.clear()


@dataclass
class Case:
    """The documents of one test: ``bad`` (its first line ``bad_line`` is the one broken, its second
    ``sound_line`` is fine) and ``good``, a sound document of the same partition."""

    extract: Extract
    day: object
    company: int
    bad: int
    bad_line: int
    sound_line: int
    good: int
    good_line: int

    @property
    def partition(self) -> str:
        return SyncPartition(empreendimento_key(self.company), self.day).key


def _products(handle) -> list[int]:
    return [p["id"] for p in handle.sim.rows("product.product")][:3]


def _partner(handle) -> int:
    return next(p["id"] for p in handle.sim.rows("res.partner") if p.get("vat"))


def _lines_of(handle, extract: Extract, document: int) -> list[int]:
    rows = handle.sim.rows(extract.line_model)
    if extract is FATURA:
        return [r["id"] for r in rows if r.get("move_id") == document and r.get("display_type") == "product"]
    return [r["id"] for r in rows if r.get("order_id") == document and not r.get("display_type")]


def _document(handle, extract: Extract, day, company: int, partner: int, products: list[int]) -> int:
    if extract is FATURA:
        return add_invoice(handle.sim, company, partner, [(p, 3, 10.0, None) for p in products], day.isoformat())
    order = handle.call(
        "sale.order",
        "create",
        {
            "partner_id": partner,
            "company_id": company,
            "date_order": f"{day.isoformat()} 15:00:00",
            "order_line": [(0, 0, {"product_id": p, "product_uom_qty": 3, "price_unit": 10.0}) for p in products],
        },
    )
    handle.call("sale.order", "action_confirm", [order])  # stamps date_order with now, as Odoo does
    handle.call("sale.order", "write", [order], {"date_order": f"{day.isoformat()} 15:00:00"})
    return order


def make_case(
    handle, extract: Extract, *, partner: int | None = None, bad_products: list[int] | None = None, day=None
) -> Case:
    """The bad document first, so its lines have the lowest ids and lead every read answer."""
    day = day or START + timedelta(days=next(_days))
    company = handle.company_ids()[0]
    products = _products(handle)
    bad = _document(handle, extract, day, company, partner or _partner(handle), bad_products or products[:2])
    good = _document(handle, extract, day, company, _partner(handle), products[2:3])
    bad_lines, good_lines = _lines_of(handle, extract, bad), _lines_of(handle, extract, good)
    assert len(bad_lines) == 2 and len(good_lines) == 1
    return Case(extract, day, company, bad, bad_lines[0], bad_lines[1], good, good_lines[0])


def store_update(handle, model: str, record: int, **changes) -> None:
    """Write raw values straight into the simulator's store, as no Odoo form would accept them."""
    with handle.sim._lock:
        handle.sim.store[model].update(record, changes)


def run(handle, instance, database_url, case: Case, *, protocol: str = "jsonrpc", page_size=500, max_workers=4):
    res = resources(handle, database_url, protocol=protocol, page_size=page_size)
    if max_workers != 4:
        res["odoo"] = OdooResource(**{**res["odoo"].model_dump(), "max_workers": max_workers})
    emp = empreendimento_key(case.company)
    if emp not in set(instance.get_dynamic_partitions("empreendimento")):
        instance.add_dynamic_partitions("empreendimento", [emp])
    job = definitions(res).resolve_job_def("sync_job")
    return job.execute_in_process(
        instance=instance,
        partition_key=case.partition,
        asset_selection=[AssetKey(case.extract.asset)],
        raise_on_error=False,
    )


def staged_lines(db, case: Case) -> set[int]:
    return {r["odoo_line_id"] for r in table_rows(db, f"SELECT odoo_line_id FROM {case.extract.table}")}


def rejects(db) -> list[dict]:
    return table_rows(db, "SELECT model, odoo_id, parent_id, rule, partition_key, payload, message FROM sync_rejeitado")


def assert_rejected(db, case: Case, result, rule: str, lines: list[int]) -> list[dict]:
    """The run succeeded, ``lines`` are set aside under ``rule`` with their record, and every other
    line of the partition is staged."""
    assert result.success
    found = rejects(db)
    assert sorted((r["model"], r["odoo_id"], r["rule"]) for r in found) == sorted(
        (case.extract.line_model, line, rule) for line in lines
    ), found
    for r in found:
        assert r["partition_key"] == case.partition
        assert r["payload"]["line"]["id"] == r["odoo_id"]  # the record as Odoo sent it
        assert str(r["odoo_id"]) in r["message"]
    everything = {case.bad_line, case.sound_line, case.good_line}
    assert staged_lines(db, case) == everything - set(lines)
    return found


def assert_call_failed(db, result, call: str, *fragments: str) -> str:
    """The run failed with an error naming the Odoo call, and nothing was committed."""
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    message = (error.cause or error).message
    assert call in message, message
    for fragment in fragments:
        assert fragment in message, message
    for table in ("odoo_fatura_linha", "odoo_pedido_linha", "sync_rejeitado"):
        assert table_rows(db, f"SELECT count(*) AS n FROM {table}") == [{"n": 0}], table
    return message


# -- records that break a rule: set aside, the rest commits ---------------------------------------
def _store_line(field_of, value):
    def corrupt(handle, case: Case):
        store_update(handle, case.extract.line_model, case.bad_line, **{field_of(case.extract): value})

    return corrupt


def _fault(model_of, changes_of):
    def corrupt(handle, case: Case):
        handle.faults.inject("corrupt", model=model_of(case.extract), method="read", changes=changes_of(case))

    return corrupt


QTY = lambda e: e.qty_field  # noqa: E731
PRODUCT = lambda e: "product_id"  # noqa: E731
LINES = lambda e: e.line_model  # noqa: E731
HEADERS = lambda e: e.header_model  # noqa: E731

# Bad values written into the store: every kind of one extract in one partition and one run, so
# each kind's test also shows the others did not cost it its partition.
# kind: (how the simulator sends it, the rule; None: accepted)
STORE_KINDS = {
    # A product line without a product cannot be a faturamento/carteira row (DESIGN §6.7).
    "missing_product": (_store_line(PRODUCT, None), "linha_sem_produto"),
    # product_id names a product Odoo does not return: staging it as ODOO-<id> would invent a
    # product; the client reads the others (a real Odoo's read leaves a missing id out).
    "unknown_product": (_store_line(PRODUCT, UNKNOWN_ID), "produto_desconhecido"),
    "negative_quantity": (_store_line(QTY, -2.0), "quantidade_negativa"),
    "non_numeric_quantity": (_store_line(QTY, "dois"), "valor_invalido"),
    # NaN used to reach `quantity < 0`, which raises on a Decimal NaN and failed the partition;
    # the payload keeps it as text (JSON has no NaN).
    "nan_quantity": (_store_line(QTY, float("nan")), "valor_invalido"),
    "infinite_quantity": (_store_line(QTY, float("inf")), "valor_invalido"),
    # 1e20 does not fit Numeric(15, 3): the COPY used to fail the whole partition.
    "huge_quantity": (_store_line(QTY, 1e20), "valor_fora_do_limite"),
    # Rounding 1.23456 to the column's 3 decimals would store another quantity than Odoo's, and
    # saldos are compared with Odoo's own (float noise such as 0.30000000000000004 is accepted).
    "quantity_with_more_decimals": (_store_line(QTY, 1.23456), "casas_decimais_excedidas"),
    # nome_produto is String(255) (db/schema.py): a truncated name is another value, and the COPY
    # of a longer one used to fail the whole partition. The line waits for the name to be fixed.
    "name_longer_than_its_column": (None, "texto_longo_demais"),
    # Not a reject: Odoo allows customers without VAT (consumers, foreign customers), the column
    # is nullable, and setting the lines aside would make the invoiced quantities differ from
    # Odoo's qty_invoiced. The lines commit with a NULL CNPJ.
    "partner_without_vat": (None, None),
}
LONG_NAME = "Azeite extravirgem " * 20  # 380 characters


def _store_case(handle, extract: Extract, kind: str, day) -> Case:
    if kind == "name_longer_than_its_column":
        product = handle.call("product.product", "create", {"name": LONG_NAME, "default_code": "LONGO", "weight": 1.0})
        return make_case(handle, extract, bad_products=[product, _products(handle)[0]], day=day)
    if kind == "partner_without_vat":
        partner = handle.call("res.partner", "create", {"name": "Consumidor final", "vat": False})
        return make_case(handle, extract, partner=partner, day=day)
    case = make_case(handle, extract, day=day)
    STORE_KINDS[kind][0](handle, case)
    return case


@pytest.fixture(scope="module")
def store_runs(handle, instance, database_url):
    """extract name → (its cases by kind, whether the run succeeded, the rejects, the staged rows)."""
    runs = {}

    def of(extract: Extract):
        if extract.name not in runs:
            engine = get_engine(database_url)
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} RESTART IDENTITY"))
            day = START + timedelta(days=next(_days))
            cases = {kind: _store_case(handle, extract, kind, day) for kind in STORE_KINDS}
            result = run(handle, instance, database_url, next(iter(cases.values())))
            column = "cnpj_cliente" if extract is FATURA else "cnpj_cpf"
            staged = {
                r["odoo_line_id"]: r
                for r in table_rows(engine, f"SELECT odoo_line_id, {column} AS cnpj, nome_produto FROM {extract.table}")
            }
            runs[extract.name] = (cases, result.success, rejects(engine), staged)
        return runs[extract.name]

    return of


@pytest.mark.parametrize("extract", ["fatura", "pedido"])
@pytest.mark.parametrize("kind", list(STORE_KINDS))
def test_bad_value_in_the_store_is_set_aside_and_the_rest_commits(store_runs, kind, extract):
    cases, success, found, staged = store_runs(EXTRACTS[extract])
    case, rule = cases[kind], STORE_KINDS[kind][1]
    assert success
    mine = [r for r in found if r["parent_id"] == case.bad]
    if rule is None:
        assert mine == []
        assert staged[case.bad_line]["cnpj"] is None and staged[case.sound_line]["cnpj"] is None
        assert staged[case.good_line]["cnpj"]
        return
    assert [(r["model"], r["odoo_id"], r["rule"], r["partition_key"]) for r in mine] == [
        (case.extract.line_model, case.bad_line, rule, case.partition)
    ], found
    assert mine[0]["payload"]["line"]["id"] == case.bad_line  # the record as Odoo sent it
    assert str(case.bad_line) in mine[0]["message"]
    if kind == "name_longer_than_its_column":
        assert "nome_produto has 380 characters, its column holds 255" in mine[0]["message"]
    # the rest of the partition committed: the other line of the bad document, the good one
    assert case.bad_line not in staged and {case.sound_line, case.good_line} <= staged.keys()


# Bad values in one answer (a "corrupt" fault changes the first record of one read): one run each.
# kind: (how the simulator sends it, the rule, whether the whole bad document is set aside)
ANSWER_RECORD_KINDS = {
    # A header whose date cannot be read: its lines have no partition of their own, so they are
    # set aside under the first date of the slice that read them.
    "date_not_a_date": (
        _fault(
            HEADERS,
            lambda c: (
                {"invoice_date": "31/02/2025", "date": "31/02/2025"}
                if c.extract is FATURA
                else {"date_order": "ontem às 10h"}
            ),
        ),
        "data_invalida",
        True,
    ),
    # A document of another company in this empreendimento's answer (Odoo filtered by company).
    "unknown_company": (
        _fault(HEADERS, lambda c: {"company_id": [UNKNOWN_ID, "Outra empresa"]}),
        "empresa_desconhecida",
        True,
    ),
    # Lines are read by their documents' ids: a line pointing elsewhere used to be skipped silently.
    "line_whose_document_is_missing": (
        _fault(LINES, lambda c: {c.extract.header_field: [UNKNOWN_ID, "Documento apagado"]}),
        "documento_ausente",
        False,
    ),
    # {"id": .., "display_name": ..} (web_read's shape) used to read as "no product".
    "many2one_of_the_wrong_shape": (
        _fault(LINES, lambda c: {"product_id": {"id": 5, "display_name": "Produto"}}),
        "relacao_invalida",
        False,
    ),
}


@pytest.mark.parametrize("extract", ["fatura", "pedido"])
@pytest.mark.parametrize("kind", list(ANSWER_RECORD_KINDS))
def test_bad_value_in_an_answer_is_set_aside_and_the_rest_commits(db, database_url, handle, instance, kind, extract):
    inject, rule, whole_document = ANSWER_RECORD_KINDS[kind]
    case = make_case(handle, EXTRACTS[extract])
    inject(handle, case)
    result = run(handle, instance, database_url, case)
    lines = [case.bad_line, case.sound_line] if whole_document else [case.bad_line]
    found = assert_rejected(db, case, result, rule, lines)
    assert {r["parent_id"] for r in found} == ({case.bad} if kind != "line_whose_document_is_missing" else {UNKNOWN_ID})


def test_refund_of_a_missing_invoice_is_set_aside(db, database_url, handle, instance):
    # A credit note must reverse an NF Odoo has; subtracting its quantity from the order would free
    # carteira saldo on the word of a document whose invoice is gone. Its lines are set aside.
    case = make_case(handle, FATURA)
    refund = add_invoice(
        handle.sim,
        case.company,
        _partner(handle),
        [(_products(handle)[0], 1, 10.0, None)],
        case.day.isoformat(),
        move_type="out_refund",
    )
    store_update(handle, "account.move", refund, reversed_entry_id=UNKNOWN_ID)
    (refund_line,) = _lines_of(handle, FATURA, refund)
    result = run(handle, instance, database_url, case)
    assert result.success
    found = rejects(db)
    assert [(r["odoo_id"], r["parent_id"], r["rule"]) for r in found] == [
        (refund_line, refund, "nota_revertida_ausente")
    ]
    assert str(UNKNOWN_ID) in found[0]["message"]
    assert staged_lines(db, case) == {case.bad_line, case.sound_line, case.good_line}


# -- answers that are not Odoo's: the call fails, nothing commits ---------------------------------
# kind: (fault, protocol, what the message says besides the call)
PROTOCOL_KINDS = {
    "truncated_body": ("truncate", "jsonrpc", "not valid JSON"),
    "html_error_page_with_status_200": ("garbage", "jsonrpc", "text/html"),
    "text_in_invalid_utf8": ("invalid_utf8", "jsonrpc", "not valid UTF-8"),
    "text_in_invalid_utf8_xmlrpc": ("invalid_utf8", "xmlrpc", "not valid UTF-8"),
    # Odoo never answers one id twice; staging it twice would double a quantity or fail the COPY.
    "duplicate_ids_in_a_page": ("duplicate", "jsonrpc", "came twice"),
    # A page without a record that still exists: Odoo only leaves out records deleted since the
    # search, and the client checks that with one search of the ids left out.
    "page_that_skips_ids": ("skip", "jsonrpc", "every requested id that exists"),
    "jsonrpc_error_object": ("jsonrpc_error", "jsonrpc", "injected server error"),
    # A code Odoo never sends (1-4 are its codes): an error, not retried.
    "xmlrpc_fault_with_unknown_code": ("xmlrpc_fault", "xmlrpc", "fault with a code Odoo never sends"),
}


@pytest.mark.parametrize("extract", ["fatura", "pedido"])
@pytest.mark.parametrize("kind", list(PROTOCOL_KINDS))
def test_garbage_answer_fails_the_call_and_commits_nothing(db, database_url, handle, instance, kind, extract):
    fault, protocol, fragment = PROTOCOL_KINDS[kind]
    case = make_case(handle, EXTRACTS[extract])
    handle.faults.inject(fault, model=case.extract.line_model, method="read")
    result = run(handle, instance, database_url, case, protocol=protocol)
    assert_call_failed(db, result, f"{case.extract.line_model}.read via {protocol}", fragment)
    assert handle.faults.stats()["injected"] == {fault: 1}  # not retried


def test_page_that_repeats_ids_of_another_page_fails_the_call(db, database_url, handle, instance):
    # Pages of two lines read one after the other: the first answers a line of the second page.
    case = make_case(handle, FATURA)
    handle.faults.inject("corrupt", model="account.move.line", method="read", changes={"id": case.good_line})
    result = run(handle, instance, database_url, case, page_size=2, max_workers=1)
    assert_call_failed(db, result, "account.move.line.read via jsonrpc", "only the requested ids", str(case.good_line))


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc", "json2"])
def test_api_key_expired_mid_run_fails_at_once_without_retries(db, database_url, handle, instance, protocol):
    # The key is refused after the invoices were read: an authentication error is no transient
    # failure, so the first refused call ends the run (one attempt, no retry storm).
    case = make_case(handle, FATURA)
    handle.faults.inject("auth_expired", count=50, model="account.move.line")
    result = run(handle, instance, database_url, case, protocol=protocol)
    message = assert_call_failed(db, result, f"account.move.line.search via {protocol}")
    assert "Access Denied" in message or "Invalid apikey" in message
    stats = handle.faults.stats()
    assert stats["injected"] == {"auth_expired": 1} and stats["pending"] == 49
