"""Login with a NatID authentication certificate (TLS client authentication, level high).

The TLS-terminating proxy asks the browser for a client certificate and forwards it in a
header (nginx: ``proxy_set_header X-Client-Cert $ssl_client_escaped_cert``, the URL-encoded
PEM). The HTTP layer trusts that header only from configured proxy addresses and hands the
certificate here. Nothing about the certificate is trusted before these checks, in order:

1. **Chain** (RFC 5280 §6.1, one step): the issuer is one of the NatID issuing CAs that issue
   authentication certificates - ``citizen`` (citizen-auth) and ``government`` (gov-auth) -
   whose certificates come from the CA's own store, and the issuer's key verifies the
   certificate's signature. Both certificates are valid at ``at`` (§4.1.2.5, ends inclusive).
2. **Issued by us**: the CA's records hold this serial for that issuer with the very same DER,
   profile ``citizen-auth`` or ``gov-auth``.
3. **Not revoked or on hold**: the status the OCSP responder answers with
   (:meth:`ca.service.CAService.status_of`, read from committed storage on every call, so a
   revocation is effective on the next login).
4. **Usage**: keyUsage has digitalSignature (§4.2.1.3) and extendedKeyUsage has clientAuth
   (§4.2.1.12; RFC 5246 §7.4.6 client certificates).
5. **Who**: the subject's ``serialNumber`` is ``IDCKH-<ID card number>`` (ETSI EN 319 412-1
   §5.1.3); the register maps it to a person, who must be the subject the CA recorded for the
   certificate (for gov-auth: the person holding the recorded civil-servant position, which
   must still be held), be active, and have an active IdP account.

:func:`check_certificate` (steps 1 and 4) does no I/O: it takes the certificate, the trusted
CA certificates and the time (STYLE.md). :class:`CertificateLogin` fetches what it needs and
concludes.

Level (eIDAS): a certificate from the NatID CA is a means of level high, so the login's
``acr`` is ``high`` when the person's identity was proven at high, and otherwise the proofing
level (eIDAS annex §2.1: the lower of proofing and means). ``amr`` (RFC 8176 §2) is ``sc``
(NatID authentication keys live on the eID card or a token) and ``mfa`` (the card is unlocked
with its PIN: possession and knowledge).

The ID card number never reaches a log line, an audit entry or an error message; failures are
audited as ``idp.login.failed`` with ``step: certificate`` and a reason code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import CAError
from ca.profiles import ProfileName
from ca.revocation import CertStatus, RevocationStatus
from ca.store import Authority, IssuedCertificate, serial_hex
from core.clock import require_aware
from idp.account_models import AccountRow, AccountStatus, store_read, store_write
from idp.account_records import LoginResult
from idp.errors import AccountNotActive, LoginFailed
from registry.errors import RegistryError
from registry.ports import AuditSink, PopulationRegister
from registry.records import AssuranceLevel, PersonStatus

__all__ = [
    "AUTH_PROFILES",
    "CertificateAuthorityView",
    "CertificateLogin",
    "CertificateRefused",
    "check_certificate",
    "parse_forwarded_certificate",
]

#: The issuing CAs of authentication certificates, and the profile each issues.
AUTH_PROFILES: Mapping[str, ProfileName] = {
    "citizen": ProfileName.CITIZEN_AUTH,
    "government": ProfileName.GOV_AUTH,
}
_ID_PREFIX = "IDCKH-"
_MAX_HEADER = 16 * 1024
AMR = ("sc", "mfa")


class CertificateRefused(LoginFailed):
    """The client certificate does not log anybody in; ``code`` says why (no ID numbers)."""

    code = "certificate_refused"


class CertificateAuthorityView(Protocol):
    """What certificate login reads from the CA (:class:`ca.service.CAService` has it)."""

    def authorities(self) -> tuple[Authority, ...]: ...

    def get(self, serial: str | int) -> IssuedCertificate: ...

    def status_of(self, issuer: str, serial: int) -> RevocationStatus: ...


def parse_forwarded_certificate(value: str | None) -> x509.Certificate:
    """The certificate in the proxy's header: URL-encoded PEM (nginx
    ``$ssl_client_escaped_cert``); plain PEM is accepted too."""
    if not value or not value.strip():
        raise CertificateRefused("no client certificate was presented", code="no_certificate")
    if len(value) > _MAX_HEADER:
        raise CertificateRefused("the client certificate is too large", code="malformed")
    text = unquote(value.strip()) if "%" in value else value.strip()
    try:
        return x509.load_pem_x509_certificate(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CertificateRefused(
            "the client certificate is not a PEM certificate", code="malformed"
        ) from None


def _valid_at(cert: x509.Certificate, at: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def check_certificate(
    cert: x509.Certificate, *, issuers: Mapping[str, x509.Certificate], at: dt.datetime
) -> str:
    """Steps 1 and 4 of the module docstring; return the issuing CA's name.

    ``issuers`` maps CA names to their certificates (the trust anchors for this purpose)."""
    at = require_aware(at)
    issuer_name = None
    for name, ca_cert in issuers.items():
        if ca_cert.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            continue
        issuer_name = name
        break
    if issuer_name is None:
        raise CertificateRefused(
            "the certificate was not issued by a NatID authentication CA", code="untrusted_issuer"
        )
    if not _valid_at(issuers[issuer_name], at) or not _valid_at(cert, at):
        raise CertificateRefused("the certificate is not valid at this time", code="expired")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
        purposes = None
    if (
        usage is None
        or not usage.digital_signature
        or purposes is None
        or ExtendedKeyUsageOID.CLIENT_AUTH not in purposes
    ):
        raise CertificateRefused(
            "the certificate is not an authentication certificate", code="wrong_usage"
        )
    return issuer_name


def _national_id(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    raw = values[0].value if len(values) == 1 else None
    if not isinstance(raw, str) or not raw.startswith(_ID_PREFIX) or len(raw) <= len(_ID_PREFIX):
        raise CertificateRefused(
            "the certificate names no natural person (serialNumber IDCKH-...)", code="no_person"
        )
    return raw[len(_ID_PREFIX) :]


class CertificateLogin:
    """Authenticates a person by a NatID authentication certificate."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ca: CertificateAuthorityView,
        register: PopulationRegister,
        ledger: AuditSink,
    ) -> None:
        self._sessions = sessions
        self._ca = ca
        self._register = register
        self._ledger = ledger

    def _issuers(self) -> dict[str, x509.Certificate]:
        return {a.name: a.certificate for a in self._ca.authorities() if a.name in AUTH_PROFILES}

    def _fail(
        self, error: CertificateRefused | AccountNotActive, *, actor: str | None,
        source: str | None, serial: str | None,
    ) -> CertificateRefused | AccountNotActive:  # fmt: skip
        data: dict[str, str] = {"step": "certificate", "reason": error.code}
        data["source"] = (source or "")[:64]
        if serial is not None:
            data["serial"] = serial
        self._ledger.append("idp.login.failed", actor=actor, subject=actor, data=data)
        return error

    def authenticate(
        self, cert: x509.Certificate, *, at: dt.datetime, source: str | None
    ) -> LoginResult:
        """Run the checks of the module docstring; return the login's level and methods.

        Raises :class:`CertificateRefused` or :class:`~idp.errors.AccountNotActive` (both
        audited)."""
        at = require_aware(at)
        try:
            issuer = check_certificate(cert, issuers=self._issuers(), at=at)
        except CertificateRefused as exc:
            raise self._fail(exc, actor=None, source=source, serial=None) from None
        serial = serial_hex(cert.serial_number)
        record = self._record(cert, issuer, serial, source)
        status = self._ca.status_of(issuer, cert.serial_number)
        if status.status is not CertStatus.GOOD:
            refused = CertificateRefused(
                "the certificate is revoked or suspended"
                if status.status is CertStatus.REVOKED
                else "the certificate's status is unknown",
                code="revoked" if status.status is CertStatus.REVOKED else "unknown_certificate",
            )
            raise self._fail(refused, actor=None, source=source, serial=serial)
        try:
            person = self._register.find_person_by_national_id(_national_id(cert))
        except CertificateRefused as exc:
            raise self._fail(exc, actor=None, source=source, serial=serial) from None
        except RegistryError:
            person = None
        if person is None or not self._holder_is(person.id, record):
            refused = CertificateRefused(
                "the certificate's holder is not in the register", code="no_person"
            )
            raise self._fail(refused, actor=None, source=source, serial=serial)
        with store_read(self._sessions) as session:
            found = session.scalar(select(AccountRow).where(AccountRow.person_id == person.id))
        if found is None:
            refused = CertificateRefused("the holder has no NatID account", code="no_account")
            raise self._fail(refused, actor=None, source=source, serial=serial)
        account_id = found.id
        if found.status != AccountStatus.ACTIVE or person.status is not PersonStatus.ACTIVE:
            inactive = AccountNotActive("this account cannot log in now")
            raise self._fail(inactive, actor=account_id, source=source, serial=serial)
        # The means is high; the proofing level caps it (eIDAS annex §2.1).
        acr = self._register.proofing_level(person.id) or AssuranceLevel.LOW
        with store_write(self._sessions) as session:
            session.get_one(AccountRow, account_id).last_login_at = at
            session.flush()
            self._ledger.append(
                "idp.login.succeeded",
                actor=account_id,
                subject=account_id,
                data={
                    "step": "certificate",
                    "source": (source or "")[:64],
                    "acr": acr.value,
                    "amr": list(AMR),
                    "serial": serial,
                    "issuer": issuer,
                },
                session=session,
            )
        return LoginResult(
            account_id=account_id,
            person_id=person.id,
            acr=acr,
            amr=AMR,
            authenticated_at=at,
            second_factor_available=True,
        )

    def _holder_is(self, person_id: str, record: IssuedCertificate) -> bool:
        """Whether the CA issued ``record`` to this person: citizen-auth names the person,
        gov-auth the civil-servant position, which must still be held by the person."""
        if record.profile is ProfileName.CITIZEN_AUTH:
            return record.subject_id == person_id
        try:
            servant = self._register.get_servant(record.subject_id or "")
        except RegistryError:
            return False
        return servant.person_id == person_id and servant.active

    def _record(
        self, cert: x509.Certificate, issuer: str, serial: str, source: str | None
    ) -> IssuedCertificate:
        """Step 2: the CA's record of this very certificate, of an authentication profile."""
        try:
            record = self._ca.get(serial)
        except CAError:
            record = None
        if (
            record is None
            or record.issuer != issuer
            or record.certificate != cert
            or record.profile is not AUTH_PROFILES[issuer]
        ):
            refused = CertificateRefused(
                "the certificate is not a NatID authentication certificate",
                code="unknown_certificate",
            )
            raise self._fail(refused, actor=None, source=source, serial=serial)
        return record
