"""The ``Notifier`` port: how NatID tells a person something (ARCHITECTURE.md, ports).

Domain code builds a :class:`Notification` (already in the person's language) and hands it to
whatever :class:`Notifier` the app factory chose. Adapters:

* :class:`OutboxNotifier` (the development default and the one the tests use): each message
  becomes one JSON file under ``<data dir>/outbox/``, newest last by name (time, then the
  order of sending), so a developer (or a
  test) can read the SMS or e-mail that would have been sent. The files hold the message text,
  which may carry a one-time code: that is the point of a development outbox, and why it is
  never the production choice.
* :class:`SmsHttpNotifier`: POSTs the SMS as JSON (``{"to", "text", "reference"}``) to an
  SMS gateway URL with a bearer token; any 2xx answer means handed over. Gateways differ in
  their field names; a small HTTP shim in front of a given gateway is the expected adapter.
* :class:`SmtpNotifier`: an e-mail (RFC 5322, UTF-8) over SMTP, with STARTTLS (RFC 3207) and
  login when configured.
* :class:`GatewayNotifier` sends by SMS when the person has a phone, else by e-mail, and
  :func:`make_notifier` picks the adapter from the settings (``NATID_NOTIFIER``).

A notifier never logs the message text or the address: log lines carry the kind and an id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from core.errors import InfrastructureError

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = [
    "GatewayNotifier",
    "Notification",
    "NotificationFailed",
    "Notifier",
    "OutboxNotifier",
    "SmsHttpNotifier",
    "SmtpNotifier",
    "make_notifier",
    "read_outbox",
]

log = logging.getLogger(__name__)


class NotificationFailed(InfrastructureError):
    """A gateway (SMS or mail) did not accept a message. The text says which gateway and how,
    never the address or the message."""

    code = "notification_failed"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one person, by SMS, e-mail or both.

    ``kind`` is a stable machine name (``activation_code``, ``password_changed``,
    ``certificate_revoked`` ...); ``subject`` and ``text`` are the human message in ``locale``
    (``km`` or ``en``); ``data`` holds non-secret extras for adapters and tests (never an ID
    card number). ``person_id`` is the register id, for the outbox and for audit correlation.
    """

    kind: str
    subject: str
    text: str
    locale: str = "en"
    to_phone: str | None = None
    to_email: str | None = None
    person_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.to_phone is None and self.to_email is None:
            raise ValueError("a notification needs a phone number or an e-mail address")


class Notifier(Protocol):
    """Delivers a :class:`Notification`; raises on a delivery it could not hand over."""

    def send(self, notification: Notification, *, at: dt.datetime) -> str:
        """Send it and return the message id (for logs and audit)."""
        ...


class OutboxNotifier:
    """Writes each notification as ``<outbox>/<UTC time>-<order>-<id>.json`` (dev, tests)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, notification: Notification, *, at: dt.datetime) -> str:
        message_id = uuid.uuid4().hex
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"id": message_id, "at": at.isoformat(), **asdict(notification)}
        record["data"] = dict(notification.data)
        stamp = at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        # Messages of the same instant (a test's fixed clock) keep the order they were sent in.
        order = time.monotonic_ns()
        path = self.directory / f"{stamp}-{order:020d}-{message_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(path)
        return message_id


def read_outbox(directory: Path) -> list[dict[str, Any]]:
    """Every message in the outbox, oldest first (for developers and tests)."""
    if not directory.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


class SmsHttpNotifier:
    """Sends the SMS through an HTTP gateway: ``POST <url>`` with ``Authorization: Bearer``
    and a JSON body ``{"to": phone, "text": text, "reference": message id}``."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise NotificationFailed("the SMS gateway URL must be http(s)")
        self._url = url
        self._token = token
        self._timeout = timeout
        self._transport = transport

    def send(self, notification: Notification, *, at: dt.datetime) -> str:
        if notification.to_phone is None:
            raise NotificationFailed(f"{notification.kind}: no phone number to send an SMS to")
        message_id = uuid.uuid4().hex
        body = {"to": notification.to_phone, "text": notification.text, "reference": message_id}
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                answer = client.post(
                    self._url, json=body, headers={"Authorization": f"Bearer {self._token}"}
                )
        except httpx.HTTPError as exc:
            # The exception text may quote the request; only its kind goes out.
            raise NotificationFailed(
                f"the SMS gateway could not be reached ({type(exc).__name__})"
            ) from None
        if not answer.is_success:
            raise NotificationFailed(
                f"the SMS gateway refused the message: HTTP {answer.status_code}, expected 2xx"
            )
        log.info("sms handed over", extra={"kind": notification.kind, "message_id": message_id})
        return message_id


class SmtpNotifier:
    """Sends the notification as a plain-text UTF-8 e-mail over SMTP (STARTTLS optional)."""

    def __init__(
        self,
        host: str,
        *,
        port: int = 587,
        sender: str,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._user, self._password = user, password
        self._starttls, self._timeout = starttls, timeout
        self._tls = tls_context

    def send(self, notification: Notification, *, at: dt.datetime) -> str:
        if notification.to_email is None:
            raise NotificationFailed(f"{notification.kind}: no e-mail address to write to")
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notification.to_email
        message["Subject"] = notification.subject
        message["Date"] = format_datetime(at)
        message["Message-ID"] = make_msgid(domain=self._sender.rpartition("@")[2] or None)
        message.set_content(notification.text)
        # After set_content, which replaces every Content-* header.
        message["Content-Language"] = notification.locale
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=self._tls or ssl.create_default_context())
                if self._user:
                    smtp.login(self._user, self._password or "")
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationFailed(
                f"the mail server {self._host}:{self._port} did not take the message"
                f" ({type(exc).__name__})"
            ) from None
        message_id = str(message["Message-ID"]).strip("<>")
        log.info("mail handed over", extra={"kind": notification.kind, "message_id": message_id})
        return message_id


class GatewayNotifier:
    """SMS when the notification has a phone number (most people, ARCHITECTURE.md: 98 % of
    use is on mobile), else e-mail; a channel that is not configured is skipped."""

    def __init__(self, *, sms: Notifier | None, mail: Notifier | None) -> None:
        if sms is None and mail is None:
            raise NotificationFailed("the gateway notifier needs an SMS gateway or a mail server")
        self._sms, self._mail = sms, mail

    def send(self, notification: Notification, *, at: dt.datetime) -> str:
        if notification.to_phone is not None and self._sms is not None:
            return self._sms.send(notification, at=at)
        if notification.to_email is not None and self._mail is not None:
            return self._mail.send(notification, at=at)
        raise NotificationFailed(f"{notification.kind}: no configured channel reaches the person")


def make_notifier(settings: Settings) -> Notifier:
    """The notifier ``NATID_NOTIFIER`` names: ``outbox`` (default) or ``gateway``."""
    if settings.notifier == "outbox":
        if settings.production:
            log.warning("the development outbox notifier is in use in production mode")
        return OutboxNotifier(settings.data_dir / "outbox")
    sms: Notifier | None = None
    mail: Notifier | None = None
    if settings.sms_gateway_url:
        token = settings.sms_gateway_token.get_secret_value() if settings.sms_gateway_token else ""
        sms = SmsHttpNotifier(settings.sms_gateway_url, token=token)
    if settings.smtp_host and settings.smtp_from:
        mail = SmtpNotifier(
            settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
        )
    return GatewayNotifier(sms=sms, mail=mail)
