"""``natid ca log ...``: verify the transparency log, sign a tree head, list a subject's log.

Examples::

    natid ca log verify            # exit 0 only if the whole log checks out
    natid ca log verify --json
    natid ca log sth --json        # the signed head of the current tree (signs one if needed)
    natid ca log subject ID        # every certificate ever logged for a register subject

``verify`` (issue 3, "Transparency log") re-checks the log against the certificate table:
every stored certificate is in the log; every entry's leaf hash recomputes from its
certificate and the entries run without gaps; the stored subtree hashes and the head's root
recompute; every signed tree head (the newest included) matches the recomputed root of its
size and verifies with the log key (:func:`ca.transparency.verify_log`); and every entry of
the log is a certificate the table still holds, so a deleted certificate row shows too. A
failure prints one line naming what broke and exits 1. It reads the whole table into memory;
fine for millions of certificates, a streaming check is future work.

``subject`` shows the log's view (what was ever issued, even if a row was since altered) with
the status from the certificate table. Tables never show subject DNs (they carry the national
ID number); ``--json`` adds the PEM for operators who script.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization

from api.cli.common import DataDirOption, JsonOption, cli_context, fail

if TYPE_CHECKING:
    from ca.merkle import SignedTreeHead, TreeHeadPublicKey
    from ca.transparency import TransparencyLog

__all__ = ["app"]

app = typer.Typer(
    help="The certificate transparency log: verify, signed tree head, a subject's certificates.",
    no_args_is_help=True,
)


#: Log entries read per query while checking that every entry is a stored certificate.
_VERIFY_PAGE = 5000


def _echo_json(value: object) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _head_json(head: SignedTreeHead, public_key: TreeHeadPublicKey) -> dict[str, Any]:
    from api.routers.transparency import tree_head_json

    return tree_head_json(head, public_key).model_dump(mode="json")


@app.command()
def verify(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Check the log against the certificate table and every signed tree head."""
    from api.routers.transparency import transparency_log
    from ca.errors import TransparencyLogBroken

    with cli_context(data_dir) as ctx:
        log = transparency_log(ctx)
        stored = ctx.ca().list(limit=None)
        try:
            result = log.verify_against(c.certificate for c in stored)
            _check_every_entry_stored(log, {c.serial_hex for c in stored}, result.tree_size)
        except TransparencyLogBroken as exc:
            if as_json:
                _echo_json({"ok": False, "error": exc.message, "code": exc.code})
                raise typer.Exit(1) from None
            fail(f"the transparency log does not verify: {exc.message}")
        newest = log.latest_tree_head()
    report: dict[str, Any] = {
        "ok": True,
        "tree_size": result.tree_size,
        "root_hash": _b64(result.root_hash),
        "certificates_checked": result.certificates_checked,
        "tree_heads_checked": result.tree_heads_checked,
        "newest_tree_head": None if newest is None else _head_json(newest, log.public_key),
    }
    if as_json:
        _echo_json(report)
        return
    typer.echo(
        f"transparency log OK: {result.tree_size} entries, "
        f"{result.certificates_checked} stored certificates all logged, "
        f"{result.tree_heads_checked} signed tree heads verified"
    )
    typer.echo(f"root hash: {report['root_hash']}")
    if newest is None:
        typer.echo("newest signed tree head: none yet (natid ca log sth signs one)")
    else:
        typer.echo(
            f"newest signed tree head: size {newest.tree_size} at {newest.timestamp.isoformat()}"
        )


def _check_every_entry_stored(log: TransparencyLog, serials: set[str], tree_size: int) -> None:
    """Raise if the log holds a certificate the table no longer does (a deleted row)."""
    from ca.errors import TransparencyLogBroken

    start = 0
    while start < tree_size:
        page = log.entries(start, tree_size, limit=_VERIFY_PAGE)
        for entry in page:
            if entry.serial_hex not in serials:
                raise TransparencyLogBroken(
                    f"entry {entry.leaf_index} (certificate {entry.serial_hex}) is logged but "
                    "missing from the certificate table"
                )
        start += len(page) or _VERIFY_PAGE


@app.command()
def sth(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Print the signed tree head of the current tree (signing one if the tree grew)."""
    from api.routers.transparency import current_tree_head, transparency_log

    with cli_context(data_dir) as ctx:
        log = transparency_log(ctx)
        head = current_tree_head(log)
        record = _head_json(head, log.public_key)
    if as_json:
        _echo_json(record)
        return
    for key, value in record.items():
        typer.echo(f"{key + ':':<18} {value}")


@app.command()
def subject(
    subject_id: Annotated[str, typer.Argument(help="The register's id of the subject.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every certificate ever logged for a subject, oldest first, with its status."""
    from api.routers.transparency import transparency_log

    with cli_context(data_dir) as ctx:
        entries = transparency_log(ctx).entries_for_subject(subject_id)
        records = {c.serial_hex: c for c in ctx.ca().list(subject_id=subject_id, limit=None)}
    rows: list[dict[str, Any]] = []
    for entry in entries:
        record = records.get(entry.serial_hex)
        rows.append(
            {
                "leaf_index": entry.leaf_index,
                "serial": entry.serial_hex,
                "profile": record.profile.value if record is not None else None,
                "issuer": record.issuer if record is not None else entry.issuer,
                "issuer_dn": entry.issuer,
                "logged_at": entry.logged_at.isoformat(),
                "status": record.status.value if record is not None else "not in the table",
                "certificate": entry.certificate.public_bytes(serialization.Encoding.PEM).decode(
                    "ascii"
                ),
            }
        )
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        typer.echo(f"no certificate was ever logged for subject {subject_id}")
        return
    header = ["INDEX", "SERIAL", "PROFILE", "ISSUER", "LOGGED AT", "STATUS"]
    table = [
        [
            str(r["leaf_index"]),
            r["serial"],
            r["profile"] or "-",
            r["issuer"],
            r["logged_at"][:19],
            r["status"],
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
