"""Subject identifiers (``sub``) per OpenID Connect Core §8.

* **Pairwise** (the default, §8.1): ``sub = BASE64URL(SHA-256(sector || 0x00 || register id ||
  0x00 || salt))``. The sector is the client's sector identifier (the host of its redirect
  URIs unless an operator registered one), so two sites of different sectors get unlinkable
  values for one person, and the sites of one sector (one ministry's portals) get the same.
  The NUL separators make the concatenation unambiguous (a host name and a register id cannot
  contain NUL). The register id is the register's random internal id - never the national ID
  number, which must not be derivable from, or testable against, a ``sub``.
* **Public** (§8): the register's internal id itself, only for clients configured so.

**Where the salt comes from** (decided here). A settings secret would be one more secret to
back up, rotate and keep out of logs, and if it were ever lost every relying party would see
new ``sub`` values for everyone. Instead the salt is derived from a key the key backend
already guards and backs up: :func:`salt_from_key_backend` signs a fixed message with the RSA
key ``idp-pairwise-salt`` using RSASSA-PKCS1-v1_5, which is deterministic (RFC 8017 §8.2), and
hashes the signature. The same key yields the same salt in every worker and after every
restart, on the soft backend and in an HSM alike; only someone who can use that key can
compute it. A deployment that prefers a configured secret passes its bytes to
:class:`SubjectIdentifiers` directly (at least 32 bytes).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hsm_adapters import KeyAlgorithm, KeyBackend, KeyExists, KeyNotFound
from idp.errors import SigningKeyUnavailable
from idp.jose import b64url_encode

__all__ = ["PAIRWISE_SALT_LABEL", "SubjectIdentifiers", "SubjectType", "salt_from_key_backend"]

#: The key-backend label of the key the pairwise salt is derived from.
PAIRWISE_SALT_LABEL = "idp-pairwise-salt"
MIN_SALT_BYTES = 32
_SALT_MESSAGE = b"NatID pairwise subject salt v1"


class SubjectType(StrEnum):
    """``subject_type`` as registered (OIDC Core §8; Dynamic Client Registration §2)."""

    PAIRWISE = "pairwise"
    PUBLIC = "public"


class SubjectIdentifiers:
    """Computes the ``sub`` a client sees for a person of the register."""

    def __init__(self, salt: bytes) -> None:
        if len(salt) < MIN_SALT_BYTES:
            raise ValueError(f"the pairwise salt must be at least {MIN_SALT_BYTES} bytes")
        self._salt = bytes(salt)

    def pairwise(self, register_id: str, *, sector: str) -> str:
        """The pairwise ``sub`` of ``register_id`` in ``sector`` (43 base64url characters)."""
        material = b"\0".join((sector.lower().encode("utf-8"), register_id.encode("utf-8")))
        return b64url_encode(hashlib.sha256(material + b"\0" + self._salt).digest())

    def for_client(self, register_id: str, *, sector: str, subject_type: SubjectType) -> str:
        """The ``sub`` for a client of ``sector`` registered with ``subject_type``."""
        if subject_type is SubjectType.PUBLIC:
            return register_id
        return self.pairwise(register_id, sector=sector)


def salt_from_key_backend(keys: KeyBackend, *, label: str = PAIRWISE_SALT_LABEL) -> bytes:
    """The deployment's pairwise salt, derived from the RSA key ``label`` (made on first use).

    SHA-256 over a deterministic RSASSA-PKCS1-v1_5 signature of a fixed message; stable for as
    long as the key exists. Losing the key changes every pairwise ``sub``: back it up with the
    other keys.
    """
    try:
        key = keys.load(label)
    except KeyNotFound:
        try:
            key = keys.generate(label, KeyAlgorithm.RSA_2048)
        except KeyExists:
            key = keys.load(label)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyUnavailable(f"the key {label} must be an RSA key")
    signature = key.sign(_SALT_MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    return hashlib.sha256(b"NatID pairwise salt\0" + signature).digest()
