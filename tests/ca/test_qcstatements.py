"""The qcStatements extension (ETSI EN 319 412-5, RFC 3739): encoding, decoding, hostile bytes."""

from __future__ import annotations

import contextlib

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from ca.errors import MalformedQcStatements
from ca.profiles import get_profile
from ca.qcstatements import QC_STATEMENTS_OID, PdsLocation, QcStatements, QcType, SemanticsId


def test_qc_compliance_alone_encodes_to_the_standard_der() -> None:
    # SEQUENCE { SEQUENCE { OID 0.4.0.1862.1.1 } } (EN 319 412-5 §4.2.1, no statementInfo).
    assert QcStatements(compliance=True).to_der() == bytes.fromhex("300a3008060604008e460101")


def test_signing_profile_claims_kh_qualified_esign_on_qscd() -> None:
    qc = get_profile("citizen-sign").qc_statements
    assert qc == QcStatements(
        semantics=SemanticsId.NATURAL,
        compliance=True,
        legislation=("KH",),
        sscd=True,
        qc_type=QcType.ESIGN,
    )
    assert QcStatements.from_der(qc.to_der()) == qc


def test_extension_is_the_rfc_3739_oid() -> None:
    ext = QcStatements(semantics=SemanticsId.LEGAL).extension()
    assert isinstance(ext, x509.UnrecognizedExtension)
    assert ext.oid == QC_STATEMENTS_OID == x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def test_legislation_without_compliance_rejected() -> None:
    with pytest.raises(MalformedQcStatements):
        QcStatements(legislation=("KH",))


@pytest.mark.parametrize("country", ["kh", "KHM", "K", ""])
def test_legislation_country_must_be_iso_3166(country: str) -> None:
    with pytest.raises(MalformedQcStatements):
        QcStatements(compliance=True, legislation=(country,))


def test_pds_must_be_https() -> None:
    with pytest.raises(MalformedQcStatements):
        PdsLocation("http://pki.gov.kh/pds-en.pdf", "en")
    with pytest.raises(MalformedQcStatements):
        PdsLocation("https://pki.gov.kh/pds-km.pdf", "khm")


def test_empty_statements_rejected() -> None:
    with pytest.raises(MalformedQcStatements):
        QcStatements()


def test_duplicate_statement_rejected() -> None:
    twice = bytes.fromhex("3014" + "3008060604008e460101" * 2)
    with pytest.raises(MalformedQcStatements):
        QcStatements.from_der(twice)


_statements = st.builds(
    QcStatements,
    semantics=st.sampled_from([None, *SemanticsId]),
    compliance=st.just(True),
    legislation=st.lists(st.sampled_from(["KH", "TH", "VN", "LA"]), max_size=3).map(tuple),
    sscd=st.booleans(),
    qc_type=st.sampled_from([None, *QcType]),
    retention_years=st.one_of(st.none(), st.integers(min_value=1, max_value=200)),
    pds=st.lists(
        st.builds(
            PdsLocation,
            url=st.sampled_from(["https://pki.gov.kh/pds/en.pdf", "https://x.kh/p"]),
            language=st.sampled_from(["en", "km"]),
        ),
        max_size=2,
    ).map(tuple),
)


@given(_statements)
def test_encoding_round_trips(statements: QcStatements) -> None:
    assert QcStatements.from_der(statements.to_der()) == statements


@given(st.binary(max_size=300))
def test_hostile_bytes_raise_only_malformed_qc_statements(data: bytes) -> None:
    with contextlib.suppress(MalformedQcStatements):
        QcStatements.from_der(data)


@given(_statements, st.integers(min_value=0, max_value=400), st.integers(0, 255))
def test_corrupted_encoding_raises_only_malformed_qc_statements(
    statements: QcStatements, position: int, value: int
) -> None:
    der = bytearray(statements.to_der())
    der[position % len(der)] = value
    with contextlib.suppress(MalformedQcStatements):
        QcStatements.from_der(bytes(der))
