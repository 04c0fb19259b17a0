"""``natid operator ...``: operators of the admin and RA APIs and their tokens.

Thin by design: the logic (and the audit entries, with actor ``cli``) live in
:class:`core.operators.OperatorService`. A token is printed exactly once, by ``add`` or
``token``; nothing stores it in clear and no other command can show it again. ``list`` shows
token ids (the public part, needed for ``revoke-token``), never tokens or hashes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context
from core.operators import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    IssuedToken,
    Operator,
    OperatorRole,
    OperatorService,
    TokenInfo,
)

app = typer.Typer(
    help="Operators of the admin and RA APIs: add, list, disable, token, revoke-token.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="The operator's name, e.g. alice.ra.")]
ExpiresOption = Annotated[
    int,
    typer.Option(
        "--expires-days",
        min=1,
        max=MAX_TOKEN_LIFETIME.days,
        help="Days until the token expires.",
    ),
]


@contextmanager
def _service(data_dir: Path | None) -> Iterator[tuple[OperatorService, dt.datetime]]:
    with cli_context(data_dir) as ctx:
        yield (
            OperatorService(ctx.sessions, ledger=ctx.ledger, clock=ctx.clock),
            ctx.clock.now(),
        )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _token_json(info: TokenInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "created_at": _iso(info.created_at),
        "expires_at": _iso(info.expires_at),
        "revoked_at": _iso(info.revoked_at),
        "last_used_at": _iso(info.last_used_at),
    }


def _print_token(operator: Operator, issued: IssuedToken, json_output: bool) -> None:
    if json_output:
        result = {
            "id": operator.id,
            "name": operator.name,
            "roles": sorted(operator.roles),
            "token": issued.token,
            "token_id": issued.info.id,
            "expires_at": _iso(issued.info.expires_at),
        }
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"operator: {operator.name} (id {operator.id})")
    typer.echo(f"roles: {', '.join(sorted(operator.roles))}")
    typer.echo(f"token id: {issued.info.id}, expires {_iso(issued.info.expires_at)}")
    typer.echo("token (shown once; store it now, it cannot be shown again):")
    typer.echo(issued.token)


@app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="A login-like name, e.g. alice.ra.")],
    roles: Annotated[
        list[OperatorRole], typer.Option("--role", "-r", help="A role; repeat for several.")
    ],
    expires_days: ExpiresOption = DEFAULT_TOKEN_LIFETIME.days,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add an operator with roles; prints the operator id and its first token (once)."""
    with _service(data_dir) as (service, _now):
        operator, issued = service.add(
            name, roles, expires_in=dt.timedelta(days=expires_days), actor="cli"
        )
    _print_token(operator, issued, json_output)


@app.command("list")
def list_operators(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """List operators: name, id, roles, status, dates, usable token ids (never tokens)."""
    with _service(data_dir) as (service, now):
        operators = service.list_operators()
        tokens = service.tokens()
    by_operator: dict[str, list[TokenInfo]] = {}
    for info in tokens:
        by_operator.setdefault(info.operator_id, []).append(info)
    if json_output:
        rows = [
            {
                "id": op.id,
                "name": op.name,
                "roles": sorted(op.roles),
                "status": op.status.value,
                "created_at": _iso(op.created_at),
                "last_used_at": _iso(op.last_used_at),
                "tokens": [_token_json(t) for t in by_operator.get(op.id, [])],
            }
            for op in operators
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not operators:
        typer.echo("no operators")
        return
    header = ["NAME", "ID", "ROLES", "STATUS", "CREATED", "LAST-USED", "TOKENS"]
    table = [header]
    for op in operators:
        usable = [t.id for t in by_operator.get(op.id, []) if t.usable(now)]
        table.append(
            [
                op.name,
                op.id,
                ",".join(sorted(op.roles)),
                op.status.value,
                op.created_at.strftime("%Y-%m-%dT%H:%MZ"),
                op.last_used_at.strftime("%Y-%m-%dT%H:%MZ") if op.last_used_at else "-",
                ",".join(usable) or "-",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command("disable")
def disable(name: NameArgument, data_dir: DataDirOption = None) -> None:
    """Disable an operator: all of their tokens stop working at once."""
    with _service(data_dir) as (service, _now):
        operator = service.disable(name, actor="cli")
    typer.echo(f"operator {operator.name} (id {operator.id}) is disabled; its tokens are refused")


@app.command("token")
def token(
    name: NameArgument,
    expires_days: ExpiresOption = DEFAULT_TOKEN_LIFETIME.days,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Issue another token to an operator (rotation: revoke the old one when done)."""
    with _service(data_dir) as (service, _now):
        issued = service.issue_token(name, expires_in=dt.timedelta(days=expires_days), actor="cli")
        operator = service.get(name)
    _print_token(operator, issued, json_output)


@app.command("revoke-token")
def revoke_token(
    token_prefix: Annotated[
        str,
        typer.Argument(
            metavar="TOKEN_PREFIX",
            help="The token id from `natid operator list` (a whole leaked token works too).",
        ),
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke one token; the operator's other tokens keep working."""
    with _service(data_dir) as (service, _now):
        info = service.revoke_token(token_prefix, actor="cli")
    # Only the id is echoed: the argument may be a whole token pasted from a leak report.
    typer.echo(f"token {info.id} of operator {info.operator_id} is revoked")
