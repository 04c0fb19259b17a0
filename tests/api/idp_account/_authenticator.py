"""A software WebAuthn authenticator for tests: an EC P-256 key per credential, attestation
``none``, discoverable credentials, user verification, a signature counter.

It builds exactly the bytes a CTAP2 authenticator and a browser would (WebAuthn §6.1
authenticator data, §6.5 attested credential data, §5.8.1 client data, §6.5.4 the ``none``
attestation statement) so py_webauthn verifies them as it verifies a real device's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    """Holds discoverable credentials; ``user_verified`` False plays a device without UV."""

    origin: str
    user_verified: bool = True
    backup_eligible: bool = False
    counter_step: int = 1
    credentials: list[Credential] = field(default_factory=list)
    aaguid: bytes = bytes(16)

    def _flags(self, *extra: int) -> int:
        flags = UP | (UV if self.user_verified else 0)
        if self.backup_eligible:
            flags |= BE | BS
        for bit in extra:
            flags |= bit
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin,
             "crossOrigin": False}
        ).encode()  # fmt: skip

    def create(self, options_json: str, *, origin: str | None = None) -> dict[str, Any]:
        """Answer ``navigator.credentials.create`` for these options (JSON as NatID sends)."""
        options = json.loads(options_json)
        rp_id = options["rp"]["id"]
        user_handle = unb64url(options["user"]["id"])
        key = ec.generate_private_key(ec.SECP256R1())
        cred = Credential(os.urandom(32), key, rp_id, user_handle)
        self.credentials = [
            c for c in self.credentials if not (c.rp_id == rp_id and c.user_handle == user_handle)
        ]
        self.credentials.append(cred)
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
             -3: numbers.y.to_bytes(32, "big")}
        )  # fmt: skip
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(AT)])
            + struct.pack(">I", cred.sign_count)
            + self.aaguid
            + struct.pack(">H", len(cred.id))
            + cred.id
            + cose
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(cred.id),
            "rawId": b64url(cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options_json: str,
        *,
        origin: str | None = None,
        credential: Credential | None = None,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.get`` with a discoverable credential for the rp."""
        options = json.loads(options_json)
        rp_id = options["rpId"]
        cred = credential or next(c for c in self.credentials if c.rp_id == rp_id)
        cred.sign_count += self.counter_step
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", cred.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = cred.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(cred.id),
            "rawId": b64url(cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle if user_handle is not None else cred.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
