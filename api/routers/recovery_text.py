"""Words of the recovery pages (``/recover``, ``/recover/code``, lost phone, recovery codes).

Given to the templates as ``r`` (the shared words stay ``t``, the account area's ``w``). The
English is the reference; the Khmer should be reviewed by the Ministry's translators.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["RECOVERY_TEXT", "recovery_texts"]

_PAIRS: dict[str, tuple[str, str]] = {
    "recover_title": ("ភ្លេចពាក្យសម្ងាត់", "Forgot your password"),
    "recover_intro": (
        "បញ្ចូលលេខអត្តសញ្ញាណប័ណ្ណរបស់អ្នក។ បើគណនីរបស់អ្នកមានលេខទូរស័ព្ទដែលបានចុះឈ្មោះ យើងនឹងផ្ញើកូដតាម SMS។",
        "Enter your ID card number. If your account has a registered phone number, we will"
        " send a code to it by SMS.",
    ),
    "identifier": ("លេខអត្តសញ្ញាណប័ណ្ណ", "ID card number"),
    "identifier_hint": ("ដូចមានលើប័ណ្ណ ឧ. 012345678", "As on the card, e.g. 012345678"),
    "send_code": ("ផ្ញើកូដ", "Send the code"),
    "code_title": ("បញ្ចូលកូដ និងពាក្យសម្ងាត់ថ្មី", "Enter the code and a new password"),
    "code_sent": (
        "បើលេខនេះមានគណនី និងលេខទូរស័ព្ទ យើងបានផ្ញើកូដ ៨ ខ្ទង់ទៅវា។ កូដមានសុពលភាព ១៥ នាទី។",
        "If this number has an account and a phone number, we sent an 8-digit code to it."
        " The code is valid for 15 minutes.",
    ),
    "code": ("កូដពី SMS", "Code from the SMS"),
    "code_hint": ("៨ ខ្ទង់", "8 digits"),
    "new_password": ("ពាក្យសម្ងាត់ថ្មី", "New password"),
    "new_password_hint": (
        "យ៉ាងតិច ១២ តួ។ ពាក្យបីបួនម៉ាត់ងាយចាំ និងពិបាកទាយ។",
        "At least 12 characters. Three or four words are easy to remember and hard to guess.",
    ),
    "reset_submit": ("ប្តូរពាក្យសម្ងាត់", "Change the password"),
    "reset_failed": (
        "លេខអត្តសញ្ញាណប័ណ្ណ ឬកូដមិនត្រឹមត្រូវ ឬកូដផុតកំណត់។",
        "The ID card number or the code is wrong, or the code expired.",
    ),
    "throttled": (
        "ព្យាយាមច្រើនដងពេក។ សូមរង់ចាំមួយម៉ោង ហើយព្យាយាមម្តងទៀត។",
        "Too many attempts. Please wait an hour and try again.",
    ),
    "weak_password": (
        "ពាក្យសម្ងាត់នេះខ្សោយពេក ឬមានព័ត៌មានផ្ទាល់ខ្លួន។ សូមជ្រើសពាក្យសម្ងាត់ផ្សេង។",
        "This password is too weak or contains your personal data. Please choose another.",
    ),
    "missing": ("សូមបំពេញគ្រប់ប្រអប់។", "Please fill in every field."),
    "ask_again": ("ផ្ញើកូដថ្មី", "Send a new code"),
    "no_phone": (
        "គ្មានទូរស័ព្ទ ឬបាត់ SMS? សូមយកអត្តសញ្ញាណប័ណ្ណទៅការិយាល័យច្រកចេញចូលតែមួយ ឬប៉ុស្តិ៍ ដើម្បីកំណត់គណនីឡើងវិញ។",
        "No phone, or no SMS? Bring your ID card to a One Window office or a post office"
        " to reset your account in person.",
    ),
    "reset_done": (
        "ពាក្យសម្ងាត់ត្រូវបានប្តូរ។ វគ្គផ្សេងទៀតទាំងអស់ត្រូវបានបញ្ចប់។ ដើម្បីប្រើសេវាកម្រិតគួរសម"
        " សូមចូលម្តងទៀតដោយកូដពីកម្មវិធីផ្ទៀងផ្ទាត់។",
        "Your password was changed and every other session was ended. For services at"
        " level substantial, log in again with a code from your authenticator app.",
    ),
    # lost phone
    "lost_title": ("ខ្ញុំបាត់ទូរស័ព្ទ", "I lost my phone"),
    "lost_intro": (
        "យើងនឹងដកកម្មវិធីផ្ទៀងផ្ទាត់ (TOTP) និងកូដសង្គ្រោះចេញ បញ្ចប់វគ្គផ្សេងៗទាំងអស់"
        " ហើយផ្ញើសារជូនដំណឹងទៅអ្នក។ បន្ទាប់មក អ្នកអាចរៀបចំកម្មវិធីថ្មីនៅលើទូរស័ព្ទថ្មី។",
        "We will remove your authenticator app (TOTP) and its recovery codes, end every other"
        " session, and send you a notice. You can then set up the app on a new phone.",
    ),
    "lost_passkeys": (
        "ដក passkey ដែលនៅលើទូរស័ព្ទបាត់ផងដែរ៖",
        "Also remove the passkeys that were on the lost phone:",
    ),
    "lost_submit": ("រាយការណ៍ថាទូរស័ព្ទបាត់", "Report the lost phone"),
    "lost_done": (
        "យើងបានដកកម្មវិធីផ្ទៀងផ្ទាត់ចេញ ហើយបញ្ចប់វគ្គផ្សេងៗ។",
        "The authenticator app was removed and your other sessions were ended.",
    ),
    "reauth_needed": (
        "សម្រាប់សកម្មភាពនេះ សូមចូលម្តងទៀត (ពាក្យសម្ងាត់ និងកូដសង្គ្រោះ ឬកូដពីកម្មវិធី)។",
        "For this, log in again (password, then a recovery code or an app code).",
    ),
    "reauth_link": ("ចូលម្តងទៀត", "Log in again"),
    # recovery codes
    "codes_title": ("កូដសង្គ្រោះថ្មី", "New recovery codes"),
    "codes_intro": (
        "កូដសង្គ្រោះជំនួសកូដពីកម្មវិធី ពេលអ្នកបាត់ទូរស័ព្ទ។ កូដថ្មីធ្វើឱ្យកូដចាស់ឈប់ដំណើរការ។",
        "Recovery codes stand in for an app code when your phone is lost. New codes make"
        " the old ones stop working.",
    ),
    "codes_submit": ("បង្កើតកូដថ្មី", "Make new codes"),
    "codes_need_totp": (
        "កូដសង្គ្រោះមកជាមួយកម្មវិធីផ្ទៀងផ្ទាត់។ សូមរៀបចំកម្មវិធីជាមុនសិន។",
        "Recovery codes come with the authenticator app. Set up the app first.",
    ),
    "back": ("ត្រឡប់ក្រោយ", "Back"),
}

RECOVERY_TEXT: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        lang: MappingProxyType({key: pair[index] for key, pair in _PAIRS.items()})
        for index, lang in enumerate(("km", "en"))
    }
)


def recovery_texts(lang: str) -> Mapping[str, str]:
    """The recovery pages' words in ``lang`` (Khmer for anything else)."""
    return RECOVERY_TEXT.get(lang, RECOVERY_TEXT["km"])
