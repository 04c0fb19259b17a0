"""TOTP second factor (RFC 6238) and recovery codes: enrolment by QR code, verification, replay.

* Codes: 6 digits, 30-second steps, HMAC-SHA1 - the RFC 6238 defaults, the only parameters
  every authenticator app (Google Authenticator among them) honours from an ``otpauth://`` URI.
  Secrets are 160 bits (RFC 4226 §4 R6 recommends 160) from the OS CSPRNG.
* Window: a code of the current step, the one before or the one after is accepted (RFC 6238
  §5.2 allows at most one step of network delay; phone clocks drift too).
* Replay: RFC 6238 §5.2 says a verifier MUST NOT accept the second attempt of the same OTP. The
  newest accepted step is stored on the authenticator and moved with a conditional ``UPDATE``
  (``... WHERE totp_last_step < :step``), so exactly one of two workers racing with the same
  code wins, and a code older than one already used is refused as well.
* Secrets at rest: sealed with AES-256-GCM (:class:`SecretBox`) under a key from the settings,
  with the account and authenticator ids as associated data, so a sealed secret copied onto
  another row does not open. Why not the key backend: the ``KeyBackend`` port holds signing
  keys only (no symmetric encryption), and a TOTP verifier needs the secret itself, not an
  operation on it. The sealed form is ``v1.<key id>.<base64url(nonce || ciphertext)>``; the
  key id lets a new key be introduced while old secrets still open.
* Enrolment: :meth:`TotpAuthenticators.begin` stores an unconfirmed authenticator and returns
  the secret once (for the ``otpauth://`` URI and its QR code); :meth:`~TotpAuthenticators.confirm`
  takes a first code, activates it (replacing an earlier TOTP of the account), and returns
  :data:`RECOVERY_CODE_COUNT` new recovery codes, shown once. Unconfirmed enrolments expire
  after :data:`ENROLMENT_LIFETIME`.
* Recovery codes: 80 random bits each, written ``xxxx-xxxx-xxxx-xxxx`` in Crockford's base32
  (no I, L, O, U; typing ``o`` for ``0`` or ``l`` for ``1`` is forgiven). Stored as SHA-256
  digests (random 80-bit values need no slow hash), each usable once (conditional ``UPDATE``).

Every change is audited (``idp.factor.*``, actor as given, subject = account id). Codes and
secrets never reach a log line, an audit entry or an error message.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import require_aware
from idp.account_models import (
    AuthenticatorKind,
    AuthenticatorRow,
    RecoveryCodeRow,
    store_read,
    store_write,
)
from idp.errors import AccountStoreUnavailable, AuthenticatorError
from registry.ports import AuditSink

__all__ = [
    "ENROLMENT_LIFETIME",
    "RECOVERY_CODE_COUNT",
    "STEP_SECONDS",
    "SecretBox",
    "TotpAuthenticators",
    "TotpEnrolment",
    "TotpStatus",
    "derive_key",
    "qr_png",
    "qr_svg",
]

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODE_COUNT = 10
ENROLMENT_LIFETIME = dt.timedelta(minutes=30)
ISSUER = "NatID"
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_TYPOS = str.maketrans({"o": "0", "i": "1", "l": "1"})


def derive_key(material: bytes, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose`` from a setting's secret: HKDF-SHA256 (RFC 5869), the
    purpose as ``info``, so the TOTP box and the throttle's HMAC never share a key."""
    info = f"natid idp {purpose}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


class SecretBox:
    """AES-256-GCM sealing of small secrets under versioned keys."""

    def __init__(self, keys: Mapping[str, bytes], *, current: str) -> None:
        if current not in keys or any(len(k) != 32 for k in keys.values()):
            raise AuthenticatorError("a secret box needs 32-byte keys and a current key id")
        if any(not k.isalnum() for k in keys):
            raise AuthenticatorError("secret box key ids must be letters and digits")
        self._keys = {k: AESGCM(v) for k, v in keys.items()}
        self._current = current

    @classmethod
    def derive(cls, material: bytes, *, key_id: str = "k1") -> SecretBox:
        """A box whose key is derived from ``material`` (a setting's secret)."""
        return cls({key_id: derive_key(material, "secret box v1")}, current=key_id)

    def seal(self, plaintext: bytes, *, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"v1.{self._current}.{body}"

    def open(self, sealed: str, *, context: str) -> bytes:
        unopenable = AccountStoreUnavailable(
            "a sealed authenticator secret does not open under the configured keys"
        )
        parts = sealed.split(".", 2)
        if len(parts) != 3 or parts[0] != "v1" or parts[1] not in self._keys:
            raise unopenable
        try:
            raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
            return self._keys[parts[1]].decrypt(raw[:12], raw[12:], context.encode())
        except (ValueError, InvalidTag):
            raise unopenable from None


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """A started enrolment: show ``uri`` as a QR code (or ``secret`` for typing), once."""

    authenticator_id: str
    secret: str = field(repr=False)
    uri: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TotpStatus:
    enrolled: bool
    confirmed_at: dt.datetime | None
    recovery_codes_left: int


def qr_png(uri: str, *, scale: int = 6) -> bytes:
    """The ``otpauth://`` URI as a PNG QR code (error correction M)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code, small enough to inline in a page."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, border=4))


def _context(account_id: str, authenticator_id: str) -> str:
    return f"natid-idp-totp|{account_id}|{authenticator_id}"


def _code_digest(account_id: str, code: str) -> str:
    message = f"natid-idp-recovery-code\x00{account_id}\x00{code}".encode()
    return hashlib.sha256(message).hexdigest()


def _normalise_recovery(code: str) -> str | None:
    cleaned = "".join(code.split()).replace("-", "").lower().translate(_TYPOS)
    if len(cleaned) != 16 or any(c not in _CROCKFORD for c in cleaned):
        return None
    return cleaned


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_CROCKFORD) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _step(at: dt.datetime) -> int:
    return int(require_aware(at).timestamp()) // STEP_SECONDS


def _matching_step(secret: str, code: str, at: dt.datetime) -> int | None:
    """The step in [now - 1, now + 1] whose code is ``code``, compared in constant time."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = _step(at)
    found = None
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _active_row(session: Session, account_id: str) -> AuthenticatorRow:
    """The account's confirmed TOTP authenticator, or ``no_totp``."""
    row = session.scalar(
        select(AuthenticatorRow).where(
            AuthenticatorRow.account_id == account_id,
            AuthenticatorRow.kind == AuthenticatorKind.TOTP.value,
            AuthenticatorRow.confirmed_at.is_not(None),
        )
    )
    if row is None:
        raise AuthenticatorError("no TOTP authenticator is enrolled", code="no_totp")
    return row


class TotpAuthenticators:
    """Enrols, verifies and removes an account's TOTP authenticator and recovery codes."""

    def __init__(
        self, sessions: sessionmaker[Session], *, box: SecretBox, ledger: AuditSink
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._ledger = ledger

    def begin(
        self, account_id: str, *, account_name: str, at: dt.datetime, actor: str
    ) -> TotpEnrolment:
        """Start an enrolment; earlier unconfirmed ones of the account are dropped."""
        at = require_aware(at)
        secret = pyotp.random_base32(32)
        authenticator_id = str(uuid.uuid4())
        with store_write(self._sessions) as session:
            session.execute(
                delete(AuthenticatorRow).where(
                    AuthenticatorRow.account_id == account_id,
                    AuthenticatorRow.kind == AuthenticatorKind.TOTP.value,
                    AuthenticatorRow.confirmed_at.is_(None),
                )
            )
            session.add(
                AuthenticatorRow(
                    id=authenticator_id,
                    account_id=account_id,
                    kind=AuthenticatorKind.TOTP.value,
                    label="authenticator app",
                    created_at=at,
                    totp_secret_sealed=self._box.seal(
                        secret.encode(), context=_context(account_id, authenticator_id)
                    ),
                    bound_in_person=False,
                )
            )
            session.flush()
            self._ledger.append(
                "idp.factor.totp_enrolment_started",
                actor=actor,
                subject=account_id,
                data={"authenticator_id": authenticator_id},
                session=session,
            )
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
            name=account_name, issuer_name=ISSUER
        )
        return TotpEnrolment(authenticator_id, secret, uri)

    def confirm(
        self, account_id: str, authenticator_id: str, code: str, *, at: dt.datetime, actor: str
    ) -> tuple[str, ...]:
        """Activate a started enrolment with its first code; return new recovery codes."""
        at = require_aware(at)
        with store_write(self._sessions) as session:
            row = session.get(AuthenticatorRow, authenticator_id)
            if (
                row is None
                or row.account_id != account_id
                or row.kind != AuthenticatorKind.TOTP.value
                or row.confirmed_at is not None
            ):
                raise AuthenticatorError(
                    "no TOTP enrolment waiting for confirmation; start again",
                    code="no_pending_enrolment",
                )
            if at - row.created_at > ENROLMENT_LIFETIME:
                raise AuthenticatorError(
                    f"the TOTP enrolment expired ({ENROLMENT_LIFETIME.seconds // 60} minutes); "
                    "start again",
                    code="no_pending_enrolment",
                )
            step = _matching_step(self._secret(row), code, at)
            if step is None:
                raise AuthenticatorError(
                    "the code does not match; check the phone's clock and type the current code",
                    code="totp_mismatch",
                )
            session.execute(
                delete(AuthenticatorRow).where(
                    AuthenticatorRow.account_id == account_id,
                    AuthenticatorRow.kind == AuthenticatorKind.TOTP.value,
                    AuthenticatorRow.id != authenticator_id,
                )
            )
            row.confirmed_at = at
            row.totp_last_step = step
            codes = self._replace_codes(session, account_id, at)
            self._ledger.append(
                "idp.factor.totp_enrolled",
                actor=actor,
                subject=account_id,
                data={"authenticator_id": authenticator_id, "recovery_codes": len(codes)},
                session=session,
            )
        return codes

    def waiting(self, account_id: str, *, at: dt.datetime) -> str | None:
        """The id of the account's enrolment still waiting for its first code, if one was
        started less than :data:`ENROLMENT_LIFETIME` ago (:meth:`begin` keeps at most one)."""
        at = require_aware(at)
        with store_read(self._sessions) as session:
            row = session.execute(
                select(AuthenticatorRow.id, AuthenticatorRow.created_at)
                .where(
                    AuthenticatorRow.account_id == account_id,
                    AuthenticatorRow.kind == AuthenticatorKind.TOTP.value,
                    AuthenticatorRow.confirmed_at.is_(None),
                )
                .order_by(AuthenticatorRow.created_at.desc())
                .limit(1)
            ).first()
        if row is None or at - row.created_at > ENROLMENT_LIFETIME:
            return None
        return str(row.id)

    def _secret(self, row: AuthenticatorRow) -> str:
        if row.totp_secret_sealed is None:
            raise AccountStoreUnavailable("a TOTP authenticator has no stored secret")
        return self._box.open(
            row.totp_secret_sealed, context=_context(row.account_id, row.id)
        ).decode()

    def _replace_codes(self, session: Session, account_id: str, at: dt.datetime) -> tuple[str, ...]:
        session.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.account_id == account_id))
        codes = tuple(_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT))
        for code in codes:
            digest = _code_digest(account_id, code.replace("-", ""))
            session.add(
                RecoveryCodeRow(
                    id=str(uuid.uuid4()), account_id=account_id, code_sha256=digest, created_at=at
                )
            )
        session.flush()
        return codes

    def verify(self, account_id: str, code: str, *, at: dt.datetime) -> str:
        """Accept ``code`` once; return the authenticator id, or raise ``totp_mismatch``."""
        at = require_aware(at)
        with store_write(self._sessions) as session:
            row = _active_row(session, account_id)
            step = _matching_step(self._secret(row), code.strip(), at)
            if step is None:
                raise AuthenticatorError("wrong code", code="totp_mismatch")
            # RFC 6238 §5.2: one use per code. The conditional update has one winner.
            moved = session.execute(
                update(AuthenticatorRow)
                .where(
                    AuthenticatorRow.id == row.id,
                    (AuthenticatorRow.totp_last_step.is_(None))
                    | (AuthenticatorRow.totp_last_step < step),
                )
                .values(totp_last_step=step, last_used_at=at)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise AuthenticatorError("this code was already used", code="totp_replayed")
            return row.id

    def check_secret(self, account_id: str, secret: str) -> str:
        """Return the id of the account's active TOTP authenticator if its secret is
        ``secret``; raise :class:`AuthenticatorError` otherwise: ``no_totp`` (none is active)
        or ``totp_mismatch`` (another one is, e.g. after a new enrolment).

        For the operator's tools on this machine (``natid init`` checking whether the demo
        secret it kept is still the one in use); nothing is marked as used.
        """
        with store_read(self._sessions) as session:
            row = _active_row(session, account_id)
            active = self._secret(row)
            authenticator_id = row.id
        given = "".join(secret.split()).upper()
        if not hmac.compare_digest(given.encode(), active.upper().encode()):
            raise AuthenticatorError(
                "the secret is not the active TOTP authenticator's", code="totp_mismatch"
            )
        return authenticator_id

    def use_recovery_code(self, account_id: str, code: str, *, at: dt.datetime) -> int:
        """Spend one recovery code; return how many are left, or raise ``recovery_mismatch``."""
        at = require_aware(at)
        cleaned = _normalise_recovery(code)
        with store_write(self._sessions) as session:
            if cleaned is None:
                raise AuthenticatorError("wrong recovery code", code="recovery_mismatch")
            used = session.execute(
                update(RecoveryCodeRow)
                .where(
                    RecoveryCodeRow.account_id == account_id,
                    RecoveryCodeRow.code_sha256 == _code_digest(account_id, cleaned),
                    RecoveryCodeRow.used_at.is_(None),
                )
                .values(used_at=at)
                .execution_options(synchronize_session=False)
            )
            if used.rowcount != 1:  # type: ignore[attr-defined]
                raise AuthenticatorError("wrong recovery code", code="recovery_mismatch")
            left = self._codes_left(session, account_id)
            self._ledger.append(
                "idp.factor.recovery_code_used",
                actor=account_id,
                subject=account_id,
                data={"left": left},
                session=session,
            )
            return left

    @staticmethod
    def _codes_left(session: Session, account_id: str) -> int:
        query = select(func.count()).where(
            RecoveryCodeRow.account_id == account_id, RecoveryCodeRow.used_at.is_(None)
        )
        return session.scalar(query) or 0

    def regenerate_recovery_codes(
        self, account_id: str, *, at: dt.datetime, actor: str
    ) -> tuple[str, ...]:
        """Replace every recovery code of the account (the old ones stop working)."""
        with store_write(self._sessions) as session:
            codes = self._replace_codes(session, account_id, require_aware(at))
            self._ledger.append(
                "idp.factor.recovery_codes_generated",
                actor=actor,
                subject=account_id,
                data={"count": len(codes)},
                session=session,
            )
        return codes

    def remove(self, account_id: str, *, actor: str) -> bool:
        """Remove the account's TOTP authenticators and recovery codes; True if any existed."""
        with store_write(self._sessions) as session:
            removed = session.execute(
                delete(AuthenticatorRow)
                .where(
                    AuthenticatorRow.account_id == account_id,
                    AuthenticatorRow.kind == AuthenticatorKind.TOTP.value,
                )
                .execution_options(synchronize_session=False)
            )
            session.execute(delete(RecoveryCodeRow).where(RecoveryCodeRow.account_id == account_id))
            if removed.rowcount:  # type: ignore[attr-defined]
                self._ledger.append(
                    "idp.factor.totp_removed", actor=actor, subject=account_id, session=session
                )
                return True
            return False

    def status(self, account_id: str) -> TotpStatus:
        with store_read(self._sessions) as session:
            confirmed = session.scalar(
                select(AuthenticatorRow.confirmed_at).where(
                    AuthenticatorRow.account_id == account_id,
                    AuthenticatorRow.kind == AuthenticatorKind.TOTP.value,
                    AuthenticatorRow.confirmed_at.is_not(None),
                )
            )
            return TotpStatus(
                confirmed is not None, confirmed, self._codes_left(session, account_id)
            )
