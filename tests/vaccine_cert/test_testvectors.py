"""The verifier against every case of the public EU DCC test vectors (shared/testdata/dcc).

Each case's ``EXPECTEDRESULTS`` are compared, one by one, with what NatID reports when it
verifies ``PREFIX`` at ``TESTCTX.VALIDATIONCLOCK`` trusting only ``TESTCTX.CERTIFICATE``:

=========================  =====================================================================
EXPECTEDUNPREFIX           decoding got past the ``HC1:`` prefix (false: it stopped there)
EXPECTEDB45DECODE          decoding got past Base45 (false: it stopped there)
EXPECTEDCOMPRESSION        decoding got past zlib (false: it stopped there)
EXPECTEDDECODE             the decode check passed and the DCC equals the case's own ``CBOR``
                           field (false: the decode check failed)
EXPECTEDVALIDJSON          the decode check passed with a JSON DCC
EXPECTEDVALIDOBJECT        the decode check passed with a JSON object as the DCC
EXPECTEDVERIFY             the signature check passed (false: it did not)
EXPECTEDKEYUSAGE           the signature check passed, the signer's purpose OIDs allowing the
                           DCC's kind (false: it failed for exactly that reason)
EXPECTEDEXPIRATIONCHECK    the expiry check passed (true = not expired; false: it failed)
EXPECTEDSCHEMAVALIDATION   the schema check passed (false: it failed)
EXPECTEDPICTUREDECODE      zxing-cpp reads ``PREFIX`` from the case's QR picture
=========================  =====================================================================

``EXPECTEDENCODE`` is about an encoder turning the case's JSON into its CBOR; a verifier has
nothing to compare with it (:data:`NOT_FOR_A_VERIFIER`). One expectation cannot be compared
at all, with the reason in :data:`NOT_COMPARABLE`. Any other key fails the test, so a new kind
of expectation in the data is noticed rather than ignored.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509

from vaccine_cert import (
    Check,
    DccSchema,
    DecodeStage,
    Outcome,
    QrImageUnreadable,
    ReasonCode,
    VerificationReport,
    read_qr_texts,
    verify,
)
from vaccine_cert.trust import TrustedSigners

from .conftest import DCC_DIR, require_test_vectors

CASES = sorted(p.relative_to(DCC_DIR).as_posix() for p in DCC_DIR.glob("*/2DCode/raw/*.json"))

NOT_FOR_A_VERIFIER = {
    "EXPECTEDENCODE": "an issuer-side expectation (JSON -> CBOR encoding); nothing to verify",
}

#: (case, expectation) -> why it cannot be compared. Not a skip of a disagreement: there is no
#: input to compare.
NOT_COMPARABLE = {
    ("common/2DCode/raw/B1.json", "EXPECTEDPICTUREDECODE"): (
        "B1 expects its picture to decode but ships no 2DCODE picture, and common/ has no "
        "png folder to find one in"
    ),
}

#: Cases without a 2DCODE field whose picture the country's README names in its png folder
#: under a name that is not the case's own.
PICTURE_FILES = {"FR/2DCode/raw/test_pcr_ok.json": "FR/png/test-pcr_ok.png"}

# The order decoding goes through its layers: "got past X" = failed later, or not at all.
_STAGES = list(DecodeStage)


@dataclass(frozen=True)
class Comparison:
    expectation: str
    expected: bool
    agrees: bool
    detail: str


def load_case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((DCC_DIR / name).read_text(encoding="utf-8"))
    return case


def run_case(name: str, schema: DccSchema) -> tuple[dict[str, Any], VerificationReport]:
    case = load_case(name)
    context = case["TESTCTX"]
    clock = context.get("VALIDATIONCLOCK") or context["validationClockInstant"]
    certificates = []
    if context.get("CERTIFICATE"):
        der = base64.b64decode(context["CERTIFICATE"])
        certificates.append(x509.load_der_x509_certificate(der))
    report = verify(
        case["PREFIX"],
        trusted=TrustedSigners.from_certificates(certificates),
        at=dt.datetime.fromisoformat(clock),
        schema=schema,
    )
    return case, report


def got_past(report: VerificationReport, stage: DecodeStage) -> bool:
    failed = report.failed_stage
    return failed is None or _STAGES.index(failed) > _STAGES.index(stage)


def case_dcc_from_cbor(case: dict[str, Any]) -> Any:
    """The DCC in the case's CBOR field (some cases hold the whole claims map there)."""
    item = cbor2.loads(bytes.fromhex(case["CBOR"]), semantic_decoders={0: lambda v, _i: v})
    if isinstance(item, dict) and -260 in item:
        return item[-260][1]
    return item


def picture_of(name: str, case: dict[str, Any]) -> bytes | None:
    encoded = case.get("2DCODE") or case.get("_2DCODE")
    if encoded:
        return base64.b64decode(encoded)
    path = Path(name)
    candidates = [PICTURE_FILES.get(name)]
    country = path.parts[0]
    candidates += [
        f"{country}/png/{path.stem}.png",
        f"{country}/png/{path.stem.removesuffix('_Raw')}.png",
    ]
    for candidate in candidates:
        if candidate and (DCC_DIR / candidate).is_file():
            return (DCC_DIR / candidate).read_bytes()
    return None


def picture_decodes(name: str, case: dict[str, Any]) -> tuple[bool, str]:
    picture = picture_of(name, case)
    assert picture is not None, "no picture"
    try:
        texts = read_qr_texts(picture)
    except QrImageUnreadable as exc:
        return False, str(exc)
    return case["PREFIX"] in texts, f"read {len(texts)} code(s)"


def compare(name: str, case: dict[str, Any], report: VerificationReport) -> list[Comparison]:
    checks = report.checks
    results = []
    for expectation, expected in case["EXPECTEDRESULTS"].items():
        if expectation in NOT_FOR_A_VERIFIER or (name, expectation) in NOT_COMPARABLE:
            continue
        detail = f"checks={ {str(k): str(v) for k, v in checks.items()} } reasons={report.reasons}"
        if expectation == "EXPECTEDUNPREFIX":
            got = got_past(report, DecodeStage.PREFIX)
        elif expectation == "EXPECTEDB45DECODE":
            got = got_past(report, DecodeStage.BASE45)
        elif expectation == "EXPECTEDCOMPRESSION":
            got = got_past(report, DecodeStage.ZLIB)
        elif expectation == "EXPECTEDDECODE":
            got = checks[Check.DECODE] is Outcome.PASS
            if got and "CBOR" in case:
                assert report.dcc_json is not None
                got = json.loads(report.dcc_json) == case_dcc_from_cbor(case)
        elif expectation in ("EXPECTEDVALIDJSON", "EXPECTEDVALIDOBJECT"):
            got = checks[Check.DECODE] is Outcome.PASS and isinstance(
                json.loads(report.dcc_json or "null"), dict
            )
        elif expectation == "EXPECTEDVERIFY":
            got = checks[Check.SIGNATURE] is Outcome.PASS
        elif expectation == "EXPECTEDKEYUSAGE":
            got = checks[Check.SIGNATURE] is Outcome.PASS
            if not expected:
                # Failing is not enough: it must fail because of the purpose OIDs.
                got = ReasonCode.SIGNER_PURPOSE not in report.codes(Check.SIGNATURE)
        elif expectation == "EXPECTEDEXPIRATIONCHECK":
            got = checks[Check.EXPIRY] is Outcome.PASS
        elif expectation == "EXPECTEDSCHEMAVALIDATION":
            got = checks[Check.SCHEMA] is Outcome.PASS
        elif expectation == "EXPECTEDPICTUREDECODE":
            got, detail = picture_decodes(name, case)
        else:
            pytest.fail(f"{name}: unknown expectation {expectation}; teach this test what it means")
        results.append(Comparison(expectation, expected, got == expected, detail))
    return results


@pytest.fixture(scope="module")
def vectors() -> Path:
    return require_test_vectors()


def test_the_test_vectors_are_all_there(vectors: Path) -> None:
    # 116 cases: common/ and nine countries. Fewer means the data moved, not that NatID passed.
    assert len(CASES) == 116
    assert {Path(name).parts[0] for name in CASES} == {
        "AT", "BE", "DE", "DK", "FI", "FR", "IT", "SE", "common",
    }  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_verifier_agrees_with_test_vector(name: str, vectors: Path, schema: DccSchema) -> None:
    case, report = run_case(name, schema)
    disagreements = [c for c in compare(name, case, report) if not c.agrees]
    assert not disagreements, "\n".join(
        f"{c.expectation}: expected {c.expected}; {c.detail}" for c in disagreements
    )
    # The verdict is consistent with the checks: valid exactly when all four required passed.
    required = [
        report.checks[c] for c in (Check.DECODE, Check.SIGNATURE, Check.EXPIRY, Check.SCHEMA)
    ]
    assert report.valid == all(o is Outcome.PASS for o in required)


def test_agreement_count(vectors: Path, schema: DccSchema) -> None:
    """Every comparable expectation of every case agrees (the figure in the report)."""
    compared = agreeing = cases_agreeing = 0
    for name in CASES:
        case, report = run_case(name, schema)
        results = compare(name, case, report)
        compared += len(results)
        agreeing += sum(r.agrees for r in results)
        cases_agreeing += all(r.agrees for r in results)
    print(
        f"\nDCC test vectors: {cases_agreeing}/{len(CASES)} cases agree; "
        f"{agreeing}/{compared} expectations agree; {len(NOT_COMPARABLE)} not comparable"
    )
    assert (cases_agreeing, agreeing) == (len(CASES), compared)
    assert compared > 700  # about 750 expectations: the comparison did run


def test_every_valid_vector_yields_a_verified_credential(vectors: Path, schema: DccSchema) -> None:
    """Cases that expect every check to pass give a VerifiedCredential with the holder's data."""
    full = {
        "EXPECTEDDECODE",
        "EXPECTEDVERIFY",
        "EXPECTEDEXPIRATIONCHECK",
        "EXPECTEDSCHEMAVALIDATION",
    }
    seen = 0
    for name in CASES:
        case, report = run_case(name, schema)
        expected = case["EXPECTEDRESULTS"]
        if full <= expected.keys() and all(expected[k] for k in full):
            seen += 1
            credential = report.require_valid()
            assert credential.holder.date_of_birth == case_dcc_from_cbor(case)["dob"]
            assert credential.kid == report.kid_b64
    assert seen > 60
