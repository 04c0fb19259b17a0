"""Migration 0024 on an installation that already has clients, some sharing a name: the oldest
of each name keeps it (its key is set), a younger namesake is left without a key (so it still
loads and can be renamed), new clients cannot take the name, and the downgrade removes the
columns again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from core.db import make_engine
from idp.client_metadata import name_key
from migrations import alembic_config, upgrade

_INSERT = text(
    "INSERT INTO idp_clients (client_id, name, auth_method, redirect_uris,"
    " post_logout_redirect_uris, fapi2, sector, subject_type, scopes, created_at)"
    " VALUES (:id, :name, 'client_secret_basic', '[\"https://a.gov.kh/cb\"]', '[]', false,"
    " 'a.gov.kh', 'pairwise', 'openid', :at)"
)


def test_existing_namesakes_keep_loading_and_the_oldest_keeps_the_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'natid.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine, "0023_installation_settings")
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        with engine.begin() as conn:
            for i, (client_id, name) in enumerate(
                [("c-old", "ABA Bank"), ("c-young", "aba  BANK"), ("c-other", "Tax office")]
            ):
                at = (start + dt.timedelta(days=i)).strftime("%Y-%m-%d %H:%M:%S.%f")
                conn.execute(_INSERT, {"id": client_id, "name": name, "at": at})
        upgrade(engine)
        with engine.connect() as conn:
            keys = dict(conn.execute(text("SELECT client_id, name_key FROM idp_clients")).all())
        assert keys == {
            "c-old": name_key("ABA Bank"), "c-young": None, "c-other": name_key("Tax office")
        }  # fmt: skip
        command.downgrade(alembic_config(url), "0023_installation_settings")
        columns = {c["name"] for c in inspect(engine).get_columns("idp_clients")}
        assert not columns & {"name_key", "disabled_at", "disabled_reason"}
    finally:
        engine.dispose()
