"""A scripted browser for the Authlib suite: httpx with a cookie jar and manual redirects.

The Python twin of ``tests/node/rp/browser.mjs``: from an authorization (or end-session) URL it
follows redirects, answers the login page (``identifier``, ``password``), the second factor
(``code``: the TOTP of the step after the current one, which the verifier accepts and which is
newer than the enrolment's), the consent page (``decision=allow`` with every offered scope and
claim ticked) and the logout confirmation (``decision=logout``), keeping ``csrf_token``,
``pending`` and the other hidden fields, and stops at the first redirect to the relying party.
No JavaScript runs: the pages must work without it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pyotp

MAX_STEPS = 25
REDIRECTS = {301, 302, 303, 307, 308}


@dataclass
class Control:
    tag: str
    type: str
    name: str | None
    value: str
    checked: bool
    disabled: bool


@dataclass
class Form:
    action: str
    method: str
    controls: list[Control] = field(default_factory=list)

    def has(self, name: str, value: str | None = None) -> bool:
        return any(c.name == name and (value is None or c.value == value) for c in self.controls)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: Control | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is not None and tag in {"input", "button", "textarea"}:
            default = "submit" if tag == "button" else "text"
            control = Control(
                tag,
                a.get("type", default).lower(),
                a.get("name"),
                a.get("value", ""),
                "checked" in a,
                "disabled" in a,
            )
            self._form.controls.append(control)
            if tag == "textarea":
                self._textarea = control

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _summary(html: str) -> str:
    found = re.findall(r"<(?:title|h1)[^>]*>(.*?)</", html, re.S | re.I)
    return " | ".join(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", f)).strip() for f in found)[:300]


class Browser:
    """One citizen's browser: the IdP's cookies persist across flows (single sign-on)."""

    def __init__(self, *, identifier: str, password: str, totp_secret: str) -> None:
        self.identifier = identifier
        self.password = password
        self.totp_secret = totp_secret
        self.http = httpx.Client(
            follow_redirects=False,
            timeout=30,
            headers={"Accept-Language": "en", "Accept": "text/html"},
        )
        self.pages: list[str] = []

    def close(self) -> None:
        self.http.close()

    def run(self, url: str, stop_prefix: str) -> str:
        """Follow the front channel from ``url``; return the first URL under ``stop_prefix``."""
        method = "GET"
        data: dict[str, list[str]] | None = None
        for _ in range(MAX_STEPS):
            if url.startswith(stop_prefix):
                return url
            response = self.http.request(method, url, data=data)
            if response.status_code in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise AssertionError(f"{response.status_code} without Location from {url}")
                if response.status_code in {301, 302, 303}:
                    method, data = "GET", None
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                raise AssertionError(
                    f"{method} {urlsplit(url).path} answered {response.status_code}: "
                    f"{_summary(response.text) or response.text[:300]}"
                )
            url, pairs = self._fill(url, response.text)
            data = {}
            for key, value in pairs:
                data.setdefault(key, []).append(value)
            method = "POST"
        raise AssertionError(f"no redirect to {stop_prefix} after {MAX_STEPS} steps")

    def _fill(self, url: str, html: str) -> tuple[str, list[tuple[str, str]]]:
        path = urlsplit(url).path
        self.pages.append(path)
        forms = [f for f in parse_forms(html) if f.method == "post"]
        values: dict[str, str]
        chosen: Form | None
        if chosen := next((f for f in forms if f.has("password")), None):
            values = {"identifier": self.identifier, "password": self.password, "lang": "en"}
        elif chosen := next((f for f in forms if f.has("code")), None):
            values = {"code": pyotp.TOTP(self.totp_secret).at(time.time() + 30)}
        elif chosen := next((f for f in forms if f.has("decision", "allow")), None):
            values = {"decision": "allow"}
        elif chosen := next((f for f in forms if f.has("decision", "logout")), None):
            values = {"decision": "logout"}
        else:
            raise AssertionError(f"{path}: a page this browser cannot answer ({_summary(html)})")
        data: list[tuple[str, str]] = []
        for c in chosen.controls:
            if not c.name or c.disabled or c.name in values:
                continue
            if c.type in {"submit", "button", "image", "reset"}:
                continue
            if c.type in {"checkbox", "radio"}:
                # Consent: every offered scope and claim is allowed, as a citizen who agrees.
                if c.checked or (c.type == "checkbox" and c.name in {"scope", "claim"}):
                    data.append((c.name, c.value or "on"))
                continue
            data.append((c.name, c.value))
        data.extend(values.items())
        return urljoin(url, chosen.action or url), data
