"""What a running ``natid serve`` keeps up by itself: its OCSP responders' certificates and its
CRLs, and warnings and metrics for what an operator must renew.

Until now ``natid serve`` renewed the OCSP responder certificates (90 days) only when it
started, so a server that ran for two months without a restart answered OCSP with a responder
certificate that had expired: every relying party would reject the answers. Decisions:

1. **Every interval** (``NATID_UPKEEP_INTERVAL_SECONDS``, an hour by default; 0 turns it off)
   each worker runs the start-up renewal again (responders with 30 days or fewer left, audit
   actor ``natid-serve``), in a thread off the event loop. The OCSP service reads the newest
   responder certificates every minute (ca/ocsp_service.py, decision 4), so the new one is used
   without a restart. Several workers may try at once: one renewal wins and the others destroy
   their new keys (ca/service_renewal.py, decision 3); the check itself is one indexed query.
   Then every CA's CRLs that are due are published (ca/crlstore.py; a CRL was otherwise made
   only when fetched), so a CA key that cannot sign is found days before its CRL's nextUpdate,
   not by the relying party that gets a 503. Two workers never publish the same CRL
   (ca/crlstore.py, "Numbers").
2. **Warnings, not renewals, for what an operator renews** (ca/expiry.py): a CA or the
   time-stamping unit inside its attention window gets one ``WARNING`` log line a day while it
   stays there, naming the command (``natid ca tsa-renew``) or the ceremony it needs; an OCSP
   responder or a CRL inside its window means decision 1 is failing, and says so.
3. **A failure never stops the server**: it is logged (its error code or class, never a
   message that could quote data) and tried again at the next interval.
4. **Metrics** (:class:`CertificateExpiryCollector`): ``/metrics`` carries
   ``natid_certificate_not_after_timestamp_seconds{role, ca, serial}`` for every watched
   certificate and ``natid_crl_next_update_timestamp_seconds{ca}`` for each CA's newest full
   CRL (no number label: a new series per CRL would pile up), read when scraped, so an alert
   can be written in Prometheus's own terms (``... - time() < 30 * 86400``). A database
   failure leaves the families empty for that scrape.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio.to_thread
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ca.expiry import Role, Watched, watched
from ca.store import CertificateStore
from core.errors import NatIDError

if TYPE_CHECKING:
    from api.context import AppContext

__all__ = ["CertificateExpiryCollector", "Upkeep", "attention_line", "attention_lines"]

log = logging.getLogger("natid.upkeep")

#: How often one certificate's warning is repeated while it stays in its window (decision 2).
WARN_EVERY = dt.timedelta(days=1)

_ACTION = {
    Role.ROOT_CA: "plan the root CA's rollover (a key ceremony, docs/deployment.md)",
    Role.ISSUING_CA: "plan this CA's rollover (a key ceremony, docs/deployment.md); until then"
    " the certificates it issues end with it",
    Role.TSA: "renew it with `natid ca tsa-renew` and restart `natid serve`",
    Role.OCSP_RESPONDER: "natid serve renews it when 30 days are left and has not: check the"
    " key backend, or run `natid ca ocsp-renew`",
    Role.CRL: "natid serve publishes the next one days ahead and has not: the CA's key cannot"
    " sign (check the key backend; for the root, whose key is kept offline, sign a new CRL where"
    " it is: `natid ca crl root`)",
}


def attention_line(item: Watched, now: dt.datetime) -> str:
    """One line for an operator about a certificate inside its attention window."""
    days = item.left(now).days  # whole days, rounded down

    def count(n: int) -> str:
        return f"{n} day" if n == 1 else f"{n} days"

    when = f"ended {count(-days)} ago" if days < 0 else f"ends in {count(days)}"
    what = (
        f"{item.ident} (full) of the {item.ca} CA"
        if item.role is Role.CRL
        else f"{item.role} certificate of the {item.ca} CA ({item.ident})"
    )
    return f"{what} {when}, on {item.not_after:%Y-%m-%d}: {_ACTION[item.role]}"


def attention_lines(ctx: AppContext) -> list[str]:
    """A line for each of the hierarchy's certificates that needs an operator now."""
    now = ctx.clock.now()
    return [
        attention_line(item, now)
        for item in watched(CertificateStore(ctx.sessions))
        if item.needs_attention(now)
    ]


def _failed(what: str, exc: Exception, **extra: str) -> None:
    """Log a failure by its error code or class (decision 3)."""
    reason = exc.code if isinstance(exc, NatIDError) else type(exc).__name__
    log.error(what, extra={"error": reason, **extra})  # no traceback: it could quote data


class Upkeep:
    """The periodic work of one worker (module docstring)."""

    def __init__(self, ctx: AppContext, *, interval: float) -> None:
        self._ctx = ctx
        self.interval = interval
        self._warned: dict[str, dt.datetime] = {}

    def run_once(self) -> None:
        """Renew what is due and warn about what needs an operator (decisions 1 and 2); never
        raises (decision 3)."""
        from api.cli.ca_ocsp import renew_due_responders

        try:
            for renewed in renew_due_responders(self._ctx):
                log.info(
                    "OCSP responder certificate renewed",
                    extra={"ca": renewed.issuer, "serial": renewed.serial_hex},
                )
        except Exception as exc:  # noqa: BLE001 - decision 3
            _failed("OCSP responder renewal failed", exc)
        try:
            issuers = [authority.name for authority in self._ctx.ca().authorities()]
        except Exception as exc:  # noqa: BLE001 - decision 3
            _failed("CA hierarchy unreadable", exc)
            issuers = []
        for issuer in issuers:  # one CA that cannot sign does not hold up the others
            try:
                self._ctx.ca().publish_crls(issuer)
            except Exception as exc:  # noqa: BLE001 - decision 3
                _failed("CRL publication failed", exc, ca=issuer)
        try:
            items = watched(CertificateStore(self._ctx.sessions))
        except Exception as exc:  # noqa: BLE001 - decision 3
            _failed("expiry check failed", exc)
            return
        now = self._ctx.clock.now()
        for item in items:
            if not item.needs_attention(now):
                continue
            key = f"{item.ca} {item.ident}"
            last = self._warned.get(key)
            if last is not None and now - last < WARN_EVERY:
                continue
            self._warned[key] = now
            log.warning(
                attention_line(item, now),
                extra={"role": str(item.role), "ca": item.ca, "id": item.ident},
            )

    async def run(self) -> None:
        """Run :meth:`run_once` every interval until cancelled (the first run after one
        interval: ``natid serve`` renewed at start-up)."""
        while True:
            await asyncio.sleep(self.interval)
            await anyio.to_thread.run_sync(self.run_once)


class CertificateExpiryCollector(Collector):
    """``natid_certificate_not_after_timestamp_seconds`` and
    ``natid_crl_next_update_timestamp_seconds`` at each scrape (decision 4)."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        certificates = GaugeMetricFamily(
            "natid_certificate_not_after_timestamp_seconds",
            "End of validity (Unix time) of the CA hierarchy's own certificates: its CAs and"
            " each CA's current OCSP responder and time-stamping certificates.",
            labels=["role", "ca", "serial"],
        )
        crls = GaugeMetricFamily(
            "natid_crl_next_update_timestamp_seconds",
            "nextUpdate (Unix time) of each CA's newest full CRL.",
            labels=["ca"],
        )
        try:
            items = watched(CertificateStore(self._ctx.sessions))
        except Exception as exc:  # noqa: BLE001 - decision 4
            _failed("expiry metrics unavailable", exc)
            items = ()
        for item in items:
            if item.role is Role.CRL:
                crls.add_metric([item.ca], item.not_after.timestamp())
            else:
                certificates.add_metric(
                    [str(item.role), item.ca, item.ident], item.not_after.timestamp()
                )
        yield certificates
        yield crls
