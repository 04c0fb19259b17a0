"""DPoP proofs (RFC 9449): verifying a proof of possession and issuing server nonces.

A DPoP proof is a compact JWS whose header carries ``typ: dpop+jwt``, an asymmetric ``alg`` and
the client's PUBLIC key as ``jwk`` (§4.2). :meth:`DPoPVerifier.verify` performs the checks of
§4.3, numbered as there:

1. one proof (the route refuses several ``DPoP`` headers); 2. a well-formed JWT;
3. the required claims ``jti``, ``htm``, ``htu``, ``iat`` (and ``ath`` with an access token);
4. ``typ`` is ``dpop+jwt``; 5. ``alg`` is ES256 or PS256 (the allow-list of
:data:`idp.jose.ALLOWED_ALGORITHMS`, use ``dpop_proof``: ``none``, HMAC and RS256 are refused);
6. the signature verifies under the header's ``jwk``; 7. that ``jwk`` has no private members;
8. ``htm`` is the request's method (exactly; methods are case-sensitive, RFC 9110 §9.1);
9. ``htu`` is the request's URI, ignoring query and fragment, after syntax- and scheme-based
normalisation (RFC 3986 §6.2.2, §6.2.3: scheme and host case, default port, empty path,
percent-encoding case); 10. ``nonce`` is a current server nonce when one is required;
11. ``iat`` within the window (at most :data:`MAX_AGE` old, at most :data:`MAX_FUTURE` ahead;
the FAPI 2.0 conformance tests send proofs 10 s before and after the server's time, both must
pass); ``exp`` and ``nbf``, not required by the RFC, are honoured when present;
12. ``ath`` is base64url(SHA-256(access token)) when an access token is presented.
Last, the ``jti`` is recorded with :meth:`Cache.add` (atomic) for the whole acceptance window,
so a proof is accepted once (§11.1), and only a proof that passed every other check can use
up a ``jti``.

**Signature verification** goes through :func:`idp.jose.verify_jws` with the embedded key as
the only trusted key: python-jose for ES256 and joserfc for PS256 (python-jose has no
RSASSA-PSS), after NatID's own header checks; so the algorithm allow-list, the ``crit`` /
``jku`` / ``x5u`` refusals and the key-type checks are the same as for every other JWS.

**Nonces** (§8, §9) are stateless, so any worker can check any nonce: the nonce is an HMAC of
the current time bucket (:data:`NONCE_PERIOD`) under a server secret; the current and the
previous bucket's nonces are accepted, so a nonce lives between one and two periods. A missing
or stale nonce raises :class:`~idp.errors.UseDPoPNonce` carrying a fresh one.

The ``jkt`` of a proof is its key's RFC 7638 thumbprint (:func:`idp.jose.jwk_thumbprint`), the
value of ``cnf.jkt`` in bound tokens and of PAR's ``dpop_jkt``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core.cache import Cache
from core.clock import require_aware
from idp.errors import InvalidDPoPProof, InvalidJWS, UseDPoPNonce
from idp.jose import (
    JWSUse,
    b64url_encode,
    jwk_thumbprint,
    numeric_date,
    unverified_header,
    verify_jws,
)

__all__ = [
    "MAX_AGE",
    "MAX_FUTURE",
    "NONCE_PERIOD",
    "DPoPProof",
    "DPoPVerifier",
    "access_token_hash",
    "normalize_htu",
]

#: A proof older than this (by its ``iat``) is refused.
MAX_AGE = dt.timedelta(seconds=60)
#: A proof may be dated this far ahead of the server's clock (client clocks run fast).
MAX_FUTURE = dt.timedelta(seconds=15)
#: Length of one nonce bucket; a nonce is accepted during its bucket and the next one.
NONCE_PERIOD = dt.timedelta(minutes=5)
_MAX_JTI = 256
_MAX_NONCE = 128
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_PUBLIC_MEMBERS = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e")}
_NONCE_LABEL = b"natid dpop nonce v1\0"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A DPoP proof that passed every check: the key's thumbprint, the proof's ``jti``, the key."""

    jkt: str
    jti: str
    jwk: Mapping[str, Any] = field(repr=False)


def access_token_hash(access_token: str) -> str:
    """The ``ath`` value for ``access_token`` (RFC 9449 §4.2): base64url(SHA-256(ASCII))."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii", "replace")).digest())


def _normalise_percent(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(0)[1:], 16))
        # RFC 3986 §6.2.2.2: decode unreserved characters, upper-case the other triplets.
        return char if char in _UNRESERVED else match.group(0).upper()

    return _PERCENT.sub(fix, text)


def normalize_htu(url: str) -> str:
    """``url`` without query and fragment, normalised per RFC 3986 §6.2.2 and §6.2.3."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidDPoPProof("htu is not a valid URI") from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise InvalidDPoPProof("htu must be an absolute http(s) URI")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _normalise_percent(parts.path) or "/"
    return f"{scheme}://{netloc}{path}"


class DPoPVerifier:
    """Verifies DPoP proofs and mints nonces. Stateless apart from the ``jti`` cache."""

    def __init__(
        self, cache: Cache, *, secret: bytes, nonce_period: dt.timedelta = NONCE_PERIOD
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the DPoP nonce secret must be at least 16 bytes")
        self._cache = cache
        self._secret = secret
        self._period = max(1, int(nonce_period.total_seconds()))

    # --- nonces ------------------------------------------------------------------------------

    def _nonce_for(self, bucket: int) -> str:
        mac = hmac.new(self._secret, _NONCE_LABEL + bucket.to_bytes(8, "big"), hashlib.sha256)
        return b64url_encode(mac.digest()[:18])

    def _bucket(self, at: dt.datetime) -> int:
        return int(require_aware(at).timestamp()) // self._period

    def new_nonce(self, *, at: dt.datetime) -> str:
        """The nonce to hand out now (send it as ``DPoP-Nonce`` on every DPoP response)."""
        return self._nonce_for(self._bucket(at))

    def nonce_is_current(self, nonce: object, *, at: dt.datetime) -> bool:
        """True if ``nonce`` is this or the previous bucket's nonce."""
        if not isinstance(nonce, str) or not 1 <= len(nonce) <= _MAX_NONCE:
            return False
        bucket = self._bucket(at)
        matches = [hmac.compare_digest(nonce, self._nonce_for(b)) for b in (bucket, bucket - 1)]
        return any(matches)

    # --- proofs --------------------------------------------------------------------------------

    def verify(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        at: dt.datetime,
        access_token: str | None = None,
        require_nonce: bool = True,
    ) -> DPoPProof | None:
        """The verified proof, or None when ``proof`` is None (no ``DPoP`` header).

        ``url`` is the URL of the endpoint as the client addresses it (issuer + path);
        ``access_token`` is given at resource endpoints and requires a matching ``ath``.
        Raises :class:`InvalidDPoPProof` or :class:`UseDPoPNonce`.
        """
        at = require_aware(at)
        if proof is None:
            return None
        # 2, 4-7: structure, typ, alg allow-list, public embedded key, signature.
        jwk, claims = self._verify_signature(proof)
        jti = self._check_claims(claims, method=method, url=url, at=at, access_token=access_token)
        # 10: the server nonce (§8). Checked after the signature, so a forged proof gets no
        # nonce-shaped oracle, and before the jti, so the client's retry is not a "replay".
        nonce = claims.get("nonce")
        if (require_nonce or nonce is not None) and not self.nonce_is_current(nonce, at=at):
            raise UseDPoPNonce(
                "a DPoP proof with the server's current nonce is required",
                nonce=self.new_nonce(at=at),
            )
        jkt = jwk_thumbprint(jwk)
        # §11.1: single use. The key covers the whole window a proof can be accepted in.
        key = hashlib.sha256(f"{jkt}\0{jti}".encode()).hexdigest()
        ttl = (MAX_AGE + MAX_FUTURE).total_seconds() + 1
        if not self._cache.add(f"idp:dpop-jti:{key}", b"1", ttl=ttl):
            raise InvalidDPoPProof("the DPoP proof was already used (jti replay)")
        return DPoPProof(jkt=jkt, jti=jti, jwk=jwk)

    @staticmethod
    def _verify_signature(proof: str) -> tuple[dict[str, str], Mapping[str, Any]]:
        if not isinstance(proof, str) or not proof:
            raise InvalidDPoPProof("the DPoP header is empty")
        try:
            header = unverified_header(proof)
        except InvalidJWS as exc:
            raise InvalidDPoPProof(f"the DPoP proof is not a JWT: {exc}") from exc
        raw_jwk = header.get("jwk")
        if not isinstance(raw_jwk, dict):
            raise InvalidDPoPProof("the DPoP proof header must carry the public key as 'jwk'")
        # 7: the key must be public (RFC 9449 §4.3 check 7; RFC 8725 §3.2).
        if _PRIVATE_MEMBERS & set(raw_jwk) or raw_jwk.get("kty") not in _PUBLIC_MEMBERS:
            raise InvalidDPoPProof(
                "the DPoP 'jwk' must be an EC or RSA public key, nothing private"
            )
        members = _PUBLIC_MEMBERS[raw_jwk["kty"]]
        if not all(isinstance(raw_jwk.get(m), str) for m in members):
            raise InvalidDPoPProof("the DPoP 'jwk' lacks a required member")
        jwk = {m: raw_jwk[m] for m in members}
        trusted = dict(jwk)
        if "kid" in header:
            trusted["kid"] = header["kid"]
        try:
            verified = verify_jws(proof, keys=[trusted], use=JWSUse.DPOP_PROOF, typ="dpop+jwt")
        except InvalidJWS as exc:
            raise InvalidDPoPProof(f"the DPoP proof is not valid: {exc}") from exc
        return jwk, verified.claims

    @staticmethod
    def _check_claims(
        claims: Mapping[str, Any],
        *,
        method: str,
        url: str,
        at: dt.datetime,
        access_token: str | None,
    ) -> str:
        # 3: required claims.
        jti, htm, htu = claims.get("jti"), claims.get("htm"), claims.get("htu")
        if not isinstance(jti, str) or not 1 <= len(jti) <= _MAX_JTI:
            raise InvalidDPoPProof(f"the DPoP proof needs a jti of 1 to {_MAX_JTI} characters")
        if not isinstance(htm, str) or not isinstance(htu, str):
            raise InvalidDPoPProof("the DPoP proof needs the htm and htu claims")
        # 8: the method, exactly.
        if htm != method:
            raise InvalidDPoPProof(f"htm {htm[:10]!r} does not match the request method {method}")
        # 9: the URI without query and fragment.
        if normalize_htu(htu) != normalize_htu(url):
            raise InvalidDPoPProof(f"htu does not match the endpoint {normalize_htu(url)}")
        # 11: the time window.
        now = at.timestamp()
        try:
            iat = numeric_date(claims, "iat", required=True)
            exp = numeric_date(claims, "exp", required=False)
            nbf = numeric_date(claims, "nbf", required=False)
        except InvalidJWS as exc:
            raise InvalidDPoPProof(f"the DPoP proof: {exc}") from exc
        assert iat is not None
        if iat < now - MAX_AGE.total_seconds():
            raise InvalidDPoPProof(f"the DPoP proof is older than {int(MAX_AGE.total_seconds())} s")
        if iat > now + MAX_FUTURE.total_seconds():
            raise InvalidDPoPProof("the DPoP proof's iat is in the future")
        if exp is not None and exp <= now:
            raise InvalidDPoPProof("the DPoP proof has expired (exp)")
        if nbf is not None and nbf > now + MAX_FUTURE.total_seconds():
            raise InvalidDPoPProof("the DPoP proof is not valid yet (nbf)")
        # 12: the access-token hash (§4.3 check 12, §7).
        if access_token is not None:
            ath = claims.get("ath")
            if not isinstance(ath, str) or not hmac.compare_digest(
                ath, access_token_hash(access_token)
            ):
                raise InvalidDPoPProof("the DPoP proof's ath does not match the access token")
        return jti
