"""``natid idp ...``: the OpenID provider's clients and signing keys.

Thin by design: registration rules, rotation and the audit entries (actor ``cli``) live in
:mod:`idp.clients` and :mod:`idp.keys`. ``client add`` prints the client's settings as JSON;
a client secret is printed exactly once, there (or by ``client rotate-secret``, which replaces
it), and nothing can show it again. ``client update`` changes a client's name, URIs, keys or
scopes; ``client disable`` cuts a client off (and revokes its tokens), ``client enable`` lets
it authenticate again; each prints the client's settings as JSON. ``keys rotate``
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
from idp.clients import Client, ClientAuthMethod
from idp.keys import SigningKeyInfo
from idp.service import ProviderCore
from idp.subjects import SubjectType

app = typer.Typer(help="The OpenID provider: clients and signing keys.", no_args_is_help=True)
client_app = typer.Typer(
    help="Relying parties: add, update, disable, enable, rotate-secret, list.",
    no_args_is_help=True,
)
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
    jwks_text = _read_jwks(jwks)
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
    _print_settings(added.client, core.issuer, secret=added.client_secret)


def _read_jwks(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the JWKS file {path}: {type(exc).__name__}")


def _print_settings(client: Client, issuer: str, *, secret: str | None = None) -> None:
    settings: dict[str, Any] = client.settings()
    settings["issuer"] = issuer
    if secret is not None:
        settings["client_secret"] = secret
        typer.echo("the client secret is shown once; store it now", err=True)
    typer.echo(json.dumps(settings, indent=2, ensure_ascii=False))


ClientIdArgument = Annotated[str, typer.Argument(help="The client's client_id.")]


@client_app.command("update")
def client_update(  # noqa: PLR0917 - Typer maps parameters to options
    client_id: ClientIdArgument,
    name: Annotated[
        str | None, typer.Option("--name", help="A new name, shown to citizens.")
    ] = None,
    redirect_uris: Annotated[
        list[str] | None,
        typer.Option("--redirect-uri", help="Replaces every redirect URI; repeat for several."),
    ] = None,
    post_logout: Annotated[
        list[str] | None,
        typer.Option("--post-logout-redirect-uri", help="Replaces them all; repeat for several."),
    ] = None,
    jwks: Annotated[
        Path | None,
        typer.Option(
            "--jwks",
            help="JWK Set file replacing its public keys (private_key_jwt key rotation).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    scopes: Annotated[
        list[str] | None, typer.Option("--scope", help="Replaces the allowed scopes; repeat.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change what is given (the rest stays); prints the client's settings as JSON."""
    jwks_text = _read_jwks(jwks)
    if not any(v is not None for v in (name, redirect_uris, post_logout, jwks_text, scopes)):
        fail("nothing to change: give --name, --redirect-uri, --post-logout-redirect-uri, "
             "--jwks or --scope")  # fmt: skip
    with _core(data_dir) as core:
        client = core.clients.update(
            client_id,
            name=name,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout,
            jwks=jwks_text,
            scopes=scopes,
            actor="cli",
        )
    _print_settings(client, core.issuer)


@client_app.command("disable")
def client_disable(
    client_id: ClientIdArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept and audited).")],
    data_dir: DataDirOption = None,
) -> None:
    """Cut a client off: no authentication, no login, its tokens revoked; prints its settings."""
    with _core(data_dir) as core:
        client = core.clients.disable(client_id, actor="cli", reason=reason)
    _print_settings(client, core.issuer)


@client_app.command("enable")
def client_enable(client_id: ClientIdArgument, data_dir: DataDirOption = None) -> None:
    """Let a disabled client authenticate again (its old tokens stay revoked)."""
    with _core(data_dir) as core:
        client = core.clients.enable(client_id, actor="cli")
    _print_settings(client, core.issuer)


@client_app.command("rotate-secret")
def client_rotate_secret(client_id: ClientIdArgument, data_dir: DataDirOption = None) -> None:
    """A new client secret (printed once); the old one stops working at once."""
    with _core(data_dir) as core:
        rotated = core.clients.rotate_secret(client_id, actor="cli")
    _print_settings(rotated.client, core.issuer, secret=rotated.client_secret)


@client_app.command("list")
def client_list(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """List registered clients (never secrets); disabled ones are marked."""
    with _core(data_dir) as core:
        clients = core.clients.list()
    if json_output:
        typer.echo(json.dumps([c.settings() for c in clients], indent=2, ensure_ascii=False))
        return
    for c in clients:
        flags = (" fapi2" if c.fapi2 else "") + (" DISABLED" if c.disabled else "")
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
