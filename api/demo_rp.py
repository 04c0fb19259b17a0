"""The demo site's OpenID Connect relying party: an ordinary client of NatID, over HTTP only.

The demo business-registration portal (:mod:`api.routers.demo_site`) logs citizens in the way
any government site would, and nothing here imports the provider's internals:

* Discovery (OIDC Discovery 1.0 §4) at ``{issuer}/.well-known/openid-configuration``; the
  document's ``issuer`` must equal the configured issuer exactly (§4.3). The document and the
  JWKS are cached for :data:`METADATA_TTL` (public data; a worker may keep it), and the JWKS is
  fetched again once when an ID token names an unknown ``kid`` (key rotation).
* Authorization code flow (OIDC Core §3.1) with PKCE S256 (RFC 7636 §4.1-4.2), a random
  ``state`` (RFC 6749 §10.12) and ``nonce`` (OIDC Core §3.1.2.1); step-up asks for
  ``acr_values`` and ``max_age`` (OIDC Core §3.1.2.1).
* The callback (:meth:`DemoRelyingParty.finish`) checks ``state`` (constant-time), the RFC 9207
  ``iss`` parameter, then redeems the code at the token endpoint with ``client_secret_basic``
  (RFC 6749 §2.3.1: id and secret form-encoded before Base64), verifies the ID token (OIDC
  Core §3.1.3.7: signature under the provider's JWKS, ``iss``, ``aud``, ``azp``, ``exp``,
  ``iat``, ``nonce``, ``auth_time`` against ``max_age``) and reads UserInfo, whose ``sub`` must
  equal the ID token's (§5.3.2).
* Logout is RP-initiated (RP-Initiated Logout 1.0 §2): ``id_token_hint``,
  ``post_logout_redirect_uri``, ``state``, ``ui_locales``.

The site keeps no state in a worker's memory: the login in progress and the logged-in session
are :class:`~api.demo_cookies.SignedCookie` values.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from api.demo_cookies import CLOCK_SKEW_SECONDS
from core.clock import Clock, require_aware
from core.errors import NatIDError

__all__ = [
    "ACR_ORDER",
    "CLOCK_SKEW_SECONDS",
    "METADATA_TTL",
    "DemoClientConfig",
    "DemoLogin",
    "DemoRPError",
    "DemoRelyingParty",
    "LoginFlow",
    "acr_at_least",
]

#: Levels of assurance, lowest first (the provider's ``acr_values_supported``).
ACR_ORDER = ("low", "substantial", "high")
METADATA_TTL = 300.0
#: ID-token algorithms this site accepts (never ``none``, never HMAC with a public key).
ACCEPTED_ALGS = ("ES256", "ES384", "PS256", "RS256", "EdDSA")


class DemoRPError(NatIDError):
    """The login at the demo site failed; ``reason`` is a key of the site's text table."""

    code = "demo_login_failed"

    def __init__(self, message: str, *, reason: str = "login_failed") -> None:
        super().__init__(message)
        self.reason = reason


def acr_at_least(acr: object, wanted: str) -> bool:
    """Whether the achieved ``acr`` is ``wanted`` or higher."""
    return (
        isinstance(acr, str)
        and acr in ACR_ORDER
        and ACR_ORDER.index(acr) >= ACR_ORDER.index(wanted)
    )


# --- configuration and flow values --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoClientConfig:
    """What the site's operator was given when it registered (``natid init`` writes it)."""

    issuer: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    redirect_uri: str
    post_logout_redirect_uri: str
    cookie_key: str = dataclasses.field(repr=False)  # hex, the site's own HMAC key

    def as_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DemoClientConfig:
        fields = [f.name for f in dataclasses.fields(cls)]
        if not all(isinstance(data.get(name), str) for name in fields):
            raise ValueError("the demo client configuration is incomplete")
        return cls(**{name: str(data[name]) for name in fields})


@dataclass(frozen=True, slots=True)
class LoginFlow:
    """A login in progress, kept in the browser's signed flow cookie until the callback."""

    state: str
    nonce: str
    code_verifier: str
    lang: str
    purpose: str  # "profile" or "business" (where to go after the login)
    acr: str | None  # the level asked for with acr_values
    max_age: int | None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoginFlow | None:
        try:
            return cls(
                state=str(data["state"]),
                nonce=str(data["nonce"]),
                code_verifier=str(data["code_verifier"]),
                lang=str(data["lang"]),
                purpose=str(data["purpose"]),
                acr=None if data.get("acr") is None else str(data["acr"]),
                max_age=None if data.get("max_age") is None else int(data["max_age"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """A verified login: the raw ID token (for logout), its claims and the UserInfo claims."""

    id_token: str = dataclasses.field(repr=False)
    id_claims: dict[str, Any]
    userinfo: dict[str, Any]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- the relying party --------------------------------------------------------------------------


class DemoRelyingParty:
    """The demo site's side of the OpenID Connect protocol."""

    def __init__(self, config: DemoClientConfig, *, http: httpx.Client, clock: Clock) -> None:
        self.config = config
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, KeySet] | None = None

    # Public data of the provider, cached briefly per worker.

    def _get_json(self, url: str, *, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise DemoRPError(
                f"{what}: the provider did not answer ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise DemoRPError(f"{what}: the provider answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise DemoRPError(f"{what}: the provider's answer is not JSON") from exc
        if not isinstance(data, dict):
            raise DemoRPError(f"{what}: expected a JSON object")
        return data

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (OIDC Discovery §4)."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata[0] < METADATA_TTL:
                return self._metadata[1]
        url = f"{self.config.issuer}/.well-known/openid-configuration"
        data = self._get_json(url, what="discovery")
        if data.get("issuer") != self.config.issuer:
            # Discovery §4.3: the issuer in the document must be the one we asked.
            raise DemoRPError("discovery: the document names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            if not isinstance(data.get(name), str):
                raise DemoRPError(f"discovery: the document has no {name}")
        with self._lock:
            self._metadata = (time.monotonic(), data)
        return data

    def _keys(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._jwks
        if cached is not None and not refresh and time.monotonic() - cached[0] < METADATA_TTL:
            return cached[1]
        data = self._get_json(str(self.metadata()["jwks_uri"]), what="JWKS")
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise DemoRPError("JWKS: the provider's key set cannot be read") from exc
        with self._lock:
            self._jwks = (time.monotonic(), keys)
        return keys

    # Front channel.

    def start(
        self, *, lang: str, purpose: str, acr: str | None = None, max_age: int | None = None
    ) -> tuple[str, LoginFlow]:
        """The authorization URL to send the browser to, and the flow to remember."""
        flow = LoginFlow(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),  # 64 characters (RFC 7636 §4.1)
            lang=lang,
            purpose=purpose,
            acr=acr,
            max_age=max_age,
        )
        challenge = _b64url(hashlib.sha256(flow.code_verifier.encode("ascii")).digest())
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": self.config.redirect_uri,
            "scope": "openid profile",
            "state": flow.state,
            "nonce": flow.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "ui_locales": lang,
        }
        if acr is not None:
            params["acr_values"] = acr
        if max_age is not None:
            params["max_age"] = str(max_age)
        return f"{self.metadata()['authorization_endpoint']}?{urlencode(params)}", flow

    def logout_url(self, id_token: str, *, lang: str, state: str) -> str:
        """Where to send the browser to end the provider's session (RP-Initiated Logout §2)."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not isinstance(endpoint, str):
            raise DemoRPError("discovery: the provider has no end_session_endpoint")
        params = {
            "id_token_hint": id_token,
            "client_id": self.config.client_id,
            "post_logout_redirect_uri": self.config.post_logout_redirect_uri,
            "state": state,
            "ui_locales": lang,
        }
        return f"{endpoint}?{urlencode(params)}"

    # Back channel.

    def finish(self, params: Mapping[str, str], flow: LoginFlow | None) -> DemoLogin:
        """Complete the login the callback ``params`` answer; raises :class:`DemoRPError`."""
        # RFC 6749 §10.12: the response must belong to a login this browser started.
        state = params.get("state", "")
        if flow is None or not hmac.compare_digest(state.encode(), flow.state.encode()):
            raise DemoRPError("the state does not match a login of this browser", reason="state")
        if "error" in params:
            raise DemoRPError(
                f"the provider answered {params['error'][:64]!r}", reason="provider_error"
            )
        # RFC 9207 §2.4: the response names the issuer we sent the browser to.
        if params.get("iss") != self.config.issuer:
            raise DemoRPError("the response names another issuer (mix-up)", reason="mixup")
        code = params.get("code")
        if not code:
            raise DemoRPError("the response has no code")
        tokens = self._redeem(code, flow)
        id_token = tokens.get("id_token")
        access_token = tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise DemoRPError("the token response lacks id_token or access_token")
        claims = self.verify_id_token(id_token, nonce=flow.nonce, max_age=flow.max_age)
        userinfo = self._userinfo(access_token)
        if userinfo.get("sub") != claims["sub"]:
            raise DemoRPError("UserInfo is about another subject (OIDC Core §5.3.2)")
        return DemoLogin(id_token=id_token, id_claims=claims, userinfo=userinfo)

    def _redeem(self, code: str, flow: LoginFlow) -> dict[str, Any]:
        basic = (
            f"{quote(self.config.client_id, safe='')}:{quote(self.config.client_secret, safe='')}"
        )
        try:
            response = self._http.post(
                str(self.metadata()["token_endpoint"]),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.config.redirect_uri,
                    "code_verifier": flow.code_verifier,
                },
                headers={
                    "Authorization": "Basic " + base64.b64encode(basic.encode()).decode("ascii"),
                    "Accept": "application/json",
                },
            )
        except httpx.HTTPError as exc:
            raise DemoRPError(f"token endpoint: no answer ({type(exc).__name__})") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise DemoRPError(f"token endpoint: HTTP {response.status_code} ({error})")
        return body

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        try:
            response = self._http.get(
                str(self.metadata()["userinfo_endpoint"]),
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise DemoRPError(f"UserInfo: no answer ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise DemoRPError(f"UserInfo: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise DemoRPError("UserInfo: the answer is not JSON") from exc
        if not isinstance(data, dict):
            raise DemoRPError("UserInfo: expected a JSON object")
        return data

    def verify_id_token(self, id_token: str, *, nonce: str, max_age: int | None) -> dict[str, Any]:
        """The ID token's claims after the checks of OIDC Core §3.1.3.7."""
        try:
            decoded = jwt.decode(id_token, self._keys(), algorithms=list(ACCEPTED_ALGS))
        except JoseError:
            # Perhaps a key published after our copy of the JWKS (rotation): fetch once more.
            try:
                decoded = jwt.decode(
                    id_token, self._keys(refresh=True), algorithms=list(ACCEPTED_ALGS)
                )
            except (JoseError, ValueError) as exc:
                raise DemoRPError("the ID token's signature does not verify") from exc
        except ValueError as exc:
            raise DemoRPError("the ID token is malformed") from exc
        claims = dict(decoded.claims)
        now = require_aware(self._clock.now()).timestamp()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        checks = (
            (claims.get("iss") == self.config.issuer, "iss is not the issuer"),
            (self.config.client_id in audiences, "aud does not name this site"),
            (
                len(audiences) == 1 or claims.get("azp") == self.config.client_id,
                "azp is not this site",
            ),
            (isinstance(claims.get("sub"), str) and claims["sub"], "sub is missing"),
            (
                isinstance(claims.get("exp"), int) and claims["exp"] > now - CLOCK_SKEW_SECONDS,
                "the ID token has expired",
            ),
            (
                isinstance(claims.get("iat"), int) and claims["iat"] < now + CLOCK_SKEW_SECONDS,
                "iat is in the future",
            ),
            (
                isinstance(claims.get("nonce"), str)
                and hmac.compare_digest(claims["nonce"].encode(), nonce.encode()),
                "the nonce does not match",
            ),
        )
        for ok, problem in checks:
            if not ok:
                raise DemoRPError(f"ID token refused: {problem}")
        if max_age is not None:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, int) or auth_time < now - max_age - CLOCK_SKEW_SECONDS:
                raise DemoRPError("ID token refused: the login is older than max_age")
        return claims
