"""What a running ``natid serve`` keeps up by itself (api/upkeep.py), as an operator and a
relying party see it: a server that runs for three months without a restart still answers OCSP
with a responder certificate that is valid; every CA's CRLs are published when due, without
waiting to be fetched, and a CA whose key cannot sign does not hold up the others; a
time-stamping certificate near its end gets one warning a day naming the command that renews
it; a failing renewal is logged by its code and does not stop the server; ``/metrics`` gives
every hierarchy certificate's and CRL's end.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.context import AppContext, build_context
from api.upkeep import Upkeep, attention_line
from ca.crlstore import newest_full_crls
from ca.expiry import Role, Watched, watched
from ca.hierarchy import ca_key_label
from ca.ocsp_renewal import AUDIT_EVENT as OCSP_RENEWED
from ca.store import CertificateStore, serial_hex
from core.clock import FixedClock
from core.settings import load_settings
from hsm_adapters.errors import KeyBackendUnavailable
from tests.api.test_ocsp_routes import der_request, ocsp_path, post
from tests.ca._issuance import add_person

DAY = dt.timedelta(days=1)


@pytest.fixture
def ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    """A context whose server would run its upkeep every second."""
    settings = load_settings(
        data_dir=tmp_path / "var", database_url=db_url, upkeep_interval_seconds=1
    )
    ctx = build_context(settings, clock=clock)
    ctx.ca().ensure_hierarchy(actor="test")
    try:
        yield ctx
    finally:
        ctx.close()


def _responders(ctx: AppContext) -> dict[str, str]:
    return {
        item.ca: item.ident
        for item in watched(CertificateStore(ctx.sessions))
        if item.role is Role.OCSP_RESPONDER
    }


def _upkeep_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "natid.upkeep" and r.levelno == level
    ]


def test_a_server_running_for_three_months_keeps_a_valid_ocsp_responder(
    ctx: AppContext, clock: FixedClock
) -> None:
    cert = ctx.ca().issue_with_server_key("citizen-auth", add_person(ctx.register).id, actor="t")
    body = der_request(ctx, cert)
    first = _responders(ctx)
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        clock.advance(61 * DAY)  # 29 days left of the responders' 90: due
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            renewed = _responders(ctx)
            if all(renewed[ca] != first[ca] for ca in first):
                break  # renewed by the server itself
            time.sleep(0.1)
        assert renewed.keys() == first.keys()
        assert all(renewed[ca] != first[ca] for ca in first)

        clock.advance(30 * DAY + dt.timedelta(seconds=61))  # the first ones have expired
        response = post(client, ocsp_path(cert), body)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    (responder,) = response.certificates
    assert serial_hex(responder.serial_number) == renewed["citizen"]
    assert responder.not_valid_before_utc <= clock.now() <= responder.not_valid_after_utc
    key = responder.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    entries = [e for e in ctx.ledger.tail(50) if e.event == OCSP_RENEWED]
    assert len(entries) == 4 and {e.actor for e in entries} == {"natid-serve"}


def test_the_time_stamping_unit_near_its_end_is_warned_about_once_a_day(
    ctx: AppContext, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    tsa = next(i for i in watched(CertificateStore(ctx.sessions)) if i.role is Role.TSA)
    clock.set(tsa.not_after - 200 * DAY)
    upkeep = Upkeep(ctx, interval=3600)
    caplog.set_level(logging.INFO, logger="natid.upkeep")

    upkeep.run_once()  # the responders ended years ago: renewed first, then not warned about
    warnings = _upkeep_lines(caplog, logging.WARNING)
    assert warnings == [
        f"tsa certificate of the government CA ({tsa.ident}) ends in 200 days, on "
        f"{tsa.not_after:%Y-%m-%d}: renew it with `natid ca tsa-renew` and restart `natid serve`"
    ]
    assert len(_upkeep_lines(caplog, logging.INFO)) == 4  # one line per renewed responder

    caplog.clear()
    clock.advance(dt.timedelta(hours=23))
    upkeep.run_once()
    assert _upkeep_lines(caplog, logging.WARNING) == []  # not again the same day
    clock.advance(dt.timedelta(hours=1))
    upkeep.run_once()
    assert len(_upkeep_lines(caplog, logging.WARNING)) == 1


def test_a_failing_renewal_is_logged_by_its_code_and_the_server_goes_on(
    ctx: AppContext, clock: FixedClock, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def down(label: str, algorithm: object) -> object:
        raise KeyBackendUnavailable(f"the HSM at slot 0 refused {label}")

    monkeypatch.setattr(ctx.keys, "generate", down)
    first = _responders(ctx)
    clock.advance(80 * DAY)  # under 10 days left: past the renewal, inside the attention window
    caplog.set_level(logging.INFO, logger="natid.upkeep")
    Upkeep(ctx, interval=3600).run_once()  # does not raise

    errors = [r for r in caplog.records if r.name == "natid.upkeep" and r.levelno == logging.ERROR]
    assert [(r.getMessage(), r.__dict__["error"]) for r in errors] == [
        ("OCSP responder renewal failed", "key_backend_unavailable")
    ]
    assert "slot 0" not in caplog.text
    assert _responders(ctx) == first
    warnings = _upkeep_lines(caplog, logging.WARNING)
    assert len(warnings) == 4
    assert all("ends in 9 days" in w and "has not" in w for w in warnings)


def test_metrics_give_the_end_of_every_hierarchy_certificate_and_crl(ctx: AppContext) -> None:
    ctx.ca().publish_crls()
    with TestClient(create_app(ctx)) as client:
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    certificates = families["natid_certificate_not_after_timestamp_seconds"]
    crls = families["natid_crl_next_update_timestamp_seconds"]
    assert certificates.type == crls.type == "gauge"
    items = watched(CertificateStore(ctx.sessions))
    got = {
        (s.labels["role"], s.labels["ca"], s.labels["serial"]): s.value
        for s in certificates.samples
    }
    assert got == {
        (str(i.role), i.ca, i.ident): i.not_after.timestamp()
        for i in items
        if i.role is not Role.CRL
    }
    assert len(got) == 10  # the root, four issuing CAs, four responders, the TSA
    assert {s.labels["ca"]: s.value for s in crls.samples} == {
        i.ca: i.not_after.timestamp() for i in items if i.role is Role.CRL
    }
    assert len(crls.samples) == 5


def test_due_crls_are_published_and_a_ca_that_cannot_sign_holds_up_no_other(
    ctx: AppContext, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = ctx.keys.load

    def citizen_key_offline(label: str) -> object:
        if label == ca_key_label("citizen"):
            raise KeyBackendUnavailable(f"the HSM at slot 3 refused {label}")
        return load(label)

    monkeypatch.setattr(ctx.keys, "load", citizen_key_offline)
    caplog.set_level(logging.INFO, logger="natid.upkeep")
    assert newest_full_crls(CertificateStore(ctx.sessions)) == {}  # none fetched yet
    Upkeep(ctx, interval=3600).run_once()
    assert sorted(newest_full_crls(CertificateStore(ctx.sessions))) == [
        "entity", "government", "health", "root",
    ]  # fmt: skip
    errors = [r for r in caplog.records if r.name == "natid.upkeep" and r.levelno == logging.ERROR]
    assert [(r.getMessage(), r.__dict__["ca"]) for r in errors] == [
        ("CRL publication failed", "citizen")
    ]
    assert errors[0].__dict__["error"] in {"key_backend_unavailable", "crl_unavailable"}
    assert "slot 3" not in caplog.text


def test_a_crl_not_republished_in_time_is_worded_with_what_to_do(clock: FixedClock) -> None:
    crl = Watched(Role.CRL, "citizen", "CRL 12", clock.now() + dt.timedelta(hours=30), 2 * DAY)
    assert attention_line(crl, clock.now()) == (
        "CRL 12 (full) of the citizen CA ends in 1 day, on 2026-11-02: natid serve publishes the"
        " next one days ahead and has not: the CA's key cannot sign (check the key backend; for"
        " the root, whose key is kept offline, sign a new CRL where it is: `natid ca crl root`)"
    )
    assert attention_line(crl, clock.now() + 3 * DAY).startswith(
        "CRL 12 (full) of the citizen CA ended 2 days ago, on 2026-11-02"
    )
