"""``natid audit ...``: verify, tail, checkpoint, head and export-key for the audit ledger.

Thin by design: the logic lives in :mod:`core.audit`. ``verify``, ``tail`` and ``head`` only
read (no migration, no write lock), so an auditor can run them against a copy of the data
directory or a read replica. ``verify`` trusts the public key given with ``--public-key`` (an
auditor's own copy, exported earlier with ``natid audit export-key``) or, by default, the key
backend's public key for the ledger label.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import (
    DataDirOption,
    JsonOption,
    cli_context,
    cli_errors,
    cli_settings,
    fail,
)
from api.context import AUDIT_KEY_LABEL
from core.errors import NatIDError
from core.settings import Settings

app = typer.Typer(
    help="The audit ledger: verify, tail, checkpoint, head, export-key.", no_args_is_help=True
)

if TYPE_CHECKING:
    from core.audit import AuditLedger
    from core.audit_format import PublicKey

PublicKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="PEM public key to trust (from `natid audit export-key`). "
        "Default: the key backend's key for --key-label.",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
]
KeyLabelOption = Annotated[
    str, typer.Option("--key-label", help="Label of the ledger key the checkpoints name.")
]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")


@contextmanager
def _read_only_ledger(settings: Settings) -> Iterator[AuditLedger]:
    """A ledger without a signing key over the configured database; never creates it."""
    from core.audit import AuditLedger
    from core.clock import SystemClock
    from core.db import make_engine, make_session_factory

    if settings.database_url is None and not (settings.data_dir / "natid.db").is_file():
        fail(f"no database in {settings.data_dir}; run `natid init` or pass --data-dir")
    with cli_errors(settings.resolved_database_url):
        engine = make_engine(settings.resolved_database_url)
        try:
            yield AuditLedger(make_session_factory(engine), clock=SystemClock())
        finally:
            engine.dispose()


def _backend_public_key(settings: Settings, label: str) -> PublicKey:
    """The key backend's public key for ``label``."""
    from hsm_adapters import make_key_backend

    try:
        backend = make_key_backend(settings)
        try:
            return backend.public_key(label)
        finally:
            backend.close()
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")


def _load_public_key(path: Path) -> PublicKey:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        fail(f"cannot read a PEM public key from {path}: {type(exc).__name__}")
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        fail(f"{path} holds a {type(key).__name__}; the ledger key is EC, RSA or Ed25519")
    return key


@app.command()
def verify(
    data_dir: DataDirOption = None,
    public_key: PublicKeyOption = None,
    key_label: KeyLabelOption = AUDIT_KEY_LABEL,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="SEQ:HASH exported earlier (`natid audit head`): the ledger must still "
            "contain that entry with that hash. Catches a truncated tail, and a rewrite of "
            "everything after the last checkpoint (head row included).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Check the whole chain and every checkpoint signature, offline.

    Exits 0 and prints "audit ledger OK: N entries, M checkpoints", or exits 1 and names the
    first bad entry and why. Any change, deletion or reordering of stored entries fails.

    Signed checkpoints tie the entries to the trusted key: `natid init` signs one, then the
    ledger signs one every NATID_AUDIT_CHECKPOINT_INTERVAL entries, and none is ever deleted.
    So a checkpoint the head row names but that is missing fails, and so does a ledger with
    entries but no checkpoint at all, unless --expect-head vouches for them: its checkpoints
    were deleted, or `natid init` never finished. Running `natid init` again (or `natid audit
    checkpoint`) signs whatever is stored by then, so do it only if you know that is what
    happened.

    Entries after the last checkpoint are protected by the hash chain only (a warning): someone
    who rewrites them, deletes any checkpoints after them and rewrites the head row to match
    leaves a consistent ledger. Only --expect-head, a head exported earlier and kept where
    NatID cannot write, catches that.
    """
    from core.audit_format import LedgerHead

    settings = cli_settings(data_dir)
    with _errors():
        trusted_head = LedgerHead.parse(expect_head) if expect_head is not None else None
    if public_key is not None:
        key = _load_public_key(public_key)
    else:
        key = _backend_public_key(settings, key_label)
    with _read_only_ledger(settings) as ledger:
        report = ledger.verify({key_label: key}, expect_head=trusted_head)
    if json_out:
        typer.echo(json.dumps(report.to_json()))
    elif report.ok:
        typer.echo(
            f"audit ledger OK: {report.entries_checked} entries, "
            f"{report.checkpoints_checked} checkpoints"
        )
    for warning in report.warnings if not json_out else ():
        typer.echo(f"warning: {warning}", err=True)
    if not report.ok:
        if not json_out:
            typer.echo(f"audit ledger FAILED at entry {report.first_bad_seq}: {report.reason}")
        raise typer.Exit(1)


@app.command()
def tail(
    data_dir: DataDirOption = None,
    n: Annotated[int, typer.Option("-n", min=1, max=10_000, help="How many entries.")] = 20,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="JSON Lines: one object per entry (seq, at, event, actor, subject, data, "
            "prev_hash, entry_hash), oldest first.",
        ),
    ] = False,
) -> None:
    """Show the newest entries, oldest first (a table: seq, time, event, actor, subject)."""
    with _read_only_ledger(cli_settings(data_dir)) as ledger:
        entries = ledger.tail(n)
    if json_out:
        for entry in entries:
            typer.echo(json.dumps(entry.to_json(), ensure_ascii=False))
        return
    from core.audit_format import format_time

    rows = [("SEQ", "TIME", "EVENT", "ACTOR", "SUBJECT")]
    rows += [
        (str(e.seq), format_time(e.at), e.event, e.actor or "-", e.subject or "-") for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command()
def checkpoint(data_dir: DataDirOption = None) -> None:
    """Sign a checkpoint over the newest entry now (appends also sign one every N entries)."""
    with cli_context(data_dir) as ctx:
        cp = ctx.ledger.checkpoint()
        typer.echo(
            f"checkpoint at entry {cp.seq} ({cp.entry_hash}) signed by {cp.key_label} "
            f"({cp.algorithm})"
        )


@app.command()
def head(data_dir: DataDirOption = None) -> None:
    """Print the newest entry as SEQ:HASH, to keep outside NatID for `verify --expect-head`."""
    with _read_only_ledger(cli_settings(data_dir)) as ledger:
        typer.echo(str(ledger.head()))


@app.command("export-key")
def export_key(
    data_dir: DataDirOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the PEM public key.", dir_okay=False)
    ] = Path("natid-audit-ledger.pem"),
    key_label: KeyLabelOption = AUDIT_KEY_LABEL,
) -> None:
    """Write the ledger key's public key (PEM) for offline `verify --public-key`."""
    from cryptography.hazmat.primitives import serialization

    key = _backend_public_key(cli_settings(data_dir), key_label)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        out.write_bytes(pem)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    typer.echo(f"wrote the public key of {key_label} to {out}")
