"""One writer per empreendimento, for every kind of run (DESIGN §3, §7).

The run queue's tag concurrency limit (``dagster.yaml``: at most one run per value of
``sync/empreendimento``) holds only for runs that carry the tag. The sensors tag their runs, but a
backfill's range runs (from the CLI or the UI) carry only Dagster's range tags, and a single
partition launched from the UI carries ``dagster/partition/empreendimento`` — a different key, so a
range run and a one-partition run of the same empreendimento ran at once. This coordinator is the
queue every run passes through: before a run is queued it gets ``sync/empreendimento`` from its
partition or partition range, so the one limit applies to all of them, and the queue dequeues
them in submission order.
"""

from __future__ import annotations

import logging

from dagster import DagsterRun, QueuedRunCoordinator, SubmitRunContext

EMPREENDIMENTO_TAG = "sync/empreendimento"
_PARTITION_TAG = "dagster/partition"
_PARTITION_DIMENSION_TAG = "dagster/partition/empreendimento"
_RANGE_START_TAG = "dagster/asset_partition_range_start"
_RANGE_END_TAG = "dagster/asset_partition_range_end"

log = logging.getLogger(__name__)


def _empreendimento_of_key(key: str | None) -> str | None:
    """``2025-01-01|empresa-1`` → ``empresa-1`` (a multi-partition key names its dimensions in
    alphabetical order: date, then empreendimento)."""
    if not key or "|" not in key:
        return None
    return key.rsplit("|", 1)[1] or None


def empreendimento_of_run(tags: dict[str, str]) -> str | None:
    """The one empreendimento a run writes, from its tags; None when it names none (or two)."""
    if tags.get(EMPREENDIMENTO_TAG):
        return tags[EMPREENDIMENTO_TAG]
    if tags.get(_PARTITION_DIMENSION_TAG):
        return tags[_PARTITION_DIMENSION_TAG]
    if _PARTITION_TAG in tags:
        return _empreendimento_of_key(tags[_PARTITION_TAG])
    start, end = _empreendimento_of_key(tags.get(_RANGE_START_TAG)), _empreendimento_of_key(tags.get(_RANGE_END_TAG))
    if start is not None and start == end:
        return start
    if start != end:
        log.warning("run range %s..%s spans two empreendimentos: not limited", start, end)
    return None


class OneWriterPerEmpreendimentoRunCoordinator(QueuedRunCoordinator):
    """Dagster's ``QueuedRunCoordinator`` (same configuration, same daemon), tagging each run with
    the empreendimento it writes before queueing it."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        emp = empreendimento_of_run(dict(run.tags))
        if emp is not None and run.tags.get(EMPREENDIMENTO_TAG) != emp:
            self._instance.add_run_tags(run.run_id, {EMPREENDIMENTO_TAG: emp})
            run = self._instance.get_run_by_id(run.run_id) or run
            context = SubmitRunContext(run, context.workspace)
        return super().submit_run(context)
