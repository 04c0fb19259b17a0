"""ORM tables of IdP accounts, authenticators, recovery codes and login sessions.

Migration ``0010_idp_accounts``. Choices a reader should know:

* An account belongs to one person of the register (``person_id``, the register's random
  internal id, unique): civil servants are persons too, and their positions come from the
  register when claims are built. The national ID card number is never stored here; login looks
  it up through the register (ARCHITECTURE.md, "Identifiers").
* ``operator_id`` optionally links the account to an operator of the admin/RA APIs, whose roles
  become the ``roles`` claim.
* One table holds every authenticator kind (``password``, ``totp``, ``passkey``), with the
  columns each kind needs: an Argon2id PHC string, a TOTP secret sealed with AES-GCM (never in
  clear, see :mod:`idp.totp`) and the last accepted time step (replay protection that holds
  across workers and restarts), or a WebAuthn credential (id, COSE public key, signature
  counter; the ceremony itself is a later issue). ``confirmed_at`` is empty while an enrolment
  waits for its first code.
* Recovery codes and session tokens are stored as SHA-256 digests only: both are random
  (80 and 256 bits), so a slow hash would add cost and no protection (docs/decisions.md,
  "Operators", argues the same for API tokens).
* A session row has a public id (shown on the account pages, used to end one session) apart
  from the digest of its cookie token, so listing sessions never exposes a usable token.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core.db import Base, UTCDateTime, transaction
from idp.errors import AccountStoreUnavailable

__all__ = [
    "AccountRow",
    "AccountStatus",
    "AuthenticatorKind",
    "AuthenticatorRow",
    "LoginSessionRow",
    "PasskeyRow",
    "RecoveryCodeRow",
    "SessionClientRow",
    "read_failed",
    "store_read",
    "store_read_core",
    "store_write",
]

log = logging.getLogger(__name__)

_ID = Uuid(as_uuid=False)
_HASH = 64


class AccountStatus(StrEnum):
    """``pending`` until activated; ``locked`` by an officer or after a lost device;
    ``disabled`` for good (death, leaving)."""

    PENDING = "pending"
    ACTIVE = "active"
    LOCKED = "locked"
    DISABLED = "disabled"


class AuthenticatorKind(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a kind name, not a password
    TOTP = "totp"
    PASSKEY = "passkey"


class AccountRow(Base):
    __tablename__ = "idp_accounts"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'active', 'locked', 'disabled')", name="status"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_persons.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    operator_id: Mapped[str | None] = mapped_column(_ID, ForeignKey("operators.id"))
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    phone_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"AccountRow(id={self.id!r}, status={self.status!r})"


class AuthenticatorRow(Base):
    __tablename__ = "idp_authenticators"
    __table_args__ = (CheckConstraint("kind IN ('password', 'totp', 'passkey')", name="kind"),)

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(_ID, ForeignKey("idp_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: password: the Argon2id PHC string.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: totp: ``v1.<key id>.<base64url(nonce || AES-GCM ciphertext)>``.
    totp_secret_sealed: Mapped[str | None] = mapped_column(Text())
    #: totp: the newest time step accepted (RFC 6238 §5.2: a code is accepted once).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger())
    #: passkey (WebAuthn §6.1, §6.5.1): credential id, COSE_Key, signature counter.
    webauthn_credential_id: Mapped[bytes | None] = mapped_column(LargeBinary(), unique=True)
    webauthn_public_key: Mapped[bytes | None] = mapped_column(LargeBinary())
    webauthn_sign_count: Mapped[int | None] = mapped_column(BigInteger())
    #: passkey: registered during in-person enrolment (what level high asks of a passkey).
    bound_in_person: Mapped[bool] = mapped_column(Boolean(), default=False)

    def __repr__(self) -> str:
        return f"AuthenticatorRow(id={self.id!r}, kind={self.kind!r})"


class RecoveryCodeRow(Base):
    __tablename__ = "idp_recovery_codes"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(_ID, ForeignKey("idp_accounts.id"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(_HASH), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class LoginSessionRow(Base):
    __tablename__ = "idp_sessions"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(_HASH), unique=True)
    account_id: Mapped[str] = mapped_column(_ID, ForeignKey("idp_accounts.id"), index=True)
    acr: Mapped[str] = mapped_column(String(16))
    #: RFC 8176 method references, space-separated.
    amr: Mapped[str] = mapped_column(String(100))
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class SessionClientRow(Base):
    """A client the session logged into (for back-channel logout, OIDC Back-Channel Logout §2)."""

    __tablename__ = "idp_session_clients"

    session_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("idp_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# --- transactions ----------------------------------------------------------------------------


@contextmanager
def store_write(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction on the account tables; database errors become
    :class:`~idp.errors.AccountStoreUnavailable`, raised ``from None`` because driver messages
    quote statement parameters (password hashes, sealed secrets)."""
    try:
        with transaction(sessions) as session:
            yield session
    except IntegrityError:
        raise AccountStoreUnavailable(
            "the account store refused a write made at the same time as another; try again"
        ) from None
    except SQLAlchemyError as exc:
        log.error(  # noqa: TRY400 - no traceback: it would quote the parameters
            "account store error", extra={"error": type(exc).__name__}
        )
        raise AccountStoreUnavailable(
            f"the account store failed ({type(exc).__name__}); is the database migrated?"
        ) from None


@contextmanager
def store_read(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only session (deferred on SQLite, so it never waits for the write lock)."""
    try:
        with sessions() as session:
            session.connection(execution_options={"sqlite_deferred": True})
            yield session
    except SQLAlchemyError as exc:
        raise read_failed(exc) from None


@contextmanager
def store_read_core(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """:func:`store_read` without the ORM session, for compiled Core selects on hot paths: a
    connection of the same engine in the same deferred read transaction, at about a third of
    a session's CPU cost on SQLite (no session, identity map or ORM result set-up)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        with store_read(sessions) as session:
            yield session.connection()
        return
    try:
        with bind.connect() as connection:
            connection.execution_options(sqlite_deferred=True)
            yield connection
    except SQLAlchemyError as exc:
        raise read_failed(exc) from None


def read_failed(exc: SQLAlchemyError) -> AccountStoreUnavailable:
    """The error (logged once) for a failed account-store read: also the ``on_failure`` of the
    held-connection reads of idp/consents.py, so both paths fail alike."""
    # No traceback: it would quote the parameters.
    log.error("account store error", extra={"error": type(exc).__name__})
    return AccountStoreUnavailable(
        f"the account store failed ({type(exc).__name__}); is the database migrated?"
    )


class PasskeyRow(Base):
    """What WebAuthn needs beyond the shared authenticator row (credential id, COSE key and
    signature counter live there: ``idp_authenticators``)."""

    __tablename__ = "idp_passkeys"

    authenticator_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False),
        ForeignKey("idp_authenticators.id", ondelete="CASCADE"),
        primary_key=True,
    )
    user_handle: Mapped[bytes] = mapped_column(LargeBinary())
    aaguid: Mapped[str] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(Boolean())
    backed_up: Mapped[bool] = mapped_column(Boolean())
    transports: Mapped[str] = mapped_column(String(100), default="")
