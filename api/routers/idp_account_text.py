"""The account area's and the passkey/certificate login pages' words, in Khmer and English.

The shared words (site name, language switch, footer) come from :mod:`api.routers.idp_text`
as ``t``; these come as ``w``. The English is the reference; the Khmer should be reviewed by
the Ministry's translators before production, like the rest of the pages' text.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["ACCOUNT_TEXT", "account_texts"]

_PAIRS: dict[str, tuple[str, str]] = {
    # navigation
    "account_title": ("គណនីរបស់ខ្ញុំ", "My account"),
    "hello": ("សួស្តី {name}", "Hello, {name}"),
    "nav_overview": ("ទិដ្ឋភាពទូទៅ", "Overview"),
    "nav_sessions": ("វគ្គចូលប្រើ", "Sessions"),
    "nav_security": ("ឧបករណ៍ និងមធ្យោបាយផ្ទៀងផ្ទាត់", "Devices and sign-in methods"),
    "nav_certificates": ("វិញ្ញាបនបត្ររបស់ខ្ញុំ", "My certificates"),
    "nav_logins": ("ការចូលប្រើថ្មីៗ", "Recent logins"),
    "nav_consents": ("ការយល់ព្រមដែលខ្ញុំបានផ្តល់", "Consents I gave"),
    "nav_kyc_requests": ("សំណើពីធនាគារ", "Bank requests"),
    "nav_data_access": ("អ្នកដែលបានមើលទិន្នន័យខ្ញុំ", "Who looked at my data"),
    "kyc_pending_banner": (
        "ធនាគារកំពុងរង់ចាំការយល់ព្រមរបស់អ្នក ({n})",
        "A bank is waiting for your answer ({n})",
    ),
    "account_nav": ("ម៉ឺនុយគណនី", "Account menu"),
    "overview_level": (
        "វគ្គនេះបានចូលប្រើនៅកម្រិតធានា៖ {level}",
        "This session logged in at assurance level: {level}",
    ),
    "level_low": ("ទាប", "low"),
    "level_substantial": ("គួរសម", "substantial"),
    "level_high": ("ខ្ពស់", "high"),
    "summary_sessions": ("វគ្គសកម្ម៖ {n}", "Active sessions: {n}"),
    "summary_passkeys": ("Passkey៖ {n}", "Passkeys: {n}"),
    "summary_certificates": ("វិញ្ញាបនបត្រ៖ {n}", "Certificates: {n}"),
    "yes": ("បាទ/ចាស", "yes"),
    "no": ("ទេ", "no"),
    "never": ("មិនដែល", "never"),
    # sessions
    "sessions_intro": (
        "កន្លែងដែលអ្នកកំពុងចូលប្រើ NatID ឥឡូវនេះ។ បញ្ចប់វគ្គណាមួយដែលអ្នកមិនស្គាល់។",
        "Where you are logged in to NatID now. End any session you do not recognise.",
    ),
    "device": ("ឧបករណ៍", "Device"),
    "source": ("អាសយដ្ឋាន", "Address"),
    "started": ("ចាប់ផ្តើម", "Started"),
    "last_seen": ("ប្រើចុងក្រោយ", "Last used"),
    "this_session": ("ឧបករណ៍នេះ", "this device"),
    "end_session": ("បញ្ចប់វគ្គនេះ", "End this session"),
    "session_ended": ("វគ្គត្រូវបានបញ្ចប់។", "The session was ended."),
    # A device named by its browser and platform (api/user_agents.py); the names are the
    # products' own, written the same in both languages.
    "device_on": ("{browser} លើ {platform}", "{browser} on {platform}"),
    "unknown_browser": ("កម្មវិធីរុករកមិនស្គាល់", "Unknown browser"),
    "unknown_browser_on": ("កម្មវិធីរុករកមិនស្គាល់ លើ {platform}", "Unknown browser on {platform}"),
    # Times are shown in Cambodia's time zone (Asia/Phnom_Penh, UTC+7, no daylight saving).
    "local_time": ("{time} ម៉ោងកម្ពុជា", "{time} Cambodia time"),
    # security
    "password_heading": ("ពាក្យសម្ងាត់", "Password"),
    "password_set": ("កំណត់នៅ {date}", "Set on {date}"),
    "password_none": ("មិនទាន់កំណត់", "Not set"),
    "totp_heading": ("កម្មវិធីផ្ទៀងផ្ទាត់ (លេខកូដ ៦ ខ្ទង់)", "Authenticator app (6-digit codes)"),
    "totp_enrolled": (
        "បានចុះឈ្មោះនៅ {date}។ លេខកូដសង្គ្រោះនៅសល់៖ {n}",
        "Enrolled on {date}. Recovery codes left: {n}",
    ),
    "totp_none": ("មិនទាន់ចុះឈ្មោះ", "Not enrolled"),
    "totp_start": ("ចុះឈ្មោះកម្មវិធីផ្ទៀងផ្ទាត់", "Set up an authenticator app"),
    "totp_scan": (
        "ស្កេនកូដ QR នេះដោយកម្មវិធីផ្ទៀងផ្ទាត់របស់អ្នក ឬវាយលេខសម្ងាត់ខាងក្រោម។",
        "Scan this QR code with your authenticator app, or type the secret below.",
    ),
    "totp_secret": ("លេខសម្ងាត់", "Secret"),
    "totp_code": ("លេខកូដ ៦ ខ្ទង់ពីកម្មវិធី", "The 6-digit code from the app"),
    "totp_confirm": ("បញ្ជាក់", "Confirm"),
    "totp_mismatch": (
        "លេខកូដមិនត្រូវគ្នា។ ពិនិត្យម៉ោងទូរស័ព្ទ ហើយវាយលេខកូដបច្ចុប្បន្ន។",
        "The code does not match. Check the phone's clock and type the current code.",
    ),
    "totp_expired": (
        "ការចុះឈ្មោះផុតកំណត់។ សូមចាប់ផ្តើមម្តងទៀត។",
        "The set-up expired. Please start again.",
    ),
    "recovery_heading": ("លេខកូដសង្គ្រោះ", "Recovery codes"),
    "recovery_intro": (
        "កម្មវិធីផ្ទៀងផ្ទាត់ត្រូវបានបើក។ សរសេរលេខកូដទាំងនេះទុកនៅកន្លែងសុវត្ថិភាព។ "
        "លេខកូដនីមួយៗប្រើបានតែម្តង ហើយនឹងមិនបង្ហាញម្តងទៀតទេ។",
        "The authenticator app is on. Write these codes down and keep them safe. "
        "Each works once, and they will not be shown again.",
    ),
    "done": ("រួចរាល់", "Done"),
    "passkeys_heading": ("Passkey", "Passkeys"),
    "passkeys_intro": (
        "Passkey អនុញ្ញាតឱ្យអ្នកចូលប្រើដោយស្នាមម្រាមដៃ មុខ ឬលេខ PIN នៃទូរស័ព្ទរបស់អ្នក។",
        "A passkey lets you log in with your phone's fingerprint, face or PIN.",
    ),
    "passkey_none": ("មិនទាន់មាន passkey", "No passkey yet"),
    "passkey_name": ("ឈ្មោះ", "Name"),
    "passkey_added_on": ("បន្ថែមនៅ", "Added"),
    "passkey_last_used": ("ប្រើចុងក្រោយ", "Last used"),
    "passkey_synced": ("ធ្វើសមកាលកម្មទៅឧបករណ៍ផ្សេងទៀត", "Synced to your other devices"),
    "passkey_in_person": ("ចងភ្ជាប់នៅការិយាល័យ", "Bound at an office"),
    "passkey_label": ("ដាក់ឈ្មោះ passkey ថ្មី (ឧ. ទូរស័ព្ទរបស់ខ្ញុំ)", "Name the new passkey (e.g. My phone)"),
    "passkey_add": ("បន្ថែម passkey", "Add a passkey"),
    "passkey_remove": ("ដកចេញ", "Remove"),
    "passkey_added": ("Passkey ត្រូវបានបន្ថែម។", "The passkey was added."),
    "passkey_removed": ("Passkey ត្រូវបានដកចេញ។", "The passkey was removed."),
    "passkey_failed": (
        "Passkey មិនត្រូវបានទទួលយកទេ។ សូមព្យាយាមម្តងទៀត។",
        "The passkey was not accepted. Please try again.",
    ),
    "passkey_needs_js": (
        "Passkey ត្រូវការ JavaScript និងកម្មវិធីរុករកថ្មីៗ។",
        "Passkeys need JavaScript and a recent browser.",
    ),
    "passkey_unsupported": (
        "កម្មវិធីរុករកនេះមិនគាំទ្រ passkey ទេ។",
        "This browser does not support passkeys.",
    ),
    "reauth_needed": (
        "ដើម្បីផ្លាស់ប្តូរការកំណត់សុវត្ថិភាព សូមចូលប្រើម្តងទៀតជាមួយកត្តាទីពីររបស់អ្នក។",
        "To change security settings, log in again with your second factor.",
    ),
    "reauth_link": ("ចូលប្រើម្តងទៀត", "Log in again"),
    # certificates
    "certificates_intro": (
        "វិញ្ញាបនបត្រដែល NatID បានចេញជូនអ្នក តាមកំណត់ត្រារបស់អាជ្ញាធរវិញ្ញាបនបត្រ។",
        "The certificates NatID issued to you, from the certificate authority's records.",
    ),
    "certificates_none": ("មិនមានវិញ្ញាបនបត្រទេ។", "No certificates."),
    "serial": ("លេខស៊េរី", "Serial number"),
    "profile": ("ប្រភេទ", "Type"),
    "issuer": ("អ្នកចេញ", "Issuer"),
    "valid": ("សុពលភាព", "Valid"),
    "valid_range": ("ពី {start} ដល់ {end}", "{start} to {end}"),
    "status": ("ស្ថានភាព", "Status"),
    # In words for the holder, not OCSP's "good" (RFC 6960 §2.2).
    "status_good": ("មានសុពលភាព", "valid"),
    "status_revoked": ("ត្រូវបានដកហូត (លែងប្រើបានទៀត)", "revoked (can no longer be used)"),
    "status_on_hold": (
        "ផ្អាកជាបណ្តោះអាសន្ន (មិនអាចប្រើបានទេពេលនេះ)",
        "on hold (cannot be used for now)",
    ),
    "status_expired": ("ផុតកំណត់", "expired"),
    "in_log": ("ក្នុងកំណត់ហេតុតម្លាភាព", "In the transparency log"),
    "in_log_yes": ("បាទ/ចាស (លេខ {index})", "yes (entry {index})"),
    "profile_citizen-auth": ("ការផ្ទៀងផ្ទាត់ពលរដ្ឋ", "Citizen authentication"),
    "profile_citizen-sign": ("ហត្ថលេខាពលរដ្ឋ", "Citizen signature"),
    "profile_gov-auth": ("ការផ្ទៀងផ្ទាត់មន្ត្រីរាជការ", "Civil servant authentication"),
    "profile_gov-sign": ("ហត្ថលេខាមន្ត្រីរាជការ", "Civil servant signature"),
    # logins
    "logins_intro": (
        "ការព្យាយាមចូលប្រើគណនីរបស់អ្នកថ្មីៗ។ ប្រសិនបើអ្នកមិនស្គាល់វា សូមប្តូរពាក្យសម្ងាត់។",
        "The latest attempts to log in to your account. If you do not recognise one, "
        "change your password.",
    ),
    "logins_none": ("មិនមានការចូលប្រើទេ។", "No logins yet."),
    "when": ("ពេលវេលា", "When"),
    "method": ("វិធី", "Method"),
    "result": ("លទ្ធផល", "Result"),
    "result_ok": ("ជោគជ័យ", "succeeded"),
    "result_failed": ("បរាជ័យ", "failed"),
    "method_password": ("ពាក្យសម្ងាត់", "password"),
    "method_second_factor": ("កត្តាទីពីរ", "second factor"),
    "method_passkey": ("passkey", "passkey"),
    "method_certificate": ("វិញ្ញាបនបត្រ", "certificate"),
    # consents
    "consents_intro": (
        "សេវាដែលអ្នកបានអនុញ្ញាតឱ្យទទួលព័ត៌មានរបស់អ្នក។",
        "The services you allowed to receive your information.",
    ),
    "consents_none": ("អ្នកមិនទាន់បានផ្តល់ការយល់ព្រមទេ។", "You have not given any consent."),
    "service": ("សេវា", "Service"),
    "granted": ("ផ្តល់នៅ", "Given"),
    "expires": ("ផុតកំណត់", "Expires"),
    "scopes": ("ព័ត៌មានដែលអ្នកបានអនុញ្ញាត", "Information you allowed"),
    "withdraw": ("ដកការយល់ព្រមវិញ", "Withdraw"),
    "withdrawn": ("ការយល់ព្រមត្រូវបានដកវិញ។", "The consent was withdrawn."),
    # passkey login
    "passkey_login_title": ("ចូលប្រើដោយ passkey", "Log in with a passkey"),
    "passkey_login_intro": (
        "ប្រើស្នាមម្រាមដៃ មុខ ឬលេខ PIN នៃឧបករណ៍ដែលមាន passkey NatID របស់អ្នក។",
        "Use the fingerprint, face or PIN of the device that holds your NatID passkey.",
    ),
    "passkey_login_button": ("ចូលប្រើដោយ passkey", "Log in with a passkey"),
    "other_ways": ("វិធីផ្សេងទៀតដើម្បីចូលប្រើ", "Other ways to log in"),
    "with_password": ("លេខអត្តសញ្ញាណប័ណ្ណ និងពាក្យសម្ងាត់", "ID card number and password"),
    "with_certificate": ("វិញ្ញាបនបត្រ NatID", "NatID certificate"),
    "with_passkey": ("Passkey", "Passkey"),
    # certificate login
    "cert_login_title": ("ចូលប្រើដោយវិញ្ញាបនបត្រ", "Log in with a certificate"),
    "cert_login_intro": (
        "បញ្ចូលអត្តសញ្ញាណប័ណ្ណ ឬ token របស់អ្នក ហើយជ្រើសវិញ្ញាបនបត្រ NatID នៅពេលកម្មវិធីរុករកសួរ។",
        "Insert your ID card or token, and choose your NatID certificate when the browser asks.",
    ),
    "cert_login_button": ("ចូលប្រើដោយវិញ្ញាបនបត្រ", "Log in with my certificate"),
    "cert_none": (
        "កម្មវិធីរុករកមិនបានផ្ញើវិញ្ញាបនបត្រទេ។",
        "The browser did not send a certificate.",
    ),
    "cert_refused": (
        "វិញ្ញាបនបត្រនេះមិនអាចប្រើដើម្បីចូលបានទេ (ផុតកំណត់ ត្រូវបានដកហូត ឬមិនមែនជារបស់ NatID)។",
        "This certificate cannot log in (expired, revoked, or not a NatID authentication "
        "certificate).",
    ),
    "cert_no_account": (
        "ម្ចាស់វិញ្ញាបនបត្រនេះមិនមានគណនី NatID ទេ។",
        "The holder of this certificate has no NatID account.",
    ),
    "account_not_active": (
        "គណនីនេះមិនអាចចូលប្រើបានទេនៅពេលនេះ។ សូមទាក់ទងការិយាល័យចុះឈ្មោះ។",
        "This account cannot log in now. Please contact a registration office.",
    ),
    "csrf_failed": (
        "ទម្រង់នេះផុតកំណត់។ សូមផ្ទុកទំព័រឡើងវិញ ហើយព្យាយាមម្តងទៀត។",
        "This form expired. Please reload the page and try again.",
    ),
}

ACCOUNT_TEXT: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        lang: MappingProxyType({key: pair[index] for key, pair in _PAIRS.items()})
        for index, lang in enumerate(("km", "en"))
    }
)


def account_texts(lang: str) -> Mapping[str, str]:
    """The words of the account pages in ``lang`` (Khmer for anything else)."""
    return ACCOUNT_TEXT.get(lang, ACCOUNT_TEXT["km"])
