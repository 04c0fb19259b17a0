"""`natid init`, `natid db upgrade` and `--help`: the first commands a newcomer types, and what
they say when the database URL is wrong or the database goes away."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, Connection, Engine, event, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.testing import CliRunner

from api.cli.main import app, port_mismatch
from tests._env import environ_without_natid, without_natid_settings
from tests._serving import free_port
from tests._tcp_proxy import TcpProxy

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings(keep_test_databases=False):
        yield


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
        "error: not starting: the Redis cache at 127.0.0.1:1 failed: ConnectionError: "
        "Connection refused."
    )  # one line: where Redis is, as for the database, but no URL and no password


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


# --- a database URL that cannot be used --------------------------------------------------------

_BAD_PORT = "the port must be a number (percent-encode an @, : or / in the user name or password)"


def _must_not_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def must_not_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("natid serve started its server")

    monkeypatch.setattr(uvicorn, "run", must_not_run)


_NATID_RUNS_ON = "NatID runs on postgresql+psycopg and sqlite"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param(
            "postgresql+psycopg://natid:db-secret-pw@127.0.0.1:abc/natid",
            _BAD_PORT,
            id="port-not-a-number",
        ),
        pytest.param(
            # The password db-secret@w0rd, unencoded: the host would be "w0rd@127.0.0.1".
            "postgresql+psycopg://natid:db-secret@w0rd@127.0.0.1/natid",
            "its host name has an @ in it (percent-encode an @, : or / in the user name or "
            "password)",
            id="password-with-an-at",
        ),
        pytest.param(
            "foo://db-secret-pw",
            f"unknown database or driver 'foo'; {_NATID_RUNS_ON}",
            id="unknown-dialect",
        ),
        pytest.param(
            "not a url db-secret-pw",
            "expected postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH",
            id="not-a-url",
        ),
        pytest.param(
            "oracle+oracledb://natid:db-secret-pw@127.0.0.1/natid",
            "the driver of 'oracle+oracledb' cannot be loaded (No module named 'oracledb'); "
            + _NATID_RUNS_ON,
            id="driver-not-installed",
        ),
        pytest.param(
            "sqlite://natid:db-secret-pw@127.0.0.1/natid.db",
            "a SQLite URL names a file, sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH",
            id="sqlite-with-a-host",
        ),
    ],
)
def test_unusable_database_url_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    monkeypatch.setenv("NATID_DATABASE_URL", url)
    result = runner.invoke(app, ["registry", "list", "persons", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output  # a configuration error, as a bad setting is
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert result.stderr.strip() == (
        f"error: the database URL is not valid: {reason} [invalid_database_url]"
    )
    assert "db-secret" not in result.output
    assert "w0rd" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    "command",
    [["init"], ["db", "upgrade"], ["serve"], ["audit", "head"], ["operator", "list"]],
    ids=["init", "db-upgrade", "serve", "audit-head", "operator-list"],
)
def test_every_command_reports_an_unusable_database_url_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    _must_not_serve(monkeypatch)
    monkeypatch.setenv(
        "NATID_DATABASE_URL", "postgresql+psycopg://natid:db-secret-pw@127.0.0.1:abc/natid"
    )
    result = runner.invoke(app, [*command, "--data-dir", str(tmp_path / "var")])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == (
        f"error: the database URL is not valid: {_BAD_PORT} [invalid_database_url]"
    )
    assert "db-secret-pw" not in result.output


def test_the_installed_natid_reports_an_unusable_database_url_without_a_traceback(
    tmp_path: Path,
) -> None:
    """The console script a newcomer runs, in its own process: nothing but the one line."""
    natid = Path(sys.executable).with_name("natid")
    env = environ_without_natid()
    env["NATID_DATABASE_URL"] = "postgresql+psycopg://u:secretpw@127.0.0.1:abc/db"
    done = subprocess.run(
        [natid, "registry", "list", "persons", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        done.stderr == f"error: the database URL is not valid: {_BAD_PORT} [invalid_database_url]\n"
    )
    assert done.stdout == ""


# --- a database lost in the middle of a command ------------------------------------------------

#: An ID number in the failed statement's parameters: it must not reach the terminal.
_ID_NUMBER = "012345678"


def _lost_connection() -> OperationalError:
    return OperationalError(
        "SELECT persons.id FROM persons WHERE persons.national_id = %(national_id)s",
        {"national_id": _ID_NUMBER},
        Exception("consuming input failed: server closed the connection unexpectedly\n"
                  "\tThis probably means the server terminated abnormally"),
        connection_invalidated=True,
    )  # fmt: skip


def test_lost_connection_is_one_line_without_the_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What SQLAlchemy raises when the connection broke under a statement (a stand-in here;
    the PostgreSQL tests below break a real one)."""
    from core.operators import OperatorService

    def broken(*_args: object, **_kwargs: object) -> None:
        raise _lost_connection()

    monkeypatch.setattr(OperatorService, "list_operators", broken)
    result = runner.invoke(app, ["operator", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == (
        f"error: lost the connection to the database {(tmp_path / 'natid.db').resolve()} "
        "(sqlite): server closed the connection unexpectedly [database_unreachable]"
    )
    assert _ID_NUMBER not in result.output
    assert "SELECT" not in result.output


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a bug"),
        ProgrammingError("SELECT nonsense", {}, Exception("syntax error at or near nonsense")),
        OperationalError("SELECT 1", {}, Exception("database is locked")),
    ],
    ids=["runtime-error", "sql-programming-error", "operational-error-not-a-disconnect"],
)
def test_other_errors_keep_their_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """Only the database going away is turned into one line: a programming error, or a database
    error while the database is there, still stops with its own exception."""
    from core.operators import OperatorService

    def broken(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(OperatorService, "list_operators", broken)
    result = runner.invoke(app, ["operator", "list", "--data-dir", str(tmp_path)])
    assert result.exception is error
    assert result.stderr == ""


def _pg_url_with_a_password(engine: Engine) -> tuple[URL, str]:
    """The test database's URL with a password in it: its own, or one that PostgreSQL's trust
    authentication of a test server never asks for."""
    url = engine.url
    if url.password is None:
        url = url.set(password="db-secret-pw")
    return url, str(url.password)


@contextlib.contextmanager
def _after_statement(pattern: str, action: Callable[[Any], None]) -> Iterator[list[str]]:
    """Run ``action(dbapi_connection)`` once, after the first statement containing ``pattern``
    (its transaction still open), on any engine; yields the statements it ran after."""
    seen: list[str] = []

    def hook(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if not seen and pattern in statement:
            seen.append(statement)
            action(conn.connection.dbapi_connection)

    event.listen(Engine, "after_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(Engine, "after_cursor_execute", hook)


def _written(engine: Engine) -> tuple[int, int]:
    """How many operators, and ledger entries about adding one, the database holds."""
    with engine.connect() as conn:
        operators = conn.execute(text("SELECT count(*) FROM operators")).scalar_one()
        added = conn.execute(
            text("SELECT count(*) FROM audit_entries WHERE event = 'operator.added'")
        ).scalar_one()
    return operators, added


_ADD_OPERATOR = ["operator", "add", "--name", "alice.ra", "--role", "ra-officer"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("command", "after"),
    [
        (_ADD_OPERATOR, "INSERT INTO operators"),
        # In the start-up migrations, which printed SQLAlchemy's traceback before.
        (["init"], "FROM alembic_version"),
        (["db", "upgrade"], "FROM alembic_version"),
    ],
    ids=["operator-add", "init", "db-upgrade"],
)
def test_backend_terminated_mid_command_is_one_line_and_nothing_is_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_migrated_engine: Engine,
    command: list[str],
    after: str,
) -> None:
    """pg_terminate_backend (an administrator, or a failover) in the middle of a command, for
    the operator between its INSERT and the rest of its transaction: one line, and the INSERT
    is rolled back."""
    url, password = _pg_url_with_a_password(pg_migrated_engine)
    monkeypatch.setenv("NATID_DATABASE_URL", url.render_as_string(hide_password=False))

    def terminate(dbapi_conn: Any) -> None:
        with pg_migrated_engine.connect() as admin:
            pid = dbapi_conn.info.backend_pid
            # With a timeout, the call returns once the backend has exited.
            assert admin.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})

    with _after_statement(after, terminate) as seen:
        result = runner.invoke(app, [*command, "--data-dir", str(tmp_path)])
    assert seen, f"the command never ran {after}"
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == (
        f"error: lost the connection to the database at {url.host}:{url.port} (postgresql): "
        "terminating connection due to administrator command [database_unreachable]"
    )
    assert password not in result.output
    assert after not in result.output
    assert "[SQL" not in result.output
    assert result.stdout == ""
    assert _written(pg_migrated_engine) == (0, 0)


@pytest.mark.postgres
def test_server_gone_mid_command_is_one_line_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_migrated_engine: Engine
) -> None:
    """The server closes every connection and stops listening (a crash, a shutdown) in the
    middle of the operator's transaction."""
    url, password = _pg_url_with_a_password(pg_migrated_engine)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port)
        monkeypatch.setenv("NATID_DATABASE_URL", via_proxy.render_as_string(hide_password=False))
        with _after_statement("INSERT INTO operators", lambda _conn: proxy.vanish()) as seen:
            result = runner.invoke(app, [*_ADD_OPERATOR, "--data-dir", str(tmp_path)])
    assert seen, "the command never inserted the operator"
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == (
        f"error: lost the connection to the database at 127.0.0.1:{proxy.port} (postgresql): "
        "server closed the connection unexpectedly [database_unreachable]"
    )
    assert password not in result.output
    assert "INSERT" not in result.output
    assert _written(pg_migrated_engine) == (0, 0)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command",
    [_ADD_OPERATOR, ["registry", "list", "persons"], ["audit", "checkpoint"]],
    ids=["operator-add", "registry-list", "audit-checkpoint"],
)
def test_server_gone_after_start_up_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_migrated_engine: Engine,
    command: list[str],
) -> None:
    """The server goes away after the start-up check and the migrations, before the command's
    work: the pooled connection is found dead, and a new one is refused."""
    import api.listeners

    url, password = _pg_url_with_a_password(pg_migrated_engine)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port)
        monkeypatch.setenv("NATID_DATABASE_URL", via_proxy.render_as_string(hide_password=False))
        install = api.listeners.install_ledger_listeners

        def install_then_vanish(ctx: Any) -> None:
            install(ctx)  # the last step of cli_context before the command's work
            proxy.vanish()

        monkeypatch.setattr(api.listeners, "install_ledger_listeners", install_then_vanish)
        result = runner.invoke(app, [*command, "--data-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip() == (
        f"error: cannot connect to the database at 127.0.0.1:{proxy.port} (postgresql): "
        "Connection refused [database_unreachable]"
    )
    assert password not in result.output
    assert _written(pg_migrated_engine) == (0, 0)


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


def test_init_signs_a_checkpoint_covering_the_demo_accounts(tmp_path: Path) -> None:
    """The checkpoint init reports covers everything init wrote, the demo accounts included,
    so the first `audit verify` finds no entry after the last checkpoint."""
    data = tmp_path / "var"
    init = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert init.exit_code == 0, init.output
    verify = runner.invoke(app, ["audit", "verify", "--data-dir", str(data), "--json"])
    assert verify.exit_code == 0, verify.output
    assert "follow the last checkpoint" not in verify.output
    head = runner.invoke(app, ["audit", "head", "--data-dir", str(data)])
    assert head.exit_code == 0, head.output
    assert f"audit ledger: {_head_seq(head.output)} entries, checkpoint signed" in init.output


def _head_seq(output: str) -> int:
    for word in output.replace(",", " ").replace(":", " ").split():
        if word.isdigit():
            return int(word)
    raise AssertionError(f"no sequence number in {output!r}")


_PRODUCTION = {
    "NATID_PRODUCTION": "true",
    "NATID_PUBLIC_BASE_URL": "https://id.example.gov.kh",
    "NATID_ALLOW_SOFT_KEYS_IN_PRODUCTION": "true",
    "NATID_SOFT_KEY_PASSPHRASE": "a-production-passphrase-x",
    "NATID_NOTIFIER": "gateway",
    "NATID_SMTP_HOST": "mail.example.gov.kh",
    "NATID_SMTP_FROM": "natid@example.gov.kh",
}


def _production(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    for key, value in _PRODUCTION.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NATID_DATA_DIR", str(data))


def _ca_and_register(data: Path) -> tuple[int, int]:
    """How many CAs and register persons the data directory's database holds."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{data / 'natid.db'}")
    try:
        with engine.connect() as conn:
            tables = set(
                conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars()
            )
            cas = (
                conn.execute(text("SELECT count(*) FROM ca_authorities")).scalar_one()
                if "ca_authorities" in tables
                else 0
            )
            persons = (
                conn.execute(text("SELECT count(*) FROM registry_persons")).scalar_one()
                if "registry_persons" in tables
                else 0
            )
    finally:
        engine.dispose()
    return int(cas), int(persons)


def test_production_serve_never_initialises_a_development_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an empty database in production mode, `natid serve` used to make the development
    hierarchy and load the 1,000 synthetic persons; it now refuses and names the ceremony."""
    data = tmp_path / "var"
    _production(monkeypatch, data)
    _must_not_serve(monkeypatch)
    result = runner.invoke(app, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert "not starting: production mode never initialises" in result.output
    assert "natid ceremony run" in result.output
    assert "initialising" not in result.output
    assert _ca_and_register(data) == (0, 0)


def test_production_init_refuses_the_development_hierarchy_and_the_demo_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "var"
    _production(monkeypatch, data)
    for args in (["init"], ["init", "--no-demo"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "production mode never initialises" in result.output
    assert _ca_and_register(data) == (0, 0)


def test_serve_gives_workers_time_to_import_before_their_health_check() -> None:
    from api.cli.main import WORKER_HEALTHCHECK_SECONDS, uvicorn_options

    options = uvicorn_options("127.0.0.1", 8000, 2)
    assert options["timeout_worker_healthcheck"] == WORKER_HEALTHCHECK_SECONDS >= 30
    import uvicorn

    # uvicorn accepts the option under that name (a renamed option would raise here).
    uvicorn.Config("api.app:create_app_from_env", **options)


def test_failed_migration_names_the_reason_without_the_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error in a migration is the driver's reason in one line: SQLAlchemy's own
    text would quote the statement and its parameters."""
    import migrations

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ProgrammingError(
            "UPDATE registry_persons SET national_id = %(n)s",
            {"n": _ID_NUMBER},
            Exception("permission denied for table registry_persons"),
        )

    monkeypatch.setattr(migrations, "upgrade", broken)
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: migration failed: ProgrammingError: permission denied for table registry_persons"
    )
    assert _ID_NUMBER not in result.output and "UPDATE" not in result.output
