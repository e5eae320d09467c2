"""Saldos (DESIGN §5.2), one set-based statement each.

The aggregated saldos the carteira diff starts from, per order and product of a partition's orders
(``PARTITION_ORDERS_SQL``):

- ``faturado_por_pedido``: qtd_faturada = Σ invoiced − Σ refunded, not cancelled (Odoo's
  qty_invoiced), from ``faturamento_produto`` of any date;
- ``separado_por_pedido``: qtd_em_separacao = Σ separação not invoiced; qtd_pre_separada = Σ
  pré-separações not yet sent, from the operational app's tables.

And the saldos of the partition's open carteira lines (``carteira_saldo``), from the carteira and
those two: qtd_saldo = ordered − invoiced; saldo_livre = saldo − em separação − pré-separada.

The decisions of an order whose number another empreendimento also stages are not counted (they
cannot be told apart; the carteira reports the order). A row of an order that moved to another
partition stays until that partition rewrites it; a row of an order no partition owns any more
leaves with the partition of its date.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    CTE,
    ColumnElement,
    Date,
    Select,
    Table,
    and_,
    bindparam,
    column,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Connection

from sync_pipeline.db.carteira import INVOICED_SQL, OPEN_PRE_SQL, PARTITION_ORDERS_SQL, rule_params
from sync_pipeline.db.schema import (
    carteira_principal,
    carteira_saldo,
    faturado_por_pedido,
    odoo_pedido_linha,
    separado_por_pedido,
)
from sync_pipeline.db.staging import Scope, count_where, day_of, day_of_column, owns, owns_any, per_day, scope_days
from sync_pipeline.db.upsert import upsert_statement

# The key of the aggregates and carteira_saldo, the partition's date, and the change stamps: every
# other column of those tables is a value the statements below compute.
_KEY = ("empreendimento", "num_pedido", "cod_produto")
_NOT_COMPUTED = (*_KEY, "partition_date", "created_at", "updated_at")


def _computed(table: Table, sql: str, names: list[str], name: str = "computed") -> CTE:
    """``sql`` as a CTE whose columns ``names`` are typed as ``table``'s."""
    return text(sql).columns(*(column(n, table.c[n].type) for n in names)).cte(name)


def _one(*where: ColumnElement[bool]) -> Select:
    return select(literal_column("1")).where(*where)


def _gone(table: Table, computed: CTE, *where: ColumnElement[bool]) -> CTE:
    """Delete the empreendimento's rows of ``table`` matching ``where`` that ``computed`` no longer
    has; returns their order and the partition date of their own date."""
    kept = _one(computed.c.num_pedido == table.c.num_pedido, computed.c.cod_produto == table.c.cod_produto)
    own_date = "partition_date" if "partition_date" in table.c else "data_pedido"
    return (
        delete(table)
        .where(table.c.empreendimento == bindparam("emp"), ~kept.exists(), *where)
        .returning(table.c.num_pedido, day_of_column(table.c[own_date]).label("own_day"))
        .cte("gone")
    )


def _per_day_counts(computed: CTE, computed_day, up: CTE, up_day, gone: CTE, owners, summed: str) -> Select:
    """Per day of the scope: rows computed, written (inserted or really changed) and deleted, and
    Σ ``summed``. A deleted row of one of the scope's orders (``owners``: num_pedido, day) counts
    on its order's date, any other on its own."""
    gone_days = (
        select(func.coalesce(owners.c.day, gone.c.own_day).label("day"))
        .select_from(gone.outerjoin(owners, owners.c.num_pedido == gone.c.num_pedido))
        .cte("gone_days")
    )
    d = scope_days()
    return select(
        d.c.day,
        count_where(computed, computed_day == d.c.day),
        count_where(up, up_day == d.c.day),
        count_where(gone_days, gone_days.c.day == d.c.day),
        select(func.coalesce(func.sum(computed.c[summed]), 0)).where(computed_day == d.c.day).scalar_subquery(),
    )


def _aggregate_statement(table: Table, computed_sql: str, summed: str) -> Select:
    """Upsert ``computed_sql`` (num_pedido, cod_produto and the value columns of ``table``) as the
    rows of the scope's orders in ``table``, each with its order's partition date, unchanged rows
    neither rewritten nor locked; delete the rows of those orders that are gone, and rows of the
    scope's dates whose order no partition owns any more. Counts per day."""
    values = [c.name for c in table.c if c.name not in _NOT_COMPUTED]
    orders = text(PARTITION_ORDERS_SQL).columns(column("num_pedido"), column("day", Date)).cte("orders")
    src = _computed(table, computed_sql, ["num_pedido", "cod_produto", *values], name="src")
    emp = bindparam("emp")
    computed = (
        select(
            emp.label("empreendimento"),
            src.c.num_pedido,
            src.c.cod_produto,
            orders.c.day.label("partition_date"),
            *(src.c[v] for v in values),
        )
        .join_from(src, orders, orders.c.num_pedido == src.c.num_pedido)
        .cte("computed")
    )
    up = upsert_statement(
        table, _KEY, select(*computed.c), filter_unchanged=True, returning=[table.c.partition_date]
    ).cte("up")
    staged = _one(odoo_pedido_linha.c.num_pedido == table.c.num_pedido, odoo_pedido_linha.c.empreendimento == emp)
    in_carteira = _one(
        carteira_principal.c.num_pedido == table.c.num_pedido, carteira_principal.c.empreendimento == emp
    )
    gone = _gone(
        table,
        computed,
        or_(
            table.c.num_pedido.in_(select(orders.c.num_pedido)),
            and_(text(owns(table.name, "partition_date")), ~staged.exists(), ~in_carteira.exists()),
        ),
    )
    counts = _per_day_counts(computed, computed.c.partition_date, up, up.c.partition_date, gone, orders, summed)
    # orders first: the text of src reads it
    return counts.add_cte(orders, src)


_FATURADO = _aggregate_statement(
    faturado_por_pedido,
    f"SELECT num_pedido, cod_produto, qtd AS qtd_faturada, notas FROM ({INVOICED_SQL.format(orders='orders')}) i",
    "qtd_faturada",
)

_SEPARADO = _aggregate_statement(
    separado_por_pedido,
    f"""
    WITH unambiguous AS (
        SELECT o.num_pedido FROM orders o
        WHERE NOT EXISTS (SELECT 1 FROM odoo_pedido_linha x
                          WHERE x.num_pedido = o.num_pedido AND x.empreendimento <> :emp)
    ),
    sep AS (
        SELECT s.num_pedido, s.cod_produto, sum(s.qtd_saldo) AS qtd
        FROM separacao s
        WHERE s.num_pedido IN (SELECT num_pedido FROM unambiguous) AND NOT s.sincronizado_nf
        GROUP BY 1, 2
    ),
    pre AS (
        SELECT p.num_pedido, p.cod_produto, sum(p.qtd_selecionada_usuario) AS qtd
        FROM pre_separacao_item p
        WHERE p.num_pedido IN (SELECT num_pedido FROM unambiguous) AND {OPEN_PRE_SQL.format(p="p")}
        GROUP BY 1, 2
    )
    SELECT num_pedido, cod_produto, COALESCE(sep.qtd, 0) AS qtd_em_separacao, COALESCE(pre.qtd, 0) AS qtd_pre_separada
    FROM sep FULL JOIN pre USING (num_pedido, cod_produto)
    """,
    "qtd_em_separacao",
)


# A carteira date depends on invoices of any date (an order of March invoiced in May). The orders
# this partition's NFs invoice whose faturado_por_pedido no longer equals their invoices were planned
# before those invoices existed — by an earlier run of a backfill split over several runs, say —
# and the partitions that own them must be planned again. One statement; on a partition whose
# invoices changed nothing elsewhere it finds nothing.
_STALE_ELSEWHERE_SQL = f"""
WITH invoiced_here AS (
    SELECT DISTINCT f.origem AS num_pedido FROM faturamento_produto f
    WHERE f.empreendimento = :emp AND {owns("f", "data_fatura")} AND f.origem IS NOT NULL
),
live AS ({INVOICED_SQL.format(orders="invoiced_here")}),
kept AS (
    SELECT t.num_pedido, t.cod_produto, t.qtd_faturada AS qtd FROM faturado_por_pedido t
    WHERE t.empreendimento = :emp AND t.num_pedido IN (SELECT num_pedido FROM invoiced_here)
),
stale AS (
    SELECT COALESCE(live.num_pedido, kept.num_pedido) AS num_pedido
    FROM live FULL JOIN kept ON kept.num_pedido = live.num_pedido AND kept.cod_produto = live.cod_produto
    WHERE live.qtd IS DISTINCT FROM kept.qtd
)
SELECT DISTINCT l.partition_date FROM odoo_pedido_linha l
WHERE l.empreendimento = :emp AND l.num_pedido IN (SELECT num_pedido FROM stale)
  AND NOT {owns("l", "partition_date")}
ORDER BY 1
"""


def partitions_stale_elsewhere(conn: Connection, scope: Scope) -> list:
    """The partition dates (same empreendimento, other than ``scope``'s) owning orders whose
    invoiced aggregate this partition's NFs made stale."""
    return list(conn.execute(text(_STALE_ELSEWHERE_SQL), {**scope.params(), **rule_params()}).scalars())


def _run_aggregate(conn: Connection, statement: Select, scope: Scope, total: str) -> dict[date, dict[str, object]]:
    return per_day(
        conn.execute(statement, {**scope.params(), **rule_params()}), ("keys", "rows_written", "rows_deleted", total)
    )


def refresh_faturado(conn: Connection, scope: Scope) -> dict[date, dict[str, object]]:
    """Rewrite ``faturado_por_pedido`` for the scope's orders; one statement, counts per day."""
    return _run_aggregate(conn, _FATURADO, scope, "qtd_faturada_total")


def refresh_separado(conn: Connection, scope: Scope) -> dict[date, dict[str, object]]:
    """Rewrite ``separado_por_pedido`` for the scope's orders; one statement, counts per day."""
    return _run_aggregate(conn, _SEPARADO, scope, "qtd_em_separacao_total")


# The scope's open carteira lines, and their saldos (every value column of carteira_saldo).
_LINES_SQL = f"""
    SELECT c.num_pedido, c.cod_produto, c.empreendimento, c.data_pedido, c.qtd_produto_pedido,
           c.qtd_saldo_produto_pedido, {day_of("c", "data_pedido")} AS day
    FROM carteira_principal c
    WHERE c.empreendimento = :emp AND {owns("c", "data_pedido")}
"""
_SALDOS_COMPUTED_SQL = """
    SELECT l.empreendimento, l.num_pedido, l.cod_produto, l.data_pedido, l.qtd_produto_pedido,
           COALESCE(fat.qtd_faturada, 0) AS qtd_faturada, l.qtd_saldo_produto_pedido,
           COALESCE(sp.qtd_em_separacao, 0) AS qtd_em_separacao, COALESCE(sp.qtd_pre_separada, 0) AS qtd_pre_separada,
           l.qtd_saldo_produto_pedido - COALESCE(sp.qtd_em_separacao, 0) - COALESCE(sp.qtd_pre_separada, 0)
               AS saldo_livre,
           l.day
    FROM lines l
    LEFT JOIN faturado_por_pedido fat
        ON fat.empreendimento = l.empreendimento AND fat.num_pedido = l.num_pedido AND fat.cod_produto = l.cod_produto
    LEFT JOIN separado_por_pedido sp
        ON sp.empreendimento = l.empreendimento AND sp.num_pedido = l.num_pedido AND sp.cod_produto = l.cod_produto
"""


def _saldos_statement() -> Select:
    """Upsert the saldos of the scope's open lines into carteira_saldo, unchanged rows neither
    rewritten nor locked; delete its rows of the scope (its dates, or its lines' orders) that are
    no longer open lines. Counts per day."""
    t = carteira_saldo
    lines = text(_LINES_SQL).columns(column("num_pedido"), column("day", Date)).cte("lines")
    saldo_columns = [c.name for c in t.c if c.name not in ("created_at", "updated_at")]
    computed = (
        text(_SALDOS_COMPUTED_SQL)
        .columns(*(column(n, t.c[n].type) for n in saldo_columns), column("day", Date))
        .cte("computed")
    )
    source = select(*(computed.c[n] for n in saldo_columns))
    up = upsert_statement(t, _KEY, source, filter_unchanged=True, returning=[t.c.data_pedido]).cte("up")
    up_day = day_of_column(up.c.data_pedido)
    gone = _gone(t, computed, or_(text(owns(t.name, "data_pedido")), t.c.num_pedido.in_(select(lines.c.num_pedido))))
    owners = select(lines.c.num_pedido, func.min(lines.c.day).label("day")).group_by(lines.c.num_pedido).subquery()
    counts = _per_day_counts(computed, computed.c.day, up, up_day, gone, owners, "saldo_livre")
    # lines first: the text of computed reads it
    return counts.add_cte(lines, computed)


_SALDOS = _saldos_statement()
SALDO_COUNTS = ("lines", "rows_written", "rows_deleted", "saldo_livre_total")


def refresh_saldos(conn: Connection, scope: Scope) -> dict[date, dict[str, object]]:
    """Rewrite the saldos of the scope's partitions (only rows whose numbers changed); one
    statement, counts per day."""
    return per_day(conn.execute(_SALDOS, {**scope.params(), **rule_params()}), SALDO_COUNTS)


def saldos_have_rows(conn: Connection, scope: Scope) -> bool:
    """Whether the scope holds open carteira lines or saldos: one query."""
    return owns_any(conn, scope, ("carteira_principal", "data_pedido"), ("carteira_saldo", "data_pedido"))
