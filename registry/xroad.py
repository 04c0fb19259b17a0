"""An adapter of :class:`~registry.ports.PopulationRegister` for a civil register on X-Road.

A national civil register is usually run by another ministry and reached through a data
exchange layer; X-Road (Estonia, Finland, Iceland, and many deployments since) is the common
one. :class:`XRoadRegister` talks to the register through NatID's own X-Road security server
with the X-Road Message Protocol for REST (PR-REST 1.0):

* requests go to ``{base_url}/r1/{serviceId}/{path}`` where ``serviceId`` is
  ``INSTANCE/MEMBERCLASS/MEMBERCODE/SUBSYSTEM/SERVICECODE``, each part percent-encoded
  (PR-REST §4.2);
* the consumer is named by ``X-Road-Client: INSTANCE/MEMBERCLASS/MEMBERCODE/SUBSYSTEM``
  (PR-REST §4.3), the person or service acting by ``X-Road-UserId``, and each request carries
  a fresh ``X-Road-Id`` (a UUID), which the answer must echo: an answer with another id is
  not the answer to this request and is refused;
* the connection to the security server uses mutual TLS (its certificate checked against
  ``ca_file``, NatID's client certificate and key presented), which is how a security server
  authenticates the information systems of its member (X-Road security server user guide,
  "communication with information systems": HTTPS with client authentication);
* errors follow PR-REST §4.4 (a JSON body with ``type``, ``message``, ``detail``): 404 means
  the subject is unknown (:class:`~registry.errors.SubjectNotFound`); a timeout, a connection
  failure, any 5xx, a refused request (the exchange layer rejecting our client, a
  configuration error on our side) or a malformed answer raise
  :class:`~registry.errors.RegistryUnavailable`;
* GETs are idempotent and are retried (``retries`` more times) on a timeout, a connection
  failure or a 5xx; the POST search is not retried (RFC 9110 §9.2.2).

Records come back through :mod:`registry.xroad_wire`, which validates them with the embedded
register's own rules. The national ID number travels only in a POST body: never in a path, a
query string, a header or a log line.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from core.clock import Clock
from registry import xroad_wire as wire
from registry.errors import InvalidRecord, RegistryUnavailable, SubjectNotFound
from registry.ports import PopulationRegister
from registry.records import (
    AssuranceLevel,
    CivilServant,
    LegalEntity,
    Person,
    ProofingRecord,
)
from registry.schemas import CAMBODIA_TZ, canonical_id, parse_national_id

__all__ = ["XRoadConfig", "XRoadRegister", "parse_xroad_id"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def parse_xroad_id(value: str, *, parts: int, what: str) -> tuple[str, ...]:
    """Split an X-Road identifier (``KH/GOV/MOI/CIVREG[/service]``) into its ``parts``.

    PR-REST §4.8 forbids ``/``, ``;``, ``:``, ``\\``, ``%`` and non-printable characters in
    identifier parts; they are refused here rather than encoded.
    """
    items = tuple(value.strip().split("/"))
    bad = len(items) != parts or any(
        not item or any(ch in item for ch in ";:\\%") or not item.isprintable() for item in items
    )
    if bad:
        shape = "INSTANCE/MEMBERCLASS/MEMBERCODE/SUBSYSTEM" + ("/SERVICE" if parts == 5 else "")
        raise ValueError(f"{what}: expected {shape}")
    return items


@dataclass(frozen=True, slots=True)
class XRoadConfig:
    """Where the security server is, who NatID is on X-Road, and the register's service."""

    base_url: str
    client: str
    service: str
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.2
    user_id: str = "natid"

    def __post_init__(self) -> None:
        parse_xroad_id(self.client, parts=4, what="client")
        parse_xroad_id(self.service, parts=5, what="service")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("base_url: expected an https:// URL of the security server")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file: give both or neither")
        if self.timeout <= 0 or self.retries < 0 or self.backoff < 0:
            raise ValueError("timeout must be positive; retries and backoff 0 or more")

    def ssl_context(self) -> ssl.SSLContext:
        """TLS 1.2+ to the security server, trusting ``ca_file`` (or the system store) and
        presenting the client certificate when one is configured."""
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None and self.key_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


class XRoadRegister:
    """The population register behind an X-Road security server (read side only)."""

    def __init__(
        self,
        config: XRoadConfig,
        *,
        clock: Clock,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._clock = clock
        self._sleep = sleep
        quoted = "/".join(quote(part, safe="") for part in config.service.split("/"))
        self._root = f"{config.base_url.rstrip('/')}/r1/{quoted}"
        self._subsystem = self._root.rsplit("/", 1)[0]
        self._http = http or httpx.Client(
            verify=config.ssl_context(),
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=False,
        )

    def acting_as(self, user_id: str) -> XRoadRegister:
        """The same register, with ``X-Road-UserId`` naming ``user_id`` (an operator id)."""
        return XRoadRegister(
            replace(self._config, user_id=user_id),
            clock=self._clock,
            http=self._http,
            sleep=self._sleep,
        )

    def close(self) -> None:
        self._http.close()

    # --- transport --------------------------------------------------------------------------

    def _headers(self, request_id: str) -> dict[str, str]:
        return {
            "X-Road-Client": self._config.client,
            "X-Road-Id": request_id,
            "X-Road-UserId": self._config.user_id,
            "Accept": "application/json",
        }

    def _call(
        self, method: Literal["GET", "POST"], url: str, body: dict[str, Any] | None = None
    ) -> httpx.Response | None:
        """The answer (``None`` for 404), or :class:`RegistryUnavailable`."""
        attempts = 1 + (self._config.retries if method == "GET" else 0)
        last = "no attempt"
        for attempt in range(attempts):
            if attempt:
                self._sleep(self._config.backoff * attempt)
            request_id = str(uuid.uuid4())
            try:
                response = self._http.request(
                    method, url, headers=self._headers(request_id), json=body
                )
            except httpx.TimeoutException:
                last = f"no answer within {self._config.timeout:g} s"
                continue
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__})"
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}{_fault(response)}"
                continue
            if response.headers.get("X-Road-Id") != request_id:
                raise RegistryUnavailable(
                    "the external register's answer does not carry our X-Road-Id; refused"
                )
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise RegistryUnavailable(
                    f"the external register refused the request: HTTP "
                    f"{response.status_code}{_fault(response)}"
                )
            return response
        log.warning(
            "external register unavailable",
            extra={"service": self._config.service, "attempts": attempts, "reason": last},
        )
        raise RegistryUnavailable(f"the external register is unavailable: {last}")

    def _json(self, response: httpx.Response) -> object:
        try:
            return response.json()
        except ValueError:
            raise RegistryUnavailable(
                "the external register sent an answer that is not JSON"
            ) from None

    def _get(self, path: str, decode: Callable[[object], _T], missing: str) -> _T:
        response = self._call("GET", f"{self._root}/{path}")
        if response is None:
            raise SubjectNotFound(missing)
        return decode(self._json(response))

    def _today(self) -> dt.date:
        return self._clock.now().astimezone(CAMBODIA_TZ).date()

    # --- PopulationRegister -----------------------------------------------------------------

    def get_person(self, person_id: str) -> Person:
        key = _key(person_id)
        return self._get(
            f"persons/{key}",
            lambda data: wire.decode_person(data, today=self._today()),
            f"no person with id {key}",
        )

    def find_person_by_national_id(self, national_id: str) -> Person | None:
        number = parse_national_id(national_id)
        response = self._call("POST", f"{self._root}/persons/search", {"national_id": number})
        if response is None:
            return None
        person = wire.decode_person(self._json(response), today=self._today())
        if person.national_id != number:
            raise RegistryUnavailable("the external register answered for another person")
        return person

    def get_entity(self, entity_id: str) -> LegalEntity:
        key = _key(entity_id)
        return self._get(
            f"entities/{key}",
            lambda data: wire.decode_entity(data, today=self._today()),
            f"no legal entity with id {key}",
        )

    def get_servant(self, servant_id: str) -> CivilServant:
        key = _key(servant_id)
        return self._get(
            f"servants/{key}",
            lambda data: wire.decode_servant(data, today=self._today()),
            f"no civil servant with id {key}",
        )

    def servants_of_person(self, person_id: str) -> tuple[CivilServant, ...]:
        key = _key(person_id, "person_id")
        return self._get(
            f"persons/{key}/servants",
            lambda data: wire.decode_servants(data, today=self._today()),
            f"no person with id {key}",
        )

    def current_proofing(self, person_id: str) -> ProofingRecord | None:
        key = _key(person_id, "person_id")
        return self._get(
            f"persons/{key}/proofing/current",
            lambda data: wire.decode_proofing(data, now=self._clock.now()),
            f"no person with id {key}",
        )

    def proofing_level(self, person_id: str) -> AssuranceLevel | None:
        record = self.current_proofing(person_id)
        return record.level if record is not None else None

    # --- operations -------------------------------------------------------------------------

    def check(self) -> tuple[str, ...]:
        """Ask the security server which services the register's subsystem offers
        (the ``listMethods`` metaservice, PR-MREST §3) and require ours among them.

        Returns the service codes offered; raises :class:`RegistryUnavailable` otherwise.
        """
        response = self._call("GET", f"{self._subsystem}/listMethods")
        if response is None:
            raise RegistryUnavailable("the external register's subsystem is unknown (HTTP 404)")
        data = self._json(response)
        services = data.get("service") if isinstance(data, dict) else None
        if not isinstance(services, list):
            raise RegistryUnavailable("the listMethods answer has no service list")
        codes = tuple(
            str(item.get("service_code"))
            for item in services
            if isinstance(item, dict) and item.get("service_code")
        )
        wanted = self._config.service.rsplit("/", 1)[1]
        if wanted not in codes:
            raise RegistryUnavailable(f"the register does not offer the service {wanted}")
        return codes


def _key(value: str, field: str = "id") -> str:
    try:
        return canonical_id(value)
    except ValueError:
        # Not echoed: a national ID number passed as an id must not leak.
        raise InvalidRecord([f"{field}: not a UUID"]) from None


def _fault(response: httpx.Response) -> str:
    """The X-Road error type of a failed answer (PR-REST §4.4), if it has one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    kind = body.get("type") if isinstance(body, dict) else None
    return f" ({kind})" if isinstance(kind, str) and kind.isprintable() and len(kind) < 100 else ""


def _implements_the_port(register: XRoadRegister) -> PopulationRegister:
    """Never called: mypy checks here that XRoadRegister implements PopulationRegister."""
    return register
