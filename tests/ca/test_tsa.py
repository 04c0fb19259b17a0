"""RFC 3161 time-stamping (ca/tsa.py), checked with `openssl ts` as a relying party would."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca.errors import InvalidTSAConfiguration
from ca.tsa import MAX_REQUEST_BYTES, RsaPadding, TimeStampAuthority, TimeStampResp
from core.clock import FixedClock
from core.errors import InfrastructureError
from tests.conftest import require_command

POLICY = "2.999.1.3"
NOW = dt.datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)
DATA = "ការបោះត្រា time-stamped document\n".encode()

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


# --- a test PKI: root CA -> TSA certificate ----------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NatID Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


ROOT_KEY = ec.generate_private_key(ec.SECP384R1())
ROOT = (
    x509.CertificateBuilder()
    .subject_name(_name("NatID Test Root CA"))
    .issuer_name(_name("NatID Test Root CA"))
    .public_key(ROOT_KEY.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(NOW - dt.timedelta(days=30))
    .not_valid_after(NOW + dt.timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .add_extension(
        x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
    )
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(ROOT_KEY.public_key()), critical=False)
    .sign(ROOT_KEY, hashes.SHA384())
)


def make_tsa_cert(
    key: Key,
    *,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
    not_after: dt.datetime = NOW + dt.timedelta(days=365),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("NatID Test TSA"))
        .issuer_name(ROOT.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ROOT_KEY.public_key()),
            critical=False,
        )
    )
    if eku is None:
        eku = [ExtendedKeyUsageOID.TIME_STAMPING]
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(ROOT_KEY, hashes.SHA384())


KEYS: dict[str, Callable[[], Key]] = {
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-pkcs1v15": lambda: rsa.generate_private_key(65537, 2048),
    "rsa-pss": lambda: rsa.generate_private_key(65537, 2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def make_tsa(kind: str = "ec-p256", **kwargs: Any) -> TimeStampAuthority:
    key = KEYS[kind]()
    padding_ = RsaPadding.PSS if kind == "rsa-pss" else RsaPadding.PKCS1V15
    kwargs.setdefault("clock", FixedClock(NOW))
    return TimeStampAuthority(
        key, make_tsa_cert(key), [], policy_oid=POLICY, rsa_padding=padding_, **kwargs
    )


TSA = make_tsa()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("data.txt", "root.pem", "tsa.pem")}
    paths["data.txt"].write_bytes(DATA)
    paths["root.pem"].write_bytes(ROOT.public_bytes(serialization.Encoding.PEM))
    return paths


def write_tsa_cert(files: dict[str, Path], tsa: TimeStampAuthority) -> None:
    files["tsa.pem"].write_bytes(tsa.certificate.public_bytes(serialization.Encoding.PEM))


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = require_command("openssl")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=False)


def openssl_query(files: dict[str, Path], *options: str) -> bytes:
    out = files["data.txt"].with_name("req.tsq")
    result = openssl("ts", "-query", "-data", files["data.txt"], *options, "-out", out)
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def stamp(files: dict[str, Path], tsa: TimeStampAuthority, request: bytes) -> Path:
    out = files["data.txt"].with_name("resp.tsr")
    out.write_bytes(tsa.respond(request))
    return out


def openssl_verify(files: dict[str, Path], response: Path, *, untrusted: bool) -> str:
    extra = ["-untrusted", str(files["tsa.pem"])] if untrusted else []
    result = openssl(
        "ts", "-verify", "-data", files["data.txt"], "-in", response,
        "-CAfile", files["root.pem"], *extra,
    )  # fmt: skip
    return result.stdout + result.stderr


def parse(response: bytes) -> TimeStampResp:
    """Load a TimeStampResp, raising if the status or the TSTInfo is malformed."""
    resp = TimeStampResp.load(response, strict=True)
    resp["status"].native  # noqa: B018 - parses the field, raising if it is malformed
    if not isinstance(resp["time_stamp_token"], core.Void):
        tst_info(resp).native  # noqa: B018
    return resp


def tst_info(resp: TimeStampResp) -> tsp.TSTInfo:
    content = resp["time_stamp_token"]["content"]["encap_content_info"]["content"]
    return content.parsed


def failure(response: bytes) -> set[str]:
    status = parse(response)["status"]
    assert status["status"].native == "rejection"
    assert status["status_string"].native  # a readable reason
    return set(status["fail_info"].native)


def request(hash_name: str = "sha256", **fields: Any) -> bytes:
    digest = fields.pop("digest", None) or hashlib.new(hash_name, DATA).digest()
    req = tsp.TimeStampReq(
        {
            "version": fields.pop("version", "v1"),
            "message_imprint": {
                "hash_algorithm": {"algorithm": hash_name},
                "hashed_message": digest,
            },
            **fields,
        }
    )
    return bytes(req.dump())


# --- openssl accepts the tokens ----------------------------------------------------------------


@pytest.mark.tool
@pytest.mark.parametrize("hash_option", ["-sha256", "-sha384", "-sha512"])
@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no-nonce"])
@pytest.mark.parametrize("cert_req", [True, False], ids=["cert", "no-cert"])
def test_openssl_ts_verify_accepts_the_token(
    files: dict[str, Path], hash_option: str, nonce: bool, cert_req: bool
) -> None:
    write_tsa_cert(files, TSA)
    options = [hash_option] + ([] if nonce else ["-no_nonce"]) + (["-cert"] if cert_req else [])
    response = stamp(files, TSA, openssl_query(files, *options))
    text = openssl("ts", "-reply", "-in", response, "-text").stdout
    assert "Status: Granted." in text
    assert ("Nonce: 0x" in text) is nonce
    # Without certReq the token carries no certificate and openssl needs it from -untrusted.
    assert "Verification: OK" in openssl_verify(files, response, untrusted=not cert_req)
    if not cert_req:
        assert "Verification: OK" not in openssl_verify(files, response, untrusted=False)


@pytest.mark.tool
@pytest.mark.parametrize("kind", ["ec-p384", "rsa-pkcs1v15"])
def test_openssl_ts_verify_accepts_other_tsa_key_types(files: dict[str, Path], kind: str) -> None:
    tsa = make_tsa(kind)
    write_tsa_cert(files, tsa)
    response = stamp(files, tsa, openssl_query(files, "-sha256", "-cert"))
    assert "Verification: OK" in openssl_verify(files, response, untrusted=False)


def _verify_signer(response: bytes, public_key: Any) -> None:
    """An independent CMS check: messageDigest over the TSTInfo, signature over the attrs."""
    signed_data = parse(response)["time_stamp_token"]["content"]
    signer = signed_data["signer_infos"][0]
    digest_name = signer["digest_algorithm"]["algorithm"].native
    content = signed_data["encap_content_info"]["content"].contents
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attrs["message_digest"].native == hashlib.new(digest_name, content).digest()
    # RFC 5652 §5.4: the signature covers the attributes re-tagged as a SET OF.
    signed = b"\x31" + signer["signed_attrs"].dump()[1:]
    signature = signer["signature"].native
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, signed)
    else:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public_key.verify(signature, signed, pss, hashes.SHA256())


@pytest.mark.tool
def test_rsa_pss_token_verifies_with_openssl_cms(files: dict[str, Path]) -> None:
    # openssl ts -verify (OpenSSL 3.0) uses PKCS#7 code without PSS; its CMS code has PSS.
    tsa = make_tsa("rsa-pss")
    response = stamp(files, tsa, openssl_query(files, "-sha256", "-cert"))
    token = files["data.txt"].with_name("token.der")
    assert openssl("ts", "-reply", "-in", response, "-token_out", "-out", token).returncode == 0
    result = openssl(
        "cms", "-verify", "-inform", "DER", "-in", token, "-CAfile", files["root.pem"],
        "-purpose", "timestampsign", "-out", files["data.txt"].with_name("tst.der"),
    )  # fmt: skip
    assert "Verification successful" in result.stderr
    _verify_signer(response.read_bytes(), tsa.certificate.public_key())


def test_ed25519_token_signature_verifies() -> None:
    # OpenSSL 3.0 can neither make nor check Ed25519 CMS signatures, so check it ourselves.
    tsa = make_tsa("ed25519")
    response = tsa.respond(request(nonce=7, cert_req=True))
    signer = parse(response)["time_stamp_token"]["content"]["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == "sha512"  # RFC 8419 §3
    _verify_signer(response, tsa.certificate.public_key())
    with pytest.raises(InvalidSignature):
        _verify_signer(response, ed25519.Ed25519PrivateKey.generate().public_key())


@pytest.mark.tool
def test_modified_document_fails_verification(files: dict[str, Path]) -> None:
    write_tsa_cert(files, TSA)
    response = stamp(files, TSA, openssl_query(files, "-sha256", "-cert"))
    files["data.txt"].write_bytes(DATA + b"one more line\n")
    output = openssl_verify(files, response, untrusted=True)
    assert "Verification: OK" not in output
    assert "message imprint mismatch" in output


@pytest.mark.tool
def test_reply_text_shows_microsecond_time_accuracy_policy_and_tsa_name(
    files: dict[str, Path],
) -> None:
    response = stamp(files, TSA, openssl_query(files, "-sha384", "-cert"))
    text = openssl("ts", "-reply", "-in", response, "-text").stdout
    assert "Time stamp: Nov  1 09:00:00.123456 2026 GMT" in text
    assert "Accuracy: 0x01 seconds" in text
    assert f"Policy OID: {POLICY}" in text
    assert "Ordering: no" in text
    assert "TSA: DirName:/C=KH/O=NatID Test/CN=NatID Test TSA" in text


# --- token contents ----------------------------------------------------------------------------


def test_nonce_is_echoed_and_token_names_the_tsa_certificate() -> None:
    nonce = 0x1234_5678_9ABC_DEF0_1122
    resp = parse(TSA.respond(request("sha512", nonce=nonce, cert_req=True)))
    info = tst_info(resp)
    assert info["nonce"].native == nonce
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha512(DATA).digest()
    assert info["gen_time"].native == NOW
    assert info["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    signed_data = resp["time_stamp_token"]["content"]
    assert signed_data["version"].native == "v3"
    cert_der = TSA.certificate.public_bytes(serialization.Encoding.DER)
    assert [c.dump() for c in signed_data["certificates"]] == [cert_der]
    attrs = {
        a["type"].native: a["values"][0] for a in signed_data["signer_infos"][0]["signed_attrs"]
    }
    assert attrs["content_type"].native == "tst_info"
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(cert_der).digest()  # RFC 5816, SHA-256
    assert ess["issuer_serial"]["serial_number"].native == TSA.certificate.serial_number


def test_without_cert_req_the_token_carries_no_certificate() -> None:
    resp = parse(TSA.respond(request(cert_req=False)))
    assert tst_info(resp)["nonce"].native is None
    assert not resp["time_stamp_token"]["content"]["certificates"]


def test_serials_are_unique_over_1000_responses() -> None:
    req = request(nonce=1)
    serials = {tst_info(parse(TSA.respond(req)))["serial_number"].native for _ in range(1000)}
    assert len(serials) == 1000
    assert all(0 < s < 2**160 for s in serials)


def test_injected_serial_source_is_used() -> None:
    counter = iter(range(1, 10))
    tsa = make_tsa(serials=lambda: next(counter))
    assert [tst_info(parse(tsa.respond(request())))["serial_number"].native for _ in range(3)] == [
        1,
        2,
        3,
    ]


# --- refusals in the protocol's own form -------------------------------------------------------


@pytest.mark.tool
def test_sha1_imprint_from_openssl_is_rejected_with_bad_alg(files: dict[str, Path]) -> None:
    response = stamp(files, TSA, openssl_query(files, "-sha1"))
    assert failure(response.read_bytes()) == {"bad_alg"}
    text = openssl("ts", "-reply", "-in", response, "-text").stdout
    assert "Status: Rejected." in text
    assert "unrecognized or unsupported algorithm" in text


@pytest.mark.parametrize("weak", ["md5", "sha1", "sha224", "sha3_256"])
def test_weak_or_unknown_hash_algorithms_are_rejected_with_bad_alg(weak: str) -> None:
    size = {"md5": 16, "sha1": 20, "sha224": 28, "sha3_256": 32}[weak]
    assert failure(TSA.respond(request(weak, digest=b"\x01" * size))) == {"bad_alg"}


@pytest.mark.tool
def test_foreign_policy_is_rejected_with_unaccepted_policy(files: dict[str, Path]) -> None:
    response = stamp(files, TSA, openssl_query(files, "-sha256", "-tspolicy", "1.2.3.4"))
    assert failure(response.read_bytes()) == {"unaccepted_policy"}
    ours = stamp(files, TSA, openssl_query(files, "-sha256", "-tspolicy", POLICY))
    assert parse(ours.read_bytes())["status"]["status"].native == "granted"


def test_request_extensions_are_rejected_with_unaccepted_extension() -> None:
    ext = {"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}
    assert failure(TSA.respond(request(extensions=[ext]))) == {"unaccepted_extensions"}


def test_imprint_of_the_wrong_length_is_rejected() -> None:
    assert failure(TSA.respond(request("sha256", digest=b"\x00" * 20))) == {"bad_data_format"}


def test_unknown_request_version_is_rejected() -> None:
    assert failure(TSA.respond(request(version=2))) == {"bad_request"}


def test_truncated_requests_are_rejected_not_crashed() -> None:
    valid = request(nonce=99, cert_req=True)
    for cut in range(len(valid)):
        assert failure(TSA.respond(valid[:cut])) == {"bad_data_format"}


def test_oversized_request_is_rejected_unparsed() -> None:
    assert failure(TSA.respond(request() + b"\x00" * MAX_REQUEST_BYTES)) == {"bad_data_format"}
    assert failure(TSA.respond(b"\x30" * (MAX_REQUEST_BYTES + 1))) == {"bad_data_format"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_get_a_parseable_rejection(data: bytes) -> None:
    resp = parse(TSA.respond(data))
    assert resp["status"]["status"].native in {"rejection", "granted"}
    if resp["status"]["status"].native == "rejection":
        assert resp["status"]["fail_info"].native


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_requests_never_raise(data: st.DataObject) -> None:
    valid = bytearray(request(nonce=5, cert_req=True))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(valid) - 1))
        valid[position] = data.draw(st.integers(min_value=0, max_value=255))
    parse(TSA.respond(bytes(valid)))


def test_non_bytes_input_is_rejected() -> None:
    assert failure(TSA.respond("not bytes")) == {"bad_data_format"}  # type: ignore[arg-type]


# --- the TSA itself ----------------------------------------------------------------------------


class HsmStyleKey(ec.EllipticCurvePrivateKey):
    """A key whose private half is out of reach, like a KeyBackend's; sign() may fail."""

    def __init__(self) -> None:
        self._inner = ec.generate_private_key(ec.SECP256R1())
        self.broken = False

    def sign(self, data: bytes, signature_algorithm: Any) -> bytes:
        if self.broken:
            raise InfrastructureError("the HSM is unreachable")
        return self._inner.sign(data, signature_algorithm)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._inner.public_key()

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._inner.curve

    @property
    def key_size(self) -> int:
        return self._inner.key_size

    def exchange(self, *args: Any) -> bytes:
        raise NotImplementedError

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise NotImplementedError("the key never leaves the HSM")

    def private_bytes(self, *args: Any) -> bytes:
        raise NotImplementedError("the key never leaves the HSM")

    def __copy__(self) -> HsmStyleKey:
        return self

    def __deepcopy__(self, memo: Any) -> HsmStyleKey:
        return self


@pytest.mark.tool
def test_hsm_key_signs_tokens_and_its_failure_is_a_system_failure(files: dict[str, Path]) -> None:
    key = HsmStyleKey()
    tsa = TimeStampAuthority(
        key, make_tsa_cert(key), [ROOT], policy_oid=POLICY, clock=FixedClock(NOW)
    )
    write_tsa_cert(files, tsa)
    response = stamp(files, tsa, openssl_query(files, "-sha256", "-cert"))
    assert "Verification: OK" in openssl_verify(files, response, untrusted=False)
    key.broken = True
    assert failure(tsa.respond(request())) == {"system_failure"}


def test_expired_tsa_certificate_gets_a_system_failure_not_a_token() -> None:
    clock = FixedClock(NOW)
    tsa = make_tsa(clock=clock)
    clock.advance(dt.timedelta(days=400))
    assert failure(tsa.respond(request())) == {"system_failure"}


@pytest.mark.parametrize(
    "cert_options",
    [
        {"eku_critical": False},
        {"eku": [ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING]},
        {"eku": [ExtendedKeyUsageOID.SERVER_AUTH]},
        {"eku": []},
    ],
    ids=["eku-not-critical", "extra-purpose", "wrong-purpose", "no-eku"],
)
def test_certificate_without_sole_critical_timestamping_eku_is_refused(
    cert_options: dict[str, Any],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidTSAConfiguration):
        TimeStampAuthority(
            key, make_tsa_cert(key, **cert_options), [], policy_oid=POLICY, clock=FixedClock(NOW)
        )


def test_key_not_matching_the_certificate_is_refused() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidTSAConfiguration):
        TimeStampAuthority(other, make_tsa_cert(key), [], policy_oid=POLICY, clock=FixedClock(NOW))


@pytest.mark.parametrize("policy", ["", "not.an.oid", "1"])
def test_malformed_policy_oid_is_refused(policy: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidTSAConfiguration):
        TimeStampAuthority(key, make_tsa_cert(key), [], policy_oid=policy, clock=FixedClock(NOW))


def test_signature_algorithms_match_the_key() -> None:
    expected = {
        "ec-p256": ("sha256", "sha256_ecdsa"),
        "ec-p384": ("sha384", "sha384_ecdsa"),
        "rsa-pkcs1v15": ("sha256", "sha256_rsa"),
        "rsa-pss": ("sha256", "rsassa_pss"),
        "ed25519": ("sha512", "ed25519"),
    }
    for kind, (digest, signature) in expected.items():
        signer = parse(make_tsa(kind).respond(request()))["time_stamp_token"]["content"][
            "signer_infos"
        ][0]
        assert signer["digest_algorithm"]["algorithm"].native == digest
        assert signer["signature_algorithm"]["algorithm"].native == signature
