"""Alembic scripts of the operational schema: ``env.py`` and ``versions/`` (see README.md, and
``sync_pipeline.db.migrate``, which runs them)."""
