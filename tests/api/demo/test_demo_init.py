"""``natid init`` prints the demo accounts a newcomer logs in with, the same on every run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.context import build_context
from core.settings import load_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_natid_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("NATID_"):
            monkeypatch.delenv(key)


def _block(output: str) -> str:
    start = output.index("Demo accounts")
    return output[start : output.index("NatID is initialised")]


def test_init_prints_the_same_demo_accounts_and_makes_them_once(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert first.exit_code == 0, first.output
    block = _block(first.output)
    numbers = re.findall(r"ID card number: (\d{9})", block)
    passwords = re.findall(r"password: +(\S+)", block)
    secret = re.search(r"TOTP secret: +([A-Z2-7]+)", block)
    assert len(numbers) == 2 and len(passwords) == 2 and secret is not None
    assert re.search(r"otpauth URI: +otpauth://totp/", block)

    second = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert second.exit_code == 0, second.output
    assert _block(second.output) == block
    assert "Demo site: http://localhost:8000/demo/" in second.output

    ctx = build_context(load_settings(data_dir=data))
    try:
        # One client, one account per demo person; the printed password and TOTP code work.
        assert len(ctx.idp_core().clients.list()) == 1
        accounts = ctx.idp_accounts()
        totp_person = ctx.register.find_person_by_national_id(numbers[1])
        assert totp_person is not None
        result = accounts.authenticate_password(
            numbers[1], passwords[1], source="test", at=ctx.clock.now()
        )
        assert result.second_factor_available
        code = pyotp.TOTP(secret.group(1)).now()
        second_factor = accounts.verify_second_factor(
            result, code, source="test", at=ctx.clock.now()
        )
        assert second_factor.acr.value == "substantial"
    finally:
        ctx.close()


def test_init_without_the_demo_register_opens_no_demo_accounts(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", "--no-demo", "--data-dir", str(tmp_path / "var")])
    assert result.exit_code == 0, result.output
    assert "Demo accounts" not in result.output
