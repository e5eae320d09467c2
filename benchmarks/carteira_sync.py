"""Carteira sync: the seeds' naive per-item algorithm against the project's set-based partition.

Both sides start from the same generated tables (source order lines, invoices, pré-separações,
separações, the carteira as it stands) in the same local PostgreSQL, and must end with the same
carteira_principal. Each is run with no added latency and with a fixed delay on every database round
trip (statement or commit), which models a hosted database over SSL. Figures only: nothing here fails
on speed. Usage: DATABASE_URL=... python benchmarks/carteira_sync.py [--lines N] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import statistics
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

from sync_pipeline.assets.carteira import carteira_unit
from sync_pipeline.db.bulk import copy_rows
from sync_pipeline.db.carteira import CARTEIRA_COLUMNS, PRE_CLOSED_STATUSES
from sync_pipeline.db.schema import create_schema, metadata
from sync_pipeline.db.staging import Scope, staged_columns
from sync_pipeline.resources.postgres import PostgresResource
from sync_pipeline.settings import database_url

EMP = "EMP-BENCH"
DAY = date(2025, 9, 3)
LATENCY_S = 0.002  # per round trip: a hosted database over SSL
LATENCIES = (0.0, LATENCY_S)
Q = Decimal
TABLES = (
    "odoo_pedido_linha, faturamento_produto, pre_separacao_item, separacao, embarque_itens, carteira_principal, "
    "carteira_diff, alerta_separacao_cotada"
)
LOADED = ("odoo_pedido_linha", "faturamento_produto", "pre_separacao_item", "separacao", "embarque_itens")
STATUS_PEDIDO = {"draft": "Cotação", "sent": "Cotação", "cancel": "Cancelado"}  # else 'Pedido de venda'


class RoundTrips:
    """Counts statements and commits on the engine, sleeping ``latency`` seconds on each."""

    def __init__(self) -> None:
        self.reset(0.0)

    def reset(self, latency: float) -> None:
        self.latency, self.statements, self.commits = latency, 0, 0

    def statement(self, *_args: object) -> None:
        self.statements += 1
        if self.latency:
            time.sleep(self.latency)

    def commit(self, *_args: object) -> None:
        self.commits += 1
        if self.latency:
            time.sleep(self.latency)


TRIPS = RoundTrips()


# --- data ------------------------------------------------------------------------------------------
def generate(lines: int, seed: int = 20250903) -> dict[str, list[dict]]:
    """One partition: source lines, invoices, decisions and the carteira before, as rows per table."""
    rng = random.Random(seed)
    products = [(f"P{i:04d}", f"Produto {i}") for i in range(1, 151)]
    n_orders = max(2, lines * 700 // 4093)
    per_order = [1] * n_orders
    for _ in range(lines - n_orders):
        i = rng.randrange(n_orders)
        while per_order[i] >= len(products) - 1:
            i = rng.randrange(n_orders)
        per_order[i] += 1
    cancelled = rng.randrange(n_orders)
    orders = [(o, n, int(rng.random() < 0.12)) for o, n in enumerate(per_order)]  # ~2% lines removed in Odoo
    orders.append((n_orders, 0, 3))  # and one whole order deleted in Odoo
    t: dict[str, list[dict]] = {k: [] for k in (*LOADED, "carteira_principal")}
    stamp = datetime(2025, 9, 3, 12, 0, 0)
    line_id = 1
    for o, count, removed in orders:
        pedido, state = f"VCD{2000000 + o}", "cancel" if o == cancelled else "sale"
        head = {"num_pedido": pedido, "empreendimento": EMP, "data_pedido": DAY, "cnpj_cpf": f"{10**13 + o * 7919}"}
        head |= {"raz_social": f"Cliente {o % 120}", "municipio": f"Cidade {o % 40}", "estado": "SP"}
        head |= {"vendedor": "Vendedor A", "equipe_vendas": "Equipe 1", "pedido_cliente": f"OC-{o}"}
        head |= {"data_entrega_pedido": DAY + timedelta(days=7 + o % 20), "odoo_order_id": 70000 + o}
        head |= {"odoo_write_date": stamp, "status_pedido": STATUS_PEDIDO.get(state, "Pedido de venda")}
        lot = f"LOTE-{o}" if rng.random() < 0.22 or o == cancelled else None
        lot_status = "COTADO" if o == cancelled else rng.choice(["PREVISAO", "ABERTO", "ABERTO", "COTADO"])
        lot_rows = []
        for k, (cod, nome) in enumerate(rng.sample(products, count + removed)):
            depois, preco, roll = Q(rng.randint(2, 500)), Q(rng.randint(100, 99999)) / 100, rng.random()
            antes = depois  # ordered quantity in the carteira before this sync
            if roll < 0.03:
                antes = depois + Q(rng.randint(1, int(depois * Q("0.6")) + 1))  # reduced in Odoo
            elif roll < 0.06:
                antes = max(Q(1), depois - Q(rng.randint(1, int(depois // 2) + 1)))  # increased
            new = 0.06 <= roll < 0.08
            line = head | {"cod_produto": cod, "nome_produto": nome, "preco_produto_pedido": preco}
            if k < count:
                t["odoo_pedido_linha"].append(
                    line
                    | {"odoo_line_id": line_id, "partition_date": DAY, "order_state": state}
                    | {"qtd_produto_pedido": depois, "qtd_entregue": None, "qtd_faturada_odoo": None}
                )
                line_id += 1
            # ~30% partly invoiced (a few fully), part of it since the last sync through a separação
            fat_before = fat_now = Q(0)
            if rng.random() < 0.30:
                fat_now = depois if rng.random() < 0.03 else Q(rng.randint(1, int(depois) - 1))
                fat_before = fat_now - (Q(rng.randint(0, int(fat_now))) if rng.random() < 0.3 else Q(0))
                for nf, qtd in ((f"NF{o}-1", fat_before), (f"NF{o}-2", fat_now - fat_before)):
                    if qtd > 0:
                        t["faturamento_produto"].append(_nf_row(nf, pedido, cod, qtd, "Lançado"))
                    if qtd > 0 and nf.endswith("-2"):
                        t["separacao"].append(_sep(f"LOTE-F{o}", pedido, cod, qtd, "FATURADO", nf))
            if rng.random() < 0.02:  # a cancelled NF must not count
                t["faturamento_produto"].append(_nf_row(f"NF{o}-C", pedido, cod, Q(5), "Cancelado"))
            saldo_before = antes - fat_before
            if new or saldo_before <= 0:
                continue
            t["carteira_principal"].append(
                {c: line.get(c) for c in CARTEIRA_COLUMNS}
                | {"qtd_produto_pedido": antes, "qtd_saldo_produto_pedido": saldo_before}
            )
            room = saldo_before if antes > depois else min(saldo_before, depois - fat_now)  # decisions fit
            if room > 1 and rng.random() < 0.15:
                for d in range(rng.randint(1, 2)):
                    qtd = Q(rng.randint(1, max(1, int(room * Q("0.4")))))
                    t["pre_separacao_item"].append(
                        {"num_pedido": pedido, "cod_produto": cod, "qtd_selecionada_usuario": qtd, "status": "CRIADO"}
                        | {"data_criacao": stamp - timedelta(hours=rng.randint(1, 72), minutes=d)}
                    )
                    room -= qtd
            if lot and room > 0 and rng.random() < 0.9:
                lot_rows.append(_sep(lot, pedido, cod, Q(rng.randint(1, int(room))) if room > 1 else room, lot_status))
        tipo = "total" if len(lot_rows) == count else "parcial"
        t["separacao"] += [r | {"tipo_envio": tipo} for r in lot_rows]
        if o == cancelled or rng.random() < 0.05:
            t["embarque_itens"].append({"embarque_id": o, "separacao_lote_id": lot, "pedido": pedido})
    for table in ("separacao", "pre_separacao_item"):
        for i, row in enumerate(t[table], start=1):
            row["id"] = i
    return t


def _nf_row(nf: str, pedido: str, cod: str, qtd: Decimal, status: str) -> dict:
    move_id = int(hashlib.md5(nf.encode()).hexdigest()[:7], 16)
    row = {"empreendimento": EMP, "numero_nf": nf, "data_fatura": DAY, "origem": pedido, "cod_produto": cod}
    return row | {"qtd_produto_faturado": qtd, "status_nf": status, "revertida": False, "odoo_move_id": move_id}


def _sep(lote: str, pedido: str, cod: str, qtd: Decimal, status: str, nf: str | None = None) -> dict:
    row = {"separacao_lote_id": lote, "num_pedido": pedido, "cod_produto": cod, "qtd_saldo": qtd, "status": status}
    return row | {"tipo_envio": "total", "sincronizado_nf": nf is not None, "numero_nf": nf}


def reset(engine: Engine, data: dict[str, list[dict]]) -> None:
    """Empty the tables and load the generated partition (COPY, outside any measurement)."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY"))
        for table, rows in data.items():
            if not rows:
                continue
            cols = staged_columns(metadata.tables[table]) if table == "odoo_pedido_linha" else list(rows[0])
            copy_rows(conn, table, cols, ([r.get(c) for c in cols] for r in rows))
        for table in ("separacao", "pre_separacao_item"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ANALYZE {TABLES}"))


# --- naive: the seeds' "before" --------------------------------------------------------------------
_FATURADA = (
    "SELECT COALESCE(SUM(qtd_produto_faturado), 0) FROM faturamento_produto WHERE origem = :p AND cod_produto = :c"
    " AND status_nf <> 'Cancelado' AND NOT revertida"
)
_EM_SEPARACAO = (
    "SELECT COALESCE(SUM(qtd_saldo), 0) FROM separacao WHERE num_pedido = :p AND cod_produto = :c"
    " AND NOT sincronizado_nf"
)
_PRE = (
    "SELECT id, qtd_selecionada_usuario FROM pre_separacao_item WHERE num_pedido = :p AND cod_produto = :c"
    " AND status <> ALL(:closed) ORDER BY data_criacao DESC, id DESC"
)
_SEPS = (
    "SELECT id, separacao_lote_id, status, qtd_saldo FROM separacao WHERE num_pedido = :p AND cod_produto = :c"
    " AND NOT sincronizado_nf AND status IN ('PREVISAO', 'ABERTO', 'COTADO')"
    " ORDER BY array_position(ARRAY['PREVISAO', 'ABERTO', 'COTADO']::varchar[], status), id DESC"
)
_ALERT = (
    "INSERT INTO alerta_separacao_cotada (separacao_lote_id, num_pedido, cod_produto, tipo_alteracao, qtd_anterior,"
    " qtd_nova, qtd_diferenca, nivel, run_id) VALUES (:lote, :p, :c, :tipo, :antes, :nova, :dif, 'CRITICO', 'naive')"
)
_UPDATABLE = [c for c in CARTEIRA_COLUMNS if c not in ("num_pedido", "cod_produto")]
_CART_UPDATE = (
    f"UPDATE carteira_principal SET {', '.join(f'{c} = :{c}' for c in _UPDATABLE)}, updated_at = now()"
    " WHERE num_pedido = :num_pedido AND cod_produto = :cod_produto"
)
_CART_INSERT = (
    f"INSERT INTO carteira_principal ({', '.join(CARTEIRA_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in CARTEIRA_COLUMNS)})"
)
_ITENS = "SELECT * FROM odoo_pedido_linha WHERE empreendimento = :emp AND partition_date = :day ORDER BY 1"
_CART_DELETE = "DELETE FROM carteira_principal WHERE num_pedido = :p AND cod_produto = :c"


def aplicar_reducao(conn: Connection, p: str, c: str, saldo: Decimal, em_separacao: Decimal, removed: bool) -> None:
    """PreSeparacaoItem.aplicar_reducao_quantidade: saldo livre → pré-separações → separações, row by row."""
    key = {"p": p, "c": c}
    pre = conn.execute(text(_PRE), key | {"closed": list(PRE_CLOSED_STATUSES)}).all()
    pre_total = sum((r[1] for r in pre), Q(0))
    remaining = pre_total + em_separacao - max(saldo, Q(0))  # what saldo livre cannot absorb
    decisions = [("pre_separacao_item", "qtd_selecionada_usuario", i, None, None, q) for i, q in pre]
    if remaining > pre_total:
        decisions += [("separacao", "qtd_saldo", *r) for r in conn.execute(text(_SEPS), key)]
    for table, column, row_id, lote, status, qtd in decisions:
        if remaining <= 0:
            return
        take = min(qtd, remaining)
        remaining -= take
        if take == qtd:
            conn.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": row_id})
        else:
            conn.execute(text(f"UPDATE {table} SET {column} = :q WHERE id = :id"), {"q": qtd - take, "id": row_id})
        if status == "COTADO":
            tipo = "REMOCAO" if removed else "REDUCAO"
            conn.execute(
                text(_ALERT), key | {"lote": lote, "tipo": tipo, "antes": qtd, "nova": qtd - take, "dif": -take}
            )


def naive_sync(conn: Connection) -> None:
    """Per item, as carteira_service.py did before seed 01: two saldo queries, writes, a commit every 10."""
    memoria = {
        (r.num_pedido, r.cod_produto): r.qtd_produto_pedido
        for r in conn.execute(text("SELECT num_pedido, cod_produto, qtd_produto_pedido FROM carteira_principal"))
    }
    itens = [dict(r) for r in conn.execute(text(_ITENS), {"emp": EMP, "day": DAY}).mappings()]
    fonte = {(i["num_pedido"], i["cod_produto"]) for i in itens}
    # in the memory, not in Odoo any more: removed (a whole saldo to reduce)
    itens += [{"num_pedido": p, "cod_produto": c, "order_state": None} for p, c in memoria if (p, c) not in fonte]
    conn.commit()
    cancelados: set[str] = set()
    for n, item in enumerate(itens, start=1):
        p, c = item["num_pedido"], item["cod_produto"]
        faturada = conn.execute(text(_FATURADA), {"p": p, "c": c}).scalar_one()  # query 1 of 2
        em_separacao = conn.execute(text(_EM_SEPARACAO), {"p": p, "c": c}).scalar_one()  # query 2 of 2
        depois = item["qtd_produto_pedido"] if item["order_state"] not in ("cancel", None) else None
        cancelados |= {p} if item["order_state"] == "cancel" else set()
        saldo = (depois or Q(0)) - faturada
        antes = memoria.get((p, c))
        if antes is not None and (depois is None or depois < antes):
            aplicar_reducao(conn, p, c, saldo, em_separacao, removed=depois is None)
        if depois is not None and saldo > 0:  # the carteira holds open lines only
            row = {k: item.get(k) for k in CARTEIRA_COLUMNS} | {"qtd_saldo_produto_pedido": saldo}
            row["status_pedido"] = STATUS_PEDIDO.get(item["order_state"], "Pedido de venda")
            conn.execute(text(_CART_UPDATE if antes is not None else _CART_INSERT), row)
        elif antes is not None:
            conn.execute(text(_CART_DELETE), {"p": p, "c": c})
        if n % 10 == 0:
            conn.commit()
    for p in sorted(cancelados):
        conn.execute(text("UPDATE embarque_itens SET status = 'cancelado' WHERE pedido = :p"), {"p": p})
    conn.commit()


# --- runs ------------------------------------------------------------------------------------------
def run_naive(pg: PostgresResource) -> tuple[int, int]:
    with pg.engine().connect() as conn:
        naive_sync(conn)
    return TRIPS.statements, TRIPS.commits


def run_ours(pg: PostgresResource) -> tuple[int, int]:
    scope = Scope.single(EMP, DAY, first=False)

    def sync(conn: Connection) -> dict[str, int]:
        return carteira_unit(conn, scope, run_id="bench", partition_keys={DAY: "bench"})[DAY]

    unit = pg.unit_of_work(sync, name="carteira bench", lock=f"empreendimento:{EMP}")
    if (unit.statements, unit.commits) != (TRIPS.statements, TRIPS.commits):  # the project's counter vs ours
        print(
            f"note: unit of work counted {unit.statements}/{unit.commits}, listener {TRIPS.statements}/{TRIPS.commits}"
        )
    return unit.statements, unit.commits


_DECISIONS = (
    "SELECT 'pre', id, num_pedido, cod_produto, qtd_selecionada_usuario FROM pre_separacao_item UNION ALL"
    " SELECT 'sep', id, num_pedido, cod_produto, qtd_saldo FROM separacao"
)


def end_state(engine: Engine) -> tuple[str, frozenset, int]:
    """A hash of the carteira rows (generated ids and timestamps left out), the decision rows, the alerts."""
    with engine.connect() as conn:
        carteira = conn.execute(text(f"SELECT {', '.join(CARTEIRA_COLUMNS)} FROM carteira_principal ORDER BY 2, 3"))
        digest = hashlib.sha256(repr([tuple(r) for r in carteira]).encode()).hexdigest()[:12]
        decisions = frozenset(tuple(r) for r in conn.execute(text(_DECISIONS)))
        return digest, decisions, conn.execute(text("SELECT count(*) FROM alerta_separacao_cotada")).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=4093, help="source order lines in the partition")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per case (median reported)")
    args = parser.parse_args()

    pg = PostgresResource(database_url=database_url())
    engine = pg.engine()
    with engine.begin() as conn:
        create_schema(conn)
    event.listen(engine, "before_cursor_execute", TRIPS.statement)
    event.listen(engine, "commit", TRIPS.commit)
    data = generate(args.lines)
    print(", ".join(f"{len(rows)} {table}" for table, rows in data.items()) + f"; {args.repeat} repetitions")
    started = time.perf_counter()
    for _ in range(100):
        time.sleep(LATENCY_S)
    print(f"one {LATENCY_S * 1000:g} ms round trip delay really sleeps {(time.perf_counter() - started) * 10:.2f} ms")

    sides = {"naive": run_naive, "ours": run_ours}
    runs: dict[tuple[float, str], list[tuple[float, int, int, tuple[str, frozenset, int]]]] = {}
    for latency in LATENCIES:
        for _ in range(args.repeat):
            for side, run in sides.items():  # interleaved, so drift hits both sides alike
                reset(engine, data)
                TRIPS.reset(latency)
                started = time.perf_counter()
                statements, commits = run(pg)
                ms = (time.perf_counter() - started) * 1000
                TRIPS.reset(0.0)
                runs.setdefault((latency, side), []).append((ms, statements, commits, end_state(engine)))

    median = {case: statistics.median(r[0] for r in results) for case, results in runs.items()}
    print(f"{'latency':>7} {'side':<5} {'median ms':>9} {'min-max ms':>11} {'statements':>10} {'commits':>7} alerts")
    for (latency, side), results in runs.items():
        _, statements, commits, (_, _, alerts) = results[-1]
        spread = f"{min(r[0] for r in results):.0f}-{max(r[0] for r in results):.0f}"
        print(
            f"{latency * 1000:>5.0f}ms {side:<5} {median[latency, side]:>9.1f} {spread:>11} {statements:>10} "
            f"{commits:>7} {alerts:>6}"
        )
    ratio = {lat: median[lat, "naive"] / median[lat, "ours"] for lat in LATENCIES}
    carteiras = {r[3][0] for results in runs.values() for r in results}
    naive_decisions, ours_decisions = runs[0.0, "naive"][-1][3][1], runs[0.0, "ours"][-1][3][1]
    print(
        f"naive/ours {ratio[0.0]:.1f}x at 0 ms, {ratio[LATENCY_S]:.1f}x at {LATENCY_S * 1000:g} ms; "
        f"same carteira_principal on both sides: {'yes' if len(carteiras) == 1 else 'NO'}; "
        f"decision rows only on one side (naive/ours): {len(naive_decisions - ours_decisions)}/"
        f"{len(ours_decisions - naive_decisions)} of {len(ours_decisions)}"
    )
    _, statements, commits, _ = runs[0.0, "ours"][-1]
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"ratio_0ms={ratio[0.0]:.1f} ratio_2ms={ratio[LATENCY_S]:.1f} ours_ms={median[0.0, 'ours']:.1f} "
        f"statements={statements} commits={commits} peak_rss_mb={peak_rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
