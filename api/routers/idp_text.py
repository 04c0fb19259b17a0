"""The IdP pages' words, in Khmer and English (ARCHITECTURE.md, "Languages").

One table for every string the login, second-factor, consent, logout and error pages show,
plus the plain-words descriptions of scopes and claims the consent page lists. Placeholders in
braces (``{client}``, ``{seconds}``) are filled in by the templates.

The Khmer wording was written for these pages and should be reviewed by the Ministry's
translators before production (the English is the reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["CLAIM_TEXT", "LANGUAGES", "SCOPE_TEXT", "TEXT", "claim_words", "scope_words", "texts"]

LANGUAGES: Final = ("km", "en")

_PAIRS: dict[str, tuple[str, str]] = {
    # every page
    "site": ("អត្តសញ្ញាណឌីជីថលជាតិ NatID", "NatID national digital identity"),
    "skip": ("រំលងទៅខ្លឹមសារ", "Skip to main content"),
    "language": ("ភាសា", "Language"),
    "footer": (
        "កុំប្រាប់ពាក្យសម្ងាត់ ឬលេខកូដរបស់អ្នកដល់នរណាម្នាក់ឡើយ។",
        "Never tell anyone your password or your codes.",
    ),
    # login
    "login_title": ("ចូលប្រើ", "Log in"),
    "login_to": ("ចូលប្រើ {client}", "Log in to {client}"),
    "login_intro": (
        "ប្រើលេខអត្តសញ្ញាណប័ណ្ណ និងពាក្យសម្ងាត់ NatID របស់អ្នក។",
        "Use your ID card number and your NatID password.",
    ),
    "identifier": ("លេខអត្តសញ្ញាណប័ណ្ណ", "ID card number"),
    "identifier_hint": (
        "លេខដែលមាននៅលើអត្តសញ្ញាណប័ណ្ណសញ្ជាតិខ្មែររបស់អ្នក",
        "The number printed on your Khmer identity card",
    ),
    "password": ("ពាក្យសម្ងាត់", "Password"),
    "login_submit": ("ចូលប្រើ", "Log in"),
    "login_failed": (
        "លេខអត្តសញ្ញាណប័ណ្ណ ឬពាក្យសម្ងាត់មិនត្រឹមត្រូវ។",
        "The ID card number or the password is wrong.",
    ),
    "login_throttled": (
        "ការព្យាយាមច្រើនដងពេក។ សូមរង់ចាំ {seconds} វិនាទី ហើយព្យាយាមម្តងទៀត។",
        "Too many attempts. Wait {seconds} seconds, then try again.",
    ),
    "account_not_active": (
        "គណនីនេះមិនអាចចូលប្រើបានទេនៅពេលនេះ។ សូមទាក់ទងការិយាល័យចុះឈ្មោះ។",
        "This account cannot log in now. Please contact a registration office.",
    ),
    "fields_missing": (
        "សូមបំពេញលេខអត្តសញ្ញាណប័ណ្ណ និងពាក្យសម្ងាត់។",
        "Please fill in the ID card number and the password.",
    ),
    "other_ways": ("វិធីផ្សេងទៀតដើម្បីចូលប្រើ", "Other ways to log in"),
    "with_passkey": ("ចូលប្រើដោយ passkey", "Log in with a passkey"),
    "with_certificate": (
        "ចូលប្រើដោយវិញ្ញាបនបត្រ NatID (កម្រិតខ្ពស់)",
        "Log in with a NatID certificate (level high)",
    ),
    "forgot_password": ("ភ្លេចពាក្យសម្ងាត់?", "Forgot your password?"),
    "needs_high": (
        "ទំព័រនេះត្រូវការកម្រិតខ្ពស់៖ សូមចូលប្រើដោយវិញ្ញាបនបត្រ NatID ឬ passkey ដែលបានចុះឈ្មោះនៅការិយាល័យ។",
        "This page needs level high: log in with your NatID certificate or with a passkey"
        " registered at an office.",
    ),
    # second factor
    "second_title": ("ជំហានទីពីរ", "Second step"),
    "second_intro": (
        "បញ្ចូលលេខកូដ ៦ ខ្ទង់ពីកម្មវិធីផ្ទៀងផ្ទាត់របស់អ្នក ឬលេខកូដសង្គ្រោះមួយ។",
        "Enter the 6-digit code from your authenticator app, or one of your recovery codes.",
    ),
    "code": ("លេខកូដ", "Code"),
    "second_submit": ("បន្ត", "Continue"),
    "code_wrong": ("លេខកូដមិនត្រឹមត្រូវ។", "The code is wrong."),
    "login_expired": (
        "ការចូលប្រើយូរពេក។ សូមចាប់ផ្តើមម្តងទៀត។",
        "The login took too long. Please start again.",
    ),
    "start_again": ("ចាប់ផ្តើមម្តងទៀត", "Start again"),
    # consent
    "consent_title": ("ចែករំលែកព័ត៌មានរបស់អ្នក?", "Share your information?"),
    "consent_intro": ("{client} សុំ៖", "{client} asks for:"),
    "consent_required": ("ចាំបាច់", "required"),
    "consent_optional_hint": (
        "អ្នកអាចដកធីកអ្វីដែលអ្នកមិនចង់ចែករំលែក។",
        "You may untick anything you do not want to share.",
    ),
    "consent_later": (
        "អ្នកអាចដកការយល់ព្រមនេះវិញនៅពេលណាក៏បាន នៅទំព័រគណនីរបស់អ្នក។",
        "You can withdraw this at any time on your account page.",
    ),
    "allow": ("អនុញ្ញាត", "Allow"),
    "deny": ("មិនអនុញ្ញាត", "Deny"),
    # logout
    "logout_title": ("ចាកចេញ", "Log out"),
    "logout_question": ("តើអ្នកចង់ចាកចេញពី NatID ឬ?", "Do you want to log out of NatID?"),
    "logout_from": (
        "{client} សុំឱ្យអ្នកចាកចេញ។",
        "{client} asks you to log out.",
    ),
    "logout_effect": (
        "អ្នកនឹងចាកចេញពីគេហទំព័រទាំងអស់ដែលអ្នកបានចូលប្រើតាម NatID នៅក្នុងកម្មវិធីរុករកនេះ។",
        "You will be logged out of every site you entered through NatID in this browser.",
    ),
    "logout_submit": ("ចាកចេញ", "Log out"),
    "logout_cancel": ("នៅតែចូលប្រើ", "Stay logged in"),
    "logged_out_title": ("អ្នកបានចាកចេញហើយ", "You are logged out"),
    "logged_out_text": (
        "អ្នកអាចបិទផ្ទាំងនេះ ឬចូលប្រើម្តងទៀត។",
        "You may close this tab or log in again.",
    ),
    "login_again": ("ចូលប្រើម្តងទៀត", "Log in again"),
    # errors
    "error_title": ("មានបញ្ហា", "Something went wrong"),
    "csrf_failed": (
        "ទម្រង់នេះផុតកំណត់ ឬត្រូវបានផ្ញើពីគេហទំព័រផ្សេង។ សូមត្រឡប់ក្រោយ ផ្ទុកទំព័រឡើងវិញ ហើយព្យាយាមម្តងទៀត។",
        "This form has expired or was sent from another site. "
        "Go back, reload the page and try again.",
    ),
    "pending_unknown": (
        "សំណើចូលប្រើនេះផុតកំណត់ ឬមិនស្គាល់។ សូមត្រឡប់ទៅគេហទំព័រ ហើយចាប់ផ្តើមម្តងទៀត។",
        "This login request has expired or is unknown. Go back to the site and start again.",
    ),
    "not_logged_in": (
        "អ្នកមិនទាន់បានចូលប្រើទេ។",
        "You are not logged in.",
    ),
    "bad_request": ("សំណើមិនត្រឹមត្រូវ។", "The request is not valid."),
    # errors of the authorization endpoint (shown when the client cannot be sent an error)
    "invalid_request": (
        "គេហទំព័រដែលបញ្ជូនអ្នកមកទីនេះ បានផ្ញើសំណើមិនត្រឹមត្រូវ។ សូមត្រឡប់ទៅគេហទំព័រនោះ ហើយព្យាយាមម្តងទៀត។",
        "The site that sent you here made a request that is not valid. "
        "Go back to that site and try again.",
    ),
    "invalid_request_uri": (
        "សំណើចូលប្រើនេះបានប្រើរួចហើយ ឬផុតកំណត់។ សូមត្រឡប់ទៅគេហទំព័រ ហើយចាប់ផ្តើមម្តងទៀត។",
        "This login request was already used or has expired. Go back to the site and start again.",
    ),
    "invalid_client": (
        "គេហទំព័រនេះមិនបានចុះឈ្មោះជាមួយ NatID ទេ។",
        "This site is not registered with NatID.",
    ),
    "invalid_redirect_uri": (
        "អាសយដ្ឋានត្រឡប់របស់គេហទំព័រនេះមិនបានចុះឈ្មោះទេ ដូច្នេះ NatID មិនបញ្ជូនអ្នកទៅទីនោះទេ។",
        "The return address this site gave is not registered, so NatID will not send you there.",
    ),
    "not_found": ("រកមិនឃើញទំព័រនេះទេ។", "This page does not exist."),
    "method_not_allowed": (
        "ទំព័រនេះមិនអាចបើកដោយផ្ទាល់បានទេ។ សូមត្រឡប់ទៅទំព័រមុន ហើយប្រើប៊ូតុងនៅលើទំព័រនោះ។",
        "This page cannot be opened directly. Go back to the previous page and use its button.",
    ),
    "server_error": (
        "មានបញ្ហានៅលើម៉ាស៊ីនមេ។ សូមព្យាយាមម្តងទៀតនៅពេលក្រោយ។",
        "The server had a problem. Please try again later.",
    ),
    "service_unavailable": (
        "NatID មិនអាចបញ្ចប់សំណើនេះបានទេនៅពេលនេះ។ សូមព្យាយាមម្តងទៀតក្នុងរយៈពេលប៉ុន្មាននាទីទៀត។",
        "NatID cannot complete this request right now. Please try again in a few minutes.",
    ),
    "error_reference": (
        "ប្រសិនបើអ្នកទាក់ទងផ្នែកជំនួយ សូមប្រាប់លេខយោងនេះ៖",
        "If you contact the help desk, give them this reference:",
    ),
    "back_home": ("ទៅគណនីរបស់ខ្ញុំ", "Go to my account"),
    "back_officer": ("ទៅស្វែងរកបុគ្គល", "Go to Find a person"),
}

#: What each scope lets a site see, in plain words.
_SCOPES: dict[str, tuple[str, str]] = {
    "openid": (
        "លេខសម្គាល់ NatID របស់អ្នកសម្រាប់គេហទំព័រនេះ (មិនមែនលេខអត្តសញ្ញាណប័ណ្ណទេ)",
        "Your NatID identifier for this site (not your ID card number)",
    ),
    "profile": (
        "ឈ្មោះរបស់អ្នក (ខ្មែរ និងឡាតាំង) ថ្ងៃខែឆ្នាំកំណើត និងភេទ",
        "Your name (in Khmer and Latin letters), date of birth and sex",
    ),
    "email": ("អាសយដ្ឋានអ៊ីមែលរបស់អ្នក", "Your email address"),
    "phone": ("លេខទូរស័ព្ទរបស់អ្នក", "Your phone number"),
    "address": ("អាសយដ្ឋានរបស់អ្នក", "Your home address"),
    "offline_access": (
        "បន្តភ្ជាប់ ទោះបីអ្នកមិនកំពុងប្រើគេហទំព័រក៏ដោយ",
        "Keep access while you are not using the site",
    ),
    "civil_servant": (
        "ក្រសួង អង្គភាព និងមុខតំណែងរបស់អ្នកជាមន្ត្រីរាជការ",
        "Your ministry, unit and title as a civil servant",
    ),
    # KYC for banks (kyc/policy.py): what the bank receives, and why.
    "kyc": (
        "ព័ត៌មានអត្តសញ្ញាណដែលបានផ្ទៀងផ្ទាត់របស់អ្នក ដែលធនាគារនេះត្រូវការ ព្រមទាំងរបៀបដែលវាត្រូវបានផ្ទៀងផ្ទាត់",
        "Your verified identity details this bank needs, and how they were verified",
    ),
    "kyc:purpose:account_opening": (
        "គោលបំណង៖ បើកគណនីធនាគារ",
        "Purpose: opening a bank account",
    ),
    "kyc:purpose:loan": ("គោលបំណង៖ ពាក្យស្នើសុំប្រាក់កម្ចី", "Purpose: a loan application"),
    "kyc:purpose:periodic_review": (
        "គោលបំណង៖ ការត្រួតពិនិត្យអតិថិជនតាមកាលកំណត់",
        "Purpose: the bank's periodic customer review",
    ),
    "kyc:national_id_number": ("លេខអត្តសញ្ញាណប័ណ្ណរបស់អ្នក", "Your ID card number"),
    "kyc:nationalities": ("សញ្ជាតិរបស់អ្នក", "Your nationality"),
}

#: What each claim is, in plain words (``#km`` variants are named as "in Khmer script").
_CLAIMS: dict[str, tuple[str, str]] = {
    "name": ("ឈ្មោះពេញ", "Full name"),
    "given_name": ("នាមខ្លួន", "Given name"),
    "family_name": ("នាមត្រកូល", "Family name"),
    "birthdate": ("ថ្ងៃខែឆ្នាំកំណើត", "Date of birth"),
    "gender": ("ភេទ", "Sex"),
    "zoneinfo": ("ល្វែងម៉ោង", "Time zone"),
    "updated_at": ("ពេលព័ត៌មានត្រូវបានកែប្រែចុងក្រោយ", "When your details last changed"),
    "email": ("អ៊ីមែល", "Email address"),
    "email_verified": ("ថាតើអ៊ីមែលត្រូវបានផ្ទៀងផ្ទាត់", "Whether the email address is verified"),
    "phone_number": ("លេខទូរស័ព្ទ", "Phone number"),
    "phone_number_verified": (
        "ថាតើលេខទូរស័ព្ទត្រូវបានផ្ទៀងផ្ទាត់",
        "Whether the phone number is verified",
    ),
    "address": ("អាសយដ្ឋាន", "Address"),
    "natid:ministry": ("ក្រសួង", "Ministry"),
    "natid:ministry_id": ("លេខសម្គាល់ក្រសួង", "Ministry identifier"),
    "natid:unit": ("អង្គភាព", "Unit"),
    "natid:title": ("មុខតំណែង", "Title"),
    "roles": ("តួនាទីក្នុង NatID", "Roles in NatID"),
    "in_khmer": ("{name} (អក្សរខ្មែរ)", "{name} (in Khmer script)"),
}


def _table(pairs: Mapping[str, tuple[str, str]]) -> dict[str, Mapping[str, str]]:
    return {
        code: MappingProxyType({key: pair[i] for key, pair in pairs.items()})
        for i, code in enumerate(LANGUAGES)
    }


TEXT: Final = MappingProxyType(_table(_PAIRS))
SCOPE_TEXT: Final = MappingProxyType(_table(_SCOPES))
CLAIM_TEXT: Final = MappingProxyType(_table(_CLAIMS))


def texts(lang: str) -> Mapping[str, str]:
    """The pages' words in ``lang`` (Khmer for anything unsupported)."""
    return TEXT.get(lang, TEXT[LANGUAGES[0]])


def scope_words(scope: str, lang: str) -> str:
    """A scope in plain words; an unknown scope is shown by its name."""
    return SCOPE_TEXT.get(lang, SCOPE_TEXT[LANGUAGES[0]]).get(scope, scope)


def claim_words(claim: str, lang: str) -> str:
    """A claim in plain words; ``name#km`` becomes "Full name (in Khmer script)"."""
    table = CLAIM_TEXT.get(lang, CLAIM_TEXT[LANGUAGES[0]])
    base, _, tag = claim.partition("#")
    words = table.get(base, base)
    if tag == "km":
        return table["in_khmer"].format(name=words)
    return words
