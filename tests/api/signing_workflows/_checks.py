"""What a finished workflow's PDF must satisfy: NatID's validator and poppler's pdfsig."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from api.context import AppContext
from tests.conftest import require_command


def assert_valid_with_seal_last(
    ctx: AppContext, pdf: bytes, *, ministry_id: str, group_order: list[str]
) -> None:
    """Every signature intact and TOTAL-PASSED, in signing order, the seal last."""
    report = ctx.signing().validate(pdf)
    assert report.ok, [s.as_dict() for s in report.signatures]
    assert [s.field_name for s in report.signatures] == [
        "Approval-1-1", "Approval-2-1", *group_order, "Seal",
    ]  # fmt: skip
    assert all(s.intact and s.signature_valid and s.trusted for s in report.signatures)
    assert all(s.pades_level in {"B-LT", "B-LTA"} for s in report.signatures[:-1]), [
        s.pades_level for s in report.signatures
    ]
    assert report.signatures[0].certification_level == 2
    seal = report.signatures[-1]
    eseal = ctx.signing().eseal_certificate(ministry_id)
    assert int(seal.signer_serial, 16) == int(eseal.serial_hex, 16)


def pdfsig_report(ctx: AppContext, pdf: bytes, tmp_path: Path) -> str:
    """pdfsig's report with NatID's root in an NSS database."""
    certutil = require_command("certutil")
    pdfsig = require_command("pdfsig")
    root = tmp_path / "root.pem"
    root.write_bytes(ctx.ca().hierarchy().root.public_bytes(serialization.Encoding.PEM))
    nss = tmp_path / "nss"
    nss.mkdir(exist_ok=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{nss}", "-n", "natid-root", "-t", "CT,C,C", "-i", str(root)],
        check=True,
    )
    path = tmp_path / "approved.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [pdfsig, "-nssdir", f"sql:{nss}", "-no-ocsp", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def assert_pdfsig_all_valid(ctx: AppContext, pdf: bytes, tmp_path: Path, count: int) -> None:
    out = pdfsig_report(ctx, pdf, tmp_path)
    assert out.count("Signature is Valid.") == count, out
    assert "Signature is Invalid" not in out, out
