"""A bank's eKYC, driven by Authlib against a real ``natid serve`` (issue 6).

The bank is onboarded as an operator does it (``natid registry add entity``, ``natid idp
client add --fapi2`` with ``private_key_jwt`` and the KYC scopes, ``natid kyc rp add``). Then,
as the bank's back end: discovery; an authorization request built by Authlib's
``OAuth2Session`` (PKCE S256, state, nonce) and pushed to the PAR endpoint with Authlib's
:class:`~authlib.oauth2.rfc7523.PrivateKeyJWT` client authentication; the citizen's browser
(HTTP form posts, no JavaScript: :mod:`tests.e2e.oidc._browser`) logs in with password and
TOTP and, on the consent page, unticks the optional national ID number; Authlib's
``fetch_token`` exchanges the code; ``GET /kyc/v1/person`` with the DPoP-bound token; the
answer, a JWS, is verified with joserfc against the JWKS named by the discovery document, and
its ``verified_claims`` are compared with the register (``natid registry list``).

Authlib has no DPoP (RFC 9449), no PAR and no discovery in its bare client: the DPoP proofs
are crafted with joserfc (:class:`tests.e2e.oidc._authlib_rp.DPoP`, with one retry on
``use_dpop_nonce``), PAR is a POST of the parameters Authlib put in the authorization URL, and
discovery is read with httpx - as in the OIDC suite (``tests/e2e/oidc/test_authlib.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.integrations.requests_client import OAuth2Session  # type: ignore[import-untyped]
from authlib.oauth2.client import DEFAULT_HEADERS  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]
from joserfc import jws
from joserfc.jwk import ECKey, KeySet

from tests.e2e.oidc._authlib_rp import DPoP
from tests.e2e.oidc._browser import Browser
from tests.e2e.oidc._provider import Provider, cli

pytestmark = pytest.mark.slow

REDIRECT = "https://bank.kampot.example/kyc/cb"
REFUSED_SCOPE = "kyc:national_id_number"
SCOPES = f"openid profile email kyc kyc:purpose:account_opening {REFUSED_SCOPE}"
ATTRIBUTES = "name,given_name,family_name,name#km,birthdate,email,national_id_number"


class RefusingBrowser(Browser):
    """The citizen's browser; on the consent page it unticks the scopes in ``refuse``."""

    def __init__(self, refuse: set[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.refuse = refuse
        self.offered: list[tuple[str, str]] = []

    def _fill(self, url: str, html: str) -> tuple[str, list[tuple[str, str]]]:
        action, pairs = super()._fill(url, html)
        if ("decision", "allow") not in pairs:
            return action, pairs
        self.offered = [(k, v) for k, v in pairs if k in {"scope", "claim"}]
        return action, [(k, v) for k, v in pairs if not (k == "scope" and v in self.refuse)]


@dataclass
class BankRun:
    meta: dict[str, Any]
    client_id: str
    par_status: int
    callback: dict[str, str]
    token: dict[str, Any]
    kyc_status: int
    kyc_type: str
    kyc_body: str
    offered: list[tuple[str, str]] = field(default_factory=list)


def _onboard_bank(provider: Provider, work: Path, key: ECKey) -> str:
    dd = ["--data-dir", str(provider.data_dir)]
    entity_file = work / "bank-entity.json"
    entity_file.write_text(
        json.dumps(
            {
                "register_no": "BANK-KMP-0007",
                "name_km": "ធនាគារ កំពត",
                "name_en": "Bank of Kampot",
                "kind": "bank",
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    entity_id = cli(provider.env, "registry", "add", "entity", "--json", str(entity_file), *dd)
    jwks_file = work / "bank-kyc-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}), encoding="utf-8")
    scopes = [arg for scope in SCOPES.split() for arg in ("--scope", scope)]
    out = cli(
        provider.env, "idp", "client", "add", "--name", "Bank of Kampot",
        "--redirect-uri", REDIRECT, "--auth-method", "private_key_jwt",
        "--jwks", str(jwks_file), "--fapi2", *scopes, *dd,
    )  # fmt: skip
    client_id = str(json.loads(out[out.index("{") :])["client_id"])
    cli(
        provider.env, "kyc", "rp", "add", "--entity", entity_id.strip(), "--client", client_id,
        "--attributes", ATTRIBUTES, "--purposes", "account_opening", *dd,
    )  # fmt: skip
    return client_id


def _bank_flow(provider: Provider, work: Path) -> BankRun:
    meta = httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10).json()
    key = ECKey.generate_key("P-256", parameters={"kid": "kampot-kyc-1", "alg": "ES256"})
    client_id = _onboard_bank(provider, work, key)
    client = OAuth2Session(
        client_id=client_id,
        client_secret=key,
        token_endpoint_auth_method="private_key_jwt",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        default_timeout=30,
    )
    # FAPI 2.0: the client assertion's audience is the issuer (PrivateKeyJWT's default would
    # be the URL of the endpoint called).
    client.register_client_auth_method(
        PrivateKeyJWT(provider.issuer, alg="ES256", headers={"kid": key.kid})
    )
    dpop = DPoP(ECKey.generate_key("P-256", parameters={"alg": "ES256"}))
    client.hooks["response"].append(dpop.remember_nonce)
    verifier, nonce = generate_token(48), generate_token(32)
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, scope=SCOPES,
        prompt="consent",
    )  # fmt: skip
    pushed = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    par_url = meta["pushed_authorization_request_endpoint"]
    par = dpop.retrying(
        lambda: client.request(
            "POST",
            par_url,
            data=pushed,
            auth=client.client_auth("private_key_jwt"),
            headers={"DPoP": dpop.proof("POST", par_url)},
            withhold_token=True,
        )
    )
    assert par.status_code == 201, f"PAR answered {par.status_code}: {par.text}"
    front = f"{meta['authorization_endpoint']}?" + urlencode(
        {"client_id": client_id, "request_uri": par.json()["request_uri"]}
    )
    citizen = provider.citizen
    browser = RefusingBrowser(
        {REFUSED_SCOPE},
        identifier=citizen.national_id,
        password=citizen.password,
        totp_secret=citizen.totp_secret,
    )
    try:
        callback = browser.run(front, REDIRECT)
    finally:
        browser.close()
    token_url = meta["token_endpoint"]
    token = dpop.retrying(
        lambda: client.fetch_token(
            token_url,
            authorization_response=callback,
            state=state,
            code_verifier=verifier,
            headers={**DEFAULT_HEADERS, "DPoP": dpop.proof("POST", token_url)},
        )
    )
    kyc_url = f"{provider.issuer}/kyc/v1/person"
    access = token["access_token"]

    def get_person() -> httpx.Response:
        answer = httpx.get(
            kyc_url,
            headers={"Authorization": f"DPoP {access}", "DPoP": dpop.proof("GET", kyc_url, access)},
            timeout=10,
        )
        dpop.remember_nonce(answer)
        return answer

    answer = dpop.retrying(get_person)
    return BankRun(
        meta=meta,
        client_id=client_id,
        par_status=par.status_code,
        callback={k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()},
        token=dict(token),
        kyc_status=answer.status_code,
        kyc_type=answer.headers.get("content-type", ""),
        kyc_body=answer.text,
        offered=browser.offered,
    )


@pytest.fixture(scope="module")
def run(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankRun]:
    yield _bank_flow(provider, tmp_path_factory.mktemp("bank"))


def _verified(run: BankRun) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify the KYC answer as a bank would: the JWKS from the discovery document, joserfc."""
    keys = KeySet.import_key_set(httpx.get(run.meta["jwks_uri"], timeout=10).json())
    obj = jws.deserialize_compact(run.kyc_body, keys, algorithms=["ES256", "PS256", "EdDSA"])
    return dict(obj.headers()), json.loads(obj.payload)


def test_bank_flow_uses_par_pkce_dpop_and_private_key_jwt(run: BankRun, provider: Provider) -> None:
    assert run.par_status == 201
    assert run.callback.get("iss") == provider.issuer  # RFC 9207
    assert run.token["token_type"] == "DPoP"
    assert REFUSED_SCOPE not in run.token.get("scope", "").split()
    assert ("scope", REFUSED_SCOPE) in run.offered  # it was optional, and the citizen said no


def test_kyc_answer_verifies_against_discovered_jwks(run: BankRun, provider: Provider) -> None:
    assert run.kyc_status == 200, run.kyc_body[:500]
    assert run.kyc_type.startswith("application/jwt")
    header, claims = _verified(run)
    assert header["typ"] == "kyc+jwt"
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == run.client_id
    assert claims["natid:purpose"] == "account_opening"


def test_verified_claims_match_the_register(run: BankRun, provider: Provider) -> None:
    _header, claims = _verified(run)
    record = provider.citizen.record
    released = claims["verified_claims"]["claims"]
    assert released == {
        "name": record["name_latin"],
        "given_name": record["given_name_latin"],
        "family_name": record["family_name_latin"],
        "name#km": record["name_km"],
        "birthdate": record["birthdate"],
        "email": record["email"],
    }
    verification = claims["verified_claims"]["verification"]
    assert verification["trust_framework"] == "kh_natid"
    assert verification["assurance_level"] in {"substantial", "high"}


def test_refused_optional_attribute_is_absent(run: BankRun, provider: Provider) -> None:
    assert provider.citizen.national_id not in run.kyc_body
    _header, claims = _verified(run)
    assert "national_id_number" not in claims["verified_claims"]["claims"]
    assert provider.citizen.national_id not in json.dumps(claims)
