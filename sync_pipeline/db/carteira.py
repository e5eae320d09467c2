"""Set-based SQL of the carteira graph (DESIGN §5.2, §5.3): a constant number of statements per
chunk of partitions (a ``Scope``: one empreendimento, several dates), in one transaction with the
decisions it adjusts; every line carries the date of the partition it belongs to, and the counts
come back per date.

1. ``load_partitions``: the scope's lines — the carteira as it stands (the "memory"), the source
   now (``odoo_pedido_linha``), the invoiced quantities (``faturado_por_pedido``, refreshed first in
   the same transaction by ``db/saldos.py``) — in one query, and the decisions of its orders
   (pré-separações, separações) in two more.
2. The plan is made in Python by ``sync_pipeline.domain.hierarchy`` (no SQL there).
3. ``write_partitions``: decisions adjusted, diffs and alerts recorded, embarques of cancelled
   orders marked, all in one statement; then the carteira rows upserted and the lines that are no
   longer open deleted.

An order whose date moved (Odoo's ``action_confirm`` rewrites ``date_order``) belongs to the
partition that stages it now: the memory of a partition is the carteira of the orders it stages,
plus its own-dated rows of orders staged nowhere (deleted in Odoo → REMOVIDO).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import column, select, text
from sqlalchemy.engine import Connection

from sync_pipeline.db.rejects import record_rejects
from sync_pipeline.db.schema import carteira_principal
from sync_pipeline.db.staging import Scope, day_of, owns, owns_any, per_day
from sync_pipeline.db.upsert import upsert_statement
from sync_pipeline.domain.carteira import CANCELLED_STATE, STATUS_PEDIDO, STATUS_PEDIDO_DEFAULT, ambiguous_order_reject
from sync_pipeline.domain.faturamento import CANCELADO
from sync_pipeline.domain.hierarchy import (
    OPEN_STATUSES,
    PRE_CLOSED_STATUSES,
    LineChange,
    LinePlan,
    PreSeparacao,
    Separacao,
    diff_tipo,
    is_changed,
)


def rule_params() -> dict:
    """The rules of DESIGN §5.2/§5.3 the SQL applies, from their one home in ``domain/``."""
    return {
        "status_pedido": json.dumps(STATUS_PEDIDO),
        "status_pedido_default": STATUS_PEDIDO_DEFAULT,
        "cancel_state": CANCELLED_STATE,
        "open_statuses": list(OPEN_STATUSES),
        "closed": list(PRE_CLOSED_STATUSES),
        "cancelado": CANCELADO,
    }


# Σ signed invoiced quantity (credit notes negative) of the empreendimento's orders, not cancelled:
# Odoo's qty_invoiced, and the NFs counted. Written per partition to faturado_por_pedido
# (db/saldos.py), which the carteira and its saldos read.
INVOICED_SQL = """
    SELECT f.origem AS num_pedido, f.cod_produto, sum(f.qtd_produto_faturado) AS qtd,
           count(DISTINCT f.odoo_move_id) AS notas
    FROM faturamento_produto f
    WHERE f.empreendimento = :emp AND f.origem IN (SELECT num_pedido FROM {orders})
      AND f.status_nf <> :cancelado
    GROUP BY f.origem, f.cod_produto
"""
# The orders a partition owns, with its date (``day``): those it stages, and those staged nowhere any
# more (deleted in Odoo) whose carteira rows carry its date. Each order belongs to one partition at
# a time.
PARTITION_ORDERS_SQL = f"""
    SELECT l.num_pedido, min(l.partition_date) AS day FROM odoo_pedido_linha l
    WHERE l.empreendimento = :emp AND {owns("l", "partition_date")}
    GROUP BY l.num_pedido
    UNION ALL
    SELECT c.num_pedido, min({day_of("c", "data_pedido")}) AS day FROM carteira_principal c
    WHERE c.empreendimento = :emp AND {owns("c", "data_pedido")}
      AND NOT EXISTS (SELECT 1 FROM odoo_pedido_linha o WHERE o.num_pedido = c.num_pedido AND o.empreendimento = :emp)
    GROUP BY c.num_pedido
"""
# Open decisions of a key (the operational tables have no empreendimento column).
OPEN_SEPARACAO_SQL = "NOT {s}.sincronizado_nf AND upper({s}.status) = ANY(:open_statuses)"
OPEN_PRE_SQL = "upper({p}.status) <> ALL(:closed)"
# The carteira columns the sync writes: all but the row's id, its stamps, and the quantity the
# operational application cancels.
CARTEIRA_COLUMNS = [
    c.name
    for c in carteira_principal.c
    if c.name not in ("id", "qtd_cancelada_produto_pedido", "created_at", "updated_at")
]
CARTEIRA_ASSET = "carteira_principal"  # the asset its rejects are recorded under


@dataclass
class PartitionLines:
    changes: list[LineChange]
    pre: list[PreSeparacao]
    seps: list[Separacao]
    # lines whose carteira row may differ from the source: new, saldo moved, or source restaged
    # since the row was last written (staged_at > updated_at); the others are left untouched
    stale: set[tuple[str, str]]
    # orders whose number another empreendimento also stages: their decisions are not adjusted
    ambiguous: dict[str, int]  # num_pedido → odoo order id
    # the date of the partition each line belongs to
    days: dict[tuple[str, str], date]


# The open lines to write with every carteira column: keys and saldos from the plan (`o`), every
# other column straight from the staged source (same product twice is summed).
_SOURCE_SQL = f"""
    SELECT l.num_pedido, l.cod_produto, o.qtd_saldo_produto_pedido,
           min(l.empreendimento) AS empreendimento, min(l.data_pedido) AS data_pedido,
           COALESCE(CAST(:status_pedido AS jsonb) ->> min(l.order_state), :status_pedido_default) AS status_pedido,
           min(l.cnpj_cpf) AS cnpj_cpf, min(l.raz_social) AS raz_social, min(l.municipio) AS municipio,
           min(l.estado) AS estado, min(l.vendedor) AS vendedor, min(l.equipe_vendas) AS equipe_vendas,
           min(l.pedido_cliente) AS pedido_cliente, min(l.data_entrega_pedido) AS data_entrega_pedido,
           min(l.nome_produto) AS nome_produto, sum(l.qtd_produto_pedido) AS qtd_produto_pedido,
           CASE WHEN sum(l.qtd_produto_pedido) = 0 THEN max(l.preco_produto_pedido)
                ELSE round(sum(l.qtd_produto_pedido * l.preco_produto_pedido) / sum(l.qtd_produto_pedido), 4)
           END AS preco_produto_pedido,
           min(l.odoo_order_id) AS odoo_order_id, max(l.odoo_write_date) AS odoo_write_date
    FROM odoo_pedido_linha l
    JOIN unnest(CAST(:pedidos AS text[]), CAST(:produtos AS text[]), CAST(:saldos AS numeric[]))
        AS o(num_pedido, cod_produto, qtd_saldo_produto_pedido)
        ON o.num_pedido = l.num_pedido AND o.cod_produto = l.cod_produto
    WHERE l.empreendimento = :emp AND {owns("l", "partition_date")}
    GROUP BY l.num_pedido, l.cod_produto, o.qtd_saldo_produto_pedido
"""

# Before (the memory), after (the source), invoiced: only what the plan needs, one row per key.
_LINES_SQL = f"""
WITH src AS (
    SELECT l.num_pedido, l.cod_produto, sum(l.qtd_produto_pedido) AS qtd,
           bool_or(l.order_state = :cancel_state) AS cancelado, max(l.staged_at) AS staged_at,
           min(l.odoo_order_id) AS odoo_order_id, min(l.partition_date) AS day
    FROM odoo_pedido_linha l
    WHERE l.empreendimento = :emp AND {owns("l", "partition_date")}
    GROUP BY l.num_pedido, l.cod_produto
),
src_orders AS (SELECT num_pedido, min(day) AS day FROM src GROUP BY num_pedido),
mem AS (  -- two index scans: the carteira of the staged orders, and own-dated rows staged nowhere
    SELECT c.num_pedido, c.cod_produto, c.qtd_produto_pedido, c.qtd_saldo_produto_pedido, c.updated_at, so.day
    FROM carteira_principal c JOIN src_orders so ON so.num_pedido = c.num_pedido
    WHERE c.empreendimento = :emp
    UNION
    SELECT c.num_pedido, c.cod_produto, c.qtd_produto_pedido, c.qtd_saldo_produto_pedido, c.updated_at,
           {day_of("c", "data_pedido")}
    FROM carteira_principal c
    WHERE c.empreendimento = :emp AND {owns("c", "data_pedido")}
      AND NOT EXISTS (SELECT 1 FROM odoo_pedido_linha o
                      WHERE o.num_pedido = c.num_pedido AND o.empreendimento = :emp)
),
-- Open decisions on lines no partition holds any more (an order deleted in Odoo whose separação an
-- NF cancellation released): the empreendimento of the NFs that invoiced the order plans them.
orphans AS (
    SELECT d.num_pedido, d.cod_produto
    FROM (SELECT s.num_pedido, s.cod_produto FROM separacao s WHERE {OPEN_SEPARACAO_SQL.format(s="s")}
          UNION
          SELECT p.num_pedido, p.cod_produto FROM pre_separacao_item p WHERE {OPEN_PRE_SQL.format(p="p")}) d
    WHERE NOT EXISTS (SELECT 1 FROM odoo_pedido_linha o WHERE o.num_pedido = d.num_pedido)
      AND NOT EXISTS (SELECT 1 FROM carteira_principal c WHERE c.num_pedido = d.num_pedido)
      AND EXISTS (SELECT 1 FROM faturamento_produto f WHERE f.origem = d.num_pedido AND f.empreendimento = :emp)
),
keys AS (  -- orphans are planned by the scope's first date
    SELECT num_pedido, cod_produto, min(day) AS day
    FROM (SELECT num_pedido, cod_produto, day FROM src
          UNION ALL SELECT num_pedido, cod_produto, day FROM mem
          UNION ALL SELECT num_pedido, cod_produto, CAST(:start AS date) FROM orphans) k
    GROUP BY num_pedido, cod_produto
),
-- invoiced: the aggregate written for the partition's orders in this transaction; the orders no
-- partition holds (orphans) read their invoices directly
fat AS (
    SELECT t.num_pedido, t.cod_produto, t.qtd_faturada AS qtd FROM faturado_por_pedido t
    WHERE t.empreendimento = :emp AND t.num_pedido IN (SELECT num_pedido FROM src UNION SELECT num_pedido FROM mem)
    UNION ALL
    SELECT i.num_pedido, i.cod_produto, i.qtd FROM ({INVOICED_SQL.format(orders="orphans")}) i
)
SELECT k.num_pedido, k.cod_produto, mem.qtd_produto_pedido, src.qtd, COALESCE(fat.qtd, 0), src.cancelado,
       mem.qtd_saldo_produto_pedido, (mem.updated_at IS NULL OR src.staged_at > mem.updated_at),
       src.odoo_order_id, amb.num_pedido IS NOT NULL, k.day
FROM keys k
LEFT JOIN src USING (num_pedido, cod_produto)
LEFT JOIN mem USING (num_pedido, cod_produto)
LEFT JOIN fat USING (num_pedido, cod_produto)
LEFT JOIN LATERAL (SELECT o.num_pedido FROM odoo_pedido_linha o
                   WHERE o.num_pedido = k.num_pedido AND o.empreendimento <> :emp LIMIT 1) amb ON true
-- Quiet lines (same ordered quantity, same saldo, source not restaged since the row was written,
-- no open decision) have nothing to plan or write: most of a partition on an incremental run. An
-- ambiguous order is never quiet: every run reports it (its rejects stay while it is ambiguous).
WHERE amb.num_pedido IS NOT NULL
   OR mem.qtd_produto_pedido IS DISTINCT FROM src.qtd
   OR src.cancelado
   OR src.staged_at > mem.updated_at
   OR mem.qtd_saldo_produto_pedido IS DISTINCT FROM src.qtd - COALESCE(fat.qtd, 0)
   OR EXISTS (SELECT 1 FROM separacao s
              WHERE s.num_pedido = k.num_pedido AND s.cod_produto = k.cod_produto
                AND {OPEN_SEPARACAO_SQL.format(s="s")})
   OR EXISTS (SELECT 1 FROM pre_separacao_item p
              WHERE p.num_pedido = k.num_pedido AND p.cod_produto = k.cod_produto AND {OPEN_PRE_SQL.format(p="p")})
ORDER BY k.num_pedido, k.cod_produto
"""


def load_partitions(conn: Connection, scope: Scope) -> PartitionLines:
    """The lines of the scope's partitions that may need planning, with the date of the partition
    each belongs to, and the open decisions of their orders: three queries."""
    changes: list[LineChange] = []
    stale: set[tuple[str, str]] = set()
    ambiguous: dict[str, int] = {}
    days: dict[tuple[str, str], date] = {}
    for (
        pedido,
        produto,
        antes,
        depois,
        faturada,
        cancelado,
        saldo_atual,
        source_changed,
        order_id,
        is_ambiguous,
        day,
    ) in conn.execute(text(_LINES_SQL), {**scope.params(), **rule_params()}):
        if is_ambiguous:
            ambiguous[pedido] = min(order_id or 0, ambiguous.get(pedido) or order_id or 0)
        changes.append(
            LineChange(
                num_pedido=pedido,
                cod_produto=produto,
                qtd_pedido_antes=antes,
                qtd_pedido_depois=depois,
                qtd_faturada=faturada,
                pedido_cancelado=bool(cancelado),
            )
        )
        days[(pedido, produto)] = day
        if source_changed or saldo_atual is None or depois is None or saldo_atual != depois - faturada:
            stale.add((pedido, produto))
    # the decisions of ambiguous orders cannot be told apart from the other empreendimento's
    orders = sorted({c.num_pedido for c in changes} - set(ambiguous))
    pre = [
        PreSeparacao(id=r[0], num_pedido=r[1], cod_produto=r[2], qtd=r[3], criado_em=r[4])
        for r in conn.execute(
            text(
                "SELECT id, num_pedido, cod_produto, qtd_selecionada_usuario, data_criacao "
                f"FROM pre_separacao_item p WHERE num_pedido = ANY(:orders) AND {OPEN_PRE_SQL.format(p='p')}"
            ),
            {"orders": orders, "closed": list(PRE_CLOSED_STATUSES)},
        )
    ]
    seps = [
        Separacao(
            id=r[0],
            lote=r[1],
            num_pedido=r[2],
            cod_produto=r[3],
            status=r[4],
            tipo_envio=r[5] or "",
            qtd=r[6],
            sincronizado_nf=r[7],
        )
        for r in conn.execute(
            text(
                "SELECT id, separacao_lote_id, num_pedido, cod_produto, status, tipo_envio, qtd_saldo, "
                "sincronizado_nf FROM separacao WHERE num_pedido = ANY(:orders)"
            ),
            {"orders": orders},
        )
    ]
    return PartitionLines(changes=changes, pre=pre, seps=seps, stale=stale, ambiguous=ambiguous, days=days)


def _dec(q: Decimal | None) -> str | None:
    return None if q is None else format(q, "f")


# Everything a plan changes, in one statement: decisions, diffs, alerts, embarques; counted per day
# (each planned row carries the date of the partition its line belongs to).
_APPLY_SQL = """
WITH
pre_plan AS (SELECT * FROM jsonb_to_recordset(CAST(:pre AS jsonb)) AS x(id int, qtd numeric, day date)),
sep_plan AS (SELECT * FROM jsonb_to_recordset(CAST(:sep AS jsonb)) AS x(id int, qtd numeric, day date)),
sep_new AS (
    SELECT * FROM jsonb_to_recordset(CAST(:sep_new AS jsonb))
        AS x(lote text, num_pedido text, cod_produto text, qtd numeric, day date)
),
diffs AS (
    SELECT * FROM jsonb_to_recordset(CAST(:diffs AS jsonb))
        AS x(num_pedido text, cod_produto text, tipo text, qtd_antes numeric, qtd_depois numeric,
             delta numeric, absorcao jsonb, pk text, day date)
),
alerts AS (
    SELECT * FROM jsonb_to_recordset(CAST(:alerts AS jsonb))
        AS x(lote text, num_pedido text, cod_produto text, tipo_alteracao text, qtd_anterior numeric,
             qtd_nova numeric, qtd_diferenca numeric, nivel text, day date)
),
cancelled AS (SELECT * FROM jsonb_to_recordset(CAST(:cancelled AS jsonb)) AS x(num_pedido text, day date)),
pre_upd AS (
    UPDATE pre_separacao_item p SET qtd_selecionada_usuario = pp.qtd
    FROM pre_plan pp WHERE p.id = pp.id AND pp.qtd > 0 RETURNING pp.day
),
pre_del AS (DELETE FROM pre_separacao_item p USING pre_plan pp WHERE p.id = pp.id AND pp.qtd = 0 RETURNING pp.day),
sep_upd AS (
    UPDATE separacao s SET qtd_saldo = sp.qtd
    FROM sep_plan sp WHERE s.id = sp.id AND sp.qtd > 0 RETURNING sp.day
),
sep_del AS (DELETE FROM separacao s USING sep_plan sp WHERE s.id = sp.id AND sp.qtd = 0 RETURNING sp.day),
sep_ins AS (
    INSERT INTO separacao (separacao_lote_id, num_pedido, cod_produto, qtd_saldo, status, tipo_envio,
                           sincronizado_nf)
    SELECT n.lote, n.num_pedido, n.cod_produto, n.qtd, lot.status, lot.tipo_envio, false
    FROM sep_new n
    JOIN LATERAL (SELECT s.status, s.tipo_envio FROM separacao s
                  WHERE s.separacao_lote_id = n.lote AND NOT s.sincronizado_nf
                  ORDER BY s.id DESC LIMIT 1) lot ON true
    RETURNING num_pedido, cod_produto
),
diff_ins AS (
    INSERT INTO carteira_diff (run_id, partition_key, empreendimento, num_pedido, cod_produto, tipo, qtd_antes,
                               qtd_depois, delta, absorcao)
    SELECT :run_id, pk, :emp, num_pedido, cod_produto, tipo, qtd_antes, qtd_depois, delta, absorcao FROM diffs
    RETURNING partition_key
),
alert_ins AS (
    INSERT INTO alerta_separacao_cotada (separacao_lote_id, empreendimento, num_pedido, cod_produto,
                                         tipo_alteracao, qtd_anterior, qtd_nova, qtd_diferenca, nivel, run_id)
    SELECT lote, :emp, num_pedido, cod_produto, tipo_alteracao, qtd_anterior, qtd_nova, qtd_diferenca, nivel, :run_id
    FROM alerts
    RETURNING num_pedido, cod_produto
),
emb AS (
    UPDATE embarque_itens e SET status = 'cancelado'
    FROM cancelled c
    WHERE e.pedido = c.num_pedido AND e.status IS DISTINCT FROM 'cancelado'
    RETURNING c.day
)
SELECT d.day,
       (SELECT count(*) FROM pre_upd x WHERE x.day = d.day), (SELECT count(*) FROM pre_del x WHERE x.day = d.day),
       (SELECT count(*) FROM sep_upd x WHERE x.day = d.day), (SELECT count(*) FROM sep_del x WHERE x.day = d.day),
       (SELECT count(*) FROM sep_ins x WHERE EXISTS (SELECT 1 FROM sep_new n WHERE n.num_pedido = x.num_pedido
                                                     AND n.cod_produto = x.cod_produto AND n.day = d.day)),
       (SELECT count(*) FROM diff_ins x WHERE x.partition_key = d.pk),
       (SELECT count(*) FROM alert_ins x WHERE EXISTS (SELECT 1 FROM alerts a WHERE a.num_pedido = x.num_pedido
                                                       AND a.cod_produto = x.cod_produto AND a.day = d.day)),
       (SELECT count(*) FROM emb x WHERE x.day = d.day)
FROM unnest(CAST(:days AS date[]), CAST(:pks AS text[])) AS d(day, pk)
"""
_APPLY_COUNTS = (
    "pre_separacao_updated",
    "pre_separacao_deleted",
    "separacao_updated",
    "separacao_deleted",
    "separacao_created",
    "diffs",
    "alerts",
    "embarques_cancelled",
)


def write_partitions(
    conn: Connection,
    scope: Scope,
    lines: PartitionLines,
    plans: list[LinePlan],
    *,
    run_id: str,
    partition_keys: dict[date, str],
) -> dict[date, dict[str, int]]:
    """Apply the plans before replacing the carteira rows, in the caller's transaction: four
    statements whatever the number of partitions and lines; counts per day."""
    day_of_line = lines.days

    def day(p) -> date:
        return day_of_line[(p.num_pedido, p.cod_produto)]

    def iso(p) -> str:
        return day(p).isoformat()

    changed = [p for p in plans if is_changed(p)]
    params = {
        "pre": json.dumps(
            [{"id": i, "qtd": _dec(q), "day": iso(p)} for p in changed for i, q in p.pre_separacao_qtd.items()]
        ),
        "sep": json.dumps(
            [{"id": i, "qtd": _dec(q), "day": iso(p)} for p in changed for i, q in p.separacao_qtd.items()]
        ),
        "sep_new": json.dumps(
            [
                {"lote": lote, "num_pedido": p.num_pedido, "cod_produto": p.cod_produto, "qtd": _dec(q), "day": iso(p)}
                for p in changed
                for lote, q in p.separacao_nova
            ]
        ),
        "diffs": json.dumps(
            [
                {
                    "num_pedido": p.num_pedido,
                    "cod_produto": p.cod_produto,
                    "tipo": diff_tipo(p),
                    "qtd_antes": _dec(p.qtd_antes),
                    "qtd_depois": _dec(p.qtd_depois),
                    "delta": _dec(p.delta),
                    "absorcao": p.absorcao or None,
                    "pk": partition_keys[day(p)],
                    "day": iso(p),
                }
                for p in changed
                if diff_tipo(p) is not None
            ]
        ),
        "alerts": json.dumps(
            [
                {
                    "lote": a.lote,
                    "num_pedido": a.num_pedido,
                    "cod_produto": a.cod_produto,
                    "tipo_alteracao": a.tipo_alteracao,
                    "qtd_anterior": _dec(a.qtd_anterior),
                    "qtd_nova": _dec(a.qtd_nova),
                    "qtd_diferenca": _dec(a.qtd_diferenca),
                    "nivel": a.nivel,
                    "day": iso(p),
                }
                for p in changed
                for a in p.alerts
            ]
        ),
        "cancelled": json.dumps(
            [
                {"num_pedido": pedido, "day": d}
                for pedido, d in sorted(
                    {
                        (p.num_pedido, iso(p))
                        for p in plans
                        if p.pedido_cancelado and p.num_pedido not in lines.ambiguous
                    }
                )
            ]
        ),
        "run_id": run_id,
        **scope.params(),
        "pks": [partition_keys[d] for d in scope.days],
    }
    counts = per_day(conn.execute(text(_APPLY_SQL), params), _APPLY_COUNTS)

    opened = [p for p in plans if p.open_after and (p.num_pedido, p.cod_produto) in lines.stale]
    for inserted, pedido, produto in conn.execute(
        _UPSERT,
        {
            **scope.params(),
            **rule_params(),
            "pedidos": [p.num_pedido for p in opened],
            "produtos": [p.cod_produto for p in opened],
            "saldos": [p.saldo for p in opened],
        },
    ):
        of_day = counts[day_of_line[(pedido, produto)]]
        name = "rows_inserted" if inserted else "rows_updated"
        of_day[name] = of_day.get(name, 0) + 1
    closed = [p for p in plans if not p.open_after]
    for pedido, produto in conn.execute(
        text(
            """
            DELETE FROM carteira_principal c
            USING unnest(CAST(:pedidos AS text[]), CAST(:produtos AS text[])) AS x(num_pedido, cod_produto)
            WHERE c.empreendimento = :emp AND c.num_pedido = x.num_pedido AND c.cod_produto = x.cod_produto
            RETURNING c.num_pedido, c.cod_produto
            """
        ),
        {
            "emp": scope.empreendimento,
            "pedidos": [p.num_pedido for p in closed],
            "produtos": [p.cod_produto for p in closed],
        },
    ):
        of_day = counts[day_of_line[(pedido, produto)]]
        of_day["rows_deleted"] = of_day.get("rows_deleted", 0) + 1
    # an ambiguous order is reported by the partition of its (first) line
    order_day: dict[str, date] = {}
    for (pedido, _), d in sorted(day_of_line.items(), key=lambda kv: kv[1]):
        order_day.setdefault(pedido, d)
    rejects: dict[str, list] = {partition_keys[d]: [] for d in scope.days}
    for pedido, order_id in lines.ambiguous.items():
        rejects[partition_keys[order_day[pedido]]].append(
            ambiguous_order_reject(scope.empreendimento, pedido, order_id)
        )
    rejected = record_rejects(conn, rejects, asset=CARTEIRA_ASSET, run_id=run_id)
    for d in scope.days:
        of_day = counts[d]
        mine = [p for p in changed if day(p) == d]
        kinds: dict[str, int] = {}
        for p in mine:
            tipo = diff_tipo(p)
            if tipo:
                kinds[tipo] = kinds.get(tipo, 0) + 1
        of_day.update(
            {
                "critical_alerts": sum(1 for p in mine for a in p.alerts if a.nivel == "CRITICO"),
                "rows_inserted": of_day.get("rows_inserted", 0),
                "rows_updated": of_day.get("rows_updated", 0),
                "rows_deleted": of_day.get("rows_deleted", 0),
                "ambiguous_orders": sum(1 for pedido in lines.ambiguous if order_day[pedido] == d),
                "rejects_written": rejected[partition_keys[d]]["rejects_written"],
                **{f"diff_{k.lower()}": v for k, v in sorted(kinds.items())},
            }
        )
    return counts


# Rows equal to the current ones are left out before the insert: nothing written, no lock taken.
_open_lines = text(_SOURCE_SQL).columns(*(column(c, carteira_principal.c[c].type) for c in CARTEIRA_COLUMNS))
_UPSERT = upsert_statement(
    carteira_principal,
    "uq_carteira_emp_pedido_produto",
    select(*_open_lines.subquery("open_lines").c),
    filter_unchanged=True,
    returning=[carteira_principal.c.num_pedido, carteira_principal.c.cod_produto],
)


def critical_alerts_of_run(engine, run_id: str) -> list[tuple]:
    """The CRITICO alerts one run wrote: (lote, empreendimento, pedido, produto, tipo, antes, depois)."""
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('alerta_separacao_cotada') IS NOT NULL")).scalar():
            return []
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT separacao_lote_id, empreendimento, num_pedido, cod_produto, tipo_alteracao, qtd_anterior, "
                    "qtd_nova FROM alerta_separacao_cotada WHERE run_id = :run AND nivel = 'CRITICO' ORDER BY id"
                ),
                {"run": run_id},
            )
        ]


# What the carteira multi-asset counts for each day (a chunk with nothing in it reports them at 0).
COUNTS = (
    *_APPLY_COUNTS,
    "critical_alerts",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "ambiguous_orders",
    "rejects_written",
    "partitions_replanned",
    *(f"{aggregate}_{k}" for aggregate in ("faturado", "separado") for k in ("keys", "rows_written", "rows_deleted")),
)


def carteira_has_rows(conn: Connection, scope: Scope) -> bool:
    """Whether the scope holds anything the carteira plans: staged order lines, carteira rows or
    aggregated saldos of its dates, or NFs of its dates (they may have made another date's orders
    stale). One query; a scope without any has nothing to do."""
    return owns_any(
        conn,
        scope,
        ("odoo_pedido_linha", "partition_date"),
        ("carteira_principal", "data_pedido"),
        ("faturado_por_pedido", "partition_date"),
        ("separado_por_pedido", "partition_date"),
        ("faturamento_produto", "data_fatura"),
    )
