"""What ``natid init`` does for the demo site: register its client and open demo accounts.

Development only (``NATID_DEMO_SITE``, off in production mode). Both steps are idempotent, and a
second run prints the same credentials for as long as they still work:

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
* A later run checks each kept credential against the account first: the password against
  its Argon2id hash (:meth:`idp.accounts.AccountService.check_password`), the TOTP secret
  against the active authenticator (:meth:`idp.totp.TotpAuthenticators.check_secret`). One the
  holder has replaced (``natid idp user set-password``, the account pages, recovery, a new
  authenticator app) is shown as changed, never printed, and dropped from ``accounts.json``
  (``null``): a former credential left on disk helps nobody but an intruder. An account that
  is disabled (for good: its secrets are dropped as well), locked or gone shows no
  credentials. Accounts are opened anew only when none of the kept ones exists (a new
  database), or after ``accounts.json`` is deleted.
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
from idp.account_models import AccountStatus
from idp.account_records import Account
from idp.errors import AuthenticatorError, ClientNotFound
from idp.totp import STEP_SECONDS
from registry.errors import SubjectNotFound
from registry.records import AssuranceLevel, Person, PersonStatus

__all__ = ["DemoAccount", "DemoSetup", "demo_block", "ensure_demo_site", "load_demo_client"]

ACTOR = "natid-init"
_CHANGED = "(changed since init; not shown)"
CLIENT_NAME = "Business registration portal (demo)"
_WORDS = (
    "lotus", "mango", "kampot", "pepper", "mekong", "angkor", "monsoon", "lantern", "jasmine",
    "durian", "tonle", "sugar", "palm", "river", "silk", "temple", "rice", "orchid", "basil",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A demo account as ``natid init`` shows it.

    ``password`` and ``totp_secret`` are the ones kept at init, and only while they still work
    (None once replaced); ``kept_totp`` says whether a TOTP secret was kept at all, and
    ``totp_active`` whether the account has an active authenticator now. ``unusable`` says why
    the account cannot log in (then no credential is shown); ``national_id`` is None for a
    person the register no longer knows.
    """

    person_id: str
    national_id: str | None = field(repr=False)
    name_latin: str
    password: str | None = field(repr=False)
    totp_secret: str | None = field(repr=False)
    otpauth_uri: str | None = field(repr=False)
    kept_totp: bool = False
    totp_active: bool = False
    unusable: str | None = None


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
    config = _stored_client(ctx)
    return config if config is not None and config.issuer == ctx.settings.base_url else None


def _stored_client(ctx: AppContext) -> DemoClientConfig | None:
    """The demo client's configuration as ``natid init`` kept it, whatever its base URL."""
    data = _read(_demo_dir(ctx) / "client.json")
    try:
        return DemoClientConfig.from_json(data) if isinstance(data, dict) else None
    except ValueError:
        return None


def _ensure_client(ctx: AppContext) -> tuple[DemoClientConfig, bool]:
    base = ctx.settings.base_url
    redirect_uri, logged_out = f"{base}/demo/callback", f"{base}/demo/logged-out"
    clients = ctx.idp_core().clients
    stored = _stored_client(ctx)
    registered = None
    if stored is not None:
        try:
            registered = clients.get(stored.client_id, include_disabled=True)
        except ClientNotFound:
            registered = None
    if stored is not None and registered is not None:
        if stored.issuer == base and stored.redirect_uri in registered.redirect_uris:
            return stored, False
        # The public base URL changed: the same client follows it. A second client could not
        # be registered under the same name (idp.clients.ClientNameTaken), and need not be.
        client_id, secret = stored.client_id, stored.client_secret
        clients.update(
            client_id, redirect_uris=[redirect_uri], post_logout_redirect_uris=[logged_out],
            actor=ACTOR,
        )  # fmt: skip
        created = False
    else:
        namesake = next((c for c in clients.list() if c.name == CLIENT_NAME), None)
        if namesake is not None:
            # Registered before, but its settings file is gone (the data directory's demo/
            # folder deleted): take the client back with a new secret rather than fail.
            clients.update(
                namesake.client_id, redirect_uris=[redirect_uri],
                post_logout_redirect_uris=[logged_out], actor=ACTOR,
            )  # fmt: skip
            added = clients.rotate_secret(namesake.client_id, actor=ACTOR)
        else:
            added = clients.add(
                name=CLIENT_NAME,
                redirect_uris=[redirect_uri],
                auth_method="client_secret_basic",
                post_logout_redirect_uris=[logged_out],
                actor=ACTOR,
            )
        assert added.client_secret is not None  # client_secret_basic always has one
        client_id, secret, created = added.client.client_id, added.client_secret, True
    config = DemoClientConfig(
        issuer=base,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=redirect_uri,
        post_logout_redirect_uri=logged_out,
        cookie_key=stored.cookie_key
        if stored is not None and not created
        else secrets.token_hex(32),
    )
    _write_private(_demo_dir(ctx) / "client.json", config.as_json())
    return config, created


def _new_password() -> str:
    words = [secrets.choice(_WORDS) for _ in range(3)]
    return "-".join(words) + f"-{secrets.randbelow(9000) + 1000}"


def _candidates(ctx: AppContext) -> list[str]:
    """Active citizens (not civil servants) proven at ``substantial``, in register order,
    leaving out anyone whose account is locked or disabled (it could not log in)."""
    accounts = ctx.idp_accounts()
    found = []
    for person in ctx.register.list_persons(limit=None):
        if person.status is not PersonStatus.ACTIVE or ctx.register.servants_of_person(person.id):
            continue
        if ctx.register.proofing_level(person.id) is not AssuranceLevel.SUBSTANTIAL:
            continue
        account = accounts.find_by_person(person.id)
        if account is None or account.status in {AccountStatus.PENDING, AccountStatus.ACTIVE}:
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


def _person(ctx: AppContext, person_id: str) -> Person | None:
    try:
        return ctx.register.get_person(person_id)
    except SubjectNotFound:
        return None


def _account(ctx: AppContext, person: Person | None) -> Account | None:
    return ctx.idp_accounts().find_by_person(person.id) if person is not None else None


def _kept(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return value if isinstance(value, str) else None


def _unusable(person: Person | None, account: Account | None) -> str | None:
    """Why the demo account cannot log in now, or None."""
    if person is None or account is None:
        return "the account no longer exists"
    if account.status is not AccountStatus.ACTIVE:
        return f"the account is {account.status.value}"
    if person.status is not PersonStatus.ACTIVE:
        return "the person is no longer active in the register"
    return None


def _still_working(
    ctx: AppContext, entry: dict[str, Any], account: Account | None
) -> tuple[str | None, str | None]:
    """The kept password and TOTP secret, each None unless it is still the account's own."""
    password, secret = _kept(entry, "password"), _kept(entry, "totp_secret")
    if account is None or account.status is AccountStatus.DISABLED:
        return None, None  # gone, or closed for good: nothing kept works again
    accounts = ctx.idp_accounts()
    if password is not None:
        try:
            accounts.check_password(account.id, password)
        except AuthenticatorError:
            password = None
    if secret is not None:
        try:
            accounts.totp.check_secret(account.id, secret)
        except AuthenticatorError:
            secret = None
    return password, secret


def _keep_working(
    ctx: AppContext, entry: dict[str, Any], account: Account | None
) -> dict[str, Any]:
    """``entry`` with each kept credential that stopped working set to null."""
    password, secret = _still_working(ctx, entry, account)
    kept = {**entry, "password": password}
    if "totp_secret" in entry:
        kept["totp_secret"] = secret
        kept["otpauth_uri"] = _kept(entry, "otpauth_uri") if secret is not None else None
    return kept


def _demo_account(
    ctx: AppContext, entry: dict[str, Any], person: Person | None, account: Account | None
) -> DemoAccount:
    person_id: str = entry["person_id"]
    secret = _kept(entry, "totp_secret")
    return DemoAccount(
        person_id=person_id,
        national_id=person.national_id if person else None,
        name_latin=person.name_latin if person else f"register person {person_id}",
        password=_kept(entry, "password"),
        totp_secret=secret,
        otpauth_uri=_kept(entry, "otpauth_uri") if secret is not None else None,
        kept_totp="totp_secret" in entry,
        totp_active=account is not None and ctx.idp_accounts().totp.status(account.id).enrolled,
        unusable=_unusable(person, account),
    )


def _ensure_accounts(ctx: AppContext) -> tuple[DemoAccount, ...]:
    path = _demo_dir(ctx) / "accounts.json"
    stored = _read(path)
    entries: list[dict[str, Any]] = [
        e
        for e in (stored if isinstance(stored, list) else [])
        if isinstance(e, dict) and isinstance(e.get("person_id"), str)
    ]
    people = [_person(ctx, e["person_id"]) for e in entries]
    found = [_account(ctx, person) for person in people]
    if not any(found):
        # The first run, or a new database under the same data directory.
        entries = [
            _open_account(ctx, person_id, totp=index == 1)
            for index, person_id in enumerate(_candidates(ctx))
        ]
        if entries:
            _write_private(path, entries)
        people = [_person(ctx, e["person_id"]) for e in entries]
        found = [_account(ctx, person) for person in people]
    else:
        # A later run: keep only what still works, so a replaced password or secret is
        # neither printed nor left on disk.
        checked = [
            _keep_working(ctx, e, account) for e, account in zip(entries, found, strict=True)
        ]
        if checked != entries:
            _write_private(path, checked)
        entries = checked
    return tuple(
        _demo_account(ctx, entry, person, account)
        for entry, person, account in zip(entries, people, found, strict=True)
    )


def ensure_demo_site(ctx: AppContext) -> DemoSetup | None:
    """Register the demo client and open the demo accounts (None when the site is off)."""
    if not ctx.settings.demo_site_enabled:
        return None
    client, created = _ensure_client(ctx)
    return DemoSetup(client=client, client_created=created, accounts=_ensure_accounts(ctx))


def demo_block(setup: DemoSetup) -> str:
    """The "Demo accounts" text ``natid init`` prints (development credentials only).

    Only credentials that still work are printed: one replaced since init reads "changed
    since init", and an account that cannot log in shows none.
    """
    lines = [
        "",
        "Demo site: " + setup.client.issuer + "/demo/  (client " + setup.client.client_id + ")",
        "Demo accounts (development only; log in with the ID card number and the password):",
    ]
    if not setup.accounts:
        lines.append("  none: the demo register is not loaded (natid init without --no-demo)")
    withheld = False
    for account in setup.accounts:
        lines.append(f"  {account.name_latin}")
        if account.national_id is not None:
            lines.append(f"    ID card number: {account.national_id}")
        if account.unusable is not None:
            lines.append(f"    ({account.unusable}: it cannot log in; no credentials shown)")
            withheld = True
            continue
        lines.append(f"    password:       {account.password or _CHANGED}")
        if account.totp_secret:
            lines.append(f"    TOTP secret:    {account.totp_secret}")
            lines.append(f"    otpauth URI:    {account.otpauth_uri}")
        elif account.kept_totp:
            lines.append(
                f"    TOTP secret:    {_CHANGED if account.totp_active else '(removed since init)'}"
            )
        withheld = (
            withheld
            or account.password is None
            or (account.kept_totp and account.totp_secret is None)
        )
        if account.totp_active:
            lines.append("    (reaches level substantial with a TOTP code)")
        else:
            lines.append("    (password only: level low)")
    if withheld:
        lines.append(
            "  (For new demo credentials: delete demo/accounts.json in the data directory and"
        )
        lines.append("  run natid init again; that resets the demo accounts' passwords and TOTP.)")
    return "\n".join(lines)
