"""``natid operator ...`` as an administrator uses it: a real data directory (``natid init``),
then add, list, disable, token and revoke-token, on SQLite and PostgreSQL; the printed token is
then presented to the admin API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.app import create_app
from api.cli.main import app as natid
from api.cli.operator import app as operator_cli
from api.context import AppContext, build_context
from core.settings import load_settings
from tests._env import unset_natid_settings

runner = CliRunner()
ME = "/admin/v1/operators/me"


def secret_of(token: str) -> str:
    """The secret part of ``natid_op_<16 hex>_<43 base64url>`` (which may itself hold ``_``)."""
    return token[len("natid_op_") + 17 :]


@pytest.fixture
def data_dir(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    unset_natid_settings(monkeypatch)
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)
    var = tmp_path / "var"
    result = runner.invoke(natid, ["init", "--no-demo", "--data-dir", str(var)])
    assert result.exit_code == 0, result.output
    return var


@pytest.fixture
def ctx(data_dir: Path) -> Iterator[AppContext]:
    context = build_context(load_settings(data_dir=data_dir))
    try:
        yield context
    finally:
        context.close()


def op(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(operator_cli, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


def add_json(data_dir: Path, name: str, *roles: str, days: int | None = None) -> dict[str, str]:
    args = ["add", "--name", name, "--json"]
    for role in roles:
        args += ["--role", role]
    if days is not None:
        args += ["--expires-days", str(days)]
    code, out, err = op(data_dir, *args)
    assert code == 0, err
    result: dict[str, str] = json.loads(out)
    return result


def me_status(ctx: AppContext, token: str) -> int:
    app = create_app(ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        return client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code


def test_add_prints_a_token_that_works_on_the_admin_api(data_dir: Path, ctx: AppContext) -> None:
    added = add_json(data_dir, "alice.ra", "ra-officer", "auditor")
    assert set(added) == {"id", "name", "roles", "token", "token_id", "expires_at"}
    assert added["roles"] == ["auditor", "ra-officer"]
    assert added["token"].startswith(f"natid_op_{added['token_id']}_")
    assert me_status(ctx, added["token"]) == 200


def test_add_text_output_shows_id_and_token_once(data_dir: Path) -> None:
    code, out, _ = op(data_dir, "add", "--name", "bob.ca", "-r", "ca-operator")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("operator: bob.ca (id ")
    assert lines[-1].startswith("natid_op_")
    assert sum(line.count("natid_op_") for line in lines) == 1


def test_list_never_shows_tokens_or_hashes(data_dir: Path, ctx: AppContext) -> None:
    added = add_json(data_dir, "alice.ra", "ra-officer")
    add_json(data_dir, "carol.audit", "auditor")
    with ctx.engine.connect() as conn:
        hashes = [r[0] for r in conn.execute(text("SELECT token_sha256 FROM operator_tokens"))]
    code, table, _ = op(data_dir, "list")
    assert code == 0
    header, *rows = table.strip().splitlines()
    assert header.split() == ["NAME", "ID", "ROLES", "STATUS", "CREATED", "LAST-USED", "TOKENS"]
    assert [r.split()[0] for r in rows] == ["alice.ra", "carol.audit"]
    assert rows[0].split()[-1] == added["token_id"]
    code, listing, _ = op(data_dir, "list", "--json")
    assert code == 0
    first = json.loads(listing)[0]
    assert first["name"] == "alice.ra"
    assert [t["id"] for t in first["tokens"]] == [added["token_id"]]
    for output in (table, listing):
        assert "natid_op_" not in output
        assert secret_of(added["token"]) not in output
        for digest in hashes:
            assert digest not in output


def test_disable_locks_the_operator_out(data_dir: Path, ctx: AppContext) -> None:
    added = add_json(data_dir, "alice.ra", "ra-officer")
    code, out, _ = op(data_dir, "disable", "alice.ra")
    assert code == 0
    assert "disabled" in out
    assert me_status(ctx, added["token"]) == 401
    code, out, _ = op(data_dir, "list", "--json")
    assert json.loads(out)[0]["status"] == "disabled"


def test_token_rotation_then_revoke_the_old_one(data_dir: Path, ctx: AppContext) -> None:
    first = add_json(data_dir, "alice.ra", "ra-officer")
    code, out, _ = op(data_dir, "token", "alice.ra", "--expires-days", "30", "--json")
    assert code == 0
    second = json.loads(out)
    assert second["token"] != first["token"]
    assert me_status(ctx, first["token"]) == 200
    assert me_status(ctx, second["token"]) == 200
    code, out, _ = op(data_dir, "revoke-token", first["token_id"])
    assert code == 0
    assert f"token {first['token_id']}" in out
    assert me_status(ctx, first["token"]) == 401
    assert me_status(ctx, second["token"]) == 200


def test_revoking_a_leaked_token_by_pasting_it_does_not_echo_it(
    data_dir: Path, ctx: AppContext
) -> None:
    added = add_json(data_dir, "alice.ra", "ra-officer")
    code, out, err = op(data_dir, "revoke-token", added["token"])
    assert code == 0
    assert added["token"] not in out + err
    assert me_status(ctx, added["token"]) == 401


def test_bad_input_is_one_line_and_non_zero(data_dir: Path) -> None:
    add_json(data_dir, "alice.ra", "ra-officer")
    code, _, err = op(data_dir, "add", "--name", "alice.ra", "--role", "auditor")
    assert code == 1
    assert err.strip().endswith("[duplicate_operator]")
    code, _, err = op(data_dir, "add", "--name", "123456789", "--role", "auditor")
    assert code == 1
    assert "[invalid_operator_input]" in err
    assert "123456789" not in err
    code, _, _ = op(data_dir, "add", "--name", "dave.ra", "--role", "root")
    assert code == 2
    code, _, _ = op(
        data_dir, "add", "--name", "dave.ra", "--role", "auditor", "--expires-days", "0"
    )
    assert code == 2
    code, _, err = op(data_dir, "disable", "nobody")
    assert code == 1
    assert "[operator_not_found]" in err
    code, _, err = op(data_dir, "revoke-token", "xyz")
    assert code == 1


def test_every_command_is_audited_with_actor_cli(data_dir: Path, ctx: AppContext) -> None:
    added = add_json(data_dir, "alice.ra", "ra-officer")
    op(data_dir, "token", "alice.ra")
    op(data_dir, "revoke-token", added["token_id"])
    op(data_dir, "disable", "alice.ra")
    entries = [e for e in ctx.ledger.tail(20) if e.event.startswith("operator.")]
    assert [(e.event, e.actor, e.subject) for e in entries] == [
        ("operator.added", "cli", added["id"]),
        ("operator.token_issued", "cli", added["id"]),
        ("operator.token_issued", "cli", added["id"]),
        ("operator.token_revoked", "cli", added["id"]),
        ("operator.disabled", "cli", added["id"]),
    ]
