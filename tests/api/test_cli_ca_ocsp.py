"""``natid ca ocsp-renew`` on a real data directory whose responders expire in 20 days.

The command is mounted here on a Typer app of its own through ``api.cli.ca_ocsp.register``
(the lead mounts it on ``natid ca``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from api.cli.ca_ocsp import register
from api.context import build_context
from core.clock import FixedClock
from core.settings import load_settings
from tests._env import without_natid_settings

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """natid ca (test mount)."""

    register(app)
    return app


def test_ocsp_renew_renews_expiring_responders_once(tmp_path: Path) -> None:
    data = tmp_path / "var"
    made_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=70)  # 20 days left of 90
    ctx = build_context(load_settings(data_dir=data), clock=FixedClock(made_at))
    try:
        old = dict(ctx.ca().ensure_hierarchy(actor="test").ocsp_responders)
    finally:
        ctx.close()

    first = runner.invoke(cli(), ["ocsp-renew", "--json", "--data-dir", str(data)])
    assert first.exit_code == 0, first.output
    renewed = json.loads(first.stdout)
    assert {r["issuer"] for r in renewed} == set(old)
    for r in renewed:
        assert r["renewed_from"] == f"{old[r['issuer']].serial_number:X}".rjust(
            len(r["renewed_from"]), "0"
        )
        until = dt.datetime.fromisoformat(r["not_after"])
        assert until > dt.datetime.now(dt.UTC) + dt.timedelta(days=89)

    again = runner.invoke(cli(), ["ocsp-renew", "--data-dir", str(data)])
    assert again.exit_code == 0
    assert "nothing to renew" in again.stdout

    too_wide = runner.invoke(cli(), ["ocsp-renew", "--within", "90", "--data-dir", str(data)])
    assert too_wide.exit_code == 2  # a 90-day window would renew on every run
