"""Synthetic demo data: deterministic, the promised counts, plausible, idempotent, quick."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

from core.clock import FixedClock
from registry import AssuranceLevel, EntityKind, ProofingMethod
from registry.demo import (
    FAMILY_NAMES,
    FEMALE_NAMES,
    MALE_NAMES,
    MINISTRIES,
    generate_demo,
)
from registry.service import EmbeddedRegister
from tests.registry.conftest import RecordingLedger

AT = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def test_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    assert generate_demo(7, at=AT) == generate_demo(7, at=AT)
    other = generate_demo(8, at=AT)
    assert other.persons[0].id != generate_demo(7, at=AT).persons[0].id


def test_counts_are_as_promised() -> None:
    demo = generate_demo(at=AT)
    kinds = Counter(e.kind for e in demo.entities)
    assert len(demo.persons) == 1000
    assert kinds == {EntityKind.COMPANY: 17, EntityKind.BANK: 3, EntityKind.MINISTRY: 5}
    assert len(demo.servants) == 50
    per_ministry = Counter(s.ministry_id for s in demo.servants)
    assert sorted(per_ministry.values()) == [10] * 5
    assert len({s.person_id for s in demo.servants}) == 50
    assert len(demo.proofing) == 1000


def test_demo_numbers_use_reserved_prefixes_and_are_unique() -> None:
    demo = generate_demo(at=AT)
    numbers = [p.national_id for p in demo.persons]
    assert all(n.startswith("000") and len(n) == 9 for n in numbers)
    assert len(set(numbers)) == 1000
    assert all(e.register_no.startswith("DEMO-") for e in demo.entities)
    assert all(p.phone is None for p in demo.persons)
    assert all(p.email is None or p.email.endswith("@example.com") for p in demo.persons)


def test_names_are_plausible_khmer_with_transliterations() -> None:
    demo = generate_demo(at=AT)
    families = dict(FAMILY_NAMES)
    givens = dict(MALE_NAMES + FEMALE_NAMES)
    for p in demo.persons:
        assert families[p.names[0]] == p.names[2]
        assert givens[p.names[1]] == p.names[3]
    # Many different names, and both sexes, as in a real population.
    assert len({p.names[3] for p in demo.persons}) > 60
    assert len({p.names[2] for p in demo.persons}) > 35
    assert {p.sex for p in demo.persons} == {"M", "F"}
    # No duplicates in the name lists (a typo would otherwise skew the data).
    for names in (FAMILY_NAMES, MALE_NAMES + FEMALE_NAMES):
        assert len({km for km, _ in names}) == len({latin for _, latin in names}) == len(names)


def test_birthdates_and_proofing_times_in_range() -> None:
    demo = generate_demo(at=AT)
    assert all(dt.date(1940, 1, 1) <= p.birthdate <= dt.date(2008, 12, 31) for p in demo.persons)
    assert all(AT - dt.timedelta(days=731) < r.at < AT for r in demo.proofing)


def test_load_demo_stores_everything_and_is_idempotent(
    register: EmbeddedRegister, ledger: RecordingLedger
) -> None:
    started = time.perf_counter()
    added = register.load_demo()
    elapsed = time.perf_counter() - started
    assert added == 1000 + 25 + 50 + 1000
    assert register.load_demo() == 0
    assert register.counts() == {"persons": 1000, "entities": 25, "servants": 50}
    assert [e.event for e in ledger.entries] == ["registry.demo.loaded"]
    assert elapsed < 5, f"load_demo took {elapsed:.1f} s"


def test_demo_ids_are_stable_across_runs(register: EmbeddedRegister) -> None:
    register.load_demo()
    expected = generate_demo(at=AT)
    stored = register.get_person(expected.persons[0].id)
    assert stored.national_id == expected.persons[0].national_id
    assert {m.name_en for m in register.list_entities(kind=EntityKind.MINISTRY)} == {
        en for _code, _km, en, _units in MINISTRIES
    }


def test_demo_servants_are_high_and_citizens_substantial(
    register: EmbeddedRegister, clock: FixedClock
) -> None:
    register.load_demo()
    servants = register.list_servants(limit=None)
    servant_persons = {s.person_id for s in servants}
    for servant in servants[:10]:
        record = register.current_proofing(servant.person_id)
        assert record is not None
        assert (record.level, record.method) == (AssuranceLevel.HIGH, ProofingMethod.IN_PERSON)
        assert record.officer_id != servant.id
    citizens = [p for p in register.list_persons(limit=40) if p.id not in servant_persons]
    assert citizens
    for citizen in citizens:
        assert register.proofing_level(citizen.id) is AssuranceLevel.SUBSTANTIAL
    # Every record was proven by a Ministry of Interior registration officer.
    officer = register.get_servant(register.current_proofing(citizens[0].id).officer_id or "")
    assert officer.ministry_name_en == "Ministry of Interior"
    assert officer.title == "Registration Officer"
