"""The JOSE layer of the OpenID provider: compact JWS signing and verification, JWKs, thumbprints.

Decisions (the notes a reviewer needs; docs/decisions.md style):

* **Signing is done here, not by a JOSE library.** The IdP's private keys live in the key
  backend (``hsm_adapters``) and are handed out as ``cryptography`` key objects whose ``sign()``
  runs in the backend; they refuse ``private_bytes()``. python-jose and joserfc both want to
  serialise or re-wrap a private key before signing, so :func:`sign_jws` builds the JWS signing
  input itself (RFC 7515 §5.1: ``BASE64URL(header) || '.' || BASE64URL(payload)``) and signs it
  with the key object: ES256 as ECDSA P-256/SHA-256 turned from DER into the fixed-width
  ``R || S`` form of RFC 7518 §3.4, PS256 as RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte
  salt (RFC 7518 §3.5).
* **Verification is done by the libraries.** python-jose (the platform's chosen JOSE library)
  verifies ES256 and RS256. It has no RSASSA-PSS, so PS256 is verified with joserfc. Both are
  called with exactly one algorithm, the one this module has already checked.
* **A strict allow-list per use** (:data:`ALLOWED_ALGORITHMS`), checked on the header *before*
  any library sees the token: ID tokens and access tokens ES256/PS256; client assertions and
  request objects of FAPI 2.0 clients ES256/PS256 (FAPI 2.0 Security Profile §5.4: PS256,
  ES256 or EdDSA); of ordinary clients also RS256. ``none`` and every HMAC algorithm are in no
  list, so an unsigned token and the "HMAC keyed with the public key" confusion (the token
  says ``HS256`` and a library uses the RSA/EC public key bytes as the MAC secret) cannot
  verify. On top of that a key is used only if its type matches the algorithm (EC P-256 for
  ES256, RSA of at least 2048 bits for RS256/PS256) and symmetric (``oct``) keys are refused
  outright (RFC 8725 §3.1, §3.2).
* **Headers are read strictly**: a ``crit`` header is refused (RFC 7515 §4.1.11: we understand
  no extension), so are ``jku``, ``x5u`` and ``jwk`` unless the use allows an embedded key
  (only DPoP proofs do, RFC 9449 §4.2), because the verifier picks keys from what it trusts,
  never from the token. Tokens are capped in size before decoding.
* **Library key objects are built once per key** (building one from a JWK cost a third of a
  verification). :func:`_library_key` caches them in a bounded LRU keyed by the algorithm and
  the *entire* JWK, which is safe by construction: the object is a pure function of exactly
  that, so a rotated key, or another key under the same ``kid``, gets its own entry. The
  libraries still verify, with that object. Encoded signing headers are cached likewise.
* **JWK export** is python-jose's (``jwk.construct(public_key).to_dict()``); the key id is the
  RFC 7638 thumbprint computed here (required members in lexicographic order, no whitespace),
  which the tests compare against joserfc's.

Claims (``exp``, ``aud`` ...) are checked by the callers, who know what each use requires; this
module only provides :func:`numeric_date` and the JSON plumbing. Verification does no I/O: the
caller hands over the keys it trusts.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from core.json_text import compact_json
from idp.errors import InvalidJWS

__all__ = [
    "ALLOWED_ALGORITHMS",
    "JWSUse",
    "VerifiedJWS",
    "algorithm_for_key",
    "b64url_decode",
    "b64url_encode",
    "hash_half",
    "jwk_thumbprint",
    "numeric_date",
    "public_jwk",
    "sign_jws",
    "unverified_claims",
    "unverified_header",
    "verify_jws",
]

#: The longest compact JWS accepted (a client assertion or token is far smaller).
MAX_JWS_LENGTH = 16 * 1024
#: The longest JWS header accepted (decoded; an embedded RSA-4096 key fits).
_MAX_HEADER_LENGTH = 4096
#: RSA keys below this size are refused for every use (RFC 7518 §3.3, §3.5).
MIN_RSA_BITS = 2048


class JWSUse(StrEnum):
    """What a JWS is for; each use has its own algorithm allow-list."""

    ID_TOKEN = "id_token"  # noqa: S105 - a use name, not a secret
    ACCESS_TOKEN = "access_token"  # noqa: S105 - a use name, not a secret
    CLIENT_ASSERTION = "client_assertion"
    CLIENT_ASSERTION_FAPI = "client_assertion_fapi"
    REQUEST_OBJECT = "request_object"
    REQUEST_OBJECT_FAPI = "request_object_fapi"
    DPOP_PROOF = "dpop_proof"


_STRONG = frozenset({"ES256", "PS256"})
#: Algorithms allowed per use. ``none`` and HS* appear nowhere, by design.
ALLOWED_ALGORITHMS: Mapping[JWSUse, frozenset[str]] = {
    JWSUse.ID_TOKEN: _STRONG,
    JWSUse.ACCESS_TOKEN: _STRONG,
    JWSUse.CLIENT_ASSERTION: _STRONG | {"RS256"},
    JWSUse.CLIENT_ASSERTION_FAPI: _STRONG,
    JWSUse.REQUEST_OBJECT: _STRONG | {"RS256"},
    JWSUse.REQUEST_OBJECT_FAPI: _STRONG,
    JWSUse.DPOP_PROOF: _STRONG,
}
#: Uses whose key travels in the JWS header (RFC 9449 §4.2); every other use refuses ``jwk``.
_EMBEDDED_KEY_USES = frozenset({JWSUse.DPOP_PROOF})
_REMOTE_KEY_HEADERS = ("jku", "x5u", "x5c")
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ES256_COORDINATE = 32
#: Verification keys (the IdP's, clients', DPoP keys) whose library key objects are kept (LRU).
_KEY_CACHE_SIZE = 256
#: Immutable signature parameters, shared instead of rebuilt per signature.
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PSS_SHA256 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_SHA256 = hashes.SHA256()
#: RFC 4648 §5: the URL-safe alphabet differs from base64's in two characters.
_URLSAFE = bytes.maketrans(b"+/", b"-_")


@dataclass(frozen=True, slots=True)
class VerifiedJWS:
    """A JWS whose signature verified under ``key`` (one of the trusted keys given)."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    key: Mapping[str, Any]


# --- encoding --------------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    # What base64.urlsafe_b64encode does, without its two Python-level calls.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding; raises :class:`InvalidJWS`."""
    if not isinstance(text, str) or "=" in text:
        raise InvalidJWS("expected unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidJWS("expected unpadded base64url") from exc
    if b64url_encode(raw) != text:
        # Non-canonical encodings (stray bits in the last character) would let two strings
        # denote one token; refuse them.
        raise InvalidJWS("non-canonical base64url")
    return raw


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return compact_json(value)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJWS(f"the JWS {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidJWS(f"the JWS {what} must be a JSON object, got {type(value).__name__}")
    return value


def hash_half(value: str) -> str:
    """``at_hash`` / ``c_hash`` for ES256 and PS256 (OIDC Core §3.1.3.6, §3.3.2.11): base64url
    of the left half of the SHA-256 of the ASCII value."""
    return b64url_encode(hashlib.sha256(value.encode("ascii")).digest()[:16])


# --- keys ------------------------------------------------------------------------------------


def algorithm_for_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    """The JWS algorithm NatID signs with for ``key``: ES256 for P-256, PS256 for RSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        return "PS256"
    raise InvalidJWS(f"no JWS signing algorithm for a {type(key).__name__}; expected P-256 or RSA")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3 SHA-256 thumbprint: the required members only, sorted, no whitespace."""
    kty = jwk.get("kty")
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    if kty not in required:
        raise InvalidJWS(f"cannot take the thumbprint of a key of type {str(kty)[:20]!r}")
    members = {}
    for name in required[kty]:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise InvalidJWS(f"the JWK lacks its {name!r} member")
        members[name] = value
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return b64url_encode(hashlib.sha256(canonical).digest())


def _pem(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_jwk(
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, *, alg: str
) -> dict[str, str]:
    """The public JWK of a signing key with ``kid`` (its RFC 7638 thumbprint), ``alg`` and
    ``use: sig``. Exported by python-jose; nothing private can be in it."""
    from jose import jwk as jose_jwk

    if alg == "ES256":
        if not (
            isinstance(public_key, ec.EllipticCurvePublicKey)
            and isinstance(public_key.curve, ec.SECP256R1)
        ):
            raise InvalidJWS("ES256 needs an EC P-256 key")
        exported = jose_jwk.construct(_pem(public_key), "ES256").to_dict()
    elif alg in {"PS256", "RS256"}:
        if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < MIN_RSA_BITS:
            raise InvalidJWS(f"{alg} needs an RSA key of at least {MIN_RSA_BITS} bits")
        # python-jose knows no PS256; the key members are the same as for RS256.
        exported = jose_jwk.construct(_pem(public_key), "RS256").to_dict()
    else:
        raise InvalidJWS(f"NatID does not sign with {alg[:20]!r}")
    jwk = {k: str(v) for k, v in exported.items() if k not in _PRIVATE_JWK_MEMBERS}
    jwk.update(alg=alg, use="sig")
    jwk["kid"] = jwk_thumbprint(jwk)
    return jwk


# --- signing ---------------------------------------------------------------------------------


def sign_jws(
    claims: Mapping[str, Any],
    *,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    kid: str,
    typ: str = "JWT",
) -> str:
    """A compact JWS of ``claims`` signed by ``key`` (which may live in an HSM).

    The algorithm follows from the key (:func:`algorithm_for_key`); the header carries
    ``alg``, ``kid`` and ``typ`` (``JWT``, or ``at+jwt`` for access tokens, RFC 9068 §2.1).
    """
    alg = algorithm_for_key(key)
    if type(kid) is str and type(typ) is str:
        header_b64 = _encoded_header(alg, kid, typ)
    else:  # not cached: only exact strings make a cache key that cannot alias another header
        header_b64 = b64url_encode(_json_bytes({"alg": alg, "kid": kid, "typ": typ}))
    signing_input = f"{header_b64}.{b64url_encode(_json_bytes(claims))}"
    data = signing_input.encode("ascii")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # RFC 7518 §3.4: the signature is R and S as 32-byte big-endian integers, concatenated;
        # the key object returns DER (RFC 3279 §2.2.3).
        r, s = decode_dss_signature(key.sign(data, _ECDSA_SHA256))
        signature = r.to_bytes(_ES256_COORDINATE, "big") + s.to_bytes(_ES256_COORDINATE, "big")
    else:
        # RFC 7518 §3.5: RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt as long as the hash.
        signature = key.sign(data, _PSS_SHA256, _SHA256)
    return f"{signing_input}.{b64url_encode(signature)}"


@functools.lru_cache(maxsize=64)
def _encoded_header(alg: str, kid: str, typ: str) -> str:
    """The base64url JSON header ``{"alg", "kid", "typ"}``: a pure function of three strings,
    the same for every token signed by one key for one use, so built once."""
    return b64url_encode(_json_bytes({"alg": alg, "kid": kid, "typ": typ}))


# --- verification ----------------------------------------------------------------------------


def _split(token: str) -> tuple[str, str, str]:
    if not isinstance(token, str) or len(token) > MAX_JWS_LENGTH:
        raise InvalidJWS(f"expected a compact JWS of at most {MAX_JWS_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise InvalidJWS("expected a compact JWS: header.payload.signature")
    return parts[0], parts[1], parts[2]


def unverified_header(token: str) -> dict[str, Any]:
    """The protected header of ``token``, NOT verified: only for choosing what to check."""
    header_b64, _, _ = _split(token)
    return _json_object(b64url_decode(header_b64), "header")


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of ``token``, NOT verified: only to find which client's keys to use."""
    _, payload_b64, _ = _split(token)
    return _json_object(b64url_decode(payload_b64), "payload")


def _check_header(header: Mapping[str, Any], use: JWSUse) -> str:
    alg = header.get("alg")
    allowed = ALLOWED_ALGORITHMS[use]
    if not isinstance(alg, str) or alg not in allowed:
        shown = alg[:20] if isinstance(alg, str) else type(alg).__name__
        raise InvalidJWS(f"JWS algorithm {shown!r} refused for {use}; expected {sorted(allowed)}")
    if "crit" in header:
        raise InvalidJWS("a JWS with critical header extensions is refused (RFC 7515 §4.1.11)")
    for name in _REMOTE_KEY_HEADERS:
        if name in header:
            raise InvalidJWS(f"the JWS header {name!r} is refused; keys come from registration")
    if "jwk" in header and use not in _EMBEDDED_KEY_USES:
        raise InvalidJWS("a key embedded in the JWS header is refused for this use")
    return alg


def _key_matches(jwk: Mapping[str, Any], alg: str) -> bool:
    if jwk.get("kty") == "oct" or _PRIVATE_JWK_MEMBERS & set(jwk):
        # Never a symmetric key, never a JWK carrying private members (RFC 8725 §3.2).
        return False
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        return False
    if alg == "ES256":
        return jwk.get("kty") == "EC" and jwk.get("crv") == "P-256"
    if jwk.get("kty") != "RSA" or not isinstance(jwk.get("n"), str):
        return False
    try:
        return len(b64url_decode(jwk["n"]).lstrip(b"\0")) * 8 >= MIN_RSA_BITS
    except InvalidJWS:
        return False


def _pick_key(
    header: Mapping[str, Any], keys: Sequence[Mapping[str, Any]], alg: str
) -> Mapping[str, Any]:
    kid = header.get("kid")
    candidates = [k for k in keys if _key_matches(k, alg)]
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
    if len(candidates) != 1:
        # Without a kid, more than one usable key is ambiguous (RFC 7515 §4.1.4 lets the
        # verifier require a kid); trying each would multiply the work an attacker can cause.
        found = "no" if not candidates else "more than one"
        raise InvalidJWS(f"{found} trusted {alg} key matches the JWS (kid {str(kid)[:64]!r})")
    return candidates[0]


def _build_library_key(alg: str, jwk: dict[str, Any]) -> Any:
    """The verifying library's key object for ``jwk``: joserfc's for PS256, else python-jose's
    (what each library would build from the JWK inside its own verify call)."""
    if alg == "PS256":
        from joserfc.jwk import RSAKey

        return RSAKey.import_key(jwk)
    from jose import jwk as jose_jwk

    return jose_jwk.construct(jwk, alg)


@functools.lru_cache(maxsize=_KEY_CACHE_SIZE)
def _cached_library_key(alg: str, members: tuple[tuple[str, str], ...]) -> Any:
    return _build_library_key(alg, dict(members))


def _library_key(jwk: Mapping[str, Any], alg: str) -> Any:
    """The library key object for ``jwk``, cached under ``alg`` and every member of the JWK
    (sorted), so an entry is only ever returned for an identical JWK. Only all-string JWKs are
    cached (EC and RSA public members are strings); others (``key_ops`` lists, numbers, which
    could compare equal across types) are built afresh. A JWK that fails to build is not cached.
    """
    if all(type(name) is str and type(value) is str for name, value in jwk.items()):
        return _cached_library_key(alg, tuple(sorted(jwk.items())))
    return _build_library_key(alg, dict(jwk))


def _library_verify(token: str, jwk: Mapping[str, Any], alg: str) -> None:
    if alg == "PS256":
        from joserfc import jws as rfc_jws
        from joserfc.errors import JoseError

        registry = rfc_jws.JWSRegistry(algorithms=[alg])
        # joserfc caps headers at 512 bytes; a DPoP proof's header carries an RSA key
        # (RFC 9449 §4.2), about 700 bytes for RSA-2048. The whole token is capped above.
        registry.max_header_length = _MAX_HEADER_LENGTH
        try:
            rfc_jws.deserialize_compact(
                token, _library_key(jwk, alg), algorithms=[alg], registry=registry
            )
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidJWS("the JWS signature does not verify") from exc
        return
    from jose import jws as jose_jws
    from jose.exceptions import JOSEError

    try:
        # python-jose verifies (header, alg allow-list, signature over the signing input) under
        # the picked key's object alone: handed a JWK mapping it would build that object on
        # every call, and would take a JWK with a "keys" member for a set of unchecked keys.
        jose_jws.verify(token, _library_key(jwk, alg), algorithms=[alg])
    except (JOSEError, ValueError, TypeError) as exc:
        raise InvalidJWS("the JWS signature does not verify") from exc


def verify_jws(
    token: str,
    *,
    keys: Sequence[Mapping[str, Any]],
    use: JWSUse,
    typ: str | None = None,
) -> VerifiedJWS:
    """Verify a compact JWS against trusted public JWKs and return its header and claims.

    Steps: (1) split and size-check; (2) decode the header, check ``alg`` against the
    allow-list of ``use``, refuse ``crit`` and remote or embedded keys; (3) check ``typ`` when
    the use defines one (compared case-insensitively, with or without ``application/``,
    RFC 7515 §4.1.9); (4) pick the one trusted key of the right type (and ``kid``); (5) verify
    the signature with the library for that algorithm; (6) decode the claims, a JSON object.
    Raises :class:`InvalidJWS` on any failure.
    """
    header_b64, payload_b64, _ = _split(token)
    header = _json_object(b64url_decode(header_b64), "header")
    alg = _check_header(header, use)
    if typ is not None:
        given = header.get("typ")
        normal = given.lower().removeprefix("application/") if isinstance(given, str) else None
        if normal != typ.lower():
            raise InvalidJWS(f"expected JWS typ {typ!r}, got {str(given)[:40]!r}")
    key = _pick_key(header, keys, alg)
    _library_verify(token, key, alg)
    claims = _json_object(b64url_decode(payload_b64), "payload")
    return VerifiedJWS(header=header, claims=claims, key=key)


def numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    """An integer NumericDate claim (RFC 7519 §2); booleans and floats are refused."""
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidJWS(f"the {name!r} claim is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJWS(f"the {name!r} claim must be a NumericDate")
    return int(value)
