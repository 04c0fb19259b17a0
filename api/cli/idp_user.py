"""``natid idp user ...``: IdP accounts from the command line (mounted as ``natid idp user``).

* ``set-password --subject ID --password-stdin`` - the account of register person ``ID`` (a
  civil servant's id also works) gets a password read from standard input, never from an
  argument (arguments show in ``ps`` and shell history); the account is created if missing and
  activated.
* ``enroll-totp --subject ID [--png FILE]`` - prints the ``otpauth://`` URI, writes its QR
  code as PNG with ``--png``, asks for a first code and prints the ten recovery codes, once.
  In two steps, for scripts and for an operator who hands the QR code on: ``--no-prompt``
  starts the enrolment and prints the URI without asking; ``--code CODE`` then confirms the
  enrolment waiting for a code (one started less than ``ENROLMENT_LIFETIME``, 30 minutes,
  earlier) and prints the recovery codes. ``--code`` never starts an enrolment: the code
  could not belong to a secret made in the same run.
* ``show --subject ID [--json]`` - status, authenticators, recovery codes left; never a secret.

The logic and the audit entries (actor ``cli``) live in :mod:`idp.accounts` and
:mod:`idp.totp`. The ID card number is never printed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail
from api.context import AppContext
from idp.accounts import Account, AccountService
from idp.totp import ENROLMENT_LIFETIME, qr_png
from registry.errors import SubjectNotFound
from registry.records import Person

app = typer.Typer(
    help="IdP accounts: set-password, enroll-totp, show.",
    no_args_is_help=True,
)

SubjectOption = Annotated[
    str, typer.Option("--subject", help="The register id of the person (or civil servant).")
]
ACTOR = "cli"


def account_service(ctx: AppContext) -> AccountService:
    """The account service of the context (built once, in ``api.context``)."""
    return ctx.idp_accounts()


@contextmanager
def _service(data_dir: Path | None) -> Iterator[tuple[AppContext, AccountService]]:
    with cli_context(data_dir) as ctx:
        yield ctx, account_service(ctx)


def _person(ctx: AppContext, subject: str) -> Person:
    try:
        return ctx.register.get_person(subject)
    except SubjectNotFound:
        servant = ctx.register.get_servant(subject)
        return ctx.register.get_person(servant.person_id)


def _account_json(service: AccountService, account: Account) -> dict[str, Any]:
    totp = service.totp.status(account.id)
    return {
        "account_id": account.id,
        "person_id": account.person_id,
        "status": account.status.value,
        "operator_id": account.operator_id,
        "created_at": account.created_at.isoformat(),
        "last_login_at": account.last_login_at.isoformat() if account.last_login_at else None,
        "authenticators": [
            {
                "id": a.id,
                "kind": a.kind.value,
                "confirmed": a.confirmed_at is not None,
                "created_at": a.created_at.isoformat(),
                "last_used_at": a.last_used_at.isoformat() if a.last_used_at else None,
            }
            for a in service.authenticators(account.id)
        ],
        "totp": totp.enrolled,
        "recovery_codes_left": totp.recovery_codes_left,
    }


@app.command("set-password")
def set_password(
    subject: SubjectOption,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Set the password of a person's account (created and activated if needed)."""
    if not password_stdin:
        fail("give the password on standard input with --password-stdin", 2)
    password = sys.stdin.read().rstrip("\r\n")
    with _service(data_dir) as (ctx, service):
        person = _person(ctx, subject)
        # Checked first, so a refused password leaves no half-made account behind.
        service.check_new_password(person.id, password)
        account, created = service.ensure(person.id, actor=ACTOR)
        account = service.set_password(account.id, password, actor=ACTOR, activate=True)
        typer.echo(
            f"{'created account' if created else 'account'} {account.id} "
            f"({account.status.value}): password set"
        )


@app.command("enroll-totp")
def enroll_totp(
    subject: SubjectOption,
    png: Annotated[
        Path | None, typer.Option("--png", help="Write the QR code as a PNG file.")
    ] = None,
    no_prompt: Annotated[
        bool,
        typer.Option(
            "--no-prompt",
            help="Start the enrolment and print its URI without asking for the first code.",
        ),
    ] = False,
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            help="Confirm the enrolment waiting for a code (started with --no-prompt) with "
            "the code the app shows.",
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Enrol an authenticator app: otpauth URI (and QR PNG), first code, recovery codes."""
    if no_prompt and code is not None:
        fail("--no-prompt starts an enrolment and --code confirms one; give one of them", 2)
    if code is not None and png is not None:
        fail("--png goes with the step that starts the enrolment, not with --code", 2)
    with _service(data_dir) as (ctx, service):
        person = _person(ctx, subject)
        account = service.find_by_person(person.id)
        if account is None:
            fail("the person has no account yet; run `natid idp user set-password` first")
        if code is not None:
            waiting = service.totp.waiting(account.id, at=ctx.clock.now())
            if waiting is None:
                fail(
                    "no TOTP enrolment is waiting for a code; start one with "
                    "`natid idp user enroll-totp --subject ID --no-prompt`, then give the code "
                    "the app shows with --code [no_pending_enrolment]"
                )
            _confirm(ctx, service, account.id, waiting, code)
            return
        enrolment = service.totp.begin(
            account.id, account_name=person.name_latin, at=ctx.clock.now(), actor=ACTOR
        )
        typer.echo(enrolment.uri)
        if png is not None:
            png.write_bytes(qr_png(enrolment.uri))
            typer.echo(f"QR code written to {png}", err=True)
        if no_prompt:
            typer.echo(
                "waiting for the first code: run `natid idp user enroll-totp --subject ID "
                f"--code CODE` within {ENROLMENT_LIFETIME.seconds // 60} minutes",
                err=True,
            )
            return
        _confirm(
            ctx,
            service,
            account.id,
            enrolment.authenticator_id,
            typer.prompt("code shown by the app"),
        )


def _confirm(
    ctx: AppContext, service: AccountService, account_id: str, authenticator_id: str, code: str
) -> None:
    codes = service.totp.confirm(
        account_id, authenticator_id, code.strip(), at=ctx.clock.now(), actor=ACTOR
    )
    typer.echo("TOTP enrolled. Recovery codes (each works once; shown only now):")
    for recovery in codes:
        typer.echo(f"  {recovery}")


@app.command()
def show(
    subject: SubjectOption, data_dir: DataDirOption = None, json_output: JsonOption = False
) -> None:
    """Show a person's account: status, authenticators, recovery codes left."""
    with _service(data_dir) as (ctx, service):
        person = _person(ctx, subject)
        account = service.find_by_person(person.id)
        if account is None:
            fail("the person has no account")
        data = _account_json(service, account)
        if json_output:
            typer.echo(json.dumps(data, indent=2))
            return
        typer.echo(f"account: {data['account_id']} ({data['status']})")
        typer.echo(f"person: {data['person_id']}")
        typer.echo(f"last login: {data['last_login_at'] or 'never'}")
        for a in data["authenticators"]:
            state = "active" if a["confirmed"] else "waiting for confirmation"
            typer.echo(f"authenticator: {a['kind']} ({state}, since {a['created_at']})")
        typer.echo(f"recovery codes left: {data['recovery_codes_left']}")
