"""`natid init`, `natid db upgrade` and `--help`: the first commands a newcomer types."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app, port_mismatch
from tests._serving import free_port

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_natid_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NATID_"):
            monkeypatch.delenv(key)


def test_help_names_the_first_steps() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "natid init" in result.output
    for command in ("init", "serve", "db", "keys", "audit", "registry"):
        assert command in result.output


def test_init_is_idempotent_and_leaves_a_verifiable_ledger(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert first.exit_code == 0, first.output
    assert "1000 persons, 25 entities, 50 servants (synthetic demo data loaded)" in first.output
    assert "checkpoint signed" in first.output
    second = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert second.exit_code == 0, second.output
    assert "1000 persons, 25 entities, 50 servants" in second.output
    assert "demo data loaded" not in second.output
    keys = runner.invoke(app, ["keys", "list", "--data-dir", str(data)])
    assert keys.output.count("natid-audit-ledger") == 1
    verify = runner.invoke(app, ["audit", "verify", "--data-dir", str(data)])
    assert verify.exit_code == 0, verify.output
    assert "audit ledger OK" in verify.output


def test_init_reads_data_dir_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATID_DATA_DIR", str(tmp_path / "env-var"))
    result = runner.invoke(app, ["init", "--no-demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env-var" / "natid.db").exists()
    assert "0 persons" in result.output


def test_db_upgrade_creates_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "newest revision" in result.output


def test_bad_setting_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATID_KEY_BACKEND", "pkcs11")
    monkeypatch.setenv("NATID_PKCS11_PIN", "123456-secret")
    result = runner.invoke(app, ["init", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "NATID_PKCS11_MODULE" in result.output
    assert "123456-secret" not in result.output
    assert "Traceback" not in result.output


def test_serve_refuses_a_redis_that_may_evict(
    tmp_path: Path, evicting_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    def must_not_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("natid serve started its server")

    monkeypatch.setattr(uvicorn, "run", must_not_run)
    monkeypatch.setenv("NATID_REDIS_URL", evicting_redis)
    data = tmp_path / "var"
    result = runner.invoke(app, ["serve", "--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        "error: not starting: Redis may evict NatID's keys (maxmemory 67108864 bytes, "
        "maxmemory-policy volatile-lru); set maxmemory-policy noeviction "
        "(docs/deployment.md, section 2)"
    )
    # Refused before the data directory was initialised: no register, no CA was made.
    assert "initialising" not in result.stderr


def test_serve_refuses_a_redis_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **_kw: started.append(target))
    monkeypatch.setenv("NATID_REDIS_URL", "redis://:secret-password@127.0.0.1:1/0")
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "var")])
    assert result.exit_code == 1, result.output
    assert started == []
    assert result.stderr.strip() == (
        "error: not starting: the Redis cache failed: ConnectionError"
    )  # one line, no URL and no password


@pytest.mark.parametrize(
    "command",
    [["registry", "list", "persons"], ["init"], ["db", "upgrade"]],
    ids=["registry-list", "init", "db-upgrade"],
)
def test_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    port = free_port()  # nothing listens there: the connection is refused
    monkeypatch.setenv(
        "NATID_DATABASE_URL", f"postgresql+psycopg://natid:db-secret-pw@127.0.0.1:{port}/natid"
    )
    result = runner.invoke(app, [*command, "--data-dir", str(tmp_path / "var")])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: cannot connect to the database at 127.0.0.1:{port} (postgresql): "
        "Connection refused [database_unreachable]"
    )
    assert "db-secret-pw" not in result.output
    assert result.stdout == ""


def test_serve_refuses_an_unreachable_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **_kw: started.append(target))
    port = free_port()
    monkeypatch.setenv(
        "NATID_DATABASE_URL", f"postgresql+psycopg://natid:db-secret-pw@127.0.0.1:{port}/natid"
    )
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "var")])
    assert result.exit_code == 1, result.output
    assert started == []
    assert result.stderr.strip().splitlines() == [
        f"error: cannot connect to the database at 127.0.0.1:{port} (postgresql): "
        "Connection refused [database_unreachable]"
    ]
    assert "db-secret-pw" not in result.output


def test_sqlite_database_in_a_missing_directory_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-dir" / "natid.db"
    monkeypatch.setenv("NATID_DATABASE_URL", f"sqlite:///{missing}")
    result = runner.invoke(app, ["registry", "list", "persons", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: cannot open the database {missing} (sqlite): unable to open database file "
        "[database_unreachable]"
    )


@pytest.mark.parametrize(
    ("public", "port", "named"),
    [
        ("http://localhost:8000", 8123, 8000),
        ("http://127.0.0.1:8000/", 9000, 8000),
        ("http://localhost", 8000, 80),
        ("https://localhost", 8000, 443),
    ],
)
def test_serve_warns_when_the_public_url_names_another_local_port(
    public: str, port: int, named: int
) -> None:
    warning = port_mismatch(public, port)
    assert warning is not None
    assert f"listens on port {port}" in warning and f"name port {named}" in warning
    assert f"NATID_PUBLIC_BASE_URL=http://localhost:{port}" in warning


@pytest.mark.parametrize(
    ("public", "port"),
    [
        ("http://localhost:8000", 8000),
        ("http://127.0.0.1:9000", 9000),
        ("https://id.gov.kh", 8000),  # behind a proxy: its port is its own
        ("https://localhost:443", 443),
    ],
)
def test_serve_does_not_warn_when_the_ports_agree_or_a_proxy_is_named(
    public: str, port: int
) -> None:
    assert port_mismatch(public, port) is None
