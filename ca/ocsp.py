"""OCSP responder core: RFC 6960 requests in, signed responses out, pre-signed per RFC 5019.

:class:`OCSPResponder` answers for one issuing CA, through its delegated responder certificate
(RFC 6960 §4.2.2.2: issued by the CA, EKU ``id-kp-OCSPSigning``; ours also carry
``id-pkix-ocsp-nocheck``, §4.2.2.2.1). It is pure domain code: the status comes from a lookup
callable, pre-signed responses live in a :class:`core.cache.Cache`, and the HTTP routes
(``GET``/``POST /pki/ocsp/{ca}``) live in ``api/``. Decisions, with the clause behind each:

1. **One request per OCSPRequest.** RFC 5019 §2.1.1 has clients send exactly one ``Request``;
   RFC 6960 allows a list. A list is answered ``malformedRequest``: pre-signed responses are per
   certificate, and every client of note (browsers, ``openssl ocsp`` with one ``-cert``) sends one.
2. **A CertID of another issuer gets ``unauthorized``** (RFC 6960 §2.3, RFC 5019 §2.2.3: the
   responder cannot answer authoritatively), unsigned. A signed ``unknown`` would be useless to
   the client - our responder certificate is not authorised for that issuer - and would cost a
   signature per request. A CertID hash algorithm we do not know is ``unauthorized`` too.
3. **CertID hashes**: SHA-1 (RFC 5019 §2.1.1; ``openssl ocsp``'s default), SHA-256 (which
   RFC 9919, the successor of RFC 5019, recommends), SHA-224, SHA-384 and SHA-512. The
   response's CertID uses the request's algorithm: clients look their CertID up in the
   response including the algorithm (OpenSSL's ``OCSP_resp_find`` does).
4. **Nonce** (RFC 6960 §4.4.1 as replaced by RFC 9654 §2.1): echoed in the response, which is
   then signed fresh and never cached. A nonce of 0 or more than 128 octets is
   ``malformedRequest`` (RFC 9654 §2.1 MUST).
5. **Pre-signed responses** (RFC 5019 §2.2.4, §6): without a nonce the response for
   (issuer, CertID hash, serial) comes from the cache; it is signed on a miss and kept for
   ``refresh_after`` (default half the validity, never past nextUpdate), so a client always
   gets at least half a validity period. :meth:`OCSPResponder.on_status_change` drops the
   cached responses of a serial and re-signs at once, so a revocation is visible on the very
   next request. Each serial has a version token in the cache that is part of the response
   key: a worker that looked the status up *before* the revocation committed writes its
   (stale) response under the old token, which nobody reads any more.
6. **Times.** thisUpdate is ``now - this_update_skew`` (clients with a slow clock accept it),
   but never before the revocation time; nextUpdate is ``thisUpdate + validity``, never after
   the responder certificate expires. producedAt is stamped by cryptography with the system
   clock at signing time (its builder takes no producedAt); it is the only time here not taken
   from the injected clock, and it is the true signing time.
7. **Errors**: no exception leaves :meth:`OCSPResponder.respond`. Garbage, truncated, oversized
   (> 8 KiB) and multi-request input is ``malformedRequest``; a lookup or key backend that is
   down (an :class:`~core.errors.InfrastructureError`) is ``tryLater``; anything else, or a
   responder certificate outside its validity, is ``internalError`` (RFC 6960 §4.2.1).
8. **HTTP caching** (RFC 5019 §6.2): :func:`http_cache_headers` gives Cache-Control (max-age
   capped by ``http_max_age``, default 60 s, so a CDN shows a revocation within a minute),
   Last-Modified = thisUpdate, Expires = nextUpdate, ETag = SHA-256 of the response.

The contract for callers: after a certificate's status changes in storage *and the transaction
committed*, call :meth:`~OCSPResponder.on_status_change`; after a certificate is stored at
issuance, :meth:`~OCSPResponder.invalidate` (a CertID queried before issuance was ``unknown``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import format_datetime
from urllib.parse import unquote_to_bytes

from asn1crypto import keys  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca.errors import (
    InvalidOCSPConfiguration,
    InvalidRevocationStatus,
    MalformedOCSPRequest,
    UnsupportedOCSPRequest,
)
from ca.revocation import (
    MAX_SERIAL,
    CertStatus,
    RevocationReason,
    RevocationStatus,
    check_serial,
)
from ca.revocation import signing_hash_for as _signing_hash_for
from core.cache import Cache
from core.clock import Clock, require_aware
from core.errors import InfrastructureError, InvalidInput

__all__ = [
    "CONTENT_TYPE",
    "MAX_NONCE_BYTES",
    "MAX_REQUEST_BYTES",
    "PRESIGNED_HASHES",
    "OCSPQuery",
    "OCSPResponder",
    "StatusLookup",
    "decode_get_path",
    "http_cache_headers",
    "parse_request",
    "status_lookup_from",
]

log = logging.getLogger(__name__)

#: Larger requests are refused unparsed; an RFC 5019 request is about 80-120 bytes.
MAX_REQUEST_BYTES = 8 * 1024
#: RFC 9654 §2.1: a nonce is 1 to 128 octets.
MAX_NONCE_BYTES = 128
#: A GET path longer than base64 of MAX_REQUEST_BYTES with every character %-escaped is refused.
MAX_GET_PATH_CHARS = 3 * 4 * (MAX_REQUEST_BYTES // 3 + 1)
CONTENT_TYPE = "application/ocsp-response"
#: The CertID hash algorithms a status change re-signs for at once (RFC 5019 and modern clients).
PRESIGNED_HASHES = ("sha1", "sha256")

_CERTID_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


# RFC 6960 §4.2.1: an unsuccessful response has no responseBytes, so it is the same few bytes
# for everyone and costs no signature.
_MALFORMED = _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
_INTERNAL_ERROR = _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
_TRY_LATER = _unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
_UNAUTHORIZED = _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)


@dataclass(frozen=True, slots=True)
class OCSPQuery:
    """A well-formed single-certificate OCSP request (RFC 6960 §4.1.1, RFC 5019 §2.1.1)."""

    #: The CertID hash algorithm, by hashlib name (``sha1``, ``sha256``, ...).
    hash_algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    nonce: bytes | None


StatusLookup = Callable[[int], RevocationStatus]


def status_lookup_from(statuses: Mapping[int, RevocationStatus]) -> StatusLookup:
    """A lookup over a mapping of every serial the issuer issued; other serials are ``unknown``."""

    def lookup(serial: int) -> RevocationStatus:
        return statuses.get(serial, RevocationStatus.unknown())

    return lookup


def parse_request(der: bytes) -> OCSPQuery:
    """Read a DER OCSPRequest holding one Request (RFC 6960 §4.1.1).

    :raises MalformedOCSPRequest: not DER, not an OCSPRequest, trailing data, more than
        :data:`MAX_REQUEST_BYTES`, several Requests, or a nonce of 0 or > 128 octets.
    :raises UnsupportedOCSPRequest: the CertID uses a hash algorithm this responder lacks.
    """
    if not isinstance(der, bytes | bytearray | memoryview):
        raise MalformedOCSPRequest(f"an OCSP request must be bytes, got {type(der).__name__}")
    if len(der) > MAX_REQUEST_BYTES:
        raise MalformedOCSPRequest(
            f"the OCSP request has {len(der)} bytes; at most {MAX_REQUEST_BYTES} are accepted"
        )
    try:
        request = ocsp.load_der_ocsp_request(bytes(der))
    except NotImplementedError as exc:
        # cryptography reads one Request per OCSPRequest, as RFC 5019 §2.1.1 has clients send.
        raise MalformedOCSPRequest(
            "the OCSP request asks for several certificates; this responder answers one "
            "per request (RFC 5019 §2.1.1)"
        ) from exc
    except ValueError as exc:
        raise MalformedOCSPRequest("the body is not a DER OCSPRequest (RFC 6960 §4.1.1)") from exc
    try:
        algorithm = request.hash_algorithm
    except UnsupportedAlgorithm as exc:
        raise UnsupportedOCSPRequest("the CertID hash algorithm is not supported") from exc
    if algorithm.name not in _CERTID_HASHES:
        raise UnsupportedOCSPRequest(f"the CertID hash algorithm {algorithm.name} is not supported")
    try:
        extensions = request.extensions
        nonce_ext = extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        nonce = None
    except ValueError as exc:
        raise MalformedOCSPRequest("the OCSP request extensions cannot be decoded") from exc
    else:
        nonce = nonce_ext.value.nonce
        if not 1 <= len(nonce) <= MAX_NONCE_BYTES:
            raise MalformedOCSPRequest(
                f"the nonce has {len(nonce)} octets; RFC 9654 §2.1 allows 1 to {MAX_NONCE_BYTES}"
            )
    return OCSPQuery(
        hash_algorithm=algorithm.name,
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        serial=request.serial_number,
        nonce=nonce,
    )


def decode_get_path(path: str) -> bytes:
    """The DER request in an RFC 6960 Appendix A.1 GET path: ``url-encoding of base64 of DER``.

    ``path`` is everything after the responder URL and its ``/`` separator; it is not
    stripped, since base64 may itself start with ``/``. %-escapes are decoded first; then a
    space is read as ``+`` (clients that form-encode), the base64url letters ``-`` and ``_``
    as ``+`` and ``/``, and missing ``=`` padding is restored.

    :raises MalformedOCSPRequest: the path is too long or is not base64 after decoding.
    """
    if not isinstance(path, str):
        raise MalformedOCSPRequest(f"an OCSP GET path must be a string, got {type(path).__name__}")
    if len(path) > MAX_GET_PATH_CHARS:
        raise MalformedOCSPRequest(
            f"the OCSP GET path has {len(path)} characters; at most {MAX_GET_PATH_CHARS}"
        )
    try:
        text = unquote_to_bytes(path).decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedOCSPRequest("the OCSP GET path is not base64 (RFC 6960 §A.1)") from exc
    text = text.replace(" ", "+").replace("-", "+").replace("_", "/")
    text = "".join(text.split())
    text += "=" * (-len(text) % 4) if "=" not in text else ""
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedOCSPRequest("the OCSP GET path is not base64 (RFC 6960 §A.1)") from exc
    if not der:
        raise MalformedOCSPRequest("the OCSP GET path is empty")
    return der


def _key_hash_input(cert: x509.Certificate) -> bytes:
    # RFC 6960 §4.1.1: issuerKeyHash is the hash of the value of the subjectPublicKey BIT STRING
    # (without tag, length and unused-bits octet) of the issuer's certificate.
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return bytes(keys.PublicKeyInfo.load(spki)["public_key"].contents[1:])


class OCSPResponder:
    """Answers OCSP requests about certificates of ``issuer_cert``, signed by the responder.

    ``responder_cert`` is a delegated responder certificate issued by ``issuer_cert`` (or the
    issuer certificate itself, when the CA key signs responses directly); ``responder_key`` its
    private key, usually from a :class:`~hsm_adapters.base.KeyBackend`. ``status_of`` answers
    for one serial of this issuer; ``cache`` holds pre-signed responses (``None`` signs every
    response, for tests and tools).
    """

    def __init__(
        self,
        issuer_cert: x509.Certificate,
        responder_cert: x509.Certificate,
        responder_key: CertificateIssuerPrivateKeyTypes,
        *,
        clock: Clock,
        status_of: StatusLookup,
        cache: Cache | None,
        validity: dt.timedelta = dt.timedelta(hours=12),
        this_update_skew: dt.timedelta = dt.timedelta(minutes=5),
        refresh_after: dt.timedelta | None = None,
        http_max_age: dt.timedelta = dt.timedelta(seconds=60),
    ) -> None:
        refresh_after = validity / 2 if refresh_after is None else refresh_after
        if not dt.timedelta(0) <= this_update_skew < validity:
            raise InvalidOCSPConfiguration(
                "the response validity must be positive and longer than the thisUpdate skew"
            )
        if not dt.timedelta(seconds=1) <= refresh_after <= validity:
            raise InvalidOCSPConfiguration(
                "refresh_after must be between one second and the response validity"
            )
        if http_max_age < dt.timedelta(0):
            raise InvalidOCSPConfiguration("http_max_age must not be negative")
        self._delegated = responder_cert != issuer_cert
        _check_responder(issuer_cert, responder_cert, responder_key, delegated=self._delegated)
        try:
            self._signing_hash = _signing_hash_for(responder_key)
        except InvalidRevocationStatus as exc:
            raise InvalidOCSPConfiguration(str(exc)) from exc
        self._issuer = issuer_cert
        self._responder = responder_cert
        self._key = responder_key
        self._clock = clock
        self._status_of = status_of
        self._cache = cache
        self._validity = validity
        self._skew = this_update_skew
        self._refresh_after = refresh_after
        self._http_max_age = http_max_age
        name_der = issuer_cert.subject.public_bytes()
        key_bits = _key_hash_input(issuer_cert)
        #: hash name -> (issuerNameHash, issuerKeyHash) of our issuer.
        self._issuer_ids = {
            name: (hashlib.new(name, name_der).digest(), hashlib.new(name, key_bits).digest())
            for name in _CERTID_HASHES
        }
        # The cache namespace: the issuer's key and the responder certificate, so neither a
        # re-keyed CA nor a renewed (or replaced) responder certificate meets old entries.
        namespace = hashlib.sha256(key_bits + responder_cert.fingerprint(hashes.SHA256()))
        self._prefix = "ocsp:" + namespace.hexdigest()[:32]

    @property
    def issuer(self) -> x509.Certificate:
        return self._issuer

    @property
    def responder_certificate(self) -> x509.Certificate:
        return self._responder

    # --- answering ---------------------------------------------------------------------------

    def respond(self, request_der: bytes) -> bytes:
        """The DER OCSPResponse for a DER OCSPRequest (POST body); never raises."""
        try:
            query = parse_request(request_der)
        except UnsupportedOCSPRequest:
            return _UNAUTHORIZED
        except MalformedOCSPRequest:
            return _MALFORMED
        except Exception:  # the parser met input nobody foresaw: still the client's bytes
            log.exception("OCSP request parsing failed unexpectedly; answered malformedRequest")
            return _MALFORMED
        return self._answer(query)

    def respond_get(self, path: str) -> bytes:
        """The DER OCSPResponse for an RFC 6960 §A.1 GET path; never raises."""
        try:
            der = decode_get_path(path)
        except MalformedOCSPRequest:
            return _MALFORMED
        return self.respond(der)

    def http_headers(self, response_der: bytes) -> dict[str, str]:
        """RFC 5019 §6.2 HTTP headers for a response of this responder, as of now."""
        return http_cache_headers(response_der, at=self._clock.now(), max_age=self._http_max_age)

    def _answer(self, query: OCSPQuery) -> bytes:
        ids = self._issuer_ids.get(query.hash_algorithm)
        if ids is None or ids != (query.issuer_name_hash, query.issuer_key_hash):
            return _UNAUTHORIZED
        try:
            if query.nonce is not None:
                return self._sign(query.serial, query.hash_algorithm, query.nonce)[0]
            return self._cached(query.serial, query.hash_algorithm)
        except InfrastructureError as exc:
            log.warning("OCSP tryLater: a backend failed", extra={"error_code": exc.code})
            return _TRY_LATER
        except _ResponderNotValid:
            log.error("OCSP internalError: the responder certificate is not valid now")  # noqa: TRY400 - no traceback to show
            return _INTERNAL_ERROR
        except Exception:  # RFC 6960 §4.2.1 internalError: nothing may escape respond()
            log.exception("OCSP internalError while answering")
            return _INTERNAL_ERROR

    # --- the cache of pre-signed responses ----------------------------------------------------

    def _version_key(self, serial: int) -> str:
        return f"{self._prefix}:{serial:x}:v"

    def _response_key(self, serial: int, hash_name: str, token: str) -> str:
        return f"{self._prefix}:{serial:x}:{hash_name}:{token}"

    def _cached(self, serial: int, hash_name: str) -> bytes:
        cache = self._cache
        if cache is None:
            return self._sign(serial, hash_name, None)[0]
        try:
            raw = cache.get(self._version_key(serial))
            token = raw.decode("ascii") if raw else "0"
            key = self._response_key(serial, hash_name, token)
            hit = cache.get(key)
        except InfrastructureError as exc:
            # Serve a freshly signed response rather than fail; do not store it, because
            # without the version token we cannot know which key is current.
            log.warning("OCSP cache read failed; signing", extra={"error_code": exc.code})
            return self._sign(serial, hash_name, None)[0]
        if hit is not None:
            return hit
        der, ttl = self._sign(serial, hash_name, None)
        self._store(key, der, ttl)
        return der

    def _store(self, key: str, der: bytes, ttl: float) -> None:
        if self._cache is None or ttl < 1:
            return
        try:
            self._cache.set(key, der, ttl=ttl)
        except InfrastructureError as exc:
            log.warning("OCSP cache write failed", extra={"error_code": exc.code})

    def invalidate(self, serial: int) -> None:
        """Forget the pre-signed responses of ``serial``; the next request signs afresh.

        :raises core.cache.CacheError: the cache failed (the caller must retry: until the
            entries expire, the old status would still be served).
        :raises InvalidRevocationStatus: ``serial`` is not a certificate serial number.
        """
        check_serial(serial)
        cache = self._cache
        if cache is None:
            return
        version_key = self._version_key(serial)
        raw = cache.get(version_key)
        old = raw.decode("ascii") if raw else "0"
        for hash_name in _CERTID_HASHES:
            cache.delete(self._response_key(serial, hash_name, old))
        # Outlives every response stored under it (their ttl is at most the validity).
        cache.set(version_key, secrets.token_hex(8).encode(), ttl=2 * self._validity_seconds)

    def on_status_change(self, serial: int) -> None:
        """Invalidate ``serial`` and pre-sign its new responses (SHA-1 and SHA-256 CertIDs).

        Call after the status change committed. Pre-signing is best effort (the next request
        signs if it failed); the invalidation is not.

        :raises core.cache.CacheError: as :meth:`invalidate`.
        """
        self.invalidate(serial)
        for hash_name in PRESIGNED_HASHES:
            try:
                self._cached(serial, hash_name)
            except Exception:  # a failed pre-sign only costs the next request a signature
                log.warning("OCSP pre-signing failed after a status change", exc_info=True)
                return

    @property
    def _validity_seconds(self) -> float:
        return self._validity.total_seconds()

    # --- signing ------------------------------------------------------------------------------

    def _sign(self, serial: int, hash_name: str, nonce: bytes | None) -> tuple[bytes, float]:
        """A signed successful response, and how many seconds it may be served from a cache."""
        now = require_aware(self._clock.now()).replace(microsecond=0)
        responder = self._responder
        if not responder.not_valid_before_utc <= now <= responder.not_valid_after_utc:
            raise _ResponderNotValid
        status = self._status_of(serial) if 0 < serial <= MAX_SERIAL else RevocationStatus.unknown()
        if not isinstance(status, RevocationStatus):
            raise TypeError(f"status_of returned {type(status).__name__}, not RevocationStatus")
        this_update = now - self._skew
        revocation_time: dt.datetime | None = None
        revocation_reason: x509.ReasonFlags | None = None
        if status.status is CertStatus.REVOKED:
            assert status.revoked_at is not None and status.reason is not None
            revocation_time = status.revoked_at.replace(microsecond=0)
            # thisUpdate is when the status was known correct: never before the revocation.
            this_update = max(this_update, min(revocation_time, now))
            # RFC 5280 §5.3.1 (which RFC 6960 §4.2.1 reuses): omit the reason unspecified.
            if status.reason is not RevocationReason.UNSPECIFIED:
                revocation_reason = status.reason.flag
        next_update = min(this_update + self._validity, responder.not_valid_after_utc)
        name_hash, key_hash = self._issuer_ids[hash_name]
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=serial,
                algorithm=_CERTID_HASHES[hash_name](),
                cert_status=_OCSP_STATUS[status.status],
                this_update=this_update,
                next_update=next_update,
                revocation_time=revocation_time,
                revocation_reason=revocation_reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
        )
        if self._delegated:
            # RFC 6960 §4.2.2.2: the client needs the delegated certificate to verify.
            builder = builder.certificates([responder])
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(self._key, self._signing_hash)
        ttl = min(self._refresh_after, next_update - now).total_seconds()
        return response.public_bytes(serialization.Encoding.DER), ttl


class _ResponderNotValid(Exception):
    """The responder certificate is outside its validity period (answered internalError)."""


_OCSP_STATUS = {
    CertStatus.GOOD: ocsp.OCSPCertStatus.GOOD,
    CertStatus.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    CertStatus.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


def _check_responder(
    issuer_cert: x509.Certificate,
    responder_cert: x509.Certificate,
    responder_key: object,
    *,
    delegated: bool,
) -> None:
    public_key = getattr(responder_key, "public_key", None)
    if public_key is None or public_key() != responder_cert.public_key():
        raise InvalidOCSPConfiguration("the responder key does not match the responder certificate")
    if not delegated:
        return
    # RFC 6960 §4.2.2.2: a delegated responder certificate is issued directly by the CA and
    # carries id-kp-OCSPSigning in its extended key usage.
    try:
        responder_cert.verify_directly_issued_by(issuer_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise InvalidOCSPConfiguration(
            "the responder certificate is not issued by the issuer certificate"
        ) from exc
    try:
        eku = responder_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
        raise InvalidOCSPConfiguration(
            "the responder certificate lacks the OCSPSigning extended key usage (RFC 6960 §4.2.2.2)"
        )


def http_cache_headers(
    response_der: bytes, *, at: dt.datetime, max_age: dt.timedelta = dt.timedelta(seconds=60)
) -> dict[str, str]:
    """HTTP headers for serving ``response_der`` (RFC 5019 §6.2), as of ``at``.

    A successful response without a nonce is public and cacheable until the earlier of
    ``max_age`` and its nextUpdate; Last-Modified is its thisUpdate, Expires its nextUpdate,
    the ETag the SHA-256 of its bytes. An unsuccessful response, one with a nonce (it answers
    one client only) or an expired one is ``no-store``.
    """
    at = require_aware(at)
    if max_age < dt.timedelta(0):
        raise InvalidInput("max_age must not be negative")
    headers = {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"}
    try:
        response = ocsp.load_der_ocsp_response(bytes(response_der))
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return headers
        try:
            response.extensions.get_extension_for_class(x509.OCSPNonce)
        except x509.ExtensionNotFound:
            pass
        else:
            return headers
        this_update, next_update = response.this_update_utc, response.next_update_utc
    except ValueError:
        return headers
    if next_update is None or next_update <= at:
        return headers
    seconds = int(min(max_age, next_update - at).total_seconds())
    headers["Cache-Control"] = f"max-age={seconds}, public, no-transform, must-revalidate"
    headers["Last-Modified"] = format_datetime(this_update, usegmt=True)
    headers["Expires"] = format_datetime(next_update, usegmt=True)
    headers["ETag"] = '"' + hashlib.sha256(response_der).hexdigest() + '"'
    return headers
