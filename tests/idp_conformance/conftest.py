"""The OpenID Foundation conformance plans, mirrored: fixtures and a driver that plays the
conformance suite against the real HTTP application (``api.app.create_app``), on SQLite and
PostgreSQL.

The suite is a relying party plus a browser. :class:`Suite` is both: it reads discovery, sends
the authorization request (GET, or POST as a form), follows the provider's own ``303``s
(``/authorize/continue``, the consent page, which it answers through the real ``/consent``
form with its CSRF token) until the browser lands on the client's ``redirect_uri``, and then
talks to ``/token`` and ``/userinfo`` as the client. Where the plan's user logs in, the driver
does what the login page does after a successful authentication: it starts a login session
(:meth:`idp.sessions.LoginSessions.start`) and sets the session cookie. Time moves only through
the context's :class:`~core.clock.FixedClock`. The relying party's JOSE is joserfc
(``tests/api/idp_token/_rp.py``), never NatID's own code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from joserfc import jws as rfc_jws
from joserfc.jwk import KeySet

from api.app import create_app
from api.context import AppContext, build_context
from api.idp_web import SESSION_COOKIE_NAME
from core.clock import FixedClock
from core.settings import load_settings
from idp.accounts import Account
from idp.clients import CLIENT_ASSERTION_TYPE
from idp.consents import Consents
from idp.service import ProviderCore
from idp.sessions import LoginSession, LoginSessions
from registry.records import AssuranceLevel, Person
from tests.api.idp_token._rp import (
    RegisteredRP,
    RPKey,
    basic_header,
    dpop_proof,
    make_rp_key,
)
from tests.idp._accounts import person_record

PLAN_DIR = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "oidc"
PORTAL_REDIRECT = "https://portal.moh.gov.kh/cb"
TAX_REDIRECT = "https://tax.gov.kh/cb"
BANK_REDIRECT = "https://bank.example.kh/cb"
OTHER_BANK_REDIRECT = "https://other-bank.example.kh/cb"


@pytest.fixture
def app_ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    settings = load_settings(data_dir=tmp_path / "var", database_url=db_url)
    ctx = build_context(settings, clock=clock)
    ctx.idp_core().signing_keys.ensure_active(actor="test")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def core(app_ctx: AppContext) -> ProviderCore:
    return app_ctx.idp_core()


@pytest.fixture
def http(app_ctx: AppContext) -> Iterator[TestClient]:
    """The whole application, as ``natid serve`` serves it; redirects are not followed."""
    with TestClient(
        create_app(app_ctx), raise_server_exceptions=False, follow_redirects=False
    ) as c:
        yield c


def _person(ctx: AppContext, national_id: str) -> tuple[Person, Account]:
    added = ctx.register.add_person(person_record(national_id))
    account = ctx.idp_accounts().create(added.id, actor="test", activate=True)
    return added, account


@pytest.fixture
def person(app_ctx: AppContext) -> tuple[Person, Account]:
    return _person(app_ctx, "000123456")


@pytest.fixture
def other_person(app_ctx: AppContext) -> tuple[Person, Account]:
    return _person(app_ctx, "000654321")


@pytest.fixture
def portal(core: ProviderCore) -> RegisteredRP:
    """An ordinary government site: client_secret_basic (the Basic OP plan's client)."""
    registered = core.clients.add(
        name="Ministry portal", redirect_uris=[PORTAL_REDIRECT], auth_method="client_secret_basic"
    )
    return RegisteredRP(registered.client, secret=registered.client_secret)


@pytest.fixture
def tax(core: ProviderCore) -> RegisteredRP:
    """A second site, client_secret_post (oidcc-server-client-secret-post; the "other client")."""
    registered = core.clients.add(
        name="Tax office", redirect_uris=[TAX_REDIRECT], auth_method="client_secret_post"
    )
    return RegisteredRP(registered.client, secret=registered.client_secret)


def _bank(core: ProviderCore, name: str, redirect: str, alg: str) -> RegisteredRP:
    key = make_rp_key(alg)
    client = core.clients.add(
        name=name,
        redirect_uris=[redirect],
        auth_method="private_key_jwt",
        jwks=key.jwks,
        fapi2=True,
    ).client
    return RegisteredRP(client, key=key)


@pytest.fixture
def bank(core: ProviderCore) -> RegisteredRP:
    """The FAPI 2.0 plan's first client: private_key_jwt with PS256 (RSA, so RS256 can be tried)."""
    return _bank(core, "ACLEDA bank", BANK_REDIRECT, "PS256")


@pytest.fixture
def other_bank(core: ProviderCore) -> RegisteredRP:
    """The FAPI 2.0 plan's second client (ES256)."""
    return _bank(core, "Wing bank", OTHER_BANK_REDIRECT, "ES256")


# --- what the suite checks on tokens -----------------------------------------------------------


def half_hash(value: str) -> str:
    """``at_hash`` / ``c_hash`` for ES256 and PS256 (OIDC Core §3.1.3.6): SHA-256, left half."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclass
class Outcome:
    """Where the browser ended: on the client's redirect URI (``callback``), on the login page
    (``login_page``, with the ``pending`` id), or elsewhere (``response``)."""

    response: Response
    params: dict[str, str]
    verifier: str
    callback: dict[str, str] | None = None
    pending: str | None = None
    consent_pages: int = 0

    @property
    def login_page(self) -> bool:
        return self.pending is not None and self.callback is None

    @property
    def code(self) -> str:
        assert self.callback is not None, f"no callback: {self.response.status_code}"
        assert "error" not in self.callback, self.callback
        return self.callback["code"]


@dataclass
class DPoPKey:
    """A client's DPoP key and the last server nonce it saw (RFC 9449 §8)."""

    key: RPKey = field(default_factory=lambda: make_rp_key("ES256", kid="dpop"))
    nonce: str | None = None

    @property
    def jkt(self) -> str:
        return self.key.jkt


@dataclass
class Suite:
    """The conformance suite: relying party and browser (see the module docstring)."""

    http: TestClient
    ctx: AppContext
    session_token: str | None = None
    _meta: dict[str, Any] | None = None

    # --- provider facts ---------------------------------------------------------------------

    @property
    def clock(self) -> FixedClock:
        clock = self.ctx.clock
        assert isinstance(clock, FixedClock)
        return clock

    @property
    def issuer(self) -> str:
        return str(self.discovery()["issuer"])

    def discovery(self) -> dict[str, Any]:
        if self._meta is None:
            response = self.http.get("/.well-known/openid-configuration")
            assert response.status_code == 200, response.text
            self._meta = response.json()
        return self._meta

    def path_of(self, endpoint: str) -> str:
        """The path of a discovered endpoint (the suite calls what discovery names)."""
        url = str(self.discovery()[endpoint])
        assert url.startswith(self.issuer)
        return url[len(self.issuer) :] or "/"

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(self.http.get(self.path_of("jwks_uri")).json())

    def verify_id_token(
        self, id_token: str, rp: RegisteredRP, *, access_token: str | None = None
    ) -> dict[str, Any]:
        """OIDC Core §3.1.3.7 as a client checks it: signature by a key of the JWKS with an
        advertised algorithm (never ``none``), ``iss``, ``aud``, ``azp``, ``exp``, ``iat``,
        ``at_hash``."""
        header = json.loads(base64.urlsafe_b64decode(id_token.split(".", maxsplit=1)[0] + "=="))
        algs = self.discovery()["id_token_signing_alg_values_supported"]
        assert header["alg"] in algs and header["alg"] != "none"
        verified = rfc_jws.deserialize_compact(id_token, self.jwks(), algorithms=[header["alg"]])
        claims: dict[str, Any] = json.loads(verified.payload)
        now = self.clock.now().timestamp()
        assert claims["iss"] == self.issuer
        aud = claims["aud"]
        assert aud == rp.client_id or (isinstance(aud, list) and rp.client_id in aud)
        if isinstance(aud, list) and len(aud) > 1:
            assert claims["azp"] == rp.client_id
        assert claims["exp"] > now >= claims["iat"] - 5
        assert isinstance(claims["sub"], str) and claims["sub"]
        if access_token is not None:
            assert claims["at_hash"] == half_hash(access_token)
        return claims

    # --- the user ---------------------------------------------------------------------------

    def login(
        self, account: Account, *, acr: str = "low", amr: tuple[str, ...] = ("pwd",)
    ) -> LoginSession:
        """What the login page does after authenticating the user: a session and its cookie."""
        started = LoginSessions(self.ctx.sessions, ledger=self.ctx.ledger).start(
            account.id, acr=AssuranceLevel(acr), amr=amr, at=self.clock.now()
        )
        self.session_token = started.token
        self.http.cookies.set(SESSION_COOKIE_NAME(self.ctx.settings), started.token)
        return started.session

    def forget_login(self) -> None:
        """A fresh browser profile: no session cookie."""
        self.http.cookies.clear()
        self.session_token = None

    def grant(
        self,
        account: Account,
        rp: RegisteredRP,
        scopes: tuple[str, ...] = ("openid", "profile", "email", "phone", "address"),
        claims: tuple[str, ...] = (),
    ) -> None:
        """A consent given earlier (what the consent page's allow stores)."""
        Consents(self.ctx.sessions, ledger=self.ctx.ledger).grant(
            account.id,
            rp.client_id,
            scopes,
            claims,
            at=self.clock.now(),
            lifetime=dt.timedelta(days=30),
        )

    # --- the front channel ------------------------------------------------------------------

    def params(self, rp: RegisteredRP, verifier: str, **overrides: Any) -> dict[str, str]:
        """An authorization request as the suite makes it; an override of ``None`` drops one."""
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        params: dict[str, Any] = {
            "client_id": rp.client_id,
            "redirect_uri": rp.client.redirect_uris[0],
            "response_type": "code",
            "scope": "openid",
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: str(v) for k, v in params.items() if v is not None}

    def authorize(
        self,
        rp: RegisteredRP,
        *,
        method: str = "GET",
        consent: str | None = "allow",
        verifier: str | None = None,
        raw: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Outcome:
        """Send an authorization request and follow the browser to its end.

        ``consent`` answers a consent page (``allow`` every offered item, ``deny``, or None to
        stop there). ``raw`` sends exactly those parameters instead of :meth:`params`.
        """
        verifier = verifier or secrets.token_urlsafe(48)
        params = dict(raw) if raw is not None else self.params(rp, verifier, **overrides)
        path = self.path_of("authorization_endpoint")
        if method == "GET":
            response = self.http.get(path, params=params)
        else:
            response = self.http.post(path, data=params)
        outcome = Outcome(response=response, params=params, verifier=verifier)
        return self.follow(outcome, rp, consent=consent)

    def follow(self, outcome: Outcome, rp: RegisteredRP, *, consent: str | None) -> Outcome:
        """Follow the provider's redirects until the client's redirect URI or the login page."""
        for _ in range(10):
            response = outcome.response
            if response.status_code != 303:
                return outcome
            location = response.headers["location"]
            if any(location.startswith(uri) for uri in rp.client.redirect_uris):
                outcome.callback = query_of(location)
                return outcome
            parts = urlsplit(location)
            if parts.netloc and not location.startswith(self.issuer):
                return outcome  # somewhere else: the test looks at it
            pending = query_of(location).get("pending")
            if parts.path == "/login":
                outcome.pending = pending
                return outcome
            if parts.path == "/consent":
                if consent is None:
                    outcome.pending = pending
                    return outcome
                outcome.consent_pages += 1
                outcome.response = self._answer_consent(str(pending), consent)
                continue
            outcome.response = self.http.get(
                parts.path + (f"?{parts.query}" if parts.query else "")
            )
        raise AssertionError("more than 10 redirects inside the provider")

    def _answer_consent(self, pending: str, decision: str) -> Response:
        """The user on the consent page: reads it, ticks everything offered, answers."""
        page = self.http.get("/consent", params={"pending": pending})
        assert page.status_code == 200, page.text
        html = page.text
        token = re.search(r'name="csrf_token" value="([^"]*)"', html)
        assert token is not None
        form: list[tuple[str, str]] = [
            ("csrf_token", unescape(token.group(1))),
            ("pending", pending),
            ("decision", decision),
        ]
        for kind, value in re.findall(r'name="(scope|claim)" value="([^"]*)"', html):
            form.append((kind, unescape(value)))
        answer: Response = self.http.post(
            "/consent",
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return answer

    def log_in_and_continue(
        self,
        outcome: Outcome,
        account: Account,
        rp: RegisteredRP,
        *,
        acr: str = "low",
        consent: str | None = "allow",
    ) -> Outcome:
        """The user logs in on the login page; the browser goes back to the authorization."""
        assert outcome.login_page, "expected the login page"
        self.login(account, acr=acr)
        outcome.response = self.http.get("/authorize/continue", params={"pending": outcome.pending})
        outcome.pending = None
        return self.follow(outcome, rp, consent=consent)

    # --- the back channel -------------------------------------------------------------------

    def client_auth(
        self, rp: RegisteredRP, *, endpoint: str = "token_endpoint", **assertion: Any
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, form) authenticating ``rp`` its registered way; ``assertion`` overrides
        claims (or ``alg``) of a private_key_jwt assertion."""
        method = rp.client.auth_method.value
        if method == "client_secret_basic":
            assert rp.secret is not None
            return {"Authorization": basic_header(rp.client_id, rp.secret)}, {}
        if method == "client_secret_post":
            assert rp.secret is not None
            return {}, {"client_id": rp.client_id, "client_secret": rp.secret}
        assert rp.key is not None
        alg = assertion.pop("alg", None) or rp.key.alg
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": rp.client_id,
            "sub": rp.client_id,
            "aud": self.issuer,  # FAPI 2.0 §5.3.2.1: the issuer identifier, as a string
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "exp": now + 60,
            **assertion,
        }
        body = {k: v for k, v in claims.items() if v is not None}  # None: leave the claim out
        header = {"alg": alg, "kid": rp.key.private.kid}
        token = rfc_jws.serialize_compact(
            header, json.dumps(body).encode(), rp.key.private, algorithms=[alg]
        )
        return {}, {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": token}

    def dpop_header(
        self,
        dpop: DPoPKey,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        **claims: Any,
    ) -> str:
        at = claims.pop("at", self.clock.now())
        return dpop_proof(
            dpop.key,
            method=method,
            url=self.issuer + path,
            at=at,
            nonce=dpop.nonce,
            access_token=access_token,
            **claims,
        )

    def post(
        self,
        endpoint: str,
        rp: RegisteredRP,
        form: Mapping[str, str],
        *,
        dpop: DPoPKey | None = None,
        assertion: Mapping[str, Any] | None = None,
        proof: Mapping[str, Any] | None = None,
        retry_nonce: bool = True,
    ) -> Response:
        """POST ``form`` to a discovered back-channel endpoint as ``rp``, with a DPoP proof
        if ``dpop`` is given (retried once with the server's nonce, as RP libraries do)."""
        path = self.path_of(endpoint)
        for _ in range(2):
            headers, auth = self.client_auth(rp, endpoint=endpoint, **dict(assertion or {}))
            if dpop is not None:
                headers["DPoP"] = self.dpop_header(dpop, "POST", path, **dict(proof or {}))
            response: Response = self.http.post(path, data={**form, **auth}, headers=headers)
            if dpop is not None and "DPoP-Nonce" in response.headers:
                dpop.nonce = response.headers["DPoP-Nonce"]
            if not (retry_nonce and response.status_code == 400 and _is_nonce_error(response)):
                return response
        return response

    def token(
        self,
        rp: RegisteredRP,
        outcome: Outcome,
        *,
        dpop: DPoPKey | None = None,
        **form: str | None,
    ) -> Response:
        """The code exchange for ``outcome`` (``form`` overrides or, with None, drops fields)."""
        body: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": outcome.code,
            "redirect_uri": outcome.params.get("redirect_uri", rp.client.redirect_uris[0]),
            "code_verifier": outcome.verifier,
        }
        body.update(form)
        return self.post(
            "token_endpoint", rp, {k: v for k, v in body.items() if v is not None}, dpop=dpop
        )

    def tokens(self, rp: RegisteredRP, outcome: Outcome, **kw: Any) -> dict[str, Any]:
        response = self.token(rp, outcome, **kw)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body: dict[str, Any] = response.json()
        return body

    def userinfo(
        self,
        access_token: str,
        *,
        method: str = "GET",
        in_body: bool = False,
        dpop: DPoPKey | None = None,
        scheme: str | None = None,
    ) -> Response:
        path = self.path_of("userinfo_endpoint")
        headers: dict[str, str] = {}
        data = None
        if in_body:
            data = {"access_token": access_token}
        else:
            headers["Authorization"] = f"{scheme or ('DPoP' if dpop else 'Bearer')} {access_token}"
        for _ in range(2):
            if dpop is not None:
                headers["DPoP"] = self.dpop_header(dpop, method, path, access_token=access_token)
            response: Response = self.http.request(method, path, headers=headers, data=data)
            if dpop is not None and "DPoP-Nonce" in response.headers:
                dpop.nonce = response.headers["DPoP-Nonce"]
            challenge = response.headers.get("WWW-Authenticate", "")
            if not (dpop is not None and 'error="use_dpop_nonce"' in challenge):
                return response
        return response


def _is_nonce_error(response: Response) -> bool:
    try:
        return bool(response.json().get("error") == "use_dpop_nonce")
    except ValueError:
        return False


@pytest.fixture
def suite(http: TestClient, app_ctx: AppContext) -> Suite:
    return Suite(http, app_ctx)
