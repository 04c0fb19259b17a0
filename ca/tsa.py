"""RFC 3161 time-stamping authority: TimeStampReq in, TimeStampResp out.

:class:`TimeStampAuthority` answers one request at a time (RFC 3161 §2.4). It is pure domain
code: the HTTP route (``POST /tsa``, ``application/timestamp-query``) lives in ``api/``.

* Requests (§2.4.1) - version 1; the messageImprint must use SHA-256, SHA-384 or SHA-512 with a
  digest of the right length; a ``reqPolicy`` must be ours; a nonce is echoed; ``certReq`` puts
  the TSA certificate (and the configured chain) in the token; extensions are not supported.
* Responses (§2.4.2) - a refused request is answered in the protocol's own form: a
  TimeStampResp with status ``rejection``, a ``failInfo`` bit and a short statusString.
  Garbage, truncated and oversized (> 64 KiB) requests get ``badDataFormat``; no exception
  escapes :meth:`TimeStampAuthority.respond` for any input bytes.
* Tokens (§2.4.2, RFC 5652 §5) - a CMS SignedData over a TSTInfo (eContentType id-ct-TSTInfo)
  with the signed attributes contentType, messageDigest, signingTime and the ESS
  signingCertificateV2 (RFC 5816 §2.2.1: SHA-256 of the TSA certificate plus issuerSerial). The
  signature is made over the DER of the signed attributes as a SET OF (RFC 5652 §5.4) by the
  signing key's ``sign()``, which may run in an HSM: ECDSA (SHA-256/384/512 by curve), RSA
  PKCS#1 v1.5 (default) or PSS with SHA-256, or Ed25519 (RFC 8419: SHA-512 message digest;
  OpenSSL 3.0 cannot verify Ed25519 CMS signatures, so prefer ECDSA for a public TSA).
* The TSA certificate (§2.3) must carry exactly one critical extended key usage,
  id-kp-timeStamping, and digitalSignature if it has a key usage at all; the constructor
  refuses any other certificate, and any key that does not match it.

asn1crypto builds the ASN.1 here because cryptography has no CMS-signing or TSP API (STYLE.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from asn1crypto import algos, cms, core, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca.errors import InvalidTSAConfiguration
from core.clock import Clock, require_aware
from core.errors import NatIDError

__all__ = [
    "MAX_REQUEST_BYTES",
    "FailureInfo",
    "RsaPadding",
    "TSASigningKey",
    "TimeStampAuthority",
    "TimeStampResp",
    "random_serial",
]

log = logging.getLogger(__name__)

#: Requests larger than this are refused unparsed (a real TimeStampReq is about 60-100 bytes).
MAX_REQUEST_BYTES = 64 * 1024

TSASigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

#: Accepted messageImprint hash algorithms: OID -> (asn1crypto name, digest length).
_IMPRINT_ALGORITHMS = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
# RFC 5754 §2: SHA-2 AlgorithmIdentifiers are generated with absent parameters.
_DIGEST_DER = {
    name: bytes(algos.DigestAlgorithm({"algorithm": name, "parameters": None}).dump())
    for name in _HASHES
}
# RFC 3161 §2.4.2: "TSA users MUST be ready to accommodate integers up to 160 bits".
_MAX_SERIAL = 2**160


class FailureInfo(StrEnum):
    """PKIFailureInfo bits a TSA may set (RFC 3161 §2.4.2), in the RFC's spelling."""

    BAD_ALG = "badAlg"
    BAD_REQUEST = "badRequest"
    BAD_DATA_FORMAT = "badDataFormat"
    TIME_NOT_AVAILABLE = "timeNotAvailable"
    UNACCEPTED_POLICY = "unacceptedPolicy"
    UNACCEPTED_EXTENSION = "unacceptedExtension"
    ADD_INFO_NOT_AVAILABLE = "addInfoNotAvailable"
    SYSTEM_FAILURE = "systemFailure"


# asn1crypto's names for the same bits (asn1crypto.tsp.PKIFailureInfo).
_ASN1_FAILURE = {
    FailureInfo.BAD_ALG: "bad_alg",
    FailureInfo.BAD_REQUEST: "bad_request",
    FailureInfo.BAD_DATA_FORMAT: "bad_data_format",
    FailureInfo.TIME_NOT_AVAILABLE: "time_not_available",
    FailureInfo.UNACCEPTED_POLICY: "unaccepted_policy",
    FailureInfo.UNACCEPTED_EXTENSION: "unaccepted_extensions",
    FailureInfo.ADD_INFO_NOT_AVAILABLE: "add_info_not_available",
    FailureInfo.SYSTEM_FAILURE: "system_failure",
}


class TimeStampResp(core.Sequence):  # type: ignore[misc]
    """TimeStampResp (RFC 3161 §2.4.2) with ``timeStampToken`` OPTIONAL, as the RFC has it.

    asn1crypto's ``tsp.TimeStampResp`` marks the token mandatory, so it cannot encode (or
    read back) a rejection; this spec is the RFC's.
    """

    _fields = [  # noqa: RUF012 - asn1crypto's declarative spec
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class RsaPadding(StrEnum):
    """Signature padding for an RSA TSA key.

    PKCS#1 v1.5 is the default because ``openssl ts -verify`` (OpenSSL 3.0, the relying
    parties' stock tool) checks tokens with its PKCS#7 code, which cannot verify RSA-PSS;
    PSS tokens pass ``openssl cms -verify`` and other CMS verifiers.
    """

    PSS = "pss"
    PKCS1V15 = "pkcs1v15"


def random_serial() -> int:
    """A positive random serial number of at most 159 bits (unique with overwhelming odds)."""
    return secrets.randbits(159) + 1


class _Rejection(Exception):
    def __init__(self, failure: FailureInfo, text: str) -> None:
        super().__init__(text)
        self.failure = failure
        self.text = text


@dataclass(frozen=True, slots=True)
class _Request:
    imprint: tsp.MessageImprint
    nonce: int | None
    cert_req: bool


@dataclass(frozen=True, slots=True)
class _Signer:
    digest: str
    algorithm_der: bytes
    sign: Callable[[bytes], bytes]

    @property
    def digest_der(self) -> bytes:
        return _DIGEST_DER[self.digest]


class TimeStampAuthority:
    """Answers RFC 3161 time-stamp requests with tokens signed by the TSA key."""

    def __init__(
        self,
        signing_key: TSASigningKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        *,
        policy_oid: str,
        clock: Clock,
        accuracy: dt.timedelta | None = dt.timedelta(seconds=1),
        serials: Callable[[], int] = random_serial,
        rsa_padding: RsaPadding = RsaPadding.PKCS1V15,
    ) -> None:
        _check_certificate(signing_key, certificate)
        try:
            x509.ObjectIdentifier(policy_oid)
        except (ValueError, TypeError) as exc:
            raise InvalidTSAConfiguration(
                f"the TSA policy must be a dotted OID such as 2.999.1.3, got {policy_oid!r}"
            ) from exc
        if accuracy is not None and accuracy <= dt.timedelta(0):
            raise InvalidTSAConfiguration("the TSA accuracy must be positive (or None)")
        self._certificate = certificate
        self._policy = policy_oid
        self._clock = clock
        self._accuracy = accuracy
        self._serials = serials
        self._signer = _signer_for(signing_key, rsa_padding)
        # The parts that are the same in every token are encoded once, here: asn1crypto
        # re-encodes objects built from Python values on every dump, which would cost
        # milliseconds per token; objects loaded from DER are copied as bytes.
        cert_der = certificate.public_bytes(serialization.Encoding.DER)
        asn1_cert = asn1_x509.Certificate.load(cert_der)
        self._cert_ders = [cert_der] + [c.public_bytes(serialization.Encoding.DER) for c in chain]
        self._tsa_name_der = asn1_x509.GeneralName(
            name="directory_name", value=asn1_cert.subject
        ).dump()
        self._sid_der = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number},
        ).dump()
        ess = {
            "certs": [
                {
                    # hashAlgorithm defaults to SHA-256 and is omitted (DER).
                    "cert_hash": hashlib.sha256(cert_der).digest(),
                    "issuer_serial": {
                        "issuer": [
                            asn1_x509.GeneralName(name="directory_name", value=asn1_cert.issuer)
                        ],
                        "serial_number": asn1_cert.serial_number,
                    },
                }
            ]
        }
        self._ess_attr_der = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [ess]}
        ).dump()

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    @property
    def policy_oid(self) -> str:
        return self._policy

    def respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp for ``request_der``; never raises for bad input.

        A well-formed request gets a token (status ``granted``); anything else a rejection
        with the RFC 3161 failInfo bit that says why.
        """
        try:
            request = self._parse(request_der)
            return self._grant(request)
        except _Rejection as rejection:
            return _rejection(rejection.failure, rejection.text)

    # --- request -----------------------------------------------------------------------------

    def _parse(self, data: object) -> _Request:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise _Rejection(FailureInfo.BAD_DATA_FORMAT, "the request must be DER bytes")
        raw = bytes(data)
        if len(raw) > MAX_REQUEST_BYTES:
            raise _Rejection(
                FailureInfo.BAD_DATA_FORMAT,
                f"the request is {len(raw)} bytes; at most {MAX_REQUEST_BYTES} are accepted",
            )
        try:
            req = tsp.TimeStampReq.load(raw, strict=True)
            # asn1crypto parses lazily; .native walks every field, so malformed inner values
            # fail here and not halfway through building the response.
            req.native  # noqa: B018
            version = req["version"].native
            imprint = req["message_imprint"]
            oid = imprint["hash_algorithm"]["algorithm"].dotted
            has_params = imprint["hash_algorithm"]["parameters"].native is not None
            digest = imprint["hashed_message"].native
            policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            extensions = req["extensions"].native
            # Re-load the imprint from its own encoding so the token echoes it byte for byte.
            imprint_copy = tsp.MessageImprint.load(imprint.dump())
        except Exception as exc:  # asn1crypto raises assorted builtins on hostile input
            raise _Rejection(
                FailureInfo.BAD_DATA_FORMAT, "the request is not a DER TimeStampReq"
            ) from exc
        # §2.4.1: "version ... v1".
        if version != "v1":
            raise _Rejection(FailureInfo.BAD_REQUEST, "only TimeStampReq version 1 is supported")
        accepted = _IMPRINT_ALGORITHMS.get(oid)
        # RFC 5754 §2: SHA-2 parameters are absent or NULL; anything else is not SHA-2.
        if accepted is None or has_params:
            raise _Rejection(
                FailureInfo.BAD_ALG,
                f"hash algorithm {oid} is not accepted; use SHA-256, SHA-384 or SHA-512",
            )
        if len(digest) != accepted[1]:
            raise _Rejection(
                FailureInfo.BAD_DATA_FORMAT,
                f"the {accepted[0]} message imprint must be {accepted[1]} bytes, got {len(digest)}",
            )
        # §2.4.1: reqPolicy, if present, names the policy the TSA must use.
        if policy is not None and policy != self._policy:
            raise _Rejection(
                FailureInfo.UNACCEPTED_POLICY,
                f"policy {policy} is not offered; this TSA uses {self._policy}",
            )
        # §2.4.1: an extension the TSA does not recognise gets unacceptedExtension; NatID's
        # TSA recognises none.
        if extensions:
            raise _Rejection(
                FailureInfo.UNACCEPTED_EXTENSION, "request extensions are not supported"
            )
        return _Request(imprint=imprint_copy, nonce=nonce, cert_req=cert_req)

    # --- response ----------------------------------------------------------------------------

    def _grant(self, request: _Request) -> bytes:
        try:
            gen_time = require_aware(self._clock.now(), "the clock's time")
            serial = self._serials()
        except NatIDError as exc:
            log.warning("time-stamp refused: no time or serial", extra={"error_code": exc.code})
            raise _Rejection(FailureInfo.SYSTEM_FAILURE, "the TSA cannot serve now") from exc
        if not isinstance(serial, int) or not 0 < serial < _MAX_SERIAL:
            log.error("time-stamp refused: the serial source returned an invalid serial")
            raise _Rejection(FailureInfo.SYSTEM_FAILURE, "the TSA cannot serve now")
        cert = self._certificate
        if not cert.not_valid_before_utc <= gen_time <= cert.not_valid_after_utc:
            log.error("time-stamp refused: the TSA certificate is not valid at this time")
            raise _Rejection(
                FailureInfo.SYSTEM_FAILURE, "the TSA certificate is not valid at this time"
            )
        tst_info = self._tst_info(request, serial, gen_time)
        try:
            token = self._sign(tst_info, gen_time, include_certs=request.cert_req)
        except NatIDError as exc:
            # The key backend (an HSM, perhaps) failed: the protocol's answer is systemFailure.
            log.warning("time-stamp refused: signing failed", extra={"error_code": exc.code})
            raise _Rejection(FailureInfo.SYSTEM_FAILURE, "the TSA cannot sign now") from exc
        response = TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
        return bytes(response.dump())

    def _tst_info(self, request: _Request, serial: int, gen_time: dt.datetime) -> tsp.TSTInfo:
        # §2.4.2 TSTInfo. ordering stays at its DEFAULT FALSE and is therefore omitted (DER).
        fields: dict[str, Any] = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": request.imprint,
            "serial_number": serial,
            # GeneralizedTime with the clock's microseconds, trailing zeros dropped (§2.4.2).
            "gen_time": gen_time,
            "tsa": asn1_x509.GeneralName.load(self._tsa_name_der),
        }
        if self._accuracy is not None:
            fields["accuracy"] = _accuracy(self._accuracy)
        if request.nonce is not None:
            fields["nonce"] = request.nonce
        return tsp.TSTInfo(fields)

    def _sign(
        self, tst_info: tsp.TSTInfo, gen_time: dt.datetime, *, include_certs: bool
    ) -> cms.ContentInfo:
        signer = self._signer
        message_digest = hashlib.new(signer.digest, tst_info.dump()).digest()
        # RFC 5652 §11.3: signingTime is UTCTime for 1950-2049, GeneralizedTime otherwise.
        signing_time = gen_time.replace(microsecond=0)
        time_kind = "utc_time" if 1950 <= signing_time.year < 2050 else "generalized_time"
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time(name=time_kind, value=signing_time)]},
                {"type": "message_digest", "values": [message_digest]},
                cms.CMSAttribute.load(self._ess_attr_der),
            ]
        )
        # RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF (tag 0x31),
        # not their [0] IMPLICIT form in SignerInfo. asn1crypto sorts SET OF members (DER).
        signature = signer.sign(signed_attrs.dump())
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier.load(self._sid_der),
                "digest_algorithm": algos.DigestAlgorithm.load(signer.digest_der),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm.load(signer.algorithm_der),
                "signature": signature,
            }
        )
        signed_data: dict[str, Any] = {
            # RFC 5652 §5.1: version 3 because the eContentType is not id-data.
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm.load(signer.digest_der)],
            "encap_content_info": {"content_type": "tst_info", "content": tst_info},
            "signer_infos": [signer_info],
        }
        if include_certs:
            # §2.4.1: with certReq the TSA certificate named by the ESS attribute MUST be in
            # the token; the configured chain helps verifiers build the path.
            signed_data["certificates"] = [
                asn1_x509.Certificate.load(der) for der in self._cert_ders
            ]
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


# --- helpers ---------------------------------------------------------------------------------


def _rejection(failure: FailureInfo, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [text],
            "fail_info": {_ASN1_FAILURE[failure]},
        }
    )
    return bytes(TimeStampResp({"status": status}).dump())


def _accuracy(value: dt.timedelta) -> dict[str, int]:
    # Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] 1..999 OPTIONAL,
    # micros [1] 1..999 OPTIONAL } (§2.4.2); absent parts are zero.
    total = value // dt.timedelta(microseconds=1)
    seconds, rest = divmod(total, 1_000_000)
    millis, micros = divmod(rest, 1000)
    out: dict[str, int] = {}
    if seconds:
        out["seconds"] = seconds
    if millis:
        out["millis"] = millis
    if micros:
        out["micros"] = micros
    return out


def _check_certificate(key: object, certificate: x509.Certificate) -> None:
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise InvalidTSAConfiguration(
            f"the TSA key must be an EC, RSA or Ed25519 private key, got {type(key).__name__}"
        )
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != certificate.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise InvalidTSAConfiguration("the TSA key does not match the TSA certificate")
    # RFC 3161 §2.3: exactly one extended key usage, id-kp-timeStamping, marked critical.
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise InvalidTSAConfiguration(
            "the TSA certificate has no extended key usage; RFC 3161 requires a critical "
            "timeStamping EKU"
        ) from exc
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise InvalidTSAConfiguration(
            "the TSA certificate's extended key usage must be timeStamping only, marked critical"
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise InvalidTSAConfiguration("the TSA certificate's key usage lacks digitalSignature")


def _signer_for(key: TSASigningKey, rsa_padding: RsaPadding) -> _Signer:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # The hash matches the curve's strength (RFC 5753 §7.1.1, NIST SP 800-57).
        digest = {256: "sha256", 384: "sha384"}.get(key.curve.key_size, "sha512")
        ec_hash = _HASHES[digest]
        return _Signer(
            digest=digest,
            algorithm_der=algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"}).dump(),
            sign=lambda data: key.sign(data, ec.ECDSA(ec_hash)),
        )
    if isinstance(key, rsa.RSAPrivateKey):
        if rsa_padding is RsaPadding.PSS:
            # RFC 4056: RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            params = {
                "hash_algorithm": {"algorithm": "sha256"},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
                "salt_length": 32,
            }
            return _Signer(
                digest="sha256",
                algorithm_der=algos.SignedDigestAlgorithm(
                    {"algorithm": "rsassa_pss", "parameters": params}
                ).dump(),
                sign=lambda data: key.sign(data, pss, hashes.SHA256()),
            )
        return _Signer(
            digest="sha256",
            algorithm_der=algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}).dump(),
            sign=lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256()),
        )
    # RFC 8419 §3: with signed attributes, Ed25519 uses SHA-512 for the message digest.
    return _Signer(
        digest="sha512",
        algorithm_der=algos.SignedDigestAlgorithm({"algorithm": "ed25519"}).dump(),
        sign=key.sign,
    )
