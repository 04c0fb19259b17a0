"""Fixtures for the IdP protocol core: a soft key backend (keys that refuse to leave it), the
audit ledger, a cache on the test clock, and the wired :class:`idp.service.ProviderCore`.

``make_client_keys`` makes a relying party's own key pair and JWKS, and ``assertion`` signs a
client assertion with it the way an RP library does (with joserfc, not NatID's code).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwk as rfc_jwk
from joserfc import jws as rfc_jws
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from idp.service import ProviderCore, build_provider_core

ISSUER = "https://id.natid.gov.kh"
TOKEN_URL = f"{ISSUER}/oauth2/token"
SALT = bytes(range(32))


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[SoftKeyBackend]:
    keys = SoftKeyBackend(tmp_path / "keys", "idp-test-passphrase", scrypt_n=2**14)
    try:
        yield keys
    finally:
        keys.close()


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(session_factory, clock=clock)


@pytest.fixture
def cache(clock: FixedClock) -> InMemoryCache:
    return InMemoryCache(clock=clock)


@pytest.fixture
def core(
    session_factory: sessionmaker[Session],
    backend: SoftKeyBackend,
    ledger: AuditLedger,
    cache: InMemoryCache,
    clock: FixedClock,
) -> ProviderCore:
    provider = build_provider_core(
        session_factory,
        cache=cache,
        keys=backend,
        ledger=ledger,
        clock=clock,
        issuer=ISSUER + "/",
        pairwise_salt=SALT,
    )
    provider.signing_keys.ensure_active(actor="test")
    return provider


@dataclass
class RPKey:
    """A relying party's own signing key (held by the RP, never by NatID)."""

    private: Any  # a joserfc key with the private half
    alg: str

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.private.as_dict(private=False)]}


def make_client_keys(alg: str = "ES256", *, kid: str = "rp-key-1") -> RPKey:
    if alg == "ES256":
        key = rfc_jwk.ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    else:
        key = rfc_jwk.RSAKey.import_key(
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
    key.ensure_kid()
    key = rfc_jwk.import_key({**key.as_dict(private=True), "kid": kid})
    return RPKey(private=key, alg=alg)


def assertion(
    rp: RPKey,
    client_id: str,
    *,
    at: dt.datetime,
    aud: Any = ISSUER,
    alg: str | None = None,
    **overrides: Any,
) -> str:
    """A client assertion (RFC 7523) as an RP library makes it; ``None`` drops a claim."""
    now = int(at.timestamp())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "jti": secrets.token_urlsafe(12),
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": alg or rp.alg, "kid": rp.private.kid}
    return rfc_jws.serialize_compact(
        header, json.dumps(claims).encode(), rp.private, algorithms=[alg or rp.alg]
    )


__all__ = ["ISSUER", "SALT", "TOKEN_URL", "RPKey", "assertion", "make_client_keys"]
