"""The table of activation codes (issue 8, "Citizen activation"): ``idp_activation_codes``.

One row per code an officer's enrolment (or an in-person reset) issued. The code itself is
never stored: ``code_hmac`` is HMAC-SHA256 over the register id of the person and the code,
under a key derived from ``NATID_IDP_SECRET_KEY`` (:mod:`idp.activation`). A code is 50 random
bits, so a keyed hash is enough; the key means a copy of the table alone cannot be used to
try codes offline. A row is live while ``used_at`` and ``revoked_at`` are empty and
``expires_at`` is ahead; issuing a new code for the person revokes the older live ones.
The row holds no ID card number.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = ["ActivationCodeRow"]

_ID = Uuid(as_uuid=False)


class ActivationCodeRow(Base):
    __tablename__ = "idp_activation_codes"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_persons.id"), index=True)
    account_id: Mapped[str] = mapped_column(_ID, ForeignKey("idp_accounts.id"))
    #: HMAC-SHA256 (hex) of the person's id and the normalised code.
    code_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    #: Who issued it (an operator or account id) and where (the office's name).
    issued_by: Mapped[str] = mapped_column(String(64))
    office: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"ActivationCodeRow(id={self.id!r}, person_id={self.person_id!r})"
