"""``natid ceremony ...`` on a real data directory: hash-passphrase, run (dry and real), verify.

The sub-app ``api.cli.ceremony.app`` is invoked directly until the lead mounts it as
``natid ceremony``. Every run uses ``examples/ceremony.yaml`` (officers' rehearsal passphrases
``rehearsal passphrase of <id>``), on SQLite and on PostgreSQL (``NATID_DATABASE_URL``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest
from typer.testing import CliRunner

from api.cli.ceremony import app as ceremony_app
from api.cli.main import app as main_app
from api.context import build_context
from core.settings import load_settings
from tests._env import without_natid_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ceremony.yaml"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    # The example is a production ceremony; the test data directory has the soft backend.
    return {"NATID_DATABASE_URL": db_url, "NATID_ALLOW_SOFT_KEYS_IN_PRODUCTION": "true"}


def ceremony(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> tuple[int, str, str]:
    result = runner.invoke(ceremony_app, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def passphrase_file(path: Path, lines: dict[str, str], mode: int = 0o600) -> Path:
    path.write_text("# rehearsal\n" + "".join(f"{k}: {v}\n" for k, v in lines.items()))
    path.chmod(mode)
    return path


def key_labels(data: Path, env: dict[str, str]) -> set[str]:
    ctx = build_context(load_settings(data_dir=data, database_url=env["NATID_DATABASE_URL"]))
    try:
        return {k.label for k in ctx.keys.list()}
    finally:
        ctx.close()


def test_hash_passphrase_prompts_twice_and_prints_an_argon2id_hash() -> None:
    code, out, _ = ceremony("hash-passphrase", stdin="a long passphrase\na long passphrase\n")
    assert code == 0
    printed = out.strip().splitlines()[-1]
    assert printed.startswith("$argon2id$")
    assert argon2.PasswordHasher().verify(printed, "a long passphrase")
    assert "a long passphrase" not in out
    code, out, err = ceremony("hash-passphrase", stdin="a long passphrase\nanother one!!\n")
    assert code == 1 and "differ" in err and "$argon2id$" not in out


def test_dry_run_prints_the_plan_and_generates_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "var"
    code, out, err = ceremony("run", str(EXAMPLE), "--dry-run", "--data-dir", str(data), env=env)
    assert code == 0, err
    assert "quorum: 2 of 3 officers" in out
    assert "1. root  root-ca  key ca-root  issued by itself" in out
    assert "nothing was generated" in out
    labels = key_labels(data, env)
    assert not labels & {"ca-root", "ca-citizen", "tsa"}


def test_group_readable_passphrase_file_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    secrets = passphrase_file(
        tmp_path / "pw.txt", {"sokha": "rehearsal passphrase of sokha"}, mode=0o644
    )
    args = ["run", str(EXAMPLE), "--passphrases-from", str(secrets)]
    code, _, err = ceremony(*args, "--data-dir", str(tmp_path / "var"), env=env)
    assert code == 1
    assert "readable by others" in err and "rehearsal passphrase" not in err
    assert not (tmp_path / "var").exists()  # refused before the data directory was touched


@pytest.mark.slow
def test_run_with_two_officers_then_verify_then_natid_init_loads_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    data = tmp_path / "var"
    secrets = passphrase_file(
        tmp_path / "pw.txt",
        {"sokha": "rehearsal passphrase of sokha", "dara": "not it",
         "vanna": "rehearsal passphrase of vanna"},
    )  # fmt: skip
    transcript = tmp_path / "transcript.json"
    code, out, err = ceremony(
        "run", str(EXAMPLE), "--passphrases-from", str(secrets), "--transcript", str(transcript),
        "--data-dir", str(data), env=env,
    )  # fmt: skip
    assert code == 0, err
    assert "confirmed by sokha, vanna" in out
    assert "officer dara: not counted" in err
    assert json.loads(transcript.read_text())["quorum"]["confirmed"] == ["sokha", "vanna"]

    root_pem = tmp_path / "root.pem"
    root_pem.write_text(json.loads(transcript.read_text())["certificates"][0]["pem"])
    code, out, err = ceremony(
        "verify", str(transcript), "--root", str(root_pem), "--ceremony-file", str(EXAMPLE),
        "--check-store", "--data-dir", str(data), env=env,
    )  # fmt: skip
    assert code == 0, out + err
    assert out.startswith("OK: ceremony kh-national-pki-2026")
    assert "matches the stored hierarchy" in out

    # What `natid serve` runs first: it loads the ceremony's hierarchy instead of making one.
    result = runner.invoke(main_app, ["init", "--no-demo", "--data-dir", str(data)], env=env)
    assert result.exit_code == 0, result.stderr
    assert "certificate authorities: " in result.stdout
    assert {"citizen", "entity", "government", "health", "root"} <= set(
        result.stdout.split("certificate authorities: ")[1].splitlines()[0].split(", ")
    )

    # A second run is refused: the labels exist (and a hierarchy is stored).
    code, _, err = ceremony(
        "run", str(EXAMPLE), "--passphrases-from", str(secrets), "--data-dir", str(data), env=env
    )
    assert code == 1 and "already holds" in err

    # Tampering is reported, with exit 1.
    transcript.write_text(transcript.read_text().replace('"vanna"', '"dara"', 1))
    code, out, _ = ceremony("verify", str(transcript), env=env)
    assert code == 1 and out.startswith("FAILED:")


def test_interactive_quorum_not_met_aborts(tmp_path: Path, env: dict[str, str]) -> None:
    data = tmp_path / "var"
    # sokha types it right; dara declines (Enter); vanna fails three times.
    typed = "rehearsal passphrase of sokha\n\nx\ny\nz\n"
    code, _, err = ceremony("run", str(EXAMPLE), "--data-dir", str(data), env=env, stdin=typed)
    assert code == 1
    assert "officer dara: declined" in err
    assert "passphrase not accepted (attempt 3 of 3)" in err
    assert "1 of the required 2 officers confirmed" in err
    assert not key_labels(data, env) & {"ca-root", "tsa"}
    assert not (data / "ceremonies").exists()
    ctx = build_context(load_settings(data_dir=data, database_url=env["NATID_DATABASE_URL"]))
    try:
        aborted = [e for e in ctx.ledger.tail(20) if e.event == "ca.ceremony.aborted"]
    finally:
        ctx.close()
    assert len(aborted) == 1 and aborted[0].data["reason"] == "quorum_not_met"
