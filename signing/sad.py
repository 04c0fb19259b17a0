"""Signature activation data (SAD) for remote signing: "sole control" of a server-side key.

A signer's key in the key backend may only sign what the signer authorised, moments before,
with a fresh strong authentication (issue 5, "Remote signing"; CEN EN 419 241-1 §SRA_SAP,
the model of the Cloud Signature Consortium API's SCAL 2). :class:`SADStore` issues the
opaque token that ``credentials/authorize`` returns and redeems it in ``signatures/signHash``.

Decisions:

1. **Bound to exactly what was authorised.** A SAD names one credential, the subject (the
   register id of the person who authenticated), the client that asked, the hash algorithm
   and the set of hash values, and a number of signatures (CSC API v2.0 §11.6 "hashes",
   "numSignatures"; SCAL 2). Redemption refuses any hash that is not in the set, more hashes
   than ``numSignatures``, another credential, another subject or another algorithm.
2. **Single use.** The token is popped from the cache (:meth:`core.cache.Cache.pop` hands a
   value to exactly one caller, in process and on Redis), so of two concurrent ``signHash``
   calls with one SAD exactly one signs. A SAD presented with the wrong hashes or credential
   is spent as well: whoever holds it is not doing what the signer approved, and the signer
   can authorise again in seconds.
3. **Short-lived.** At most :data:`MAX_LIFETIME` (5 minutes); the expiry is kept in the value
   too, so a cache that keeps a key a little longer than its TTL changes nothing.
4. **Nothing secret at rest.** The cache key is the SHA-256 of the token, never the token; the
   hash values are not secret (they are digests of documents) but are never logged. Each SAD
   carries a random ``transaction_id`` that the audit entries of authorize and signHash share.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from core.cache import Cache
from core.clock import require_aware
from core.errors import InvalidInput
from signing.errors import SigningError

__all__ = ["MAX_LIFETIME", "InvalidSAD", "SADStore", "SignatureActivation"]

#: The longest a SAD lives (issue 5: "short-lived"; the CSC API leaves it to the service).
MAX_LIFETIME = dt.timedelta(minutes=5)
_PREFIX = "signing:sad:"
_MAX_TOKEN = 128


class InvalidSAD(SigningError, InvalidInput):
    """The SAD is unknown, expired, already used, or does not cover this request."""

    code = "invalid_sad"


@dataclass(frozen=True, slots=True)
class SignatureActivation:
    """What one SAD authorises (decision 1)."""

    transaction_id: str
    credential_id: str
    subject: str
    client_id: str
    #: The hash algorithm's OID, when the client named it (CSC v2 ``hashAlgorithmOID``; v1's
    #: authorize has no such parameter, the digest length then stands for it).
    hash_algorithm: str | None
    hashes: frozenset[bytes]
    num_signatures: int
    expires_at: dt.datetime

    def _to_json(self) -> bytes:
        return json.dumps(
            {
                "tx": self.transaction_id,
                "cred": self.credential_id,
                "sub": self.subject,
                "client": self.client_id,
                "alg": self.hash_algorithm,
                "hashes": sorted(base64.b64encode(h).decode("ascii") for h in self.hashes),
                "n": self.num_signatures,
                "exp": self.expires_at.isoformat(),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def _from_json(cls, raw: bytes) -> SignatureActivation:
        data = json.loads(raw)
        return cls(
            transaction_id=str(data["tx"]),
            credential_id=str(data["cred"]),
            subject=str(data["sub"]),
            client_id=str(data["client"]),
            hash_algorithm=None if data["alg"] is None else str(data["alg"]),
            hashes=frozenset(base64.b64decode(h) for h in data["hashes"]),
            num_signatures=int(data["n"]),
            expires_at=dt.datetime.fromisoformat(data["exp"]),
        )


def _key(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class SADStore:
    """Issues and redeems signature activation data on the application's cache."""

    def __init__(self, cache: Cache, *, lifetime: dt.timedelta = MAX_LIFETIME) -> None:
        if not dt.timedelta(0) < lifetime <= MAX_LIFETIME:
            raise InvalidInput(f"a SAD lives at most {MAX_LIFETIME}, got {lifetime}")
        self._cache = cache
        self.lifetime = lifetime

    def issue(
        self,
        *,
        credential_id: str,
        subject: str,
        client_id: str,
        hash_algorithm: str | None,
        hashes: Sequence[bytes],
        num_signatures: int,
        at: dt.datetime,
    ) -> tuple[str, SignatureActivation]:
        """A new SAD token (shown once) and what it authorises."""
        at = require_aware(at)
        if not hashes or num_signatures < len(set(hashes)):
            raise InvalidSAD("a SAD needs the hashes it authorises, at most numSignatures of them")
        activation = SignatureActivation(
            transaction_id=str(uuid.uuid4()),
            credential_id=credential_id,
            subject=subject,
            client_id=client_id,
            hash_algorithm=hash_algorithm,
            hashes=frozenset(hashes),
            num_signatures=num_signatures,
            expires_at=at + self.lifetime,
        )
        token = secrets.token_urlsafe(32)
        self._cache.set(_key(token), activation._to_json(), ttl=self.lifetime.total_seconds())
        return token, activation

    def redeem(
        self,
        token: str,
        *,
        credential_id: str,
        subject: str,
        hash_algorithm: str,
        hashes: Sequence[bytes],
        at: dt.datetime,
    ) -> SignatureActivation:
        """Spend ``token`` for signing ``hashes`` (decisions 1-3); raises :class:`InvalidSAD`."""
        at = require_aware(at)
        if not isinstance(token, str) or not 1 <= len(token) <= _MAX_TOKEN:
            raise InvalidSAD("the SAD is malformed")
        raw = self._cache.pop(_key(token))
        if raw is None:
            raise InvalidSAD("the SAD is unknown, expired or already used")
        try:
            activation = SignatureActivation._from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSAD("the SAD could not be read") from exc
        if activation.expires_at <= at:
            raise InvalidSAD("the SAD has expired")
        if activation.credential_id != credential_id or activation.subject != subject:
            raise InvalidSAD("the SAD was issued for another credential or signer")
        if activation.hash_algorithm not in (None, hash_algorithm):
            raise InvalidSAD("the SAD was issued for another hash algorithm")
        if not hashes or len(hashes) > activation.num_signatures:
            raise InvalidSAD(
                f"the SAD authorises at most {activation.num_signatures} signatures, "
                f"{len(hashes)} were asked for"
            )
        unknown = sum(1 for h in hashes if h not in activation.hashes)
        if unknown:
            raise InvalidSAD(f"{unknown} of the hashes were not authorised with this SAD")
        return activation
