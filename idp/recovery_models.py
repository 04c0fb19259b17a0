"""ORM tables of account recovery and of the devices an account logged in from (issue 8).

Migration ``0020_idp_recovery``.

* ``idp_password_resets``: one row per SMS password-reset code. Only an HMAC-SHA256 of the
  code (keyed with a key derived from ``NATID_IDP_SECRET_KEY``) is stored: the code is 8
  digits, so a plain digest could be reversed by trying all 10^8 values. A row is good once,
  for :data:`idp.recovery.RESET_LIFETIME`, and for at most a few wrong guesses.
* ``idp_known_devices``: a digest of each device an account logged in from, so a login from a
  device never seen before for that account can be told to its holder (a security notice).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = ["KnownDeviceRow", "PasswordResetRow"]

_ID = Uuid(as_uuid=False)


class PasswordResetRow(Base):
    __tablename__ = "idp_password_resets"

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(_ID, ForeignKey("idp_accounts.id"), index=True)
    code_hmac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer(), default=0)


class KnownDeviceRow(Base):
    __tablename__ = "idp_known_devices"
    __table_args__ = (UniqueConstraint("account_id", "device_sha256"),)

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    account_id: Mapped[str] = mapped_column(_ID, ForeignKey("idp_accounts.id"), index=True)
    device_sha256: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
