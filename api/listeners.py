"""What runs after an audit entry commits, for every process that serves or administers NatID.

The app factory and the CLI both call :func:`install_ledger_listeners`, so a certificate
revoked from the command line notifies its holder exactly as one revoked over HTTP does:

* security notices to the person (api/routers/recovery.py, idp/notifications.py);
* re-issue after a name change or ID card renewal: a newly issued certificate supersedes the
  flagged old one (api/lifecycle.py).

Both are idempotent per context (a listener is registered under a name).
"""

from __future__ import annotations

from api.context import AppContext
from api.lifecycle import install_reissue_listener
from api.routers.recovery import install_security_notifications

__all__ = ["install_ledger_listeners"]


def install_ledger_listeners(ctx: AppContext) -> None:
    install_security_notifications(ctx)
    install_reissue_listener(ctx)
