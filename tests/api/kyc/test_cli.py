"""``natid kyc rp ...`` and ``natid kyc stats`` as an operator uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.kyc import app as kyc_cli
from api.context import build_context
from core.settings import load_settings
from tests._env import unset_natid_settings
from tests.api.idp_token._rp import make_rp_key

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    unset_natid_settings(monkeypatch)
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)
    return tmp_path / "var"


def kyc(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(kyc_cli, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


def _setup(data_dir: Path) -> tuple[str, str, str]:
    """A bank entity, a company entity and a FAPI 2.0 client, made with the project's code."""
    ctx = build_context(load_settings(data_dir=data_dir))
    try:
        bank = ctx.register.add_entity(
            {
                "register_no": "00012345",
                "name_km": "ធនាគារ",
                "name_en": "ACLEDA Bank",
                "kind": "bank",
            }
        )
        shop = ctx.register.add_entity(
            {"register_no": "00054321", "name_km": "ហាង", "name_en": "A Shop", "kind": "company"}
        )
        client = (
            ctx.idp_core()
            .clients.add(
                name="ACLEDA",
                redirect_uris=["https://bank.example.kh/cb"],
                auth_method="private_key_jwt",
                jwks=make_rp_key().jwks,
                fapi2=True,
                scopes=["openid", "kyc", "profile", "kyc:purpose:loan"],
            )
            .client
        )
        return bank.id, shop.id, client.client_id
    finally:
        ctx.close()


def test_rp_add_show_update_list_and_audit(data_dir: Path) -> None:
    bank, shop, client = _setup(data_dir)
    code, out, err = kyc(
        data_dir,
        "rp",
        "add",
        "--entity",
        bank,
        "--client",
        client,
        "--attributes",
        "name,birthdate,national_id_number",
        "--purposes",
        "loan,account_opening",
        "--rate-limit",
        "30/min",
        "--contact",
        "kyc@bank.example.kh",
    )
    assert code == 0, err
    rp = json.loads(out)
    assert rp["attributes"] == ["birthdate", "name", "national_id_number"]
    assert rp["rate_limit"] == "30/min"
    # The client cannot ask for the scopes the policy needs yet: the operator is told.
    assert "kyc:national_id_number" in err and "kyc:purpose:account_opening" in err
    code, out, err = kyc(
        data_dir, "rp", "update", client, "--purposes", "loan", "--legal-basis-match"
    )
    assert code == 0, err
    assert json.loads(out)["purposes"] == ["loan"]
    assert json.loads(out)["legal_basis_match"] is True
    code, out, _ = kyc(data_dir, "rp", "show", rp["id"])
    assert json.loads(out)["client_id"] == client
    code, out, _ = kyc(data_dir, "rp", "list")
    assert client in out
    # A company is no bank; the same client cannot be onboarded twice.
    code, _, err = kyc(
        data_dir,
        "rp",
        "add",
        "--entity",
        shop,
        "--client",
        client,
        "--attributes",
        "name",
        "--purposes",
        "loan",
    )
    assert code != 0
    code, _, err = kyc(
        data_dir,
        "rp",
        "add",
        "--entity",
        bank,
        "--client",
        client,
        "--attributes",
        "name",
        "--purposes",
        "loan",
    )
    assert code != 0 and "already" in err
    ctx = build_context(load_settings(data_dir=data_dir))
    try:
        events = [e.event for e in ctx.ledger.tail(50)]
    finally:
        ctx.close()
    assert events.count("kyc.rp.added") == 1 and events.count("kyc.rp.updated") == 1
    code, out, _ = kyc(data_dir, "stats", "--json")
    assert code == 0 and json.loads(out) == []


def test_non_fapi_client_refused(data_dir: Path) -> None:
    bank, _, _ = _setup(data_dir)
    ctx = build_context(load_settings(data_dir=data_dir))
    try:
        plain = (
            ctx.idp_core()
            .clients.add(
                name="Plain",
                redirect_uris=["https://x.example/cb"],
                auth_method="client_secret_basic",
            )
            .client
        )
    finally:
        ctx.close()
    code, _, err = kyc(
        data_dir,
        "rp",
        "add",
        "--entity",
        bank,
        "--client",
        plain.client_id,
        "--attributes",
        "name",
        "--purposes",
        "loan",
    )
    assert code != 0 and "FAPI 2.0" in err
