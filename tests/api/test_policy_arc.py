"""NATID_CERTIFICATE_POLICY_ARC: a country's own policy arc reaches every certificate and token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext, build_context
from core.clock import FixedClock
from core.settings import SettingsError, load_settings

ARC = "1.3.6.1.4.1.99999.7"


@pytest.fixture
def arc_ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    settings = load_settings(
        data_dir=tmp_path / "var",
        database_url=db_url,
        certificate_policy_arc=ARC,
        ca_organization="Kingdom PKI Test",
    )
    ctx = build_context(settings, clock=clock)
    try:
        yield ctx
    finally:
        ctx.close()


def _policies(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES).value
    return [p.policy_identifier.dotted_string for p in ext]


def test_configured_arc_and_organisation_reach_the_hierarchy(arc_ctx: AppContext) -> None:
    hierarchy = arc_ctx.ca().ensure_hierarchy(actor="test")
    # Service certificates name their own policy under the arc; issuing CAs may carry
    # anyPolicy, but never a policy under the default example arc.
    for cert in (hierarchy.tsa, *hierarchy.ocsp_responders.values()):
        own = [oid for oid in _policies(cert) if oid != "2.5.29.32.0"]
        assert own, cert.subject.rfc4514_string()
        assert all(oid.startswith(ARC + ".") for oid in own), own
    for name, cert in hierarchy.cas.items():
        if name != "root":
            assert not [oid for oid in _policies(cert) if oid.startswith("2.999.")]
    for cert in (*hierarchy.cas.values(), hierarchy.tsa, *hierarchy.ocsp_responders.values()):
        orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        assert [a.value for a in orgs] == ["Kingdom PKI Test"]


def test_time_stamp_tokens_carry_the_configured_tsa_policy(arc_ctx: AppContext) -> None:
    from asn1crypto import tsp  # type: ignore[import-untyped]

    hierarchy = arc_ctx.ca().ensure_hierarchy(actor="test")
    tsa_policy = _policies(hierarchy.tsa)[0]
    query = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": b"\x11" * 32,
            },
            "cert_req": True,
        }
    ).dump()
    with TestClient(create_app(arc_ctx)) as client:
        r = client.post(
            "/tsa", content=query, headers={"content-type": "application/timestamp-query"}
        )
    assert r.status_code == 200
    reply = tsp.TimeStampResp.load(r.content)
    assert reply["status"]["status"].native == "granted"
    info = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["policy"].dotted == tsa_policy
    assert tsa_policy.startswith(ARC + ".")


@pytest.mark.parametrize("bad", ["2.999.", "3.1.2", "1.2.x", "", "1"])
def test_malformed_arcs_are_refused_with_the_setting_named(bad: str) -> None:
    with pytest.raises(SettingsError, match="certificate_policy_arc"):
        load_settings(certificate_policy_arc=bad)
