"""What ``natid init`` does for the demo site: register its client and open demo accounts.

Development only (``NATID_DEMO_SITE``, off in production mode). Both steps are idempotent, and a
second run prints the same credentials:

* The demo portal is registered like any other relying party, through the client registry
  (:class:`idp.clients.ClientRegistry`), with ``client_secret_basic``, the redirect URI
  ``{public base URL}/demo/callback`` and the post-logout URI ``.../demo/logged-out``. The
  registry keeps only a digest of the secret, so the site's own copy (what a site operator
  would put in its configuration) lives in ``DATA_DIR/demo/client.json`` (mode 0600). When the
  public base URL changes, a new client is registered for the new URIs.
* Two citizens of the synthetic demo register get accounts: one with a password (logins reach
  ``low``), one with a password and a TOTP authenticator (logins reach ``substantial``, the
  level their remote proofing allows). Their passwords and the TOTP secret are kept in
  ``DATA_DIR/demo/accounts.json`` (0600) so that ``natid init`` can print them again.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp

from api.context import AppContext
from api.demo_rp import DemoClientConfig
from idp.errors import ClientNotFound
from idp.totp import STEP_SECONDS
from registry.records import AssuranceLevel, PersonStatus

__all__ = ["DemoAccount", "DemoSetup", "demo_block", "ensure_demo_site", "load_demo_client"]

ACTOR = "natid-init"
CLIENT_NAME = "Business registration portal (demo)"
_WORDS = (
    "lotus", "mango", "kampot", "pepper", "mekong", "angkor", "monsoon", "lantern", "jasmine",
    "durian", "tonle", "sugar", "palm", "river", "silk", "temple", "rice", "orchid", "basil",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoAccount:
    person_id: str
    national_id: str = field(repr=False)
    name_latin: str
    password: str = field(repr=False)
    totp_secret: str | None = field(repr=False)
    otpauth_uri: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class DemoSetup:
    client: DemoClientConfig
    client_created: bool
    accounts: tuple[DemoAccount, ...]


def _demo_dir(ctx: AppContext) -> Path:
    return ctx.settings.data_dir / "demo"


def _write_private(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=2)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_demo_client(ctx: AppContext) -> DemoClientConfig | None:
    """The demo site's client configuration, if ``natid init`` made one for this base URL."""
    data = _read(_demo_dir(ctx) / "client.json")
    if not isinstance(data, dict):
        return None
    try:
        config = DemoClientConfig.from_json(data)
    except ValueError:
        return None
    return config if config.issuer == ctx.settings.base_url else None


def _ensure_client(ctx: AppContext) -> tuple[DemoClientConfig, bool]:
    base = ctx.settings.base_url
    existing = load_demo_client(ctx)
    clients = ctx.idp_core().clients
    if existing is not None:
        try:
            registered = clients.get(existing.client_id)
        except ClientNotFound:
            registered = None
        if registered is not None and existing.redirect_uri in registered.redirect_uris:
            return existing, False
    added = clients.add(
        name=CLIENT_NAME,
        redirect_uris=[f"{base}/demo/callback"],
        auth_method="client_secret_basic",
        post_logout_redirect_uris=[f"{base}/demo/logged-out"],
        actor=ACTOR,
    )
    assert added.client_secret is not None  # client_secret_basic always has one
    config = DemoClientConfig(
        issuer=base,
        client_id=added.client.client_id,
        client_secret=added.client_secret,
        redirect_uri=f"{base}/demo/callback",
        post_logout_redirect_uri=f"{base}/demo/logged-out",
        cookie_key=secrets.token_hex(32),
    )
    _write_private(_demo_dir(ctx) / "client.json", config.as_json())
    return config, True


def _new_password() -> str:
    words = [secrets.choice(_WORDS) for _ in range(3)]
    return "-".join(words) + f"-{secrets.randbelow(9000) + 1000}"


def _candidates(ctx: AppContext) -> list[str]:
    """Active citizens (not civil servants) proven at ``substantial``, in register order."""
    found = []
    for person in ctx.register.list_persons(limit=None):
        if person.status is not PersonStatus.ACTIVE or ctx.register.servants_of_person(person.id):
            continue
        if ctx.register.proofing_level(person.id) is AssuranceLevel.SUBSTANTIAL:
            found.append(person.id)
            if len(found) == 2:
                break
    return found


def _open_account(ctx: AppContext, person_id: str, *, totp: bool) -> dict[str, Any]:
    accounts = ctx.idp_accounts()
    account, _created = accounts.ensure(person_id, actor=ACTOR)
    password = _new_password()
    accounts.set_password(account.id, password, actor=ACTOR, activate=True)
    entry: dict[str, Any] = {"person_id": person_id, "password": password}
    if totp:
        now = ctx.clock.now()
        started = accounts.totp.begin(account.id, account_name="demo", at=now, actor=ACTOR)
        # Confirm with the previous step's code, so the code an app shows now is still unused.
        earlier = int(now.timestamp()) // STEP_SECONDS - 1
        accounts.totp.confirm(
            account.id,
            started.authenticator_id,
            pyotp.TOTP(started.secret).generate_otp(earlier),
            at=now,
            actor=ACTOR,
        )
        entry["totp_secret"] = started.secret
        entry["otpauth_uri"] = started.uri
    return entry


def _ensure_accounts(ctx: AppContext) -> tuple[DemoAccount, ...]:
    path = _demo_dir(ctx) / "accounts.json"
    stored = _read(path)
    entries: list[dict[str, Any]] = stored if isinstance(stored, list) else []
    usable = [
        e
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("person_id"), str)
        and ctx.idp_accounts().find_by_person(e["person_id"]) is not None
    ]
    if len(usable) != len(entries) or not entries:
        people = [e["person_id"] for e in usable] or _candidates(ctx)
        entries = [
            _open_account(ctx, person_id, totp=index == 1) for index, person_id in enumerate(people)
        ]
        if entries:
            _write_private(path, entries)
    result = []
    for e in entries:
        person = ctx.register.get_person(e["person_id"])
        result.append(
            DemoAccount(
                person_id=person.id,
                national_id=person.national_id,
                name_latin=person.name_latin,
                password=str(e["password"]),
                totp_secret=e.get("totp_secret"),
                otpauth_uri=e.get("otpauth_uri"),
            )
        )
    return tuple(result)


def ensure_demo_site(ctx: AppContext) -> DemoSetup | None:
    """Register the demo client and open the demo accounts (None when the site is off)."""
    if not ctx.settings.demo_site_enabled:
        return None
    client, created = _ensure_client(ctx)
    return DemoSetup(client=client, client_created=created, accounts=_ensure_accounts(ctx))


def demo_block(setup: DemoSetup) -> str:
    """The "Demo accounts" text ``natid init`` prints (development credentials only)."""
    lines = [
        "",
        "Demo site: " + setup.client.issuer + "/demo/  (client " + setup.client.client_id + ")",
        "Demo accounts (development only; log in with the ID card number and the password):",
    ]
    if not setup.accounts:
        lines.append("  none: the demo register is not loaded (natid init without --no-demo)")
    for account in setup.accounts:
        lines.append(f"  {account.name_latin}")
        lines.append(f"    ID card number: {account.national_id}")
        lines.append(f"    password:       {account.password}")
        if account.totp_secret:
            lines.append(f"    TOTP secret:    {account.totp_secret}")
            lines.append(f"    otpauth URI:    {account.otpauth_uri}")
            lines.append("    (reaches level substantial with a TOTP code)")
        else:
            lines.append("    (password only: level low)")
    return "\n".join(lines)
