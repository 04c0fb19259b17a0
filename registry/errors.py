"""Errors of the population register.

Every error derives from :class:`RegistryError` (stable ``code``) and from one of the three
kinds of ``core.errors`` (STYLE.md, "Errors"): the caller's input is wrong
(:class:`InvalidRecord`, :class:`DuplicateRecord`, :class:`SubjectNotFound`,
:class:`ImportFileRejected`), or our own database failed (:class:`RegistryUnavailable`).

Messages name the field and what was expected, never the value received: a register holds
national ID numbers, birthdates and addresses, and an error message ends up in logs, HTTP
problem documents and terminal scroll-back. In particular a duplicate national ID is reported
as "a person with this national ID already exists", without the number.
"""

# The names follow core/errors.py (InvalidInput, NotFound, Conflict): they say what happened,
# the base classes say that it is an error.

from __future__ import annotations

from core.errors import Conflict, InfrastructureError, InvalidInput, NatIDError, NotFound

__all__ = [
    "DuplicateRecord",
    "ImportFileRejected",
    "InvalidRecord",
    "RegistryError",
    "RegistryUnavailable",
    "SubjectNotFound",
]


class RegistryError(NatIDError):
    """Base of every error the register raises."""

    code = "registry_error"


class InvalidRecord(RegistryError, InvalidInput):
    """A record (JSON, CSV row, keyword arguments) failed validation.

    ``problems`` lists one ``"field: reason"`` string per failed check, in field order; the
    message joins them. Neither contains the rejected values.
    """

    code = "invalid_record"

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems) or "invalid record")


class DuplicateRecord(RegistryError, Conflict):
    """A unique attribute (id, national ID, register number, employee number) is taken."""

    code = "duplicate_record"


class SubjectNotFound(RegistryError, NotFound):
    """No person, legal entity or civil servant has the given internal id."""

    code = "subject_not_found"


class ImportFileRejected(RegistryError, InvalidInput):
    """A whole import file is unusable (too large, not UTF-8, unknown header, bad CSV).

    Row-level problems do not raise this; they are listed in the ``ImportReport``.
    """

    code = "import_file_rejected"


class RegistryUnavailable(RegistryError, InfrastructureError):
    """The register's database failed; nothing of the operation was written."""

    code = "registry_unavailable"
