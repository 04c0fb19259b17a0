"""Remote signing with server-side keys, as the Cloud Signature Consortium API describes it.

:class:`RemoteSigning` is the domain side of NatID's CSC API (``api/routers/csc.py`` speaks
the wire format of CSC API v2.0.0.2 and v1.0.4.0): an official's *credentials* are their
server-side signing certificates (``gov-sign`` of each active civil-servant position,
``citizen-sign`` of the person), identified by the certificate serial (hex). The signer
authorises each batch of hashes explicitly (CSC ``authMode`` "explicit", SCAL 2):

1. The caller is the person behind a verified IdP access token (:class:`Caller`; the api layer
   verifies the token, this module never sees it). Every operation needs the scope
   :data:`SERVICE_SCOPE` (CSC API §8.1: the "service" scope authorises the service calls).
2. ``authorize`` needs a fresh authentication at level substantial or high (``acr``) at most
   :data:`MAX_AUTH_AGE` ago (``auth_time``) - otherwise
   :class:`InsufficientUserAuthentication`, RFC 9470's step-up error - PLUS the signer's
   current TOTP code, checked by the :class:`OtpVerifier` port (the IdP's TOTP authenticator:
   one use per code, RFC 6238 §5.2). Five wrong codes within :data:`OTP_WINDOW` lock the
   signer out of authorising for the rest of the window (:class:`OtpLocked`).
3. The SAD it returns is bound to exactly the listed hashes, their number, the credential and
   the subject, single use and short-lived (:mod:`signing.sad`).
4. ``sign_hash`` redeems the SAD and signs each hash with the credential's key in the key
   backend (``Prehashed``: the key never sees a document and never leaves the backend).

Algorithms (CSC ``key/algo``, ``signAlgo``): ECDSA keys sign with ecdsa-with-SHA256/384/512
(SHA-384/512 only for P-384, ETSI TS 119 312 §6.2.2: the hash at least as strong as the
curve); RSA keys with sha256/384/512WithRSAEncryption or RSASSA-PSS (RFC 8017 §A.2.3 params in
``signAlgoParams``; MGF1 with the same hash, trailer 1). Ed25519 signs messages, not hashes, so
it has no signHash algorithm.

Audit: ``signing.csc.authorized`` / ``signing.csc.authorize_refused`` / ``signing.csc.signed``
with the credential id, the SAD's transaction id, the client and the number of hashes - never
an OTP, a SAD or a hash value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from asn1crypto import algos  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from ca.models import CertificateStatus
from ca.profiles import ProfileName
from ca.service import CAService
from ca.store import IssuedCertificate, normalize_serial
from core.audit import AuditLedger
from core.cache import Cache
from core.clock import Clock
from core.errors import InvalidInput, NatIDError, NotFound, PermissionDenied
from hsm_adapters.base import KeyBackend
from registry.ports import PopulationRegister
from signing.errors import SigningError, SigningUnavailable
from signing.sad import SADStore

__all__ = [
    "MAX_AUTH_AGE",
    "SERVICE_SCOPE",
    "Authorization",
    "CSCRequestError",
    "Caller",
    "Credential",
    "CredentialNotFound",
    "InsufficientUserAuthentication",
    "MissingScope",
    "OtpLocked",
    "OtpVerifier",
    "RemoteSigning",
    "WrongOtp",
]

SERVICE_SCOPE = "service"
#: How old the signer's authentication may be when authorising (issue 5: "fresh").
MAX_AUTH_AGE = dt.timedelta(minutes=5)
#: Levels of assurance that may authorise a signature (eIDAS; issue 5).
STRONG_ACR = frozenset({"substantial", "high"})
OTP_WINDOW = dt.timedelta(minutes=15)
MAX_OTP_FAILURES = 5
#: Most hashes one SAD / one signHash call may carry (CSC ``multisign``).
MAX_BATCH = 100
_PROFILES = (ProfileName.GOV_SIGN, ProfileName.CITIZEN_SIGN)

_HASH_OIDS = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
_HASH_BY_NAME = {"sha256": "2.16.840.1.101.3.4.2.1", "sha384": "2.16.840.1.101.3.4.2.2",
                 "sha512": "2.16.840.1.101.3.4.2.3"}  # fmt: skip
#: signAlgo OID -> (kind, implied hash OID or None).
_ECDSA = {"1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384",
          "1.2.840.10045.4.3.4": "sha512"}  # fmt: skip
_RSA_PKCS1 = {"1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384",
              "1.2.840.113549.1.1.13": "sha512"}  # fmt: skip
_RSA_PSS = "1.2.840.113549.1.1.10"


# --- errors -------------------------------------------------------------------------------------


class CSCRequestError(SigningError, InvalidInput):
    """A CSC request is malformed or asks for something the credential cannot do."""

    code = "invalid_request"


class CredentialNotFound(SigningError, NotFound):
    """No such credential of this signer (another official's credential looks the same)."""

    code = "credential_not_found"


class MissingScope(SigningError, PermissionDenied):
    """The access token lacks the ``service`` scope."""

    code = "insufficient_scope"


class InsufficientUserAuthentication(SigningError, PermissionDenied):
    """The login behind the token is too weak or too old to authorise a signature (RFC 9470)."""

    code = "insufficient_user_authentication"
    http_status = 401


class WrongOtp(SigningError, InvalidInput):
    """The one-time password is missing, wrong, or was already used."""

    code = "invalid_otp"


class OtpLocked(SigningError, PermissionDenied):
    """Too many wrong one-time passwords; authorising is refused for a while."""

    code = "access_denied"


# --- ports and values ---------------------------------------------------------------------------


class OtpVerifier(Protocol):
    """Checks a person's current one-time password once (the IdP's TOTP authenticator)."""

    def verify_otp(self, person_id: str, code: str, *, at: dt.datetime) -> None:
        """Return if ``code`` is the person's current code, used now; raise :class:`WrongOtp`."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """The person behind a verified access token (api: ``verify_access_token``)."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    acr: str | None
    auth_time: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Credential:
    """A signing certificate with a server-side key, as CSC describes a credential."""

    issued: IssuedCertificate
    chain: tuple[x509.Certificate, ...]
    usable: bool
    sign_algorithms: tuple[str, ...]
    key_bits: int
    curve_oid: str | None

    @property
    def credential_id(self) -> str:
        return self.issued.serial_hex

    @property
    def certificate(self) -> x509.Certificate:
        return self.issued.certificate


@dataclass(frozen=True, slots=True)
class Authorization:
    """The answer of ``credentials/authorize``: the SAD (shown once) and its lifetime."""

    sad: str
    expires_in: int
    transaction_id: str


class RemoteSigning:
    """The CSC credentials, authorisations and hash signatures of officials (module doc)."""

    def __init__(
        self,
        *,
        ca: CAService,
        keys: KeyBackend,
        register: PopulationRegister,
        otp: OtpVerifier,
        cache: Cache,
        ledger: AuditLedger | None,
        clock: Clock,
        sads: SADStore | None = None,
    ) -> None:
        self._ca = ca
        self._keys = keys
        self._register = register
        self._otp = otp
        self._cache = cache
        self._ledger = ledger
        self._clock = clock
        self._sads = sads or SADStore(cache)

    # --- credentials ---------------------------------------------------------------------------

    def credentials(self, caller: Caller) -> tuple[Credential, ...]:
        """The caller's usable signing credentials (CSC ``credentials/list``)."""
        _require_scope(caller)
        now = self._clock.now()
        found: list[Credential] = []
        for subject_id, profile in self._subjects(caller.subject):
            found.extend(
                self._describe(issued, usable=True)
                for issued in self._ca.list(subject_id=subject_id, profile=profile, status="good")
                if issued.key_label is not None and issued.is_valid_at(now)
            )
        return tuple(found)

    def credential(self, caller: Caller, credential_id: str) -> Credential:
        """One of the caller's credentials, usable or not (CSC ``credentials/info``)."""
        _require_scope(caller)
        return self._owned(caller, credential_id)

    # --- authorisation and signing -------------------------------------------------------------

    def authorize(
        self,
        caller: Caller,
        credential_id: str,
        *,
        num_signatures: int,
        hashes: Sequence[bytes],
        hash_algorithm: str | None,
        otp: str | None,
    ) -> Authorization:
        """Check the fresh login and the OTP, and issue a SAD for exactly ``hashes``."""
        _require_scope(caller)
        now = self._clock.now()
        credential = self._usable(caller, credential_id)
        if not 1 <= num_signatures <= MAX_BATCH:
            raise CSCRequestError(f"numSignatures must be 1 to {MAX_BATCH}")
        if not hashes:
            # SCAL 2: the SAD names the hashes it authorises (CSC §8.3.3).
            raise CSCRequestError("the hashes to authorise are required (SCAL 2)")
        if len(hashes) != num_signatures:
            raise CSCRequestError("numSignatures must equal the number of hashes")
        if hash_algorithm is not None:
            _hash_class(hash_algorithm)
        for value in hashes:
            _check_digest(value, hash_algorithm)
        refused = self._login_problem(caller, now)
        if refused is not None:
            self._audit_refusal(caller, credential_id, refused)
            raise InsufficientUserAuthentication(
                "authorising a signature needs a login at level substantial or high, at most "
                f"{int(MAX_AUTH_AGE.total_seconds() // 60)} minutes old; log in again"
            )
        self._check_otp(caller, otp, credential_id, now)
        token, activation = self._sads.issue(
            credential_id=credential.credential_id,
            subject=caller.subject,
            client_id=caller.client_id,
            hash_algorithm=hash_algorithm,
            hashes=hashes,
            num_signatures=num_signatures,
            at=now,
        )
        self._audit(
            "signing.csc.authorized",
            caller,
            credential.credential_id,
            {"transaction_id": activation.transaction_id, "num_signatures": num_signatures,
             "hash_count": len(activation.hashes)},
        )  # fmt: skip
        return Authorization(
            sad=token,
            expires_in=int(self._sads.lifetime.total_seconds()),
            transaction_id=activation.transaction_id,
        )

    def sign_hash(
        self,
        caller: Caller,
        credential_id: str,
        *,
        sad: str,
        hashes: Sequence[bytes],
        sign_algorithm: str,
        hash_algorithm: str | None = None,
        sign_algorithm_params: bytes | None = None,
    ) -> tuple[bytes, ...]:
        """Redeem ``sad`` and sign each hash with the credential's key (CSC ``signHash``)."""
        _require_scope(caller)
        now = self._clock.now()
        credential = self._usable(caller, credential_id)
        if not hashes or len(hashes) > MAX_BATCH:
            raise CSCRequestError(f"signHash takes 1 to {MAX_BATCH} hashes")
        scheme = _scheme(credential, sign_algorithm, sign_algorithm_params, hash_algorithm)
        for value in hashes:
            _check_digest(value, scheme.hash_oid)
        activation = self._sads.redeem(
            sad,
            credential_id=credential.credential_id,
            subject=caller.subject,
            hash_algorithm=scheme.hash_oid,
            hashes=hashes,
            at=now,
        )
        issued = credential.issued
        assert issued.key_label is not None
        try:
            key = self._keys.load(issued.key_label)
            signatures = tuple(scheme.sign(key, value) for value in hashes)
        except NatIDError as exc:
            raise SigningUnavailable(
                f"the key of credential {issued.serial_hex} cannot sign now: {exc.code}"
            ) from exc
        self._audit(
            "signing.csc.signed",
            caller,
            credential.credential_id,
            {"transaction_id": activation.transaction_id, "hash_count": len(hashes),
             "sign_algorithm": sign_algorithm},
        )  # fmt: skip
        return signatures

    # --- internals ------------------------------------------------------------------------------

    def _subjects(self, person_id: str) -> list[tuple[str, ProfileName]]:
        """(subject id, profile) pairs whose certificates are this person's."""
        pairs = [
            (servant.id, ProfileName.GOV_SIGN)
            for servant in self._register.servants_of_person(person_id)
            if servant.active
        ]
        pairs.append((person_id, ProfileName.CITIZEN_SIGN))
        return pairs

    def _owned(self, caller: Caller, credential_id: str) -> Credential:
        unknown = CredentialNotFound("no such credential of this signer")
        if not isinstance(credential_id, str) or not 1 <= len(credential_id) <= 64:
            raise unknown
        try:
            issued = self._ca.get(normalize_serial(credential_id))
        except NatIDError:
            raise unknown from None
        if issued.key_label is None or (issued.subject_id, issued.profile) not in self._subjects(
            caller.subject
        ):
            raise unknown
        return self._describe(issued, usable=issued.is_valid_at(self._clock.now()))

    def _usable(self, caller: Caller, credential_id: str) -> Credential:
        credential = self._owned(caller, credential_id)
        if not credential.usable:
            raise CSCRequestError("the credential's certificate is revoked, suspended or expired")
        return credential

    def _describe(self, issued: IssuedCertificate, *, usable: bool) -> Credential:
        public = issued.certificate.public_key()
        curve_oid = None
        if isinstance(public, ec.EllipticCurvePublicKey):
            bits = public.curve.key_size
            curve_oid = _CURVE_OIDS.get(public.curve.name)
            allowed = ["1.2.840.10045.4.3.2"] if bits < 384 else []
            algorithms = (*allowed, "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4")
        elif isinstance(public, rsa.RSAPublicKey):
            bits = public.key_size
            algorithms = (*_RSA_PKCS1, _RSA_PSS)
        else:
            bits, algorithms = 256, ()
        return Credential(
            issued=issued,
            chain=self._ca.chain(issued.issuer),
            usable=usable and issued.status is CertificateStatus.GOOD,
            sign_algorithms=algorithms,
            key_bits=bits,
            curve_oid=curve_oid,
        )

    @staticmethod
    def _login_problem(caller: Caller, now: dt.datetime) -> str | None:
        if caller.acr not in STRONG_ACR:
            return "weak_login"
        if caller.auth_time is None:
            return "no_auth_time"
        age = now - caller.auth_time
        if age > MAX_AUTH_AGE or age < -dt.timedelta(minutes=1):
            return "stale_login"
        return None

    def _check_otp(
        self, caller: Caller, otp: str | None, credential_id: str, now: dt.datetime
    ) -> None:
        counter = f"signing:csc:otp-fail:{caller.subject}"
        failures = self._cache.get(counter)
        if failures is not None and int(failures) >= MAX_OTP_FAILURES:
            self._audit_refusal(caller, credential_id, "otp_locked")
            raise OtpLocked("too many wrong one-time passwords; try again in 15 minutes")
        if not otp:
            self._audit_refusal(caller, credential_id, "otp_missing")
            raise WrongOtp("the signer's one-time password (OTP) is required")
        try:
            self._otp.verify_otp(caller.subject, otp, at=now)
        except WrongOtp:
            self._cache.incr(counter, ttl=OTP_WINDOW.total_seconds())
            self._audit_refusal(caller, credential_id, "otp_wrong")
            raise
        self._cache.delete(counter)

    def _audit_refusal(self, caller: Caller, credential_id: str, reason: str) -> None:
        self._audit("signing.csc.authorize_refused", caller, credential_id[:64], {"reason": reason})

    def _audit(self, event: str, caller: Caller, credential_id: str, data: dict[str, Any]) -> None:
        if self._ledger is not None:
            self._ledger.append(
                event,
                actor=caller.subject,
                subject=credential_id,
                data={"client_id": caller.client_id, **data},
            )


_CURVE_OIDS = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34"}


def _require_scope(caller: Caller) -> None:
    if SERVICE_SCOPE not in caller.scopes:
        raise MissingScope(f"the access token lacks the {SERVICE_SCOPE} scope")


def _hash_class(oid: str) -> type[hashes.HashAlgorithm]:
    found = _HASH_OIDS.get(oid) if isinstance(oid, str) else None
    if found is None:
        raise CSCRequestError(f"unsupported hash algorithm {str(oid)[:40]!r}; use SHA-2")
    return found


def _check_digest(value: bytes, hash_oid: str | None) -> None:
    sizes = {32, 48, 64} if hash_oid is None else {_hash_class(hash_oid).digest_size}
    if len(value) not in sizes:
        raise CSCRequestError(f"a hash of {len(value)} bytes does not fit the hash algorithm")


@dataclass(frozen=True, slots=True)
class _Scheme:
    kind: str
    hash_oid: str
    pss_salt: int = 0

    def sign(self, key: Any, digest: bytes) -> bytes:
        algorithm = _hash_class(self.hash_oid)()
        prehashed = utils.Prehashed(algorithm)
        if self.kind == "ecdsa":
            return bytes(key.sign(digest, ec.ECDSA(prehashed)))
        if self.kind == "pss":
            pss = padding.PSS(padding.MGF1(algorithm), self.pss_salt)
            return bytes(key.sign(digest, pss, prehashed))
        return bytes(key.sign(digest, padding.PKCS1v15(), prehashed))


def _scheme(
    credential: Credential, sign_algo: str, params: bytes | None, hash_oid: str | None
) -> _Scheme:
    """The signature scheme a signHash request asks for, if the credential allows it."""
    if sign_algo not in credential.sign_algorithms:
        raise CSCRequestError(
            f"signAlgo {str(sign_algo)[:40]!r} is not one of the credential's "
            f"({', '.join(credential.sign_algorithms) or 'none'})"
        )
    if sign_algo in _ECDSA or sign_algo in _RSA_PKCS1:
        kind = "ecdsa" if sign_algo in _ECDSA else "pkcs1"
        implied = _HASH_BY_NAME[(_ECDSA | _RSA_PKCS1)[sign_algo]]
        if hash_oid is not None and hash_oid != implied:
            raise CSCRequestError("hashAlgo contradicts the hash signAlgo implies")
        return _Scheme(kind, implied)
    # RSASSA-PSS: the parameters name the hash (RFC 8017 §A.2.3).
    if params is None:
        raise CSCRequestError("RSASSA-PSS needs signAlgoParams (RSASSA-PSS-params, DER)")
    try:
        parsed = algos.RSASSAPSSParams.load(params)
        digest = parsed["hash_algorithm"]["algorithm"].native
        mgf = parsed["mask_gen_algorithm"]
        mgf_hash = mgf["parameters"]["algorithm"].native
        salt = int(parsed["salt_length"].native)
        trailer = int(parsed["trailer_field"].native)
        ok = mgf["algorithm"].native == "mgf1" and mgf_hash == digest and trailer == 1
    except (ValueError, TypeError, KeyError) as exc:
        raise CSCRequestError("signAlgoParams is not DER RSASSA-PSS-params") from exc
    implied_pss = _HASH_BY_NAME.get(digest)
    if not ok or implied_pss is None or not 0 <= salt <= 64:
        raise CSCRequestError("RSASSA-PSS needs SHA-2, MGF1 with the same hash, trailer 1")
    if hash_oid is not None and hash_oid != implied_pss:
        raise CSCRequestError("hashAlgo contradicts the hash of the RSASSA-PSS parameters")
    return _Scheme("pss", implied_pss, salt)
