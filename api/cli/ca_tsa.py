"""``natid ca tsa-renew``: a new certificate (and key) for the time-stamping unit.

Examples::

    natid ca tsa-renew                  # if it expires within 365 days
    natid ca tsa-renew --within 2000    # (almost) whenever it is run
    natid ca tsa-renew --json

Archived PDFs are time-stamped again (``natid sign renew-archive``) by a time-stamping unit
whose certificate outlives the one that made their last time-stamp; this makes that
certificate (ca/tsa_renewal.py). Restart ``natid serve`` afterwards: running servers keep
time-stamping with the previous certificate, which stays valid. Output: the new serial, end of
validity and key label, or "nothing to renew"; exit 0. Errors: one line, exit 1.

:func:`register` adds the command to the ``natid ca`` Typer app (the lead mounts it).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from api.cli.ca_ocsp import build_service_renewal
from api.cli.common import DataDirOption, JsonOption, cli_context

__all__ = ["register"]

CLI_ACTOR = "cli"


def register(app: typer.Typer) -> None:
    """Add ``tsa-renew`` to the ``natid ca`` app."""

    @app.command("tsa-renew")
    def tsa_renew(
        within: Annotated[
            int,
            typer.Option(
                "--within",
                min=0,
                max=2189,
                help="Renew the TSA certificate if it expires within DAYS days.",
                metavar="DAYS",
            ),
        ] = 365,
        as_json: JsonOption = False,
        data_dir: DataDirOption = None,
    ) -> None:
        """Renew the time-stamping unit's certificate (a new key) if it expires soon."""
        from ca.tsa_renewal import TsaRenewal

        with cli_context(data_dir) as ctx:
            renewal = build_service_renewal(ctx, TsaRenewal)
            current = renewal.current()
            renewed = renewal.renew(before=dt.timedelta(days=within), actor=CLI_ACTOR)
        if as_json:
            typer.echo(
                json.dumps(
                    None
                    if renewed is None
                    else {
                        "serial": renewed.serial_hex,
                        "renewed_from": renewed.renewed_from,
                        "key_label": renewed.key_label,
                        "not_after": renewed.not_after.isoformat(),
                    },
                    indent=2,
                )
            )
            return
        if renewed is None:
            typer.echo(
                f"nothing to renew: the TSA certificate {current.serial_hex} is valid until "
                f"{current.not_after:%Y-%m-%d}, more than {within} days"
            )
            return
        typer.echo(
            f"TSA certificate {renewed.serial_hex} until {renewed.not_after:%Y-%m-%d}, key "
            f"{renewed.key_label} (replaces {renewed.renewed_from}); restart natid serve"
        )
