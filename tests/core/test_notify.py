"""The notifier adapters against real local servers: an HTTP SMS gateway and an SMTP server,
both started by the test and recording what reached them."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.notify import (
    GatewayNotifier,
    Notification,
    NotificationFailed,
    OutboxNotifier,
    SmsHttpNotifier,
    SmtpNotifier,
    make_notifier,
    read_outbox,
)
from core.settings import load_settings

AT = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
PHONE = "+85512345678"
SECRET_TEXT = "Your NatID password reset code is 48151623."


def _sms(**extra: Any) -> Notification:
    values: dict[str, Any] = {
        "kind": "password_reset_code",
        "subject": "NatID password reset code",
        "text": SECRET_TEXT,
        "locale": "en",
        "to_phone": PHONE,
        "person_id": "p-1",
    }
    values.update(extra)
    return Notification(**values)


# --- a tiny SMS gateway -----------------------------------------------------------------------


class _Gateway(HTTPServer):
    received: list[dict[str, Any]]
    status: int


class _GatewayHandler(BaseHTTPRequestHandler):
    server: _Gateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "body": json.loads(body),
            }
        )
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    server = _Gateway(("127.0.0.1", 0), _GatewayHandler)
    server.received, server.status = [], 202
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: HTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/v1/sms"


def test_sms_adapter_posts_the_message_with_the_bearer_token(gateway: _Gateway) -> None:
    notifier = SmsHttpNotifier(_url(gateway), token="gw-token-1")
    message_id = notifier.send(_sms(), at=AT)
    assert len(gateway.received) == 1
    got = gateway.received[0]
    assert got["path"] == "/v1/sms"
    assert got["authorization"] == "Bearer gw-token-1"
    assert got["content_type"] == "application/json"
    assert got["body"] == {"to": PHONE, "text": SECRET_TEXT, "reference": message_id}


def test_sms_gateway_refusal_is_a_clear_error_without_number_or_text(
    gateway: _Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.status = 503
    caplog.set_level(logging.DEBUG)
    with pytest.raises(NotificationFailed) as raised:
        SmsHttpNotifier(_url(gateway), token="t").send(_sms(), at=AT)
    assert "HTTP 503" in str(raised.value)
    for text in (str(raised.value), caplog.text):
        assert PHONE not in text and "48151623" not in text


def test_sms_gateway_unreachable_is_a_clear_error() -> None:
    server = HTTPServer(("127.0.0.1", 0), _GatewayHandler)
    url = _url(server)
    server.server_close()  # nothing listens there any more
    with pytest.raises(NotificationFailed, match="could not be reached"):
        SmsHttpNotifier(url, token="t", timeout=2).send(_sms(), at=AT)


def test_sms_adapter_needs_a_phone_number() -> None:
    with pytest.raises(NotificationFailed, match="no phone number"):
        SmsHttpNotifier("http://127.0.0.1:9/", token="t").send(
            _sms(to_phone=None, to_email="a@example.com"), at=AT
        )


# --- a tiny SMTP server ------------------------------------------------------------------------


class _Smtp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    messages: list[dict[str, Any]]


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    server: _Smtp

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 test ESMTP")
        envelope: dict[str, Any] = {"rcpt": [], "auth": None}
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode().rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-test")
                self._say("250 AUTH PLAIN")
            elif verb == "AUTH":
                envelope["auth"] = command.split(" ", 2)[2]
                self._say("235 ok")
            elif verb == "MAIL":
                envelope["from"] = command[10:]
                self._say("250 ok")
            elif verb == "RCPT":
                envelope["rcpt"].append(command[8:])
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go on")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line)
                envelope["data"] = b"".join(lines)
                self.server.messages.append(envelope)
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def smtp_server() -> Iterator[_Smtp]:
    server = _Smtp(("127.0.0.1", 0), _SmtpHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_smtp_adapter_delivers_a_utf8_mail(smtp_server: _Smtp) -> None:
    import base64
    from email import message_from_bytes, policy

    port = smtp_server.server_address[1]
    notifier = SmtpNotifier(
        "127.0.0.1",
        port=port,
        sender="noreply@natid.example",
        user="natid",
        password="mail-secret",
        starttls=False,
    )
    notifier.send(
        _sms(
            kind="password_changed",
            subject="ពាក្យសម្ងាត់ត្រូវបានប្តូរ / Password changed",
            text="ពាក្យសម្ងាត់ NatID របស់អ្នកត្រូវបានប្តូរ។\n\nYour NatID password was changed.",
            locale="km",
            to_phone=None,
            to_email="sok.dara@example.com",
        ),
        at=AT,
    )
    (got,) = smtp_server.messages
    assert got["rcpt"] == ["<sok.dara@example.com>"]
    assert base64.b64decode(got["auth"]) == b"\0natid\0mail-secret"
    mail = message_from_bytes(got["data"], policy=policy.default)
    assert mail["Subject"] == "ពាក្យសម្ងាត់ត្រូវបានប្តូរ / Password changed"
    assert mail["From"] == "noreply@natid.example"
    assert mail["Content-Language"] == "km"
    body = mail.get_body(("plain",))
    assert body is not None
    assert "Your NatID password was changed." in body.get_content()
    assert "ពាក្យសម្ងាត់ NatID" in body.get_content()


def test_smtp_server_down_is_a_clear_error() -> None:
    probe = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    port = probe.server_address[1]
    probe.server_close()
    notifier = SmtpNotifier("127.0.0.1", port=port, sender="n@x.example", starttls=False, timeout=2)
    with pytest.raises(NotificationFailed, match="did not take the message") as raised:
        notifier.send(_sms(to_phone=None, to_email="sok.dara@example.com"), at=AT)
    assert "sok.dara" not in str(raised.value)


# --- choosing the adapter ------------------------------------------------------------------------


def test_outbox_is_the_default(tmp_path: Path) -> None:
    notifier = make_notifier(load_settings(data_dir=tmp_path))
    assert isinstance(notifier, OutboxNotifier)
    notifier.send(_sms(), at=AT)
    assert [m["kind"] for m in read_outbox(tmp_path / "outbox")] == ["password_reset_code"]


def test_gateway_setting_sends_sms_to_phones_and_mail_to_the_rest(
    tmp_path: Path, gateway: _Gateway, smtp_server: _Smtp
) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        notifier="gateway",
        sms_gateway_url=_url(gateway),
        sms_gateway_token="gw-secret",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.server_address[1],
        smtp_from="noreply@natid.example",
        smtp_starttls=False,
    )
    assert "gw-secret" not in repr(settings)
    notifier = make_notifier(settings)
    assert isinstance(notifier, GatewayNotifier)
    notifier.send(_sms(to_email="sok.dara@example.com"), at=AT)
    notifier.send(_sms(to_phone=None, to_email="sok.dara@example.com"), at=AT)
    assert [r["body"]["to"] for r in gateway.received] == [PHONE]
    assert gateway.received[0]["authorization"] == "Bearer gw-secret"
    assert [m["rcpt"] for m in smtp_server.messages] == [["<sok.dara@example.com>"]]
    assert not (tmp_path / "outbox").exists()


def test_gateway_without_any_channel_is_refused(tmp_path: Path) -> None:
    from core.settings import SettingsError

    with pytest.raises(SettingsError, match="needs NATID_SMS_GATEWAY_URL or NATID_SMTP_HOST"):
        load_settings(data_dir=tmp_path, notifier="gateway")


def test_unknown_notifier_setting_is_refused(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from core.settings import SettingsError

    with pytest.raises((ValidationError, SettingsError)):
        load_settings(data_dir=tmp_path, notifier="pigeon")
