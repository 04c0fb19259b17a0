"""``natid health trustlist ...``: export NatID's signed trust list, show its anchor, import a
foreign one from a file or a URL.

Import checks every entry's signature against ``--anchor`` (all or nothing:
:func:`vaccine_cert.trustlist.parse_trustlist`), so a list fetched over the network is trusted
for its signatures, not for where it came from. A URL is fetched by
:func:`vaccine_cert.fetch.fetch_list`: HTTPS (plain HTTP only from this machine), timeouts, and
the same size limit as a file. A bad signature, a refused fetch or an unreadable anchor imports
nothing and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import serialization

from api.cli.common import DataDirOption, cli_context, fail
from api.cli.health import CLI_ACTOR, MAX_INPUT_BYTES, _read, _service, _write
from core.errors import NatIDError

__all__ = ["trustlist_app"]

trustlist_app = typer.Typer(help="Trust lists of document signers.", no_args_is_help=True)


@trustlist_app.command("export")
def trustlist_export(
    out: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
    include_foreign: Annotated[
        bool, typer.Option("--all", help="Add the imported foreign signers (as published).")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """NatID's signers as a signed trust list (EU DCC gateway shape)."""
    with cli_context(data_dir) as ctx:
        entries = _service(ctx).trustlist(include_foreign=include_foreign)
    text = json.dumps(entries, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        _write(out, text, "the trust list")


@trustlist_app.command("anchor")
def trustlist_anchor(
    out: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """The public key (PEM) that signs NatID's trust list and revocation list."""
    with cli_context(data_dir) as ctx:
        key = _service(ctx).trustlist_anchor()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    if out is None:
        typer.echo(pem, nl=False)
    else:
        _write(out, pem, "the anchor")


@trustlist_app.command("import")
def trustlist_import(
    source: Annotated[
        str, typer.Argument(help="A trust list file, or an https:// URL (EU DCC gateway shape).")
    ],
    anchor: Annotated[
        Path, typer.Option("--anchor", help="The anchor's public key or certificate (PEM/DER).")
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Import a foreign trust list; every entry's signature is checked against the anchor."""
    from vaccine_cert.fetch import fetch_list, is_url
    from vaccine_cert.trustlist import load_anchor

    anchor_bytes = _read(anchor, "the anchor")
    try:
        anchor_key = load_anchor(anchor_bytes)
        if is_url(source):
            document = fetch_list(source, max_bytes=MAX_INPUT_BYTES)
        else:
            document = _read(Path(source), "the trust list")
        with cli_context(data_dir) as ctx:
            total, added = _service(ctx).import_trustlist(
                document, anchor=anchor_key, actor=CLI_ACTOR
            )
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")
    typer.echo(f"{total} signers checked, {added} new")
