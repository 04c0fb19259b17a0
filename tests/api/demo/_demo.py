"""Helpers for the demo site's tests: NatID on a real port, and a browser without JavaScript.

The demo portal calls the provider over HTTP at the public base URL, so the app must listen
there: :func:`serve_natid` picks a free port, builds the context with that base URL (SQLite or
PostgreSQL, a fixed clock), registers the demo client as ``natid init`` does and runs uvicorn
in a thread. :class:`FormBrowser` is an httpx client with a cookie jar that follows redirects
one by one and submits forms by their hidden fields, the way a browser without scripts does.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from api.app import create_app
from api.context import AppContext
from api.demo_setup import DemoSetup, ensure_demo_site
from core.clock import FixedClock
from tests._serving import free_port, serve_app
from tests.api.idp_pages.conftest import make_ctx

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass
class Natid:
    base: str
    ctx: AppContext
    clock: FixedClock
    demo: DemoSetup


@contextlib.contextmanager
def serve_natid(
    tmp_path: Path, db_url: str, clock: FixedClock, **settings: object
) -> Iterator[Natid]:
    """NatID (demo site registered) on a free port whose URL is the public base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ctx = make_ctx(tmp_path, db_url, clock, public_base_url=base, **settings)
    try:
        demo = ensure_demo_site(ctx)
        assert demo is not None
        with serve_app(create_app(ctx), port):
            yield Natid(base, ctx, clock, demo)
    finally:
        ctx.close()


def hidden_fields(html: str) -> dict[str, str]:
    return dict(_HIDDEN.findall(html))


class FormBrowser:
    """A browser without JavaScript: a cookie jar, manual redirects, hidden form fields."""

    def __init__(self, base: str, *, lang: str = "en") -> None:
        self.base = base
        self.http = httpx.Client(
            base_url=base, follow_redirects=False, timeout=30, headers={"Accept-Language": lang}
        )

    def close(self) -> None:
        self.http.close()

    def get(self, url: str) -> httpx.Response:
        return self.http.get(urljoin(self.base + "/", url))

    def follow(self, response: httpx.Response, *, until: str | None = None) -> httpx.Response:
        """Follow redirects (GET) until a page, or until a Location under ``until``."""
        for _ in range(20):
            if response.status_code not in {302, 303, 307}:
                return response
            location = urljoin(str(response.url), response.headers["location"])
            if until is not None and urlsplit(location).path.startswith(until):
                return response
            response = self.http.get(location)
        raise AssertionError("too many redirects")

    def submit(self, page: httpx.Response, action: str, **fields: str) -> httpx.Response:
        """POST the page's hidden fields plus ``fields`` to ``action``."""
        data = hidden_fields(page.text)
        data.update(fields)
        return self.http.post(urljoin(str(page.url), action), data=data)

    def login(
        self, start: httpx.Response, national_id: str, password: str, code: str | None
    ) -> httpx.Response:
        """From a redirect to the provider: log in, consent if asked; returns the page the
        demo site shows afterwards (redirects followed)."""
        page = self.follow(start)
        assert urlsplit(str(page.url)).path == "/login", page.text[:300]
        after = self.submit(page, "/login", identifier=national_id, password=password)
        if code is not None:
            second = self.follow(after, until="/authorize")
            if second.status_code == 200 and 'name="code"' in second.text:
                after = self.submit(second, "/login/second-factor", code=code)
        page = self.follow(after)
        if urlsplit(str(page.url)).path == "/consent":
            page = self.follow(self.submit(page, "/consent", decision="allow", scope="profile"))
        return page
