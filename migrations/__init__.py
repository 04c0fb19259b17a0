"""Alembic migrations for NatID's schema, and the helpers that run them.

``natid db upgrade``, ``natid init`` and ``natid serve`` call :func:`upgrade`; the test suite
builds every test database with it too, so the migrations are exercised on SQLite and
PostgreSQL on every run. ``alembic check`` (in ``make lint``) proves the models and the
migrations agree.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData

__all__ = ["MODEL_MODULES", "alembic_config", "target_metadata", "upgrade"]

#: Every module that defines ORM tables. A package's tables are migrated once listed here.
MODEL_MODULES = (
    "core.models",
    "registry.models",
    "registry.event_models",
    "ca.models",
    "idp.models",
    "idp.account_models",
    "idp.consent_models",
    "idp.activation_models",
    "idp.recovery_models",
    "signing.models",
    "signing.workflow_models",
    "kyc.models",
    "kyc.request_models",
    "vaccine_cert.models",
)

_HERE = Path(__file__).resolve().parent


def target_metadata() -> MetaData:
    """Import every package's models and return the shared metadata."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    from core.db import Base

    return Base.metadata


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (default: the newest)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
