"""``natid idp client ...`` and ``natid idp keys ...`` as an operator uses them, on SQLite and
PostgreSQL: the printed settings are usable (the secret authenticates, the JWKS is the one
given), the secret is never shown again, and rotation publishes before it switches keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.idp import app as idp_cli
from api.context import build_context
from core.settings import load_settings
from idp.service import build_provider_core
from tests._env import unset_natid_settings
from tests.idp.conftest import make_client_keys

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    unset_natid_settings(monkeypatch)
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


def _add(data_dir: Path, *args: str) -> dict[str, object]:
    code, out, err = idp(data_dir, "client", "add", *args)
    assert code == 0, err
    settings: dict[str, object] = json.loads(out)
    return settings


def _authenticates(data_dir: Path, client_id: str, secret: str) -> bool:
    from idp.errors import InvalidClient

    ctx = build_context(load_settings(data_dir=data_dir))
    try:
        core = build_provider_core(ctx.sessions, cache=ctx.cache, keys=ctx.keys,
                                   ledger=ctx.ledger, clock=ctx.clock,
                                   issuer=ctx.settings.public_base_url)  # fmt: skip
        core.clients.authenticate(
            client_id=client_id, method="client_secret_basic", secret=secret,
            endpoint_url="https://id.natid.gov.kh/token", at=ctx.clock.now(),
        )  # fmt: skip
    except InvalidClient:
        return False
    finally:
        ctx.close()
    return True


def test_client_update_rotate_disable_enable(data_dir: Path, tmp_path: Path) -> None:
    portal = _add(
        data_dir, "--name", "Ministry of Health", "--auth-method", "client_secret_basic",
        "--redirect-uri", "https://portal.moh.gov.kh/cb",
    )  # fmt: skip
    cid, old_secret = str(portal["client_id"]), str(portal["client_secret"])
    code, out, err = idp(
        data_dir, "client", "update", cid, "--name", "Ministry of Health portal",
        "--redirect-uri", "https://portal.moh.gov.kh/callback",
    )  # fmt: skip
    assert code == 0, err
    updated = json.loads(out)
    assert updated["client_name"] == "Ministry of Health portal"
    assert updated["redirect_uris"] == ["https://portal.moh.gov.kh/callback"]
    assert updated["sector_identifier"] == "portal.moh.gov.kh" and "client_secret" not in updated
    # A new secret, printed once; the old one stops working.
    code, out, err = idp(data_dir, "client", "rotate-secret", cid)
    assert code == 0 and "shown once" in err
    new_secret = json.loads(out)["client_secret"]
    assert not _authenticates(data_dir, cid, old_secret)
    assert _authenticates(data_dir, cid, new_secret)
    # Disabled: cut off, and marked in the list.
    code, out, err = idp(data_dir, "client", "disable", cid, "--reason", "secret leaked")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["disabled"] is True and shown["disabled_reason"] == "secret leaked"
    assert not _authenticates(data_dir, cid, new_secret)
    code, out, _ = idp(data_dir, "client", "list")
    assert code == 0 and cid in out and "DISABLED" in out
    code, out, _ = idp(data_dir, "client", "list", "--json")
    assert json.loads(out)[0]["disabled"] is True and new_secret not in out
    # Enabled again.
    code, out, err = idp(data_dir, "client", "enable", cid)
    assert code == 0 and json.loads(out)["disabled"] is False, err
    assert _authenticates(data_dir, cid, new_secret)
    code, out, _ = idp(data_dir, "client", "list")
    assert "DISABLED" not in out


def test_client_update_replaces_a_bank_key(data_dir: Path, tmp_path: Path) -> None:
    old, new = make_client_keys(kid="k-2026"), make_client_keys(kid="k-2027")
    (tmp_path / "old.json").write_text(json.dumps(old.jwks))
    (tmp_path / "new.json").write_text(json.dumps(new.jwks))
    bank = _add(
        data_dir, "--name", "ABA Bank", "--auth-method", "private_key_jwt", "--fapi2",
        "--redirect-uri", "https://bank.example.com.kh/cb", "--jwks", str(tmp_path / "old.json"),
    )  # fmt: skip
    code, out, err = idp(
        data_dir, "client", "update", str(bank["client_id"]), "--jwks", str(tmp_path / "new.json")
    )
    assert code == 0, err
    assert json.loads(out)["jwks"] == new.jwks and json.loads(out)["client_id"] == bank["client_id"]
    # A secret client has no keys, a bank no secret: one error line each, nothing changed.
    code, _, err = idp(data_dir, "client", "rotate-secret", str(bank["client_id"]))
    assert code == 1 and "no secret" in err and len(err.strip().splitlines()) == 1
    code, _, err = idp(data_dir, "client", "update", str(bank["client_id"]))
    assert code == 1 and "nothing to change" in err
    code, out, _ = idp(data_dir, "client", "list", "--json")
    assert json.loads(out)[0]["jwks"] == new.jwks


def test_duplicate_names_and_bad_changes_refused_with_one_line(
    data_dir: Path, tmp_path: Path
) -> None:
    first = _add(
        data_dir, "--name", "ABA Bank", "--auth-method", "client_secret_basic",
        "--redirect-uri", "https://bank.example.com.kh/cb",
    )  # fmt: skip
    code, _, err = idp(
        data_dir, "client", "add", "--name", " aba  bank", "--auth-method", "client_secret_basic",
        "--redirect-uri", "https://phish.example/cb",
    )  # fmt: skip
    assert code == 1 and "client_name_taken" in err and str(first["client_id"]) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    other = _add(
        data_dir, "--name", "Acleda Bank", "--auth-method", "client_secret_basic",
        "--redirect-uri", "https://acleda.example.com.kh/cb",
    )  # fmt: skip
    cid = str(other["client_id"])
    for args, expected in (
        (["--name", "ABA BANK"], "client_name_taken"),
        (["--redirect-uri", "http://acleda.example.com.kh/cb"], "https"),
        (["--name", "x" * 101], "1 to 100"),
    ):
        code, _, err = idp(data_dir, "client", "update", cid, *args)
        assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, err
    code, _, err = idp(data_dir, "client", "disable", "no-such-client", "--reason", "x")
    assert code == 1 and "client_not_found" in err
    code, out, _ = idp(data_dir, "client", "list", "--json")
    listed = json.loads(out)
    assert sorted((c["client_name"], c["redirect_uris"]) for c in listed) == [
        ("ABA Bank", ["https://bank.example.com.kh/cb"]),
        ("Acleda Bank", ["https://acleda.example.com.kh/cb"]),
    ]
