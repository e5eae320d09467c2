"""sync_rejeitado: records set aside with the rule they broke (DESIGN §6.7)."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.engine import Connection

from sync_pipeline.domain.values import Reject


def record_rejects(
    conn: Connection, rejects: dict[str, list[Reject]], *, asset: str, run_id: str
) -> dict[str, dict[str, int]]:
    """Upsert the rejects of each partition (``rejects``: partition key → its rejects, every
    partition of the unit named, even with none); drop the ones of those partitions whose record
    is now accepted. One statement; returns counts per partition key.

    A reject already recorded (same record and rule) keeps its first run: re-running an
    unchanged partition writes nothing.
    """
    payload = json.dumps(
        [
            {
                "model": r.model,
                "odoo_id": r.odoo_id,
                "parent_id": r.parent_id,
                "rule": r.rule,
                "message": r.message,
                "payload": r.payload,
                "pk": pk,
            }
            for pk, of_partition in rejects.items()
            for r in of_partition
        ],
        default=str,
    )
    rows = conn.execute(
        text(
            """
            WITH incoming AS (
                SELECT * FROM jsonb_to_recordset(CAST(:rejects AS jsonb))
                    AS x(model text, odoo_id int, parent_id int, rule text, message text, payload jsonb, pk text)
            ),
            added AS (
                INSERT INTO sync_rejeitado
                    (model, odoo_id, parent_id, rule, message, asset, partition_key, run_id, payload)
                SELECT DISTINCT ON (model, odoo_id, rule) model, odoo_id, parent_id, rule, message, :asset, pk,
                       :run_id, payload
                FROM incoming
                ORDER BY model, odoo_id, rule, pk
                ON CONFLICT (model, odoo_id, rule) DO UPDATE
                    SET message = EXCLUDED.message, partition_key = EXCLUDED.partition_key,
                        payload = EXCLUDED.payload, run_id = EXCLUDED.run_id
                    WHERE sync_rejeitado.payload IS DISTINCT FROM EXCLUDED.payload
                       OR sync_rejeitado.partition_key IS DISTINCT FROM EXCLUDED.partition_key
                RETURNING partition_key
            ),
            resolved AS (
                DELETE FROM sync_rejeitado r
                WHERE r.asset = :asset AND r.partition_key = ANY(CAST(:pks AS text[]))
                  AND NOT EXISTS (
                      SELECT 1 FROM incoming i
                      WHERE i.model = r.model AND i.odoo_id = r.odoo_id AND i.rule = r.rule)
                RETURNING partition_key
            )
            SELECT k.pk, (SELECT count(*) FROM added a WHERE a.partition_key = k.pk),
                   (SELECT count(*) FROM resolved r WHERE r.partition_key = k.pk)
            FROM unnest(CAST(:pks AS text[])) AS k(pk)
            """
        ),
        {"rejects": payload, "asset": asset, "pks": list(rejects), "run_id": run_id},
    )
    counts = {pk: {"rejects_written": written, "rejects_resolved": resolved} for pk, written, resolved in rows}
    return {pk: counts[pk] | {"rejects": len(of_partition)} for pk, of_partition in rejects.items()}


def rejects_by_rule(engine, rule: str, limit: int = 200) -> list[dict]:
    """The records set aside for ``rule`` (newest first), for checks and the command line."""
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('sync_rejeitado') IS NOT NULL")).scalar():
            return []
        rows = conn.execute(
            text(
                "SELECT model, odoo_id, rule, message, partition_key, payload FROM sync_rejeitado "
                "WHERE rule = :rule ORDER BY id DESC LIMIT :limit"
            ),
            {"rule": rule, "limit": limit},
        ).mappings()
        return [dict(r) for r in rows]


def rejects_of_asset(engine, asset: str, sample: int = 20) -> tuple[dict[str, int], list[tuple]]:
    """Rejects of one asset: counts per rule, and the newest few (model, id, rule, message, partition)."""
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('sync_rejeitado') IS NOT NULL")).scalar():
            return {}, []
        by_rule = dict(
            conn.execute(
                text("SELECT rule, count(*) FROM sync_rejeitado WHERE asset = :asset GROUP BY rule"), {"asset": asset}
            ).all()
        )
        newest = conn.execute(
            text(
                "SELECT model, odoo_id, rule, message, partition_key FROM sync_rejeitado "
                "WHERE asset = :asset ORDER BY id DESC LIMIT :n"
            ),
            {"asset": asset, "n": sample},
        ).all()
    return by_rule, [tuple(r) for r in newest]
