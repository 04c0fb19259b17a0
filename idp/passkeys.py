"""Passkeys: WebAuthn registration and discoverable-credential login (W3C WebAuthn Level 2/3).

The ceremonies are verified by py_webauthn (``webauthn`` on PyPI); this module decides what
NatID asks for, stores, and concludes. Decisions:

* **Options.** Registration asks for a discoverable credential (``residentKey: preferred``,
  WebAuthn §5.4.6), user verification ``required`` (§5.8.6) and attestation ``none``
  (§5.4.7: NatID does not restrict authenticator models, so it has no use for attestation and
  does not collect device identifying data). Login sends no ``allowCredentials`` (§5.5), so the
  authenticator offers the user's discoverable credential and nobody types an ID number.
* **Relying party.** ``rpId`` is the host of the public base URL, the expected origin is that
  URL's scheme, host and port (§13.4.9: both are checked in the client data).
* **Challenges** are 32 random bytes (§13.4.3: at least 16), kept in the shared cache under
  the challenge itself for :data:`CHALLENGE_TTL` and popped on use, so each is accepted once
  across every worker; a registration challenge is bound to the account that asked for it.
* **User handle** (§14.6.1): 32 random bytes per account, kept on the account's passkeys and
  reused for each new one, so an authenticator that already holds a credential for the
  account replaces it. It carries no personal data. At login, §7.2 step 6 is enforced: the
  returned handle must be the one stored with the credential.
* **Signature counter** (§6.1.1): stored after each login; a counter that does not grow
  (when either side is non-zero) is refused as a possible cloned authenticator and audited
  with reason ``sign_count``. The update is conditional on the old value, so two workers
  racing with one assertion cannot both win.
* **Backup flags** (BE/BS, §6.1 / Level 3): stored and refreshed on each login.
* **Levels** (eIDAS; :func:`passkey_level`): a passkey used with user verification is two
  factors (the device, plus the PIN or biometric that unlocks it): ``substantial``. Level
  ``high`` only for a passkey bound at in-person enrolment (:meth:`Passkeys.bind_in_person`,
  issue 8) that cannot be synced (backup-eligible credentials leave the device, which the
  eIDAS annex §2.2.1 "high" criterion - protection against duplication - excludes). Either
  is capped by the person's proofing level. ``amr`` (RFC 8176 §2): ``hwk`` (a
  device-bound key) or ``swk`` (a synced key), ``user`` (presence test) and ``mfa``.
* Audit: ``idp.factor.passkey_*`` for changes; ``idp.login.succeeded`` / ``idp.login.failed``
  with ``step: passkey`` for logins (the same events :mod:`idp.accounts` writes, so the
  account page's login history shows every method).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import webauthn
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import exceptions as wa_errors
from webauthn.helpers import structs
from webauthn.helpers.cose import COSEAlgorithmIdentifier

from core.cache import Cache
from core.clock import require_aware
from idp.account_models import (
    AccountRow,
    AccountStatus,
    AuthenticatorKind,
    AuthenticatorRow,
    PasskeyRow,
    store_read,
    store_write,
)
from idp.account_records import LoginResult
from idp.errors import AccountNotActive, AuthenticatorError, LoginFailed
from registry.ports import AuditSink, PopulationRegister
from registry.records import AssuranceLevel, PersonStatus

__all__ = [
    "CHALLENGE_TTL",
    "PasskeyInfo",
    "PasskeyRow",
    "Passkeys",
    "RelyingParty",
    "passkey_level",
]

#: How long a ceremony may take between the options and the browser's answer.
CHALLENGE_TTL = 300.0
_ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
_MAX_PASSKEYS = 20
_MAX_CREDENTIAL_JSON = 64 * 1024


class _CounterRaced(Exception):
    """Another login moved the signature counter first (internal)."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """``rpId`` and origin, both from the public base URL (WebAuthn §5.1.4, §13.4.9)."""

    id: str
    origin: str
    name: str = "NatID"

    @classmethod
    def from_base_url(cls, base_url: str) -> RelyingParty:
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise AuthenticatorError("the public base URL must be an http(s) URL with a host")
        return cls(id=parts.hostname, origin=f"{parts.scheme}://{parts.netloc}")


@dataclass(frozen=True, slots=True)
class PasskeyInfo:
    """A passkey as the account pages show it."""

    id: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    backed_up: bool
    bound_in_person: bool


def passkey_level(
    proofing: AssuranceLevel | None, *, bound_in_person: bool, backup_eligible: bool
) -> AssuranceLevel:
    """The level of a login with a user-verified passkey (see the module docstring)."""
    means = (
        AssuranceLevel.HIGH
        if bound_in_person and not backup_eligible
        else AssuranceLevel.SUBSTANTIAL
    )
    proven = proofing or AssuranceLevel.LOW
    return means if means.rank <= proven.rank else proven


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse(credential: str | Mapping[str, Any]) -> dict[str, Any]:
    """The browser's credential as a JSON object (the form field holds its JSON text)."""
    if isinstance(credential, str):
        if len(credential) > _MAX_CREDENTIAL_JSON:
            raise AuthenticatorError("the passkey answer is too large", code="passkey_invalid")
        try:
            credential = json.loads(credential)
        except ValueError:
            raise AuthenticatorError(
                "the passkey answer is not JSON", code="passkey_invalid"
            ) from None
    if not isinstance(credential, Mapping):
        raise AuthenticatorError("the passkey answer is not a JSON object", code="passkey_invalid")
    return dict(credential)


def _challenge_of(credential: Mapping[str, Any]) -> str:
    """The challenge the client data names (checked again by the library against the stored one)."""
    try:
        client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
    except (KeyError, TypeError, ValueError):
        raise AuthenticatorError(
            "the passkey answer has no readable client data", code="passkey_invalid"
        ) from None
    if not isinstance(challenge, str) or not 16 <= len(challenge) <= 128:
        raise AuthenticatorError("the passkey answer has no challenge", code="passkey_invalid")
    return challenge


class Passkeys:
    """Registers, lists, removes and logs in with an account's passkeys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        cache: Cache,
        ledger: AuditSink,
        register: PopulationRegister,
        relying_party: RelyingParty,
        challenge_ttl: float = CHALLENGE_TTL,
    ) -> None:
        self._sessions = sessions
        self._cache = cache
        self._ledger = ledger
        self._register = register
        self.relying_party = relying_party
        self._ttl = challenge_ttl

    # --- challenges ----------------------------------------------------------------------------

    def _new_challenge(self, purpose: str, bound_to: str) -> bytes:
        challenge = secrets.token_bytes(32)
        key = f"idp:webauthn:{purpose}:{_b64url(challenge)}"
        self._cache.set(key, bound_to.encode(), ttl=self._ttl)
        return challenge

    def _take_challenge(
        self, purpose: str, credential: Mapping[str, Any], bound_to: str
    ) -> tuple[bytes, str]:
        """Pop the challenge the answer names; it must be bound to ``bound_to`` (a prefix of
        the stored value). Returns the challenge and the rest of the stored value."""
        text = _challenge_of(credential)
        stored = self._cache.pop(f"idp:webauthn:{purpose}:{text}")
        value = stored.decode(errors="replace") if stored is not None else ""
        head, _, rest = value.partition("|")
        if stored is None or not secrets.compare_digest(head.encode(), bound_to.encode()):
            raise AuthenticatorError(
                "the passkey request expired or was already used; try again",
                code="passkey_challenge",
            )
        return _unb64url(text), rest

    # --- registration --------------------------------------------------------------------------

    def _user_handle(self, session: Session, account_id: str) -> bytes:
        query = (
            select(PasskeyRow.user_handle)
            .join(AuthenticatorRow, AuthenticatorRow.id == PasskeyRow.authenticator_id)
            .where(AuthenticatorRow.account_id == account_id)
            .limit(1)
        )
        found = session.scalar(query)
        return bytes(found) if found is not None else secrets.token_bytes(32)

    def registration_options(self, account_id: str, *, user_name: str, display_name: str) -> str:
        """The JSON ``PublicKeyCredentialCreationOptions`` for ``navigator.credentials.create``.

        ``user_name`` is what the authenticator shows to tell accounts apart (WebAuthn
        §5.4.3); never the ID card number (the caller passes the Latin name)."""
        with store_read(self._sessions) as session:
            handle = self._user_handle(session, account_id)
            existing = session.scalars(
                select(AuthenticatorRow.webauthn_credential_id).where(
                    AuthenticatorRow.account_id == account_id,
                    AuthenticatorRow.kind == AuthenticatorKind.PASSKEY.value,
                )
            ).all()
        options = webauthn.generate_registration_options(
            rp_id=self.relying_party.id,
            rp_name=self.relying_party.name,
            user_id=handle,
            user_name=user_name[:64] or "NatID",
            user_display_name=display_name[:64] or user_name[:64] or "NatID",
            challenge=self._new_challenge("reg", f"{account_id}|{_b64url(handle)}"),
            timeout=int(self._ttl * 1000),
            attestation=structs.AttestationConveyancePreference.NONE,
            authenticator_selection=structs.AuthenticatorSelectionCriteria(
                resident_key=structs.ResidentKeyRequirement.PREFERRED,
                user_verification=structs.UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                structs.PublicKeyCredentialDescriptor(id=bytes(c)) for c in existing if c
            ],
            supported_pub_key_algs=_ALGORITHMS,
        )
        return webauthn.options_to_json(options)

    def register(
        self,
        account_id: str,
        credential: str | Mapping[str, Any],
        *,
        label: str,
        at: dt.datetime,
        actor: str,
    ) -> PasskeyInfo:
        """Verify the browser's answer to :meth:`registration_options` and store the passkey."""
        at = require_aware(at)
        data = _parse(credential)
        challenge, handle_text = self._take_challenge("reg", data, account_id)
        handle = _unb64url(handle_text)
        try:
            verified = webauthn.verify_registration_response(
                credential=data,
                expected_challenge=challenge,
                expected_rp_id=self.relying_party.id,
                expected_origin=self.relying_party.origin,
                require_user_verification=True,
                supported_pub_key_algs=_ALGORITHMS,
            )
        except wa_errors.WebAuthnException as exc:
            raise AuthenticatorError(
                f"the passkey was not accepted ({type(exc).__name__})", code="passkey_invalid"
            ) from None
        transports = data.get("response", {}).get("transports") or []
        name = " ".join(label.split())[:60] or "passkey"
        authenticator_id = str(uuid.uuid4())
        with store_write(self._sessions) as session:
            count = len(
                session.scalars(
                    select(AuthenticatorRow.id).where(
                        AuthenticatorRow.account_id == account_id,
                        AuthenticatorRow.kind == AuthenticatorKind.PASSKEY.value,
                    )
                ).all()
            )
            if count >= _MAX_PASSKEYS:
                raise AuthenticatorError(
                    f"an account holds at most {_MAX_PASSKEYS} passkeys; remove one first",
                    code="passkey_limit",
                )
            taken = session.scalar(
                select(AuthenticatorRow.id).where(
                    AuthenticatorRow.webauthn_credential_id == verified.credential_id
                )
            )
            if taken is not None:
                raise AuthenticatorError(
                    "this passkey is already registered", code="passkey_exists"
                )
            session.add(
                AuthenticatorRow(
                    id=authenticator_id,
                    account_id=account_id,
                    kind=AuthenticatorKind.PASSKEY.value,
                    label=name,
                    created_at=at,
                    confirmed_at=at,
                    webauthn_credential_id=verified.credential_id,
                    webauthn_public_key=verified.credential_public_key,
                    webauthn_sign_count=verified.sign_count,
                    bound_in_person=False,
                )
            )
            session.flush()
            session.add(
                PasskeyRow(
                    authenticator_id=authenticator_id,
                    user_handle=handle,
                    aaguid=verified.aaguid,
                    backup_eligible=(
                        verified.credential_device_type is structs.CredentialDeviceType.MULTI_DEVICE
                    ),
                    backed_up=verified.credential_backed_up,
                    transports=" ".join(str(t) for t in transports if isinstance(t, str))[:100],
                )
            )
            session.flush()
            self._ledger.append(
                "idp.factor.passkey_added",
                actor=actor,
                subject=account_id,
                data={"authenticator_id": authenticator_id, "aaguid": verified.aaguid},
                session=session,
            )
        return PasskeyInfo(authenticator_id, name, at, None, verified.credential_backed_up, False)

    # --- managing ------------------------------------------------------------------------------

    def list_for_account(self, account_id: str) -> list[PasskeyInfo]:
        query = (
            select(AuthenticatorRow, PasskeyRow)
            .join(PasskeyRow, PasskeyRow.authenticator_id == AuthenticatorRow.id)
            .where(AuthenticatorRow.account_id == account_id)
            .order_by(AuthenticatorRow.created_at, AuthenticatorRow.id)
        )
        with store_read(self._sessions) as session:
            return [
                PasskeyInfo(
                    a.id,
                    a.label or "passkey",
                    a.created_at,
                    a.last_used_at,
                    p.backed_up,
                    a.bound_in_person,
                )
                for a, p in session.execute(query)
            ]

    def remove(self, account_id: str, authenticator_id: str, *, actor: str) -> None:
        """Remove one of the account's passkeys (another account's id is "not found")."""
        with store_write(self._sessions) as session:
            row = self._own(session, account_id, authenticator_id)
            session.execute(delete(PasskeyRow).where(PasskeyRow.authenticator_id == row.id))
            session.delete(row)
            session.flush()
            self._ledger.append(
                "idp.factor.passkey_removed",
                actor=actor,
                subject=account_id,
                data={"authenticator_id": authenticator_id},
                session=session,
            )

    def bind_in_person(
        self, account_id: str, authenticator_id: str, *, officer: str, at: dt.datetime
    ) -> PasskeyInfo:
        """Record that an officer saw the holder register this passkey at in-person enrolment
        (issue 8). Only then can it give level ``high`` (:func:`passkey_level`)."""
        at = require_aware(at)
        with store_write(self._sessions) as session:
            row = self._own(session, account_id, authenticator_id)
            details = session.get_one(PasskeyRow, row.id)
            row.bound_in_person = True
            session.flush()
            self._ledger.append(
                "idp.factor.passkey_bound_in_person",
                actor=officer,
                subject=account_id,
                data={"authenticator_id": row.id, "at": at.isoformat()},
                session=session,
            )
            return PasskeyInfo(
                row.id, row.label or "passkey", row.created_at, row.last_used_at,
                details.backed_up, True,
            )  # fmt: skip

    @staticmethod
    def _own(session: Session, account_id: str, authenticator_id: str) -> AuthenticatorRow:
        try:
            key = str(uuid.UUID(authenticator_id))
        except ValueError:
            key = ""
        row = session.get(AuthenticatorRow, key) if key else None
        if row is None or row.account_id != account_id or row.kind != AuthenticatorKind.PASSKEY:
            raise AuthenticatorError("no such passkey", code="passkey_not_found")
        return row

    # --- logging in ----------------------------------------------------------------------------

    def authentication_options(self) -> str:
        """JSON ``PublicKeyCredentialRequestOptions`` for a discoverable-credential login."""
        options = webauthn.generate_authentication_options(
            rp_id=self.relying_party.id,
            challenge=self._new_challenge("auth", "login"),
            timeout=int(self._ttl * 1000),
            user_verification=structs.UserVerificationRequirement.REQUIRED,
        )
        return webauthn.options_to_json(options)

    def _fail(self, actor: str | None, reason: str, source: str | None) -> LoginFailed:
        self._ledger.append(
            "idp.login.failed",
            actor=actor,
            subject=actor,
            data={"step": "passkey", "reason": reason, "source": (source or "")[:64]},
        )
        return LoginFailed("the passkey was not accepted", code=f"passkey_{reason}")

    def authenticate(
        self, credential: str | Mapping[str, Any], *, at: dt.datetime, source: str | None
    ) -> LoginResult:
        """Verify a login assertion (WebAuthn §7.2); return the login's level and methods.

        Raises :class:`~idp.errors.LoginFailed` (audited) or
        :class:`~idp.errors.AccountNotActive`."""
        at = require_aware(at)
        data = _parse(credential)
        try:
            challenge, _ = self._take_challenge("auth", data, "login")
            raw_id = _unb64url(str(data.get("rawId") or data.get("id") or ""))
        except (AuthenticatorError, ValueError):
            raise self._fail(None, "challenge", source) from None
        with store_read(self._sessions) as session:
            found = session.execute(
                select(AuthenticatorRow, PasskeyRow, AccountRow)
                .join(PasskeyRow, PasskeyRow.authenticator_id == AuthenticatorRow.id)
                .join(AccountRow, AccountRow.id == AuthenticatorRow.account_id)
                .where(AuthenticatorRow.webauthn_credential_id == raw_id)
            ).one_or_none()
        if found is None or not raw_id:
            raise self._fail(None, "unknown_credential", source)
        row, details, account = found
        handle = (data.get("response") or {}).get("userHandle")
        # §7.2 step 6: a discoverable credential's user handle names the account that owns it.
        if not isinstance(handle, str) or not secrets.compare_digest(
            _unb64url(handle), bytes(details.user_handle)
        ):
            raise self._fail(account.id, "user_handle", source)
        old_count = row.webauthn_sign_count or 0
        try:
            verified = webauthn.verify_authentication_response(
                credential=data,
                expected_challenge=challenge,
                expected_rp_id=self.relying_party.id,
                expected_origin=self.relying_party.origin,
                credential_public_key=bytes(row.webauthn_public_key or b""),
                credential_current_sign_count=old_count,
                require_user_verification=True,
            )
        except wa_errors.WebAuthnException as exc:
            reason = "sign_count" if "sign count" in str(exc).lower() else "signature"
            raise self._fail(account.id, reason, source) from None
        person = self._register.get_person(account.person_id)
        if account.status != AccountStatus.ACTIVE or person.status is not PersonStatus.ACTIVE:
            self._fail(account.id, "account_not_active", source)
            raise AccountNotActive("this account cannot log in now")
        acr = passkey_level(
            self._register.proofing_level(person.id),
            bound_in_person=row.bound_in_person,
            backup_eligible=details.backup_eligible,
        )
        amr = ("swk" if details.backup_eligible else "hwk", "user", "mfa")
        try:
            self._record_login(
                authenticator_id=row.id,
                account_id=account.id,
                verified=verified,
                old_count=old_count,
                at=at,
                acr=acr,
                amr=amr,
                source=source,
            )
        except _CounterRaced:
            raise self._fail(account.id, "sign_count", source) from None
        return LoginResult(
            account_id=account.id,
            person_id=person.id,
            acr=acr,
            amr=amr,
            authenticated_at=at,
            second_factor_available=True,
        )

    def _record_login(
        self,
        *,
        authenticator_id: str,
        account_id: str,
        verified: VerifiedAuthentication,
        old_count: int,
        at: dt.datetime,
        acr: AssuranceLevel,
        amr: tuple[str, ...],
        source: str | None,
    ) -> None:
        with store_write(self._sessions) as session:
            moved = session.execute(
                update(AuthenticatorRow)
                .where(AuthenticatorRow.id == authenticator_id)
                .where(AuthenticatorRow.webauthn_sign_count == old_count)
                .values(webauthn_sign_count=verified.new_sign_count, last_used_at=at)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise _CounterRaced
            session.execute(
                update(PasskeyRow)
                .where(PasskeyRow.authenticator_id == authenticator_id)
                .values(backed_up=verified.credential_backed_up)
            )
            stored = session.get_one(AccountRow, account_id)
            stored.last_login_at = at
            session.flush()
            self._ledger.append(
                "idp.login.succeeded",
                actor=account_id,
                subject=account_id,
                data={
                    "step": "passkey",
                    "source": (source or "")[:64],
                    "acr": acr.value,
                    "amr": list(amr),
                    "authenticator_id": authenticator_id,
                },
                session=session,
            )
