"""Authlib's client driving every flow of issue 4 against ``natid serve`` (used by
``test_authlib.py``, whose docstring lists what Authlib does and what is added by hand)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.integrations.requests_client import (  # type: ignore[import-untyped]
    OAuth2Session,
    OAuthError,
)
from authlib.oauth2.client import DEFAULT_HEADERS  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.e2e.oidc._browser import Browser
from tests.e2e.oidc._checks import provider_keys, verify_jwt
from tests.e2e.oidc._provider import Provider

SCOPE_ALL = "openid profile email phone address offline_access"
Result = dict[str, Any]


class DPoP:
    """RFC 9449 proofs for one key pair, remembering the server's latest ``DPoP-Nonce``."""

    def __init__(self, key: ECKey) -> None:
        self.key = key
        self.nonce: str | None = None

    def remember_nonce(self, response: Any, *_: Any, **__: Any) -> None:
        """Also a requests response hook (hence the extra arguments)."""
        if nonce := response.headers.get("DPoP-Nonce"):
            self.nonce = nonce

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if self.nonce:
            claims["nonce"] = self.nonce
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key)

    def retrying(self, send: Callable[[], Any]) -> Any:
        """Call ``send`` (which builds a fresh proof); once more if the server wants a nonce."""
        try:
            result = send()
        except OAuthError as exc:
            if exc.error != "use_dpop_nonce":
                raise
            return send()
        if hasattr(result, "status_code") and _wants_nonce(result):
            return send()
        return result


def _wants_nonce(response: Any) -> bool:
    """``response`` is an httpx or a requests response."""
    if response.status_code == 401:
        return "use_dpop_nonce" in response.headers.get("WWW-Authenticate", "")
    if response.status_code == 400:
        try:
            return bool(response.json().get("error") == "use_dpop_nonce")
        except ValueError:
            return False
    return False


class AuthlibFlows:
    """Every flow, in order, against one provider; results (or failures) by flow name."""

    def __init__(self, provider: Provider) -> None:
        self.p = provider
        self.meta: dict[str, Any] = {}
        self.results: dict[str, Result] = {}
        self.errors: dict[str, str] = {}
        citizen = provider.citizen
        self.browser = Browser(
            identifier=citizen.national_id,
            password=citizen.password,
            totp_secret=citizen.totp_secret,
        )

    def run(self) -> None:
        for name in ("discovery", "code_basic", "refresh", "code_post", "fapi2", "logout"):
            try:
                self.results[name] = getattr(self, f"flow_{name}")()
            except Exception as exc:  # reported by the test of that flow
                self.errors[name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        self.browser.close()

    # --- helpers ------------------------------------------------------------------------------

    def _client(self, name: str, **kw: Any) -> OAuth2Session:
        c = self.p.clients[name]
        return OAuth2Session(
            client_id=c["client_id"],
            client_secret=c.get("client_secret"),
            redirect_uri=c["redirect_uris"][0],
            code_challenge_method="S256",
            default_timeout=30,
            **kw,
        )

    def _authorize(self, client: OAuth2Session, name: str, **params: Any) -> Result:
        """create_authorization_url -> browser -> fetch_token; the checks a careful RP makes."""
        verifier = generate_token(48)
        nonce = generate_token(32)
        url, state = client.create_authorization_url(
            self.meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
        )
        pages = len(self.browser.pages)
        callback = self.browser.run(url, client.redirect_uri)
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        token = client.fetch_token(
            self.meta["token_endpoint"],
            authorization_response=callback,
            state=state,
            code_verifier=verifier,
        )
        return self._result(client, token, nonce, query, self.browser.pages[pages:])

    def _result(
        self,
        client: OAuth2Session,
        token: dict[str, Any],
        nonce: str,
        callback: dict[str, str],
        pages: list[str],
    ) -> Result:
        assert callback.get("iss") == self.p.issuer  # RFC 9207, by hand
        header, raw = verify_jwt(token["id_token"], provider_keys(self.p))
        claims = CodeIDToken(
            raw,
            header,
            options={
                "iss": {"essential": True, "value": self.p.issuer},
                "aud": {"essential": True, "value": client.client_id},
            },
            params={
                "nonce": nonce,
                "client_id": client.client_id,
                "access_token": token["access_token"],
            },
        )
        claims.validate(leeway=30)
        return {
            "token": dict(token),
            "id_token_claims": dict(claims),
            "sent_nonce": nonce,
            "callback_params": callback,
            "pages": pages,
        }

    def _userinfo(self, client: OAuth2Session) -> Any:
        return client.get(self.meta["userinfo_endpoint"])

    # --- flows --------------------------------------------------------------------------------

    def flow_discovery(self) -> Result:
        answer = httpx.get(f"{self.p.issuer}/.well-known/openid-configuration", timeout=10)
        answer.raise_for_status()
        self.meta = answer.json()
        return {"metadata": self.meta}

    def flow_code_basic(self) -> Result:
        client = self._client("basic", token_endpoint_auth_method="client_secret_basic")
        r = self._authorize(
            client, "basic", scope=SCOPE_ALL, acr_values="substantial", prompt="consent"
        )
        access = r["token"]["access_token"]
        r["userinfo"] = self._userinfo(client).json()
        r["introspection"] = client.introspect_token(
            self.meta["introspection_endpoint"], token=access, token_type_hint="access_token"
        ).json()
        revoked = client.revoke_token(
            self.meta["revocation_endpoint"], token=access, token_type_hint="access_token"
        )
        r["revocation_status"] = revoked.status_code
        r["introspection_after_revocation"] = client.introspect_token(
            self.meta["introspection_endpoint"], token=access
        ).json()
        r["userinfo_after_revocation_status"] = self._userinfo(client).status_code
        return r

    def flow_refresh(self) -> Result:
        client = self._client("basic", token_endpoint_auth_method="client_secret_basic")
        first = self._authorize(client, "basic", scope=SCOPE_ALL, prompt="consent")
        old_refresh = first["token"]["refresh_token"]
        second = client.refresh_token(self.meta["token_endpoint"], refresh_token=old_refresh)
        userinfo = self._userinfo(client).json()  # the session now holds the new token
        try:
            client.refresh_token(self.meta["token_endpoint"], refresh_token=old_refresh)
            reuse: Result = {"refused": False}
        except OAuthError as exc:
            reuse = {"refused": True, "error": exc.error}
        after = client.introspect_token(
            self.meta["introspection_endpoint"], token=second["refresh_token"]
        ).json()
        return {
            "first": first,
            "second": dict(second),
            "userinfo_with_refreshed_token": userinfo,
            "reuse_of_old_refresh_token": reuse,
            "rotated_token_after_reuse": after,
        }

    def flow_code_post(self) -> Result:
        client = self._client(
            "post",
            token_endpoint_auth_method="client_secret_post",
            revocation_endpoint_auth_method="client_secret_post",
        )
        r = self._authorize(client, "post", scope="openid profile")
        r["userinfo"] = self._userinfo(client).json()
        return r

    def flow_fapi2(self) -> Result:
        bank = self.p.clients["fapi"]
        client = OAuth2Session(
            client_id=bank["client_id"],
            client_secret=self.p.fapi_key,
            token_endpoint_auth_method="private_key_jwt",
            revocation_endpoint_auth_method="private_key_jwt",
            redirect_uri=bank["redirect_uris"][0],
            code_challenge_method="S256",
            default_timeout=30,
        )
        kid = self.p.fapi_key.kid
        client.register_client_auth_method(
            PrivateKeyJWT(self.p.issuer, alg="ES256", headers={"kid": kid})
        )
        dpop = DPoP(self.p.dpop_key)
        client.hooks["response"].append(dpop.remember_nonce)
        # PAR: Authlib builds the request (PKCE, state, nonce); it is pushed, not sent by browser.
        verifier, nonce = generate_token(48), generate_token(32)
        url, state = client.create_authorization_url(
            self.meta["authorization_endpoint"],
            code_verifier=verifier,
            nonce=nonce,
            scope="openid profile offline_access",
            prompt="consent",
        )
        pushed_params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        par_url = self.meta["pushed_authorization_request_endpoint"]
        par = dpop.retrying(
            lambda: client.request(
                "POST",
                par_url,
                data=pushed_params,
                auth=client.client_auth("private_key_jwt"),
                headers={"DPoP": dpop.proof("POST", par_url)},
                withhold_token=True,
            )
        )
        assert par.status_code == 201, f"PAR answered {par.status_code}: {par.text}"
        request_uri = par.json()["request_uri"]
        front = f"{self.meta['authorization_endpoint']}?" + urlencode(
            {"client_id": client.client_id, "request_uri": request_uri}
        )
        pages = len(self.browser.pages)
        callback = self.browser.run(front, client.redirect_uri)
        token_url = self.meta["token_endpoint"]
        token = dpop.retrying(
            lambda: client.fetch_token(
                token_url,
                authorization_response=callback,
                state=state,
                code_verifier=verifier,
                headers={**DEFAULT_HEADERS, "DPoP": dpop.proof("POST", token_url)},
            )
        )
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        r = self._result(client, token, nonce, query, self.browser.pages[pages:])
        r["front_channel_url"] = front
        r["par_response"] = par.json()
        r["userinfo"] = self._dpop_userinfo(dpop, token["access_token"])
        refreshed = dpop.retrying(
            lambda: client.refresh_token(
                token_url,
                refresh_token=token["refresh_token"],
                headers={**DEFAULT_HEADERS, "DPoP": dpop.proof("POST", token_url)},
            )
        )
        r["refreshed"] = dict(refreshed)
        r["userinfo_with_refreshed_token"] = self._dpop_userinfo(dpop, refreshed["access_token"])
        r["introspection_of_refreshed"] = client.introspect_token(
            self.meta["introspection_endpoint"], token=refreshed["access_token"]
        ).json()
        return r

    def _dpop_userinfo(self, dpop: DPoP, access_token: str) -> Result:
        url = self.meta["userinfo_endpoint"]

        def send() -> httpx.Response:
            answer = httpx.get(
                url,
                headers={
                    "Authorization": f"DPoP {access_token}",
                    "DPoP": dpop.proof("GET", url, access_token),
                },
                timeout=10,
            )
            dpop.remember_nonce(answer)
            return answer

        answer = dpop.retrying(send)
        assert answer.status_code == 200, f"UserInfo answered {answer.status_code}: {answer.text}"
        info: Result = answer.json()
        return info

    def flow_logout(self) -> Result:
        basic = self.results["code_basic"]
        client_cfg = self.p.clients["basic"]
        state = generate_token(24)
        post_logout = client_cfg["post_logout_redirect_uris"][0]
        end_session = f"{self.meta['end_session_endpoint']}?" + urlencode(
            {
                "id_token_hint": basic["token"]["id_token"],
                "post_logout_redirect_uri": post_logout,
                "state": state,
                "client_id": client_cfg["client_id"],
            }
        )
        pages = len(self.browser.pages)
        landed = self.browser.run(end_session, post_logout)
        logout_pages = self.browser.pages[pages:]
        client = self._client("basic", token_endpoint_auth_method="client_secret_basic")
        silent_url, silent_state = client.create_authorization_url(
            self.meta["authorization_endpoint"],
            code_verifier=generate_token(48),
            scope="openid",
            prompt="none",
        )
        silent = self.browser.run(silent_url, client.redirect_uri)
        return {
            "sent_state": state,
            "landed": landed,
            "landed_params": {k: v[0] for k, v in parse_qs(urlsplit(landed).query).items()},
            "pages": logout_pages,
            "after_logout_prompt_none": {
                k: v[0] for k, v in parse_qs(urlsplit(silent).query).items()
            },
            "sent_silent_state": silent_state,
        }
