"""What pyHanko's own loggers may write while NatID signs and validates PDFs.

pyHanko and pyhanko-certvalidator log what they find about a certificate with the certificate's
subject in the text, often with a traceback: "Validation error [cert context: Common Name: ...,
Serial Number: IDCKH-...]" for a revoked signer, "Fetching OCSP status for <subject>" for every
fetch. A NatID subject names the person and carries the ID card number (``serialNumber``,
ca/names.py), so those lines would put personal data in the server's log and on the CLI's stderr
(STYLE.md, "Errors"). Decisions:

1. **Below ERROR, the libraries' records are not written.** Their warnings restate an expected
   validation outcome (revoked, no revocation data, no chain) that the validation report
   (:mod:`signing.validate`) already gives, in the standard's words; their INFO lines name the
   certificate being fetched for. The two libraries' top loggers get level ERROR, so such
   records are not even made.
2. **ERROR and above stays visible, without personal data.** An error logged inside the
   libraries is unexpected and someone should see it, but its text and its exception's text may
   quote a subject. :class:`WithoutCertificateDetails` relays it to NatID's logging as the
   logger's name, the exception's type and where it was raised (file, line, function), and
   leaves out the text, the exception's message and the traceback's source lines.
3. **No handler of NatID's is touched.** The relay hands the scrubbed record to the
   ``signing.library_logs`` logger, whose records reach whatever the process configured: the
   JSON lines of ``natid serve`` (api/observability.py), pytest's capture, or Python's
   last-resort stderr handler in the CLI, which configures no logging.
4. :func:`contain_library_logs` runs when the :mod:`signing` package is imported: every use of
   pyHanko in NatID goes through this package. It is idempotent.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

__all__ = ["LIBRARY_LOGGERS", "WithoutCertificateDetails", "contain_library_logs"]

#: The top loggers of the libraries whose records may quote certificate subjects.
LIBRARY_LOGGERS = ("pyhanko", "pyhanko_certvalidator")
#: At most this many stack frames (the innermost ones) describe where an error was raised.
_MAX_FRAMES = 8

_relay = logging.getLogger(__name__)


class WithoutCertificateDetails(logging.Handler):
    """Relays a library's ERROR records without their text (decision 2)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            scrubbed = _scrubbed(record)
        except Exception:  # noqa: BLE001 - a logging handler must not raise (logging.Handler)
            # handleError prints the record's message and arguments: give it none of the original.
            self.handleError(logging.makeLogRecord({"name": record.name, "msg": "(left out)"}))
            return
        _relay.handle(scrubbed)


def _scrubbed(record: logging.LogRecord) -> logging.LogRecord:
    text = f"an error was logged inside {record.name}; its text is left out (it may name a person)"
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        frames = traceback.extract_tb(exc.__traceback__)[-_MAX_FRAMES:]
        where = " <- ".join(
            f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in reversed(frames)
        )
        text += f": {type(exc).__module__}.{type(exc).__qualname__}" + (
            f" at {where}" if where else ""
        )
    return logging.makeLogRecord(
        {
            "name": record.name,
            "levelno": record.levelno,
            "levelname": record.levelname,
            "pathname": record.pathname,
            "filename": record.filename,
            "module": record.module,
            "lineno": record.lineno,
            "funcName": record.funcName,
            "created": record.created,
            "msecs": record.msecs,
            "relativeCreated": record.relativeCreated,
            "thread": record.thread,
            "threadName": record.threadName,
            "process": record.process,
            "msg": text,
            "args": None,
        }
    )


def contain_library_logs() -> None:
    """Apply decisions 1 and 2 to :data:`LIBRARY_LOGGERS` (once; later calls change nothing)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        if not any(isinstance(h, WithoutCertificateDetails) for h in logger.handlers):
            logger.addHandler(WithoutCertificateDetails())
