"""``natid keys list`` and ``natid keys generate``: what an operator sees, and never a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.keys import app
from tests._env import unset_natid_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    unset_natid_settings(monkeypatch)


def natid_keys(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_generate_then_list_shows_label_algorithm_backend_created(tmp_path: Path) -> None:
    code, out, _ = natid_keys(
        "generate", "root-ca-2026", "--algorithm", "ec-p384", "--data-dir", str(tmp_path)
    )
    assert code == 0, out
    assert "root-ca-2026" in out
    assert "public key SHA-256:" in out
    code, out, _ = natid_keys("list", "--data-dir", str(tmp_path))
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split() == ["LABEL", "ALGORITHM", "BACKEND", "CREATED"]
    label, algorithm, backend, created = row.split()
    assert (label, algorithm, backend) == ("root-ca-2026", "ec-p384", "soft")
    assert created.startswith("20")


def test_list_json_is_machine_readable(tmp_path: Path) -> None:
    natid_keys("generate", "ocsp-signer", "-a", "ed25519", "--data-dir", str(tmp_path))
    code, out, _ = natid_keys("list", "--json", "--data-dir", str(tmp_path))
    assert code == 0
    [entry] = json.loads(out)
    assert entry["label"] == "ocsp-signer"
    assert entry["algorithm"] == "ed25519"
    assert entry["backend"] == "soft"
    assert set(entry) == {"label", "algorithm", "backend", "created"}


def test_generate_json_gives_the_public_key_fingerprint_only(tmp_path: Path) -> None:
    code, out, _ = natid_keys(
        "generate", "tsa", "-a", "rsa-2048", "--json", "--data-dir", str(tmp_path)
    )
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"label", "algorithm", "backend", "public_key_sha256"}
    assert len(bytes.fromhex(result["public_key_sha256"])) == 32


def test_output_never_contains_key_material(tmp_path: Path) -> None:
    outputs = [
        natid_keys("generate", "k", "-a", "rsa-2048", "--data-dir", str(tmp_path))[1],
        natid_keys("list", "--data-dir", str(tmp_path))[1],
        natid_keys("list", "--json", "--data-dir", str(tmp_path))[1],
    ]
    key_file = json.loads((tmp_path / "keys" / "k.key.json").read_bytes())
    for out in outputs:
        assert "PRIVATE KEY" not in out
        assert "BEGIN" not in out
        assert key_file["ciphertext"][:32] not in out


def test_empty_store_says_so(tmp_path: Path) -> None:
    code, out, _ = natid_keys("list", "--data-dir", str(tmp_path))
    assert code == 0
    assert out.strip() == "no keys"


def test_generate_on_taken_label_fails_with_one_line(tmp_path: Path) -> None:
    natid_keys("generate", "dup", "--data-dir", str(tmp_path))
    code, _, err = natid_keys("generate", "dup", "--data-dir", str(tmp_path))
    assert code == 1
    assert (
        err.strip()
        == "error: a key labelled 'dup' already exists in the soft key store [key_exists]"
    )


def test_path_traversal_label_is_refused(tmp_path: Path) -> None:
    code, _, err = natid_keys("generate", "../../etc/evil", "--data-dir", str(tmp_path))
    assert code == 1
    assert "invalid key label" in err
    assert not list(tmp_path.rglob("evil*"))


def test_unknown_algorithm_is_a_usage_error(tmp_path: Path) -> None:
    code, _, _ = natid_keys("generate", "k", "-a", "rsa-1024", "--data-dir", str(tmp_path))
    assert code == 2
    assert not (tmp_path / "keys" / "k.key.json").exists()


def test_wrong_passphrase_fails_without_printing_it(tmp_path: Path) -> None:
    natid_keys("generate", "k", "--data-dir", str(tmp_path))
    code, out, err = natid_keys(
        "list", "--data-dir", str(tmp_path), env={"NATID_SOFT_KEY_PASSPHRASE": "guess-123"}
    )
    assert code == 1
    assert "wrong passphrase" in err
    assert "guess-123" not in out + err
    assert "Traceback" not in out + err
