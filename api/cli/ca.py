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
    natid ca revoke 3A0F... --reason keyCompromise [--invalidity-date 2026-11-01T08:00Z]
    natid ca hold 3A0F...           natid ca resume 3A0F...
    natid ca revoke-subject ID --reason affiliationChanged --yes
    natid ca revoke-where --algorithm rsa-2048 --reason keyCompromise --dry-run
    natid ca crl citizen [--delta] --out citizen.crl        # the current CRL, DER (--pem)

Choices: ``issue`` prints only the PEM certificate (or, with ``--out``, only the serial), so
scripts can capture it; a server-side key's label goes to stderr. Tables never show subject
DNs (they carry the national ID number); ``show`` and ``--json`` do, for operators who script.
``bulk-issue`` shows a progress bar on a terminal and one line per request otherwise, then
the failures by line; ``--json`` prints the whole report. ``revoke-subject`` and
``revoke-where`` list what they would change and ask on a terminal; elsewhere they refuse
without ``--yes`` (``--dry-run`` only lists). Exit codes: 0 ok, 1 an error or a failed line
(the good lines are still issued), 2 bad settings.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail, is_tty
from core.errors import NatIDError

if TYPE_CHECKING:
    from api.context import AppContext
    from ca.bulk import BulkOutcome
    from ca.revocation import RevocationReason
    from ca.service import CAService
    from ca.store import IssuedCertificate

__all__ = ["CLI_ACTOR", "app", "ca_service_from_context", "certificate_json"]

app = typer.Typer(
    help="The certificate authority: hierarchy, issuance, renewal, revocation, CRLs, look-ups.",
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


# --- revocation and CRLs ---------------------------------------------------------------------

ReasonOption = Annotated[
    str,
    typer.Option(
        "--reason",
        "-r",
        help="RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ...",
    ),
]
SerialArgument = Annotated[str, typer.Argument(help="Serial as `openssl x509 -serial` prints it.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _reason(text: str) -> RevocationReason:
    """An RFC 5280 reason name, or exit 1 with one line naming the valid ones."""
    from ca.revocation import RevocationReason

    valid = ", ".join(r.value for r in RevocationReason if r.is_revocation)
    try:
        reason = RevocationReason.parse(text)
    except NatIDError:
        fail(f"unknown revocation reason {text[:40]!r}; valid reasons (RFC 5280): {valid}")
    if not reason.is_revocation:
        fail(f"removeFromCRL is not a revocation reason (use `natid ca resume`); valid: {valid}")
    return reason


def _serial(text: str) -> str:
    from ca.store import normalize_serial

    try:
        return normalize_serial(text)
    except NatIDError as exc:
        fail(str(exc))


def _when(text: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 date (UTC midnight) or date and time with a zone, or exit 1."""
    if text is None:
        return None
    try:
        if len(text.strip()) == 10:
            return dt.datetime.fromisoformat(text.strip()).replace(tzinfo=dt.UTC)
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option} {text[:40]!r} is not an ISO 8601 date or date and time")
    if value.tzinfo is None:
        fail(f"{option} needs a time zone, for example 2026-11-01T08:00:00Z")
    return value.astimezone(dt.UTC)


def _say_status(cert: IssuedCertificate, as_json: bool) -> None:
    if as_json:
        _echo_json(certificate_json(cert))
    elif cert.status.value == "good":
        typer.echo(f"{cert.serial_hex} good (hold released)")
    elif cert.status.value == "on_hold":
        typer.echo(f"{cert.serial_hex} on hold since {cert.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    else:
        reason = cert.revocation_reason.value if cert.revocation_reason else "unspecified"
        typer.echo(
            f"{cert.serial_hex} revoked ({reason}) at {cert.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
        )


@app.command()
def revoke(
    serial: SerialArgument,
    *,
    reason: ReasonOption,
    invalidity_date: Annotated[
        str | None,
        typer.Option(help="When the key is known or suspected to be compromised (ISO 8601)."),
    ] = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a certificate (reason certificateHold puts it on hold instead)."""
    chosen, key = _reason(reason), _serial(serial)
    invalid_from = _when(invalidity_date, "--invalidity-date")
    with cli_context(data_dir) as ctx:
        cert = ca_service_from_context(ctx).revoke(
            key, reason=chosen, actor=CLI_ACTOR, invalidity_date=invalid_from
        )
    _say_status(cert, as_json)


@app.command()
def hold(
    serial: SerialArgument, data_dir: DataDirOption = None, as_json: JsonOption = False
) -> None:
    """Suspend a certificate (certificateHold); `natid ca resume` releases it."""
    key = _serial(serial)
    with cli_context(data_dir) as ctx:
        cert = ca_service_from_context(ctx).hold(key, actor=CLI_ACTOR)
    _say_status(cert, as_json)


@app.command()
def resume(
    serial: SerialArgument, data_dir: DataDirOption = None, as_json: JsonOption = False
) -> None:
    """Release a hold: the certificate is good again."""
    key = _serial(serial)
    with cli_context(data_dir) as ctx:
        cert = ca_service_from_context(ctx).resume(key, actor=CLI_ACTOR)
    _say_status(cert, as_json)


def _confirm_bulk(count: int, reason: RevocationReason, yes: bool) -> None:
    """Ask on a terminal; refuse without --yes elsewhere (a script must say it means it)."""
    if yes:
        return
    if not (is_tty() and sys.stdin.isatty()):
        fail(f"refusing to revoke {count} certificates without --yes (preview them with --dry-run)")
    if not typer.confirm(f"Revoke {count} certificates with reason {reason.value}?"):
        fail("nothing revoked")


def _report_bulk(
    certs: Sequence[IssuedCertificate], reason: RevocationReason, *, dry_run: bool, as_json: bool
) -> None:
    serials = [c.serial_hex for c in certs]
    if as_json:
        _echo_json(
            {"dry_run": dry_run, "reason": reason.value, "count": len(serials), "serials": serials}
        )
        return
    verb = "would be revoked" if dry_run else "revoked"
    if reason.value == "certificateHold":
        verb = "would be put on hold" if dry_run else "put on hold"
    typer.echo(f"{len(serials)} certificates {verb}")
    for serial in serials:
        typer.echo(f"  {serial}")


@app.command("revoke-subject")
def revoke_subject(
    subject: Annotated[str, typer.Argument(help="Register id of the person, servant or entity.")],
    *,
    reason: ReasonOption,
    yes: YesOption = False,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke every good or held certificate of one subject (one transaction)."""
    from ca.revoke import RevocationQuery

    chosen = _reason(reason)
    with cli_context(data_dir) as ctx:
        service = ca_service_from_context(ctx)
        preview = service.revoke_where(
            RevocationQuery(subject_id=subject), reason=chosen, actor=CLI_ACTOR, dry_run=True
        )
        if preview:
            _confirm_bulk(len(preview), chosen, yes)
            done = service.revoke_subject(subject, reason=chosen, actor=CLI_ACTOR)
        else:
            done = []
    _report_bulk(done, chosen, dry_run=False, as_json=as_json)


@app.command("revoke-where")
def revoke_where(
    *,
    reason: ReasonOption,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", "-a", help="Key type, e.g. ec-p256, rsa-2048.")
    ] = None,
    profile: Annotated[str | None, typer.Option("--profile", "-p", help="Profile name.")] = None,
    issuer: Annotated[str | None, typer.Option("--issuer", help="Issuing CA name.")] = None,
    issued_after: Annotated[
        str | None, typer.Option(help="Issued at or after (ISO 8601 date or time).")
    ] = None,
    issued_before: Annotated[
        str | None, typer.Option(help="Issued before (ISO 8601 date or time).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what matches.")] = False,
    yes: YesOption = False,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke every certificate matching all the filters (never CA certificates)."""
    from ca.revoke import RevocationQuery

    chosen = _reason(reason)
    query = RevocationQuery(
        key_algorithm=algorithm,
        profile=profile,
        issuer=issuer,
        issued_after=_when(issued_after, "--issued-after"),
        issued_before=_when(issued_before, "--issued-before"),
    )
    with cli_context(data_dir) as ctx:
        service = ca_service_from_context(ctx)
        matching = service.revoke_where(query, reason=chosen, actor=CLI_ACTOR, dry_run=True)
        if dry_run or not matching:
            _report_bulk(matching, chosen, dry_run=True, as_json=as_json)
            return
        _confirm_bulk(len(matching), chosen, yes)
        done = service.revoke_where(query, reason=chosen, actor=CLI_ACTOR)
    _report_bulk(done, chosen, dry_run=False, as_json=as_json)


@app.command()
def crl(
    ca: Annotated[str, typer.Argument(help="CA name: root, citizen, entity, government, health.")],
    delta: Annotated[bool, typer.Option("--delta", help="The delta CRL.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write it here.")] = None,
    as_pem: Annotated[bool, typer.Option("--pem", help="PEM instead of DER.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Write the current CRL of a CA (published first if one is due)."""
    with cli_context(data_dir) as ctx:
        record = ca_service_from_context(ctx).crl_record(ca, delta=delta)
    data = record.pem if as_pem else record.der
    if out is None:
        if not as_pem and is_tty():
            fail("a DER CRL is binary: give --out FILE, or --pem")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        fail(f"writing {out} failed: {exc.strerror}")
    typer.echo(
        f"{record.kind.value} CRL {record.number} of {record.issuer}: "
        f"thisUpdate {record.this_update:%Y-%m-%d %H:%M:%S}Z, "
        f"nextUpdate {record.next_update:%Y-%m-%d %H:%M:%S}Z -> {out}"
    )
