"""The OpenID provider's protocol core, built in one place (the facade the routes use).

:func:`build_provider_core` wires :class:`~idp.clients.ClientRegistry`,
:class:`~idp.keys.SigningKeys`, :class:`~idp.codes.AuthorizationCodes`,
:class:`~idp.tokens.TokenService` and :class:`~idp.subjects.SubjectIdentifiers` from the
application's collaborators. The issuer identifier is the public base URL (OIDC Discovery §2:
https in production, no query or fragment; a trailing slash is dropped so ``iss`` compares
exactly). Accounts, authenticators and login sessions are a separate part
(:mod:`idp.accounts` and neighbours).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import Cache
from core.clock import Clock
from hsm_adapters import KeyAlgorithm, KeyBackend
from idp.clients import ClientRegistry
from idp.codes import AuthorizationCodes
from idp.keys import DEFAULT_CACHE_PERIOD, DEFAULT_MAX_TOKEN_LIFETIME, SigningKeys
from idp.subjects import SubjectIdentifiers, salt_from_key_backend
from idp.tokens import TokenService

__all__ = ["ProviderCore", "build_provider_core", "issuer_from_base_url"]


@dataclass(frozen=True, slots=True)
class ProviderCore:
    """The protocol-side services of the IdP."""

    issuer: str
    clients: ClientRegistry
    signing_keys: SigningKeys
    codes: AuthorizationCodes
    tokens: TokenService
    subjects: SubjectIdentifiers


def issuer_from_base_url(base_url: str) -> str:
    """The issuer identifier for a public base URL (``https://id.example.gov.kh``)."""
    return base_url.rstrip("/")


def build_provider_core(
    sessions: sessionmaker[Session],
    *,
    cache: Cache,
    keys: KeyBackend,
    ledger: AuditLedger,
    clock: Clock,
    issuer: str,
    pairwise_salt: bytes | None = None,
    signing_algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256,
    jwks_cache_period: dt.timedelta = DEFAULT_CACHE_PERIOD,
    access_token_lifetime: dt.timedelta = dt.timedelta(minutes=10),
    id_token_lifetime: dt.timedelta = dt.timedelta(minutes=10),
    refresh_token_lifetime: dt.timedelta = dt.timedelta(days=14),
    code_ttl: float = 60.0,
) -> ProviderCore:
    """Build the protocol core. Without ``pairwise_salt`` it is derived from the key backend."""
    issuer = issuer_from_base_url(issuer)
    signing = SigningKeys(
        sessions,
        keys=keys,
        ledger=ledger,
        clock=clock,
        algorithm=signing_algorithm,
        cache_period=jwks_cache_period,
        max_token_lifetime=max(
            DEFAULT_MAX_TOKEN_LIFETIME, access_token_lifetime, id_token_lifetime
        ),
        cache=cache,
    )
    subjects = SubjectIdentifiers(
        pairwise_salt if pairwise_salt is not None else salt_from_key_backend(keys)
    )
    tokens = TokenService(
        sessions,
        keys=signing,
        subjects=subjects,
        ledger=ledger,
        cache=cache,
        issuer=issuer,
        access_token_lifetime=access_token_lifetime,
        id_token_lifetime=id_token_lifetime,
        refresh_token_lifetime=refresh_token_lifetime,
    )
    return ProviderCore(
        issuer=issuer,
        clients=ClientRegistry(sessions, ledger=ledger, cache=cache, clock=clock, issuer=issuer),
        signing_keys=signing,
        codes=AuthorizationCodes(cache, revoker=tokens, ttl=code_ttl),
        tokens=tokens,
        subjects=subjects,
    )
