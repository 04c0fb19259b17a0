"""A relying party's side of the wire, written with joserfc (not NatID's JOSE code): client
keys, client assertions, DPoP proofs, and token requests."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from httpx import Response
from joserfc import jwk as rfc_jwk
from joserfc import jws as rfc_jws

from idp.clients import CLIENT_ASSERTION_TYPE, Client
from idp.jose import jwk_thumbprint
from idp.service import ProviderCore
from tests.idp._flow import issue_code


@dataclass
class RPKey:
    private: Any
    alg: str

    @property
    def public(self) -> dict[str, Any]:
        return dict(self.private.as_dict(private=False))

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public]}

    @property
    def jkt(self) -> str:
        return jwk_thumbprint(self.public)


def make_rp_key(alg: str = "ES256", *, kid: str = "rp-1") -> RPKey:
    if alg == "ES256":
        key: Any = rfc_jwk.ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    else:
        key = rfc_jwk.RSAKey.import_key(
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
    key = rfc_jwk.import_key({**key.as_dict(private=True), "kid": kid})
    return RPKey(private=key, alg=alg)


@dataclass
class RegisteredRP:
    client: Client
    secret: str | None = field(default=None, repr=False)
    key: RPKey | None = None

    @property
    def client_id(self) -> str:
        return self.client.client_id


def basic_header(client_id: str, secret: str, *, encode_all: bool = False) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, join with ':', base64."""
    if encode_all:
        enc = lambda s: "".join(f"%{b:02X}" for b in s.encode())  # noqa: E731
    else:
        enc = lambda s: quote(s, safe="")  # noqa: E731
    raw = f"{enc(client_id)}:{enc(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def client_assertion(
    rp: RegisteredRP, *, aud: Any, at: dt.datetime, alg: str | None = None, **overrides: Any
) -> str:
    assert rp.key is not None
    now = int(at.timestamp())
    claims: dict[str, Any] = {
        "iss": rp.client_id,
        "sub": rp.client_id,
        "aud": aud,
        "jti": secrets.token_urlsafe(12),
        "iat": now,
        "exp": now + 60,
        **overrides,
    }
    alg = alg or rp.key.alg
    header = {"alg": alg, "kid": rp.key.private.kid}
    return rfc_jws.serialize_compact(
        header, json.dumps(claims).encode(), rp.key.private, algorithms=[alg]
    )


def ath(access_token: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest())
        .rstrip(b"=")
        .decode()
    )


def dpop_proof(
    key: RPKey,
    *,
    method: str,
    url: str,
    at: dt.datetime,
    nonce: str | None = None,
    access_token: str | None = None,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A DPoP proof as an RP library makes it (RFC 9449 §4.2)."""
    body: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(at.timestamp()),
    }
    if nonce is not None:
        body["nonce"] = nonce
    if access_token is not None:
        body["ath"] = ath(access_token)
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    head = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.public, **(header or {})}
    return rfc_jws.serialize_compact(
        head, json.dumps(body).encode(), key.private, algorithms=[key.alg]
    )


def auth_for(
    rp: RegisteredRP, issuer: str, at: dt.datetime
) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) authenticating ``rp`` with its registered method."""
    method = rp.client.auth_method.value
    if method == "client_secret_basic":
        assert rp.secret is not None
        return {"Authorization": basic_header(rp.client_id, rp.secret)}, {}
    if method == "client_secret_post":
        assert rp.secret is not None
        return {}, {"client_id": rp.client_id, "client_secret": rp.secret}
    aud = issuer if rp.client.fapi2 else f"{issuer}/token"
    return {}, {
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(rp, aud=aud, at=at),
    }


def mint_code(
    core: ProviderCore, rp: RegisteredRP, subject: str, at: dt.datetime, **kw: Any
) -> tuple[str, str]:
    return issue_code(core, rp.client, at, subject=subject, **kw)


def post_form(
    http: TestClient,
    path: str,
    data: dict[str, str],
    headers: dict[str, str] | None = None,
) -> Response:
    return http.post(path, data=data, headers=headers or {})


class DPoPSession:
    """Sends DPoP-bound requests like an RP library: retries once on use_dpop_nonce."""

    def __init__(self, http: TestClient, key: RPKey, issuer: str, at: dt.datetime) -> None:
        self.http = http
        self.key = key
        self.issuer = issuer
        self.at = at
        self.nonce: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        access_token: str | None = None,
    ) -> Response:
        for _ in range(2):
            proof = dpop_proof(
                self.key,
                method=method,
                url=self.issuer + path,
                at=self.at,
                nonce=self.nonce,
                access_token=access_token,
            )
            all_headers = {**(headers or {}), "DPoP": proof}
            if access_token is not None:
                all_headers["Authorization"] = f"DPoP {access_token}"
            response = self.http.request(method, path, data=data, headers=all_headers)
            if "DPoP-Nonce" in response.headers:
                self.nonce = response.headers["DPoP-Nonce"]
            retry = response.status_code in {400, 401} and "use_dpop_nonce" in response.text + (
                response.headers.get("WWW-Authenticate") or ""
            )
            if not retry:
                return response
        return response
