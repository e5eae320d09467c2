"""Financeiro sync (issue 9 item 6, seed 04): the seeds' naive way against ours, in one run.

At 20 ms simulated latency per Odoo call, on a data set like seed 04's test (50 contracts, about
29,674 instalments, with payments) built in the Odoo simulator:

- fetch: the seeds' naive loop (serial, one call per contract for its instalments and one for the
  payments of those, as ``get_parcelas_by_contract_id``) against ``extract_financeiro`` with the
  client's page pool at 1, 8 and 16 workers: seconds and Odoo calls of each, in a child process (the
  simulator in this one does not share its interpreter lock);
- cash-out upsert: the seeds' per-key loop (one SELECT per (empreendimento, month, categoria), then
  an INSERT or UPDATE, as ``aggregate_cashout_from_faturas``) against ``apply_partitions``'
  saidas_caixa statement, statements counted on the engine, same rows checked;
- memory: peak RSS (VmHWM) of processing 1 and 20 empreendimentos one at a time (extract, staging,
  apply), each in a fresh process.

A "contract" is a posted customer invoice (docs/financeiro.md) whose payment term has ~593 weekly
instalments. Figures only: nothing here fails on speed. It TRUNCATEs the financeiro tables of its
database. Usage: DATABASE_URL=... python benchmarks/financeiro_sync.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import itertools
import multiprocessing
import random
import re
import resource
import statistics
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from sync_pipeline import settings
from sync_pipeline.assets.common import CHUNK_DAYS, analyze_if_grown, scope_of
from sync_pipeline.db.financeiro import apply_partitions, has_rows
from sync_pipeline.db.schema import create_schema, odoo_financeiro_pagamento, odoo_financeiro_parcela
from sync_pipeline.db.staging import Scope, mirror_partitions
from sync_pipeline.domain import financeiro as rules
from sync_pipeline.odoo.client import OdooClient
from sync_pipeline.odoo.financeiro import PARTIAL_FIELDS, TERM_LINE_FIELDS, extract_financeiro
from sync_pipeline.partitions import (
    SyncPartition,
    chunk_partitions,
    company_id_for,
    date_range,
    empreendimento_key,
    last_day,
    partition_day,
)
from sync_pipeline.resources.postgres import PostgresResource
from sync_pipeline.settings import database_url
from sync_pipeline.simulator import accounting
from sync_pipeline.simulator.core import OdooSimulator
from sync_pipeline.simulator.faults import FaultConfig
from sync_pipeline.simulator.generator import add_invoice, add_payment, generate
from sync_pipeline.simulator.server import SimulatorServer

LATENCY_S = 0.020  # per Odoo call, every call of every side
SEED = 20260104
FIRST_ISSUE = date(2025, 1, 6)  # contracts and bills are issued through 2025
DATA_END = date(2026, 11, 27)  # the last payment date (the simulator's clock stops there)
PAGE_SIZE = 1000  # OdooResource's default
WORKERS = (1, 8, 16)
RSS_WORKERS = 8
RSS_EMPS = 20
SAO_PAULO = timedelta(hours=3)
OUTPUT_TABLES = "parcelas, entradas_caixa, saidas_caixa, estatisticas_portfolio, inadimplencia"
TABLES = f"odoo_financeiro_parcela, odoo_financeiro_pagamento, sync_rejeitado, financeiro_particao, {OUTPUT_TABLES}"
SIZES = {  # full / --quick
    "contracts": (50, 10),
    "instalments": (29_674, 3_000),
    "contract_pay_days": (91, 91),  # a payment every quarter: what fell due, early, late or short
    "bill_months": (240, 36),  # long vendor contracts (leases, financing): one instalment a month
    "bills_per_account": (2, 1),
    "rss_contracts": (8, 4),
    "rss_instalments": (2_000, 400),
    "rss_bill_months": (24, 12),
    "repeat": (1, 1),
}


class Statements:
    """The SQL statements run on an engine while ``on``, with the seconds each took."""

    def __init__(self) -> None:
        self.on, self.sql, self._started = False, [], 0.0

    def start(self) -> None:
        self.on, self.sql = True, []

    def stop(self) -> list[tuple[str, float]]:
        self.on = False
        return self.sql

    def before(self, *_args) -> None:
        self._started = time.perf_counter()

    def after(self, _conn, _cursor, statement, *_args) -> None:
        if self.on:
            self.sql.append((statement, time.perf_counter() - self._started))


# --- data ------------------------------------------------------------------------------------------
def _at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=12) + SAO_PAULO


class Builder:
    """Contracts (invoices with long payment terms) and their payments, vendor bills on expense
    accounts with monthly terms and their payments, written through the simulator's API in date
    order (its clock follows), as a user registering them would."""

    def __init__(self, sim: OdooSimulator, rng: random.Random) -> None:
        self.sim, self.rng = sim, rng
        self.events: list[tuple[date, int, str, tuple]] = []
        self.seq = itertools.count()
        self.terms: dict[tuple[int, int], int] = {}
        self.customers = self.call("res.partner", "search", [("customer_rank", ">", 0)])
        self.products = self.call("product.product", "search", [], limit=10)
        self.supplier = self.call(
            "res.partner", "create", dict(name="Locadora Patrimonial Ltda", is_company=True, supplier_rank=1)
        )
        self.counts: dict[str, int] = defaultdict(int)

    def call(self, model: str, method: str, *args, **kwargs):
        return self.sim.execute_kw(self.sim.admin_uid, model, method, list(args), kwargs)

    def term(self, n: int, step_days: int) -> int:
        if (n, step_days) not in self.terms:
            lines = [(0, 0, {"value_amount": 100.0 / n, "nb_days": step_days * (i + 1)}) for i in range(n)]
            self.terms[n, step_days] = self.call(
                "account.payment.term", "create", {"name": f"{n} x {step_days} dias", "line_ids": lines}
            )
        return self.terms[n, step_days]

    def contracts(self, company: int, contracts: int, instalments: int, pay_days: int, spread: int = 300) -> None:
        for i in range(contracts):
            n = instalments // contracts + (i < instalments % contracts)
            issued = FIRST_ISSUE + timedelta(days=self.rng.randrange(spread))
            self.events.append((issued, next(self.seq), "contract", (company, n, pay_days)))

    def bills(self, company: int, months: int, per_account: int, spread: int = 300) -> None:
        with self.sim._lock:
            accounts = accounting.expense_accounts(self.sim.env(self.sim.admin_uid), company)
        for account in accounts.values():
            for _ in range(per_account):
                issued = FIRST_ISSUE + timedelta(days=self.rng.randrange(spread))
                self.events.append((issued, next(self.seq), "bill", (company, account, months)))

    def run(self) -> dict[str, int]:
        heapq.heapify(self.events)
        while self.events:
            day, _seq, kind, payload = heapq.heappop(self.events)
            self.sim.clock.set(_at(day))
            getattr(self, f"_{kind}")(day, *payload)
        self.sim.clock.set(_at(DATA_END))
        return dict(self.counts)

    def _term_lines(self, move: int) -> list[dict]:
        return self.call(
            "account.move.line",
            "search_read",
            [("move_id", "=", move), ("display_type", "=", "payment_term")],
            ["date_maturity", "amount_residual"],
            order="date_maturity, id",
        )

    def _contract(self, day: date, company: int, n: int, pay_days: int) -> None:
        rng = self.rng
        price = round(n * rng.uniform(800, 2500), 2)
        move = add_invoice(
            self.sim,
            company,
            rng.choice(self.customers),
            [(rng.choice(self.products), 1, price, None)],
            day,
            invoice_payment_term_id=self.term(n, 7),
        )
        self.counts["contracts"] += 1
        self.counts["instalments"] += n
        dues = [(date.fromisoformat(t["date_maturity"]), abs(t["amount_residual"])) for t in self._term_lines(move)]
        # on time (what fell due), early (a month ahead too), late (60 %), or stops paying
        habit = rng.choices(("on_time", "early", "late", "stops"), weights=(60, 15, 15, 10))[0]
        stops = day + timedelta(days=rng.randrange(90, 600))
        paid, pay_day = 0.0, day + timedelta(days=pay_days)
        while pay_day <= DATA_END and not (habit == "stops" and pay_day > stops):
            horizon = pay_day + timedelta(days=30 if habit == "early" else 0)
            owed = sum(amount for due, amount in dues if due <= horizon)
            amount = round(owed * (0.6 if habit == "late" else 1.0) - paid, 2)
            if amount > 0:
                heapq.heappush(self.events, (pay_day, next(self.seq), "payment", (move, amount)))
                paid += amount
            pay_day += timedelta(days=pay_days)

    def _bill(self, day: date, company: int, account: int, months: int) -> None:
        rng = self.rng
        bill = self.call(
            "account.move",
            "create",
            dict(
                move_type="in_invoice",
                partner_id=self.supplier,
                company_id=company,
                invoice_date=day.isoformat(),
                invoice_payment_term_id=self.term(months, 30),
                ref=f"CT {rng.randint(1000, 99999)}",
                invoice_line_ids=[
                    (0, 0, {"name": "Contrato", "account_id": account, "quantity": 1, "price_unit": months * 1000.0})
                ],
            ),
        )
        self.call("account.move", "action_post", [bill])
        self.counts["bills"] += 1
        self.counts["bill_instalments"] += months
        late = rng.random() < 0.2
        for line in self._term_lines(bill):
            due = date.fromisoformat(line["date_maturity"])
            pay_day = max(due + timedelta(days=rng.randint(10, 40) if late else rng.randint(-3, 2)), day)
            if pay_day <= DATA_END:
                heapq.heappush(self.events, (pay_day, next(self.seq), "payment", (bill, abs(line["amount_residual"]))))

    def _payment(self, day: date, move: int, amount: float) -> None:
        residual = abs(self.call("account.move", "read", [move], ["amount_residual"])[0]["amount_residual"])
        if residual > 0:
            add_payment(self.sim, move, round(min(amount, residual), 2), day.isoformat())
            self.counts["payments"] += 1


def build(sim: OdooSimulator, sizes: dict) -> tuple[int, list[int], dict]:
    """The benchmark's empreendimento (contracts and bills) and RSS_EMPS smaller equal ones."""
    generate(sim, seed=SEED, scale=0.0, start_date=FIRST_ISSUE, days=1, companies=1 + RSS_EMPS)
    companies = sorted(r["id"] for r in sim.rows("res.company"))
    main, others = companies[0], companies[1 : 1 + RSS_EMPS]
    b = Builder(sim, random.Random(SEED))
    b.contracts(main, sizes["contracts"], sizes["instalments"], sizes["contract_pay_days"])
    b.bills(main, sizes["bill_months"], sizes["bills_per_account"])
    for company in others:
        # issued over two months: a backfill of few chunks each, the memory is what is measured
        b.contracts(company, sizes["rss_contracts"], sizes["rss_instalments"], 182, spread=60)
        b.bills(company, sizes["rss_bill_months"], 1, spread=60)
    return main, others, b.run()


# --- processing (also what the memory children run) ----------------------------------------------
def whole_scope(emp: str) -> Scope:
    """Every partition of the empreendimento: the first one, owning everything older and (being
    also treated as the last) everything newer."""
    return Scope.single(emp, settings.start_date(), first=True, last=True)


def extract(client: OdooClient, emp: str, *, day_of=partition_day):
    """What the extract asset reads for the empreendimento's whole history (its ``partition_day``)."""
    return extract_financeiro(
        client,
        empreendimento=emp,
        company_id=company_id_for(emp),
        first=None,
        last=None,
        partition_day_of=day_of,
    )


def partition_day_once_per_day():
    """``partition_day`` with its bounds asked once: the shipped one asks Dagster for the last
    partition on every line (~0.5 ms each), which this variant shows the cost of."""
    first, today = settings.start_date(), last_day()
    return lambda day: min(max(day, first), today)


def stage(pg: PostgresResource, emp: str, found) -> None:
    """Mirror the slice into the staging tables, as the extract asset does (one transaction)."""
    scope = whole_scope(emp)
    keys = {scope.start: SyncPartition(emp, scope.start).key}
    rejects = {scope.start: list(found.staged.rejects)}
    parcelas = [r for rows in found.staged.parcelas.values() for r in rows]
    pagamentos = [r for rows in found.staged.pagamentos.values() for r in rows]

    def mirror(conn):
        for table, rows in ((odoo_financeiro_parcela, parcelas), (odoo_financeiro_pagamento, pagamentos)):
            mirror_partitions(
                conn, table, scope, rows, rejects, asset="odoo_financeiro", partition_keys=keys, run_id="bench"
            )

    pg.unit_of_work(mirror, name=f"stage {emp}")
    analyze_if_grown(pg, [odoo_financeiro_parcela, odoo_financeiro_pagamento], len(parcelas) + len(pagamentos))


def chunk_scopes(emp: str) -> list[Scope]:
    """The scopes a backfill of every partition of ``emp`` runs: chunks of CHUNK_DAYS dates."""
    partitions = [SyncPartition(emp, day) for day in date_range(settings.start_date(), last_day())]
    return [scope_of(*chunk) for chunk in chunk_partitions(partitions, CHUNK_DAYS)]


def apply(pg: PostgresResource, emp: str) -> dict[str, int]:
    """``apply_partitions`` chunk by chunk as the financeiro asset runs a backfill (a chunk with
    nothing staged or written is skipped after one query); the monthly rows written, summed."""
    today, rate = last_day(), settings.discount_rate()
    written: dict[str, int] = defaultdict(int)
    for scope in chunk_scopes(emp):

        def work(conn, scope=scope):
            return apply_partitions(conn, scope, today=today, rate=rate) if has_rows(conn, scope) else None

        by_day = pg.unit_of_work(work, name=f"apply {emp} {scope.start}").value
        for k, v in (by_day or {}).get(scope.start, {}).items():
            if isinstance(v, int):
                written[k] += v
    return written


def client_for(url: str, workers: int) -> OdooClient:
    return OdooClient(url, "odoo", "admin", "admin", protocol="jsonrpc", page_size=PAGE_SIZE, max_workers=workers)


def peak_rss_kb() -> int:
    """VmHWM of this process (ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def process_in_child(url: str, db_url: str, emps: list[str]) -> dict:
    """Extract, stage and apply each empreendimento in turn, nothing kept between them."""
    pg = PostgresResource(database_url=db_url)
    started = time.perf_counter()
    with client_for(url, RSS_WORKERS) as client:
        for emp in emps:
            stage(pg, emp, extract(client, emp))
            apply(pg, emp)
            gc.collect()
    return {
        "s": time.perf_counter() - started,
        "vmhwm_kb": peak_rss_kb(),
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


# --- fetch: naive and ours -----------------------------------------------------------------------
def fetch_in_child(url: str, emp: str, side: str, workers: int) -> dict:
    """The receivable instalments of ``emp``'s contracts and the partials paying them, the naive
    way or through ``extract_financeiro``; seconds, calls, and the ids found (to compare)."""
    with client_for(url, workers) as client:
        client.uid  # noqa: B018 -- authenticate outside the timing
        calls_before = client.stats.total
        started = time.perf_counter()
        if side == "naive":
            lines, partials = naive_fetch(client, company_id_for(emp))
            extra = {}
        else:
            found = extract(
                client, emp, day_of=partition_day_once_per_day() if side == "ours_cached" else partition_day
            )
            rows = [r for rows in found.staged.parcelas.values() for r in rows]
            lines = {r["odoo_line_id"] for r in rows if r["tipo"] == rules.RECEBER}
            partials = {
                p["odoo_partial_id"]
                for rows in found.staged.pagamentos.values()
                for p in rows
                if p["odoo_line_id"] in lines
            }
            extra = {"payables": sum(r["tipo"] == rules.PAGAR for r in rows), "rejects": len(found.staged.rejects)}
        seconds = time.perf_counter() - started
        calls = client.stats.total - calls_before
    return {
        "s": seconds,
        "calls": calls,
        "lines": len(lines),
        "partials": len(partials),
        "ids": hash_ids(lines, partials),
    } | extra


def naive_fetch(client: OdooClient, company_id: int) -> tuple[set[int], set[int]]:
    """Seed 04's loop: the contracts, then serially per contract its instalments (one call) and
    the payments of those (one call): ``get_parcelas_by_contract_id`` for each."""
    contracts = client.search_read(
        "account.move",
        [("company_id", "=", company_id), ("move_type", "=", "out_invoice"), ("state", "in", ["posted", "cancel"])],
        ["name", "state", "invoice_date"],
    )
    lines: set[int] = set()
    partials: set[int] = set()
    for contract in contracts:
        parcelas = client.search_read(
            "account.move.line",
            [("move_id", "=", contract["id"]), ("display_type", "=", "payment_term")],
            TERM_LINE_FIELDS,
        )
        lines |= {p["id"] for p in parcelas}
        paid_by = {i for p in parcelas for i in p["matched_credit_ids"]}
        if paid_by:
            partials |= {p["id"] for p in client.read("account.partial.reconcile", paid_by, PARTIAL_FIELDS)}
    return lines, partials


def hash_ids(lines: set[int], partials: set[int]) -> int:
    return hash((tuple(sorted(lines)), tuple(sorted(partials))))


# --- cash out: naive and ours --------------------------------------------------------------------
def _month(day: date) -> date:
    return day.replace(day=1)


def naive_cashout(engine: Engine, emp: str) -> None:
    """Seed 04's aggregate_cashout_from_faturas: the month figures summed in Python, then per
    (empreendimento, month, categoria) one SELECT for the existing row and an INSERT or UPDATE."""
    with engine.connect() as conn:
        payables = conn.execute(
            text(
                "SELECT odoo_line_id, data_vencimento, valor_original, move_state, categoria"
                " FROM odoo_financeiro_parcela WHERE empreendimento = :emp AND tipo = :pagar"
            ),
            {"emp": emp, "pagar": rules.PAGAR},
        ).all()
        payments = conn.execute(
            text(
                "SELECT odoo_line_id, data, valor FROM odoo_financeiro_pagamento"
                " WHERE empreendimento = :emp AND em_caixa"
            ),
            {"emp": emp},
        ).all()
        categoria = {p.odoo_line_id: p.categoria for p in payables}
        figures: dict[tuple[date, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for p in payables:
            if p.move_state != rules.CANCELLED:
                figures[_month(p.data_vencimento), p.categoria][0] += p.valor_original
        for p in payments:
            if p.odoo_line_id in categoria:
                figures[_month(p.data), categoria[p.odoo_line_id]][1] += p.valor
        for (month, cat), (orcamento, realizado) in sorted(figures.items()):
            if not orcamento and not realizado:
                continue
            key = {"emp": emp, "month": month, "cat": cat, "orc": orcamento, "real": realizado}
            existing = conn.execute(  # the seeds' problem: one query per key
                text(
                    "SELECT 1 FROM saidas_caixa WHERE empreendimento = :emp AND ref_month = :month AND categoria = :cat"
                ),
                key,
            ).first()
            if existing:
                conn.execute(
                    text(
                        "UPDATE saidas_caixa SET orcamento = :orc, realizado = :real, updated_at = now()"
                        " WHERE empreendimento = :emp AND ref_month = :month AND categoria = :cat"
                    ),
                    key,
                )
            else:
                conn.execute(
                    text(
                        "INSERT INTO saidas_caixa (empreendimento, ref_month, categoria, orcamento, realizado)"
                        " VALUES (:emp, :month, :cat, :orc, :real)"
                    ),
                    key,
                )
        conn.commit()


_WRITES_SAIDAS = re.compile(r"\b(INSERT INTO|DELETE FROM|UPDATE) saidas_caixa\b")


def saidas_rows(engine: Engine, emp: str) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT ref_month, categoria, orcamento, realizado FROM saidas_caixa WHERE empreendimento = :emp"
                    " ORDER BY ref_month, categoria"
                ),
                {"emp": emp},
            )
        ]


def cashout(engine: Engine, pg: PostgresResource, trips: Statements, emp: str) -> dict:
    """Both sides from an empty saidas_caixa and again over a full one (a re-sync)."""
    out: dict = {}
    for scenario in ("empty", "re-sync"):
        for side in ("naive", "ours"):
            with engine.begin() as conn:
                if scenario == "empty":
                    conn.execute(text(f"TRUNCATE {OUTPUT_TABLES}, financeiro_particao"))
            trips.start()
            started = time.perf_counter()
            if side == "naive":
                naive_cashout(engine, emp)
                written = None
            else:
                counts = apply(pg, emp)
                written = sum(counts.get(f"saidas_caixa_{k}", 0) for k in ("inserted", "updated", "deleted"))
            ms = (time.perf_counter() - started) * 1000
            sql = trips.stop()
            saidas = [(s, sec) for s, sec in sql if _WRITES_SAIDAS.search(s)]
            out[scenario, side] = {
                "statements": len(sql),
                "cashout": len(sql) if side == "naive" else len(saidas),
                "ms": ms,
                "cashout_ms": ms if side == "naive" else sum(sec for _, sec in saidas) * 1000,
                "rows": saidas_rows(engine, emp),
                "written": written,
            }
    return out


# --- run -----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller data set, under a minute")
    parser.add_argument("--repeat", type=int, help="repetitions of each fetch (median reported)")
    args = parser.parse_args()
    sizes = {k: v[1] if args.quick else v[0] for k, v in SIZES.items()}
    if args.repeat:
        sizes["repeat"] = args.repeat

    db_url = database_url()
    pg = PostgresResource(database_url=db_url, backoff_seconds=0.01)
    engine = pg.engine()
    with engine.begin() as conn:
        create_schema(conn)
        conn.execute(text(f"TRUNCATE {TABLES}"))
    trips = Statements()
    event.listen(engine, "before_cursor_execute", trips.before)
    event.listen(engine, "after_cursor_execute", trips.after)

    started = time.perf_counter()
    sim = OdooSimulator()
    main_company, others, counts = build(sim, sizes)
    emp, rss_emps = empreendimento_key(main_company), [empreendimento_key(c) for c in others]
    print(
        f"data: {emp}: {sizes['contracts']} contracts (posted customer invoices, one payment term of ~"
        f"{sizes['instalments'] // sizes['contracts']} weekly instalments each), {sizes['instalments']} instalments; "
        f"{5 * sizes['bills_per_account']} vendor bills of {sizes['bill_months']} monthly instalments on 5 expense "
        f"accounts; {len(rss_emps)} more empreendimentos of {sizes['rss_contracts']} contracts / "
        f"{sizes['rss_instalments']} instalments and 5 bills of {sizes['rss_bill_months']} months; "
        f"{counts['payments']} payments in all; built in {time.perf_counter() - started:.1f}s"
    )
    server = SimulatorServer(sim, port=0, faults=FaultConfig(latency_per_call=LATENCY_S)).start()
    try:
        run(server, pg, engine, trips, emp, rss_emps, db_url, sizes, started)
    finally:
        server.stop()


def run(server, pg, engine, trips, emp, rss_emps, db_url, sizes, started) -> None:
    url = server.url
    spawn = multiprocessing.get_context("spawn")

    # fetch
    print(f"\n== fetch of {emp}'s instalments and payments, {LATENCY_S * 1000:g} ms per Odoo call (a child process)")
    cases = [("naive", 1)] + [("ours", w) for w in WORKERS] + [("ours_cached", w) for w in WORKERS]
    results: dict[tuple[str, int], list[dict]] = defaultdict(list)
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        pool.submit(time.sleep, 0).result()  # the child's start outside the timings
        for _ in range(sizes["repeat"]):
            for side, workers in cases:
                server.timings.reset()
                result = pool.submit(fetch_in_child, url, emp, side, workers).result()
                result["sim_s"] = server.timings.seconds()
                results[side, workers].append(result)
    median = {case: statistics.median(r["s"] for r in rs) for case, rs in results.items()}
    print(f"{'side':<32} {'median s':>8} {'calls':>6} {'sim own s':>9} {'instalments':>11} {'payments':>8}")
    for (side, workers), rs in results.items():
        last = rs[-1]
        label = {"naive": "naive: serial per contract", "ours": f"ours: {workers} worker(s)"}.get(
            side, f"ours, day bounds once: {workers}"
        )
        print(
            f"{label:<32} {median[side, workers]:>8.2f} {last['calls']:>6} {last['sim_s']:>9.2f} "
            f"{last['lines']:>11} {last['partials']:>8}"
        )
    same = len({r["ids"] for rs in results.values() for r in rs}) == 1
    ours16 = results["ours", 16][-1]
    cached_ratio = median["naive", 1] / median["ours_cached", 16]
    print(
        f"same receivable instalments and payments on every side: {'yes' if same else 'NO'}; ours also read "
        f"{ours16['payables']} payable instalments, their payments and the unmatched customer payments "
        f"({ours16['rejects']} rejects); naive/ours: {median['naive', 1] / median['ours', 8]:.1f}x at 8 workers, "
        f"{median['naive', 1] / median['ours', 16]:.1f}x at 16 ({cached_ratio:.1f}x with the partition day's bounds "
        "asked once)"
    )

    # cash out
    with client_for(url, 8) as client:
        stage(pg, emp, extract(client, emp))
    print(f"\n== cash-out upsert of {emp} (saidas_caixa), statements counted on the engine")
    co = cashout(engine, pg, trips, emp)
    keys = len(co["empty", "ours"]["rows"])
    print(
        f"{'scenario':<8} {'side':<5} {'cash-out statements':>19} {'cash-out ms':>11} {'all statements':>14} "
        f"{'all ms':>8} {'rows':>5}"
    )
    for (scenario, side), r in co.items():
        print(
            f"{scenario:<8} {side:<5} {r['cashout']:>19} {r['cashout_ms']:>11.1f} {r['statements']:>14} "
            f"{r['ms']:>8.1f} {len(r['rows']):>5}"
        )
    same_rows = all(co[s, "naive"]["rows"] == co[s, "ours"]["rows"] for s in ("empty", "re-sync"))
    print(
        f"{keys} (empreendimento, month, categoria) keys; same rows on both sides: {'yes' if same_rows else 'NO'}; "
        f"ours runs apply_partitions per chunk of {CHUNK_DAYS} partitions as a backfill does (all statements: "
        f"parcelas, the four monthly tables, the figures), its cash-out one upsert+delete per chunk with rows; "
        f"rows ours wrote on the re-sync: {co['re-sync', 'ours']['written']}"
    )

    # memory
    print(f"\n== peak RSS of processing empreendimentos one at a time (extract, stage, apply; {RSS_WORKERS} workers)")
    rss = {}
    for n in (1, RSS_EMPS):
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES}"))
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:  # a fresh process each
            rss[n] = pool.submit(process_in_child, url, db_url, rss_emps[:n]).result()
        print(
            f"{n:>2} empreendimento(s): VmHWM {rss[n]['vmhwm_kb'] / 1024:.0f} MB in {rss[n]['s']:.1f}s (ru_maxrss "
            f"{rss[n]['ru_maxrss_kb'] / 1024:.0f} MB: Linux keeps it across exec, so it shows this parent at spawn)"
        )

    print(f"\nwhole run {time.perf_counter() - started:.0f}s")
    print(
        f"serial_s={median['naive', 1]:.2f} workers8_s={median['ours', 8]:.2f} workers16_s={median['ours', 16]:.2f} "
        f"naive_cashout_statements={co['empty', 'naive']['cashout']} "
        f"cashout_statements={co['empty', 'ours']['cashout']} "
        f"peak_rss_1_mb={rss[1]['vmhwm_kb'] / 1024:.0f} peak_rss_20_mb={rss[RSS_EMPS]['vmhwm_kb'] / 1024:.0f}"
    )


if __name__ == "__main__":
    main()
