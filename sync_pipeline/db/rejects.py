"""sync_rejeitado: records set aside with the rule they broke (DESIGN §6.7)."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.engine import Connection

from sync_pipeline.domain.values import Reject


def record_rejects(
    conn: Connection, rejects: list[Reject], *, asset: str, partition_key: str, run_id: str
) -> dict[str, int]:
    """Upsert this partition's rejects; drop the ones whose record is now accepted.

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
            }
            for r in rejects
        ],
        default=str,
    )
    row = conn.execute(
        text(
            """
            WITH incoming AS (
                SELECT * FROM jsonb_to_recordset(CAST(:rejects AS jsonb))
                    AS x(model text, odoo_id int, parent_id int, rule text, message text, payload jsonb)
            ),
            added AS (
                INSERT INTO sync_rejeitado
                    (model, odoo_id, parent_id, rule, message, asset, partition_key, run_id, payload)
                SELECT model, odoo_id, parent_id, rule, message, :asset, :pk, :run_id, payload
                FROM incoming
                ON CONFLICT (model, odoo_id, rule) DO UPDATE
                    SET message = EXCLUDED.message, partition_key = EXCLUDED.partition_key,
                        payload = EXCLUDED.payload, run_id = EXCLUDED.run_id
                    WHERE sync_rejeitado.payload IS DISTINCT FROM EXCLUDED.payload
                       OR sync_rejeitado.partition_key IS DISTINCT FROM EXCLUDED.partition_key
                RETURNING 1
            ),
            resolved AS (
                DELETE FROM sync_rejeitado r
                WHERE r.asset = :asset AND r.partition_key = :pk
                  AND NOT EXISTS (
                      SELECT 1 FROM incoming i
                      WHERE i.model = r.model AND i.odoo_id = r.odoo_id AND i.rule = r.rule)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM resolved)
            """
        ),
        {"rejects": payload, "asset": asset, "pk": partition_key, "run_id": run_id},
    ).one()
    return {"rejects_written": row[0], "rejects_resolved": row[1], "rejects": len(rejects)}


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
