"""``natid ca public-url`` and ``natid ca set-public-url``: the URL the installation names.

Examples::

    natid ca public-url                          # recorded, configured, in use
    natid ca public-url --json
    natid ca set-public-url https://id.example.gov.kh          # asks on a terminal
    natid ca set-public-url https://id.example.gov.kh --yes    # scripts

The public base URL is recorded in the database when the CA hierarchy is created; every later
command and ``natid serve`` use it when ``NATID_PUBLIC_BASE_URL`` is unset, and refuse to run
when it is set to another URL (core/installation.py says why). ``set-public-url`` is the one
deliberate way to change it: one audited transaction (``installation.public_url.changed``,
with the old and the new URL). Certificates already issued, the CA certificates among them,
keep the URLs they name; CRLs published afterwards name the new one, and the OpenID issuer
becomes the new URL. Once a URL is recorded the command asks on a terminal and refuses
without ``--yes`` elsewhere. Exit codes: 0 ok (also when nothing changed), 1 refused or an
error, 2 an unusable URL.

:func:`register` adds the commands to the ``natid ca`` Typer app (the lead mounts it).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail, is_tty
from core.errors import NatIDError

__all__ = ["register"]

#: The audit ``actor`` of a change made from the command line.
CLI_ACTOR = "cli"
_ENV = "NATID_PUBLIC_BASE_URL"


def _configured() -> str | None:
    value = os.environ.get(_ENV)
    return value if value else None


def _checked(url: str, data_dir: object) -> str:
    """``url`` in canonical form, or exit 2 saying why it cannot be the public base URL."""
    from ca.urls import PkiUrls
    from core.settings import load_settings

    overrides: dict[str, object] = {"public_base_url": url}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        base = PkiUrls(url).base
        # The settings' own rules too: production mode needs https.
        load_settings(**overrides)
    except NatIDError as exc:
        fail(str(exc), 2)
    return base


def _consequences(old: str, new: str) -> list[str]:
    return [
        f"Certificates issued before, the CA certificates among them, keep naming {old}: CRLs "
        f"published from now on name {new} as their issuing distribution point, so relying "
        "parties that check CRLs strictly (openssl verify -crl_check_all) no longer find the "
        "older certificates in scope. Re-issue them (natid ca renew), and keep "
        f"{old} reaching this server for their OCSP and CA-certificate URLs.",
        f"The OpenID issuer becomes {new}: relying parties must fetch its discovery document "
        "again, and tokens issued under the old issuer no longer verify against it.",
    ]


def _confirm(old: str, new: str, yes: bool) -> bool:
    """Ask on a terminal; refuse without --yes elsewhere (a script must say it means it).
    Returns whether the consequences were shown."""
    if yes:
        return False
    if not (is_tty() and sys.stdin.isatty()):
        fail(f"refusing to change the public base URL from {old} to {new} without --yes")
    for line in _consequences(old, new):
        typer.echo(line)
    if not typer.confirm(f"Change the public base URL from {old} to {new}?"):
        fail("nothing changed")
    return True


def register(app: typer.Typer) -> None:
    """Add ``public-url`` and ``set-public-url`` to the ``natid ca`` app."""

    @app.command("public-url")
    def public_url(as_json: JsonOption = False, data_dir: DataDirOption = None) -> None:
        """Show the recorded public base URL, NATID_PUBLIC_BASE_URL, and the one in use."""
        from core.installation import canonical_public_url, recorded_public_url

        with cli_context(data_dir, check_public_url=False) as ctx:
            recorded = recorded_public_url(ctx.sessions)
            in_use = canonical_public_url(ctx.settings.public_base_url)
        configured = _configured()
        conflict = (
            recorded is not None
            and configured is not None
            and canonical_public_url(configured) != recorded
        )
        if as_json:
            typer.echo(
                json.dumps(
                    {"recorded": recorded, "configured": configured, "in_use": in_use,
                     "conflict": conflict},
                    indent=2,
                )
            )  # fmt: skip
            return
        typer.echo(f"recorded: {recorded or '(none yet: the CA hierarchy does not exist)'}")
        typer.echo(f"{_ENV}: {configured or '(not set)'}")
        if conflict:
            typer.echo(
                f"conflict: commands refuse to run while {_ENV} names another URL; unset it, "
                f"or change the recorded one with `natid ca set-public-url {configured}`"
            )
        else:
            typer.echo(f"in use: {in_use}")

    @app.command("set-public-url")
    def set_public_url(
        url: Annotated[str, typer.Argument(help="The new public base URL, http(s)://host[:port].")],
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask (scripts).")] = False,
        data_dir: DataDirOption = None,
    ) -> None:
        """Record a new public base URL for certificates, CRLs and the OpenID issuer (audited).

        Certificates already issued keep the URLs they name.
        """
        from core.installation import (
            canonical_public_url,
            change_public_url,
            recorded_public_url,
        )

        new = _checked(url, data_dir)
        configured = _configured()
        if configured is not None and canonical_public_url(configured) != new:
            fail(
                f"{_ENV} is {canonical_public_url(configured)}, not {new}: every command would "
                f"refuse to run after the change; set {_ENV}={new} or unset it first",
                2,
            )
        with cli_context(data_dir, check_public_url=False) as ctx:
            old = recorded_public_url(ctx.sessions)
            if old == new:
                typer.echo(f"the public base URL is {new} already; nothing changed")
                return
            shown = old is None or _confirm(old, new, yes)
            change_public_url(
                ctx.sessions, new, ledger=ctx.ledger, actor=CLI_ACTOR, at=ctx.clock.now()
            )
        typer.echo(
            f"public base URL: {old or '(none)'} -> {new} (audit: installation.public_url.changed)"
        )
        if not shown and old is not None:
            for line in _consequences(old, new):
                typer.echo(line, err=True)
