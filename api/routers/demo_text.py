"""The demo business-registration portal's words, in Khmer and English.

The portal is a demonstration relying party (:mod:`api.routers.demo_site`); its words are its
own, not the provider's. The Khmer wording should be reviewed by a translator (English is the
reference), as for the provider's pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["DEMO_TEXT", "demo_texts"]

_PAIRS: dict[str, tuple[str, str]] = {
    "site": ("វិបផតថលចុះបញ្ជីអាជីវកម្ម (សាកល្បង)", "Business registration portal (demo)"),
    "skip": ("រំលងទៅខ្លឹមសារ", "Skip to main content"),
    "language": ("ភាសា", "Language"),
    "footer": (
        "គេហទំព័រសាកល្បងរបស់ NatID ។ វាមិនចុះបញ្ជីអាជីវកម្មពិតប្រាកដទេ។",
        "A NatID demonstration site. It does not register real businesses.",
    ),
    "home_title": ("ចុះបញ្ជីអាជីវកម្មរបស់អ្នកតាមអ៊ីនធឺណិត", "Register your business online"),
    "home_intro": (
        "ចូលប្រើដោយអត្តសញ្ញាណឌីជីថលជាតិ NatID របស់អ្នក។ យើងនឹងឃើញតែព័ត៌មានដែលអ្នកយល់ព្រម។",
        "Log in with your NatID national digital identity. We see only what you agree to share.",
    ),
    "login_button": ("ចូលប្រើដោយ NatID", "Log in with NatID"),
    "profile_link": ("ព័ត៌មានរបស់អ្នក", "Your profile"),
    "profile_title": ("ព័ត៌មានរបស់អ្នក", "Your profile"),
    "welcome": ("សូមស្វាគមន៍ {name}", "Welcome, {name}"),
    "name_km": ("ឈ្មោះជាអក្សរខ្មែរ", "Name in Khmer script"),
    "name_latin": ("ឈ្មោះជាអក្សរឡាតាំង", "Name in Latin script"),
    "birthdate": ("ថ្ងៃខែឆ្នាំកំណើត", "Date of birth"),
    "level": ("កម្រិតនៃការចូលប្រើ (acr)", "Level of this login (acr)"),
    "level_low": ("ទាប", "low"),
    "level_substantial": ("គួរសម", "substantial"),
    "level_high": ("ខ្ពស់", "high"),
    "methods": ("វិធីផ្ទៀងផ្ទាត់ (amr)", "Methods used (amr)"),
    "id_token_claims": ("ព័ត៌មានក្នុង ID token", "Claims in the ID token"),
    "userinfo_claims": ("ព័ត៌មានពី UserInfo", "Claims from UserInfo"),
    "claim": ("ឈ្មោះ", "Claim"),
    "value": ("តម្លៃ", "Value"),
    "business_link": ("ចុះបញ្ជីអាជីវកម្ម", "Register a business"),
    "business_title": ("ចុះបញ្ជីអាជីវកម្ម", "Register a business"),
    "step_up_note": (
        "ការចុះបញ្ជីអាជីវកម្មត្រូវការការចូលប្រើកម្រិតគួរសម ក្នុងរយៈពេល {minutes} នាទីចុងក្រោយ។"
        " បើចាំបាច់ NatID នឹងសុំលេខកូដទីពីររបស់អ្នកម្តងទៀត។",
        "Registering a business needs a login at level substantial within the last {minutes}"
        " minutes. If needed, NatID asks for your second factor again.",
    ),
    "business_name": ("ឈ្មោះអាជីវកម្ម (អក្សរឡាតាំង)", "Business name (Latin script)"),
    "business_name_km": ("ឈ្មោះអាជីវកម្ម (អក្សរខ្មែរ)", "Business name (Khmer script)"),
    "activity": ("សកម្មភាពអាជីវកម្ម", "Business activity"),
    "business_submit": ("ដាក់ពាក្យ", "Submit the application"),
    "business_missing": (
        "សូមបំពេញឈ្មោះអាជីវកម្ម និងសកម្មភាព។",
        "Please fill in the business name and the activity.",
    ),
    "business_done_title": ("បានទទួលពាក្យស្នើសុំ", "Application received"),
    "business_done": (
        "ពាក្យស្នើសុំ {number} សម្រាប់ «{business}» ត្រូវបានទទួល (កម្រិត {level})។",
        "Application {number} for “{business}” was received (level {level}).",
    ),
    "logout_button": ("ចាកចេញ", "Log out"),
    "logged_out_title": ("អ្នកបានចាកចេញហើយ", "You are logged out"),
    "logged_out_text": (
        "អ្នកបានចាកចេញពីវិបផតថលនេះ និងពី NatID ។",
        "You are logged out of this portal and of NatID.",
    ),
    "back_home": ("ត្រឡប់ទៅទំព័រដើម", "Back to the start page"),
    "error_title": ("មានបញ្ហា", "Something went wrong"),
    "login_failed": (
        "ការចូលប្រើមិនបានសម្រេច។ សូមព្យាយាមម្តងទៀត។",
        "The login did not succeed. Please try again.",
    ),
    "state": (
        "ការឆ្លើយតបនេះមិនមែនជារបស់ការចូលប្រើដែលអ្នកបានចាប់ផ្តើមទេ។ សូមចាប់ផ្តើមម្តងទៀត។",
        "This answer does not belong to a login you started here. Please start again.",
    ),
    "mixup": (
        "ការឆ្លើយតបមកពីអ្នកផ្តល់សេវាផ្សេង។ សូមចាប់ផ្តើមម្តងទៀត។",
        "The answer came from another provider. Please start again.",
    ),
    "provider_error": (
        "NatID មិនបានបញ្ជាក់អត្តសញ្ញាណរបស់អ្នកទេ (អ្នកប្រហែលជាបានបដិសេធ)។",
        "NatID did not confirm your identity (perhaps you declined).",
    ),
    "acr_too_low": (
        "ការចូលប្រើរបស់អ្នកបានត្រឹមកម្រិត {level} ប៉ុណ្ណោះ។ សូមបន្ថែមកត្តាទីពីរនៅក្នុងគណនី NatID"
        " របស់អ្នក រួចព្យាយាមម្តងទៀត។",
        "Your login reached only level {level}. Add a second factor in your NatID account,"
        " then try again.",
    ),
    "not_configured": (
        "គេហទំព័រសាកល្បងមិនទាន់បានរៀបចំទេ។ សូមដំណើរការ natid init ។",
        "The demo site is not set up yet. Run natid init.",
    ),
    "session_needed": (
        "សូមចូលប្រើជាមុនសិន។",
        "Please log in first.",
    ),
    "csrf_failed": (
        "ទម្រង់នេះហួសពេលហើយ។ សូមព្យាយាមម្តងទៀត។",
        "This form has expired. Please try again.",
    ),
}

DEMO_TEXT: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        lang: MappingProxyType({key: pair[i] for key, pair in _PAIRS.items()})
        for i, lang in enumerate(("km", "en"))
    }
)


def demo_texts(lang: str) -> Mapping[str, str]:
    """The portal's words in ``lang`` (Khmer for anything unknown)."""
    return DEMO_TEXT.get(lang, DEMO_TEXT["km"])
