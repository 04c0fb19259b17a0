"""The words of the citizen's KYC pages (bank requests, "who looked at my data"), Khmer and
English, with the names of attributes and purposes in plain language.

They are merged over the account area's words (:mod:`api.routers.idp_account_text`) as ``w``.
The English is the reference; the Khmer should be reviewed by the Ministry's translators
before production, like the rest of the pages' text.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["KYC_TEXT", "kyc_texts"]

_PAIRS: dict[str, tuple[str, str]] = {
    # bank requests
    "requests_intro": (
        "ធនាគារមួយបានស្នើសុំព័ត៌មានរបស់អ្នក ខណៈអ្នកនៅបញ្ជររបស់ពួកគេ។ "
        "សូមប្រាកដថាសារខាងក្រោមដូចគ្នានឹងសារដែលបុគ្គលិកធនាគារបង្ហាញអ្នក។",
        "A bank asked for your data while you are at its counter. Check that the message "
        "below is the same as the one the bank's staff shows you.",
    ),
    "requests_none": ("មិនមានសំណើកំពុងរង់ចាំទេ។", "No request is waiting for your answer."),
    "bank": ("ធនាគារ", "Bank"),
    "purpose": ("គោលបំណង", "Purpose"),
    "binding_message": ("សារផ្ទៀងផ្ទាត់", "Message to compare"),
    "attributes": ("ព័ត៌មានដែលស្នើសុំ", "Data asked for"),
    "optional": ("(ស្រេចចិត្ត)", "(optional)"),
    "required": ("(ចាំបាច់)", "(required)"),
    "expires_at": ("ផុតកំណត់នៅ", "Expires at"),
    "approve": ("យល់ព្រម ហើយផ្ញើព័ត៌មានដែលបានជ្រើស", "Approve and send the ticked data"),
    "deny": ("បដិសេធ", "Deny"),
    "approved": (
        "អ្នកបានយល់ព្រម។ ធនាគារនឹងទទួលបានព័ត៌មានដែលបានជ្រើស។",
        "You approved. The bank will receive the ticked data.",
    ),
    "denied": ("អ្នកបានបដិសេធ។ គ្មានព័ត៌មានណាមួយត្រូវបានផ្ញើទេ។", "You denied. Nothing was sent."),
    "gone": (
        "សំណើនេះលែងរង់ចាំចម្លើយទៀតហើយ (ផុតកំណត់ ឬបានឆ្លើយរួច)។",
        "This request is no longer waiting for an answer (expired or already answered).",
    ),
    # data access
    "access_intro": (
        "រាល់ពេលដែលធនាគារបានទទួល ឬផ្ទៀងផ្ទាត់ព័ត៌មានរបស់អ្នក ថ្មីបំផុតមុនគេ។",
        "Every time a bank received or checked your data, newest first.",
    ),
    "access_none": ("មិនទាន់មានធនាគារណាមើលទិន្នន័យរបស់អ្នកទេ។", "No bank has looked at your data."),
    "when": ("ពេលវេលា", "When"),
    "what": ("ព័ត៌មាន", "Data"),
    "kind": ("សកម្មភាព", "Action"),
    "kind_release": ("បានទទួលព័ត៌មាន", "Received the data"),
    "kind_match": ("បានផ្ទៀងផ្ទាត់ (បាទ/ទេ) តែប៉ុណ្ណោះ", "Checked it (yes/no only)"),
    "basis": ("មូលដ្ឋាន", "On what basis"),
    "basis_consent": ("ការយល់ព្រមរបស់អ្នក ផ្តល់នៅ {date}", "Your consent given on {date}"),
    "basis_consent_plain": ("ការយល់ព្រមរបស់អ្នក", "Your consent"),
    "basis_legal_basis": ("មូលដ្ឋានច្បាប់ (គ្មានការយល់ព្រម)", "Legal basis (no consent needed)"),
    "export": ("ទាញយក", "Download"),
    "newer": ("ថ្មីជាង", "Newer"),
    "older": ("ចាស់ជាង", "Older"),
    "page_n": ("ទំព័រ {n}", "Page {n}"),
    "unknown_bank": ("ធនាគារមិនស្គាល់", "Unknown bank"),
    # attributes
    "attr_name": ("ឈ្មោះពេញ (អក្សរឡាតាំង)", "Full name (Latin script)"),
    "attr_given_name": ("នាមខ្លួន (អក្សរឡាតាំង)", "Given name (Latin script)"),
    "attr_family_name": ("នាមត្រកូល (អក្សរឡាតាំង)", "Family name (Latin script)"),
    "attr_name#km": ("ឈ្មោះពេញ (អក្សរខ្មែរ)", "Full name (Khmer script)"),
    "attr_given_name#km": ("នាមខ្លួន (អក្សរខ្មែរ)", "Given name (Khmer script)"),
    "attr_family_name#km": ("នាមត្រកូល (អក្សរខ្មែរ)", "Family name (Khmer script)"),
    "attr_birthdate": ("ថ្ងៃខែឆ្នាំកំណើត", "Date of birth"),
    "attr_gender": ("ភេទ", "Gender"),
    "attr_nationalities": ("សញ្ជាតិ", "Nationality"),
    "attr_address": ("អាសយដ្ឋាន", "Address"),
    "attr_phone_number": ("លេខទូរស័ព្ទ", "Phone number"),
    "attr_email": ("អ៊ីមែល", "Email"),
    "attr_national_id_number": ("លេខអត្តសញ្ញាណប័ណ្ណ", "ID card number"),
    # purposes
    "purpose_account_opening": ("បើកគណនី", "Opening an account"),
    "purpose_loan": ("កម្ចី", "A loan"),
    "purpose_periodic_review": ("ការត្រួតពិនិត្យតាមកាលកំណត់", "A periodic review"),
}

KYC_TEXT: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "km": MappingProxyType({k: v[0] for k, v in _PAIRS.items()}),
        "en": MappingProxyType({k: v[1] for k, v in _PAIRS.items()}),
    }
)


def kyc_texts(lang: str) -> Mapping[str, str]:
    return KYC_TEXT.get(lang, KYC_TEXT["en"])
