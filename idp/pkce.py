"""Proof Key for Code Exchange (RFC 7636), S256 only.

* The authorization request must carry ``code_challenge_method=S256`` and a ``code_challenge``
  of exactly 43 base64url characters (the encoding of a SHA-256 digest, RFC 7636 §4.2).
  ``plain`` is refused, and so is a missing method, which RFC 7636 §4.3 would read as
  ``plain`` (FAPI 2.0 Security Profile §5.3.2.2 item 3; RFC 9700 §2.1.1).
* The token request's ``code_verifier`` must be 43 to 128 characters of the unreserved set
  ``[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`` (§4.1); BASE64URL(SHA-256(verifier)) must
  equal the challenge (§4.6), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from idp.errors import InvalidGrant, InvalidRequest
from idp.jose import b64url_encode

__all__ = ["S256", "check_challenge", "s256_challenge", "verify"]

S256 = "S256"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA-256(ASCII(verifier))) (RFC 7636 §4.2)."""
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


def check_challenge(challenge: str | None, method: str | None) -> str:
    """The challenge of an authorization request, if it is an S256 one; else ``invalid_request``."""
    if challenge is None:
        raise InvalidRequest("code_challenge is required (PKCE, RFC 7636)")
    if method != S256:
        shown = "missing (which means plain)" if method is None else repr(str(method)[:20])
        raise InvalidRequest(f"code_challenge_method must be S256; got {shown}")
    if not isinstance(challenge, str) or not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be 43 base64url characters (an S256 challenge)")
    return challenge


def verify(verifier: str | None, challenge: str) -> None:
    """Raise ``invalid_grant`` unless ``verifier`` matches the S256 ``challenge``."""
    if verifier is None:
        raise InvalidGrant("code_verifier is required")
    if not isinstance(verifier, str) or not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
    if not hmac.compare_digest(s256_challenge(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
