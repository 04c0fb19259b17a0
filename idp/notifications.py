"""Security notifications (issue 8): tell a person about each security event on their account.

The events are already recorded in the audit ledger, by whichever package made them - the
IdP (logins, passwords, second factors, consents) and the CA (certificates), which must not
import the IdP. So the notices hang off the ledger: :class:`SecurityNotifications` is an
after-commit listener (:meth:`core.audit.AuditLedger.add_listener`, wired in ``api/``) that
maps event names to a message and sends it to the phone (else the e-mail address) the
register holds for the person. A rolled-back action therefore never sends a notice.

* Which events: a login from a device not seen before for the account (``idp.session.started``
  whose device digest is new; the account's first device is only remembered), a password set
  or changed, a second factor added or removed, a lost phone reported, a certificate issued,
  renewed or revoked, a consent given.
* Language: the register records no preferred language, so each notice carries Khmer first
  and English after it (one SMS reads in either).
* Privacy: notices carry no ID card number, no code and no certificate serial; log lines carry
  the notice kind and the event's sequence number only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.audit_format import AuditEntry
from core.errors import NatIDError
from core.notify import Notification, Notifier
from idp.account_models import AccountRow, LoginSessionRow, store_read, store_write
from idp.models import ClientRow
from idp.recovery_models import KnownDeviceRow
from registry.ports import PopulationRegister
from registry.records import Person

__all__ = ["NOTICES", "KnownDevices", "SecurityNotifications", "device_digest"]

log = logging.getLogger(__name__)

#: kind -> (Khmer subject, Khmer text, English subject, English text).
NOTICES: Final[dict[str, tuple[str, str, str, str]]] = {
    "new_device_login": (
        "ការចូលពីឧបករណ៍ថ្មី",
        "មានការចូលគណនី NatID របស់អ្នកពីឧបករណ៍ថ្មី។ បើមិនមែនអ្នកទេ សូមប្តូរពាក្យសម្ងាត់ភ្លាម។",
        "New device login",
        "Your NatID account was just used from a new device. If this was not you, change"
        " your password now.",
    ),
    "password_changed": (
        "ពាក្យសម្ងាត់ត្រូវបានប្តូរ",
        "ពាក្យសម្ងាត់ NatID របស់អ្នកត្រូវបានប្តូរ។ បើមិនមែនអ្នកទេ សូមទៅការិយាល័យច្រកចេញចូលតែមួយ។",
        "Password changed",
        "Your NatID password was changed. If this was not you, visit a One Window office.",
    ),
    "second_factor_added": (
        "វិធីផ្ទៀងផ្ទាត់ទីពីរត្រូវបានបន្ថែម",
        "វិធីផ្ទៀងផ្ទាត់ទីពីរថ្មីត្រូវបានបន្ថែមទៅគណនី NatID របស់អ្នក។",
        "Second factor added",
        "A new second factor (authenticator app or passkey) was added to your NatID account.",
    ),
    "second_factor_removed": (
        "វិធីផ្ទៀងផ្ទាត់ទីពីរត្រូវបានដកចេញ",
        "វិធីផ្ទៀងផ្ទាត់ទីពីរមួយត្រូវបានដកចេញពីគណនី NatID របស់អ្នក។",
        "Second factor removed",
        "A second factor (authenticator app or passkey) was removed from your NatID account.",
    ),
    "lost_device_reported": (
        "ទូរស័ព្ទបាត់ត្រូវបានរាយការណ៍",
        "អ្នកបានរាយការណ៍ថាទូរស័ព្ទបាត់។ វគ្គផ្សេងៗត្រូវបានបញ្ចប់ ហើយកម្មវិធីផ្ទៀងផ្ទាត់ត្រូវបានដកចេញ។",
        "Lost phone reported",
        "You reported a lost phone: your other sessions were ended and the authenticator app"
        " was removed. Set up a new one from your account's security page.",
    ),
    "certificate_issued": (
        "វិញ្ញាបនបត្រថ្មី",
        "វិញ្ញាបនបត្រ NatID ថ្មីមួយត្រូវបានចេញជូនអ្នក។",
        "Certificate issued",
        "A new NatID certificate was issued to you.",
    ),
    "certificate_revoked": (
        "វិញ្ញាបនបត្រត្រូវបានដកហូត",
        "វិញ្ញាបនបត្រ NatID មួយរបស់អ្នកត្រូវបានដកហូត ហើយលែងប្រើបានទៀតហើយ។",
        "Certificate revoked",
        "One of your NatID certificates was revoked and can no longer be used.",
    ),
    "consent_given": (
        "ការយល់ព្រមថ្មី",
        "អ្នកបានយល់ព្រមឱ្យសេវា {client} ទទួលទិន្នន័យរបស់អ្នក។ អ្នកអាចដកវាវិញនៅទំព័រគណនី។",
        "Consent given",
        "You allowed the service {client} to receive your data. You can withdraw this on your"
        " account page.",
    ),
}

#: audit event -> notice kind, for the events whose subject (or actor) is the account.
_ACCOUNT_EVENTS: Final = {
    "idp.factor.password_set": "password_changed",
    "idp.factor.totp_enrolled": "second_factor_added",
    "idp.factor.passkey_added": "second_factor_added",
    "idp.factor.passkey_bound_in_person": "second_factor_added",
    "idp.factor.totp_removed": "second_factor_removed",
    "idp.factor.passkey_removed": "second_factor_removed",
    "idp.recovery.lost_device": "lost_device_reported",
}
#: audit event -> notice kind, for certificate events (subject: a person or civil servant id).
_CERTIFICATE_EVENTS: Final = {
    "ca.certificate.issued": "certificate_issued",
    "ca.certificate.renewed": "certificate_issued",
    "ca.certificate.rekeyed": "certificate_issued",
    "ca.certificate.revoked": "certificate_revoked",
}


def device_digest(device: str) -> str:
    """The stored form of a device identifier (a device cookie or, failing one, the user agent)."""
    return hashlib.sha256(b"natid-device\x00" + device.encode("utf-8", "replace")).hexdigest()


class KnownDevices:
    """The devices each account logged in from."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def remember(self, account_id: str, device: str, *, at: dt.datetime) -> tuple[bool, bool]:
        """Record a login from ``device``; return ``(new for this account, first device ever)``."""
        digest = device_digest(device)
        with store_write(self._sessions) as session:
            rows = list(
                session.scalars(
                    select(KnownDeviceRow).where(KnownDeviceRow.account_id == account_id)
                )
            )
            for row in rows:
                if row.device_sha256 == digest:
                    row.last_seen_at = at
                    return False, False
            session.add(
                KnownDeviceRow(
                    id=str(uuid.uuid4()),
                    account_id=account_id,
                    device_sha256=digest,
                    first_seen_at=at,
                    last_seen_at=at,
                )
            )
            return True, not rows


class SecurityNotifications:
    """An audit-ledger listener that sends each security notice (module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        register: PopulationRegister,
        notifier: Notifier,
    ) -> None:
        self._sessions = sessions
        self._register = register
        self._notifier = notifier
        self.devices = KnownDevices(sessions)

    def __call__(self, entry: AuditEntry) -> None:
        try:
            self.handle(entry)
        except NatIDError as exc:
            log.warning(
                "security notice not sent",
                extra={"event": entry.event, "seq": entry.seq, "error_code": exc.code},
            )

    def handle(self, entry: AuditEntry) -> str | None:
        """Send the notice ``entry`` calls for; return its kind (None when it calls for none)."""
        kind: str | None = None
        person: Person | None = None
        values: dict[str, str] = {}
        if entry.event in _ACCOUNT_EVENTS and entry.subject:
            kind, person = _ACCOUNT_EVENTS[entry.event], self._person_of_account(entry.subject)
        elif entry.event in _CERTIFICATE_EVENTS and entry.subject:
            kind, person = _CERTIFICATE_EVENTS[entry.event], self._person_of_subject(entry.subject)
        elif entry.event == "idp.consent.granted" and entry.actor:
            kind, person = "consent_given", self._person_of_account(entry.actor)
            values["client"] = self._client_name(entry.subject)
        elif (
            entry.event == "idp.session.started"
            and entry.actor
            and entry.subject
            and self._new_device(entry.actor, entry.subject, entry.at)
        ):
            kind, person = "new_device_login", self._person_of_account(entry.actor)
        if kind is None or person is None or not (person.phone or person.email):
            return None
        km_subject, km_text, en_subject, en_text = NOTICES[kind]
        self._notifier.send(
            Notification(
                kind=kind,
                subject=f"{km_subject} / {en_subject}",
                text=f"{km_text.format(**values)}\n\n{en_text.format(**values)}",
                locale="km",
                to_phone=person.phone or None,
                to_email=person.email or None,
                person_id=person.id,
                data={"audit_seq": entry.seq, "event": entry.event},
            ),
            at=entry.at,
        )
        log.info("security notice sent", extra={"kind": kind, "seq": entry.seq})
        return kind

    def _new_device(self, account_id: str, session_id: str, at: dt.datetime) -> bool:
        with store_read(self._sessions) as session:
            row = session.get(LoginSessionRow, session_id)
            if row is None:
                return False
            device = row.user_agent or "unknown device"
        new, first = self.devices.remember(account_id, device, at=at)
        return new and not first

    def _client_name(self, client_id: str | None) -> str:
        """The site's name as the consent page showed it (its id only if it is gone)."""
        if not client_id:
            return "?"
        with store_read(self._sessions) as session:
            name = session.scalar(select(ClientRow.name).where(ClientRow.client_id == client_id))
        return name or client_id

    def _person_of_account(self, account_id: str) -> Person | None:
        with store_read(self._sessions) as session:
            try:
                row = session.get(AccountRow, str(uuid.UUID(account_id)))
            except ValueError:
                return None
            person_id = row.person_id if row is not None else None
        return self._register.get_person(person_id) if person_id else None

    def _person_of_subject(self, subject_id: str) -> Person | None:
        """The person a certificate's subject id names: a person, or a civil servant's person
        (a legal entity has no one to tell)."""
        for lookup in (self._register.get_person, self._servant_person):
            try:
                found = lookup(subject_id)
            except NatIDError:
                continue
            if found is not None:
                return found
        return None

    def _servant_person(self, servant_id: str) -> Person | None:
        return self._register.get_person(self._register.get_servant(servant_id).person_id)
