"""The carteira asset's decision writes, in memory, for the tests of ``domain.hierarchy``.

The asset writes a :class:`~sync_pipeline.domain.hierarchy.LinePlan` in SQL; the tests apply it here
to check what the decisions look like afterwards (several runs in a row, whole lots for the increase
rule) without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sync_pipeline.domain.hierarchy import LinePlan, PreSeparacao, Separacao


def apply_plan(
    plan: LinePlan, pre: Iterable[PreSeparacao], seps: Iterable[Separacao]
) -> tuple[list[PreSeparacao], list[Separacao]]:
    """The decisions after writing ``plan`` (the asset does the same in SQL).

    Rows at 0 are deleted; a ``separacao_nova`` row copies status and tipo_envio from its lot and gets
    the next free id.
    """
    pre_after = [
        replace(p, qtd=plan.pre_separacao_qtd.get(p.id, p.qtd))
        for p in pre
        if plan.pre_separacao_qtd.get(p.id, p.qtd) > 0 or p.id not in plan.pre_separacao_qtd
    ]
    seps = list(seps)
    seps_after = [
        replace(s, qtd=plan.separacao_qtd.get(s.id, s.qtd))
        for s in seps
        if plan.separacao_qtd.get(s.id, s.qtd) > 0 or s.id not in plan.separacao_qtd
    ]
    next_id = max((s.id for s in seps), default=0) + 1
    for lote, qtd in plan.separacao_nova:
        model = next(s for s in seps if s.lote == lote and s.is_open)
        seps_after.append(
            Separacao(next_id, lote, plan.num_pedido, plan.cod_produto, model.status, model.tipo_envio, qtd, False)
        )
        next_id += 1
    return pre_after, seps_after
