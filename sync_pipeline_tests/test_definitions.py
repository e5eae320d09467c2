"""The definitions load, validate with Dagster's own CLI, and match a reviewed snapshot.

A structural change (an asset, group, partitioning, sensor, check or job added or renamed) makes
the snapshot test fail; rewrite the snapshot with UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
REPO = Path(__file__).resolve().parent.parent


def _snapshot() -> dict:
    from sync_pipeline.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        pdef = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": (
                {d.name: type(d.partitions_def).__name__ for d in pdef.partitions_defs}
                if pdef is not None and hasattr(pdef, "partitions_defs")
                else (type(pdef).__name__ if pdef else None)
            ),
            "backfill_policy": str(node.backfill_policy.policy_type.value) if node.backfill_policy else None,
            # the step that writes it (several assets of one multi-asset commit together), None if external
            "step": node.assets_def.node_def.name if node.is_executable else None,
            # dependencies that are not partition for partition
            "partition_mappings": {
                parent.to_user_string(): _mapping(graph.get_partition_mapping(key, parent))
                for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string())
                if pdef is not None
                and graph.get(parent).partitions_def is not None
                and type(graph.get_partition_mapping(key, parent)).__name__ != "IdentityPartitionMapping"
            },
        }
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    sensors = {
        s.name: {"job": s.job_name if s.has_jobs else None, "interval": s.minimum_interval_seconds}
        for s in repo.sensor_defs
    }
    jobs = sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__"))
    return {
        "assets": assets,
        "checks": checks,
        "sensors": sensors,
        "jobs": jobs,
        "resources": sorted(repo.get_top_level_resources()),
    }


def _mapping(mapping) -> str | dict:
    per_dimension = getattr(mapping, "downstream_mappings_by_upstream_dimension", None)
    if per_dimension is None:
        return type(mapping).__name__
    return {dim: type(m.partition_mapping).__name__ for dim, m in sorted(per_dimension.items())}


def test_definitions_match_snapshot():
    current = _snapshot()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    # a missing snapshot is a failure, never a snapshot written on the spot and passed
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing: write it with UPDATE_SNAPSHOTS=1 and review it"
    assert current == json.loads(SNAPSHOT.read_text())


def test_dagster_definitions_validate():
    from sync_pipeline import settings
    from sync_pipeline.dagster_home import ensure_dagster_schema

    env = dict(os.environ, DAGSTER_PG_URL=settings.dagster_pg_url())
    ensure_dagster_schema(env["DAGSTER_PG_URL"])
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr
