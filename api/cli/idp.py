"""``natid idp ...``: the OpenID provider's clients and signing keys.

Thin by design: registration rules, rotation and the audit entries (actor ``cli``) live in
:mod:`idp.clients` and :mod:`idp.keys`. ``client add`` prints the client's settings as JSON;
a client secret is printed exactly once, there, and nothing can show it again. ``keys rotate``
advances key rotation by one step (publish the next key; after the JWKS cache period, activate
it; remove retired keys whose tokens have expired). People's accounts are ``natid idp user``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail
from idp.clients import ClientAuthMethod
from idp.keys import SigningKeyInfo
from idp.service import ProviderCore
from idp.subjects import SubjectType

app = typer.Typer(help="The OpenID provider: clients and signing keys.", no_args_is_help=True)
client_app = typer.Typer(help="Relying parties: add, list.", no_args_is_help=True)
keys_app = typer.Typer(help="ID-token and access-token signing keys: rotate, list.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(client_app, name="client")
app.add_typer(keys_app, name="keys")


@contextmanager
def _core(data_dir: Path | None) -> Iterator[ProviderCore]:
    with cli_context(data_dir) as ctx:
        yield ctx.idp_core()


@client_app.command("add")
def client_add(  # noqa: PLR0917 - Typer maps parameters to options
    name: Annotated[str, typer.Option("--name", help="The site's name, shown to citizens.")],
    redirect_uris: Annotated[
        list[str], typer.Option("--redirect-uri", help="Exact redirect URI; repeat for several.")
    ],
    auth_method: Annotated[
        ClientAuthMethod, typer.Option("--auth-method", help="How it authenticates.")
    ],
    jwks: Annotated[
        Path | None,
        typer.Option(
            "--jwks",
            help="JWK Set file of its public keys (private_key_jwt).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    fapi2: Annotated[
        bool, typer.Option("--fapi2", help="FAPI 2.0: PAR, DPoP, private_key_jwt.")
    ] = False,
    sector: Annotated[
        str | None, typer.Option("--sector", help="Sector host for pairwise sub.")
    ] = None,
    public_sub: Annotated[
        bool, typer.Option("--public-sub", help="Public sub instead of pairwise.")
    ] = False,
    scopes: Annotated[
        list[str] | None, typer.Option("--scope", help="Allowed scope; repeat.")
    ] = None,
    post_logout: Annotated[
        list[str] | None, typer.Option("--post-logout-redirect-uri", help="Repeat for several.")
    ] = None,
    backchannel: Annotated[str | None, typer.Option("--backchannel-logout-uri")] = None,
    userinfo_signed: Annotated[
        bool,
        typer.Option(
            "--userinfo-signed",
            help="UserInfo answers as a JWT signed with the IdP's key (OIDC Core 5.3.2).",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Register a client; prints its settings as JSON (with the client secret, shown once)."""
    jwks_text = None
    if jwks is not None:
        try:
            jwks_text = jwks.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read the JWKS file {jwks}: {type(exc).__name__}")
    with _core(data_dir) as core:
        # The algorithm is the one the IdP signs with: its active key's (created if the
        # installation has none yet, as `natid serve` would).
        userinfo_alg = core.signing_keys.ensure_active(actor="cli").alg if userinfo_signed else None
        added = core.clients.add(
            name=name,
            redirect_uris=redirect_uris,
            auth_method=auth_method,
            jwks=jwks_text,
            fapi2=fapi2,
            sector=sector,
            subject_type=SubjectType.PUBLIC if public_sub else SubjectType.PAIRWISE,
            scopes=scopes or None,
            post_logout_redirect_uris=post_logout or (),
            backchannel_logout_uri=backchannel,
            userinfo_signed_response_alg=userinfo_alg,
            actor="cli",
        )
    settings: dict[str, Any] = added.client.settings()
    settings["issuer"] = core.issuer
    if added.client_secret is not None:
        settings["client_secret"] = added.client_secret
        typer.echo("the client secret is shown once; store it now", err=True)
    typer.echo(json.dumps(settings, indent=2, ensure_ascii=False))


@client_app.command("list")
def client_list(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """List registered clients (never secrets)."""
    with _core(data_dir) as core:
        clients = core.clients.list()
    if json_output:
        typer.echo(json.dumps([c.settings() for c in clients], indent=2, ensure_ascii=False))
        return
    for c in clients:
        flags = " fapi2" if c.fapi2 else ""
        typer.echo(f"{c.client_id}  {c.auth_method.value:<20} {c.sector:<30} {c.name}{flags}")


def _key_json(info: SigningKeyInfo) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "kid": info.kid,
        "label": info.label,
        "alg": info.alg,
        "state": info.state.value,
        "published_at": iso(info.published_at),
        "activated_at": iso(info.activated_at),
        "retired_at": iso(info.retired_at),
        "removed_at": iso(info.removed_at),
    }


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDirOption = None) -> None:
    """Advance key rotation by one step and print what happened (JSON)."""
    with _core(data_dir) as core:
        result = core.signing_keys.rotate(actor="cli")
    out = {
        step: _key_json(info)
        for step, info in (
            ("published", result.published),
            ("activated", result.activated),
            ("retired", result.retired),
        )
        if info is not None
    }
    out["removed"] = [_key_json(info) for info in result.removed]  # type: ignore[assignment]
    typer.echo(json.dumps(out, indent=2))


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """List signing keys: kid, label, state and dates (never key material)."""
    with _core(data_dir) as core:
        infos = core.signing_keys.list()
    if json_output:
        typer.echo(json.dumps([_key_json(i) for i in infos], indent=2))
        return
    for i in infos:
        typer.echo(
            f"{i.kid}  {i.label:<12} {i.alg}  {i.state.value:<8} {i.published_at.isoformat()}"
        )
