"""Signed UserInfo responses (OIDC Core §5.3.2).

A client registered with ``userinfo_signed_response_alg`` (:mod:`idp.client_metadata`) gets
its UserInfo response as a JWS (``Content-Type: application/jwt``) instead of JSON. Per
§5.3.2 the claims are the same as in the JSON response, plus ``iss`` (this provider's issuer
identifier) and ``aud`` (the client's ``client_id``), so that a response cannot be replayed to
another client or passed off as another provider's. It is signed with the IdP's active key
(:mod:`idp.keys`; the key stays in the key backend), whose ``kid`` the client finds in the
JWKS like an ID token's. It carries no ``exp``: it is an answer to one authenticated request,
not a credential.

The registered algorithm must be the active key's (the registration offers the key's algorithm);
if the operator has since switched key algorithms, the client cannot be served what it
registered for and the request fails with :class:`~idp.errors.SigningKeyUnavailable` rather
than being answered with another algorithm the client would refuse anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.clients import Client
from idp.errors import SigningKeyUnavailable
from idp.jose import sign_jws
from idp.keys import SigningKeys

__all__ = ["USERINFO_JWT_MEDIA_TYPE", "sign_userinfo"]

#: OIDC Core §5.3.2: "the UserInfo Response MUST ... have a content-type of application/jwt".
USERINFO_JWT_MEDIA_TYPE = "application/jwt"
#: Claims of the signed response that the provider sets; a released claim never overrides them.
_PROVIDER_CLAIMS = frozenset({"iss", "aud"})


def sign_userinfo(
    claims: Mapping[str, Any], *, client: Client, keys: SigningKeys, issuer: str
) -> str:
    """``claims`` (which include ``sub``) as a JWS for ``client``, with ``iss`` and ``aud``."""
    wanted = client.userinfo_signed_response_alg
    if wanted is None:
        raise ValueError("this client did not register for signed UserInfo responses")
    key = keys.signing_key()
    if key.alg != wanted:
        raise SigningKeyUnavailable(
            f"the client registered {wanted} UserInfo responses; the active key signs {key.alg}"
        )
    body = {k: v for k, v in claims.items() if k not in _PROVIDER_CLAIMS}
    body["iss"] = issuer
    body["aud"] = client.client_id
    return sign_jws(body, key=key.key, kid=key.kid, typ="JWT")
