"""The CSC API over HTTP (api/routers/csc.py, signing/csc.py, signing/sad.py): what a signing
application sees, and the attacks sole control must stop - a reused SAD, a SAD for other
hashes, a stale or weak login, a wrong or replayed OTP, a token without the service scope, and
another official's credential."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from fastapi.testclient import TestClient

from api.context import AppContext
from ca.revocation import RevocationReason
from core.clock import FixedClock
from tests.api.csc._csc import (
    Official,
    bearer,
    body_of,
    mint_token,
    new_official,
    otp_now,
    signing_client,
)
from tests.api.idp_token._rp import dpop_proof, make_rp_key

ECDSA_SHA256 = "1.2.840.10045.4.3.2"
SHA256 = "2.16.840.1.101.3.4.2.1"
V2 = "/csc/v2"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _setup(ctx: AppContext, clock: FixedClock) -> tuple[Official, dict[str, str]]:
    official = new_official(ctx, clock)
    token = mint_token(ctx, signing_client(ctx), official.person_id)
    return official, bearer(token)


def _authorize(
    http: TestClient,
    official: Official,
    headers: dict[str, str],
    digests: list[bytes],
    otp: str,
    *,
    credential: str | None = None,
) -> Any:
    return http.post(
        f"{V2}/credentials/authorize",
        headers=headers,
        json={
            "credentialID": credential or official.credential.serial_hex,
            "numSignatures": len(digests),
            "hashes": [_b64(d) for d in digests],
            "hashAlgorithmOID": SHA256,
            "authData": [{"id": "OTP", "value": otp}],
        },
    )


def _sign(
    http: TestClient, official: Official, headers: dict[str, str], sad: str, digests: list[bytes]
) -> Any:
    return http.post(
        f"{V2}/signatures/signHash",
        headers=headers,
        json={
            "credentialID": official.credential.serial_hex,
            "SAD": sad,
            "hashes": [_b64(d) for d in digests],
            "hashAlgorithmOID": SHA256,
            "signAlgo": ECDSA_SHA256,
        },
    )


def _events(ctx: AppContext, name: str) -> list[Any]:
    return [e for e in ctx.ledger.tail(500) if e.event == name]


def test_info_needs_no_token_in_both_versions(csc_http: TestClient) -> None:
    v2 = csc_http.post(f"{V2}/info", json={})
    v1 = csc_http.post("/csc/v1/info")
    assert v2.status_code == v1.status_code == 200
    assert v2.json()["specs"] == "2.0.0.2"
    assert v1.json()["specs"] == "1.0.4.0"
    assert "signatures/signHash" in v2.json()["methods"]
    assert ECDSA_SHA256 in v2.json()["signAlgorithms"]["algos"]


def test_official_lists_and_describes_own_gov_sign_credential(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    listed = csc_http.post(f"{V2}/credentials/list", headers=headers, json={})
    assert listed.status_code == 200, listed.text
    assert listed.json()["credentialIDs"] == [official.credential.serial_hex]
    info = csc_http.post(
        f"{V2}/credentials/info",
        headers=headers,
        json={"credentialID": official.credential.serial_hex, "certificates": "chain",
              "certInfo": True},
    )  # fmt: skip
    assert info.status_code == 200, info.text
    body = info.json()
    certs = [
        x509.load_der_x509_certificate(base64.b64decode(c)) for c in body["cert"]["certificates"]
    ]
    assert certs[0] == official.credential.certificate
    assert certs[-1].subject == certs[-1].issuer  # the chain ends at NatID's root
    assert body["cert"]["status"] == "valid"
    assert body["cert"]["serialNumber"] == official.credential.serial_hex
    assert ECDSA_SHA256 in body["key"]["algo"]
    assert body["auth"]["mode"] == "explicit"
    assert body["auth"]["objects"][0]["type"] == "OTP"
    assert body["scal"] == "2"
    assert info.headers["cache-control"] == "no-store"


def test_authorized_hashes_are_signed_with_the_officials_key(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    digests = [_digest("memo 1"), _digest("memo 2")]
    granted = _authorize(csc_http, official, headers, digests, otp_now(official, clock))
    assert granted.status_code == 200, granted.text
    assert granted.json()["expiresIn"] == 300
    signed = _sign(csc_http, official, headers, granted.json()["SAD"], digests)
    assert signed.status_code == 200, signed.text
    public = official.credential.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    for digest, signature in zip(digests, signed.json()["signatures"], strict=True):
        public.verify(
            base64.b64decode(signature), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))
        )
    # Audited with ids and counts, never the SAD, the OTP or a hash.
    [authorized] = _events(csc_ctx, "signing.csc.authorized")
    [used] = _events(csc_ctx, "signing.csc.signed")
    assert authorized.data["hash_count"] == used.data["hash_count"] == 2
    assert authorized.data["transaction_id"] == used.data["transaction_id"]
    assert used.subject == official.credential.serial_hex
    text = repr([authorized.data, used.data])
    assert granted.json()["SAD"] not in text
    assert not any(_b64(d) in text or d.hex() in text for d in digests)


def test_sad_reuse_is_refused(csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock) -> None:
    official, headers = _setup(csc_ctx, clock)
    digests = [_digest("approval")]
    sad = _authorize(csc_http, official, headers, digests, otp_now(official, clock)).json()["SAD"]
    assert _sign(csc_http, official, headers, sad, digests).status_code == 200
    again = _sign(csc_http, official, headers, sad, digests)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"
    assert "already used" in again.json()["error_description"]
    assert len(_events(csc_ctx, "signing.csc.signed")) == 1


def test_sad_for_other_hashes_signs_nothing_and_is_spent(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    approved, swapped = _digest("pay 10 riel"), _digest("pay 10 000 000 riel")
    sad = _authorize(csc_http, official, headers, [approved], otp_now(official, clock)).json()[
        "SAD"
    ]
    refused = _sign(csc_http, official, headers, sad, [swapped])
    assert refused.status_code == 400
    assert "not authorised" in refused.json()["error_description"]
    assert "signatures" not in refused.json()
    # Whoever swapped the hash has burnt the SAD: the approved hash needs a new authorisation.
    assert _sign(csc_http, official, headers, sad, [approved]).status_code == 400
    more = _sign(csc_http, official, headers, sad, [approved, approved])
    assert more.status_code == 400


def test_sad_expires_after_five_minutes(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    digests = [_digest("late")]
    sad = _authorize(csc_http, official, headers, digests, otp_now(official, clock)).json()["SAD"]
    clock.advance(dt.timedelta(minutes=5, seconds=1))
    late = _sign(csc_http, official, headers, sad, digests)
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_request"


def test_stale_or_weak_login_cannot_authorize(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official = new_official(csc_ctx, clock)
    client = signing_client(csc_ctx)
    stale = bearer(
        mint_token(csc_ctx, client, official.person_id, login_age=dt.timedelta(minutes=6))
    )
    weak = bearer(mint_token(csc_ctx, client, official.person_id, acr="low"))
    for headers in (stale, weak):
        # The token is fine for listing...
        assert csc_http.post(f"{V2}/credentials/list", headers=headers).status_code == 200
        # ...but not for authorising a signature: RFC 9470 step-up challenge.
        refused = _authorize(csc_http, official, headers, [_digest("x")], otp_now(official, clock))
        assert refused.status_code == 401
        assert refused.json()["error"] == "insufficient_user_authentication"
        challenge = refused.headers["www-authenticate"]
        assert 'acr_values="substantial high"' in challenge
        assert 'max_age="300"' in challenge
    reasons = [e.data["reason"] for e in _events(csc_ctx, "signing.csc.authorize_refused")]
    assert reasons == ["stale_login", "weak_login"]
    assert _events(csc_ctx, "signing.csc.authorized") == []


def test_wrong_or_replayed_otp_is_refused_and_not_logged(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    good = otp_now(official, clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    refused = _authorize(csc_http, official, headers, [_digest("a")], wrong)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_otp"
    assert _authorize(csc_http, official, headers, [_digest("a")], good).status_code == 200
    replayed = _authorize(csc_http, official, headers, [_digest("b")], good)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_otp"
    missing = csc_http.post(
        f"{V2}/credentials/authorize",
        headers=headers,
        json={"credentialID": official.credential.serial_hex, "numSignatures": 1,
              "hashes": [_b64(_digest("c"))], "hashAlgorithmOID": SHA256},
    )  # fmt: skip
    assert missing.json()["error"] == "invalid_otp"
    refusals = _events(csc_ctx, "signing.csc.authorize_refused")
    assert [e.data["reason"] for e in refusals] == ["otp_wrong", "otp_wrong", "otp_missing"]
    assert not any(wrong in repr(e.data) or good in repr(e.data) for e in refusals)


def test_otp_guessing_locks_authorisation(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    for guess in range(5):
        answer = _authorize(csc_http, official, headers, [_digest("g")], f"{guess:06d}")
        assert answer.json()["error"] == "invalid_otp"
    locked = _authorize(csc_http, official, headers, [_digest("g")], otp_now(official, clock))
    assert locked.status_code == 403
    assert locked.json()["error"] == "access_denied"


def test_token_without_service_scope_is_refused(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official = new_official(csc_ctx, clock)
    client = signing_client(csc_ctx, scopes=("openid", "profile"))
    headers = bearer(mint_token(csc_ctx, client, official.person_id, scopes=("openid", "profile")))
    for method, body in (
        ("credentials/list", {}),
        ("credentials/info", {"credentialID": official.credential.serial_hex}),
    ):
        refused = csc_http.post(f"{V2}/{method}", headers=headers, json=body)
        assert refused.status_code == 403
        assert refused.json()["error"] == "insufficient_scope"
        assert 'scope="service"' in refused.headers["www-authenticate"]
    refused = _authorize(csc_http, official, headers, [_digest("s")], otp_now(official, clock))
    assert refused.status_code == 403


def test_no_or_forged_token_is_401(csc_ctx: AppContext, csc_http: TestClient) -> None:
    none = csc_http.post(f"{V2}/credentials/list", json={})
    assert none.status_code == 401
    assert none.headers["www-authenticate"].startswith("Bearer")
    forged = csc_http.post(f"{V2}/credentials/list", headers=bearer("a.b.c"), json={})
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_token"


def test_another_officials_credential_is_invisible(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    owner, _ = _setup(csc_ctx, clock)
    other, other_headers = _setup(csc_ctx, clock)
    answers = [
        csc_http.post(
            f"{V2}/credentials/info",
            headers=other_headers,
            json={"credentialID": owner.credential.serial_hex},
        ),
        _authorize(
            csc_http,
            other,
            other_headers,
            [_digest("x")],
            otp_now(other, clock),
            credential=owner.credential.serial_hex,
        ),
        csc_http.post(
            f"{V2}/credentials/info", headers=other_headers, json={"credentialID": "0BADC0DE"}
        ),
    ]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json() == answers[-1].json()  # the same as a credential that does not exist
    listed = csc_http.post(f"{V2}/credentials/list", headers=other_headers).json()
    assert owner.credential.serial_hex not in listed["credentialIDs"]


def test_revoked_credential_cannot_authorize(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    csc_ctx.ca().revoke(
        official.credential.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="test"
    )
    info = csc_http.post(
        f"{V2}/credentials/info",
        headers=headers,
        json={"credentialID": official.credential.serial_hex},
    ).json()
    assert info["cert"]["status"] == "revoked"
    assert info["key"]["status"] == "disabled"
    refused = _authorize(csc_http, official, headers, [_digest("r")], otp_now(official, clock))
    assert refused.status_code == 400
    assert "revoked" in refused.json()["error_description"]


def test_dpop_bound_token_needs_its_proof(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official = new_official(csc_ctx, clock)
    key = make_rp_key()
    token = mint_token(csc_ctx, signing_client(csc_ctx), official.person_id, dpop_jkt=key.jkt)
    url = csc_ctx.idp_core().issuer + f"{V2}/credentials/list"
    # As a bearer token it is refused (RFC 9449 §7.2)...
    assert csc_http.post(f"{V2}/credentials/list", headers=bearer(token)).status_code == 401
    # ...with a proof it works once the server's nonce is used.
    first = csc_http.post(
        f"{V2}/credentials/list",
        headers={"Authorization": f"DPoP {token}",
                 "DPoP": dpop_proof(key, method="POST", url=url, at=clock.now(),
                                    access_token=token)},
    )  # fmt: skip
    assert first.status_code == 401
    nonce = first.headers["dpop-nonce"]
    second = csc_http.post(
        f"{V2}/credentials/list",
        headers={"Authorization": f"DPoP {token}",
                 "DPoP": dpop_proof(key, method="POST", url=url, at=clock.now(), nonce=nonce,
                                    access_token=token)},
    )  # fmt: skip
    assert second.status_code == 200, second.text
    assert body_of(second)["credentialIDs"] == [official.credential.serial_hex]


def test_malformed_requests_get_csc_errors(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official, headers = _setup(csc_ctx, clock)
    cases: list[dict[str, Any]] = [
        {"credentialID": official.credential.serial_hex, "numSignatures": 1,
         "hashes": ["%%%"], "authData": [{"id": "OTP", "value": "123456"}]},
        {"credentialID": official.credential.serial_hex, "numSignatures": 2,
         "hashes": [_b64(_digest("one"))], "authData": [{"id": "OTP", "value": "123456"}]},
        {"credentialID": official.credential.serial_hex, "numSignatures": 1,
         "hashes": [_b64(b"short")], "authData": [{"id": "OTP", "value": "123456"}]},
        {"credentialID": official.credential.serial_hex, "numSignatures": 1, "surprise": 1},
    ]  # fmt: skip
    for body in cases:
        answer = csc_http.post(f"{V2}/credentials/authorize", headers=headers, json=body)
        assert answer.status_code == 400, body
        assert answer.json()["error"] == "invalid_request"
        assert set(answer.json()) == {"error", "error_description"}
    not_json = csc_http.post(f"{V2}/credentials/list", headers=headers, content=b"{")
    assert not_json.json()["error"] == "invalid_request"
