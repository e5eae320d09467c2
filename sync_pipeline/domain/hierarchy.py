"""Carteira diff and the reduction hierarchy (DESIGN §5.3) as plain code.

No Dagster and no I/O: the carteira asset loads one partition's lines (before/after ordered quantity,
invoiced quantity) and its operational decisions in a few set-based queries, calls
:func:`plan_partition`, and writes the plans back set-based in the transaction that replaces the
carteira rows. Quantities are ``Decimal``; nothing here compares floats.

How one line is planned (:func:`plan_line`):

* ``saldo`` = ordered now (0 when the line is gone) − invoiced. A cancelled order
  (``pedido_cancelado``) counts as "line gone" whatever quantity the source still shows.
* Kind: NOVO, AUMENTO, REDUCAO, REMOVIDO, FATURADO or None, from the *ordered* quantity and the line's
  presence. Choices where DESIGN is silent:
  - A line absent from the carteira before (``antes`` None) whose saldo is not positive is *not*
    NOVO: it is a line that is not (or no longer) open, e.g. one that left as FATURADO on an earlier
    run. This is what makes a re-run on an unchanged source plan nothing (§6.2).
  - An unchanged ordered quantity with saldo ≤ 0 is FATURADO; a reduction that also empties the saldo
    stays REDUCAO.
* Decisions never end above the saldo. Open decisions = pré-separações + separações not invoiced
  (``sincronizado_nf`` false) in PREVISAO/ABERTO/COTADO; every other status and every invoiced row
  is never read for absorption nor written. ``excess = open − target``, where ``target`` is
  ``max(saldo, 0)`` for a line still ordered and 0 for a line gone or cancelled (nothing of it will
  ship, even where refunds left more refunded than invoiced and the saldo positive); when positive it
  is taken, in order, from:
  1. pré-separações, newest first (``criado_em``, then ``id``, descending); a row reaching 0 is
     deleted (its new quantity is ``Decimal(0)``);
  2. separações PREVISAO, then ABERTO, then COTADO; within a status the largest ``id`` (the newest
     row) first. A row reaching 0 is deleted as well.
  Rows with a zero quantity are skipped (nothing to take, so nothing is written).
* Saldo livre is consumed before any decision: for a REDUCAO/REMOVIDO the trace starts with
  ``{"origem": "saldo_livre", "qtd": q}`` where ``q`` is the part of the ordered-quantity drop that the
  free balance ``(antes − invoiced now) − open`` absorbed. Invoicing is not an operational change, so
  the free balance before is computed with today's invoiced quantity. Then
  ``saldo livre part + Σ taken from decisions + nao_absorvido == max(drop, excess + nao_absorvido)``:
  a reduction is fully accounted for, and so is an excess caused by invoicing alone.
* ``nao_absorvido`` = −saldo when saldo < 0 (more invoiced than ordered now, also for a removed line
  that had invoices), with a SALDO_NEGATIVO alert — but only when the line is in play this run (it
  has a kind, or decisions had to be absorbed). A line already out of the carteira with a negative
  saldo and no decisions raises nothing again, so re-runs stay idempotent.
* Alerts when a decision is touched: COTADO → CRITICO, ABERTO → ATENCAO, PREVISAO → none (a forecast
  lot; the touch is still in ``absorcao``). See :data:`ALERT_LEVEL_BY_STATUS` to change it.
  ``tipo_alteracao`` is REMOCAO when the line was removed/cancelled, else REDUCAO (including an excess
  caused by invoicing). ``qtd_diferenca = qtd_nova − qtd_anterior`` always (as the operational app
  does), so reductions are negative. SALDO_NEGATIVO alerts carry no lote, ``qtd_anterior`` = ordered
  now, ``qtd_nova`` = invoiced, so the difference is the unabsorbed quantity.
* A NOVO line goes to saldo livre and never grows a lot (on a first load every line is NOVO, and a
  'total' lot already holding the order would count it twice).
* Increases (AUMENTO) go to saldo livre. When the order has exactly one open
  lot (distinct ``lote`` among its open, not invoiced separações) whose rows are all ``tipo_envio``
  'total': a PREVISAO/ABERTO lot grows with the increase (this product's open row with the largest id,
  or a new row in ``separacao_nova``), capped so decisions still fit the saldo; a COTADO lot does not
  grow and gets a CRITICO AUMENTO alert (``qtd_anterior`` = the lot's row of the product or 0,
  ``qtd_nova`` = what it would hold, difference = the increase). A lot whose rows disagree on status
  takes the most protected one (COTADO > ABERTO > PREVISAO). Growing an ABERTO lot writes an
  ATENCAO AUMENTO alert. The lot is judged after this partition's reductions of the same order
  (see :func:`plan_partition`), so a lot emptied by a reduction is not revived by an increase.
* ``absorcao`` (stored in ``carteira_diff.absorcao``) lists every movement in order. Each entry has
  ``origem`` ('saldo_livre' | 'pre_separacao' | 'separacao'), ``qtd`` (a positive decimal string) and
  ``efeito``: 'consumido' / 'acrescido' for saldo livre, 'reduzida' / 'removida' / 'aumentada' /
  'criada' for decisions, which also carry ``id`` (None for a new row), ``lote``, ``status``,
  ``qtd_anterior`` and ``qtd_nova``.

Helpers for the asset: :func:`is_changed` (anything to write), :func:`diff_tipo` (the
``carteira_diff.tipo``: the kind, or AJUSTE when only invoicing forced decisions down),
and ``LinePlan.open_after`` (the line stays in ``carteira_principal``). The asset writes a
``separacao_nova`` row with the status and tipo_envio of the other rows of its lot.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)

NOVO, AUMENTO, REDUCAO, REMOVIDO, FATURADO = "NOVO", "AUMENTO", "REDUCAO", "REMOVIDO", "FATURADO"
# carteira_diff.tipo for a line whose ordered quantity did not change but whose decisions were cut to
# fit a saldo lowered by invoicing alone (an NF issued without a separação).
AJUSTE = "AJUSTE"

ALERT_REDUCAO, ALERT_REMOCAO, ALERT_AUMENTO, ALERT_SALDO_NEGATIVO = "REDUCAO", "REMOCAO", "AUMENTO", "SALDO_NEGATIVO"
CRITICO, ATENCAO = "CRITICO", "ATENCAO"

# Absorption order of open separações; any other status is never touched. Statuses compare
# upper-cased, here and in the SQL that receives these as parameters.
OPEN_STATUSES = ("PREVISAO", "ABERTO", "COTADO")
# pré-separações already turned into a separação (or dropped) are not decisions on the saldo
PRE_CLOSED_STATUSES = ("ENVIADO_SEPARACAO", "CANCELADO")
ALERT_LEVEL_BY_STATUS: dict[str, str | None] = {"PREVISAO": None, "ABERTO": ATENCAO, "COTADO": CRITICO}


@dataclass(frozen=True)
class PreSeparacao:
    """A ``pre_separacao_item`` row not yet sent to separação."""

    id: int
    num_pedido: str
    cod_produto: str
    qtd: Decimal
    criado_em: datetime


@dataclass(frozen=True)
class Separacao:
    """A ``separacao`` row (``lote`` = ``separacao_lote_id``, ``qtd`` = ``qtd_saldo``)."""

    id: int
    lote: str
    num_pedido: str
    cod_produto: str
    status: str
    tipo_envio: str
    qtd: Decimal
    sincronizado_nf: bool

    @property
    def is_open(self) -> bool:
        return not self.sincronizado_nf and _status(self) in OPEN_STATUSES


@dataclass(frozen=True)
class LineChange:
    """One (num_pedido, cod_produto) of the partition: carteira before vs source now."""

    num_pedido: str
    cod_produto: str
    qtd_pedido_antes: Decimal | None
    qtd_pedido_depois: Decimal | None
    qtd_faturada: Decimal
    pedido_cancelado: bool = False


@dataclass(frozen=True)
class Alert:
    """A row for ``alerta_separacao_cotada``."""

    tipo_alteracao: str
    num_pedido: str
    cod_produto: str
    lote: str | None
    qtd_anterior: Decimal
    qtd_nova: Decimal
    qtd_diferenca: Decimal
    nivel: str


@dataclass
class LinePlan:
    """What to write for one line: diff row, decision updates, alerts."""

    num_pedido: str
    cod_produto: str
    kind: str | None
    qtd_antes: Decimal | None
    qtd_depois: Decimal | None
    delta: Decimal
    saldo: Decimal
    pre_separacao_qtd: dict[int, Decimal] = field(default_factory=dict)
    separacao_qtd: dict[int, Decimal] = field(default_factory=dict)
    separacao_nova: list[tuple[str, Decimal]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    absorcao: list[dict] = field(default_factory=list)
    nao_absorvido: Decimal = ZERO
    pedido_cancelado: bool = False

    @property
    def open_after(self) -> bool:
        """The line belongs in ``carteira_principal`` after the sync (present with a positive saldo)."""
        return self.qtd_depois is not None and self.saldo > 0


def _status(sep: Separacao) -> str:
    return sep.status.upper()


def _dec(q: Decimal) -> str:
    return format(q, "f")


def classify(antes: Decimal | None, depois: Decimal | None, saldo: Decimal) -> str | None:
    """Operational kind of a line from its ordered quantity before/now and its saldo now."""
    if antes is None:
        return NOVO if depois is not None and saldo > 0 else None
    if depois is None:
        return REMOVIDO
    if depois > antes:
        return AUMENTO
    if depois < antes:
        return REDUCAO
    return FATURADO if saldo <= 0 else None


def _single_total_lot(order_seps: Iterable[Separacao]) -> tuple[str, str] | None:
    """(lote, status) of the order's only open lot when it is a 'total' lot, else None."""
    open_rows = [s for s in order_seps if s.is_open]
    lots = {s.lote for s in open_rows}
    if len(lots) != 1 or any((s.tipo_envio or "").lower() != "total" for s in open_rows):
        return None
    status = max((_status(s) for s in open_rows), key=OPEN_STATUSES.index)
    return lots.pop(), status


def plan_line(
    change: LineChange,
    pre: Sequence[PreSeparacao],
    seps: Sequence[Separacao],
    order_seps: Sequence[Separacao],
) -> LinePlan:
    """Plan one line. ``pre``/``seps``: the decisions of this (pedido, produto), any status;
    ``order_seps``: every separação row of the order (all products), for the increase rule."""
    key = (change.num_pedido, change.cod_produto)
    for row in (*pre, *seps):
        if (row.num_pedido, row.cod_produto) != key:
            raise ValueError(f"decision {type(row).__name__} id={row.id} is not of line {key}")

    plan = _bare_plan(change)
    antes, depois, faturada, saldo, kind = plan.qtd_antes, plan.qtd_depois, change.qtd_faturada, plan.saldo, plan.kind
    target = max(saldo, ZERO) if depois is not None else ZERO  # a line gone holds nothing
    open_seps = [s for s in seps if s.is_open]
    open_total = sum((p.qtd for p in pre), ZERO) + sum((s.qtd for s in open_seps), ZERO)
    excess = max(open_total - target, ZERO)

    if kind in (REDUCAO, REMOVIDO):
        drop = (antes or ZERO) - (depois or ZERO)
        livre_before = (antes or ZERO) - faturada - open_total
        livre_part = max(ZERO, min(drop, livre_before))
        if livre_part > 0:
            plan.absorcao.append({"origem": "saldo_livre", "qtd": _dec(livre_part), "efeito": "consumido"})

    _absorb(plan, excess, pre, open_seps)

    if saldo < 0 and (kind is not None or excess > 0):
        plan.nao_absorvido = -saldo
        ordered = depois if depois is not None else ZERO
        plan.alerts.append(Alert(ALERT_SALDO_NEGATIVO, *key, None, ordered, faturada, faturada - ordered, CRITICO))

    if kind == AUMENTO:
        room = target - (open_total - excess)
        _increase(plan, plan.delta, room, open_seps, order_seps)
    elif kind == NOVO and plan.delta > 0:
        # A new line is free balance: it never grows a lot (on a first load every line is NOVO, and a
        # 'total' lot already holding the order would be counted twice).
        plan.absorcao.append({"origem": "saldo_livre", "qtd": _dec(plan.delta), "efeito": "acrescido"})
    return plan


def _absorb(plan: LinePlan, excess: Decimal, pre: Sequence[PreSeparacao], open_seps: list[Separacao]) -> None:
    """Take ``excess`` from the decisions in hierarchy order, recording every take."""
    remaining = excess
    tipo = ALERT_REMOCAO if plan.kind == REMOVIDO else ALERT_REDUCAO
    for p in sorted(pre, key=lambda p: (p.criado_em, p.id), reverse=True):
        if remaining <= 0:
            return
        take = min(p.qtd, remaining)
        if take <= 0:
            continue
        remaining -= take
        plan.pre_separacao_qtd[p.id] = p.qtd - take
        plan.absorcao.append(_trace("pre_separacao", p.id, None, None, p.qtd, p.qtd - take))
    for status in OPEN_STATUSES:
        for s in sorted((s for s in open_seps if _status(s) == status), key=lambda s: s.id, reverse=True):
            if remaining <= 0:
                return
            take = min(s.qtd, remaining)
            if take <= 0:
                continue
            remaining -= take
            new = s.qtd - take
            plan.separacao_qtd[s.id] = new
            plan.absorcao.append(_trace("separacao", s.id, s.lote, status, s.qtd, new))
            level = ALERT_LEVEL_BY_STATUS[status]
            if level:
                plan.alerts.append(
                    Alert(tipo, plan.num_pedido, plan.cod_produto, s.lote, s.qtd, new, new - s.qtd, level)
                )


def _increase(
    plan: LinePlan, delta: Decimal, room: Decimal, open_seps: list[Separacao], order_seps: Sequence[Separacao]
) -> None:
    """An increase goes to saldo livre, or grows the order's only open 'total' lot."""
    grown = ZERO
    lot = _single_total_lot(order_seps)
    if lot is not None:
        lote, status = lot
        rows = [s for s in open_seps if s.lote == lote]
        row = max(rows, key=lambda s: s.id) if rows else None
        before = plan.separacao_qtd.get(row.id, row.qtd) if row is not None else ZERO
        if status == "COTADO":
            plan.alerts.append(
                Alert(ALERT_AUMENTO, plan.num_pedido, plan.cod_produto, lote, before, before + delta, delta, CRITICO)
            )
        else:
            grown = max(ZERO, min(delta, room))
            if grown > 0:
                after = before + grown
                if row is not None:
                    plan.separacao_qtd[row.id] = after
                    plan.absorcao.append(_trace("separacao", row.id, lote, status, before, after))
                else:
                    plan.separacao_nova.append((lote, grown))
                    plan.absorcao.append(_trace("separacao", None, lote, status, ZERO, grown))
                level = ALERT_LEVEL_BY_STATUS[status]
                if level:
                    plan.alerts.append(
                        Alert(ALERT_AUMENTO, plan.num_pedido, plan.cod_produto, lote, before, after, grown, level)
                    )
    if delta - grown > 0:
        plan.absorcao.append({"origem": "saldo_livre", "qtd": _dec(delta - grown), "efeito": "acrescido"})


def _trace(origem: str, id_: int | None, lote: str | None, status: str | None, antes: Decimal, depois: Decimal) -> dict:
    if depois > antes:
        efeito = "criada" if id_ is None else "aumentada"
    else:
        efeito = "removida" if depois == 0 else "reduzida"
    return {
        "origem": origem,
        "id": id_,
        "lote": lote,
        "status": status,
        "qtd": _dec(abs(antes - depois)),
        "efeito": efeito,
        "qtd_anterior": _dec(antes),
        "qtd_nova": _dec(depois),
    }


def plan_partition(
    changes: Iterable[LineChange], pre: Iterable[PreSeparacao], seps: Iterable[Separacao]
) -> list[LinePlan]:
    """Plan every line of a partition, in the order of ``changes``.

    ``pre``/``seps``: the decisions of the partition's orders (``seps``: every row of those orders, all
    products, so the increase rule sees whole lots). The caller passes every key that has a carteira
    row, a source line or open decisions; a key not in ``changes`` is not planned. Reductions are
    planned first; increases then judge each order's lots as the reductions left them.
    """
    # Thousands of small objects and no cycles: a collection pass mid-plan (over a large Dagster
    # process) costs more than the plan itself.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _plan_partition(list(changes), pre, seps)
    finally:
        if paused:
            gc.enable()


def _plan_partition(
    changes: list[LineChange], pre: Iterable[PreSeparacao], seps: Iterable[Separacao]
) -> list[LinePlan]:
    changes = list(changes)
    pre_by_key: dict[tuple[str, str], list[PreSeparacao]] = defaultdict(list)
    seps_by_key: dict[tuple[str, str], list[Separacao]] = defaultdict(list)
    seps_by_order: dict[str, list[Separacao]] = defaultdict(list)
    for p in pre:
        pre_by_key[(p.num_pedido, p.cod_produto)].append(p)
    for s in seps:
        seps_by_key[(s.num_pedido, s.cod_produto)].append(s)
        seps_by_order[s.num_pedido].append(s)
    keys = [(c.num_pedido, c.cod_produto) for c in changes]
    if len(set(keys)) != len(keys):
        raise ValueError("plan_partition: a (num_pedido, cod_produto) appears twice in the changes")

    plans: dict[int, LinePlan] = {}
    increases = []
    new_qtd: dict[int, Decimal] = {}
    for i, (change, key) in enumerate(zip(changes, keys, strict=True)):
        if key not in pre_by_key and key not in seps_by_key and (quiet := _quiet_plan(change)) is not None:
            plans[i] = quiet  # most lines of a partition: nothing changed, no decisions to check
            continue
        if _is_increase(change):
            increases.append(i)
            continue
        plans[i] = plan_line(change, pre_by_key[key], seps_by_key[key], seps_by_order[change.num_pedido])
        new_qtd.update(plans[i].separacao_qtd)
    for i in increases:
        change, key = changes[i], keys[i]
        order_now = [
            replace(s, qtd=new_qtd[s.id]) if s.id in new_qtd else s
            for s in seps_by_order[change.num_pedido]
            if new_qtd.get(s.id, s.qtd) > 0 or s.id not in new_qtd
        ]
        plans[i] = plan_line(change, pre_by_key[key], seps_by_key[key], order_now)
    return [plans[i] for i in range(len(changes))]


def _bare_plan(change: LineChange) -> LinePlan:
    """A line's kind, saldo and delta, before any decision is looked at."""
    antes = change.qtd_pedido_antes
    depois = None if change.pedido_cancelado else change.qtd_pedido_depois
    saldo = (depois if depois is not None else ZERO) - change.qtd_faturada
    return LinePlan(
        num_pedido=change.num_pedido,
        cod_produto=change.cod_produto,
        kind=classify(antes, depois, saldo),
        qtd_antes=antes,
        qtd_depois=depois,
        delta=(depois if depois is not None else ZERO) - (antes if antes is not None else ZERO),
        saldo=saldo,
        pedido_cancelado=change.pedido_cancelado,
    )


def _quiet_plan(change: LineChange) -> LinePlan | None:
    """The plan of a line without decisions whose ordered quantity and presence did not change
    (what :func:`plan_line` returns for it, without the work), or None."""
    plan = _bare_plan(change)
    return plan if plan.kind is None else None


def _is_increase(change: LineChange) -> bool:
    depois = None if change.pedido_cancelado else change.qtd_pedido_depois
    if depois is None:
        return False
    return change.qtd_pedido_antes is None or depois > change.qtd_pedido_antes


def is_changed(plan: LinePlan) -> bool:
    """Anything to write or record for this line (a diff row, a decision update, an alert)."""
    return bool(
        plan.kind is not None
        or plan.pre_separacao_qtd
        or plan.separacao_qtd
        or plan.separacao_nova
        or plan.alerts
        or plan.nao_absorvido > 0
    )


def diff_tipo(plan: LinePlan) -> str | None:
    """``carteira_diff.tipo`` for the plan: its kind, AJUSTE for decisions cut by invoicing alone, or None."""
    if plan.kind is not None:
        return plan.kind
    return AJUSTE if is_changed(plan) else None
