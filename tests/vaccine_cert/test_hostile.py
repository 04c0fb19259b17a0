"""Hostile ``HC1:`` payloads: each gives a clear failed check, fast, and never an exception.

Named for the attack they stop. The property tests at the end feed random text and random
bytes into every layer of the decoder.
"""

from __future__ import annotations

import time
import tracemalloc
import zlib

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaccine_cert import (
    Check,
    DecodeStage,
    Outcome,
    ReasonCode,
    TrustedSigners,
    VerificationReport,
    verify,
)
from vaccine_cert.base45 import b45decode, b45encode
from vaccine_cert.errors import HcertDecodeError
from vaccine_cert.hcert import MAX_DECOMPRESSED_BYTES, MAX_PAYLOAD_CHARS, inflate_bounded

from .conftest import CHECKED, claims, kid_for, make_dsc, sign_cose, vaccination_dcc, wrap_hc1

HYPOTHESIS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def decode_failed_at(report: VerificationReport, stage: DecodeStage) -> None:
    assert not report.valid
    assert report.outcome(Check.DECODE) is Outcome.FAIL
    assert report.failed_stage is stage, report.reasons
    # Nothing else ran on a payload that did not decode.
    assert {report.outcome(c) for c in Check if c is not Check.DECODE} == {Outcome.SKIPPED}


def signed(
    key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, payload: bytes, **protected: object
) -> str:
    header = {1: -7, 4: kid_for(cert)}
    header.update({int(k.removeprefix("h")): v for k, v in protected.items()})
    return wrap_hc1(sign_cose(payload, key=key, protected=header))


@pytest.mark.parametrize(
    "text", ["HC2:NCFOXN%TS", "hc1:NCFOXN%TS", "HL0:NCFOXN%TS", "NCFOXN%TS", ""]
)
def test_wrong_context_prefix_is_refused(text: str, trusted: TrustedSigners) -> None:
    decode_failed_at(verify(text, trusted=trusted, at=CHECKED), DecodeStage.PREFIX)


def test_non_text_payload_is_a_failed_check_not_a_crash(
    credential: str, trusted: TrustedSigners
) -> None:
    report = verify(credential.encode(), trusted=trusted, at=CHECKED)  # type: ignore[arg-type]
    decode_failed_at(report, DecodeStage.PREFIX)


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 100, 300])
def test_truncated_payload_is_refused(credential: str, trusted: TrustedSigners, cut: int) -> None:
    report = verify(credential[:-cut], trusted=trusted, at=CHECKED)
    assert not report.valid
    assert report.outcome(Check.DECODE) is Outcome.FAIL


def test_any_altered_byte_of_the_cose_message_is_caught(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    cose = sign_cose(claims(vaccination_dcc()), key=ec_key, protected={1: -7, 4: kid_for(dsc)})
    for position in range(len(cose)):
        altered = bytearray(cose)
        altered[position] ^= 0x01
        report = verify(wrap_hc1(bytes(altered)), trusted=trusted, at=CHECKED)
        assert not report.valid, f"byte {position} altered and still valid"


def test_any_altered_character_of_the_text_is_caught(
    credential: str, trusted: TrustedSigners
) -> None:
    for position in range(4, len(credential), 7):
        replacement = "0" if credential[position] != "0" else "1"
        altered = credential[:position] + replacement + credential[position + 1 :]
        assert not verify(altered, trusted=trusted, at=CHECKED).valid


def zeros_compressed(size: int) -> bytes:
    deflater = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [deflater.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + deflater.flush()


def test_zip_bomb_of_100mb_is_refused_fast_with_bounded_memory(trusted: TrustedSigners) -> None:
    bomb = zeros_compressed(100 << 20)  # about 100 KB that inflate to 100 MB
    text = "HC1:" + b45encode(bomb)
    tracemalloc.start()
    started = time.perf_counter()
    report = verify(text, trusted=trusted, at=CHECKED)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not report.valid
    assert report.outcome(Check.DECODE) is Outcome.FAIL
    assert elapsed < 1.0
    assert peak < 2 * len(text) + (1 << 20)  # a copy of the input, never the 100 MB
    # The inflater on its own stops at the bound too.
    with pytest.raises(HcertDecodeError, match="zip bomb"):
        inflate_bounded(bomb, MAX_DECOMPRESSED_BYTES)


def test_zip_bomb_within_the_text_limit_stops_at_the_inflate_bound(trusted: TrustedSigners) -> None:
    text = "HC1:" + b45encode(zeros_compressed(8 << 20))
    assert len(text) <= MAX_PAYLOAD_CHARS  # so it is the zlib layer that refuses it
    tracemalloc.start()
    report = verify(text, trusted=trusted, at=CHECKED)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    decode_failed_at(report, DecodeStage.ZLIB)
    assert "zip bomb" in report.reasons[0]
    assert peak < 1 << 20


def test_uncompressed_payload_is_refused_as_the_vectors_require(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    cose = sign_cose(claims(vaccination_dcc()), key=ec_key, protected={1: -7, 4: kid_for(dsc)})
    decode_failed_at(
        verify(wrap_hc1(cose, compress=False), trusted=trusted, at=CHECKED), DecodeStage.ZLIB
    )


def test_bytes_after_the_zlib_stream_are_refused(credential: str, trusted: TrustedSigners) -> None:
    text = "HC1:" + b45encode(b45decode(credential[4:]) + b"\x00")
    decode_failed_at(verify(text, trusted=trusted, at=CHECKED), DecodeStage.ZLIB)


def test_deeply_nested_cbor_in_the_claims_is_refused(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    nested = b"\x81" * 1000 + b"\x00"  # 1,000 levels of one-element arrays
    payload = (
        b"\xa2" + b"\x18\x63" + nested + cbor2.dumps(-260)[0:] + cbor2.dumps({1: vaccination_dcc()})
    )
    report = verify(signed(ec_key, dsc, payload), trusted=trusted, at=CHECKED)
    decode_failed_at(report, DecodeStage.CWT)
    assert "depth" in report.reasons[0]


def test_deeply_nested_cbor_around_the_cose_message_is_refused(trusted: TrustedSigners) -> None:
    text = wrap_hc1(b"\x81" * 1000 + b"\x00")
    decode_failed_at(verify(text, trusted=trusted, at=CHECKED), DecodeStage.CBOR)


def test_array_claiming_four_billion_items_is_refused_at_once(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    payload = b"\xa1\x18\x63\x9a\xff\xff\xff\xff\x00"  # {99: array of 2^32 - 1 items, 1 present}
    started = time.perf_counter()
    report = verify(signed(ec_key, dsc, payload), trusted=trusted, at=CHECKED)
    assert time.perf_counter() - started < 0.5
    decode_failed_at(report, DecodeStage.CWT)


def test_dcc_with_thirty_thousand_entries_fails_schema_in_bounded_time(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    dcc = vaccination_dcc()
    dcc["v"] = [1] * 30_000
    started = time.perf_counter()
    report = verify(signed(ec_key, dsc, claims(dcc)), trusted=trusted, at=CHECKED)
    assert time.perf_counter() - started < 2.0
    assert report.outcome(Check.SCHEMA) is Outcome.FAIL
    assert not report.valid


@pytest.mark.parametrize(
    ("tagged", "what"),
    [
        (b"\xd8\x1c\x81\xd8\x1d\x00", "shared reference (cycle)"),
        (b"\xd8\x23\x65(a+)+", "regular expression"),
        (b"\xc1\x1a\x60\x00\x00\x00", "epoch date"),
        (b"\xd8\x64\x01", "days since epoch"),
        (b"\xc5\x82\x1b\x40\x00\x00\x00\x00\x00\x00\x00\x01", "huge bigfloat"),
        (b"\xc2\x41\x01", "bignum"),
    ],
)
def test_cbor_semantic_tags_are_not_interpreted(
    ec_key: ec.EllipticCurvePrivateKey,
    dsc: x509.Certificate,
    trusted: TrustedSigners,
    tagged: bytes,
    what: str,
) -> None:
    payload = b"\xa2\x18\x63" + tagged + cbor2.dumps(-260) + cbor2.dumps({1: vaccination_dcc()})
    report = verify(signed(ec_key, dsc, payload), trusted=trusted, at=CHECKED)
    decode_failed_at(report, DecodeStage.CWT)
    assert "not allowed" in report.reasons[0], what


def test_duplicate_header_labels_are_refused(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    # Two kids in one protected header: which one a verifier reads must not be a question.
    kid = kid_for(dsc)
    protected = b"\xa3\x01\x26\x04\x48" + kid + b"\x04\x48" + bytes(8)
    message = cbor2.CBORTag(18, [protected, {}, claims(vaccination_dcc()), bytes(64)])
    decode_failed_at(
        verify(wrap_hc1(cbor2.dumps(message)), trusted=trusted, at=CHECKED), DecodeStage.COSE
    )


def test_critical_header_parameters_are_refused(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    text = signed(ec_key, dsc, claims(vaccination_dcc()), h2=[99])
    decode_failed_at(verify(text, trusted=trusted, at=CHECKED), DecodeStage.COSE)


@pytest.mark.parametrize("alg", [-35, -8, -257, "ES256", None, True])
def test_unknown_algorithm_is_refused(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners, alg: object
) -> None:
    report = verify(
        signed(ec_key, dsc, claims(vaccination_dcc()), h1=alg), trusted=trusted, at=CHECKED
    )
    assert report.codes(Check.SIGNATURE) == {ReasonCode.ALGORITHM_UNSUPPORTED}
    assert "ES256 (-7), PS256 (-37)" in report.reasons[0]


def test_kid_without_a_trusted_signer_is_refused(
    credential: str, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    stranger = make_dsc(ec.generate_private_key(ec.SECP256R1()), common_name="someone else")
    report = verify(credential, trusted=[stranger], at=CHECKED)
    assert report.codes(Check.SIGNATURE) == {ReasonCode.SIGNER_UNKNOWN}
    assert report.reasons[0].startswith("signature: no trusted signer with kid ")
    assert report.kid_b64 is not None and report.kid_b64 in report.reasons[0]


@pytest.mark.parametrize("kid", [bytes(7), bytes(9), "abcdefgh", 12345678])
def test_kid_of_the_wrong_size_or_type_is_refused(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners, kid: object
) -> None:
    report = verify(
        signed(ec_key, dsc, claims(vaccination_dcc()), h4=kid), trusted=trusted, at=CHECKED
    )
    assert report.codes(Check.SIGNATURE) == {ReasonCode.KID_MALFORMED}


def test_der_encoded_or_overlong_es256_signature_is_refused_not_crashed(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    # CO24: an ECDSA signature longer than 70 bytes must fail cleanly.
    good = cbor2.loads(
        sign_cose(claims(vaccination_dcc()), key=ec_key, protected={1: -7, 4: kid_for(dsc)})
    )
    for signature in (good.value[3] + bytes(8), bytes(72), b""):
        message = cbor2.CBORTag(18, [*good.value[:3], signature])
        report = verify(wrap_hc1(cbor2.dumps(message)), trusted=trusted, at=CHECKED)
        assert report.codes(Check.SIGNATURE) == {ReasonCode.SIGNATURE_INVALID}


@pytest.mark.parametrize(
    "dcc_cbor",
    [
        b"\xa1\x01\x63abc",  # integer key
        b"\xa1\x63ver\x43abc",  # byte string value
        b"\xa1\x63ver\xf7",  # undefined
        b"\xa1\x63ver\xf9\x7e\x00",  # NaN
        b"\x43abc",  # not a map at all (CBO1)
    ],
)
def test_dcc_that_is_not_plain_json_is_refused(
    ec_key: ec.EllipticCurvePrivateKey,
    dsc: x509.Certificate,
    trusted: TrustedSigners,
    dcc_cbor: bytes,
) -> None:
    payload = b"\xa1" + cbor2.dumps(-260) + b"\xa1\x01" + dcc_cbor
    decode_failed_at(
        verify(signed(ec_key, dsc, payload), trusted=trusted, at=CHECKED), DecodeStage.CWT
    )


# --- property tests: random input into every layer --------------------------------------------


def never_raises_and_never_valid(text: str, trusted: TrustedSigners) -> VerificationReport:
    report = verify(text, trusted=trusted, at=CHECKED)
    assert not report.valid
    report.as_dict()  # and the report always renders
    return report


@HYPOTHESIS
@given(st.text(max_size=600))
def test_random_text_after_the_prefix(trusted: TrustedSigners, text: str) -> None:
    never_raises_and_never_valid("HC1:" + text, trusted)


@HYPOTHESIS
@given(st.binary(max_size=600))
def test_random_bytes_into_zlib(trusted: TrustedSigners, data: bytes) -> None:
    report = never_raises_and_never_valid("HC1:" + b45encode(data), trusted)
    assert report.outcome(Check.DECODE) is Outcome.FAIL


@HYPOTHESIS
@given(st.binary(max_size=600))
def test_random_bytes_into_cbor(trusted: TrustedSigners, data: bytes) -> None:
    report = never_raises_and_never_valid(wrap_hc1(data), trusted)
    assert report.outcome(Check.DECODE) is Outcome.FAIL


@HYPOTHESIS
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_random_bytes_into_cose_headers_and_payload(
    trusted: TrustedSigners, protected: bytes, payload: bytes
) -> None:
    message = cbor2.CBORTag(18, [protected, {}, payload, bytes(64)])
    never_raises_and_never_valid(wrap_hc1(cbor2.dumps(message)), trusted)


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=5)
    ),
    max_leaves=30,
)


@HYPOTHESIS
@given(json_like)
def test_random_cbor_values_as_the_dcc(
    ec_key: ec.EllipticCurvePrivateKey,
    dsc: x509.Certificate,
    trusted: TrustedSigners,
    value: object,
) -> None:
    payload = cbor2.dumps({-260: {1: value}, 6: 0, 4: 1})
    report = verify(signed(ec_key, dsc, payload), trusted=trusted, at=CHECKED)
    assert not report.valid  # expired in 1970, whatever else
    report.as_dict(include_dcc=True)


@pytest.mark.parametrize("exp", [10**15, 2.0**70])
def test_expiry_beyond_any_calendar_is_a_clear_failure(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners, exp: float
) -> None:
    payload = cbor2.dumps({-260: {1: vaccination_dcc()}, 6: 1_700_000_000, 4: exp})
    report = verify(signed(ec_key, dsc, payload), trusted=trusted, at=CHECKED)
    assert not report.valid
    assert report.codes(Check.EXPIRY) == {ReasonCode.CLAIM_INVALID}
