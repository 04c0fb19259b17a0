"""``natid ca expiry``: when the hierarchy's own certificates and CRLs end, and which need an
operator.

Examples::

    natid ca expiry            # a table, then one line per certificate that needs attention
    natid ca expiry --json     # for a monitoring script

Lists every CA of the hierarchy, each CA's current OCSP responder and time-stamping
certificates, and each CA's newest full CRL, with their ends (ca/expiry.py). One needs
attention inside its role's window: an OCSP responder with 15 days or fewer left (``natid
serve`` renews at 30: its renewal is failing), a CRL a day past the point where it is
republished (2 days before its nextUpdate for an issuing CA, 9 for the root), the
time-stamping unit within a year (``natid ca tsa-renew``), a CA within two years (its rollover
is a key ceremony). JSON: ``role``, ``ca``, ``id`` (a serial number, or ``CRL <number>``),
``not_after`` (a CRL's nextUpdate), ``days_left``, ``attention``. Exit 0 when none needs
attention, 1 when one does (so a cron job or a monitoring check can run it as it is), 1 with
one line on an error.

:func:`register` adds the command to the ``natid ca`` Typer app (the lead mounts it).
"""

from __future__ import annotations

import json

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``expiry`` to the ``natid ca`` app."""

    @app.command("expiry")
    def expiry(as_json: JsonOption = False, data_dir: DataDirOption = None) -> None:
        """When the CAs, OCSP responders, TSA and CRLs end; exit 1 if one needs an operator."""
        from api.upkeep import attention_line
        from ca.expiry import watched
        from ca.store import CertificateStore

        with cli_context(data_dir) as ctx:
            items = watched(CertificateStore(ctx.sessions))
            now = ctx.clock.now()
        attention = [item for item in items if item.needs_attention(now)]
        if as_json:
            typer.echo(
                json.dumps(
                    [
                        {
                            "role": str(item.role),
                            "ca": item.ca,
                            "id": item.ident,
                            "not_after": item.not_after.isoformat(),
                            "days_left": item.left(now).days,
                            "attention": item.needs_attention(now),
                        }
                        for item in items
                    ],
                    indent=2,
                )
            )
        else:
            if not items:
                typer.echo("no CA hierarchy yet: `natid init` makes one")
            for item in items:
                typer.echo(
                    f"{item.role:<15} {item.ca:<11} {item.ident:<40}  until "
                    f"{item.not_after:%Y-%m-%d}  {item.left(now).days:>5} days"
                )
            for item in attention:
                typer.echo(f"attention: {attention_line(item, now)}")
            if items and not attention:
                typer.echo("nothing needs renewing by an operator now")
        if attention:
            raise typer.Exit(1)
