"""Synthetic demo data for ``natid init``: citizens, companies, banks, ministries, servants.

Nothing here describes real people. Names are drawn at random from lists of common Khmer family
and given names (with their usual Latin transliterations) and combined; birthdates, addresses
and ID numbers are random. The data is DETERMINISTIC: :func:`generate_demo` with the same
seed and the same ``at`` returns the same records, ids included, so ``natid init`` can tell
that the demo data is already loaded (see ``EmbeddedRegister.load_demo``).

Reserved values, so demo records can never be mistaken for real ones:

* national ID numbers start with ``000``; issued Cambodian card numbers do not (the first
  digits encode the issuing office, and no office is numbered 000). This is an assumption of
  this project, documented here; production registers should refuse the prefix at enrolment;
* register numbers of demo legal entities start with ``DEMO-``;
* demo email addresses are under ``example.com`` (RFC 2606 §3); demo persons have no phone
  number, since any plausible Cambodian mobile number may belong to someone.

The content: :data:`CITIZENS` citizens born 1940-2008; :data:`COMPANIES` companies, of which
:data:`BANKS` are banks; the five ministries of :data:`MINISTRIES`, with
:data:`SERVANTS_PER_MINISTRY` civil servants each, chosen among the citizens. Each citizen has
one identity proofing record: civil servants ``high`` (in person), the others ``substantial``
(remote video), proven by registration officers of the Ministry of Interior.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from registry.records import AssuranceLevel, EvidenceType, ProofingMethod, Sex
from registry.schemas import CAMBODIA_TZ, EntityIn, PersonIn, ServantIn, validate_record

__all__ = [
    "BANKS",
    "CITIZENS",
    "COMPANIES",
    "DEMO_SEED",
    "MINISTRIES",
    "SERVANTS_PER_MINISTRY",
    "DemoData",
    "DemoProofing",
    "generate_demo",
]

DEMO_SEED = 855
CITIZENS = 1000
COMPANIES = 20
BANKS = 3
SERVANTS_PER_MINISTRY = 10

FAMILY_NAMES = (
    ("សុខ", "Sok"), ("ចាន់", "Chan"), ("ស៊ុន", "Sun"), ("លី", "Ly"), ("ហេង", "Heng"),
    ("គឹម", "Kim"), ("ជា", "Chea"), ("សៅ", "Sao"), ("ម៉ម", "Mom"), ("ឈឹម", "Chhim"),
    ("ស៊ឹម", "Sim"), ("ញឹម", "Nhim"), ("ស", "Sar"), ("ហ៊ុន", "Hun"), ("ទេព", "Tep"),
    ("ពេជ្រ", "Pich"), ("កែវ", "Keo"), ("ម៉ៅ", "Mao"), ("អ៊ុំ", "Um"), ("ប៉ែន", "Pen"),
    ("ឯក", "Ek"), ("ខៀវ", "Khieu"), ("នួន", "Nuon"), ("ព្រំ", "Prum"), ("អ៊ុក", "Ouk"),
    ("ស្រី", "Srey"), ("ទូច", "Touch"), ("យិន", "Yin"), ("យឹម", "Yim"), ("ម៉ាន់", "Man"),
    ("នៅ", "Nov"), ("ប៊ុន", "Bun"), ("ពៅ", "Pov"), ("រស់", "Ros"), ("សាយ", "Say"),
    ("ឆាយ", "Chhay"), ("ទិត្យ", "Tith"), ("តាំង", "Taing"), ("ឡុង", "Long"), ("វ៉ាន់", "Van"),
    ("មាស", "Meas"), ("ស្វាយ", "Svay"), ("ឌួង", "Duong"), ("អ៊ិន", "In"), ("ស៊ាង", "Seang"),
)  # fmt: skip
MALE_NAMES = (
    ("ដារ៉ា", "Dara"), ("វិចិត្រ", "Vichet"), ("សុវណ្ណ", "Sovann"), ("ពិសិដ្ឋ", "Piseth"),
    ("វណ្ណៈ", "Vannak"), ("បូរ៉ា", "Bora"), ("វិបុល", "Vibol"), ("សំណាង", "Samnang"),
    ("សុផល", "Sophal"), ("កុសល", "Kosal"), ("វុទ្ធី", "Vuthy"), ("ចំរើន", "Chamroeun"),
    ("ពិសាល", "Pisal"), ("ធារ៉ា", "Theara"), ("សុខា", "Sokha"), ("សម្បត្តិ", "Sambath"),
    ("រិទ្ធី", "Rithy"), ("វីរៈ", "Virak"), ("ណារិទ្ធ", "Narith"), ("មករា", "Makara"),
    ("វាសនា", "Veasna"), ("សុជាតិ", "Socheat"), ("ប៊ុនធឿន", "Bunthoeun"), ("ស៊ីថា", "Sitha"),
    ("ចាន់ថា", "Chantha"), ("ភក្តី", "Pheakdey"), ("សុភ័ក្ត្រ", "Sopheaktra"), ("រដ្ឋា", "Rotha"),
    ("វិសាល", "Visal"), ("ពន្លក", "Ponlok"), ("សុខុម", "Sokhom"), ("ឧត្តម", "Oudom"),
    ("កក្កដា", "Kakada"), ("សារិន", "Sarin"), ("សុធី", "Sothy"), ("ម៉េងលី", "Mengly"),
    ("វឌ្ឍនា", "Vathana"), ("រតនៈ", "Rathanak"), ("វិទូ", "Vitou"), ("សីហា", "Seyha"),
    ("សុវត្ថិ", "Sovath"), ("អរុណ", "Arun"),
)  # fmt: skip
FEMALE_NAMES = (
    ("ស្រីមុំ", "Sreymom"), ("ស្រីនាង", "Sreyneang"), ("ស្រីពៅ", "Sreypov"), ("សុភាព", "Sopheap"),
    ("ចាន់ធូ", "Chanthou"), ("ធីតា", "Thida"), ("មាលា", "Mealea"), ("បុប្ផា", "Bopha"),
    ("រស្មី", "Raksmey"), ("ស្រីលក្ខណ៍", "Sreyleak"), ("សុគន្ធា", "Sokunthea"), ("នារី", "Neary"),
    ("សុវណ្ណារី", "Sovannary"), ("ពិសី", "Pisey"), ("លក្ខិណា", "Leakhena"), ("ម៉ាលីស", "Malis"),
    ("កល្យាណ", "Kalyan"), ("ចរិយា", "Chariya"), ("ធារី", "Theary"), ("សុភី", "Sophy"),
    ("ចាន់ណា", "Channa"), ("ដាលីន", "Dalin"), ("រចនា", "Rachana"), ("និមល", "Nimol"),
    ("ចិន្តា", "Chenda"), ("សុភា", "Sophea"), ("កញ្ញា", "Kanha"), ("ឆវី", "Chhavy"),
    ("គន្ធា", "Kunthea"), ("សុម៉ាលី", "Somaly"), ("ស៊ីណា", "Sina"), ("ម៉ូលីកា", "Molika"),
    ("សុខលី", "Sokly"), ("ស្រីអូន", "Sreyoun"), ("ដាវី", "Davy"), ("ស្រីលីន", "Sreylin"),
    ("លីដា", "Lida"), ("រ៉ានី", "Rany"), ("វិច្ឆិកា", "Vichhika"), ("សុជាតា", "Socheata"),
)  # fmt: skip
PROVINCES = (
    ("ភ្នំពេញ", "Phnom Penh"), ("បន្ទាយមានជ័យ", "Banteay Meanchey"), ("បាត់ដំបង", "Battambang"),
    ("កំពង់ចាម", "Kampong Cham"), ("កំពង់ឆ្នាំង", "Kampong Chhnang"), ("កំពង់ស្ពឺ", "Kampong Speu"),
    ("កំពង់ធំ", "Kampong Thom"), ("កំពត", "Kampot"), ("កណ្ដាល", "Kandal"), ("កែប", "Kep"),
    ("កោះកុង", "Koh Kong"), ("ក្រចេះ", "Kratie"), ("មណ្ឌលគិរី", "Mondulkiri"),
    ("ឧត្តរមានជ័យ", "Oddar Meanchey"), ("ប៉ៃលិន", "Pailin"), ("ព្រះសីហនុ", "Preah Sihanouk"),
    ("ព្រះវិហារ", "Preah Vihear"), ("ព្រៃវែង", "Prey Veng"), ("ពោធិ៍សាត់", "Pursat"),
    ("រតនគិរី", "Ratanakiri"), ("សៀមរាប", "Siem Reap"), ("ស្ទឹងត្រែង", "Stung Treng"),
    ("ស្វាយរៀង", "Svay Rieng"), ("តាកែវ", "Takeo"), ("ត្បូងឃ្មុំ", "Tbong Khmum"),
)  # fmt: skip
#: (code, Khmer name, English name, units as (Khmer, English)).
MINISTRIES = (
    ("MOH", "ក្រសួងសុខាភិបាល", "Ministry of Health", (
        ("នាយកដ្ឋានសេវាមន្ទីរពេទ្យ", "Department of Hospital Services"),
        ("នាយកដ្ឋានប្រយុទ្ធនឹងជំងឺឆ្លង", "Department of Communicable Disease Control"),
        ("នាយកដ្ឋានផែនការ និងព័ត៌មានសុខាភិបាល", "Department of Planning and Health Information"),
    )),
    ("MOI", "ក្រសួងមហាផ្ទៃ", "Ministry of Interior", (
        ("អគ្គនាយកដ្ឋានអត្តសញ្ញាណកម្ម", "General Department of Identification"),
        ("នាយកដ្ឋានរដ្ឋបាល", "Department of Administration"),
        ("នាយកដ្ឋានរដ្ឋបាលមូលដ្ឋាន", "Department of Local Administration"),
    )),
    ("MEF", "ក្រសួងសេដ្ឋកិច្ច និងហិរញ្ញវត្ថុ", "Ministry of Economy and Finance", (
        ("អគ្គនាយកដ្ឋានពន្ធដារ", "General Department of Taxation"),
        ("អគ្គនាយកដ្ឋានគយ និងរដ្ឋាករ", "General Department of Customs and Excise"),
        ("នាយកដ្ឋានថវិកា", "Department of Budget"),
    )),
    ("MPTC", "ក្រសួងប្រៃសណីយ៍ និងទូរគមនាគមន៍", "Ministry of Post and Telecommunications", (
        ("នាយកដ្ឋានរដ្ឋាភិបាលឌីជីថល", "Department of Digital Government"),
        ("នាយកដ្ឋានគោលនយោបាយទូរគមនាគមន៍", "Department of Telecommunications Policy"),
        ("នាយកដ្ឋានសេវាប្រៃសណីយ៍", "Department of Postal Services"),
    )),
    ("MOEYS", "ក្រសួងអប់រំ យុវជន និងកីឡា", "Ministry of Education, Youth and Sport", (
        ("នាយកដ្ឋានអប់រំបឋមសិក្សា", "Department of Primary Education"),
        ("នាយកដ្ឋានឧត្តមសិក្សា", "Department of Higher Education"),
        ("នាយកដ្ឋានយុវជន", "Department of Youth"),
    )),
)  # fmt: skip
TITLES = (
    ("ប្រធាននាយកដ្ឋាន", "Director"), ("អនុប្រធាននាយកដ្ឋាន", "Deputy Director"),
    ("ប្រធានការិយាល័យ", "Chief of Office"), ("អនុប្រធានការិយាល័យ", "Deputy Chief of Office"),
    ("មន្ត្រី", "Officer"),
)  # fmt: skip
REGISTRATION_OFFICER = ("មន្ត្រីចុះបញ្ជី", "Registration Officer")
#: How many Ministry of Interior servants are registration officers (they prove the others).
REGISTRATION_OFFICERS = 3
BANK_NAMES = (
    ("ធនាគារសន្សំ ក្បាលស្ពាន ម.ក", "Kbal Spean Savings Bank Plc."),
    ("ធនាគារពាណិជ្ជ បូកគោ ម.ក", "Bokor Commercial Bank Plc."),
    ("ធនាគារ កោះកេរ ម.ក", "Koh Ker Trust Bank Plc."),
)
BUSINESSES = (
    ("ពាណិជ្ជកម្មស្រូវ", "Rice Trading"), ("ដឹកជញ្ជូន", "Logistics"), ("សំណង់", "Construction"),
    ("វាយនភណ្ឌ", "Textiles"), ("បច្ចេកវិទ្យា", "Technology"), ("ឱសថ", "Pharmaceuticals"),
    ("កសិឧស្សាហកម្ម", "Agro-Industry"), ("ថាមពល", "Energy"), ("ធានារ៉ាប់រង", "Insurance"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoProofing:
    person_id: str
    method: ProofingMethod
    level: AssuranceLevel
    evidence: EvidenceType
    office: str
    officer_id: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class DemoData:
    """One complete demo data set, validated by the same rules as any other input."""

    seed: int
    persons: tuple[PersonIn, ...]
    entities: tuple[EntityIn, ...]
    servants: tuple[ServantIn, ...]
    proofing: tuple[DemoProofing, ...]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _date_between(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randrange((last - first).days + 1))


def _persons(rng: random.Random, ids: random.Random, today: dt.date) -> list[PersonIn]:
    numbers = rng.sample(range(1, 1_000_000), CITIZENS)
    persons = []
    for number in numbers:
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        family_km, family_latin = rng.choice(FAMILY_NAMES)
        given_km, given_latin = rng.choice(MALE_NAMES if sex is Sex.MALE else FEMALE_NAMES)
        province_km, province_en = rng.choice(PROVINCES)
        house, street = rng.randint(1, 300), rng.randint(1, 600)
        if rng.random() < 0.5:
            address = f"ផ្ទះលេខ {house} ផ្លូវលេខ {street} {province_km}"
        else:
            address = f"No. {house}, Street {street}, {province_en}, Cambodia"
        email = None
        if rng.random() < 0.6:
            email = f"{family_latin}.{given_latin}.{number % 1000}@example.com".lower()
        record = {
            "id": _uuid(ids),
            "national_id": f"000{number:06d}",
            "family_name_km": family_km,
            "given_name_km": given_km,
            "family_name_latin": family_latin,
            "given_name_latin": given_latin,
            "birthdate": _date_between(rng, dt.date(1940, 1, 1), dt.date(2008, 12, 31)),
            "sex": sex,
            "address": address,
            "email": email,
        }
        persons.append(validate_record(PersonIn, record, today=today))
    return persons


def _entities(rng: random.Random, ids: random.Random, today: dt.date) -> list[EntityIn]:
    records: list[dict[str, object]] = [
        {"register_no": f"DEMO-MIN-{code}", "name_km": km, "name_en": en, "kind": "ministry"}
        for code, km, en, _units in MINISTRIES
    ]
    records += [
        {"register_no": f"DEMO-BANK-{i:02d}", "name_km": km, "name_en": en, "kind": "bank"}
        for i, (km, en) in enumerate(BANK_NAMES, start=1)
    ]
    pairs = [(p, b) for p in PROVINCES[1:] for b in BUSINESSES]
    for i, ((place_km, place_en), (trade_km, trade_en)) in enumerate(
        rng.sample(pairs, COMPANIES - BANKS), start=1
    ):
        records.append(
            {
                "register_no": f"DEMO-CO-{i:04d}",
                "name_km": f"ក្រុមហ៊ុន {trade_km} {place_km} ឯ.ក",
                "name_en": f"{place_en} {trade_en} Co., Ltd.",
                "kind": "company",
            }
        )
    return [validate_record(EntityIn, {"id": _uuid(ids), **r}, today=today) for r in records]


def generate_demo(seed: int = DEMO_SEED, *, at: dt.datetime) -> DemoData:
    """The demo data set for ``seed``; proofing times lie within two years before ``at``."""
    # A seeded PRNG on purpose: the data must be reproducible, and none of it is secret.
    rng = random.Random(f"natid-demo:{seed}")  # noqa: S311
    ids = random.Random(f"natid-demo-ids:{seed}")  # noqa: S311
    today = at.astimezone(CAMBODIA_TZ).date()
    persons = _persons(rng, ids, today)
    entities = _entities(rng, ids, today)
    ministries = entities[: len(MINISTRIES)]

    # Civil servants: adults of working age, each in one ministry.
    candidates = [p for p in persons if 1960 <= p.birthdate.year <= 2000]
    chosen = rng.sample(candidates, SERVANTS_PER_MINISTRY * len(MINISTRIES))
    servants: list[ServantIn] = []
    officers: list[tuple[str, str]] = []  # (servant id, person id) of registration officers
    for m, ((code, _km, _en, units), ministry) in enumerate(
        zip(MINISTRIES, ministries, strict=True)
    ):
        for n in range(SERVANTS_PER_MINISTRY):
            person = chosen[m * SERVANTS_PER_MINISTRY + n]
            registrar = code == "MOI" and n < REGISTRATION_OFFICERS
            unit_km, unit_en = units[0] if registrar else rng.choice(units)
            title_km, title_en = REGISTRATION_OFFICER if registrar else rng.choice(TITLES)
            record = {
                "id": _uuid(ids),
                "person_id": person.id,
                "ministry_id": ministry.id,
                "unit": unit_en,
                "unit_km": unit_km,
                "title": title_en,
                "title_km": title_km,
                "employee_number": f"{code}-{rng.randint(1, 99999):05d}-{n:02d}",
            }
            servant = validate_record(ServantIn, record, today=today)
            servants.append(servant)
            if registrar:
                officers.append((servant.id or "", person.id or ""))

    servant_persons = {s.person_id for s in servants}
    proofing = []
    for person in persons:
        assert person.id is not None
        # Nobody proves their own identity: pick among the other registration officers.
        officer = rng.choice([o for o, officer_person in officers if officer_person != person.id])
        when = at - dt.timedelta(days=rng.randint(1, 730), seconds=rng.randint(0, 86_399))
        if person.id in servant_persons:
            method, level = ProofingMethod.IN_PERSON, AssuranceLevel.HIGH
            office = f"One Window Office, {rng.choice(PROVINCES)[1]}"
        else:
            method, level = ProofingMethod.REMOTE_VIDEO, AssuranceLevel.SUBSTANTIAL
            office = "Remote video proofing, Phnom Penh"
        proofing.append(
            DemoProofing(
                person.id, method, level, EvidenceType.NATIONAL_ID_CARD, office, officer, when
            )
        )
    return DemoData(seed, tuple(persons), tuple(entities), tuple(servants), tuple(proofing))
