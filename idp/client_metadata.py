"""Checks on what an operator registers for a client: URIs, sector, scopes, JWKS (pure, no I/O).

* Client names are shown to citizens on the consent page, so two clients may not share a
  name as a citizen would read it: :func:`name_key` folds a name (Unicode NFKC, case folded,
  runs of whitespace as one space, trimmed) and no two clients may have the same key.
* Redirect URIs (RFC 6749 §3.1.2, OIDC Core §3.1.2.1, RFC 8252 §7.3, RFC 9700 §2.1):
  absolute, no fragment, no user info, at most 2,000 characters; ``https``, or ``http`` only for
  the loopback hosts ``localhost``, ``127.0.0.1`` and ``[::1]`` (development and native apps).
  FAPI 2.0 clients must use ``https`` (FAPI 2.0 Security Profile §5.3.2.2). They are compared
  by exact string match at the authorization endpoint (RFC 9700 §4.1.3), so nothing is
  normalised here: what is registered is what must be sent.
* Sector (OIDC Core §8.1): without an explicit sector, every redirect URI must share one host
  and that host is the sector; a client with several hosts must be given a sector.
* Scopes (RFC 6749 §3.3): scope tokens of the allowed characters; ``openid`` always included.
* ``userinfo_signed_response_alg`` (OIDC Dynamic Client Registration §2, OIDC Core §5.3.2):
  absent, or one of the algorithms the IdP signs with (ES256, PS256); ``none`` is never
  accepted (an unsigned JWT is worse than plain JSON: it looks signed).
* JWKS of ``private_key_jwt`` clients (RFC 7517 §5): public keys only (no ``d``, ``p``,
  ``k`` ... members, no ``oct`` keys), EC P-256 or RSA of at least 2048 bits, each key parsed
  to prove it is a valid point or modulus. A FAPI 2.0 client's keys may only announce ES256
  or PS256 (FAPI 2.0 Security Profile §5.4); others also RS256. With several keys each needs
  a distinct ``kid``, so an assertion's ``kid`` selects exactly one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from idp.errors import InvalidClientMetadata, InvalidJWS, InvalidRedirectUri
from idp.jose import ALLOWED_ALGORITHMS, MIN_RSA_BITS, JWSUse, b64url_decode

__all__ = [
    "DEFAULT_SCOPES",
    "LOOPBACK_HOSTS",
    "check_jwks",
    "check_logout_uri",
    "check_name",
    "check_reason",
    "check_redirect_uris",
    "check_scopes",
    "check_sector",
    "check_userinfo_alg",
    "name_key",
]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
DEFAULT_SCOPES = frozenset({"openid", "profile", "email", "phone", "address", "offline_access"})
MAX_URI_LENGTH = 2000
MAX_URIS = 20
MAX_KEYS = 10
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]{1,64}")
_HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})*")
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_FORBIDDEN_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


def check_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 100 or _CONTROL_CHARS.search(name):
        raise InvalidClientMetadata("client name: expected 1 to 100 printable characters")
    return name


def check_reason(reason: str) -> str:
    """An operator's reason for disabling a client (kept on the row and in the ledger)."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 1 <= len(reason) <= 200 or _CONTROL_CHARS.search(reason):
        raise InvalidClientMetadata("reason: expected 1 to 200 printable characters")
    return reason


def name_key(name: str) -> str:
    """The key two client names are compared by: SHA-256 (hex) of the name folded as a citizen
    reads it on the consent page (NFKC, so full-width and compatibility forms match their plain
    letters; case folded; whitespace runs as one space, since HTML shows them so; trimmed).

    A digest rather than the folded text, so the stored key has one length whatever NFKC
    expands a name to."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    folded = _WHITESPACE.sub(" ", folded).strip()
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def _check_uri(uri: str, what: str, *, https_only: bool, allow_query: bool = True) -> str:
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH:
        raise InvalidRedirectUri(f"{what}: expected an absolute URI of 1 to {MAX_URI_LENGTH} chars")
    shown = uri[:200]
    if _FORBIDDEN_CHARS.search(uri):
        raise InvalidRedirectUri(f"{what} {shown!r}: whitespace and control characters refused")
    try:
        parts = urlsplit(uri)
        _ = parts.port  # parses the port: "https://a:x/" raises here
    except ValueError as exc:
        raise InvalidRedirectUri(f"{what} {shown!r} is not a valid URI") from exc
    if parts.fragment or uri.endswith("#"):
        raise InvalidRedirectUri(f"{what} {shown!r} must not contain a fragment")
    if "@" in parts.netloc:
        raise InvalidRedirectUri(f"{what} {shown!r} must not contain user info")
    if parts.query and not allow_query:
        raise InvalidRedirectUri(f"{what} {shown!r} must not contain a query")
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        if not _is_host(host):
            # "https://*.gov.kh/cb" was stored and could never match (matching is exact).
            raise InvalidRedirectUri(
                f"{what} {shown!r}: the host is not a DNS name or an IP address (no wildcards)"
            )
        return uri
    if parts.scheme == "http" and _netloc_host(parts.netloc) in LOOPBACK_HOSTS:
        if https_only:
            raise InvalidRedirectUri(f"{what} {shown!r}: FAPI 2.0 clients must use https")
        return uri
    raise InvalidRedirectUri(
        f"{what} {shown!r}: expected https://..., or http:// on localhost, 127.0.0.1 or [::1]"
    )


_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _is_host(host: str) -> bool:
    """A DNS name of letter-digit-hyphen labels (IDNs as ``xn--``) or an IP address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in labels)


def _netloc_host(netloc: str) -> str:
    host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
    return host.lower()


def check_redirect_uris(
    uris: Iterable[str], *, fapi2: bool, what: str = "redirect URI"
) -> tuple[str, ...]:
    """The registered URIs in order, each checked; duplicates dropped."""
    checked: list[str] = []
    for given in uris:
        uri = _check_uri(given, what, https_only=fapi2)
        if uri not in checked:
            checked.append(uri)
    if len(checked) > MAX_URIS:
        raise InvalidRedirectUri(f"at most {MAX_URIS} {what}s")
    return tuple(checked)


def check_logout_uri(uri: str | None, *, fapi2: bool) -> str | None:
    """``backchannel_logout_uri`` (OIDC Back-Channel Logout §2.2): may have a query."""
    if uri is None:
        return None
    return _check_uri(uri, "back-channel logout URI", https_only=fapi2)


def check_sector(sector: str | None, redirect_uris: Sequence[str]) -> str:
    """The sector identifier (a host name): the one given, or the redirect URIs' one host."""
    if sector is not None:
        value = sector.strip().lower().rstrip(".")
        if not _HOSTNAME.fullmatch(value):
            raise InvalidClientMetadata(f"sector {sector[:100]!r}: expected a host name")
        return value
    hosts = sorted({(urlsplit(uri).hostname or "").lower() for uri in redirect_uris})
    if len(hosts) != 1:
        raise InvalidClientMetadata(
            f"the redirect URIs are on {len(hosts)} hosts ({', '.join(hosts)[:200]}); pairwise "
            "subjects need one sector: register the client with a sector (--sector)"
        )
    return hosts[0]


def check_scopes(scopes: Iterable[str] | None) -> frozenset[str]:
    """The scopes a client may ask for; ``openid`` is always among them."""
    if scopes is None:
        return DEFAULT_SCOPES
    checked = set()
    for scope in scopes:
        if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
            raise InvalidClientMetadata(f"scope {str(scope)[:64]!r}: not a valid scope token")
        checked.add(scope)
    return frozenset(checked | {"openid"})


def check_userinfo_alg(alg: str | None) -> str | None:
    """The algorithm of signed UserInfo responses, or None for plain JSON."""
    if alg is None:
        return None
    allowed = ALLOWED_ALGORITHMS[JWSUse.ID_TOKEN]
    if alg not in allowed:
        raise InvalidClientMetadata(
            f"userinfo_signed_response_alg {str(alg)[:20]!r}: expected one of {sorted(allowed)}"
        )
    return alg


def _parse_key(key: Mapping[str, Any], allowed_algs: frozenset[str]) -> None:
    from joserfc.jwk import ECKey, RSAKey

    kty = key.get("kty")
    if _PRIVATE_MEMBERS & set(key) or kty == "oct":
        raise InvalidClientMetadata("the JWKS must hold public keys only (no private members)")
    if key.get("use", "sig") != "sig":
        raise InvalidClientMetadata("JWKS keys must be signing keys (use=sig)")
    alg = key.get("alg")
    if alg is not None and alg not in allowed_algs:
        raise InvalidClientMetadata(
            f"JWKS key alg {str(alg)[:20]!r} not allowed; expected one of {sorted(allowed_algs)}"
        )
    if kty == "EC" and key.get("crv") != "P-256":
        raise InvalidClientMetadata("EC keys must be on P-256 (ES256)")
    if kty == "RSA":
        try:
            bits = len(b64url_decode(str(key.get("n", ""))).lstrip(b"\0")) * 8
        except InvalidJWS as exc:
            raise InvalidClientMetadata("an RSA key's n is not base64url") from exc
        if bits < MIN_RSA_BITS:
            raise InvalidClientMetadata(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        # An RSA key without "alg" may sign PS256 or RS256; a FAPI client's RS256 assertion
        # is refused when it is verified (the idp.jose allow-list).
    if kty not in {"EC", "RSA"}:
        raise InvalidClientMetadata(f"JWKS key type {str(kty)[:20]!r}: expected EC or RSA")
    try:
        # joserfc parses the key: an EC point must lie on the curve, an RSA key be well formed.
        (ECKey if kty == "EC" else RSAKey).import_key(dict(key))
    except Exception as exc:  # joserfc raises several error types
        raise InvalidClientMetadata("a JWKS key is not a valid EC P-256 or RSA public key") from exc


def check_jwks(jwks: Mapping[str, Any] | str | None, *, fapi2: bool) -> tuple[dict[str, Any], ...]:
    """The client's public signing keys (from a JWK Set object or its JSON text)."""
    if jwks is None:
        raise InvalidClientMetadata("private_key_jwt needs the client's public keys (a JWKS)")
    if isinstance(jwks, str):
        try:
            jwks = json.loads(jwks)
        except ValueError as exc:
            raise InvalidClientMetadata("the JWKS is not JSON") from exc
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidClientMetadata(f'expected a JWK Set {{"keys": [...]}} of 1 to {MAX_KEYS} keys')
    use = JWSUse.CLIENT_ASSERTION_FAPI if fapi2 else JWSUse.CLIENT_ASSERTION
    checked = []
    for key in keys:
        if not isinstance(key, dict):
            raise InvalidClientMetadata("each JWKS entry must be a JSON object")
        _parse_key(key, ALLOWED_ALGORITHMS[use])
        checked.append({k: v for k, v in key.items() if isinstance(k, str)})
    kids = [k.get("kid") for k in checked]
    if len(checked) > 1 and (None in kids or len(set(kids)) != len(kids)):
        raise InvalidClientMetadata("with several keys, each needs its own kid")
    return tuple(checked)
