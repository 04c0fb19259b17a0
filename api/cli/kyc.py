"""``natid kyc ...``: onboard banks as KYC relying parties, and see aggregate access figures.

Thin by design: the rules (a bank entity, a FAPI 2.0 client, known attributes and purposes)
and the audit entries (``kyc.rp.added`` / ``kyc.rp.updated``, actor ``cli``) live in
:mod:`kyc.relying_parties`. ``rp add`` warns when the IdP client is not registered for the
scopes the bank will need (``kyc``, its purpose scopes): /par would refuse them.
``stats`` prints counts per bank, kind and purpose, never persons or attributes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail
from api.routers.kyc import kyc_service
from kyc import ATTRIBUTES_BY_SCOPE, KYC_SCOPE, ClientFacts, RelyingParty, purpose_scope

app = typer.Typer(help="KYC for banks: relying parties and access figures.", no_args_is_help=True)
rp_app = typer.Typer(help="Banks onboarded for KYC: add, list, show, update.", no_args_is_help=True)
app.add_typer(rp_app, name="rp")

AttributesOption = Annotated[
    str | None, typer.Option("--attributes", help="Comma-separated attributes, e.g. name,birthdate")
]
PurposesOption = Annotated[
    str | None,
    typer.Option("--purposes", help="Comma-separated: account_opening,loan,periodic_review"),
]
RateOption = Annotated[str | None, typer.Option("--rate-limit", help="Requests per minute: N/min")]
ContactOption = Annotated[str | None, typer.Option("--contact", help="Contact e-mail address")]
JwkOption = Annotated[
    Path | None,
    typer.Option("--encryption-jwk", help="Public JWK file: responses are encrypted to it",
                 exists=True, dir_okay=False, readable=True),
]  # fmt: skip


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {type(exc).__name__}")


def _print(rp: RelyingParty) -> None:
    typer.echo(json.dumps(rp.to_json(), indent=2, ensure_ascii=False))


def _missing_scopes(rp: RelyingParty, client_scopes: frozenset[str]) -> list[str]:
    wanted = {KYC_SCOPE, *(purpose_scope(p) for p in rp.purposes)}
    for scope, attributes in ATTRIBUTES_BY_SCOPE.items():
        if attributes & rp.attributes:
            wanted.add(scope)
    return sorted(wanted - client_scopes)


@rp_app.command("add")
def rp_add(  # noqa: PLR0917 - Typer maps parameters to options
    entity: Annotated[str, typer.Option("--entity", help="The bank's register entity id")],
    client: Annotated[str, typer.Option("--client", help="Its FAPI 2.0 IdP client id")],
    attributes: AttributesOption = None,
    purposes: PurposesOption = None,
    rate_limit: RateOption = None,
    contact: ContactOption = None,
    legal_basis_match: Annotated[
        bool,
        typer.Option("--legal-basis-match", help="May run match checks without consent"),
    ] = False,
    encryption_jwk: JwkOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Onboard a bank; prints the relying party as JSON."""
    if attributes is None or purposes is None:
        fail("--attributes and --purposes are required")
    with cli_context(data_dir) as ctx:
        found = ctx.idp_core().clients.get(client)
        rp = kyc_service(ctx).relying_parties.add(
            entity_id=entity,
            client=ClientFacts(client_id=found.client_id, fapi2=found.fapi2),
            attributes=attributes,
            purposes=purposes,
            rate_limit=rate_limit or 60,
            contact=contact,
            legal_basis_match=legal_basis_match,
            encryption_jwk=_read(encryption_jwk),
            actor="cli",
        )
        missing = _missing_scopes(rp, found.scopes)
    if missing:
        typer.echo(
            "warning: the IdP client is not registered for the scopes "
            f"{' '.join(missing)}; its authorization requests for them will be refused",
            err=True,
        )
    _print(rp)


@rp_app.command("update")
def rp_update(  # noqa: PLR0917 - Typer maps parameters to options
    rp_id: Annotated[str, typer.Argument(help="Relying-party id or client id")],
    attributes: AttributesOption = None,
    purposes: PurposesOption = None,
    rate_limit: RateOption = None,
    contact: ContactOption = None,
    legal_basis_match: Annotated[
        bool | None,
        typer.Option("--legal-basis-match/--no-legal-basis-match", show_default=False),
    ] = None,
    encryption_jwk: JwkOption = None,
    no_encryption: Annotated[bool, typer.Option("--no-encryption")] = False,
    active: Annotated[bool | None, typer.Option("--active/--suspended", show_default=False)] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change a relying party's policy; prints it as JSON."""
    with cli_context(data_dir) as ctx:
        rp = kyc_service(ctx).relying_parties.update(
            rp_id,
            attributes=attributes,
            purposes=purposes,
            rate_limit=rate_limit,
            contact=contact,
            legal_basis_match=legal_basis_match,
            encryption_jwk=_read(encryption_jwk),
            remove_encryption=no_encryption,
            active=active,
            actor="cli",
        )
    _print(rp)


@rp_app.command("show")
def rp_show(
    rp_id: Annotated[str, typer.Argument(help="Relying-party id or client id")],
    data_dir: DataDirOption = None,
) -> None:
    """Print one relying party as JSON."""
    with cli_context(data_dir) as ctx:
        rp = kyc_service(ctx).relying_parties.get(rp_id)
    _print(rp)


@rp_app.command("list")
def rp_list(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """List onboarded banks."""
    with cli_context(data_dir) as ctx:
        rps = kyc_service(ctx).relying_parties.list()
    if json_output:
        typer.echo(json.dumps([rp.to_json() for rp in rps], indent=2, ensure_ascii=False))
        return
    for rp in rps:
        state = "active" if rp.active else "suspended"
        purposes = ",".join(sorted(rp.purposes))
        typer.echo(f"{rp.id}  {rp.client_id:<24} {state:<9} {purposes}")


@app.command("stats")
def stats(
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="Look back N days")] = 30,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Releases and match checks per bank, kind and purpose (no persons, no attributes)."""
    with cli_context(data_dir) as ctx:
        until = ctx.clock.now()
        rows = kyc_service(ctx).access_log.stats(since=until - dt.timedelta(days=days), until=until)
    if json_output:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    for r in rows:
        typer.echo(f"{r.client_id:<24} {r.kind:<8} {r.purpose:<16} {r.count}")
