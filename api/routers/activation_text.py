"""The activation pages' words (``/activate`` ...), in Khmer and English.

The shared words (site name, language switch, footer, error page) come from
:mod:`api.routers.idp_text` as ``t``; these come as ``w``. The English is the reference; the
Khmer should be reviewed by the Ministry's translators before production, like the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["ACTIVATION_TEXT", "activation_texts", "password_reason_keys"]

_PAIRS: dict[str, tuple[str, str]] = {
    "steps": ("ជំហាន {n} នៃ ៣", "Step {n} of 3"),
    # /activate
    "activate_title": ("ធ្វើឱ្យគណនី NatID របស់អ្នកសកម្ម", "Activate your NatID account"),
    "activate_intro": (
        "វាយលេខអត្តសញ្ញាណប័ណ្ណ និងលេខកូដធ្វើឱ្យសកម្មពីលិខិតដែលមន្ត្រីបានប្រគល់ជូនអ្នក ឬពីសារ SMS។",
        "Type your ID card number and the activation code from the letter the officer gave"
        " you, or from the SMS.",
    ),
    "national_id": ("លេខអត្តសញ្ញាណប័ណ្ណ", "ID card number"),
    "national_id_hint": ("លេខ ៩ ខ្ទង់នៅលើអត្តសញ្ញាណប័ណ្ណរបស់អ្នក", "The 9 digits on your ID card"),
    "code": ("លេខកូដធ្វើឱ្យសកម្ម", "Activation code"),
    "code_hint": (
        "១០ តួអក្សរ ឧទាហរណ៍ 7KQ4-M2XD-9P (មិនចាំបាច់វាយសញ្ញា -)",
        "10 characters, for example 7KQ4-M2XD-9P (the dashes are optional)",
    ),
    "code_prefilled": (
        "លេខកូដត្រូវបានបំពេញពីកូដ QR នៃលិខិតរបស់អ្នក។",
        "The code was filled in from your letter's QR code.",
    ),
    "activate_submit": ("បន្ត", "Continue"),
    "activate_failed": (
        "លេខអត្តសញ្ញាណប័ណ្ណ ឬលេខកូដមិនត្រឹមត្រូវ ផុតកំណត់ ឬបានប្រើរួចហើយ។"
        " សូមពិនិត្យ ហើយព្យាយាមម្តងទៀត។ ប្រសិនបើលេខកូដផុតកំណត់ សូមទៅការិយាល័យចុះឈ្មោះ"
        " ដើម្បីទទួលលេខកូដថ្មី។",
        "The ID card number or the activation code is wrong, expired or already used."
        " Check them and try again. If your code has expired, a registration office can give"
        " you a new one.",
    ),
    "fields_missing": (
        "សូមបំពេញលេខអត្តសញ្ញាណប័ណ្ណ និងលេខកូដ។",
        "Please fill in the ID card number and the code.",
    ),
    "no_code_help": (
        "មិនទាន់មានលេខកូដ? ទៅការិយាល័យច្រកចេញចូលតែមួយ ឬប៉ុស្តិ៍ជាមួយអត្តសញ្ញាណប័ណ្ណរបស់អ្នក។",
        "No code yet? Go to a One Window office or a post office with your ID card.",
    ),
    "flow_expired": (
        "ការធ្វើឱ្យសកម្មនេះចំណាយពេលយូរពេក។ សូមចាប់ផ្តើមម្តងទៀត។"
        " ប្រសិនបើលេខកូដរបស់អ្នកត្រូវបានប្រើរួចហើយ សូមទៅការិយាល័យចុះឈ្មោះ។",
        "This activation took too long; please start again. If your code was already used,"
        " a registration office can give you a new one.",
    ),
    # /activate/password
    "password_title": ("ជ្រើសពាក្យសម្ងាត់", "Choose a password"),
    "password_intro": (
        "ប្រើយ៉ាងហោចណាស់ ១០ តួអក្សរ។ ពាក្យច្រើនដែលងាយចងចាំគឺល្អ។"
        " កុំប្រើឈ្មោះ ថ្ងៃខែឆ្នាំកំណើត ឬលេខអត្តសញ្ញាណប័ណ្ណរបស់អ្នក។",
        "Use at least 10 characters; a few words you can remember make a good one."
        " Do not use your name, your date of birth or your ID card number.",
    ),
    "new_password": ("ពាក្យសម្ងាត់ថ្មី", "New password"),
    "repeat_password": ("វាយពាក្យសម្ងាត់ម្តងទៀត", "Type the password again"),
    "password_submit": ("រក្សាទុកពាក្យសម្ងាត់", "Save the password"),
    "password_mismatch": (
        "ពាក្យសម្ងាត់ទាំងពីរមិនដូចគ្នាទេ។",
        "The two passwords are not the same.",
    ),
    "password_missing": ("សូមវាយពាក្យសម្ងាត់ពីរដង។", "Please type the password twice."),
    "password_weak": ("ពាក្យសម្ងាត់នេះមិនអាចទទួលយកបានទេ៖", "This password cannot be used:"),
    "pw_short": ("វាខ្លីពេក (យ៉ាងហោចណាស់ ១០ តួអក្សរ)។", "it is too short (at least 10 characters)."),
    "pw_long": ("វាវែងពេក។", "it is too long."),
    "pw_common": ("វាជាពាក្យសម្ងាត់ទូទៅពេក។", "it is one of the most common passwords."),
    "pw_easy": ("វាងាយទាយពេក។", "it is too easy to guess."),
    "pw_national_id": (
        "វាមានលេខអត្តសញ្ញាណប័ណ្ណរបស់អ្នក។",
        "it contains your ID card number.",
    ),
    "pw_birthdate": ("វាមានថ្ងៃខែឆ្នាំកំណើតរបស់អ្នក។", "it contains your date of birth."),
    "pw_name": ("វាជាឈ្មោះរបស់អ្នក។", "it is your name."),
    "pw_other": ("វាមានតួអក្សរដែលមិនអនុញ្ញាត។", "it has characters that are not allowed."),
    # /activate/second-factor
    "second_title": ("ការពារគណនីរបស់អ្នកដោយទូរស័ព្ទ", "Protect your account with your phone"),
    "second_intro": (
        "ពេលចូលប្រើ អ្នកនឹងវាយលេខកូដ ៦ ខ្ទង់ពីកម្មវិធីផ្ទៀងផ្ទាត់ (ឧ. Google Authenticator"
        " ឬ Microsoft Authenticator) បន្ថែមលើពាក្យសម្ងាត់។",
        "When you log in, you will type a 6-digit code from an authenticator app (for example"
        " Google Authenticator or Microsoft Authenticator) as well as your password.",
    ),
    "second_scan": (
        "ស្កេនកូដ QR នេះដោយកម្មវិធីផ្ទៀងផ្ទាត់ ឬវាយលេខកូដសម្ងាត់ខាងក្រោមដោយដៃ។",
        "Scan this QR code with the authenticator app, or type the secret below into it.",
    ),
    "second_secret": ("លេខកូដសម្ងាត់", "Secret"),
    "second_code": ("លេខកូដ ៦ ខ្ទង់ដែលកម្មវិធីបង្ហាញ", "The 6-digit code the app shows"),
    "second_submit": ("បញ្ជាក់", "Confirm"),
    "second_mismatch": (
        "លេខកូដមិនត្រូវគ្នាទេ។ ពិនិត្យម៉ោងទូរស័ព្ទ ហើយវាយលេខកូដបច្ចុប្បន្ន។",
        "The code does not match. Check the phone's clock and type the current code.",
    ),
    "second_expired": (
        "ការចុះឈ្មោះនេះផុតកំណត់។ សូមស្កេនកូដ QR ថ្មី។",
        "This enrolment expired. Please scan a new QR code.",
    ),
    "second_new_qr": ("បង្ហាញកូដ QR ថ្មី", "Show a new QR code"),
    "passkey_heading": ("ឬប្រើ Passkey", "Or use a passkey"),
    "passkey_intro": (
        "ប្រសិនបើទូរស័ព្ទរបស់អ្នកគាំទ្រ Passkey (ស្នាមម្រាមដៃ ឬមុខ) អ្នកអាចចុះឈ្មោះវានៅទំព័រ"
        " សុវត្ថិភាពគណនី។ ទំព័រនោះត្រូវការ JavaScript ។",
        "If your phone supports passkeys (fingerprint or face), you can register one on the"
        " account security page. That page needs JavaScript.",
    ),
    "passkey_submit": ("ចុះឈ្មោះ Passkey ជំនួសវិញ", "Register a passkey instead"),
    # recovery codes and done
    "codes_title": ("លេខកូដសង្គ្រោះរបស់អ្នក", "Your recovery codes"),
    "codes_intro": (
        "សរសេរលេខកូដទាំងនេះ ហើយទុកនៅកន្លែងមានសុវត្ថិភាព។ ប្រសិនបើអ្នកបាត់ទូរស័ព្ទ"
        " លេខកូដនីមួយៗអាចប្រើជំនួសលេខកូដ ៦ ខ្ទង់បានម្តង។ វានឹងមិនបង្ហាញម្តងទៀតទេ។",
        "Write these codes down and keep them somewhere safe. If you lose your phone, each"
        " code can be used once instead of the 6-digit code. They will not be shown again.",
    ),
    "codes_continue": ("ខ្ញុំបានសរសេរវាហើយ", "I have written them down"),
    "done_title": ("គណនីរបស់អ្នករួចរាល់ហើយ", "Your account is ready"),
    "done_intro": (
        "អ្នកបានចូលប្រើហើយ។ ចាប់ពីពេលនេះ ចូលប្រើដោយលេខអត្តសញ្ញាណប័ណ្ណ ពាក្យសម្ងាត់ និងលេខកូដពីកម្មវិធីផ្ទៀងផ្ទាត់។",
        "You are logged in. From now on, log in with your ID card number, your password and"
        " the code from your authenticator app.",
    ),
    "done_level": ("កម្រិតធានា៖ {level}", "Level of assurance: {level}"),
    "level_low": ("ទាប", "low"),
    "level_substantial": ("គួរសម", "substantial"),
    "level_high": ("ខ្ពស់", "high"),
    "done_account": ("ទៅគណនីរបស់ខ្ញុំ", "Go to my account"),
}

ACTIVATION_TEXT: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        lang: MappingProxyType({key: pair[index] for key, pair in _PAIRS.items()})
        for index, lang in enumerate(("km", "en"))
    }
)

# Each password-policy reason of idp.passwords.check_policy (English, for developers) mapped to
# the key of its words here; matched on a fragment so the reason's exact numbers do not matter.
_REASONS = (
    ("at least", "pw_short"),
    ("at most", "pw_long"),
    ("most common", "pw_common"),
    ("repeated", "pw_easy"),
    ("sequence", "pw_easy"),
    ("ID card number", "pw_national_id"),
    ("date of birth", "pw_birthdate"),
    ("your name", "pw_name"),
)


def activation_texts(lang: str) -> Mapping[str, str]:
    """The activation pages' words in ``lang`` (Khmer for anything else)."""
    return ACTIVATION_TEXT.get(lang, ACTIVATION_TEXT["km"])


def password_reason_keys(reasons: tuple[str, ...]) -> list[str]:
    """The text keys for the reasons a password was refused (each key once, in order)."""
    keys: list[str] = []
    for reason in reasons:
        key = next((k for fragment, k in _REASONS if fragment in reason), "pw_other")
        if key not in keys:
            keys.append(key)
    return keys
