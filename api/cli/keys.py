"""``natid keys ...``: list and generate keys in the configured key backend.

Only the key backend is built (``make_key_backend``), not the whole application context, so
these commands need no database and work against an HSM alone. Nothing here ever prints key
material: ``list`` shows label, algorithm, backend and creation time; ``generate`` adds the
SHA-256 fingerprint of the public key (SubjectPublicKeyInfo, RFC 5280 §4.1.2.7), which a key
ceremony records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import DataDirOption, JsonOption, cli_settings, fail
from core.errors import NatIDError
from hsm_adapters.base import KeyAlgorithm

if TYPE_CHECKING:
    from pathlib import Path

    from hsm_adapters import KeyBackend

app = typer.Typer(
    help="Keys in the key backend: list, generate (never shows key material).",
    no_args_is_help=True,
)


@contextmanager
def _key_backend(data_dir: Path | None) -> Iterator[KeyBackend]:
    from hsm_adapters import make_key_backend

    settings = cli_settings(data_dir)
    backend: KeyBackend | None = None
    try:
        backend = make_key_backend(settings)
        yield backend
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")
    finally:
        if backend is not None:
            backend.close()


@app.command("list")
def list_keys(data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """List the keys: label, algorithm, backend, created."""
    with _key_backend(data_dir) as backend:
        infos = backend.list()
    rows: list[dict[str, str | None]] = [
        {
            "label": info.label,
            "algorithm": info.algorithm.value,
            "backend": info.backend,
            "created": info.created_at.isoformat() if info.created_at else None,
        }
        for info in infos
    ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no keys")
        return
    header: dict[str, str | None] = {
        "label": "LABEL",
        "algorithm": "ALGORITHM",
        "backend": "BACKEND",
        "created": "CREATED",
    }
    table = [header, *rows]
    widths = {col: max(len(str(r[col] or "-")) for r in table) for col in header}
    for row in table:
        typer.echo("  ".join(str(row[col] or "-").ljust(widths[col]) for col in header).rstrip())


@app.command("generate")
def generate_key(
    label: Annotated[str, typer.Argument(help="Label of the new key, e.g. root-ca-2026.")],
    algorithm: Annotated[
        KeyAlgorithm, typer.Option("--algorithm", "-a", help="Key type.", show_default=True)
    ] = KeyAlgorithm.EC_P256,
    data_dir: DataDirOption = None,
    json_output: JsonOption = False,
) -> None:
    """Generate a key pair in the key backend; prints its public-key fingerprint."""
    from cryptography.hazmat.primitives import serialization

    with _key_backend(data_dir) as backend:
        key = backend.generate(label, algorithm)
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        result = {
            "label": label,
            "algorithm": algorithm.value,
            "backend": backend.name,
            "public_key_sha256": hashlib.sha256(spki).hexdigest(),
        }
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"generated {result['algorithm']} key {label!r} in the {result['backend']} backend")
    typer.echo(f"public key SHA-256: {result['public_key_sha256']}")
