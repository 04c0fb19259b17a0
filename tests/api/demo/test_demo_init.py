"""``natid init`` prints the demo accounts a newcomer logs in with, the same on every run, as
long as they still work: a password or TOTP secret replaced since is shown as changed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.context import build_context
from api.demo_setup import ACTOR
from core.settings import load_settings
from tests._env import without_natid_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings(keep_test_databases=False):
        yield


def _block(output: str) -> str:
    start = output.index("Demo accounts")
    return output[start : output.index("NatID is initialised")]


def _init(data: Path) -> str:
    result = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    return _block(result.output)


def _kept(data: Path) -> list[dict[str, object]]:
    """What ``natid init`` keeps in ``DATA_DIR/demo/accounts.json``, in printed order."""
    kept = json.loads((data / "demo" / "accounts.json").read_text(encoding="utf-8"))
    assert isinstance(kept, list)
    return kept


def _account_lines(block: str, national_id: str) -> str:
    """The lines the block prints under the account with ``national_id`` (indented by four)."""
    lines = block.splitlines()
    start = lines.index(f"    ID card number: {national_id}")
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    return "\n".join(lines[start:end])


def _cli(data: Path, *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data)], input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


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


def test_rerun_after_set_password_does_not_print_the_old_password(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = _init(data)
    assert "not shown" not in first and "For new demo credentials" not in first
    numbers = re.findall(r"ID card number: (\d{9})", first)
    passwords = re.findall(r"password: +(\S+)", first)
    secret = re.search(r"TOTP secret: +([A-Z2-7]+)", first)
    assert secret is not None
    changed = _kept(data)[0]["person_id"]
    assert isinstance(changed, str)
    _cli(data, "idp", "user", "set-password", "--subject", changed, "--password-stdin",
         stdin="a brand new passphrase 77\n")  # fmt: skip

    again = _init(data)
    # The changed account says so; neither its old nor its new password is printed.
    assert passwords[0] not in again
    assert "brand new passphrase" not in again
    assert "password:       (changed since init; not shown)" in _account_lines(again, numbers[0])
    # The account nobody touched is printed as before.
    assert _account_lines(again, numbers[1]) == _account_lines(first, numbers[1])
    assert passwords[1] in again and secret.group(1) in again
    # The former password is not left on disk, and later runs say the same.
    stored = (data / "demo" / "accounts.json").read_text(encoding="utf-8")
    assert passwords[0] not in stored and passwords[1] in stored
    assert _init(data) == again


def test_rerun_after_new_totp_enrolment_does_not_print_the_old_secret(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = _init(data)
    numbers = re.findall(r"ID card number: (\d{9})", first)
    passwords = re.findall(r"password: +(\S+)", first)
    old = re.search(r"TOTP secret: +([A-Z2-7]+)", first)
    assert old is not None
    person = _kept(data)[1]["person_id"]
    assert isinstance(person, str)
    uri = _cli(data, "idp", "user", "enroll-totp", "--subject", person, "--no-prompt")
    new = re.search(r"secret=([A-Z2-7]+)", uri)
    assert new is not None
    _cli(data, "idp", "user", "enroll-totp", "--subject", person,
         "--code", pyotp.TOTP(new.group(1)).now())  # fmt: skip

    again = _init(data)
    lines = _account_lines(again, numbers[1])
    assert old.group(1) not in again and new.group(1) not in again
    assert "otpauth://" not in again
    assert "TOTP secret:    (changed since init; not shown)" in lines
    # The password still works, and the account still reaches substantial with the new app.
    assert f"password:       {passwords[1]}" in lines
    assert "(reaches level substantial with a TOTP code)" in lines
    assert old.group(1) not in (data / "demo" / "accounts.json").read_text(encoding="utf-8")

    # Without any authenticator app the account is back to level low.
    ctx = build_context(load_settings(data_dir=data))
    try:
        accounts = ctx.idp_accounts()
        account = accounts.find_by_person(person)
        assert account is not None
        assert accounts.totp.remove(account.id, actor=ACTOR)
    finally:
        ctx.close()
    lines = _account_lines(_init(data), numbers[1])
    assert "TOTP secret:    (removed since init)" in lines
    assert "(password only: level low)" in lines


def test_rerun_after_the_account_is_disabled_shows_no_credentials(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = _init(data)
    numbers = re.findall(r"ID card number: (\d{9})", first)
    passwords = re.findall(r"password: +(\S+)", first)
    secret = re.search(r"TOTP secret: +([A-Z2-7]+)", first)
    assert secret is not None
    person = _kept(data)[1]["person_id"]
    # A death in the register disables the account for good (idp.lifecycle).
    event = {"type": "death", "subject": person, "date": "2025-11-01"}
    _cli(data, "registry", "event", "--json", "-", stdin=json.dumps(event))

    again = _init(data)
    assert passwords[1] not in again and secret.group(1) not in again
    assert "(the account is disabled: it cannot log in; no credentials shown)" in _account_lines(
        again, numbers[1]
    )
    assert f"password:       {passwords[0]}" in _account_lines(again, numbers[0])
    assert _kept(data)[1] == {
        "person_id": person,
        "password": None,
        "totp_secret": None,
        "otpauth_uri": None,
    }


def test_the_demo_site_follows_a_new_public_url_and_a_lost_settings_file(tmp_path: Path) -> None:
    """Client names are unique: the demo client is updated, never registered twice, when the
    public base URL changes or ``demo/client.json`` is gone (``natid init`` / ``serve`` used to
    fail on the second registration)."""
    data = tmp_path / "var"
    _init(data)
    _cli(data, "ca", "set-public-url", "http://localhost:9000", "--yes")
    _init(data)
    (data / "demo" / "client.json").unlink()
    _init(data)
    saved = json.loads((data / "demo" / "client.json").read_text(encoding="utf-8"))
    ctx = build_context(load_settings(data_dir=data))
    try:
        clients = ctx.idp_core().clients
        [client] = clients.list()
        assert client.client_id == saved["client_id"]
        assert client.redirect_uris == ("http://localhost:9000/demo/callback",)
        assert client.post_logout_redirect_uris == ("http://localhost:9000/demo/logged-out",)
        # The kept secret is the client's (a new one: the old file was lost).
        authenticated = clients.authenticate(
            client_id=client.client_id, method="client_secret_basic",
            endpoint_url="http://localhost:9000/token", at=ctx.clock.now(),
            secret=saved["client_secret"],
        )  # fmt: skip
        assert authenticated.client_id == client.client_id
    finally:
        ctx.close()
