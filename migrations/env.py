"""Alembic environment: runs migrations on the connection NatID hands it, or on a URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from core.db import make_engine
from migrations import target_metadata

config = context.config
metadata = target_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from core.settings import load_settings

        url = load_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("NatID runs migrations online only: use `natid db upgrade`.")
run_migrations_online()
