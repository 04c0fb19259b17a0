"""The border verifier page's words, in Khmer and English (ARCHITECTURE.md, "Languages").

One table for the server-rendered labels and the messages the page's script shows (the script
gets the chosen language's half as JSON, so it never needs the network to explain a result).
Placeholders in braces (``{kid}``) are filled in by the script.

The Khmer wording was written for this page and should be reviewed by the Ministry's
translators before production (the English is the reference).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from api.routers.idp_account_text import ACCOUNT_TEXT

__all__ = ["LANGUAGES", "TEXT", "texts"]

LANGUAGES: Final = ("km", "en")

_PAIRS: dict[str, tuple[str, str]] = {
    # page
    "title": ("ពិនិត្យវិញ្ញាបនបត្រសុខភាព", "Health certificate check"),
    "subtitle": (
        "សម្រាប់មន្ត្រីព្រំដែន — ដំណើរការដោយគ្មានអ៊ីនធឺណិតក៏បាន",
        "For border officers — works offline once loaded",
    ),
    "language": ("ភាសា", "Language"),
    "scan": ("ស្កេនដោយកាមេរ៉ា", "Scan with the camera"),
    "stop": ("បិទកាមេរ៉ា", "Stop the camera"),
    "upload": ("រូបថត ឬរូបអេក្រង់នៃកូដ QR", "Photo or screenshot of the QR code"),
    "paste": (
        "ឬបិទភ្ជាប់អត្ថបទ HC1: (ម៉ាស៊ីនស្កេនដៃវាយបញ្ចូលនៅទីនេះ)",
        "Or paste the HC1: text (handheld scanners type it here)",
    ),
    "verify": ("ផ្ទៀងផ្ទាត់", "Verify"),
    "camera_hint": ("ដាក់កូដ QR នៅក្នុងស៊ុម", "Hold the QR code inside the frame"),
    "camera_error": ("មិនអាចបើកកាមេរ៉ាបានទេ", "The camera could not be opened"),
    "no_qr": ("រកមិនឃើញកូដ QR នៅក្នុងរូបភាពនេះទេ", "No QR code found in this picture"),
    "working": ("កំពុងផ្ទៀងផ្ទាត់…", "Checking…"),
    "lists": ("បញ្ជី", "Lists"),
    "refresh": ("ធ្វើបច្ចុប្បន្នភាពបញ្ជី", "Refresh the lists"),
    "online": ("មានអ៊ីនធឺណិត", "Online"),
    "offline": ("គ្មានអ៊ីនធឺណិត — ប្រើបញ្ជីដែលបានរក្សាទុក", "Offline — using the saved lists"),
    "trust_age": (
        "បញ្ជីអ្នកចុះហត្ថលេខា ({count}) ពី {when} ({age})",
        "Trust list: {count} signer(s), from {when} ({age})",
    ),
    "revocation_age": ("បញ្ជីដកហូតពី {when} ({age})", "Revocation list from {when} ({age})"),
    # Times in Cambodia time, labelled with the citizen and officer pages' words
    # (api/page_format.py).
    "local_time": (ACCOUNT_TEXT["km"]["local_time"], ACCOUNT_TEXT["en"]["local_time"]),
    "list_missing": ("មិនទាន់មានបញ្ជី", "not loaded yet"),
    "age_minutes": ("{n} នាទីមុន", "{n} min old"),
    "age_hours": ("{n} ម៉ោងមុន", "{n} h old"),
    "age_days": ("{n} ថ្ងៃមុន", "{n} days old"),
    "age_stale": ("ចាស់ — សូមធ្វើបច្ចុប្បន្នភាព", "old — please refresh"),
    # result
    "result": ("លទ្ធផល", "Result"),
    "valid": ("មានសុពលភាព", "VALID"),
    "invalid": ("គ្មានសុពលភាព", "NOT VALID"),
    "name": ("ឈ្មោះ", "Name"),
    "dob": ("ថ្ងៃខែឆ្នាំកំណើត", "Date of birth"),
    "compare": (
        "ប្រៀបធៀបឈ្មោះ និងថ្ងៃខែឆ្នាំកំណើតជាមួយលិខិតឆ្លងដែន",
        "Compare the name and date of birth with the passport",
    ),
    "holder_hidden": (
        "មិនបង្ហាញឈ្មោះ និងថ្ងៃខែឆ្នាំកំណើតទេ ព្រោះហត្ថលេខាមិនត្រឹមត្រូវ — ទិន្នន័យអាចជាការក្លែងបន្លំ",
        "Name and date of birth not shown: the signature did not verify, so they may be forged",
    ),
    "holder_signed_invalid": (
        "ឈ្មោះ និងថ្ងៃខែឆ្នាំកំណើតដូចដែលអ្នកចេញបានចុះហត្ថលេខា ប៉ុន្តែវិញ្ញាបនបត្រនេះគ្មានសុពលភាព",
        "Name and date of birth as signed by the issuer, but the certificate is NOT VALID",
    ),
    "kind_v": ("ការចាក់វ៉ាក់សាំង", "Vaccination"),
    "kind_t": ("តេស្ត", "Test"),
    "kind_r": ("ការជាសះស្បើយ", "Recovery"),
    "dose": ("ដូស", "Dose"),
    "date": ("កាលបរិច្ឆេទ", "Date"),
    "test_result": ("លទ្ធផលតេស្ត", "Test result"),
    # DCC value set covid-19-lab-result: 260415000, 260373001 (SNOMED CT)
    "test_not_detected": ("រកមិនឃើញ (អវិជ្ជមាន)", "Not detected"),
    "test_detected": ("រកឃើញ (វិជ្ជមាន)", "Detected"),
    "valid_until": ("មានសុពលភាពរហូតដល់", "Valid until"),
    "issuer": ("អ្នកចេញ", "Issuer"),
    "uvci": ("លេខសម្គាល់", "Certificate identifier"),
    "checks": ("ការត្រួតពិនិត្យ", "Checks"),
    "check_decode": ("ការអានកូដ", "Decoding"),
    "check_signature": ("ហត្ថលេខា", "Signature"),
    "check_expiry": ("សុពលភាព និងកាលបរិច្ឆេទ", "Dates and expiry"),
    "check_schema": ("ទម្រង់ទិន្នន័យ", "Data format"),
    "check_revocation": ("ការដកហូត", "Revocation"),
    "pass": ("ត្រឹមត្រូវ", "passed"),
    "fail": ("បរាជ័យ", "failed"),
    "skipped": ("មិនបានពិនិត្យ", "not checked"),
    "schema_local": (
        "ពិនិត្យតែវាលដែលចាំបាច់ (គ្មានអ៊ីនធឺណិត)",
        "required fields only, checked in this browser",
    ),
    "schema_server": (
        "ពិនិត្យពេញលេញតាមគ្រោងការណ៍ DCC ដោយម៉ាស៊ីនមេ",
        "full DCC JSON-schema check by the server",
    ),
    # reasons (codes of vaccine_cert.report.ReasonCode)
    "r_decode_failed": ("មិនអាចអានបាន ({stage})", "cannot be read ({stage}: {detail})"),
    "r_kid_missing": ("គ្មានលេខសម្គាល់កូនសោ (kid)", "no key identifier (kid)"),
    "r_kid_malformed": ("លេខសម្គាល់កូនសោមិនត្រឹមត្រូវ", "the key identifier (kid) is malformed"),
    "r_algorithm_unsupported": (
        "ក្បួនហត្ថលេខាមិនគាំទ្រ ({alg})",
        "signature algorithm {alg} is not supported",
    ),
    "r_signer_unknown": (
        "អ្នកចុះហត្ថលេខាមិនស្ថិតក្នុងបញ្ជីទុកចិត្ត (kid {kid})",
        "the signer is not in the trust list (kid {kid})",
    ),
    "r_signer_revoked": (
        "វិញ្ញាបនបត្ររបស់អ្នកចុះហត្ថលេខាត្រូវបានដកហូតនៅ {at} ({reason}) — "
        "វិញ្ញាបនបត្រដែលវាបានចុះហត្ថលេខាលែងមានសុពលភាពហើយ (kid {kid})",
        "the signer's certificate was revoked on {at} ({reason}) — the certificates it signed "
        "are no longer valid (kid {kid})",
    ),
    "r_signer_suspended": (
        "វិញ្ញាបនបត្ររបស់អ្នកចុះហត្ថលេខាត្រូវបានផ្អាកតាំងពី {at} — "
        "វិញ្ញាបនបត្រដែលវាបានចុះហត្ថលេខាមិនមានសុពលភាពក្នុងអំឡុងពេលនេះទេ (kid {kid})",
        "the signer's certificate is suspended since {at} — the certificates it signed are not "
        "valid meanwhile (kid {kid})",
    ),
    "r_signature_invalid": (
        "ហត្ថលេខាមិនត្រឹមត្រូវ — ទិន្នន័យត្រូវបានកែប្រែ ឬក្លែងបន្លំ (kid {kid})",
        "the signature does not match — the data was altered or forged (kid {kid})",
    ),
    "r_signer_not_authorised_for_type": (
        "អ្នកចុះហត្ថលេខាគ្មានសិទ្ធិចេញប្រភេទនេះ ({kinds})",
        "the signer may not sign this kind of certificate ({kinds})",
    ),
    "r_claim_missing": ("ខ្វះកាលបរិច្ឆេទ ({claim})", "a date is missing ({claim})"),
    "r_claim_invalid": ("កាលបរិច្ឆេទមិនអាចអានបាន ({claim})", "a date cannot be read ({claim})"),
    "r_not_yet_valid": ("មិនទាន់មានសុពលភាព (ចេញនៅ {at})", "not valid yet (issued {at})"),
    "r_expired": ("ផុតកំណត់នៅ {at}", "expired on {at}"),
    "r_signer_certificate_not_valid": (
        "វិញ្ញាបនបត្ររបស់អ្នកចុះហត្ថលេខាមិនមានសុពលភាព ({from} – {to})",
        "the signer's certificate is not valid now ({from} – {to})",
    ),
    "r_schema_invalid": ("ខ្វះ ឬខុសវាល {field}", "field {field} is missing or malformed"),
    "r_revoked": (
        "ត្រូវបានដកហូតដោយអ្នកចេញ (បញ្ជី {hashType})",
        "revoked by its issuer (listed by {hashType} hash)",
    ),
    "r_not_checked": (
        "មិនបានពិនិត្យ៖ គ្មានបញ្ជីដកហូត",
        "not checked: no revocation list is loaded",
    ),
}

#: key -> {"km": ..., "en": ...}
TEXT: Final = MappingProxyType({key: {"km": km, "en": en} for key, (km, en) in _PAIRS.items()})


def texts(lang: str) -> dict[str, str]:
    """Every text of the page in ``lang`` (``km`` or ``en``)."""
    index = LANGUAGES.index(lang)
    return {key: pair[index] for key, pair in _PAIRS.items()}
