"""The border verifier page: ``GET /health/verify``, for border officers, in Khmer and English.

The page scans a health credential's QR code with the device camera or from an uploaded photo
or screenshot (jsQR), or takes the ``HC1:`` text from a handheld scanner, and verifies it IN THE
BROWSER (``api/static/border/verifier.js``: Base45, zlib, CBOR, COSE_Sign1, WebCrypto ES256 /
PS256, iat/exp, the DCC revocation hashes), so it keeps working with no network once loaded. A
service worker (``sw.js``) caches the page, its scripts and the two published lists -
``GET /health/trustlist?scope=all`` (NatID's signers and every imported foreign one, so a
credential from a country whose list was imported verifies too) and ``GET /health/revocations``
- and the page shows their age. Online, the page also asks ``POST /health/v1/verify`` for the
full DCC JSON-schema check (the browser only checks the required fields) and says which one it
used.

Routes (all public, like the lists they use):

* ``GET /health/verify[?lang=km|en]`` - the page. Without ``lang`` the language is negotiated
  from ``Accept-Language`` (RFC 9110 §12.5.4); with neither, Khmer, the national language.
* ``GET /health/verify/sw.js`` - the service worker, with ``Service-Worker-Allowed: /health/``
  (the W3C Service Workers spec, §"Service-Worker-Allowed"): its scope must cover the page at
  ``/health/verify`` and the lists under ``/health/``, which a script under
  ``/health/verify/`` alone could not.
* ``GET /health/verify/static/{name}`` - the page's files, from ``api/static/border/``. Their
  URLs carry a version (a hash of all the files), so they are cached as immutable.

Decisions: nothing is loaded from another origin, and the ``Content-Security-Policy`` header
forbids it (``default-src 'self'``). jsQR (npm ``jsqr`` 1.4.0, Apache-2.0, licence in
``jsQR.LICENSE``) is vendored unmodified; :data:`JSQR_SHA256` pins its SHA-256, the page loads it
with Subresource Integrity, and the router refuses to serve a file that does not match.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path
from typing import Annotated, Final

import jinja2
from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import HTMLResponse

from api import page_format
from api.routers.border_text import LANGUAGES, texts
from core.errors import InfrastructureError, NotFound

__all__ = ["JSQR_SHA256", "JSQR_VERSION", "PAGE_PATH", "negotiate_language", "router"]

router = APIRouter(tags=["health"])

PAGE_PATH: Final = "/health/verify"
_SW_PATH = f"{PAGE_PATH}/sw.js"
_SW_SCOPE = "/health/"
_STATIC_PREFIX = f"{PAGE_PATH}/static/"
_LISTS = ("/health/trustlist?scope=all", "/health/revocations")
_VERIFY_API = "/health/v1/verify"

#: jsQR as published on npm (``jsqr@1.4.0``, file ``dist/jsQR.js``; tarball integrity
#: sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A==).
JSQR_VERSION: Final = "1.4.0"
JSQR_SHA256: Final = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"

_HERE = Path(__file__).resolve().parent.parent
_STATIC_DIR = _HERE / "static" / "border"
_TEMPLATE_DIR = _HERE / "templates"
_MEDIA_TYPES = {
    "border.css": "text/css; charset=utf-8",
    "border.js": "text/javascript; charset=utf-8",
    "verifier.js": "text/javascript; charset=utf-8",
    "jsQR.js": "text/javascript; charset=utf-8",
    "jsQR.LICENSE": "text/plain; charset=utf-8",
}
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
    "Vary": "Accept-Language",
}


class BorderAssetsBroken(InfrastructureError):
    """A file of the border page is missing or is not the pinned version."""

    code = "border_assets_broken"


@functools.cache
def _assets() -> tuple[dict[str, bytes], str]:
    """The page's files and their version (a hash over all of them), read once."""
    files: dict[str, bytes] = {}
    for name in sorted({*_MEDIA_TYPES, "sw.js"}):
        try:
            files[name] = (_STATIC_DIR / name).read_bytes()
        except OSError as exc:
            raise BorderAssetsBroken(f"the border page file {name} is missing") from exc
    if hashlib.sha256(files["jsQR.js"]).hexdigest() != JSQR_SHA256:
        raise BorderAssetsBroken(f"jsQR.js is not the pinned jsQR {JSQR_VERSION}")
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return files, digest.hexdigest()[:16]


@functools.cache
def _templates() -> jinja2.Environment:
    """The pages' shared environment (:mod:`api.page_format`): the same options as every other
    page, and ``local_time``/``|numerals`` should the page ever write a number itself (today
    its script fills them in)."""
    return page_format.environment([_TEMPLATE_DIR])


def _static_url(name: str) -> str:
    return f"{_STATIC_PREFIX}{name}?v={_assets()[1]}"


def negotiate_language(accept_language: str | None) -> str:
    """The page language for an ``Accept-Language`` header (RFC 9110 §12.5.4): the supported
    language the client weights highest, Khmer when it names neither."""
    best, best_q = LANGUAGES[0], 0.0
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        # Earlier entries win ties (the list is in the client's order of preference).
        weight = q - position * 1e-6
        if primary in LANGUAGES and q > 0 and weight > best_q:
            best, best_q = primary, weight
    return best


@router.get(PAGE_PATH, response_class=HTMLResponse, summary="The border verifier page")
def border_page(
    lang: Annotated[str | None, Query(max_length=8)] = None,
    accept_language: Annotated[str | None, Header(max_length=512)] = None,
) -> HTMLResponse:
    chosen = lang if lang in LANGUAGES else negotiate_language(accept_language)
    words = texts(chosen)
    config = {
        "lang": chosen,
        "texts": words,
        "urls": {
            "trustlist": _LISTS[0],
            "revocations": _LISTS[1],
            "verify": _VERIFY_API,
            "sw": _SW_PATH,
            "swScope": _SW_SCOPE,
        },
    }
    integrity = "sha256-" + base64.b64encode(bytes.fromhex(JSQR_SHA256)).decode("ascii")
    html = (
        _templates()
        .get_template("border/verify.html")
        .render(
            lang=chosen,
            t=words,
            languages=_LANGUAGE_NAMES,
            static=_static_url,
            jsqr_version=JSQR_VERSION,
            jsqr_integrity=integrity,
            config=config,
        )
    )
    return HTMLResponse(html, headers={**_PAGE_HEADERS, "Content-Language": chosen})


@router.get(_SW_PATH, summary="The border page's service worker", include_in_schema=False)
def service_worker() -> Response:
    files, version = _assets()
    config = {
        "version": version,
        "pages": [PAGE_PATH, *(f"{PAGE_PATH}?lang={code}" for code in LANGUAGES)],
        "assets": [_static_url(name) for name in _MEDIA_TYPES if name != "jsQR.LICENSE"],
        "lists": list(_LISTS),
    }
    body = f"const CONFIG = {json.dumps(config)};\n".encode() + files["sw.js"]
    headers = {
        "Service-Worker-Allowed": _SW_SCOPE,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get(f"{_STATIC_PREFIX}{{name}}", summary="The border page's files", include_in_schema=False)
def static_file(
    name: str,
    v: Annotated[str | None, Query(max_length=32)] = None,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise NotFound("the border page has no such file")
    files, version = _assets()
    data = files[name]
    etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
    cache = "public, max-age=31536000, immutable" if v == version else "no-cache"
    headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)
