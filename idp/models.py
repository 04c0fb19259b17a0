"""ORM tables of the OpenID provider's protocol core (migration ``0009_idp_core``).

Accounts, authenticators and login sessions live in :mod:`idp.account_models`; this module
holds what the protocol needs:

* ``idp_signing_keys`` - the IdP's JWS signing keys: the private key stays in the key backend
  under ``label`` (``idp-sig-<n>``); the row keeps the public JWK, its RFC 7638 thumbprint
  (``kid``, primary key) and the rotation state ``next`` / ``active`` / ``retired`` /
  ``removed`` with the time of each step (:mod:`idp.keys`). Rows are never deleted, so an
  audit entry naming a ``kid`` stays resolvable.
* ``idp_clients`` - registered relying parties (:mod:`idp.clients`). Secrets are stored only
  as SHA-256 (a 256-bit random secret needs no slow hash; see ``docs/decisions.md``,
  "Operators"). URI lists and the client's JWKS are JSON text. ``userinfo_signed_response_alg``
  (OIDC Dynamic Client Registration §2) asks for signed UserInfo responses. ``name_key`` is
  the digest of the name as compared (:func:`idp.client_metadata.name_key`), unique, so no two
  clients show citizens the same name; ``disabled_at`` / ``disabled_reason`` are set while an
  operator has disabled the client (migration ``0024_idp_client_lifecycle``).
* ``idp_grants`` - one row per redeemed authorization code: who (register id), which client,
  what was granted, when and how the person authenticated. It is the "token family": every
  refresh token and access token issued from one code names its grant, and revoking the grant
  (code reuse, refresh-token reuse, RFC 7009 revocation) revokes them all. ``dpop_jkt`` is the
  DPoP key the grant's refresh tokens are bound to (RFC 9449 §5).
* ``idp_refresh_tokens`` - SHA-256 of each refresh token (never the token), its grant, expiry
  and ``used_at`` once rotated; presenting a used one is reuse and revokes the grant.
* ``idp_revoked_access_tokens`` - ``jti`` of JWT access tokens revoked one by one (RFC 7009),
  kept until they would have expired anyway.

Status columns are pinned by CHECK constraints written out in the migration.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = [
    "ClientRow",
    "GrantRow",
    "RefreshTokenRow",
    "RevokedAccessTokenRow",
    "SigningKeyRow",
]

#: base64url SHA-256 (43 characters) or hex SHA-256 (64) fit in this.
DIGEST_LENGTH = 64
URI_LENGTH = 2000
_LIVE_STATES = "state IN ('next', 'active')"


class SigningKeyRow(Base):
    __tablename__ = "idp_signing_keys"
    __table_args__ = (
        CheckConstraint("state IN ('next', 'active', 'retired', 'removed')", name="state"),
        # At most one next and one active key, even when workers bootstrap concurrently.
        Index(
            "ux_idp_signing_keys_live_state",
            "state",
            unique=True,
            sqlite_where=text(_LIVE_STATES),
            postgresql_where=text(_LIVE_STATES),
        ),
    )

    kid: Mapped[str] = mapped_column(String(DIGEST_LENGTH), primary_key=True)
    label: Mapped[str] = mapped_column(String(128), unique=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    jwk: Mapped[str] = mapped_column(Text())
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ClientRow(Base):
    __tablename__ = "idp_clients"
    __table_args__ = (
        CheckConstraint(
            "auth_method IN ('private_key_jwt', 'client_secret_basic', 'client_secret_post')",
            name="auth_method",
        ),
        CheckConstraint("subject_type IN ('pairwise', 'public')", name="subject_type"),
        # One client per name as citizens read it (NULL only for rows of before 0024 whose
        # name another, older client already had; see that migration).
        Index("ux_idp_clients_name_key", "name_key", unique=True),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    auth_method: Mapped[str] = mapped_column(String(32))
    secret_sha256: Mapped[str | None] = mapped_column(String(DIGEST_LENGTH))
    jwks: Mapped[str | None] = mapped_column(Text())
    redirect_uris: Mapped[str] = mapped_column(Text())
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text())
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(URI_LENGTH))
    fapi2: Mapped[bool] = mapped_column(Boolean())
    sector: Mapped[str] = mapped_column(String(253))
    subject_type: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: ``ES256`` / ``PS256``: UserInfo answers as a JWT signed with the IdP's key (OIDC Core
    #: §5.3.2; migration 0016). None: plain JSON.
    userinfo_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    #: :func:`idp.client_metadata.name_key` of ``name`` (migration 0024).
    name_key: Mapped[str | None] = mapped_column(String(DIGEST_LENGTH))
    #: Set while the client is disabled: it cannot authenticate or start a login (migration
    #: 0024). The reason is the operator's words, kept for ``natid idp client list``.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(200))


class GrantRow(Base):
    __tablename__ = "idp_grants"

    id: Mapped[str] = mapped_column(String(DIGEST_LENGTH), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("idp_clients.client_id"), index=True
    )
    subject: Mapped[str] = mapped_column(String(64), index=True)
    sid: Mapped[str | None] = mapped_column(String(DIGEST_LENGTH), index=True)
    scopes: Mapped[str] = mapped_column(String(1000))
    claims: Mapped[str | None] = mapped_column(Text())
    acr: Mapped[str | None] = mapped_column(String(200))
    amr: Mapped[str] = mapped_column(String(200))
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(32))
    #: RFC 7638 thumbprint of the DPoP key the tokens were bound to at the code exchange; the
    #: grant's refresh tokens are then usable only with a proof by that key (RFC 9449 §5;
    #: migration 0016). None: not DPoP-bound.
    dpop_jkt: Mapped[str | None] = mapped_column(String(DIGEST_LENGTH))


class RefreshTokenRow(Base):
    __tablename__ = "idp_refresh_tokens"

    token_sha256: Mapped[str] = mapped_column(String(DIGEST_LENGTH), primary_key=True)
    grant_id: Mapped[str] = mapped_column(
        String(DIGEST_LENGTH), ForeignKey("idp_grants.id"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class RevokedAccessTokenRow(Base):
    __tablename__ = "idp_revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(DIGEST_LENGTH), primary_key=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
