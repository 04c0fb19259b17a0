"""``natid ca ocsp-renew``: renew the OCSP responder certificates before they expire.

Examples::

    natid ca ocsp-renew                 # every responder expiring within 30 days
    natid ca ocsp-renew --within 89     # (almost) all of them now
    natid ca ocsp-renew --json

Responder certificates live 90 days (RFC 6960 §4.2.2.2.1; see ca/ocsp_renewal.py for why
each renewal makes a new key). ``natid serve`` renews at start-up
(:func:`renew_due_responders`) and each worker again every upkeep interval (api/upkeep.py);
running servers pick the new certificates up within a minute.
Output: one line per renewed responder (CA, new serial, end of validity, key label), or
"nothing to renew"; exit 0. Errors: one line, exit 1.

:func:`register` adds the command to the ``natid ca`` Typer app (the lead mounts it).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context

if TYPE_CHECKING:
    from api.context import AppContext
    from ca.ocsp_renewal import RenewedResponder, ResponderRenewal
    from ca.service_renewal import ServiceRenewal

__all__ = [
    "DEFAULT_WITHIN_DAYS",
    "build_responder_renewal",
    "build_service_renewal",
    "register",
    "renew_due_responders",
]

_Renewal = TypeVar("_Renewal", bound="ServiceRenewal")
#: Renew a responder certificate when it has this many days left or fewer.
DEFAULT_WITHIN_DAYS = 30
#: The audit ``actor`` of renewals by this command, and by ``natid serve`` and its workers.
CLI_ACTOR = "cli"
SERVER_ACTOR = "natid-serve"


def build_service_renewal(ctx: AppContext, kind: type[_Renewal]) -> _Renewal:
    """A renewal of ``kind`` (ca/service_renewal.py) for ``ctx``'s CA: its ledger,
    transparency log, URLs and policy arc."""
    from ca.urls import PkiUrls

    return kind(
        ctx.sessions,
        keys=ctx.keys,
        ledger=ctx.ledger,
        log=ctx.ca().transparency_log,
        clock=ctx.clock,
        urls=PkiUrls(ctx.settings.public_base_url),
        policy_arc=ctx.settings.certificate_policy_arc,
    )


def build_responder_renewal(ctx: AppContext) -> ResponderRenewal:
    """The responder renewal of ``ctx``'s CA."""
    from ca.ocsp_renewal import ResponderRenewal

    return build_service_renewal(ctx, ResponderRenewal)


def renew_due_responders(ctx: AppContext) -> list[RenewedResponder]:
    """What ``natid serve`` runs before starting workers, and each worker every upkeep interval
    (api/upkeep.py): renew what expires within 30 days."""
    return build_responder_renewal(ctx).renew_ocsp_responders(
        before=dt.timedelta(days=DEFAULT_WITHIN_DAYS), actor=SERVER_ACTOR
    )


def _json(renewed: RenewedResponder) -> dict[str, str | None]:
    return {
        "issuer": renewed.issuer,
        "serial": renewed.serial_hex,
        "renewed_from": renewed.renewed_from,
        "key_label": renewed.key_label,
        "not_after": renewed.not_after.isoformat(),
    }


def register(app: typer.Typer) -> None:
    """Add ``ocsp-renew`` to the ``natid ca`` app."""

    @app.command("ocsp-renew")
    def ocsp_renew(
        within: Annotated[
            int,
            typer.Option(
                "--within",
                min=0,
                max=89,
                help="Renew responder certificates that expire within DAYS days.",
                metavar="DAYS",
            ),
        ] = DEFAULT_WITHIN_DAYS,
        as_json: JsonOption = False,
        data_dir: DataDirOption = None,
    ) -> None:
        """Renew the OCSP responder certificates that expire soon (a new key each)."""
        with cli_context(data_dir) as ctx:
            renewed = build_responder_renewal(ctx).renew_ocsp_responders(
                before=dt.timedelta(days=within), actor=CLI_ACTOR
            )
        if as_json:
            typer.echo(json.dumps([_json(r) for r in renewed], indent=2))
            return
        if not renewed:
            typer.echo(f"nothing to renew: every OCSP responder is valid for over {within} days")
            return
        for r in renewed:
            typer.echo(
                f"{r.issuer:<11} {r.serial_hex}  until {r.not_after:%Y-%m-%d}  key {r.key_label}"
            )
