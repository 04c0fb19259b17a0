"""``natid idp client ...`` and ``natid idp keys ...`` as an operator uses them, on SQLite and
PostgreSQL: the printed settings are usable (the secret authenticates, the JWKS is the one
given), the secret is never shown again, and rotation publishes before it switches keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.idp import app as idp_cli
from api.context import build_context
from core.settings import load_settings
from idp.service import build_provider_core
from tests.idp.conftest import make_client_keys

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("NATID_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)
    monkeypatch.setenv("NATID_PUBLIC_BASE_URL", "https://id.natid.gov.kh")
    return tmp_path / "var"


def idp(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(idp_cli, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


def test_client_add_secret_and_list(data_dir: Path) -> None:
    code, out, err = idp(
        data_dir, "client", "add", "--name", "Ministry of Health", "--auth-method",
        "client_secret_basic", "--redirect-uri", "https://portal.moh.gov.kh/cb",
        "--redirect-uri", "https://portal.moh.gov.kh/cb2", "--scope", "openid", "--scope", "email",
    )  # fmt: skip
    assert code == 0, err
    settings = json.loads(out)
    assert "shown once" in err
    assert settings["issuer"] == "https://id.natid.gov.kh"
    assert settings["redirect_uris"] == ["https://portal.moh.gov.kh/cb",
                                         "https://portal.moh.gov.kh/cb2"]  # fmt: skip
    assert settings["subject_type"] == "pairwise"
    assert settings["sector_identifier"] == "portal.moh.gov.kh"
    assert settings["scope"] == "email openid"
    secret = settings["client_secret"]
    # The printed secret authenticates the printed client_id.
    ctx = build_context(load_settings(data_dir=data_dir))
    try:
        core = build_provider_core(ctx.sessions, cache=ctx.cache, keys=ctx.keys,
                                   ledger=ctx.ledger, clock=ctx.clock,
                                   issuer=ctx.settings.public_base_url)  # fmt: skip
        client = core.clients.authenticate(
            client_id=settings["client_id"], method="client_secret_basic", secret=secret,
            endpoint_url="https://id.natid.gov.kh/token", at=ctx.clock.now(),
        )  # fmt: skip
        assert client.name == "Ministry of Health"
    finally:
        ctx.close()
    # Listing never shows it again.
    code, out, _ = idp(data_dir, "client", "list", "--json")
    assert code == 0 and secret not in out
    assert [c["client_id"] for c in json.loads(out)] == [settings["client_id"]]
    code, out, _ = idp(data_dir, "client", "list")
    assert settings["client_id"] in out and secret not in out


def test_client_add_fapi2_with_jwks(data_dir: Path, tmp_path: Path) -> None:
    rp = make_client_keys()
    jwks_file = tmp_path / "bank.jwks.json"
    jwks_file.write_text(json.dumps(rp.jwks))
    code, out, err = idp(
        data_dir, "client", "add", "--name", "ABA Bank", "--auth-method", "private_key_jwt",
        "--redirect-uri", "https://bank.example.com.kh/cb", "--jwks", str(jwks_file), "--fapi2",
        "--public-sub",
    )  # fmt: skip
    assert code == 0, err
    settings = json.loads(out)
    assert "client_secret" not in settings
    assert settings["fapi2"] and settings["require_pushed_authorization_requests"]
    assert settings["dpop_bound_access_tokens"] and settings["subject_type"] == "public"
    assert settings["jwks"] == rp.jwks


def test_client_add_refuses_bad_input_and_stores_nothing(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = idp(
        data_dir, "client", "add", "--name", "x", "--auth-method", "client_secret_post",
        "--redirect-uri", "http://portal.moh.gov.kh/cb",
    )  # fmt: skip
    assert code != 0 and "https" in err and "Traceback" not in err
    leaked = tmp_path / "private.json"
    leaked.write_text(json.dumps({"keys": [make_client_keys().private.as_dict(private=True)]}))
    code, _, err = idp(
        data_dir, "client", "add", "--name", "x", "--auth-method", "private_key_jwt",
        "--redirect-uri", "https://x.gov.kh/cb", "--jwks", str(leaked),
    )  # fmt: skip
    assert code != 0 and "public keys only" in err
    code, _, err = idp(
        data_dir, "client", "add", "--name", "x", "--auth-method", "client_secret_basic",
        "--redirect-uri", "https://x.gov.kh/cb", "--fapi2",
    )  # fmt: skip
    assert code != 0 and "private_key_jwt" in err
    code, out, _ = idp(data_dir, "client", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_keys_rotate_and_list(data_dir: Path) -> None:
    code, out, err = idp(data_dir, "keys", "rotate")
    assert code == 0, err
    first = json.loads(out)["activated"]
    assert first["label"] == "idp-sig-1" and first["state"] == "active"
    code, out, _ = idp(data_dir, "keys", "rotate")
    assert code == 0
    published = json.loads(out)["published"]
    assert published["state"] == "next"
    # Promoting right away would break relying parties that cached the JWKS: refused.
    code, _, err = idp(data_dir, "keys", "rotate")
    assert code != 0 and "can be activated from" in err and "key_rotation_too_early" in err
    code, out, _ = idp(data_dir, "keys", "list", "--json")
    assert [(k["kid"], k["state"]) for k in json.loads(out)] == [
        (first["kid"], "active"), (published["kid"], "next"),
    ]  # fmt: skip
    code, out, _ = idp(data_dir, "keys", "list")
    assert first["kid"] in out and "PRIVATE" not in out
