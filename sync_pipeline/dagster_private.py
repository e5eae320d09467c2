"""Dagster's private APIs (``dagster._...``) that the pipeline's code uses, in one place.

Dagster 1.13.27 is pinned (setup.py) and these names can change in any release without notice:
on an upgrade this is the one module to check (``backfill.py`` imports them only from here; tests
keep their own). Each wrapper says what it wraps and why there is no public API for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dagster import AssetKey, DagsterInstance


def add_asset_backfill(
    instance: DagsterInstance,
    *,
    asset_graph,
    asset_selection: Sequence[AssetKey],
    partition_keys: Sequence[str],
    title: str | None,
    description: str,
    tags: Mapping[str, str],
) -> str:
    """Store ONE asset backfill of asset_selection over partition_keys in the instance; its id.

    Wraps ``PartitionBackfill.from_asset_partitions`` (``dagster._core.execution.backfill``) with
    ``make_new_backfill_id`` (``dagster._core.utils``), ``check_valid_title``
    (``dagster._core.definitions.utils``) and ``get_current_timestamp`` (``dagster._time``), then
    ``DagsterInstance.add_backfill``: what the UI's ``launchPartitionBackfill`` GraphQL mutation does
    for an asset selection and a list of partitions. No public API: Dagster launches asset backfills
    only from the UI / GraphQL (which needs a running webserver), and ``materialize`` runs in-process
    instead of registering a backfill the daemon splits by the assets' ``BackfillPolicy``.
    """
    from dagster._core.definitions.utils import check_valid_title
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=asset_graph,
        partition_names=list(partition_keys),
        asset_selection=list(asset_selection),
        backfill_timestamp=get_current_timestamp(),
        tags=dict(tags),
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=check_valid_title(title),
        description=description,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def backfill_is_terminal(backfill) -> bool:
    """Whether a backfill (``DagsterInstance.get_backfill``) reached a final status.

    Wraps ``BULK_ACTION_TERMINAL_STATUSES`` (``dagster._core.execution.backfill``). No public API:
    ``BulkActionStatus`` is not exported from ``dagster`` and the backfill record has no "done"
    property; the set is kept by Dagster so new terminal statuses are not missed.
    """
    from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES

    return backfill.status in BULK_ACTION_TERMINAL_STATUSES


def loaded_workspace(instance: DagsterInstance, workspace_file: str, *, log_level: str = "ERROR"):
    """A context manager: the code location of ``workspace_file`` loaded as the daemon loads it
    (its request context; the location starts on enter and stops on exit).

    Wraps ``WorkspaceProcessContext`` and ``WorkspaceFileTarget`` (``dagster._core.workspace``). No
    public API: a sensor's state and ticks are stored under the origin of the *loaded* sensor
    (``get_remote_origin_id``, ``selector_id``), and only the workspace loader builds it.
    """
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    target = WorkspaceFileTarget(paths=[workspace_file])
    return WorkspaceProcessContext(instance, target, code_server_log_level=log_level)


def tick_statuses():
    """``TickStatus`` (``dagster._core.scheduler.instigation``): SUCCESS, SKIPPED, FAILURE, STARTED.
    No public API: ``DagsterInstance.get_ticks`` returns ticks whose status is this enum, which
    ``dagster`` does not export."""
    from dagster._core.scheduler.instigation import TickStatus

    return TickStatus


def run_health(alive: bool | None, msg: str):
    """A ``CheckRunHealthResult`` (``dagster._core.launcher``) for run monitoring: RUNNING when
    ``alive`` is True or unknown (None), FAILED when the worker is gone. No public API: a run
    launcher that supports run monitoring must return this type."""
    from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

    return CheckRunHealthResult(WorkerStatus.FAILED if alive is False else WorkerStatus.RUNNING, msg)


def add_partition_metadata(context, metadata: Mapping[str, object], *, partition_key: str, asset_key=None) -> None:
    """``context.add_asset_metadata(metadata, asset_key=..., partition_key=...)`` without its check
    that ``partition_key`` is targeted by the run, for callers that only pass keys of
    ``context.partition_keys``.

    Wraps the step context's ``_metadata_accumulator.with_additional_asset_metadata``
    (``dagster._core.execution.context.system.StepExecutionContext``). Why: for that check, Dagster
    1.13 lists every partition key of the run's range again on each call, reading the dynamic
    partitions from the instance each time (measured here: 41 ms per call in a 60-partition run,
    more as the range grows) — with one call per asset and partition, a 400-partition run of the
    graph spent most of its time there. The public method has no way to skip it."""
    step = context.op_execution_context._step_execution_context  # noqa: SLF001
    key = AssetKey.from_coercible(asset_key) if asset_key is not None else step.assets_def.key
    if key not in step.assets_def.keys:
        raise ValueError(f"{key.to_user_string()} is not materialized by this step")
    step._metadata_accumulator = step._metadata_accumulator.with_additional_asset_metadata(  # noqa: SLF001
        asset_key=key, metadata=metadata, partition_key=partition_key
    )


def partition_effective_dt():
    """The effective datetime of the current ``partition_loading_context`` (tests move time with
    it), or None outside one: what ``partitions.last_day`` keys its cache on."""
    from dagster._core.definitions.partitions.context import _current_ctx

    ctx = _current_ctx.get()
    return ctx.effective_dt if ctx is not None else None
