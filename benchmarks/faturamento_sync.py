"""Faturamento sync: the seeds' naive per-row algorithm against the project's set-based partition.

Both sides get the same generated invoice lines (no Odoo involved) and the same local PostgreSQL,
starting from the same state, in two scenarios: an empty table, and a re-sync of the same data over
a full table. Each is run with no added latency and with a fixed delay on every database round trip
(statement or commit), which models a hosted database over SSL. Figures only: nothing here fails on
speed. Usage: DATABASE_URL=... python benchmarks/faturamento_sync.py [--lines N] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import resource
import statistics
import time
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

import sync_pipeline.db.staging as staging_db
from sync_pipeline.db.faturamento import apply_partition
from sync_pipeline.db.schema import create_schema, odoo_fatura_linha
from sync_pipeline.db.staging import Scope, mirror_partitions, staged_columns
from sync_pipeline.resources.postgres import PostgresResource
from sync_pipeline.settings import database_url

EMP = "EMP-BENCH"
DAY = date(2025, 9, 3)
LATENCY_S = 0.002  # per round trip: a hosted database over SSL
LATENCIES = (0.0, LATENCY_S)
SCENARIOS = ("empty", "re-sync")
STATUS = {"posted": "Lançado", "cancel": "Cancelado"}
TABLES = (
    "odoo_fatura_linha, faturamento_produto, relatorio_faturamento_importado, cadastro_palletizacao, "
    "separacao, embarque_itens, movimentacao_estoque, sync_rejeitado"
)


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
_copy_rows = staging_db.copy_rows


def _copy_rows_with_latency(*args: object, **kwargs: object) -> int:
    # COPY runs on the raw DBAPI cursor, which SQLAlchemy's events do not see: count and delay it here.
    TRIPS.statement()
    return _copy_rows(*args, **kwargs)


staging_db.copy_rows = _copy_rows_with_latency

STAGE_COLUMNS = staged_columns(odoo_fatura_linha)


def stage_partition(conn: Connection, scope: Scope, rows: list[dict], *, partition_key: str, **kw: str) -> dict:
    """Mirror the partition's invoice lines into ``odoo_fatura_linha``, as the extract asset does."""
    keys = {scope.start: partition_key}
    return mirror_partitions(conn, odoo_fatura_linha, scope, rows, {}, partition_keys=keys, **kw)[scope.start]


# --- data ------------------------------------------------------------------------------------------
def generate(lines: int, seed: int = 20250903) -> tuple[list[dict], dict[str, list[str]]]:
    """Invoice lines of one partition (distinct products per NF) and the operational rows to seed."""
    rng = random.Random(seed)
    products = [(f"P{i:04d}", f"Produto {i}", Decimal(rng.randint(500, 30000)) / 1000) for i in range(1, 151)]
    customers = [
        (f"{rng.randrange(10**13, 10**14)}", f"Cliente {i}", f"Cidade {i % 40}", rng.choice(["SP", "RJ", "MG"]))
        for i in range(120)
    ]
    n_nf = max(1, min(lines, lines * 700 // 4093))
    per_nf = [1] * n_nf
    for _ in range(lines - n_nf):
        i = rng.randrange(n_nf)
        while per_nf[i] >= len(products):
            i = rng.randrange(n_nf)
        per_nf[i] += 1
    cancelled = set(rng.sample(range(n_nf), max(1, round(n_nf * 0.03))))
    rows, line_id = [], 1
    for i, count in enumerate(per_nf):
        cnpj, nome, municipio, estado = rng.choice(customers)
        state = "cancel" if i in cancelled else "posted"
        for cod, nome_produto, peso in rng.sample(products, count):
            qtd = Decimal(rng.randint(1, 400))
            preco = Decimal(rng.randint(100, 50000)) / 100
            values = [line_id, 50000 + i, EMP, DAY, f"{100000 + i}", "out_invoice", state, DAY, cnpj, nome]
            values += [municipio, estado]
            values += ["Vendedor A", "Equipe 1", f"VCD{2000000 + i}", cod, nome_produto, qtd, preco]
            values += [(qtd * preco * Decimal("1.1")).quantize(Decimal("0.01")), peso, None, None]
            values.append(datetime(2025, 9, 3, 12, 0, 0))
            rows.append(dict(zip(STAGE_COLUMNS, values, strict=True)))
            line_id += 1
    posted = [f"{100000 + i}" for i in range(n_nf) if i not in cancelled]
    refs = {
        "cancelled": [f"{100000 + i}" for i in sorted(cancelled)],
        "posted": rng.sample(posted, min(len(posted), 200)),
    }
    return rows, refs


def reset(engine: Engine, refs: dict[str, list[str]]) -> None:
    """Empty the tables and seed separação / embarque / movimentação rows pointing at NFs."""
    nfs = [(nf, k) for nf in refs["cancelled"] + refs["posted"] for k in range(2)]

    def pedido(nf: str) -> str:  # the order the NF invoices (its lines' origem): the app's rows name it
        return f"VCD{2000000 + int(nf) - 100000}"

    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY"))
        conn.execute(
            text(
                "INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status,"
                " sincronizado_nf, numero_nf) VALUES (:lote, :ped, 'P0001', 10, 'FATURADO', true, :nf)"
            ),
            [{"lote": f"LOTE-{nf}-{k}", "ped": pedido(nf), "nf": nf} for nf, k in nfs],
        )
        conn.execute(
            text("INSERT INTO embarque_itens (embarque_id, pedido, nota_fiscal) VALUES (1, :ped, :nf)"),
            [{"ped": pedido(nf), "nf": nf} for nf, k in nfs if k == 0],
        )
        conn.execute(
            text(
                "INSERT INTO movimentacao_estoque (cod_produto, tipo_movimentacao, local_movimentacao,"
                " qtd_movimentacao, numero_nf, status_nf) VALUES ('P0001', 'FATURAMENTO', 'VENDA', 10, :nf,"
                " 'FATURADO')"
            ),
            [{"nf": nf} for nf, k in nfs],
        )


# --- naive: the seeds' "before" ------------------------------------------------------------------
# faturamento_produto column -> staged line key, for the columns the naive service wrote.
_FAT = {c: c for c in ("empreendimento", "numero_nf", "data_fatura", "cnpj_cliente", "nome_cliente", "municipio")}
_FAT |= {c: c for c in ("estado", "vendedor", "equipe_vendas", "origem", "cod_produto", "nome_produto")}
_FAT |= {"qtd_produto_faturado": "quantidade", "preco_produto_faturado": "preco_unitario"}
_FAT |= {"valor_produto_faturado": "valor_total", "peso_unitario_produto": "peso_unitario"}
_FAT |= {c: c for c in ("peso_total", "status_nf", "odoo_move_id", "odoo_write_date")}
_FAT_INSERT = (
    f"INSERT INTO faturamento_produto ({', '.join(_FAT)}) VALUES ({', '.join(':' + k for k in _FAT.values())})"
    " RETURNING id"
)
_FAT_UPDATE = (
    f"UPDATE faturamento_produto SET {', '.join(f'{c} = :{k}' for c, k in _FAT.items())}, updated_at = now()"
    " WHERE id = :id"
)
_NF_TOTALS = (
    "SELECT min(odoo_move_id), min(empreendimento), min(data_fatura), min(cnpj_cliente), min(nome_cliente),"
    " min(municipio), min(estado), min(vendedor), min(equipe_vendas), min(origem),"
    " sum(valor_produto_faturado), sum(peso_total), min(status_nf), bool_and(status_nf <> 'Cancelado')"
    " FROM faturamento_produto WHERE numero_nf = :nf"
)
_RELATORIO_UPSERT = (
    "INSERT INTO relatorio_faturamento_importado (odoo_move_id, empreendimento, data_fatura, cnpj_cliente,"
    " nome_cliente, municipio, estado, vendedor, equipe_vendas, origem, valor_total, peso_bruto, status_nf,"
    " ativo, numero_nf) VALUES (:a0, :a1, :a2, :a3, :a4, :a5, :a6, :a7, :a8, :a9, :a10, :a11, :a12, :a13, :nf)"
    " ON CONFLICT (odoo_move_id) DO UPDATE SET valor_total = EXCLUDED.valor_total,"
    " peso_bruto = EXCLUDED.peso_bruto, status_nf = EXCLUDED.status_nf, ativo = EXCLUDED.ativo,"
    " updated_at = now()"
)
_CANCEL = (
    "UPDATE faturamento_produto SET status_nf = 'Cancelado', updated_at = now()"
    " WHERE numero_nf = :nf AND status_nf <> 'Cancelado'",
    "UPDATE movimentacao_estoque SET status_nf = 'CANCELADO', ativo = false WHERE numero_nf = :nf",
    "UPDATE embarque_itens SET nota_fiscal = NULL, erro_validacao = 'NF cancelada no Odoo' WHERE nota_fiscal = :nf",
    "UPDATE separacao SET numero_nf = NULL, sincronizado_nf = false WHERE numero_nf = :nf",
)


def naive_sync(conn: Connection, rows: list[dict]) -> int:
    """Row by row, as faturamento_service.py did; returns the rows its statements touched."""
    written = 0
    existing = {  # problem #1: every key of the table in memory
        f"{nf}|{cod}": (fid, status)
        for nf, cod, fid, status in conn.execute(
            text("SELECT numero_nf, cod_produto, id, status_nf FROM faturamento_produto")
        )
    }
    for n, row in enumerate(rows, start=1):
        cod = row["cod_produto"]
        found = conn.execute(  # problem #2: one lookup per line
            text("SELECT id FROM cadastro_palletizacao WHERE cod_produto = :cod LIMIT 1"), {"cod": cod}
        ).first()
        if found is None:
            written += conn.execute(
                text(
                    "INSERT INTO cadastro_palletizacao (cod_produto, nome_produto, palletizacao, peso_bruto)"
                    " VALUES (:cod, :nome, 1.0, :peso)"
                ),
                {"cod": cod, "nome": row["nome_produto"], "peso": row["peso_unitario"] or Decimal("1.0")},
            ).rowcount
        peso_total = (row["quantidade"] * row["peso_unitario"]).quantize(Decimal("0.001"))
        params = row | {"peso_total": peso_total, "status_nf": STATUS[row["move_state"]]}
        key = f"{row['numero_nf']}|{cod}"
        if key in existing:  # the service overwrote every row it already had
            written += conn.execute(text(_FAT_UPDATE), params | {"id": existing[key][0]}).rowcount
        else:
            existing[key] = (conn.execute(text(_FAT_INSERT), params).scalar_one(), params["status_nf"])
            written += 1
        if n % 10 == 0:  # problem #8: many small commits
            conn.commit()
    conn.commit()
    for nf in dict.fromkeys(r["numero_nf"] for r in rows):  # consolidation, one NF at a time
        totals = conn.execute(text(_NF_TOTALS), {"nf": nf}).one()
        written += conn.execute(
            text(_RELATORIO_UPSERT), {f"a{i}": v for i, v in enumerate(totals)} | {"nf": nf}
        ).rowcount
    conn.commit()
    for nf in dict.fromkeys(r["numero_nf"] for r in rows if r["move_state"] == "cancel"):
        for sql in _CANCEL:  # problem #3: four separate UPDATEs per cancelled NF
            written += conn.execute(text(sql), {"nf": nf}).rowcount
        conn.commit()
    return written


# --- runs ------------------------------------------------------------------------------------------
def run_naive(pg: PostgresResource, rows: list[dict]) -> tuple[int, int, int]:
    with pg.engine().connect() as conn:
        written = naive_sync(conn, rows)
    return TRIPS.statements, TRIPS.commits, written


def run_ours(pg: PostgresResource, rows: list[dict], after_stage=None) -> tuple[int, int, int]:
    """Stage and apply one partition in a unit of work each; ``after_stage(pg, rows staged)`` runs
    between them (the asset's ANALYZE of a large staging), its statements not counted."""
    scope = Scope.single(EMP, DAY, first=False)
    key = f"{DAY.isoformat()}|{EMP}"
    stage = pg.unit_of_work(
        lambda conn: stage_partition(conn, scope, rows, asset="faturamento_linhas", partition_key=key, run_id="bench"),
        name=f"stage {key}",
    )
    if after_stage is not None:
        before = (TRIPS.statements, TRIPS.commits)
        after_stage(pg, len(rows))
        TRIPS.statements, TRIPS.commits = before
    apply = pg.unit_of_work(lambda conn: apply_partition(conn, scope), name=f"apply {key}")
    counts = apply.value
    written = sum(counts[k] for k in ("inserted", "updated", "deleted", "products_created", "relatorio_upserted"))
    written += sum(counts[k] for k in ("movimentacao_cancelled", "embarque_cleared", "separacao_released"))
    statements, commits = stage.statements + apply.statements, stage.commits + apply.commits
    if (statements, commits) != (TRIPS.statements, TRIPS.commits):  # the project's counter vs ours
        print(f"note: unit of work counted {statements}/{commits}, listener {TRIPS.statements}/{TRIPS.commits}")
    return statements, commits, written


DIGEST = {
    "faturamento_produto": "odoo_move_id, cod_produto, numero_nf, empreendimento, data_fatura, cnpj_cliente,"
    " origem, qtd_produto_faturado, preco_produto_faturado, valor_produto_faturado, peso_unitario_produto,"
    " peso_total, status_nf",
    "relatorio_faturamento_importado": "odoo_move_id, numero_nf, valor_total, peso_bruto, status_nf, ativo",
    "cadastro_palletizacao": "cod_produto, nome_produto, palletizacao, peso_bruto",
    "separacao": "id, numero_nf, sincronizado_nf",
    "embarque_itens": "id, nota_fiscal, erro_validacao",
    "movimentacao_estoque": "id, status_nf, ativo",
}


def state_digest(engine: Engine) -> str:
    """A hash of the end state both sides must agree on (generated ids and timestamps left out)."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table, cols in DIGEST.items():
            # Sorted whole rows: a grouped invoice has two rows of one (move, product).
            for row in sorted(repr(tuple(r)) for r in conn.execute(text(f"SELECT {cols} FROM {table}"))):
                digest.update(row.encode())
    return digest.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=4093, help="invoice lines in the partition")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per case (median reported)")
    args = parser.parse_args()

    pg = PostgresResource(database_url=database_url())
    engine = pg.engine()
    with engine.begin() as conn:
        create_schema(conn)
    event.listen(engine, "before_cursor_execute", TRIPS.statement)
    event.listen(engine, "commit", TRIPS.commit)
    rows, refs = generate(args.lines)
    n_nf = len({r["numero_nf"] for r in rows})
    print(f"{len(rows)} lines, {n_nf} NFs, {len(refs['cancelled'])} cancelled, {args.repeat} repetitions")
    started = time.perf_counter()
    for _ in range(100):
        time.sleep(LATENCY_S)
    print(f"one {LATENCY_S * 1000:g} ms round trip delay really sleeps {(time.perf_counter() - started) * 10:.2f} ms")

    sides = {"naive": run_naive, "ours": run_ours}
    runs: dict[tuple[str, float, str], list[tuple[float, int, int, int, str]]] = {}
    for scenario in SCENARIOS:
        for latency in LATENCIES:
            for _ in range(args.repeat):
                for side, run in sides.items():  # interleaved, so drift hits both sides alike
                    reset(engine, refs)
                    if scenario == "re-sync":
                        TRIPS.reset(0.0)
                        run_ours(pg, rows)
                    TRIPS.reset(latency)
                    started = time.perf_counter()
                    statements, commits, written = run(pg, rows)
                    ms = (time.perf_counter() - started) * 1000
                    TRIPS.reset(0.0)
                    runs.setdefault((scenario, latency, side), []).append(
                        (ms, statements, commits, written, state_digest(engine))
                    )

    median = {case: statistics.median(r[0] for r in results) for case, results in runs.items()}
    header = f"{'scenario':<8} {'latency':>7} {'side':<5} {'median ms':>9} {'min-max ms':>11} {'statements':>10}"
    print(f"{header} {'commits':>7} {'written':>7}")
    for (scenario, latency, side), results in runs.items():
        _, statements, commits, written, _ = results[-1]
        spread = f"{min(r[0] for r in results):.0f}-{max(r[0] for r in results):.0f}"
        print(
            f"{scenario:<8} {latency * 1000:>5.0f}ms {side:<5} {median[scenario, latency, side]:>9.1f} {spread:>11} "
            f"{statements:>10} {commits:>7} {written:>7}"
        )
    ratio = {(sc, lat): median[sc, lat, "naive"] / median[sc, lat, "ours"] for sc in SCENARIOS for lat in LATENCIES}
    for scenario in SCENARIOS:
        states = {r[4] for (sc, _, _), results in runs.items() if sc == scenario for r in results}
        print(
            f"{scenario}: naive/ours {ratio[scenario, 0.0]:.1f}x at 0 ms, {ratio[scenario, LATENCY_S]:.1f}x at "
            f"{LATENCY_S * 1000:g} ms; same end state on both sides: {'yes' if len(states) == 1 else 'NO'}"
        )
    _, statements, commits, _, _ = runs["empty", 0.0, "ours"][-1]
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"ratio_0ms={ratio['empty', 0.0]:.1f} ratio_2ms={ratio['empty', LATENCY_S]:.1f} "
        f"ours_ms={median['empty', 0.0, 'ours']:.1f} statements={statements} commits={commits} "
        f"peak_rss_mb={peak_rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
