"""``natid ca ...``: the CA hierarchy, issuance, renewal, re-key and look-ups.

Examples::

    natid ca init                                           # the hierarchy (natid init runs it)
    natid ca issue --profile citizen-auth --subject ID --csr req.pem > cert.pem
    natid ca issue --profile eseal --subject ID --server-key --out seal.pem   # prints the serial
    natid ca list --subject ID --json
    natid ca show 3A0F...                                   # serial as `openssl x509 -serial`
    natid ca show 3A0F... --pem
    natid ca renew 3A0F...          natid ca rekey 3A0F... --csr new.pem
    natid ca bulk-issue requests.jsonl                      # format: ca/bulk.py

Choices: ``issue`` prints only the PEM certificate (or, with ``--out``, only the serial), so
scripts can capture it; a server-side key's label goes to stderr. Tables never show subject
DNs (they carry the national ID number); ``show`` and ``--json`` do, for operators who script.
``bulk-issue`` shows a progress bar on a terminal and one line per request otherwise, then
the failures by line; ``--json`` prints the whole report. Exit codes: 0 ok, 1 an error or a
failed line (the good lines are still issued), 2 bad settings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail, is_tty

if TYPE_CHECKING:
    from api.context import AppContext
    from ca.bulk import BulkOutcome
    from ca.service import CAService
    from ca.store import IssuedCertificate

__all__ = ["CLI_ACTOR", "app", "ca_service_from_context", "certificate_json"]

app = typer.Typer(
    help="The certificate authority: hierarchy, issuance, renewal, look-ups.",
    no_args_is_help=True,
)

#: The audit ``actor`` of operations run from the command line.
CLI_ACTOR = "cli"
#: The key-backend label of the transparency log's tree-head signing key.
#: Most failures listed in text mode; ``--json`` lists them all.
MAX_PRINTED_FAILURES = 200

ProfileOption = Annotated[
    str, typer.Option("--profile", "-p", help="citizen-auth, citizen-sign, gov-auth, ...")
]
SubjectOption = Annotated[
    str, typer.Option("--subject", "-s", help="Register id of the person, servant or entity.")
]
CsrOption = Annotated[
    Path | None,
    typer.Option("--csr", help="PKCS#10 request, PEM or DER ('-' for stdin).", show_default=False),
]
ServerKeyOption = Annotated[
    bool, typer.Option("--server-key", help="Generate the key pair in the key backend.")
]
AlgorithmOption = Annotated[
    str | None,
    typer.Option("--algorithm", "-a", help="Key type with --server-key (default: ec-p256)."),
]


def ca_service_from_context(ctx: AppContext) -> CAService:
    """The CA service of the application context (built once, in ``api.context``)."""
    return ctx.ca()


def certificate_json(cert: IssuedCertificate) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "serial": cert.serial_hex,
        "issuer": cert.issuer,
        "profile": cert.profile.value,
        "subject_id": cert.subject_id,
        "subject": cert.certificate.subject.rfc4514_string(),
        "status": cert.status.value,
        "not_before": when(cert.not_before),
        "not_after": when(cert.not_after),
        "key_algorithm": cert.key_algorithm,
        "key_label": cert.key_label,
        "spki_sha256": cert.spki_sha256,
        "issued_at": when(cert.issued_at),
        "requested_by": cert.requested_by,
        "renewed_from": cert.renewed_from,
        "replaced_by": cert.replaced_by,
        "revoked_at": when(cert.revoked_at),
        "revocation_reason": cert.revocation_reason.value if cert.revocation_reason else None,
        "invalidity_date": when(cert.invalidity_date),
    }


def _echo_json(value: object) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _read_csr(path: Path) -> bytes:
    from ca.csr import MAX_CSR_BYTES

    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_CSR_BYTES + 1)
        else:
            with path.open("rb") as handle:
                data = handle.read(MAX_CSR_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if len(data) > MAX_CSR_BYTES:
        fail(f"{path} is larger than {MAX_CSR_BYTES // 1024} KiB; it is not a CSR")
    return data


def _deliver(cert: IssuedCertificate, out: Path | None) -> None:
    if cert.key_label is not None:
        typer.echo(
            f"key label: {cert.key_label} (the private key stays in the key backend)", err=True
        )
    if out is None:
        typer.echo(cert.pem, nl=False)
        return
    try:
        out.write_text(cert.pem, encoding="ascii")
    except OSError as exc:
        fail(f"certificate {cert.serial_hex} was issued; writing {out} failed: {exc.strerror}")
    typer.echo(cert.serial_hex)


@app.command()
def init(data_dir: DataDirOption = None) -> None:
    """Create the CA hierarchy if it does not exist yet (idempotent; `natid init` runs it)."""
    with cli_context(data_dir) as ctx:
        service = ca_service_from_context(ctx)
        existed = bool(service.authorities())
        hierarchy = service.ensure_hierarchy(actor=CLI_ACTOR)
        authorities = service.authorities()
    typer.echo("CA hierarchy " + ("loaded (it already existed)" if existed else "created"))
    for authority in authorities:
        cert = authority.certificate
        until = f"{cert.not_valid_after_utc:%Y-%m-%d}"
        typer.echo(
            f"  {authority.name:<11} {authority.serial_hex}  until {until}"
            f"  {cert.subject.rfc4514_string()}"
        )
    typer.echo(
        f"  OCSP responders for {', '.join(sorted(hierarchy.ocsp_responders))}; TSA certified"
    )


@app.command()
def issue(
    *,
    profile: ProfileOption,
    subject: SubjectOption,
    csr: CsrOption = None,
    server_key: ServerKeyOption = False,
    algorithm: AlgorithmOption = None,
    dns: Annotated[
        list[str] | None,
        typer.Option("--dns", help="DNS name for tls-server (repeatable; default: the CSR's)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the PEM here; print the serial.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Issue one certificate from a CSR (--csr) or a key generated in the key backend."""
    if (csr is None) == (not server_key):
        fail("give either --csr FILE or --server-key")
    if algorithm is not None and not server_key:
        fail("--algorithm goes with --server-key")
    request = _read_csr(csr) if csr is not None else None
    with cli_context(data_dir) as ctx:
        service = ca_service_from_context(ctx)
        if request is not None:
            cert = service.issue_from_csr(profile, subject, request, actor=CLI_ACTOR, dns_names=dns)
        else:
            cert = service.issue_with_server_key(
                profile, subject, actor=CLI_ACTOR, algorithm=algorithm, dns_names=dns or ()
            )
    _deliver(cert, out)


@app.command()
def renew(
    serial: Annotated[str, typer.Argument(help="Serial as `openssl x509 -serial` prints it.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the PEM here.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Renew a certificate: same subject and key, new serial and validity."""
    with cli_context(data_dir) as ctx:
        cert = ca_service_from_context(ctx).renew(serial, actor=CLI_ACTOR)
    _deliver(cert, out)


@app.command()
def rekey(
    serial: Annotated[str, typer.Argument(help="Serial as `openssl x509 -serial` prints it.")],
    *,
    csr: CsrOption = None,
    server_key: ServerKeyOption = False,
    algorithm: AlgorithmOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the PEM here.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Re-key a certificate: same subject, a new key from --csr or --server-key."""
    if (csr is None) == (not server_key):
        fail("give either --csr FILE or --server-key")
    request = _read_csr(csr) if csr is not None else None
    with cli_context(data_dir) as ctx:
        cert = ca_service_from_context(ctx).rekey(
            serial, request, actor=CLI_ACTOR, server_key=server_key, algorithm=algorithm
        )
    _deliver(cert, out)


@app.command("list")
def list_certificates(
    *,
    subject: Annotated[str | None, typer.Option("--subject", "-s", help="Register id.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="Profile name.")] = None,
    status: Annotated[str | None, typer.Option(help="good, revoked or on_hold.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="At most N certificates; 0 for all.")] = 100,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List issued certificates, newest first (a table, or JSON with --json)."""
    with cli_context(data_dir) as ctx:
        certs = ca_service_from_context(ctx).list(
            subject_id=subject, profile=profile, status=status, limit=limit or None
        )
    if as_json:
        _echo_json([certificate_json(c) for c in certs])
        return
    header = ["SERIAL", "PROFILE", "ISSUER", "STATUS", "NOT AFTER", "SUBJECT ID"]
    rows = [
        [
            c.serial_hex,
            c.profile.value,
            c.issuer,
            c.status.value,
            f"{c.not_after:%Y-%m-%d}",
            c.subject_id or "-",
        ]
        for c in certs
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command()
def show(
    serial: Annotated[str, typer.Argument(help="Serial as `openssl x509 -serial` prints it.")],
    pem: Annotated[bool, typer.Option("--pem", help="Print the certificate as PEM.")] = False,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one certificate: its record, or the certificate itself with --pem."""
    with cli_context(data_dir) as ctx:
        cert = ca_service_from_context(ctx).get(serial)
    if pem:
        typer.echo(cert.pem, nl=False)
        return
    record = certificate_json(cert)
    if as_json:
        _echo_json(record)
        return
    for key, value in record.items():
        typer.echo(f"{key + ':':<18} {value if value is not None else '-'}")


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            yield from handle
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")


@app.command("bulk-issue")
def bulk_issue(
    file: Annotated[Path, typer.Argument(help="JSON Lines: one request per line (ca/bulk.py).")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue one certificate per line; report the failures by line number."""
    if not file.is_file():
        fail(f"{file} is not a file")
    with cli_context(data_dir) as ctx:
        service = ca_service_from_context(ctx)
        if as_json:
            report = service.bulk_issue(_lines(file), actor=CLI_ACTOR)
        elif is_tty():
            report = _with_progress_bar(service, file)
        else:

            def plain(outcome: BulkOutcome) -> None:
                from ca.bulk import BulkIssued

                if isinstance(outcome, BulkIssued):
                    typer.echo(f"line {outcome.line}: issued {outcome.serial_hex}")
                else:
                    typer.echo(f"line {outcome.line}: failed: {outcome.reason}")

            report = service.bulk_issue(_lines(file), actor=CLI_ACTOR, progress=plain)
    if as_json:
        _echo_json(
            {
                "issued": [
                    {
                        "line": i.line,
                        "serial": i.serial_hex,
                        "subject_id": i.subject_id,
                        "profile": i.profile,
                    }
                    for i in report.issued
                ],
                "failed": [
                    {"line": f.line, "code": f.code, "reason": f.reason} for f in report.failed
                ],
            }
        )
    else:
        typer.echo(f"issued {len(report.issued)} certificates; {len(report.failed)} lines failed")
        for failure in report.failed[:MAX_PRINTED_FAILURES]:
            typer.echo(f"  {failure}", err=True)
        if len(report.failed) > MAX_PRINTED_FAILURES:
            more = len(report.failed) - MAX_PRINTED_FAILURES
            typer.echo(f"  ... and {more} more (use --json for all)", err=True)
    if report.failed:
        raise typer.Exit(1)


def _with_progress_bar(service: CAService, file: Path) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with file.open("rb") as handle:
        total = sum(1 for line in handle if line.strip())
    columns = (
        TextColumn("issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("issue", total=total, failed=0)
        failed = 0

        def advance(outcome: BulkOutcome) -> None:
            nonlocal failed
            from ca.bulk import BulkFailure

            failed += isinstance(outcome, BulkFailure)
            bar.update(task, advance=1, failed=failed)

        return service.bulk_issue(_lines(file), actor=CLI_ACTOR, progress=advance)
