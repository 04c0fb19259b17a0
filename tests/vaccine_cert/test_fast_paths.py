"""The verifier's fast paths give exactly what the general code gives, or step aside.

Each shortcut taken for speed (the common COSE envelope read by hand, the Sig_structure written
out directly, the DCC's JSON text from orjson, CPython's own SHA-256 for revocation hashes, the
remembered EC key check, the usual kid/alg headers and integer dates settled inline) is compared
with the general path it stands in for, on the shapes it handles and on the ones it must leave
alone.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from vaccine_cert.base45 import b45encode
from vaccine_cert.checks import check_signature, signature_headers
from vaccine_cert.cose import (
    _ENVELOPE_TAGS,
    HEADER_ALG,
    CoseAlgorithm,
    CoseSign1,
    _common_envelope,
    _der_signature,
    _is_ec_key,
    loads_bounded,
    parse_cose_sign1,
    sig_structure,
    verify_signature,
)
from vaccine_cert.errors import DecodeStage, HcertDecodeError
from vaccine_cert.hcert import DecodedHcert, _as_json, _as_json_exact, _numeric_date, decode_hc1
from vaccine_cert.report import Finding, ReasonCode, RevocationQuery
from vaccine_cert.revocation import (
    HashType,
    RevocationList,
    _sha256_16,
    country_uci_hash,
    signature_hash,
    uci_hash,
)
from vaccine_cert.trust import TrustedSigners


def _general(data: bytes) -> CoseSign1:
    """parse_cose_sign1 as it reads a message when the common shape does not apply."""
    item = loads_bounded(data, tags=_ENVELOPE_TAGS, stage=DecodeStage.CBOR)
    while isinstance(item, cbor2.CBORTag):
        item = item.value
    protected, unprotected, payload, signature = item
    return CoseSign1(protected, {}, unprotected, payload, signature)


@pytest.mark.parametrize("wrap", ["untagged", "tag18", "tag61+18"])
@pytest.mark.parametrize("payload_size", [0, 23, 24, 255, 256, 2000])
def test_common_envelope_reads_what_cbor2_reads(wrap: str, payload_size: int) -> None:
    message = [cbor2.dumps({1: -7, 4: b"12345678"}), {}, b"p" * payload_size, b"s" * 64]
    item: Any = message
    if wrap != "untagged":
        item = cbor2.CBORTag(18, item)
    if wrap == "tag61+18":
        item = cbor2.CBORTag(61, item)
    data = cbor2.dumps(item)
    assert _common_envelope(data) is not None
    fast, general = parse_cose_sign1(data), _general(data)
    assert (fast.protected_bytes, fast.payload, fast.signature) == (
        general.protected_bytes,
        general.payload,
        general.signature,
    )
    assert dict(fast.unprotected) == general.unprotected == {}
    assert dict(fast.protected) == {1: -7, 4: b"12345678"}


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("unprotected kid", cbor2.dumps([b"\xa1\x01\x26", {4: b"12345678"}, b"p", b"s"])),
        ("indefinite payload", b"\x84\x43\xa1\x01\x26\xa0\x5f\x41p\xff\x41s"),
        ("trailing byte", cbor2.dumps([b"", {}, b"p", b"s"]) + b"\x00"),
        ("truncated", cbor2.dumps([b"", {}, b"p" * 30, b"s"])[:-2]),
        ("other tag", cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"p", b"s"]))),
        ("five items", cbor2.dumps([b"", {}, b"p", b"s", b"x"])),
        ("text payload", cbor2.dumps([b"", {}, "p", b"s"])),
    ],
)
def test_any_other_envelope_is_left_to_the_general_decoder(
    name: str, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _common_envelope(data) is None

    def outcome() -> Any:
        try:
            message = parse_cose_sign1(data)
        except HcertDecodeError as exc:
            return exc.stage, exc.message
        return message.protected_bytes, dict(message.unprotected), message.payload

    with_fast_path = outcome()
    monkeypatch.setattr("vaccine_cert.cose._common_envelope", lambda _data: None)
    assert with_fast_path == outcome()


@given(protected=st.binary(max_size=300), payload=st.binary(max_size=70_000))
@settings(max_examples=60, deadline=None)
def test_sig_structure_is_what_cbor2_encodes(protected: bytes, payload: bytes) -> None:
    message = CoseSign1(protected, {}, {}, payload, b"")
    assert sig_structure(message) == cbor2.dumps(["Signature1", protected, b"", payload])


json_text = st.text(max_size=12)
dcc_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | json_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=12,
)


def _exact(dcc: dict[str, Any]) -> str | type[HcertDecodeError]:
    try:
        return _as_json_exact(dcc)
    except HcertDecodeError:
        return HcertDecodeError


@given(dcc=st.dictionaries(json_text, dcc_like, max_size=5))
@settings(max_examples=400, deadline=None)
def test_dcc_json_text_agrees_with_the_exact_path(dcc: dict[str, Any]) -> None:
    expected = _exact(dcc)
    if not isinstance(expected, str):
        with pytest.raises(HcertDecodeError):
            _as_json(dcc)
    else:
        # The same JSON value; float spelling may differ (orjson writes 1e16, json 1e+16).
        assert json.loads(_as_json(dcc)) == json.loads(expected)


@pytest.mark.parametrize(
    "dcc",
    [
        {"nam": {1: "Sok"}},
        {"v": [{"dn": float("nan")}]},
        {"v": [{"dn": float("inf")}]},
        {"x": b"bytes"},
        {"x": cbor2.undefined},
        {"x": cbor2.CBORSimpleValue(99)},
    ],
)
def test_what_json_does_not_have_fails_decoding(dcc: dict[str, Any]) -> None:
    with pytest.raises(HcertDecodeError) as caught:
        _as_json(dcc)
    assert caught.value.stage is DecodeStage.CWT


def test_integers_beyond_64_bits_are_written_as_json_writes_them() -> None:
    assert _as_json({"n": -(2**64)}) == '{"n":-18446744073709551616}'
    assert _as_json({"n": None, "s": "null"}) == '{"n":null,"s":"null"}'


_EDGE_HALVES = [bytes(32), b"\x00" * 31 + b"\x01", b"\x7f" + b"\xff" * 31, b"\x80" + bytes(31),
                b"\x00\x80" + bytes(30), b"\xff" * 32]  # fmt: skip


@given(r=st.binary(min_size=32, max_size=32) | st.sampled_from(_EDGE_HALVES),
       s=st.binary(min_size=32, max_size=32) | st.sampled_from(_EDGE_HALVES))  # fmt: skip
@settings(max_examples=300)
def test_es256_signature_is_written_in_der_as_cryptography_writes_it(r: bytes, s: bytes) -> None:
    expected = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    assert _der_signature(r + s) == expected


def _revoked_list(kind: HashType, value: bytes) -> RevocationList:
    return RevocationList([(b"k" * 8, kind, value)])


@pytest.mark.parametrize(
    ("kind", "value", "listed_by"),
    [
        (HashType.SIGNATURE, signature_hash(b"r" * 32 + b"s" * 32), "SIGNATURE"),
        (HashType.UCI, uci_hash("URN:UVCI:01:KH:Ü1"), "UCI"),
        (HashType.COUNTRYCODEUCI, country_uci_hash("KH", "URN:UVCI:01:KH:Ü1"), "COUNTRYCODEUCI"),
        (HashType.UCI, uci_hash("URN:UVCI:01:KH:other"), None),
    ],
)
def test_revocation_probes_each_published_hash(
    kind: HashType, value: bytes, listed_by: str | None
) -> None:
    query = RevocationQuery(
        kid=b"k" * 8,
        issuer_country="KH",
        uvci="URN:UVCI:01:KH:Ü1",
        certificate_type=None,
        signature=b"r" * 32 + b"s" * 32,
    )
    answer = _revoked_list(kind, value)(query)
    if listed_by is None:
        assert answer is None
    else:
        assert answer == f"revoked by its issuer (listed by {listed_by} hash)"
    other_signer = RevocationQuery(
        kid=b"x" * 8,
        issuer_country="KH",
        uvci="URN:UVCI:01:KH:Ü1",
        certificate_type=None,
        signature=b"r" * 32 + b"s" * 32,
    )
    assert _revoked_list(kind, value)(other_signer) is None


@pytest.mark.parametrize("data", [b"", b"URN:UVCI:01:KH:BENCH00000001#1", "Ü".encode() * 40])
def test_revocation_hashes_are_sha256_as_hashlib_computes_it(data: bytes) -> None:
    # The revocation module hashes with CPython's own SHA-256 module (cheaper per call).
    expected = hashlib.sha256(data).digest()[:16]
    assert _sha256_16(data) == expected
    assert uci_hash(data.decode()) == expected
    assert (
        signature_hash(data) == hashlib.sha256(data[:32] if len(data) == 64 else data).digest()[:16]
    )


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        ec.generate_private_key(ec.SECP384R1()).public_key(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
        object(),
    ],
    ids=["p256", "p384", "rsa", "object"],
)
def test_remembered_ec_key_check_agrees_with_isinstance(key: Any) -> None:
    expected = isinstance(key, ec.EllipticCurvePublicKey)
    assert _is_ec_key(key) is expected
    assert _is_ec_key(key) is expected  # the second time from the remembered classes
    message = CoseSign1(b"", {}, {}, b"payload", b"s" * 64)
    problem = verify_signature(message, CoseAlgorithm.ES256, key)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        assert problem == "signature does not verify"
    else:
        assert problem == "algorithm ES256 needs a P-256 signer key"


class _Bytes(bytes):
    pass


@pytest.mark.parametrize(
    ("kid", "alg"),
    [
        (b"12345678", -7),
        (b"12345678", -37),
        (b"12345678", -8),
        (b"12345678", True),
        (b"12345678", -7.0),
        (b"12345678", None),
        (b"1234567", -7),
        (b"123456789", -7),
        (_Bytes(b"12345678"), -7),
        ("12345678", -7),
        (None, -7),
    ],
)
def test_usual_signature_headers_agree_with_the_general_check(kid: Any, alg: Any) -> None:
    decoded = DecodedHcert(
        cose=CoseSign1(b"", {HEADER_ALG: alg}, {}, b"", b""),
        issuer=None,
        issued_at=None,
        expires_at=None,
        dcc_json="{}",
        dcc={},
    )
    general = signature_headers(kid, alg)
    expected = general.code if isinstance(general, Finding) else ReasonCode.SIGNER_UNKNOWN
    found = check_signature(decoded, kid, TrustedSigners([]), [])
    assert isinstance(found, Finding)
    assert found.code is expected


@pytest.mark.parametrize(
    "value", [1_790_000_000, -5, 2**40, 1.5, float("nan"), float("inf"), True, "1790000000"]
)
def test_integer_dates_take_the_short_way_to_the_same_result(value: Any) -> None:
    payload = cbor2.dumps({1: "KH", 6: value, 4: value, -260: {1: {"ver": "1.3.0"}}})
    cose = cbor2.dumps(cbor2.CBORTag(18, [b"\xa1\x01\x26", {}, payload, b"s" * 64]))
    text = "HC1:" + b45encode(zlib.compress(cose, 9))
    try:
        expected: Any = _numeric_date({6: value}, 6, "iat")
    except HcertDecodeError as exc:
        with pytest.raises(HcertDecodeError) as caught:
            decode_hc1(text)
        assert (caught.value.stage, caught.value.message) == (exc.stage, exc.message)
    else:
        decoded = decode_hc1(text)
        assert decoded.issued_at == expected
        assert type(decoded.issued_at) is type(expected)
