"""The OpenID Foundation's FAPI 2.0 Security Profile (final) plan, mirrored test by test
(``../shared/testdata/oidc/fapi2-security-profile-plan.txt``; each test is named after its plan
test without the ``fapi2-security-profile-final-`` prefix). ``test_plan_coverage.py`` lists the
plan tests not mirrored here and fails if a DPoP, PAR, PKCE, client-assertion or
authorization-code test is among them.

The plan's variant is the one NatID's banks use: ``private_key_jwt`` client authentication,
DPoP sender-constrained tokens, PAR, plain (not JARM) responses; request objects are optional
at the PAR endpoint and, when sent, checked like the plan's signed-request variant. The plan
file lists names only; the expectation of each test is written in its docstring, after the
conformance suite's test of that name and the clauses it enforces (FAPI 2.0 Security Profile
§5.3, RFC 9126, RFC 9449, RFC 7523, RFC 7636, RFC 9101). Where the suite accepts several
errors, so do these tests; an error is always an error (never a code or tokens).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

from httpx import Response
from joserfc import jws as rfc_jws

from core.clock import FixedClock
from idp.accounts import Account
from registry.records import Person
from tests.api.idp_token._rp import RegisteredRP, RPKey, make_rp_key
from tests.idp_conformance.conftest import DPoPKey, Outcome, Suite

Who = tuple[Person, Account]
AUTH_FAILURE = {"invalid_client"}
PAR = "pushed_authorization_request_endpoint"


# --- the bank's side ----------------------------------------------------------------------------


def _push(
    suite: Suite,
    rp: RegisteredRP,
    verifier: str,
    *,
    dpop: DPoPKey | None = None,
    assertion: dict[str, Any] | None = None,
    proof: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    **overrides: Any,
) -> Response:
    """POST the authorization request to the PAR endpoint (RFC 9126 §2.1)."""
    body = form if form is not None else suite.params(rp, verifier, **overrides)
    return suite.post(PAR, rp, body, dpop=dpop, assertion=assertion, proof=proof)


def _request_uri(response: Response) -> str:
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 5 <= body["expires_in"] < 600  # RFC 9126 §2.2, FAPI 2.0 §5.3.2.2 item 5
    return str(body["request_uri"])


def _front(
    suite: Suite,
    rp: RegisteredRP,
    request_uri: str,
    verifier: str,
    *,
    consent: str = "allow",
    client_id: str | None = None,
    params: dict[str, str] | None = None,
) -> Outcome:
    """The browser at the authorization endpoint with only client_id and request_uri."""
    raw = {"client_id": client_id or rp.client_id, "request_uri": request_uri}
    outcome = suite.authorize(rp, raw=raw, verifier=verifier, consent=consent)
    # What the bank sent to PAR is what the callback and token request are checked against.
    outcome.params = params if params is not None else suite.params(rp, verifier)
    return outcome


def _authorized(
    suite: Suite, rp: RegisteredRP, who: Who, dpop: DPoPKey, **overrides: Any
) -> tuple[Outcome, dict[str, str]]:
    """Logged in, pushed (with a DPoP proof), through the front channel: the callback."""
    if suite.session_token is None:
        suite.login(who[1])
    verifier = secrets.token_urlsafe(48)
    params = suite.params(rp, verifier, **overrides)
    request_uri = _request_uri(_push(suite, rp, verifier, dpop=dpop, form=params))
    outcome = _front(suite, rp, request_uri, verifier, params=params)
    assert outcome.callback is not None, outcome.response.text
    assert outcome.callback["iss"] == suite.issuer
    return outcome, params


def _fapi_flow(
    suite: Suite, rp: RegisteredRP, who: Who, dpop: DPoPKey | None = None, **overrides: Any
) -> tuple[Outcome, dict[str, Any], dict[str, Any]]:
    dpop = dpop or DPoPKey()
    outcome, params = _authorized(suite, rp, who, dpop, **overrides)
    assert outcome.callback is not None and "code" in outcome.callback, outcome.callback
    assert outcome.callback.get("state") == params.get("state")
    tokens = suite.tokens(rp, outcome, dpop=dpop)
    assert tokens["token_type"] == "DPoP"
    claims = suite.verify_id_token(tokens["id_token"], rp, access_token=tokens["access_token"])
    return outcome, tokens, claims


def _error(response: Response, allowed: set[str], status: int = 400) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    error = str(response.json()["error"])
    assert error in allowed, error
    assert "access_token" not in response.text and 'request_uri":' not in response.text
    return error


def _payload(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return result


def _request_object(
    suite: Suite,
    rp: RegisteredRP,
    verifier: str,
    *,
    key: RPKey | None = None,
    alg: str | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A signed request object (RFC 9101) with the authorization parameters and the JWT
    claims FAPI 2.0 Message Signing §5.3.1 asks for; ``claims`` override, ``drop`` removes."""
    key = key or rp.key
    assert key is not None
    now = int(suite.clock.now().timestamp())
    body: dict[str, Any] = {
        **suite.params(rp, verifier),
        "iss": rp.client_id,
        "aud": suite.issuer,
        "nbf": now,
        "exp": now + 300,
        "iat": now,
        "jti": secrets.token_urlsafe(12),
    }
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    alg = alg or key.alg
    header = {"alg": alg, "kid": key.private.kid, "typ": "oauth-authz-req+jwt"}
    return rfc_jws.serialize_compact(
        header, json.dumps(body).encode(), key.private, algorithms=[alg]
    )


def _push_object(suite: Suite, rp: RegisteredRP, request: str, **kw: Any) -> Response:
    return suite.post(PAR, rp, {"client_id": rp.client_id, "request": request}, **kw)


def _refused_object(suite: Suite, rp: RegisteredRP, request: str) -> None:
    _error(_push_object(suite, rp, request), {"invalid_request_object", "invalid_request"})


# --- discovery and the happy flow ----------------------------------------------------------------


def test_discovery_end_point_verification(suite: Suite) -> None:
    meta = suite.discovery()
    assert meta["issuer"] == suite.issuer and not suite.issuer.endswith("/")
    assert meta[PAR] == suite.issuer + "/par"
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    # FAPI 2.0 §5.4: PS256, ES256 or EdDSA only.
    assert set(meta["token_endpoint_auth_signing_alg_values_supported"]) <= {"PS256", "ES256"}
    assert set(meta["dpop_signing_alg_values_supported"]) <= {"PS256", "ES256"}
    assert set(meta["request_object_signing_alg_values_supported"]) <= {"PS256", "ES256"}
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["response_types_supported"] == ["code"]
    assert "openid" in meta["scopes_supported"]
    keys = suite.http.get(suite.path_of("jwks_uri")).json()["keys"]
    assert keys and all(not {"d", "p", "q", "k"} & set(k) for k in keys)
    assert all(k["kid"] for k in keys)


def test_happy_flow(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    dpop = DPoPKey()
    _, tokens, claims = _fapi_flow(suite, bank, person, dpop, scope="openid profile")
    assert _payload(tokens["access_token"])["cnf"] == {"jkt": dpop.jkt}  # RFC 9449 §6.1
    response = suite.userinfo(tokens["access_token"], dpop=dpop)
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == claims["sub"] and response.json()["name"] == "Sok Dara"


def test_user_rejects_authentication(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    suite.login(person[1])
    verifier = secrets.token_urlsafe(48)
    params = suite.params(bank, verifier)
    request_uri = _request_uri(_push(suite, bank, verifier, dpop=DPoPKey(), form=params))
    outcome = _front(suite, bank, request_uri, verifier, consent="deny", params=params)
    assert outcome.callback is not None
    assert outcome.callback["error"] == "access_denied"
    assert outcome.callback["state"] == params["state"]
    assert outcome.callback["iss"] == suite.issuer
    assert "code" not in outcome.callback


# --- the authorization request -------------------------------------------------------------------


def test_ensure_authorization_request_without_state_success(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    outcome, _, _ = _fapi_flow(suite, bank, person, state=None)
    assert outcome.callback is not None and "state" not in outcome.callback


def test_ensure_authorization_request_without_nonce_success(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    _, _, claims = _fapi_flow(suite, bank, person, nonce=None)
    assert "nonce" not in claims


def test_ensure_authorization_request_with_64_char_nonce_success(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    nonce = secrets.token_hex(32)
    _, _, claims = _fapi_flow(suite, bank, person, nonce=nonce)
    assert len(nonce) == 64 and claims["nonce"] == nonce


def test_ensure_other_scope_order_succeeds(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    _, tokens, _ = _fapi_flow(suite, bank, person, scope="profile openid")
    assert set(tokens["scope"].split()) == {"openid", "profile"}


def test_test_claims_parameter_identity_claims(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    claims_request = {"id_token": {"name": None}, "userinfo": {"birthdate": {"essential": True}}}
    dpop = DPoPKey()
    _, tokens, claims = _fapi_flow(suite, bank, person, dpop, claims=json.dumps(claims_request))
    assert claims["name"] == "Sok Dara"
    info = suite.userinfo(tokens["access_token"], dpop=dpop).json()
    assert info["birthdate"] == "1990-04-17"


def test_ensure_authorization_request_with_long_nonce(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    nonce = "n" * 384
    _, _, claims = _fapi_flow(suite, bank, person, nonce=nonce)
    assert claims["nonce"] == nonce


def test_ensure_authorization_request_with_long_state(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    state = "s" * 384
    outcome, _, _ = _fapi_flow(suite, bank, person, state=state)
    assert outcome.callback is not None and outcome.callback["state"] == state


def test_ensure_registered_redirect_uri(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, redirect_uri="https://bank.example.kh/attacker")
    _error(response, {"invalid_request", "invalid_redirect_uri"})


def test_plain_fapi_tolerate_unregistered_redirect_uri(suite: Suite, bank: RegisteredRP) -> None:
    """RFC 9126 §2.4 lets a server accept an unregistered redirect_uri from an authenticated
    client at PAR; the plan tolerates either outcome. NatID keeps exact matching (RFC 9700
    §4.1.3): the request is refused at PAR with an error, and nothing is stored."""
    response = _push(suite, bank, "v" * 50, redirect_uri="https://elsewhere.example.kh/cb")
    _error(response, {"invalid_request", "invalid_redirect_uri"})


def test_ensure_unsigned_authorization_request_without_using_par_fails(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """FAPI 2.0 §5.3.2.2 item 1: PAR is required; a plain request is refused (no code)."""
    suite.login(person[1])
    outcome = suite.authorize(bank)
    if outcome.callback is not None:
        assert outcome.callback["error"] == "invalid_request" and "code" not in outcome.callback
    else:
        assert outcome.response.status_code == 400 and not outcome.login_page


def test_ensure_redirect_uri_in_authorization_request(suite: Suite, bank: RegisteredRP) -> None:
    _error(_push(suite, bank, "v" * 50, redirect_uri=None), {"invalid_request"})


def test_ensure_response_type_code_idtoken_fails(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, response_type="code id_token")
    _error(response, {"unsupported_response_type", "invalid_request"})


def test_ensure_response_type_token_fails(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, response_type="token")
    _error(response, {"unsupported_response_type", "invalid_request"})


# --- request objects at PAR ----------------------------------------------------------------------


def _object_flow(
    suite: Suite, bank: RegisteredRP, who: Who, request: str, verifier: str, **outer: str
) -> tuple[Outcome, dict[str, Any]]:
    suite.login(who[1])
    dpop = DPoPKey()
    response = (
        _push_object(suite, bank, request, dpop=dpop)
        if not outer
        else suite.post(
            PAR, bank, {"client_id": bank.client_id, "request": request, **outer}, dpop=dpop
        )
    )
    inner = _payload(request)
    params = {k: v for k, v in inner.items() if isinstance(v, str)}
    outcome = _front(suite, bank, _request_uri(response), verifier, params=params)
    assert outcome.callback is not None and "code" in outcome.callback, outcome.callback
    tokens = suite.tokens(bank, outcome, dpop=dpop)
    return outcome, suite.verify_id_token(tokens["id_token"], bank)


def test_ensure_request_object_with_multiple_aud_succeeds(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    verifier = secrets.token_urlsafe(48)
    request = _request_object(suite, bank, verifier, aud=[suite.issuer, "https://other.example.kh"])
    _object_flow(suite, bank, person, request, verifier)


def test_ensure_request_object_with_nbf_8_seconds_in_the_future_is_accepted(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    verifier = secrets.token_urlsafe(48)
    now = int(suite.clock.now().timestamp())
    request = _request_object(suite, bank, verifier, nbf=now + 8, exp=now + 308)
    _object_flow(suite, bank, person, request, verifier)


def test_ensure_different_nonce_inside_and_outside_request_object(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """RFC 9101 §6.3: only the parameters inside the request object are used."""
    verifier = secrets.token_urlsafe(48)
    request = _request_object(suite, bank, verifier, nonce="inside-nonce")
    _, claims = _object_flow(suite, bank, person, request, verifier, nonce="outside-nonce")
    assert claims["nonce"] == "inside-nonce"


def test_ensure_different_state_inside_and_outside_request_object(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    verifier = secrets.token_urlsafe(48)
    request = _request_object(suite, bank, verifier, state="inside-state")
    outcome, _ = _object_flow(suite, bank, person, request, verifier, state="outside-state")
    assert outcome.callback is not None and outcome.callback["state"] == "inside-state"


def test_state_only_outside_request_object_not_used(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    verifier = secrets.token_urlsafe(48)
    request = _request_object(suite, bank, verifier, drop=("state",))
    outcome, _ = _object_flow(suite, bank, person, request, verifier, state="outside-state")
    assert outcome.callback is not None and "state" not in outcome.callback


def test_ensure_request_object_without_exp_fails(suite: Suite, bank: RegisteredRP) -> None:
    _refused_object(suite, bank, _request_object(suite, bank, "v" * 50, drop=("exp",)))


def test_ensure_request_object_without_nbf_fails(suite: Suite, bank: RegisteredRP) -> None:
    _refused_object(suite, bank, _request_object(suite, bank, "v" * 50, drop=("nbf",)))


def test_ensure_request_object_without_redirect_uri_fails(suite: Suite, bank: RegisteredRP) -> None:
    request = _request_object(suite, bank, "v" * 50, drop=("redirect_uri",))
    _error(_push_object(suite, bank, request), {"invalid_request", "invalid_request_object"})


def test_ensure_expired_request_object_fails(suite: Suite, bank: RegisteredRP) -> None:
    now = int(suite.clock.now().timestamp())
    request = _request_object(suite, bank, "v" * 50, nbf=now - 600, iat=now - 600, exp=now - 60)
    _refused_object(suite, bank, request)


def test_ensure_request_object_with_bad_aud_fails(suite: Suite, bank: RegisteredRP) -> None:
    request = _request_object(suite, bank, "v" * 50, aud="https://not-the-issuer.example.kh")
    _refused_object(suite, bank, request)


def test_ensure_request_object_with_exp_over_60_fails(suite: Suite, bank: RegisteredRP) -> None:
    now = int(suite.clock.now().timestamp())
    _refused_object(suite, bank, _request_object(suite, bank, "v" * 50, exp=now + 61 * 60))


def test_ensure_request_object_with_nbf_over_60_fails(suite: Suite, bank: RegisteredRP) -> None:
    now = int(suite.clock.now().timestamp())
    request = _request_object(suite, bank, "v" * 50, nbf=now - 61 * 60, exp=now + 60)
    _refused_object(suite, bank, request)


def test_ensure_signed_request_object_with_RS256_fails(suite: Suite, bank: RegisteredRP) -> None:
    _refused_object(suite, bank, _request_object(suite, bank, "v" * 50, alg="RS256"))


def test_ensure_request_object_signature_algorithm_is_not_none(
    suite: Suite, bank: RegisteredRP
) -> None:
    signed = _request_object(suite, bank, "v" * 50)
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"oauth-authz-req+jwt"}').rstrip(b"=")
    _refused_object(suite, bank, f"{header.decode()}.{signed.split('.')[1]}.")


def test_ensure_request_object_with_invalid_signature_fails(
    suite: Suite, bank: RegisteredRP
) -> None:
    head, body, signature = _request_object(suite, bank, "v" * 50).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    _refused_object(suite, bank, f"{head}.{body}.{flipped}")


def test_ensure_matching_key_in_authorization_request(suite: Suite, bank: RegisteredRP) -> None:
    """The request object must be signed by a key registered for the client: one signed by a
    key the client never registered (same kid) is refused."""
    stranger = make_rp_key("PS256", kid=bank.key.private.kid if bank.key else "rp-1")
    _refused_object(suite, bank, _request_object(suite, bank, "v" * 50, key=stranger))


def test_ensure_unsigned_request_at_par_endpoint_fails(suite: Suite, bank: RegisteredRP) -> None:
    """An unsigned request object (``alg: none``, no signature) pushed to PAR is refused."""
    claims = _payload(_request_object(suite, bank, "v" * 50))

    def enc(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    _refused_object(suite, bank, f"{enc({'alg': 'none'})}.{enc(claims)}.")


def test_par_authorization_request_containing_request_uri(suite: Suite, bank: RegisteredRP) -> None:
    """RFC 9101 §4 / RFC 9126 §2.1: a request object must not carry request_uri."""
    request = _request_object(
        suite, bank, "v" * 50, request_uri="urn:ietf:params:oauth:request_uri:abc"
    )
    _error(_push_object(suite, bank, request), {"invalid_request_object", "invalid_request"})


# --- DPoP -----------------------------------------------------------------------------------------


def test_access_token_type_header_case_sensitivity(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """RFC 9110 §11.1: the auth scheme is case-insensitive (``dpop`` works like ``DPoP``)."""
    dpop = DPoPKey()
    _, tokens, _ = _fapi_flow(suite, bank, person, dpop)
    for scheme in ("dpop", "DPOP", "DPoP"):
        response = suite.userinfo(tokens["access_token"], dpop=dpop, scheme=scheme)
        assert response.status_code == 200, (scheme, response.text)


def test_check_dpop_proof_nbf_exp(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    """Proofs carrying ``nbf``/``exp`` (not required by RFC 9449) are honoured: a current
    window is accepted, an expired ``exp`` or a far-future ``nbf`` is refused."""
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    now = int(suite.clock.now().timestamp())
    for bad in ({"exp": now - 5}, {"nbf": now + 300}):
        response = suite.post("token_endpoint", bank, _code_form(outcome), dpop=dpop, proof=bad)
        _error(response, {"invalid_dpop_proof"})
    ok = suite.post(
        "token_endpoint",
        bank,
        _code_form(outcome),
        dpop=dpop,
        proof={"nbf": now - 5, "exp": now + 60},
    )
    assert ok.status_code == 200, ok.text


def _code_form(outcome: Outcome) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": outcome.code,
        "redirect_uri": outcome.params["redirect_uri"],
        "code_verifier": outcome.verifier,
    }


def _iat_skew(suite: Suite, bank: RegisteredRP, person: Who, skew: int) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    at = suite.clock.now() + dt.timedelta(seconds=skew)
    response = suite.post("token_endpoint", bank, _code_form(outcome), dpop=dpop, proof={"at": at})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"


def test_ensure_dpopproof_with_iat_10seconds_before_succeeds(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    _iat_skew(suite, bank, person, -10)


def test_ensure_dpopproof_with_iat_10seconds_after_succeeds(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    _iat_skew(suite, bank, person, 10)


def test_ensure_mismatched_dpop_jkt_fails(suite: Suite, bank: RegisteredRP) -> None:
    """RFC 9449 §10.1: a dpop_jkt that does not match the PAR request's proof is refused."""
    response = _push(suite, bank, "v" * 50, dpop=DPoPKey(), dpop_jkt=DPoPKey().jkt)
    _error(response, {"invalid_request", "invalid_dpop_proof"})


def test_ensure_token_endpoint_fails_with_mismatched_dpop_proof_jkt(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """The code is bound to the key of the PAR request's proof; another key cannot redeem it."""
    outcome, _ = _authorized(suite, bank, person, DPoPKey())
    _error(suite.token(bank, outcome, dpop=DPoPKey()), {"invalid_grant", "invalid_dpop_proof"})


def test_ensure_token_endpoint_fails_with_mismatched_dpop_jkt(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """The code is bound to the pushed ``dpop_jkt`` (no proof at PAR); another key is refused."""
    suite.login(person[1])
    bound = DPoPKey()
    verifier = secrets.token_urlsafe(48)
    params = suite.params(bank, verifier, dpop_jkt=bound.jkt)
    request_uri = _request_uri(_push(suite, bank, verifier, form=params))
    outcome = _front(suite, bank, request_uri, verifier, params=params)
    _error(suite.token(bank, outcome, dpop=DPoPKey()), {"invalid_grant", "invalid_dpop_proof"})


def test_ensure_dpopproof_at_par_endpoint_binding_success(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    dpop = DPoPKey()
    _, tokens, _ = _fapi_flow(suite, bank, person, dpop)
    assert _payload(tokens["access_token"])["cnf"]["jkt"] == dpop.jkt


def test_ensure_dpop_auth_code_binding_success(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """dpop_jkt sent with the pushed request and matching its proof binds the code to it."""
    dpop = DPoPKey()
    _, tokens, _ = _fapi_flow(suite, bank, person, dpop, dpop_jkt=dpop.jkt)
    assert _payload(tokens["access_token"])["cnf"]["jkt"] == dpop.jkt


def test_ensure_holder_of_key_required(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    """FAPI 2.0 §5.3.2.1: sender-constrained tokens only: no proof, no tokens; a DPoP-bound
    token is never accepted as a bearer token."""
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    _error(suite.token(bank, outcome), {"invalid_dpop_proof", "invalid_request"})
    # The refused request did not use the code up: with the proof it works.
    tokens = suite.tokens(bank, outcome, dpop=dpop)
    assert suite.userinfo(tokens["access_token"]).status_code == 401
    assert suite.userinfo(tokens["access_token"], in_body=True, method="POST").status_code == 401


def test_dpop_negative_tests(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    """RFC 9449 §4.3: each broken proof is refused with invalid_dpop_proof, at the token
    endpoint and (as 401) at UserInfo."""
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    form = _code_form(outcome)
    now = suite.clock.now()
    broken: list[dict[str, Any]] = [
        {"htm": "GET"},
        {"htu": suite.issuer + "/userinfo"},
        {"header": {"typ": "JWT"}},
        {"drop": ("jti",)},
        {"drop": ("iat",)},
        {"at": now - dt.timedelta(minutes=5)},
        {"at": now + dt.timedelta(minutes=5)},
        {"header": {"jwk": {**dpop.key.private.as_dict(private=True)}}},
    ]
    for change in broken:
        response = suite.post("token_endpoint", bank, form, dpop=dpop, proof=change)
        _error(response, {"invalid_dpop_proof"})
    # A replayed proof (same jti) is refused.
    proof = suite.dpop_header(dpop, "POST", "/token")
    headers, auth = suite.client_auth(bank)
    first = suite.http.post("/token", data={**form, **auth}, headers={**headers, "DPoP": proof})
    assert first.status_code == 200, first.text
    tokens = first.json()
    _, auth = suite.client_auth(bank)
    replay = suite.http.post("/token", data={**form, **auth}, headers={"DPoP": proof})
    _error(replay, {"invalid_dpop_proof", "invalid_grant"})
    # At UserInfo: a proof without ath, or by another key.
    path = suite.path_of("userinfo_endpoint")
    for key, ath in ((dpop, False), (DPoPKey(nonce=dpop.nonce), True)):
        header = suite.dpop_header(
            key, "GET", path, access_token=tokens["access_token"] if ath else None
        )
        response = suite.http.get(
            path, headers={"Authorization": f"DPoP {tokens['access_token']}", "DPoP": header}
        )
        assert response.status_code == 401, response.text
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith("DPoP") and "use_dpop_nonce" not in challenge


# --- the token endpoint: codes, PKCE, client authentication ---------------------------------------


def test_ensure_client_id_in_token_endpoint(
    suite: Suite, bank: RegisteredRP, person: Who, other_bank: RegisteredRP
) -> None:
    """A client_id parameter naming another client than the assertion is refused."""
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    response = suite.post(
        "token_endpoint",
        bank,
        {**_code_form(outcome), "client_id": other_bank.client_id},
        dpop=dpop,
    )
    _error(response, AUTH_FAILURE | {"invalid_request"}, status=response.status_code)
    assert response.status_code in {400, 401}


def test_ensure_authorization_code_is_bound_to_client(
    suite: Suite, bank: RegisteredRP, other_bank: RegisteredRP, person: Who
) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    form = {**_code_form(outcome), "redirect_uri": other_bank.client.redirect_uris[0]}
    _error(suite.post("token_endpoint", other_bank, form, dpop=dpop), {"invalid_grant"})


def test_attempt_reuse_authorization_code_after_one_second(
    suite: Suite, bank: RegisteredRP, person: Who, clock: FixedClock
) -> None:
    dpop = DPoPKey()
    outcome, tokens, _ = _fapi_flow(suite, bank, person, dpop)
    clock.advance(dt.timedelta(seconds=1))
    _error(suite.token(bank, outcome, dpop=dpop), {"invalid_grant"})
    # RFC 6749 §4.1.2: the tokens of the reused code are revoked.
    assert suite.userinfo(tokens["access_token"], dpop=dpop).status_code == 401


def test_ensure_token_endpoint_fails_with_expired_auth_code(
    suite: Suite, bank: RegisteredRP, person: Who, clock: FixedClock
) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    clock.advance(dt.timedelta(seconds=61))  # codes live at most 60 s (issue 4)
    _error(suite.token(bank, outcome, dpop=dpop), {"invalid_grant"})


def test_ensure_pkce_code_verifier_required(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    _error(
        suite.token(bank, outcome, dpop=dpop, code_verifier=None),
        {"invalid_grant", "invalid_request"},
    )


def test_incorrect_pkce_code_verifier_rejected(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    wrong = secrets.token_urlsafe(48)
    _error(suite.token(bank, outcome, dpop=dpop, code_verifier=wrong), {"invalid_grant"})


def test_ensure_signed_client_assertion_with_RS256_fails(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    response = suite.post(
        "token_endpoint", bank, _code_form(outcome), dpop=dpop, assertion={"alg": "RS256"}
    )
    _error(response, AUTH_FAILURE, status=401)


def test_ensure_client_assertion_in_token_endpoint(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """Without a client assertion the token request is refused."""
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    path = suite.path_of("token_endpoint")
    for _ in range(2):
        proof = suite.dpop_header(dpop, "POST", path)
        response = suite.http.post(
            path, data={**_code_form(outcome), "client_id": bank.client_id}, headers={"DPoP": proof}
        )
        dpop.nonce = response.headers.get("DPoP-Nonce", dpop.nonce)
        if response.json().get("error") != "use_dpop_nonce":
            break
    _error(response, AUTH_FAILURE, status=401)


def test_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    now = int(suite.clock.now().timestamp())
    response = suite.post(
        "token_endpoint",
        bank,
        _code_form(outcome),
        dpop=dpop,
        assertion={"iat": now - 600, "exp": now - 300},
    )
    _error(response, AUTH_FAILURE, status=401)


def test_ensure_client_assertion_with_wrong_aud_fails(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    response = suite.post(
        "token_endpoint",
        bank,
        _code_form(outcome),
        dpop=dpop,
        assertion={"aud": "https://not-the-issuer.example.kh"},
    )
    _error(response, AUTH_FAILURE, status=401)


def test_ensure_client_assertion_with_no_sub_fails(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    dpop = DPoPKey()
    outcome, _ = _authorized(suite, bank, person, dpop)
    response = suite.post(
        "token_endpoint",
        bank,
        {**_code_form(outcome), "client_id": bank.client_id},
        dpop=dpop,
        assertion={"sub": None},
    )
    _error(response, AUTH_FAILURE, status=401)


def test_refresh_token(suite: Suite, bank: RegisteredRP, person: Who, clock: FixedClock) -> None:
    dpop = DPoPKey()
    _, tokens, first = _fapi_flow(suite, bank, person, dpop, scope="openid offline_access")
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    clock.advance(dt.timedelta(seconds=5))
    # RFC 9449 §5: bound to the DPoP key; another key gets nothing and burns nothing.
    _error(suite.post("token_endpoint", bank, refresh, dpop=DPoPKey()), {"invalid_grant"})
    response = suite.post("token_endpoint", bank, refresh, dpop=dpop)
    assert response.status_code == 200, response.text
    refreshed = response.json()
    # FAPI 2.0 Security Profile §5.3.2.1 (10): no rotation, so a client whose response was
    # lost retries with the same token and succeeds (the token stays DPoP-bound).
    assert refreshed["token_type"] == "DPoP" and "refresh_token" not in refreshed
    assert _payload(refreshed["access_token"])["cnf"]["jkt"] == dpop.jkt
    second = suite.verify_id_token(refreshed["id_token"], bank)
    assert second["sub"] == first["sub"]
    retried = suite.post("token_endpoint", bank, refresh, dpop=dpop)
    assert retried.status_code == 200, retried.text
    # The retry revoked nothing: both access tokens still work.
    assert suite.userinfo(refreshed["access_token"], dpop=dpop).status_code == 200
    assert suite.userinfo(retried.json()["access_token"], dpop=dpop).status_code == 200


# --- PAR ------------------------------------------------------------------------------------------


def test_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """The browser may load the request_uri again before the user finishes logging in."""
    suite.forget_login()
    dpop = DPoPKey()
    verifier = secrets.token_urlsafe(48)
    params = suite.params(bank, verifier)
    request_uri = _request_uri(_push(suite, bank, verifier, dpop=dpop, form=params))
    assert _front(suite, bank, request_uri, verifier, params=params).login_page
    again = _front(suite, bank, request_uri, verifier, params=params)
    assert again.login_page
    outcome = suite.log_in_and_continue(again, person[1], bank)
    assert outcome.callback is not None and "code" in outcome.callback, outcome.callback
    suite.tokens(bank, outcome, dpop=dpop)


def test_par_attempt_reuse_request_uri(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    dpop = DPoPKey()
    suite.login(person[1])
    verifier = secrets.token_urlsafe(48)
    params = suite.params(bank, verifier)
    request_uri = _request_uri(_push(suite, bank, verifier, dpop=dpop, form=params))
    first = _front(suite, bank, request_uri, verifier, params=params)
    assert first.callback is not None and "code" in first.callback
    # RFC 9126 §4 / FAPI 2.0 §5.3.2.2 item 6: single use.
    second = _front(suite, bank, request_uri, verifier, params=params)
    assert second.callback is None or "code" not in second.callback
    assert second.response.status_code == 400


def test_par_attempt_to_use_expired_request_uri(
    suite: Suite, bank: RegisteredRP, person: Who, clock: FixedClock
) -> None:
    suite.login(person[1])
    verifier = secrets.token_urlsafe(48)
    response = _push(suite, bank, verifier, dpop=DPoPKey())
    request_uri = _request_uri(response)
    clock.advance(dt.timedelta(seconds=response.json()["expires_in"] + 1))
    outcome = _front(suite, bank, request_uri, verifier)
    assert outcome.callback is None and outcome.response.status_code == 400


def test_par_ensure_jwt_client_assertions_nbf_8_seconds_in_the_future_is_accepted(
    suite: Suite, bank: RegisteredRP
) -> None:
    now = int(suite.clock.now().timestamp())
    response = _push(suite, bank, "v" * 50, assertion={"nbf": now + 8})
    _request_uri(response)


def test_par_ensure_jwt_client_assertions_nbf_over_60_seconds_in_the_future_fails(
    suite: Suite, bank: RegisteredRP
) -> None:
    now = int(suite.clock.now().timestamp())
    response = _push(suite, bank, "v" * 50, assertion={"nbf": now + 61, "exp": now + 120})
    _error(response, AUTH_FAILURE, status=401)


def test_par_attempt_to_use_request_uri_for_different_client(
    suite: Suite, bank: RegisteredRP, other_bank: RegisteredRP, person: Who
) -> None:
    suite.login(person[1])
    verifier = secrets.token_urlsafe(48)
    request_uri = _request_uri(_push(suite, bank, verifier, dpop=DPoPKey()))
    outcome = _front(suite, other_bank, request_uri, verifier)
    assert outcome.callback is None and outcome.response.status_code == 400
    assert "location" not in outcome.response.headers


def test_par_authorization_request_containing_request_uri_form_param(
    suite: Suite, bank: RegisteredRP
) -> None:
    response = _push(suite, bank, "v" * 50, request_uri="urn:ietf:params:oauth:request_uri:x")
    _error(response, {"invalid_request"})


def test_par_attempt_invalid_http_method(suite: Suite, bank: RegisteredRP) -> None:
    response = suite.http.get(suite.path_of(PAR), params={"client_id": bank.client_id})
    assert response.status_code == 405


def test_par_ensure_pkce_required(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, code_challenge=None, code_challenge_method=None)
    _error(response, {"invalid_request"})


def test_par_plain_pkce_rejected(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, code_challenge="p" * 50, code_challenge_method="plain")
    _error(response, {"invalid_request"})


def test_par_without_duplicate_parameters(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    """The authorization request carries only client_id and request_uri (nothing repeated
    from the pushed request) and succeeds with the pushed parameters."""
    dpop = DPoPKey()
    outcome, params = _authorized(suite, bank, person, dpop)
    assert outcome.callback is not None and outcome.callback["state"] == params["state"]
    suite.tokens(bank, outcome, dpop=dpop)


def test_par_test_array_as_audience_fails(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, assertion={"aud": [suite.issuer]})
    _error(response, AUTH_FAILURE, status=401)


def test_par_test_par_endpoint_url_as_audience_fails(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, assertion={"aud": suite.discovery()[PAR]})
    _error(response, AUTH_FAILURE, status=401)


def test_par_test_token_endpoint_url_as_audience_fails(suite: Suite, bank: RegisteredRP) -> None:
    response = _push(suite, bank, "v" * 50, assertion={"aud": suite.discovery()["token_endpoint"]})
    _error(response, AUTH_FAILURE, status=401)


def test_test_essential_acr_sca_claim(suite: Suite, bank: RegisteredRP, person: Who) -> None:
    """OIDC Core §5.5.1.1: ``acr`` requested as an essential ID-token claim with a value (the
    plan's "strong customer authentication" level; NatID's ``substantial``). A user logged in
    with a password only must be stepped up before a code is issued, and the ID token's
    ``acr`` is the requested value."""
    suite.login(person[1], acr="low")
    dpop = DPoPKey()
    verifier = secrets.token_urlsafe(48)
    claims_request = {"id_token": {"acr": {"essential": True, "values": ["substantial"]}}}
    params = suite.params(bank, verifier, claims=json.dumps(claims_request))
    request_uri = _request_uri(_push(suite, bank, verifier, dpop=dpop, form=params))
    outcome = _front(suite, bank, request_uri, verifier, params=params)
    assert outcome.login_page, "a password-only session does not satisfy an essential acr"
    outcome = suite.log_in_and_continue(outcome, person[1], bank, acr="substantial")
    tokens = suite.tokens(bank, outcome, dpop=dpop)
    assert suite.verify_id_token(tokens["id_token"], bank)["acr"] == "substantial"
