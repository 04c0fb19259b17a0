"""``natid health ...``: issue, verify and revoke health credentials; signers; trust lists.

Examples::

    natid health issue --subject ID --kind vaccination --json dose2.json --png qr.png --pdf c.pdf
    natid health batch records.csv --out-dir issued/          # CSV format: vaccine_cert/batch.py
    natid health verify --payload 'HC1:...' --json
    natid health verify --image photo.jpg --trust dscs/ --at 2027-01-01T00:00:00Z
    natid health verify --jsonl batch.jsonl > results.jsonl
    natid health revoke 'URN:UVCI:01:KH:...#X'
    natid health signer ensure --algorithm rsa-3072          natid health signer list
    natid health trustlist export --out kh.json               natid health trustlist anchor
    natid health trustlist import eu.json --anchor eu-anchor.pem
    natid health trustlist import https://dcc.example/trustlist --anchor eu-anchor.pem
    natid health revoke --signature-hash 5f2c...e1 --kid q1w2e3r4t5Y=
    natid health verify --payload 'HC1:...' --revocations rl.json --anchor kh-anchor.pem
    natid health verify --image qr.png --trust kh.json --revocations rl.json --anchor kh.pem

Choices: ``issue`` prints only the ``HC1:`` payload on stdout (scripts capture it); the UVCI goes
to stderr. ``--pdf`` writes the printable certificate (Khmer and English, with the QR code),
e-sealed by the health authority (``api/health_pdf.py``); the e-seal is checked before the
credential is issued, so a missing font or seal certificate issues nothing.
``revoke`` takes a UVCI, or one DCC revocation hash (``--uci-hash``, ``--country-uci-hash``,
``--signature-hash``: hex or base64 of the 16 bytes) with the signer's ``--kid`` when NatID did
not issue it. ``verify`` (what it trusts, what it shows, its exit codes):
``api/cli/health_verify.py``. Trust-list commands: ``api/cli/health_trust.py``. Exit 2: bad
settings or usage.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import DataDirOption, JsonOption, cli_context, fail
from core.errors import NatIDError

if TYPE_CHECKING:
    from api.context import AppContext
    from vaccine_cert.service import HealthService

__all__ = ["CLI_ACTOR", "app"]

app = typer.Typer(
    help="Health credentials (EU DCC): issue, verify, revoke, signers, trust lists.",
    no_args_is_help=True,
)
signer_app = typer.Typer(help="The health authority's document signers.", no_args_is_help=True)
app.add_typer(signer_app, name="signer")

CLI_ACTOR = "cli"
#: The files ``batch --out-dir`` writes for an issued row, by the row's line in the CSV file.
BATCH_FILES = ("line-{line}.txt", "line-{line}.png")
#: Largest input file read (records, images, trust lists, batches).
MAX_INPUT_BYTES = 64 * 1024 * 1024


def _service(ctx: AppContext) -> HealthService:
    return ctx.health()


def _read(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror}")
    if len(data) > MAX_INPUT_BYTES:
        fail(f"{what} {path} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    return data


def _write(path: Path, data: bytes | str, what: str) -> None:
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as exc:
        fail(f"writing {what} to {path} failed: {exc.strerror}")


# --- issue ---------------------------------------------------------------------------------------


@app.command()
def issue(  # noqa: PLR0917 - Typer maps parameters to options
    subject: Annotated[str, typer.Option("--subject", "-s", help="The holder's register id.")],
    kind: Annotated[str, typer.Option("--kind", "-k", help="vaccination, test or recovery.")],
    record_file: Annotated[
        Path, typer.Option("--json", help="The record: a JSON object of the DCC's fields.")
    ],
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write the QR code as PNG.")
    ] = None,
    svg: Annotated[
        Path | None, typer.Option("--svg", help="Also write the QR code as SVG.")
    ] = None,
    pdf: Annotated[
        Path | None,
        typer.Option("--pdf", help="Also write the printable certificate, e-sealed (PDF)."),
    ] = None,
    algorithm: Annotated[
        str, typer.Option("--algorithm", "-a", help="ec-p256 (ES256) or rsa-3072 (PS256).")
    ] = "ec-p256",
    data_dir: DataDirOption = None,
) -> None:
    """Issue one credential; print its HC1: payload."""
    from vaccine_cert.qr import qr_png, qr_svg

    try:
        record = json.loads(_read(record_file, "the record"))
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"{record_file} is not JSON: {exc}")
    sealed: bytes | None = None
    with cli_context(data_dir) as ctx:
        if pdf is not None:
            from api.health_pdf import prepare_sealing, sealed_certificate_pdf

            prepare_sealing(ctx, actor=CLI_ACTOR)
        issued = _service(ctx).issue(subject, kind, record, actor=CLI_ACTOR, algorithm=algorithm)
        if pdf is not None:
            sealed = sealed_certificate_pdf(ctx, issued, subject_id=subject, actor=CLI_ACTOR)
    if sealed is not None and pdf is not None:
        _write(pdf, sealed, "the PDF")
    if png is not None:
        _write(png, qr_png(issued.payload, scale=6), "the PNG")
    if svg is not None:
        _write(svg, qr_svg(issued.payload), "the SVG")
    typer.echo(f"uvci: {issued.uvci} (expires {issued.expires_at.isoformat()})", err=True)
    typer.echo(issued.payload)


@app.command()
def batch(
    csv_file: Annotated[Path, typer.Argument(help="CSV: subject,kind,<DCC fields>...")],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            help=f"For each issued row write {BATCH_FILES[0].format(line='N')} (its HC1: payload) "
            f"and {BATCH_FILES[1].format(line='N')} (its QR code); N is the row's line in the CSV "
            "file, as in the report (the header is line 1).",
        ),
    ] = None,
    as_json: JsonOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Issue one credential per CSV row; failed rows are listed and the others issued."""
    from vaccine_cert.batch import parse_batch_csv
    from vaccine_cert.qr import qr_png

    try:
        text = _read(csv_file, "the batch").decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{csv_file} is not UTF-8 text")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    with cli_context(data_dir) as ctx:
        report = _service(ctx).issue_batch(parse_batch_csv(text), actor=CLI_ACTOR)
    for outcome in report.outcomes:
        if out_dir is not None and outcome.payload is not None:
            text_file, png_file = (name.format(line=outcome.line) for name in BATCH_FILES)
            _write(out_dir / text_file, outcome.payload + "\n", "a payload")
            _write(out_dir / png_file, qr_png(outcome.payload), "a QR code")
    if as_json:
        rows = [
            {"line": o.line, "subject": o.subject, "uvci": o.uvci, "payload": o.payload,
             "error_code": o.error_code, "error": o.error}
            for o in report.outcomes
        ]  # fmt: skip
        typer.echo(json.dumps({"issued": report.issued, "outcomes": rows}, indent=2))
    else:
        for o in report.outcomes:
            typer.echo(f"line {o.line}: " + (o.uvci or f"FAILED [{o.error_code}] {o.error}"))
        typer.echo(f"{report.issued} issued, {len(report.failed)} failed")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def revoke(  # noqa: PLR0917 - Typer maps parameters to options
    uvci: Annotated[str | None, typer.Argument(help="The credential's UVCI (quote the #).")] = None,
    uci_hash: Annotated[
        str | None, typer.Option("--uci-hash", help="Revoke by UCI hash (hex or base64).")
    ] = None,
    country_uci_hash: Annotated[
        str | None, typer.Option("--country-uci-hash", help="... by COUNTRYCODEUCI hash.")
    ] = None,
    signature_hash: Annotated[
        str | None, typer.Option("--signature-hash", help="... by SIGNATURE hash.")
    ] = None,
    kid: Annotated[
        str | None, typer.Option("--kid", help="The signer's kid (base64) for a hash.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a credential by UVCI, or by one DCC revocation hash; listed at once."""
    hashes = {"UCI": uci_hash, "COUNTRYCODEUCI": country_uci_hash, "SIGNATURE": signature_hash}
    given = {kind: value for kind, value in hashes.items() if value is not None}
    if (uvci is not None) + len(given) != 1:
        fail("give a UVCI or exactly one of --uci-hash, --country-uci-hash, --signature-hash", 2)
    if uvci is not None and kid is not None:
        fail("--kid goes with a hash, not a UVCI", 2)
    try:
        with cli_context(data_dir) as ctx:
            if uvci is not None:
                when = _service(ctx).revoke(uvci, actor=CLI_ACTOR)
                typer.echo(f"revoked at {when.isoformat()}")
                return
            ((kind, value),) = given.items()
            revoked = _service(ctx).revoke_hash(kind, value, kid=kid, actor=CLI_ACTOR)
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")
    typer.echo(
        f"revoked {kind} hash {revoked.value.hex()} of signer kid "
        f"{base64.b64encode(revoked.kid).decode('ascii')} (listed until "
        f"{revoked.expires_at.isoformat()})"
    )


# --- signers and trust lists ---------------------------------------------------------------------


@signer_app.command("ensure")
def signer_ensure(
    algorithm: Annotated[
        str, typer.Option("--algorithm", "-a", help="ec-p256 (ES256) or rsa-3072 (PS256).")
    ] = "ec-p256",
    data_dir: DataDirOption = None,
) -> None:
    """Make sure the trust-list anchor and a document signer are ready (makes the anchor if
    there is none; issues a signer if none is ready, or it nears its end)."""
    from vaccine_cert.trustlist import anchor_fingerprint

    with cli_context(data_dir) as ctx:
        service = _service(ctx)
        anchor = service.ensure_anchor(actor=CLI_ACTOR)
        signer = service.ensure_signer(algorithm=algorithm, actor=CLI_ACTOR)
    typer.echo(f"trust-list anchor sha256 {anchor_fingerprint(anchor)}")
    typer.echo(
        f"signer {signer.serial} kid {signer.kid_b64} {signer.algorithm} "
        f"valid to {signer.not_after.isoformat()}"
    )


@signer_app.command("list")
def signer_list(as_json: JsonOption = False, data_dir: DataDirOption = None) -> None:
    """NatID's good document signers, newest first."""
    with cli_context(data_dir) as ctx:
        signers = _service(ctx).signers()
    rows = [
        {"serial": s.serial, "kid": s.kid_b64, "algorithm": s.algorithm,
         "not_before": s.not_before.isoformat(), "not_after": s.not_after.isoformat(),
         "signs": s.key_label is not None}
        for s in signers
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['kid']}  {row['algorithm']:9}  {row['not_after']}  {row['serial']}")


def _mount_commands() -> None:
    """The commands kept in their own modules (they import this one's helpers)."""
    from api.cli.health_trust import trustlist_app
    from api.cli.health_verify import verify_command

    app.command(name="verify")(verify_command)
    app.add_typer(trustlist_app, name="trustlist")


_mount_commands()
