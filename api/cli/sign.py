"""``natid sign ...`` and ``natid seal``: PAdES signatures, e-seals and validation.

Examples::

    natid sign pdf --in memo.pdf --out memo-signed.pdf --signer SERVANT_ID --level B-LT --visible
    natid sign pdf --in memo.pdf --out memo-signed.pdf --signer PERSON_ID --certify
    natid sign validate memo-signed.pdf            # one block per signature; --json for scripts
    natid sign renew-archive --in memo-signed.pdf --out memo-renewed.pdf   # before its TSA expires
    natid seal --entity ENTITY_ID --in in/ --out out/ [--level B-T] [--visible]

Choices: ``sign pdf`` writes the output file only when signing succeeded (atomically: a
temporary file renamed into place), so a failed run never leaves a half-signed file behind.
``sign validate`` exits 0 only when every signature is TOTAL-PASSED, 1 otherwise (the report
says why), so scripts can gate on it. ``seal`` seals every ``*.pdf`` of a directory, shows a
progress bar on a terminal and one line per file otherwise, never stops at a failed file, and
exits 1 if any file failed, after listing each with its reason. ``sign renew-archive``
time-stamps a long-term document again (a new document time-stamp over the validation data of
the last one) so that it stays valid after its last time-stamp's certificate expires; it
refuses a document that does not validate now, and writes the output like ``sign pdf``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail, is_tty

if TYPE_CHECKING:
    from api.context import AppContext
    from signing.service import SealedFile, SealFailure, SigningService
    from signing.validate import ValidationReport

__all__ = ["CLI_ACTOR", "app", "seal_command", "signing_service_from_context"]

app = typer.Typer(
    help="PDF signatures (PAdES B-B to B-LTA) and their validation.", no_args_is_help=True
)

CLI_ACTOR = "cli"
LevelOption = Annotated[
    str, typer.Option("--level", "-l", help="PAdES level: B-B, B-T, B-LT or B-LTA.")
]
VisibleOption = Annotated[
    bool, typer.Option("--visible", help="Add a visible stamp (Khmer and Latin, QR code).")
]


def signing_service_from_context(ctx: AppContext) -> SigningService:
    """The context's signing service (built once, in ``api.context``)."""
    return ctx.signing()


def _read_pdf(path: Path) -> bytes:
    from signing.pades import MAX_PDF_BYTES

    try:
        size = path.stat().st_size
        if size > MAX_PDF_BYTES:
            fail(f"{path} has {size} bytes; at most {MAX_PDF_BYTES} are accepted")
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror or exc}")


@app.command("pdf")
def sign_pdf(  # noqa: PLR0917 - Typer maps parameters to options
    input_file: Annotated[Path, typer.Option("--in", help="The PDF to sign.")],
    output_file: Annotated[Path, typer.Option("--out", help="Where to write the signed PDF.")],
    signer: Annotated[
        str,
        typer.Option(
            "--signer", help="Person or civil servant id (or a signing certificate's serial)."
        ),
    ],
    level: LevelOption = "B-T",
    visible: VisibleOption = False,
    certify: Annotated[
        bool, typer.Option("--certify", help="Certification signature (DocMDP: forms, signing).")
    ] = False,
    field: Annotated[str | None, typer.Option("--field", help="Signature field name.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Reason for signing.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Place of signing.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Sign a PDF with the signer's server-side key; prints the certificate serial used."""
    data = _read_pdf(input_file)
    with cli_context(data_dir) as ctx:
        service = signing_service_from_context(ctx)
        cert = service.signing_certificate(signer)
        signed = service.sign_pdf(
            data,
            signer=cert.serial_hex,
            actor=CLI_ACTOR,
            level=level,
            visible=visible,
            field_name=field,
            reason=reason,
            location=location,
            certify=certify,
        )
    _write_atomically(output_file, signed)
    typer.echo(f"signed {output_file} ({level.upper()}) with certificate {cert.serial_hex}")


@app.command("renew-archive")
def renew_archive(
    input_file: Annotated[Path, typer.Option("--in", help="The long-term (B-LT, B-LTA) PDF.")],
    output_file: Annotated[Path, typer.Option("--out", help="Where to write the renewed PDF.")],
    data_dir: DataDirOption = None,
) -> None:
    """Time-stamp a long-term PDF again before its last time-stamp's certificate expires."""
    data = _read_pdf(input_file)
    with cli_context(data_dir) as ctx:
        renewed = signing_service_from_context(ctx).renew_archive(data, actor=CLI_ACTOR)
    _write_atomically(output_file, renewed)
    typer.echo(f"renewed {output_file}: a new document time-stamp over the validation data")


@app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="The signed PDF.")],
    as_json: JsonOption = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Use only the revocation data inside the document."),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Validate every signature (ETSI EN 319 102-1 result); exit 1 unless all pass."""
    data = _read_pdf(file)
    with cli_context(data_dir) as ctx:
        report = signing_service_from_context(ctx).validate(data, fetch=not offline)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: ValidationReport) -> None:
    if not report.signatures:
        typer.echo("no signatures")
        return
    for number, sig in enumerate(report.signatures, 1):
        indication = sig.indication.value + (
            f" / {sig.sub_indication}" if sig.sub_indication else ""
        )
        lines = [
            f"#{number} {sig.kind} {sig.field_name}: {indication}",
            f"  signer:        {sig.signer} (serial {sig.signer_serial})",
            f"  chain:         {' <- '.join(sig.chain) if sig.chain else 'not built'}",
            f"  signing time:  {_when(sig.claimed_signing_time)} (claimed)",
            f"  time-stamp:    {_when(sig.timestamp_time)}",
            f"  PAdES level:   {sig.pades_level or '-'}",
            f"  integrity:     {'intact' if sig.intact else 'MODIFIED'}; "
            f"signature {'valid' if sig.signature_valid else 'INVALID'}; "
            f"{'trusted' if sig.trusted else 'not trusted'}",
            f"  changes after: {sig.modifications} (covers: {sig.coverage})",
            f"  revocation:    {sig.revocation}"
            + (f" since {_when(sig.revoked_at)}" if sig.revoked_at else "")
            + f"; embedded: {sig.embedded_ocsp_responses} OCSP, {sig.embedded_crls} CRL",
        ]
        lines += [f"  note: {m}" for m in sig.messages]
        typer.echo("\n".join(lines))


def _when(value: Any) -> str:
    return value.isoformat() if value is not None else "-"


def seal_command(  # noqa: PLR0917 - Typer maps parameters to options
    entity: Annotated[str, typer.Option("--entity", help="Register id of the legal entity.")],
    in_dir: Annotated[Path, typer.Option("--in", help="Directory of PDFs to seal.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the sealed PDFs.")],
    level: LevelOption = "B-T",
    visible: VisibleOption = False,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """E-seal every PDF of a directory with the entity's eseal certificate (server-side key)."""
    if not in_dir.is_dir():
        fail(f"{in_dir} is not a directory")
    if in_dir.resolve() == out_dir.resolve():
        fail("--out must differ from --in (sealed files never overwrite their originals)")
    files = sorted(p for p in in_dir.iterdir() if p.is_file() and p.suffix.lower() == ".pdf")
    if not files:
        fail(f"no *.pdf files in {in_dir}")
    with cli_context(data_dir) as ctx:
        service = signing_service_from_context(ctx)
        if is_tty() and not as_json:
            report = _seal_with_bar(
                service, entity=entity, files=files, out_dir=out_dir, level=level, visible=visible
            )
        else:

            def plain(number: int, total: int, outcome: SealedFile | SealFailure) -> None:
                if as_json:
                    return
                from signing.service import SealFailure

                if isinstance(outcome, SealFailure):
                    typer.echo(f"[{number}/{total}] FAILED {outcome.name}: {outcome.reason}")
                else:
                    typer.echo(f"[{number}/{total}] sealed {outcome.name}")

            report = service.seal_batch(
                entity,
                files,
                out_dir=out_dir,
                actor=CLI_ACTOR,
                level=level,
                visible=visible,
                progress=plain,
            )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "sealed": [vars_of(s) for s in report.sealed],
                    "failed": [vars_of(f) for f in report.failed],
                },
                indent=2,
            )
        )
    else:
        typer.echo(f"{len(report.sealed)} sealed, {len(report.failed)} failed -> {out_dir}")
        for failure in report.failed:
            typer.echo(f"  {failure.name}: {failure.reason} [{failure.code}]", err=True)
    if report.failed:
        raise typer.Exit(1)


def vars_of(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def _seal_with_bar(
    service: SigningService,
    *,
    entity: str,
    files: list[Path],
    out_dir: Path,
    level: str,
    visible: bool,
) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("sealing"), BarColumn(), MofNCompleteColumn(), transient=True) as bar:
        task = bar.add_task("seal", total=len(files))

        def advance(number: int, total: int, outcome: object) -> None:
            bar.update(task, completed=number)

        return service.seal_batch(
            entity,
            files,
            out_dir=out_dir,
            actor=CLI_ACTOR,
            level=level,
            visible=visible,
            progress=advance,
        )
