"""Configuration from the environment (ARCHITECTURE.md, "Configuration").

Every setting is read once, with the ``NATID_`` prefix, by :func:`load_settings` in the app
factory or the CLI, and passed down; nothing reads the environment deep inside domain code.
Secrets are ``SecretStr`` so they never print. In production mode the settings refuse the
development passphrase and, unless explicitly allowed, the soft key backend.

A value that would only fail later (a log level logging does not know, a proxy named by host
name, a URL of the wrong scheme) is refused here, so every command and ``natid serve`` stop at
once with one line instead of a worker's traceback. In production mode a URL that carries
credentials or one-time codes must be https. An ``NATID_*`` variable that names no setting is
ignored by pydantic-settings; :func:`load_settings` warns about it once per process.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import logging
import multiprocessing
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import CoreError

__all__ = [
    "DEV_SOFT_PASSPHRASE",
    "KeyBackendKind",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_trusted_proxies",
    "unknown_environment",
]

log = logging.getLogger(__name__)

#: The development key-store passphrase. Refused in production mode.
DEV_SOFT_PASSPHRASE = "natid-development-only-passphrase"  # noqa: S105 - a documented dev default

#: The levels NATID_LOG_LEVEL may name, in any case: what ``logging`` accepts by name
#: (api/observability.py, configure_logging), WARN, FATAL and NOTSET included.
LOG_LEVELS = frozenset(logging.getLevelNamesMapping())

#: ``NATID_*`` variables that are not settings but are set around NatID on purpose, so no
#: warning names them: the test suite's databases (tests/conftest.py, .ci/run), the benchmarks'
#: (bench/bench_audit.py, bench/bench_ocsp_http.py) and the operator token docs/signing.md
#: passes to curl.
NOT_SETTINGS = frozenset(
    {
        "NATID_TEST_DATABASE_URL",
        "NATID_TEST_REDIS_URL",
        "NATID_BENCH_PG_URL",
        "NATID_BENCH_REDIS_URL",
        "NATID_OP_TOKEN",
    }
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def parse_trusted_proxies(value: str) -> tuple[IPNetwork, ...]:
    """The networks of ``NATID_TRUSTED_PROXIES`` (comma-separated addresses or CIDR networks);
    an address is its own /32 or /128 network. An empty value trusts no proxy.

    Raises ``ValueError`` naming the first entry that is not an address or network. Names are
    refused rather than looked up: the check runs on every certificate login, and a name that
    resolved differently later would silently trust another machine. So is ``*``, which
    uvicorn would take as "every address": certificate login would then believe a forwarded
    client certificate, public by nature, from anyone. Cached: parsed once per process.
    """
    networks: list[IPNetwork] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        shown = repr(entry if len(entry) <= 64 else entry[:61] + "...")
        if entry == "*":
            raise ValueError(
                "NATID_TRUSTED_PROXIES: '*' (every address) is refused: certificate login would "
                "believe a forwarded client certificate from anyone; list the proxies' addresses "
                "or networks"
            )
        try:
            networks.append(ipaddress.ip_network(entry))
            continue
        except ValueError:
            pass
        try:
            loose = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            hint = (
                ""
                if "/" in entry
                else " (names are not looked up: give the proxy's address, e.g. 10.0.0.5, or"
                " network, e.g. 10.0.0.0/24)"
            )
            raise ValueError(
                f"NATID_TRUSTED_PROXIES: {shown} is not an IP address or network{hint}"
            ) from None
        raise ValueError(
            f"NATID_TRUSTED_PROXIES: {shown} has host bits set; write the network"
            f" {loose.with_prefixlen} or the address {entry.split('/', 1)[0]}"
        )
    return tuple(networks)


def _is_url(url: str, schemes: frozenset[str], *, host: bool = True) -> bool:
    """Whether ``url`` has one of ``schemes`` (and a host, if asked)."""
    parts = urlsplit(url)
    return parts.scheme in schemes and (not host or bool(parts.hostname))


_HTTP = frozenset({"http", "https"})
_REDIS = frozenset({"redis", "rediss", "unix"})


class SettingsError(CoreError):
    """The configuration is invalid or unsafe for the selected mode."""

    code = "settings_error"


class KeyBackendKind(StrEnum):
    SOFT = "soft"
    PKCS11 = "pkcs11"


class Settings(BaseSettings):
    """NatID's settings. Each field is ``NATID_<FIELD NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="NATID_", extra="forbid", frozen=True, validate_default=True
    )

    data_dir: Path = Field(
        default=Path("var"), description="Where the database and key store live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite at DATA_DIR/natid.db (WAL mode).",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for shared short-lived state; default is in-process."
    )
    public_base_url: str = Field(
        default="http://localhost:8000",
        description="The URL certificates and discovery documents name. Recorded in the"
        " database with the CA hierarchy and used from then on; when set, it must be the"
        " recorded one (core/installation.py, `natid ca set-public-url`).",
    )
    production: bool = Field(default=False, description="Refuse development secrets and keys.")
    allow_soft_keys_in_production: bool = Field(
        default=False, description="Let production mode run on the soft key backend anyway."
    )
    key_backend: KeyBackendKind = KeyBackendKind.SOFT
    soft_key_dir: Path | None = Field(
        default=None, description="Soft key store directory; default DATA_DIR/keys."
    )
    soft_key_passphrase: SecretStr = SecretStr(DEV_SOFT_PASSPHRASE)
    pkcs11_module: Path | None = None
    pkcs11_token_label: str | None = None
    pkcs11_pin: SecretStr | None = None
    pkcs11_pool_size: int = Field(default=4, ge=1, le=64)
    certificate_policy_arc: str = Field(
        default="2.999.1",
        pattern=r"^[0-2](\.(0|[1-9][0-9]{0,8})){1,20}$",
        description="OID arc of the certificate policies; each profile adds its own number.",
    )
    ca_organization: str = Field(
        default="NatID Development",
        min_length=1,
        max_length=64,
        description="organizationName in the CA, OCSP and TSA certificates made by natid init.",
    )
    crl_full_min_interval_seconds: int = Field(
        default=0,
        ge=0,
        le=86400,
        description="Shortest time between two full CRLs made because of revocations (0: a new"
        " full CRL after every change; the delta CRL is always renewed at once).",
    )
    khmer_font: Path | None = Field(
        default=None,
        description="Khmer TrueType font for signature stamps; default KhmerOS from fonts-khmeros.",
    )
    idp_secret_key: SecretStr | None = Field(
        default=None,
        description="Secret (32+ characters) the IdP seals TOTP secrets and keys its login"
        " throttle with; default the soft key-store passphrase. Required in production on pkcs11.",
    )
    client_cert_header: str = Field(
        default="X-Client-Cert",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="Header in which the TLS proxy forwards the client certificate for"
        " certificate login (URL-encoded PEM, as nginx's $ssl_client_escaped_cert).",
    )
    trusted_proxies: str = Field(
        default="127.0.0.1/32,::1/128",
        description="Comma-separated IP addresses or CIDR networks (not names, not `*`) of the"
        " proxies in front: their X-Forwarded-For / X-Forwarded-Proto and client-certificate"
        " header are believed. Empty: no proxy is.",
    )
    health_entity_id: str | None = Field(
        default=None,
        description="Register id of the health authority whose signers sign health credentials;"
        " default the demo Ministry of Health.",
    )
    health_issuer_name: str = Field(
        default="Ministry of Health, Cambodia",
        min_length=1,
        max_length=80,
        description="The `is` field of health credentials.",
    )
    seal_batch_max_files: int = Field(
        default=100, ge=1, le=10_000, description="Most PDFs in one e-seal batch upload."
    )
    seal_batch_max_file_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest PDF of an e-seal batch upload."
    )
    seal_batch_max_total_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, description="Largest e-seal batch upload in all."
    )
    audit_checkpoint_interval: int = Field(
        default=100, ge=1, description="Sign a ledger checkpoint every N entries."
    )
    upkeep_interval_seconds: int = Field(
        default=3600,
        ge=0,
        le=86400,
        description="How often each `natid serve` worker renews OCSP responder certificates that"
        " are due, publishes CRLs that are due and warns about what `natid ca expiry` flags (0:"
        " never; responders are still renewed at start-up and CRLs made when fetched).",
    )
    activation_code_days: int = Field(
        default=14, ge=1, le=90, description="Days an enrolment's activation code stays valid."
    )
    notifier: str = Field(
        default="outbox",
        pattern=r"^(outbox|gateway)$",
        description="How people are notified: `outbox` (JSON files under DATA_DIR/outbox,"
        " development) or `gateway` (the SMS gateway and/or the mail server below).",
    )
    sms_gateway_url: str | None = Field(
        default=None, description="SMS gateway endpoint (POST JSON {to, text, reference})."
    )
    sms_gateway_token: SecretStr | None = Field(
        default=None, description="Bearer token for the SMS gateway."
    )
    smtp_host: str | None = Field(default=None, description="Mail server for e-mail notices.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(default=None, description="From address of e-mail notices.")
    smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS (RFC 3207).")
    demo_site: bool | None = Field(
        default=None,
        description="Serve the demo relying party at /demo/ and let natid init register it and"
        " its demo accounts; default on in development, off in production mode.",
    )
    # Named register_adapter: "register" would shadow ABCMeta.register on the class. The
    # environment variable is still NATID_REGISTER.
    register_adapter: str = Field(
        default="embedded",
        pattern=r"^(embedded|xroad)$",
        validation_alias=AliasChoices("NATID_REGISTER", "register_adapter"),
        description="Where the CA, IdP and KYC read persons from: `embedded` (NatID's own"
        " tables) or `xroad` (a civil register behind an X-Road security server).",
    )
    xroad_base_url: str | None = Field(
        default=None, description="NatID's X-Road security server, e.g. https://ss.natid.gov.kh."
    )
    xroad_client: str | None = Field(
        default=None, description="NatID's X-Road client id INSTANCE/CLASS/MEMBER/SUBSYSTEM."
    )
    xroad_service: str | None = Field(
        default=None,
        description="The register's service id INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE.",
    )
    xroad_cert: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS to the security server."
    )
    xroad_key: Path | None = Field(default=None, description="PEM key of NATID_XROAD_CERT.")
    xroad_ca: Path | None = Field(
        default=None, description="PEM CA bundle the security server's certificate chains to."
    )
    xroad_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to wait for the register's answer."
    )
    xroad_retries: int = Field(
        default=2, ge=0, le=5, description="Extra attempts of a failed idempotent GET."
    )
    log_level: str = Field(
        default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL, in any case."
    )
    log_json: bool = True

    @model_validator(mode="after")
    def _check_backend(self) -> Self:
        if self.key_backend is KeyBackendKind.PKCS11:
            missing = [
                name
                for name, value in (
                    ("NATID_PKCS11_MODULE", self.pkcs11_module),
                    ("NATID_PKCS11_TOKEN_LABEL", self.pkcs11_token_label),
                    ("NATID_PKCS11_PIN", self.pkcs11_pin),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"the pkcs11 key backend needs {', '.join(missing)}")
        if self.production:
            dev_passphrase = self.soft_key_passphrase.get_secret_value() == DEV_SOFT_PASSPHRASE
            if dev_passphrase and self.key_backend is KeyBackendKind.SOFT:
                raise ValueError(
                    "production mode refuses the development key-store passphrase; "
                    "set NATID_SOFT_KEY_PASSPHRASE"
                )
            if self.key_backend is KeyBackendKind.SOFT and not self.allow_soft_keys_in_production:
                raise ValueError(
                    "production mode refuses the soft key backend; use NATID_KEY_BACKEND=pkcs11 "
                    "or set NATID_ALLOW_SOFT_KEYS_IN_PRODUCTION=true"
                )
            if self.idp_secret_key is None and self.key_backend is not KeyBackendKind.SOFT:
                raise ValueError(
                    "production mode on the pkcs11 backend needs NATID_IDP_SECRET_KEY "
                    "(it seals second-factor secrets)"
                )
            if not self.public_base_url.startswith("https://"):
                raise ValueError("production mode needs an https:// NATID_PUBLIC_BASE_URL")
            if self.notifier == "outbox":
                raise ValueError(
                    "production mode refuses the development outbox notifier (it writes one-time "
                    "codes to disk); set NATID_NOTIFIER=gateway with an SMS gateway or mail server"
                )
        if self.notifier == "gateway" and not (self.sms_gateway_url or self.smtp_host):
            raise ValueError(
                "NATID_NOTIFIER=gateway needs NATID_SMS_GATEWAY_URL or NATID_SMTP_HOST"
            )
        if self.idp_secret_key is not None and len(self.idp_secret_key.get_secret_value()) < 32:
            raise ValueError("NATID_IDP_SECRET_KEY must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _check_values(self) -> Self:
        # Refused here rather than where they are used: a log level configure_logging does not
        # know killed every server worker after "NatID serving on ...", and a proxy given by
        # name disabled certificate login without a word.
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(
                f"NATID_LOG_LEVEL is {self.log_level[:32]!r}; expected DEBUG, INFO, WARNING,"
                " ERROR or CRITICAL (any case)"
            )
        parse_trusted_proxies(self.trusted_proxies)
        # URLs are never quoted in these messages: they may carry a password.
        if self.redis_url and not _is_url(self.redis_url, _REDIS, host=False):
            raise ValueError("NATID_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        for name, url in (
            ("NATID_SMS_GATEWAY_URL", self.sms_gateway_url),
            ("NATID_XROAD_BASE_URL", self.xroad_base_url),
        ):
            if url and not _is_url(url, _HTTP):
                raise ValueError(f"{name} must be an http:// or https:// URL with a host")
        return self

    @model_validator(mode="after")
    def _check_outbound_tls(self) -> Self:
        """Production mode sends no credentials and no one-time codes over plain text. Redis
        and PostgreSQL are not forced to TLS (inside a private network that is the operator's
        call, and their URLs say so: rediss://, sslmode)."""
        if not self.production:
            return self
        if self.sms_gateway_url and urlsplit(self.sms_gateway_url).scheme != "https":
            raise ValueError(
                "production mode needs an https:// NATID_SMS_GATEWAY_URL (the bearer token and"
                " the one-time codes in the messages would travel unencrypted)"
            )
        if self.xroad_base_url and urlsplit(self.xroad_base_url).scheme != "https":
            raise ValueError(
                "production mode needs an https:// NATID_XROAD_BASE_URL (mutual TLS to the X-Road"
                " security server)"
            )
        if self.smtp_host and self.smtp_password is not None and not self.smtp_starttls:
            raise ValueError(
                "production mode refuses NATID_SMTP_STARTTLS=false with NATID_SMTP_PASSWORD (the"
                " password would travel unencrypted)"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'natid.db').resolve()}"

    @property
    def resolved_soft_key_dir(self) -> Path:
        return self.soft_key_dir if self.soft_key_dir is not None else self.data_dir / "keys"

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """NATID_TRUSTED_PROXIES parsed (:func:`parse_trusted_proxies`, cached)."""
        return parse_trusted_proxies(self.trusted_proxies)

    @property
    def demo_site_enabled(self) -> bool:
        """Whether the demo relying party runs (NATID_DEMO_SITE, else not in production)."""
        return self.demo_site if self.demo_site is not None else not self.production

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash."""
        return self.public_base_url.rstrip("/")


def _setting_variables() -> frozenset[str]:
    """The environment variables that name settings: ``NATID_<FIELD>``, or a field's own
    ``NATID_`` alias (NATID_REGISTER)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias or ""]
        aliases = {c.upper() for c in choices if isinstance(c, str)}
        names.update(a for a in aliases if a.startswith("NATID_"))
        if not any(a.startswith("NATID_") for a in aliases):
            names.add(f"NATID_{name.upper()}")
    return frozenset(names)


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """One warning line for each ``NATID_*`` variable in ``environ`` that names no setting
    (pydantic-settings ignores them), with the setting it most resembles if one is close."""
    known = _setting_variables()
    by_stem = {name.removeprefix("NATID_"): name for name in known}
    warnings = []
    for key in sorted(environ):
        name = key.upper()  # pydantic-settings reads the variables in any case
        if not name.startswith("NATID_") or name in known or name in NOT_SETTINGS:
            continue
        # Compared without the prefix every name shares, which would make anything look close.
        close = difflib.get_close_matches(name.removeprefix("NATID_"), by_stem, n=1)
        hint = f"; did you mean {by_stem[close[0]]}?" if close else " (README.md lists them)"
        warnings.append(f"warning: {key} is not a NatID setting and is ignored{hint}")
    return warnings


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _warn_about_unknown_environment() -> None:
    """Warn once per process (the CLI loads the settings several times) and not in the
    processes uvicorn spawns for ``natid serve --workers N``: the command warned before
    starting them. Through logging: before configure_logging, Python prints a warning as a
    bare line on stderr."""
    if multiprocessing.parent_process() is not None:
        return
    for message in unknown_environment(os.environ):
        _warn_once(message)


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, with ``overrides`` taking precedence.

    Raises :class:`SettingsError` with the validation messages (never the secret values).
    Warns about ``NATID_*`` variables that name no setting (:func:`unknown_environment`).
    """
    _warn_about_unknown_environment()
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise SettingsError(f"invalid configuration: {problems}") from exc
