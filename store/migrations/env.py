"""Alembic environment: the engine comes from `store.db.migrate`, never from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from store.schema import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through store.db.migrate(engine)")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
