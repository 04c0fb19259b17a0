"""The words of the e-seal batch pages (upload, progress) in Khmer and English.

The pages extend the IdP's ``base.html``, so the IdP's words (site name, skip link, footer,
``csrf_failed``) come first and these are laid over them (:func:`texts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from api.routers.idp_text import LANGUAGES
from api.routers.idp_text import texts as idp_texts

__all__ = ["texts"]

_PAIRS: Final[dict[str, tuple[str, str]]] = {
    "batch_title": ("បោះត្រាអេឡិចត្រូនិកលើឯកសារច្រើន", "E-seal many documents"),
    "batch_intro": (
        "ជ្រើសរើសឯកសារ PDF ដែលត្រូវបោះត្រាដោយត្រាអេឡិចត្រូនិករបស់ស្ថាប័ន។",
        "Choose the PDF files to seal with the organisation's e-seal.",
    ),
    "field_entity": ("លេខសម្គាល់ស្ថាប័ន", "Organisation id"),
    "entity_hint": (
        "លេខសម្គាល់ក្នុងបញ្ជីនៃស្ថាប័នដែលមានវិញ្ញាបនបត្រត្រាអេឡិចត្រូនិក",
        "The register id of an organisation with an e-seal certificate",
    ),
    "field_files": ("ឯកសារ PDF", "PDF files"),
    "files_hint": (
        "រហូតដល់ {files} ឯកសារ អតិបរមា {size} MB ក្នុងមួយឯកសារ និង {total} MB សរុប",
        "Up to {files} files, at most {size} MB each and {total} MB in all",
    ),
    "field_level": ("កម្រិត PAdES", "PAdES level"),
    "field_visible": ("បង្ហាញត្រាលើទំព័រ", "Show the seal on the page"),
    "start_button": ("ចាប់ផ្តើមបោះត្រា", "Start sealing"),
    "progress_title": ("ការបោះត្រាលើឯកសារ", "Sealing documents"),
    "progress_label": ("វឌ្ឍនភាព", "Progress"),
    "progress_count": ("បានរួច {done} នៃ {total}", "{done} of {total} done"),
    "counts": ("បោះត្រារួច {sealed}, បរាជ័យ {failed}", "{sealed} sealed, {failed} failed"),
    "state_running": ("កំពុងបោះត្រា…", "Sealing…"),
    "state_finished": ("បានបញ្ចប់", "Finished"),
    "state_stalled": (
        "ការបោះត្រាបានឈប់ដោយមិនបានបញ្ចប់។ សូមផ្ញើឯកសារម្តងទៀត។",
        "Sealing stopped before the end. Please send the files again.",
    ),
    "col_file": ("ឯកសារ", "File"),
    "col_status": ("ស្ថានភាព", "Status"),
    "file_pending": ("រង់ចាំ", "Waiting"),
    "file_sealed": ("បានបោះត្រា", "Sealed"),
    "file_failed": ("បរាជ័យ", "Failed"),
    "refresh": ("ផ្ទុកស្ថានភាពឡើងវិញ", "Refresh the status"),
    "download": ("ទាញយកឯកសារដែលបានបោះត្រា (ZIP)", "Download the sealed files (ZIP)"),
    "new_batch": ("បោះត្រាលើឯកសារផ្សេងទៀត", "Seal other documents"),
    "error_title": ("មានបញ្ហា", "Something went wrong"),
    "not_allowed": (
        "មានតែប្រតិបត្តិករ CA ទេដែលអាចបោះត្រាអេឡិចត្រូនិកបាន។",
        "Only CA operators can apply e-seals.",
    ),
    "batch_not_found": (
        "រកមិនឃើញការបោះត្រានេះទេ (ឬវាបានផុតកំណត់)។",
        "This sealing batch was not found (or has expired).",
    ),
    "invalid_batch": ("មិនអាចបោះត្រាលើឯកសារទាំងនេះបានទេ៖", "The files cannot be sealed:"),
    "too_large": ("ឯកសារធំពេក ឬច្រើនពេក៖", "Too many or too large files:"),
}

_TEXT: Final[dict[str, dict[str, str]]] = {
    lang: {
        **idp_texts(lang),
        **{key: pair[index] for key, pair in _PAIRS.items()},
    }
    for index, lang in enumerate(LANGUAGES)
}


def texts(lang: str) -> Mapping[str, str]:
    """The batch pages' words in ``lang`` (Khmer for anything unsupported)."""
    return _TEXT.get(lang, _TEXT[LANGUAGES[0]])
