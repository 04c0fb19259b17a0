"""What pyHanko's loggers leave in NatID's logs and on stderr (signing/library_logs.py): no
certificate subject, no ID card number, no traceback for an expected validation outcome, and
an unexpected library error still visible."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ca.revocation import RevocationReason
from ca.service import CAService
from core.clock import FixedClock
from signing.service import SigningService
from signing.validate import Indication
from tests.signing._pdf import make_pdf


def _id_number(cert: x509.Certificate) -> str:
    """The ID card number in the subject's serialNumber (``IDCKH-<number>``)."""
    value = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert isinstance(value, str)
    return value.rsplit("-", 1)[-1]


def test_validating_a_revoked_signer_logs_no_id_number_and_no_traceback(
    signing: SigningService,
    servant_id: str,
    ca_service: CAService,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    cert = signing.signing_certificate(servant_id)
    id_number = _id_number(cert.certificate)
    signed = signing.sign_pdf(make_pdf(), signer=servant_id, actor="t", level="B-B")
    clock.advance(dt.timedelta(hours=2))
    ca_service.revoke(cert.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="t")
    caplog.set_level(logging.DEBUG)

    online = signing.validate(signed).signatures[0]
    offline = signing.validate(signed, fetch=False).signatures[0]

    assert online.revocation == "revoked"  # the outcomes pyHanko logged warnings about
    assert offline.indication is Indication.INDETERMINATE
    err = capfd.readouterr().err
    for text in (caplog.text, err):
        assert id_number not in text
        assert "Serial Number:" not in text
        assert "Traceback" not in text
    assert not [r for r in caplog.records if r.name.startswith("pyhanko")]


class _Written(logging.Handler):
    """What a handler of the process (the server's JSON lines, stderr) is given to write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(self.format(r) for r in self.records)


@pytest.fixture
def written() -> Iterator[_Written]:
    # Attached to the root logger like natid serve's handler (api/observability.py); pytest's
    # caplog would also see the library's own records, as it hooks every non-propagating logger.
    handler = _Written()
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


def test_an_unexpected_library_error_is_logged_without_the_subject(written: _Written) -> None:
    import signing  # noqa: F401 - importing the package contains pyHanko's loggers

    subject = "Common Name: Sok Dara, Serial Number: IDCKH-000123456"
    library = logging.getLogger("pyhanko.sign.validation.generic_cms")

    try:
        raise LookupError(f"no issuer for {subject}")
    except LookupError as exc:
        library.error("Processing error for %s", subject, exc_info=exc)
    library.warning("Validation error [cert context: %s]", subject)

    assert "000123456" not in written.text and "Sok Dara" not in written.text
    [record] = written.records
    assert record.levelno == logging.ERROR
    assert record.name == "pyhanko.sign.validation.generic_cms"
    assert "builtins.LookupError" in record.getMessage()
    assert "test_library_logs.py" in record.getMessage()  # where it was raised
    assert record.exc_info is None
