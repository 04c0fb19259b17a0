# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""Back-channel logout (idp/logout.py, OIDC Back-Channel Logout 1.0): the logout token, who
gets one, and that an unreachable relying party never stops a logout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast
from urllib.parse import parse_qs

import pytest
from joserfc import jwt as rfc_jwt
from joserfc.jwk import KeySet

from core.audit import AuditLedger
from core.clock import FixedClock
from idp.accounts import Account
from idp.clients import Client
from idp.jose import b64url_decode
from idp.logout import (
    BACKCHANNEL_LOGOUT_EVENT,
    BackChannelLogout,
    HttpxLogoutSender,
    logout_token_claims,
)
from idp.service import ProviderCore
from idp.sessions import LoginSession, LoginSessions
from registry.records import AssuranceLevel
from tests.idp._accounts import (  # noqa: F401 - fixtures
    account,
    accounts,
    cache,
    events,
    ledger,
    login_sessions,
    passwords,
    person,
    register,
    throttle,
    totp,
)

PERSON = "6f1c2b9e-5d0a-4e47-9a53-2f8e3b1c7d10"


@dataclass
class Recorder:
    status: int = 200
    error: Exception | None = None
    posts: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def post_form(self, url: str, form: Mapping[str, str], *, timeout: float) -> int:
        self.posts.append((url, dict(form), timeout))
        if self.error is not None:
            raise self.error
        return self.status


def add_client(core: ProviderCore, name: str, backchannel: str | None) -> Client:
    host = name.lower().replace(" ", "")
    return core.clients.add(
        name=name, redirect_uris=[f"https://{host}.gov.kh/cb"],
        auth_method="client_secret_basic", backchannel_logout_uri=backchannel,
    ).client  # fmt: skip


@pytest.fixture
def ended(
    login_sessions: LoginSessions, account: Account, core: ProviderCore, clock: FixedClock
) -> tuple[LoginSession, Client, Client]:
    """A session that logged into two clients (one with a back-channel URI), then ended."""
    with_uri = add_client(core, "Tax office", "https://taxoffice.gov.kh/logout")
    without = add_client(core, "Library", None)
    started = login_sessions.start(
        account.id, acr=AssuranceLevel.LOW, amr=["pwd"], at=clock.now()
    ).session
    for c in (with_uri, without):
        login_sessions.add_client(started.id, c.client_id, at=clock.now())
    session = login_sessions.end(started.id, at=clock.now(), actor=account.id)
    return session, with_uri, without


def test_logout_token_has_the_claims_of_section_2_4(
    core: ProviderCore, ended: tuple[LoginSession, Client, Client], clock: FixedClock,
    ledger: AuditLedger,
) -> None:  # fmt: skip
    session, with_uri, without = ended
    sender = Recorder()
    results = BackChannelLogout(core, sender=sender, ledger=ledger).notify(
        session, person_id=PERSON, at=clock.now()
    )
    assert {r.client_id: r.delivered for r in results} == {
        with_uri.client_id: True, without.client_id: False,
    }  # fmt: skip
    assert [url for url, _, _ in sender.posts] == ["https://taxoffice.gov.kh/logout"]
    token = sender.posts[0][1]["logout_token"]
    assert json.loads(b64url_decode(token.split(".")[0]))["typ"] == "logout+jwt"
    jwks = KeySet.import_key_set(cast(Any, core.signing_keys.jwks(at=clock.now())))
    claims = rfc_jwt.decode(token, jwks, algorithms=["ES256", "PS256"]).claims
    now = int(clock.now().timestamp())
    assert claims["iss"] == core.issuer and claims["aud"] == with_uri.client_id
    assert claims["iat"] == now and claims["exp"] == now + 120
    assert claims["sub"] == core.tokens.subject_for(with_uri, PERSON) != PERSON
    assert claims["sid"] == session.id
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert "nonce" not in claims
    sent = events(ledger, "idp.logout.backchannel_sent")
    assert sent[0].subject == with_uri.client_id and token not in json.dumps(sent[0].data)


def test_each_token_is_unique(clock: FixedClock) -> None:
    one = logout_token_claims(issuer="i", client_id="c", sub="s", sid="x", at=clock.now())
    two = logout_token_claims(issuer="i", client_id="c", sub="s", sid="x", at=clock.now())
    assert one["jti"] != two["jti"]


@pytest.mark.parametrize("failure", [OSError("connection refused"), TimeoutError(), None])
def test_unreachable_client_is_audited_not_raised(
    core: ProviderCore, ended: tuple[LoginSession, Client, Client], clock: FixedClock,
    ledger: AuditLedger, failure: Exception | None,
) -> None:  # fmt: skip
    session, with_uri, _ = ended
    sender = Recorder(status=503, error=failure)
    results = BackChannelLogout(core, sender=sender, ledger=ledger).notify(
        session, person_id=PERSON, at=clock.now(), clients=[with_uri.client_id, "gone-client"]
    )
    assert {r.client_id: r.delivered for r in results} == {
        "gone-client": False, with_uri.client_id: False,
    }  # fmt: skip
    failed = events(ledger, "idp.logout.backchannel_failed")
    assert [e.subject for e in failed] == [with_uri.client_id]
    assert failed[0].data["sid"] == session.id


class _Handler(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, dict[str, list[str]]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append((self.path, self.headers["Content-Type"], parse_qs(body)))
        status = 302 if self.path == "/redirect" else 200
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def rp_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_httpx_sender_posts_a_form_and_follows_no_redirect(rp_server: str) -> None:
    sender = HttpxLogoutSender()
    assert sender.post_form(f"{rp_server}/logout", {"logout_token": "t.o.k"}, timeout=2) == 200
    assert sender.post_form(f"{rp_server}/redirect", {"logout_token": "x"}, timeout=2) == 302
    assert [(p, f) for p, _, f in _Handler.received] == [
        ("/logout", {"logout_token": ["t.o.k"]}), ("/redirect", {"logout_token": ["x"]}),
    ]  # fmt: skip
    assert _Handler.received[0][1] == "application/x-www-form-urlencoded"


def test_httpx_sender_turns_a_dead_address_into_oserror() -> None:
    with pytest.raises(OSError, match="back-channel logout request failed"):
        HttpxLogoutSender().post_form("http://127.0.0.1:9/x", {"logout_token": "t"}, timeout=1)
