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

Choices: ``issue`` prints only the ``HC1:`` payload on stdout (scripts capture it); the UVCI goes
to stderr. ``--pdf`` writes the printable certificate (Khmer and English, with the QR code),
e-sealed by the health authority (``api/health_pdf.py``); the e-seal is checked before the
credential is issued, so a missing font or seal certificate issues nothing.
``verify`` prints one line per check (or, with ``--json``, the issue's object) and exits 0 only
when every check passed, 1 otherwise; ``--jsonl`` prints one object per input line, in order,
and exits 0 only if all were valid. Trust for ``verify``: ``--trust`` takes PEM or DER
certificates, a directory of them, or a trust list file (JSON; the operator vouches for the
file, so entry signatures are not checked - ``trustlist import`` checks them against an
anchor); without ``--trust`` the signers and revocations of an initialised data directory are
used. ``--revocations FILE`` must be signed by ``--anchor`` (or, by default, by the data
directory's own anchor); an unsigned or forged list is an error (exit 1), never "nothing is
revoked". ``revoke`` takes a UVCI, or one DCC revocation hash (``--uci-hash``,
``--country-uci-hash``, ``--signature-hash``: hex or base64 of the 16 bytes) with the signer's
``--kid`` when NatID did not issue it. Trust-list commands: ``api/cli/health_trust.py``.
``--at`` is ISO 8601; a time without an offset is UTC. Exit 2: bad settings or usage.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from api.cli.common import DataDirOption, JsonOption, cli_context, cli_settings, fail
from core.errors import NatIDError

if TYPE_CHECKING:
    from api.context import AppContext
    from vaccine_cert.report import RevocationCheck, VerificationReport
    from vaccine_cert.service import HealthService
    from vaccine_cert.trust import TrustedSigners

__all__ = ["CLI_ACTOR", "app"]

app = typer.Typer(
    help="Health credentials (EU DCC): issue, verify, revoke, signers, trust lists.",
    no_args_is_help=True,
)
signer_app = typer.Typer(help="The health authority's document signers.", no_args_is_help=True)
app.add_typer(signer_app, name="signer")

CLI_ACTOR = "cli"
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
        Path | None, typer.Option("--out-dir", help="Write <line>.txt and <line>.png per row.")
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
            _write(out_dir / f"line-{outcome.line}.txt", outcome.payload + "\n", "a payload")
            _write(out_dir / f"line-{outcome.line}.png", qr_png(outcome.payload), "a QR code")
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


# --- verify --------------------------------------------------------------------------------------


def _parse_at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at must be an ISO 8601 time such as 2027-01-01T00:00:00Z, got {text[:40]!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _certificates(data: bytes, name: str) -> list[x509.Certificate]:
    from vaccine_cert.trustlist import parse_trustlist

    if data.lstrip().startswith(b"["):
        return [item.signer.certificate for item in parse_trustlist(data, anchor=None)]
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        fail(f"{name} holds no PEM or DER certificate and is not a trust list")


def _trust_from_path(path: Path) -> TrustedSigners:
    from vaccine_cert.trust import TrustedSigners

    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    certificates = []
    for file in files:
        certificates += _certificates(_read(file, "the trust file"), str(file))
    if not certificates:
        fail(f"no certificates in {path}")
    return TrustedSigners.from_certificates(certificates)


def _data_dir_ready(data_dir: Path | None) -> bool:
    settings = cli_settings(data_dir)
    if settings.database_url:
        return True
    return (settings.data_dir / "natid.db").is_file()


def _show(report: VerificationReport) -> None:
    typer.echo("VALID" if report.valid else "NOT VALID")
    for check, outcome in report.checks.items():
        typer.echo(f"  {check}: {outcome}")
    holder = report.holder
    if holder is not None:
        names = " ".join(n for n in (holder.family_name, holder.given_name) if n)
        icao = " ".join(n for n in (holder.family_name_icao, holder.given_name_icao) if n)
        typer.echo(f"holder: {names} ({icao}), born {holder.date_of_birth or 'unknown'}")
    if report.kid_b64:
        typer.echo(f"kid: {report.kid_b64}")
    for reason in report.reasons:
        typer.echo(f"  - {reason}")


def _input_failure(message: str) -> dict[str, Any]:
    checks = {"decode": "fail", "signature": "skipped", "expiry": "skipped", "schema": "skipped"}
    checks["revocation"] = "skipped"
    return {"valid": False, "checks": checks, "holder": None, "kid": None,
            "reasons": [f"input: {message}"]}  # fmt: skip


def _line_result(
    line: str,
    default: TrustedSigners | None,
    revocation: RevocationCheck | None,
    at: dt.datetime,
) -> dict[str, Any]:
    """One ``--jsonl`` line's result; raises ValueError/TypeError for a line it cannot use."""
    from vaccine_cert.trust import TrustedSigners
    from vaccine_cert.verify import verify

    item = json.loads(line)
    if not isinstance(item, dict) or not isinstance(item.get("payload"), str):
        raise TypeError("each line must be an object with a text payload")
    trust = default
    if item.get("trust") is not None:
        trust = TrustedSigners.from_certificates(
            x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
            for c in item["trust"]
        )
    if trust is None:
        raise ValueError("no trust given on the line, with --trust or by a data directory")
    when = at
    if item.get("at") is not None:
        when = dt.datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
        when = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return verify(item["payload"], trusted=trust, at=when, revocation=revocation).as_dict()


def _verify_lines(
    text: str,
    default: TrustedSigners | None,
    revocation: RevocationCheck | None,
    at: dt.datetime,
) -> bool:
    all_valid = True
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            result = _line_result(line, default, revocation, at)
        except (ValueError, TypeError, binascii.Error, NatIDError) as exc:
            result = _input_failure(str(exc)[:200])
        all_valid = all_valid and bool(result["valid"])
        typer.echo(json.dumps(result, ensure_ascii=False))
    return all_valid


def _revocation_anchor(anchor: Path | None, data_dir: Path | None) -> EllipticCurvePublicKey:
    """The key a ``--revocations`` file must be signed by: ``--anchor``, else the data
    directory's own trust-list anchor. An unsigned list is refused: anyone could have written
    it, and a forged "nothing is revoked" list is exactly the attack the signature stops."""
    from vaccine_cert.trustlist import load_anchor

    if anchor is not None:
        return load_anchor(_read(anchor, "the anchor"))
    if not _data_dir_ready(data_dir):
        fail("--revocations needs --anchor (the key that signed it), or a data directory")
    with cli_context(data_dir, migrate=False) as ctx:
        return _service(ctx).trustlist_anchor()


@app.command(name="verify")
def verify_command(  # noqa: PLR0917 - Typer maps parameters to options
    payload: Annotated[str | None, typer.Option("--payload", help="The HC1: text.")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="A photo or screenshot of the QR code.")
    ] = None,
    jsonl: Annotated[
        Path | None, typer.Option("--jsonl", help="Many: one {payload, trust, at} a line.")
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option("--trust", help="PEM/DER certificates, a directory, or a trust list."),
    ] = None,
    revocations: Annotated[
        Path | None, typer.Option("--revocations", help="A signed revocation list file.")
    ] = None,
    anchor: Annotated[
        Path | None,
        typer.Option("--anchor", help="Key or certificate that signed --revocations (PEM/DER)."),
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="Check as of this ISO 8601 time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Verify a credential: decode, signature, expiry, schema, revocation."""
    from vaccine_cert.qrimage import read_qr_texts
    from vaccine_cert.revocation import RevocationList
    from vaccine_cert.verify import verify

    if sum(x is not None for x in (payload, image, jsonl)) != 1:
        fail("give exactly one of --payload, --image or --jsonl", 2)
    moment = _parse_at(at)
    try:
        signers = _trust_from_path(trust) if trust is not None else None
        revocation: RevocationCheck | None = None
        if revocations is not None:
            revocation = RevocationList.from_document(
                _read(revocations, "the revocation list"),
                anchor=_revocation_anchor(anchor, data_dir),
            )
        elif anchor is not None:
            fail("--anchor checks the signature of --revocations; give that file too", 2)
        if signers is None and _data_dir_ready(data_dir):
            with cli_context(data_dir, migrate=False) as ctx:
                service = _service(ctx)
                signers = service.trusted_signers()
                revocation = revocation or service.revocation_check()
                moment = moment or ctx.clock.now()
        moment = moment or dt.datetime.now(dt.UTC)
        if jsonl is not None:
            text = _read(jsonl, "the JSON lines").decode("utf-8", errors="replace")
            raise typer.Exit(0 if _verify_lines(text, signers, revocation, moment) else 1)
        if signers is None:
            fail("no trusted signers: give --trust FILE_OR_DIR, or initialise a data directory")
        if image is not None:
            payload = read_qr_texts(_read(image, "the image"))[0]
        assert payload is not None
        report = verify(payload.strip(), trusted=signers, at=moment, revocation=revocation)
    except NatIDError as exc:
        fail(f"{exc} [{exc.code}]")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _show(report)
    raise typer.Exit(0 if report.valid else 1)


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
    """Make sure a document signer is ready (issues one if none is, or it nears its end)."""
    with cli_context(data_dir) as ctx:
        signer = _service(ctx).ensure_signer(algorithm=algorithm, actor=CLI_ACTOR)
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


def _mount_trust_commands() -> None:
    from api.cli.health_trust import trustlist_app

    app.add_typer(trustlist_app, name="trustlist")


_mount_trust_commands()
