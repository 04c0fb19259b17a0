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
5. **Pre-signed responses, correct across processes** (RFC 5019 §2.2.4, §6). The status is
   looked up on *every* request (an indexed read, ``CAService.status_of``), before the cache,
   and the cache key of a pre-signed response is (issuer key, responder certificate, serial,
   CertID hash, *fingerprint of the status*: good / unknown / revoked with its time and
   reason). A revocation committed by another process (``natid ca revoke`` beside
   ``natid serve``, another worker, another node) therefore changes the key on the very next
   request: it misses the cache and is signed afresh, even when this process's cache was never
   told (ARCHITECTURE.md: "Nothing may keep state in a worker's memory that another worker
   needs"). Without a nonce, a hit costs one lookup and one cache read and no signature; a
   miss signs and keeps the response for ``refresh_after`` (default half the validity, never
   past nextUpdate), so a client always gets at least half a validity period.
   :meth:`OCSPResponder.on_status_change` (called in the process that changed the status)
   pre-signs the new responses at once, so even the first request after a revocation is a hit.
   A worker that looked the status up just *before* a revocation committed stores its (stale)
   response under the old status's key, which no request reads while the status is the new
   one; should a held certificate be released, the ``good`` entry it finds again is as true as
   a fresh one. This replaced a per-serial version token in the cache, which only protected
   processes sharing that cache.
6. **Times.** thisUpdate is ``now - this_update_skew`` (clients with a slow clock accept it),
   but never before the revocation time; nextUpdate is ``thisUpdate + validity``, never after
   the responder certificate expires. producedAt is stamped by cryptography with the system
   clock at signing time (its builder takes no producedAt); it is the only time here not taken
   from the injected clock, and it is the true signing time.
7. **Errors**: no exception leaves :meth:`OCSPResponder.respond`. Garbage, truncated, oversized
   (> 8 KiB) and multi-request input is ``malformedRequest``; a lookup or key backend that is
   down (an :class:`~core.errors.InfrastructureError`) is ``tryLater``; anything else, or a
   responder certificate outside its validity, is ``internalError`` (RFC 6960 §4.2.1).
8. **HTTP caching** (RFC 5019 §6.2): :meth:`OCSPResponder.answer` gives a
   :class:`~ca.ocsp_http.PreparedResponse`, the DER with what Cache-Control (max-age capped by
   ``http_max_age``, default 60 s, so a CDN shows a revocation within a minute),
   Last-Modified = thisUpdate, Expires = nextUpdate and ETag = SHA-256 need, computed once
   when the response is signed (or read from a shared cache), not per request.
9. **Per-process layers, for speed only** (issue 3's OCSP-over-HTTP goal). Parsed requests
   without a nonce are remembered by their bytes (the same client asks with the same bytes;
   parsing cost more than the status read), and pre-signed responses are kept in this process
   in front of the shared cache under the *same* key as there, status fingerprint included.
   Both are bounded (``local_entries``). Neither can hold a stale answer: the status is still
   read from storage on every request (decision 5) and picks the key; a local copy expires
   like the shared one (``refresh_after``), and one taken from the shared cache never lives
   past the point where less than ``validity - refresh_after`` of it remains. With several
   workers each may sign its own copy once; none needs another's (ARCHITECTURE.md, "Scale").
   :meth:`OCSPResponder.answer_cached` is the non-blocking subset of :meth:`~OCSPResponder.answer`
   for a caller on an event loop whose status lookup does not block (ca/ocsp_service.py).

The contract for callers: ``status_of`` must read committed storage (never a copy kept in
memory); after a certificate's status changes *and the transaction committed*, calling
:meth:`~OCSPResponder.on_status_change` is an optimisation (pre-signing), not a condition of
correctness. Issuance needs no call: an ``unknown`` CertID becomes ``good``, another key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping

from asn1crypto import keys  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
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
from ca.ocsp_http import CONTENT_TYPE, BoundedMap, PreparedResponse, http_cache_headers
from ca.ocsp_request import (
    MAX_GET_PATH_CHARS,
    MAX_NONCE_BYTES,
    MAX_REQUEST_BYTES,
    OCSPQuery,
    decode_get_path,
    parse_request,
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
from core.errors import InfrastructureError

__all__ = [
    "CONTENT_TYPE",
    "MAX_GET_PATH_CHARS",
    "MAX_NONCE_BYTES",
    "MAX_REQUEST_BYTES",
    "PRESIGNED_HASHES",
    "OCSPQuery",
    "OCSPResponder",
    "PreparedResponse",
    "StatusLookup",
    "decode_get_path",
    "http_cache_headers",
    "parse_request",
    "status_lookup_from",
]

log = logging.getLogger(__name__)

#: The CertID hash algorithms a status change re-signs for at once (RFC 5019 and modern clients).
PRESIGNED_HASHES = ("sha1", "sha256")

_CERTID_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> PreparedResponse:
    return PreparedResponse.uncacheable(
        ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)
    )


# RFC 6960 §4.2.1: an unsuccessful response has no responseBytes, so it is the same few bytes
# for everyone and costs no signature.
_MALFORMED = _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
_INTERNAL_ERROR = _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
_TRY_LATER = _unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
_UNAUTHORIZED = _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)


StatusLookup = Callable[[int], RevocationStatus]


def status_lookup_from(statuses: Mapping[int, RevocationStatus]) -> StatusLookup:
    """A lookup over a mapping of every serial the issuer issued; other serials are ``unknown``."""

    def lookup(serial: int) -> RevocationStatus:
        return statuses.get(serial, RevocationStatus.unknown())

    return lookup


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
        local_entries: int = 50_000,
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
        if local_entries < 0:
            raise InvalidOCSPConfiguration("local_entries must not be negative")
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
        self._keep_at_least = (validity - refresh_after).total_seconds()
        # Decision 9: parsed requests and pre-signed responses kept in this process.
        self._queries: BoundedMap[bytes | str, OCSPQuery] = BoundedMap(local_entries)
        self._local: BoundedMap[str, tuple[PreparedResponse, float]] = BoundedMap(local_entries)
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
        return self.answer(request_der).der

    def respond_get(self, path: str) -> bytes:
        """The DER OCSPResponse for an RFC 6960 §A.1 GET path; never raises."""
        return self.answer_get(path).der

    def answer(self, request_der: bytes) -> PreparedResponse:
        """As :meth:`respond`, with what the RFC 5019 §6.2 headers need; never raises."""
        query = self._query(request_der)
        if isinstance(query, PreparedResponse):
            return query
        return self._answer(query)

    def answer_get(self, path: str) -> PreparedResponse:
        """As :meth:`respond_get`, with what the RFC 5019 §6.2 headers need; never raises."""
        query = self._query_get(path)
        if isinstance(query, PreparedResponse):
            return query
        return self._answer(query)

    def answer_cached(self, request: bytes | str, *, get: bool) -> PreparedResponse | None:
        """The answer if it needs no signature and no shared cache, else ``None``.

        ``request`` is a POST body or (``get=True``) a GET path. The status is still read
        (decision 5): call this only where ``status_of`` may run, e.g. on an event loop when
        the lookup is a local SQLite read. ``None`` (a nonce, a miss of this process's layer,
        a failing lookup) means: call :meth:`answer` / :meth:`answer_get` where blocking is
        fine. Never raises.
        """
        try:
            query = self._query_get(request) if get else self._query(request)  # type: ignore[arg-type]
            if isinstance(query, PreparedResponse):
                return query
            if query.nonce is not None or self._cache is None:
                return None
            ids = self._issuer_ids.get(query.hash_algorithm)
            if ids is None or ids != (query.issuer_name_hash, query.issuer_key_hash):
                return _UNAUTHORIZED
            status = self._lookup(query.serial)
            return self._local_hit(self._response_key(query.serial, query.hash_algorithm, status))
        except Exception:  # noqa: BLE001 - the full path answers, and logs, whatever this met
            return None

    def http_headers(self, response_der: bytes) -> dict[str, str]:
        """RFC 5019 §6.2 HTTP headers for a response of this responder, as of now."""
        return http_cache_headers(response_der, at=self._clock.now(), max_age=self._http_max_age)

    @property
    def http_max_age(self) -> dt.timedelta:
        return self._http_max_age

    def _query(self, request_der: bytes) -> OCSPQuery | PreparedResponse:
        """The parsed request (remembered when it has no nonce), or the unsuccessful answer."""
        try:
            known = self._queries.get(request_der)
        except TypeError:  # not hashable (bytearray): parse_request says what it is
            known = None
        if known is not None:
            return known
        try:
            query = parse_request(request_der)
        except UnsupportedOCSPRequest:
            return _UNAUTHORIZED
        except MalformedOCSPRequest:
            return _MALFORMED
        except Exception:  # the parser met input nobody foresaw: still the client's bytes
            log.exception("OCSP request parsing failed unexpectedly; answered malformedRequest")
            return _MALFORMED
        if query.nonce is None and isinstance(request_der, bytes):
            self._queries.put(request_der, query)
        return query

    def _query_get(self, path: str) -> OCSPQuery | PreparedResponse:
        known = self._queries.get(path) if isinstance(path, str) else None
        if known is not None:
            return known
        try:
            der = decode_get_path(path)
        except MalformedOCSPRequest:
            return _MALFORMED
        query = self._query(der)
        if isinstance(query, OCSPQuery) and query.nonce is None:
            self._queries.put(path, query)
        return query

    def _answer(self, query: OCSPQuery) -> PreparedResponse:
        ids = self._issuer_ids.get(query.hash_algorithm)
        if ids is None or ids != (query.issuer_name_hash, query.issuer_key_hash):
            return _UNAUTHORIZED
        try:
            if query.nonce is not None:
                status = self._lookup(query.serial)
                return self._sign(query.serial, query.hash_algorithm, status, query.nonce)[0]
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

    def _lookup(self, serial: int) -> RevocationStatus:
        """The status storage has for ``serial`` now (a serial out of range is ``unknown``)."""
        if not 0 < serial <= MAX_SERIAL:
            return RevocationStatus.unknown()
        status = self._status_of(serial)
        if not isinstance(status, RevocationStatus):
            raise TypeError(f"status_of returned {type(status).__name__}, not RevocationStatus")
        return status

    # --- the caches of pre-signed responses ---------------------------------------------------

    def _response_key(self, serial: int, hash_name: str, status: RevocationStatus) -> str:
        return f"{self._prefix}:{serial:x}:{hash_name}:{_fingerprint(status)}"

    def _local_hit(self, key: str) -> PreparedResponse | None:
        entry = self._local.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock.now().timestamp():
            self._local.pop(key)
            return None
        return entry[0]

    def _cached(self, serial: int, hash_name: str) -> PreparedResponse:
        """The pre-signed response for the status storage has now; signed on a miss."""
        status = self._lookup(serial)
        cache = self._cache
        if cache is None:
            return self._sign(serial, hash_name, status, None)[0]
        key = self._response_key(serial, hash_name, status)
        local = self._local_hit(key)
        if local is not None:
            return local
        try:
            hit = cache.get(key)
        except InfrastructureError as exc:
            # Serve a freshly signed response rather than fail.
            log.warning("OCSP cache read failed; signing", extra={"error_code": exc.code})
            return self._sign(serial, hash_name, status, None)[0]
        if hit is not None:
            prepared = PreparedResponse.parse(hit)
            if prepared.next_update_ts is not None:
                # Decision 9: never keep it locally past the point a fresh one would be signed.
                now = self._clock.now().timestamp()
                keep_until = min(
                    now + self._refresh_after.total_seconds(),
                    prepared.next_update_ts - self._keep_at_least,
                )
                if keep_until > now:
                    self._local.put(key, (prepared, keep_until))
            return prepared
        prepared, ttl = self._sign(serial, hash_name, status, None)
        self._store(key, prepared, ttl)
        return prepared

    def _store(self, key: str, prepared: PreparedResponse, ttl: float) -> None:
        if self._cache is None or ttl < 1:
            return
        self._local.put(key, (prepared, self._clock.now().timestamp() + ttl))
        try:
            self._cache.set(key, prepared.der, ttl=ttl)
        except InfrastructureError as exc:
            log.warning("OCSP cache write failed", extra={"error_code": exc.code})

    def invalidate(self, serial: int) -> None:
        """Forget the pre-signed responses of ``serial`` for its current status.

        Not needed for correctness (a changed status is another cache key, see the module
        docstring); it makes the next request sign a response with a fresh thisUpdate. Other
        processes' local layers keep their (equally true) copies until they expire.

        :raises core.cache.CacheError: the cache failed.
        :raises InfrastructureError: the status lookup failed.
        :raises InvalidRevocationStatus: ``serial`` is not a certificate serial number.
        """
        check_serial(serial)
        cache = self._cache
        if cache is None:
            return
        status = self._lookup(serial)
        for hash_name in _CERTID_HASHES:
            key = self._response_key(serial, hash_name, status)
            self._local.pop(key)
            cache.delete(key)

    def on_status_change(self, serial: int) -> None:
        """Pre-sign the responses of ``serial``'s new status (SHA-1 and SHA-256 CertIDs).

        Call after the status change committed. Pre-signing is best effort (the next request
        signs if it failed); the invalidation raises, so a broken cache is not missed.

        :raises core.cache.CacheError: as :meth:`invalidate`.
        """
        self.invalidate(serial)
        cache = self._cache
        if cache is None:
            return
        status = self._lookup(serial)
        for hash_name in PRESIGNED_HASHES:
            try:
                prepared, ttl = self._sign(serial, hash_name, status, None)
            except Exception:  # a failed pre-sign only costs the next request a signature
                log.warning("OCSP pre-signing failed after a status change", exc_info=True)
                return
            if ttl >= 1:
                key = self._response_key(serial, hash_name, status)
                cache.set(key, prepared.der, ttl=ttl)
                self._local.put(key, (prepared, self._clock.now().timestamp() + ttl))

    # --- signing ------------------------------------------------------------------------------

    def _sign(
        self, serial: int, hash_name: str, status: RevocationStatus, nonce: bytes | None
    ) -> tuple[PreparedResponse, float]:
        """A signed successful response, and how many seconds it may be served from a cache."""
        now = require_aware(self._clock.now()).replace(microsecond=0)
        responder = self._responder
        if not responder.not_valid_before_utc <= now <= responder.not_valid_after_utc:
            raise _ResponderNotValid
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
        der = builder.sign(self._key, self._signing_hash).public_bytes(serialization.Encoding.DER)
        ttl = min(self._refresh_after, next_update - now).total_seconds()
        if nonce is not None:
            return PreparedResponse.uncacheable(der), ttl
        return PreparedResponse.signed(der, this_update=this_update, next_update=next_update), ttl


def _fingerprint(status: RevocationStatus) -> str:
    """What of a status a response states, as a cache-key part (module docstring, 5)."""
    if status.status is not CertStatus.REVOKED:
        return status.status.value
    assert status.revoked_at is not None and status.reason is not None
    return f"revoked.{status.revoked_at:%Y%m%dT%H%M%S.%f}.{status.reason.code}"


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
