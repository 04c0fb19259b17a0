"""The registration officer pages' and printed documents' words, in Khmer and English.

One table for the officer pages (:mod:`api.routers.officer_pages`), the activation letter and the
receipt (:mod:`api.officer_letter`); the words every IdP page shares (site name, skip link,
footer, language switch) stay in :mod:`api.routers.idp_text` and are merged in by
:func:`officer_texts`. The English is the reference; the Khmer should be reviewed by the
Ministry's translators before production, like the rest of the pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from api.routers.idp_text import LANGUAGES, texts

__all__ = ["LANGUAGES", "OFFICER_TEXT", "officer_texts", "pair"]

_PAIRS: dict[str, tuple[str, str]] = {
    # access
    "forbidden": (
        "ទំព័រនេះសម្រាប់តែមន្ត្រីចុះឈ្មោះដែលមានសិទ្ធិប៉ុណ្ណោះ។",
        "These pages are for authorised registration officers only.",
    ),
    "csrf_failed": (
        "សំណើនេះមិនអាចផ្ទៀងផ្ទាត់បានទេ។ សូមបើកទំព័រម្តងទៀត ហើយព្យាយាមម្តងទៀត។",
        "This request could not be checked. Open the page again and retry.",
    ),
    "person_unknown": ("រកមិនឃើញបុគ្គលនេះទេ។", "This person was not found."),
    "letter_gone": (
        "សំបុត្រនេះលែងមានទៀតហើយ (វាត្រូវបានរក្សាទុក ៣០ នាទី)។ សូមចេញលេខកូដថ្មី។",
        "This letter is no longer available (it is kept for 30 minutes). Issue a new code.",
    ),
    "error_title": ("មានបញ្ហា", "Something went wrong"),
    "back": ("ត្រឡប់ទៅការស្វែងរក", "Back to the search"),
    # search
    "officer_title": ("ការិយាល័យចុះឈ្មោះ", "Registration office"),
    "search_heading": ("ស្វែងរកបុគ្គល", "Find a person"),
    "national_id": ("លេខអត្តសញ្ញាណប័ណ្ណ", "ID card number"),
    "national_id_hint": (
        "លេខដែលមាននៅលើអត្តសញ្ញាណប័ណ្ណ (មិនបង្ហាញក្នុងអាសយដ្ឋាន URL ទេ)",
        "The number on the identity card (never shown in an address)",
    ),
    "search": ("ស្វែងរក", "Search"),
    "not_found": (
        "គ្មានបុគ្គលណាមានលេខអត្តសញ្ញាណប័ណ្ណនេះក្នុងបញ្ជីទេ។ សូមពិនិត្យលេខម្តងទៀត។",
        "No person in the register has this ID card number. Check the number and try again.",
    ),
    "national_id_missing": ("សូមបញ្ចូលលេខអត្តសញ្ញាណប័ណ្ណ។", "Enter the ID card number."),
    "office": ("ការិយាល័យ", "Office"),
    "office_hint": (
        "ការិយាល័យដែលអ្នកកំពុងធ្វើការថ្ងៃនេះ (ឧ. ការិយាល័យច្រកចេញចូលតែមួយ ភ្នំពេញ)",
        "The office you work at today (e.g. Phnom Penh One Window office)",
    ),
    "office_invalid": (
        "សូមបញ្ចូលឈ្មោះការិយាល័យ (រហូតដល់ ២០០ តួអក្សរ គ្មានតួអក្សរបញ្ជា)។",
        "Enter the office name (up to 200 characters, no control characters).",
    ),
    "signed_in_as": ("មន្ត្រី", "Officer"),
    # person
    "person_title": ("បុគ្គល", "Person"),
    "name_km": ("ឈ្មោះ (ខ្មែរ)", "Name (Khmer)"),
    "name_latin": ("ឈ្មោះ (ឡាតាំង)", "Name (Latin)"),
    "birthdate": ("ថ្ងៃខែឆ្នាំកំណើត", "Date of birth"),
    "status": ("ស្ថានភាព", "Status"),
    "status_active": ("សកម្ម", "active"),
    "status_deceased": ("បានទទួលមរណភាព", "deceased"),
    # A certificate's status as the CA records it (ca.models.CertificateStatus), in words.
    "cert_status_good": ("មានសុពលភាព", "valid"),
    "cert_status_revoked": ("ត្រូវបានដកហូត", "revoked"),
    "cert_status_on_hold": ("ផ្អាកជាបណ្តោះអាសន្ន", "on hold"),
    "cert_status_expired": ("ផុតកំណត់", "expired"),
    "proofing_level": ("កម្រិតផ្ទៀងផ្ទាត់អត្តសញ្ញាណ", "Identity proofing level"),
    "level_none": ("មិនទាន់ផ្ទៀងផ្ទាត់", "not proven"),
    "level_low": ("ទាប", "low"),
    "level_substantial": ("គួរសម", "substantial"),
    "level_high": ("ខ្ពស់", "high"),
    "account": ("គណនី NatID", "NatID account"),
    "account_none": ("គ្មានគណនី", "no account"),
    "account_pending": ("រង់ចាំការបើកដំណើរការ", "waiting for activation"),
    "account_active": ("សកម្ម", "active"),
    "account_locked": ("ចាក់សោ", "locked"),
    "account_disabled": ("បិទ", "disabled"),
    "certificates": ("វិញ្ញាបនបត្រ", "Certificates"),
    "certificates_none": ("គ្មានវិញ្ញាបនបត្រ", "No certificates"),
    "serial": ("លេខស៊េរី", "Serial"),
    "profile": ("ប្រភេទ", "Kind"),
    "profile_citizen-auth": ("ការផ្ទៀងផ្ទាត់", "authentication"),
    "profile_citizen-sign": ("ហត្ថលេខា", "signature"),
    "valid_until": ("មានសុពលភាពរហូតដល់", "Valid until"),
    # proofing
    "proofing_heading": ("ផ្ទៀងផ្ទាត់អត្តសញ្ញាណដោយផ្ទាល់", "Prove identity in person"),
    "document_type": ("ឯកសារដែលបានពិនិត្យ", "Document checked"),
    "doc_national_id_card": ("អត្តសញ្ញាណប័ណ្ណ", "National ID card"),
    "doc_passport": ("លិខិតឆ្លងដែន", "Passport"),
    "doc_birth_certificate": ("សំបុត្រកំណើត", "Birth certificate"),
    "doc_family_book": ("សៀវភៅគ្រួសារ", "Family book"),
    "number_matches": (
        "លេខឯកសារត្រូវនឹងលេខក្នុងបញ្ជី",
        "The document number matches the register",
    ),
    "photo_compared": (
        "ខ្ញុំបានប្រៀបធៀបរូបថតជាមួយមុខរបស់បុគ្គលនោះ",
        "I compared the photo with the person's face",
    ),
    "proofing_submit": ("កត់ត្រាការផ្ទៀងផ្ទាត់", "Record the proofing"),
    "proofing_checks_missing": (
        "សូមពិនិត្យលេខឯកសារ និងរូបថត ហើយគូសប្រអប់ទាំងពីរ។",
        "Check the document number and the photo, and tick both boxes.",
    ),
    "document_invalid": ("សូមជ្រើសរើសឯកសារដែលបានពិនិត្យ។", "Choose the document you checked."),
    "proofing_refused": (
        "ការផ្ទៀងផ្ទាត់មិនអាចកត់ត្រាបានទេ (មន្ត្រីមិនអាចផ្ទៀងផ្ទាត់ខ្លួនឯង ឬបុគ្គលមិនសកម្ម)។",
        "The proofing cannot be recorded (an officer cannot prove their own identity, "
        "or the person is not active).",
    ),
    "proofing_done": (
        "បានកត់ត្រាការផ្ទៀងផ្ទាត់។ កម្រិតថ្មី៖ {level}",
        "Proofing recorded. New level: {level}",
    ),
    # enrolment
    "enrol_heading": ("ចុះឈ្មោះ និងសំបុត្របើកដំណើរការ", "Enrol and print the activation letter"),
    "enrol_intro": (
        "បង្កើតលេខកូដបើកដំណើរការថ្មី (លេខកូដចាស់ៗលែងប្រើបាន)។ លេខកូដបោះពុម្ពតែលើសំបុត្រប៉ុណ្ណោះ។",
        "Make a new activation code (earlier codes stop working). The code is printed on "
        "the letter only.",
    ),
    "enrol_submit": ("បង្កើតសំបុត្រ", "Make the letter"),
    "enrol_needs_high": (
        "សូមផ្ទៀងផ្ទាត់អត្តសញ្ញាណដោយផ្ទាល់ជាមុនសិន (កម្រិតខ្ពស់)។",
        "Prove the person's identity in person first (level high).",
    ),
    "enrol_refused": (
        "មិនអាចបង្កើតលេខកូដបើកដំណើរការសម្រាប់បុគ្គលនេះបានទេ។",
        "An activation code cannot be made for this person.",
    ),
    "letter_title": ("សំបុត្របើកដំណើរការ", "Activation letter"),
    "letter_ready": (
        "សំបុត្រត្រូវបានបង្កើត។ ទាញយក ហើយបោះពុម្ពវាឥឡូវនេះ៖ វាមានសម្រាប់តែអ្នក រយៈពេល ៣០ នាទី។",
        "The letter is ready. Download and print it now: it is available to you only, "
        "for 30 minutes.",
    ),
    "letter_download": ("ទាញយកសំបុត្រ (PDF)", "Download the letter (PDF)"),
    "letter_expires": ("លេខកូដផុតកំណត់", "The code expires"),
    "sms_sent": (
        "សារ SMS ត្រូវបានផ្ញើទៅលេខទូរស័ព្ទក្នុងបញ្ជី។",
        "An SMS was sent to the phone number in the register.",
    ),
    "sms_not_sent": (
        "គ្មានលេខទូរស័ព្ទក្នុងបញ្ជី៖ មិនបានផ្ញើ SMS ទេ។",
        "No phone number in the register: no SMS was sent.",
    ),
    "back_person": ("ត្រឡប់ទៅបុគ្គល", "Back to the person"),
    # certificates
    "certs_heading": ("ចេញវិញ្ញាបនបត្រ", "Issue certificates"),
    "cert_mode": ("កូនសោ", "Keys"),
    "cert_mode_server": (
        "កូនសោនៅលើម៉ាស៊ីនមេ សម្រាប់ហត្ថលេខាពីចម្ងាយ (ការផ្ទៀងផ្ទាត់ និងហត្ថលេខា)",
        "Keys kept on the server for remote signing (authentication and signature)",
    ),
    "cert_mode_csr": (
        "សំណើវិញ្ញាបនបត្រ (CSR) ពីឧបករណ៍របស់បុគ្គល",
        "A certificate request (CSR) from the person's device",
    ),
    "cert_profile": ("ប្រភេទវិញ្ញាបនបត្រ (សម្រាប់ CSR)", "Certificate kind (for a CSR)"),
    "csr_file": ("ឯកសារ CSR (PEM)", "CSR file (PEM)"),
    "csr_text": ("ឬបិទភ្ជាប់ CSR (PEM)", "Or paste the CSR (PEM)"),
    "certs_submit": ("ចេញវិញ្ញាបនបត្រ", "Issue"),
    "csr_missing": ("សូមផ្តល់ CSR ជាទម្រង់ PEM។", "Provide the CSR as PEM."),
    "certs_refused": (
        "មិនអាចចេញវិញ្ញាបនបត្របានទេ៖ {reason}",
        "The certificate could not be issued: {reason}",
    ),
    "certs_done": (
        "បានចេញវិញ្ញាបនបត្រ៖ {serials}",
        "Certificates issued: {serials}",
    ),
    # receipt, reset
    "receipt_heading": ("បង្កាន់ដៃ", "Receipt"),
    "receipt_link": ("បោះពុម្ពបង្កាន់ដៃថ្ងៃនេះ (PDF)", "Print today's receipt (PDF)"),
    "reset_heading": ("កំណត់គណនីឡើងវិញដោយផ្ទាល់", "Reset the account in person"),
    "reset_intro": (
        "លុបពាក្យសម្ងាត់ កម្មវិធីផ្ទៀងផ្ទាត់ passkey និងលេខកូដសង្គ្រោះ បញ្ចប់វគ្គទាំងអស់ ហើយបោះពុម្ពសំបុត្របើកដំណើរការថ្មី។",
        "Removes the password, authenticator app, passkeys and recovery codes, ends every "
        "session, and prints a new activation letter.",
    ),
    "reset_submit": ("កំណត់ឡើងវិញ", "Reset"),
    "reset_refused": (
        "មិនអាចកំណត់គណនីនេះឡើងវិញបានទេ។",
        "This account cannot be reset.",
    ),
    # printed documents
    "doc_letter_title": ("សំបុត្របើកដំណើរការគណនី NatID", "NatID account activation letter"),
    "doc_name": ("ឈ្មោះ", "Name"),
    "doc_code": ("លេខកូដបើកដំណើរការ", "Activation code"),
    "doc_expires": ("ផុតកំណត់", "Expires"),
    "doc_scan": (
        "ស្កេនកូដ QR ឬបើកអាសយដ្ឋាននេះ៖",
        "Scan the QR code or open this address:",
    ),
    "doc_step1": (
        "១. ស្កេនកូដ QR ដោយទូរស័ព្ទរបស់អ្នក ឬបើកអាសយដ្ឋានខាងក្រោម។",
        "1. Scan the QR code with your phone, or open the address below.",
    ),
    "doc_step2": (
        "២. បញ្ចូលលេខអត្តសញ្ញាណប័ណ្ណ និងលេខកូដបើកដំណើរការ។",
        "2. Enter your ID card number and the activation code.",
    ),
    "doc_step3": (
        "៣. ជ្រើសរើសពាក្យសម្ងាត់ និងជំហានទីពីរ (កម្មវិធីផ្ទៀងផ្ទាត់ ឬ passkey)។",
        "3. Choose a password and a second step (authenticator app or passkey).",
    ),
    "doc_warning": (
        "លេខកូដនេះប្រើបានតែម្តង។ កុំប្រាប់វាដល់នរណាម្នាក់ឡើយ៖ បុគ្គលិក NatID មិនដែលសួរវាទេ។",
        "The code works once. Never tell it to anyone: NatID staff never ask for it.",
    ),
    "doc_issued": ("ចេញដោយ", "Issued by"),
    "doc_receipt_title": ("បង្កាន់ដៃការិយាល័យចុះឈ្មោះ", "Registration office receipt"),
    "doc_date": ("កាលបរិច្ឆេទ", "Date"),
    "doc_done": ("អ្វីដែលបានធ្វើថ្ងៃនេះ", "Done today"),
    "doc_nothing": ("គ្មានសកម្មភាពថ្ងៃនេះទេ។", "Nothing was done today."),
    "doc_proofing": (
        "ការផ្ទៀងផ្ទាត់អត្តសញ្ញាណដោយផ្ទាល់ កម្រិត {level}",
        "Identity proven in person, level {level}",
    ),
    "doc_letter": (
        "សំបុត្របើកដំណើរការត្រូវបានចេញ (ផុតកំណត់ {date})",
        "Activation letter issued (expires {date})",
    ),
    "doc_reset": (
        "គណនីត្រូវបានកំណត់ឡើងវិញ ហើយសំបុត្រថ្មីត្រូវបានចេញ",
        "Account reset in person and a new letter issued",
    ),
    "doc_certificate": ("វិញ្ញាបនបត្រ {profile}", "Certificate {profile}"),
    "doc_keep": (
        "រក្សាបង្កាន់ដៃនេះទុក។ វាមិនមានលេខកូដ ឬពាក្យសម្ងាត់ណាមួយទេ។",
        "Keep this receipt. It holds no code and no password.",
    ),
}

OFFICER_TEXT: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        lang: MappingProxyType({key: pair[i] for key, pair in _PAIRS.items()})
        for i, lang in enumerate(LANGUAGES)
    }
)


def officer_texts(lang: str) -> Mapping[str, str]:
    """The IdP's shared words plus the officer words, in ``lang`` (Khmer for anything else)."""
    chosen = lang if lang in LANGUAGES else LANGUAGES[0]
    return {**texts(chosen), **OFFICER_TEXT[chosen]}


def pair(key: str) -> tuple[str, str]:
    """``(Khmer, English)`` of ``key``, for the bilingual printed documents."""
    return _PAIRS[key]
