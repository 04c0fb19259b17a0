# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""The IdP side of life events (idp/lifecycle.py): after a death every grant of the person is
revoked - also when they never had an account - their sessions end, consents are withdrawn and
the account is disabled for good; when a civil servant leaves, the linked operator's roles go."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.clock import FixedClock
from core.operators import OperatorRole, OperatorService
from idp.account_models import AccountStatus
from idp.account_records import Account
from idp.accounts import AccountService
from idp.consents import Consents
from idp.errors import AccountNotActive, InvalidGrant
from idp.lifecycle import AccountLifecycle
from idp.service import ProviderCore
from idp.sessions import LoginSessions
from registry import AssuranceLevel, Person
from tests.idp._accounts import (  # noqa: F401 - fixtures
    account,
    accounts,
    cache,
    events,
    ledger,
    passwords,
    person,
    register,
    throttle,
    totp,
)
from tests.idp._flow import issue_code, secret_client


def _refresh_token(core: ProviderCore, clock: FixedClock, subject: str) -> tuple[object, str]:
    client = secret_client(core)
    code, verifier = issue_code(
        core, client, clock.now(), subject=subject, scopes=("openid", "offline_access")
    )
    grant = core.codes.redeem(
        code, client_id=client.client_id, redirect_uri=client.redirect_uris[0],
        code_verifier=verifier, dpop_jkt=None, at=clock.now(),
    )  # fmt: skip
    tokens = core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert tokens.refresh_token is not None
    return client, tokens.refresh_token


@pytest.fixture
def lifecycle(
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    accounts: AccountService,
    core: ProviderCore,
) -> AccountLifecycle:
    return AccountLifecycle(session_factory, ledger=ledger, accounts=accounts, tokens=core.tokens)


def test_death_closes_the_account_and_everything_it_holds(
    lifecycle: AccountLifecycle,
    account: Account,
    accounts: AccountService,
    core: ProviderCore,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
) -> None:
    client, refresh = _refresh_token(core, clock, account.person_id)
    sessions = LoginSessions(session_factory, ledger=ledger)
    sessions.start(account.id, acr=AssuranceLevel.SUBSTANTIAL, amr=("pwd", "otp"), at=clock.now())
    consents = Consents(session_factory, ledger=ledger)
    consents.grant(account.id, client.client_id, ["openid"], [], at=clock.now())  # type: ignore[attr-defined]

    done = lifecycle.close_after_death(account.person_id, at=clock.now())

    assert done == {"account": account.id, "sessions_ended": 1, "grants_revoked": 1, "consents": 1}
    with pytest.raises(InvalidGrant, match="revoked"):
        core.tokens.refresh(refresh, client=client, dpop_jkt=None, at=clock.now())  # type: ignore[arg-type]
    assert sessions.list_for_account(account.id, at=clock.now()) == []
    assert consents.list_for_account(account.id, at=clock.now()) == []
    assert accounts.get(account.id).status is AccountStatus.DISABLED
    with pytest.raises(AccountNotActive):
        accounts.set_status(account.id, AccountStatus.ACTIVE, actor="officer")
    disabled = events(ledger, "idp.account.disabled")
    assert [(e.actor, e.subject) for e in disabled] == [("lifecycle", account.id)]
    # Carried out again (a re-run after a crash), nothing more happens.
    again = lifecycle.close_after_death(account.person_id, at=clock.now())
    assert again["grants_revoked"] == 0 and again["sessions_ended"] == 0


def test_death_revokes_grants_of_a_person_without_an_account(
    lifecycle: AccountLifecycle, person: Person, core: ProviderCore, clock: FixedClock
) -> None:
    client, refresh = _refresh_token(core, clock, person.id)
    done = lifecycle.close_after_death(person.id, at=clock.now())
    assert done["account"] is None and done["grants_revoked"] == 1
    with pytest.raises(InvalidGrant):
        core.tokens.refresh(refresh, client=client, dpop_jkt=None, at=clock.now())  # type: ignore[arg-type]


def test_leaving_removes_the_linked_operators_roles(
    lifecycle: AccountLifecycle,
    account: Account,
    accounts: AccountService,
    session_factory: sessionmaker[Session],
    ledger: AuditLedger,
    clock: FixedClock,
    cache: object,
) -> None:
    operators = OperatorService(session_factory, ledger=ledger, clock=clock, cache=cache)  # type: ignore[arg-type]
    operator, _token = operators.add("dara.ra", [OperatorRole.RA_OFFICER, OperatorRole.AUDITOR])
    accounts.link_operator(account.id, operator.id, actor="test")

    removed = lifecycle.remove_operator_roles(account.person_id)

    assert sorted(removed) == ["auditor", "ra-officer"]
    assert operators.get("dara.ra").roles == frozenset()
    assert [e.subject for e in events(ledger, "idp.operator.roles_removed")] == [operator.id]
    assert lifecycle.remove_operator_roles(account.person_id) == []
