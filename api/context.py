"""The composition root: builds every collaborator once from the settings.

Both the HTTP app factory (``api.app``) and the CLI (``api.cli``) call :func:`build_context`;
nothing else creates engines, key backends or ledgers (STYLE.md: no module-level globals).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.cache import Cache, InMemoryCache, RedisCache
from core.clock import Clock, SystemClock
from core.db import connect_check, make_engine, make_session_factory
from core.errors import InfrastructureError
from core.notify import Notifier, make_notifier
from core.settings import Settings

if TYPE_CHECKING:
    from ca.service import CAService
    from core.audit import AuditLedger
    from hsm_adapters.base import KeyBackend
    from idp.accounts import AccountService
    from idp.service import ProviderCore
    from registry.ports import PopulationRegister
    from registry.service import EmbeddedRegister
    from signing.service import SigningService
    from vaccine_cert.service import HealthService

__all__ = ["AUDIT_KEY_LABEL", "LOG_KEY_LABEL", "AppContext", "build_context"]

log = logging.getLogger(__name__)


class KeyPurposeMismatch(InfrastructureError):
    """A key the platform needs exists under its label but is of the wrong kind."""

    code = "key_purpose_mismatch"


#: The key-backend label of the audit ledger's checkpoint key.
AUDIT_KEY_LABEL = "natid-audit-ledger"
#: The key-backend label of the transparency log's tree-head key.
LOG_KEY_LABEL = "natid-transparency-log"


@dataclass
class AppContext:
    """Everything a request handler or a command needs, built once."""

    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    cache: Cache
    keys: KeyBackend
    ledger: AuditLedger
    register: EmbeddedRegister
    _closed: bool = field(default=False, repr=False)
    _ca: CAService | None = field(default=None, repr=False)
    _health: HealthService | None = field(default=None, repr=False)
    _signing: SigningService | None = field(default=None, repr=False)
    _idp_core: ProviderCore | None = field(default=None, repr=False)
    _idp_accounts: AccountService | None = field(default=None, repr=False)
    _notifier: Notifier | None = field(default=None, repr=False)
    _register_port: PopulationRegister | None = field(default=None, repr=False)

    def ca(self) -> CAService:
        """The certificate authority's service, built on first use.

        The transparency log signs tree heads with ``natid-transparency-log`` (ECDSA P-256),
        generated in the key backend the first time it is needed.
        """
        if self._ca is None:
            from ca.crl import CrlSchedule
            from ca.service import CAService
            from ca.transparency import TransparencyLog
            from ca.urls import PkiUrls

            log = TransparencyLog(
                self.sessions,
                clock=self.clock,
                signing_key=_load_or_generate_ec(self.keys, LOG_KEY_LABEL),
                key_label=LOG_KEY_LABEL,
            )
            self._ca = CAService(
                self.sessions,
                keys=self.keys,
                register=self.register_port(),
                ledger=self.ledger,
                log=log,
                clock=self.clock,
                urls=PkiUrls(self.settings.public_base_url),
                policy_arc=self.settings.certificate_policy_arc,
                crl_schedule=CrlSchedule(
                    full_min_interval=dt.timedelta(
                        seconds=self.settings.crl_full_min_interval_seconds
                    )
                ),
                org_name=self.settings.ca_organization,
            )
        return self._ca

    def health(self) -> HealthService:
        """The health-credential service (issuing, trust and revocation lists), built once."""
        if self._health is None:
            from vaccine_cert.service import HealthService

            self._health = HealthService(
                self.sessions,
                ca=self.ca(),
                register=self.register,
                keys=self.keys,
                ledger=self.ledger,
                clock=self.clock,
                entity_id=self.settings.health_entity_id,
                issuer_name=self.settings.health_issuer_name,
            )
        return self._health

    def signing(self) -> SigningService:
        """PDF signing, sealing and validation over the CA's keys, TSA, OCSP and CRLs."""
        if self._signing is None:
            from signing.service import SigningService

            self._signing = SigningService(
                self.sessions,
                ca=self.ca(),
                keys=self.keys,
                ledger=self.ledger,
                clock=self.clock,
                register=self.register,
                public_base_url=self.settings.public_base_url,
                cache=self.cache,
                font_path=self.settings.khmer_font,
            )
        return self._signing

    def idp_core(self) -> ProviderCore:
        """The OpenID provider's protocol core: clients, signing keys, codes, tokens."""
        if self._idp_core is None:
            from idp.service import build_provider_core

            self._idp_core = build_provider_core(
                self.sessions,
                cache=self.cache,
                keys=self.keys,
                ledger=self.ledger,
                clock=self.clock,
                issuer=self.settings.public_base_url,
            )
        return self._idp_core

    def idp_accounts(self) -> AccountService:
        """Accounts, passwords, second factors and the login throttle of the OpenID provider.

        TOTP secrets are sealed and the throttle keyed with ``NATID_IDP_SECRET_KEY``, or the
        soft key-store passphrase when it is unset (production on pkcs11 requires the setting).
        """
        if self._idp_accounts is None:
            from idp.accounts import AccountService
            from idp.passwords import Passwords
            from idp.throttle import LoginThrottle
            from idp.totp import SecretBox, TotpAuthenticators, derive_key

            configured = self.settings.idp_secret_key or self.settings.soft_key_passphrase
            secret = configured.get_secret_value().encode()
            self._idp_accounts = AccountService(
                self.sessions,
                register=self.register_port(),
                ledger=self.ledger,
                clock=self.clock,
                passwords=Passwords(),
                throttle=LoginThrottle(
                    self.cache, clock=self.clock, key=derive_key(secret, "throttle")
                ),
                totp=TotpAuthenticators(
                    self.sessions, box=SecretBox.derive(secret), ledger=self.ledger
                ),
            )
        return self._idp_accounts

    def notifier(self) -> Notifier:
        """How NatID reaches people (SMS, e-mail); the development outbox by default."""
        if self._notifier is None:
            self._notifier = make_notifier(self.settings)
        return self._notifier

    def register_port(self) -> PopulationRegister:
        """The register's read side for the CA, the IdP and KYC (``NATID_REGISTER``): the
        embedded register itself by default, or the X-Road adapter (api/register_port.py)."""
        if self._register_port is None:
            from api.register_port import build_register_port

            self._register_port = build_register_port(
                self.settings, embedded=self.register, clock=self.clock
            )
        return self._register_port

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        port = self._register_port
        if port is not None and port is not self.register:
            close = getattr(port, "close", None)
            if callable(close):
                close()
        self.ledger.flush_soon()
        self.keys.close()
        self.engine.dispose()


def _load_or_generate_ec(keys: KeyBackend, label: str) -> ec.EllipticCurvePrivateKey:
    """The EC key under ``label``, made (P-256) on first use; safe against a racing process."""
    from hsm_adapters import KeyAlgorithm, KeyExists, KeyNotFound

    try:
        key = keys.load(label)
    except KeyNotFound:
        try:
            key = keys.generate(label, KeyAlgorithm.EC_P256)
        except KeyExists:
            key = keys.load(label)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyPurposeMismatch(f"the key {label} must be an EC key, found {type(key).__name__}")
    return key


def _settle_public_url(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    ledger: AuditLedger,
    clock: Clock,
    check: bool,
    default: str | None,
) -> Settings:
    """``settings`` with the public base URL this process must use (see :func:`build_context`)."""
    from core.installation import recorded_public_url, resolve_public_url

    recorded = recorded_public_url(sessions)
    if recorded is None:
        recorded = _record_hierarchy_url(sessions, ledger=ledger, clock=clock)
    explicit = "public_base_url" in settings.model_fields_set
    if recorded is None:
        url = settings.public_base_url if explicit or default is None else default
    elif explicit and not check:
        url = settings.public_base_url
    else:
        url = resolve_public_url(settings.public_base_url, explicit=explicit, recorded=recorded)
    if url == settings.public_base_url:
        return settings
    return settings.model_copy(update={"public_base_url": url})


def _record_hierarchy_url(
    sessions: sessionmaker[Session], *, ledger: AuditLedger, clock: Clock
) -> str | None:
    """For a CA hierarchy stored before the public base URL was recorded: record the URL its
    issuing CAs' certificates name (once, audited), and return it; ``None`` without one."""
    from sqlalchemy.exc import IntegrityError

    from ca.store import CertificateStore
    from ca.urls import base_url_named_by
    from core.db import transaction
    from core.installation import PUBLIC_URL_RECORDED, record_public_url, recorded_public_url

    named = (
        base_url_named_by(a.certificate, a.parent)
        for a in CertificateStore(sessions).authorities()
        if a.parent is not None
    )
    url = next((base for base in named if base is not None), None)
    if url is None:
        return None
    try:
        with transaction(sessions) as session:
            if record_public_url(session, url, at=clock.now()):
                ledger.append(
                    PUBLIC_URL_RECORDED,
                    actor="natid-upgrade",
                    data={"url": url, "source": "the issuing CA certificates"},
                    session=session,
                )
                log.info("recorded the public base URL of the CA hierarchy", extra={"url": url})
    except IntegrityError:
        pass  # another process recorded it first (PostgreSQL; SQLite serialises writers)
    return recorded_public_url(sessions)


def _ensure_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    create_audit_key: bool = True,
    check_public_url: bool = True,
    default_public_url: str | None = None,
) -> AppContext:
    """Build the collaborators, migrating the database first unless told not to.

    Migrating connects first and raises :class:`~core.errors.DatabaseUnreachable` when that
    fails; without ``migrate`` (the server's workers) nothing connects until first used.

    With ``migrate``, the context's ``settings.public_base_url`` is the URL this installation
    recorded (core/installation.py) unless ``NATID_PUBLIC_BASE_URL`` is set; set to another
    URL, :class:`~core.installation.PublicUrlMismatch` is raised, unless ``check_public_url``
    is false (``natid ca set-public-url``, which is how it changes). ``default_public_url``
    replaces the settings' default before a URL is recorded (``natid serve``: its own port).
    Without ``migrate`` the settings are used as they are: ``natid serve`` hands its workers
    the URL it settled on.
    """
    from core.audit import AuditLedger
    from hsm_adapters import KeyAlgorithm, KeyNotFound, make_key_backend
    from migrations import upgrade
    from registry.service import EmbeddedRegister

    _ensure_data_dir(settings)
    clock = clock or SystemClock()
    engine = make_engine(settings.resolved_database_url)
    if migrate:
        try:
            # The first connection: a database that cannot be reached is one clear error
            # (DatabaseUnreachable), not the migration's traceback.
            connect_check(engine)
            upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
    sessions = make_session_factory(engine)
    cache: Cache = (
        RedisCache.from_url(settings.redis_url)
        if settings.redis_url
        else InMemoryCache(clock=clock)
    )
    keys = make_key_backend(settings)
    try:
        audit_key = keys.load(AUDIT_KEY_LABEL)
    except KeyNotFound:
        if not create_audit_key:
            raise
        log.info("creating the audit ledger's checkpoint key", extra={"label": AUDIT_KEY_LABEL})
        audit_key = keys.generate(AUDIT_KEY_LABEL, KeyAlgorithm.EC_P256)
    ledger = AuditLedger(
        sessions,
        clock=clock,
        signing_key=audit_key,
        key_label=AUDIT_KEY_LABEL,
        checkpoint_interval=settings.audit_checkpoint_interval,
    )
    if migrate:
        try:
            settings = _settle_public_url(
                settings,
                sessions,
                ledger=ledger,
                clock=clock,
                check=check_public_url,
                default=default_public_url,
            )
        except BaseException:
            keys.close()
            engine.dispose()
            raise
    register = EmbeddedRegister(sessions, clock=clock, ledger=ledger)
    return AppContext(
        settings=settings,
        clock=clock,
        engine=engine,
        sessions=sessions,
        cache=cache,
        keys=keys,
        ledger=ledger,
        register=register,
    )
