"""The words of the signing pages (inbox, document, new workflow) in Khmer and English.

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
    "inbox_title": ("ឯកសារត្រូវចុះហត្ថលេខា", "Documents to sign"),
    "waiting_heading": ("រង់ចាំការអនុម័តរបស់ខ្ញុំ", "Waiting for my approval"),
    "started_heading": ("ឯកសារដែលខ្ញុំបានផ្ញើ", "Documents I started"),
    "nothing_waiting": ("គ្មានឯកសាររង់ចាំអ្នកទេ។", "Nothing is waiting for you."),
    "nothing_started": ("អ្នកមិនទាន់បានផ្ញើឯកសារណាមួយទេ។", "You have not started any document."),
    "new_link": ("ផ្ញើឯកសារថ្មីដើម្បីអនុម័ត", "Send a new document for approval"),
    "inbox_link": ("ត្រឡប់ទៅប្រអប់ឯកសារ", "Back to the inbox"),
    "state_in_progress": ("កំពុងដំណើរការ", "In progress"),
    "state_rejected": ("ត្រូវបានបដិសេធ", "Rejected"),
    "state_completed": ("បានបញ្ចប់", "Completed"),
    "step_of": ("ជំហាន {n} នៃ {m}", "Step {n} of {m}"),
    "author": ("អ្នកផ្ញើ", "Author"),
    "created": ("ផ្ញើនៅ", "Sent on"),
    "steps_heading": ("ជំហានអនុម័ត", "Approval steps"),
    "parallel_group": (
        "ក្រុម៖ ត្រូវការការអនុម័តពីគ្រប់គ្នា តាមលំដាប់ណាក៏បាន",
        "Group: everyone approves, in any order",
    ),
    "step_approved": ("បានអនុម័ត", "Approved"),
    "step_rejected": ("បានបដិសេធ", "Rejected"),
    "step_current": ("វេននេះ", "Now"),
    "step_waiting": ("រង់ចាំ", "Waiting"),
    "seal_step": ("ត្រាអេឡិចត្រូនិករបស់ក្រសួង", "The ministry's e-seal"),
    "certify_note": (
        "ហត្ថលេខាទីមួយបញ្ជាក់ឯកសារ (DocMDP)",
        "The first signature certifies the document (DocMDP)",
    ),
    "history_heading": ("ប្រវត្តិ", "History"),
    "ev_created": ("បានផ្ញើ", "Sent"),
    "ev_approved": ("បានអនុម័ត និងចុះហត្ថលេខា", "Approved and signed"),
    "ev_rejected": ("បានបដិសេធ", "Rejected"),
    "ev_sealed": ("បានបោះត្រាដោយក្រសួង", "Sealed by the ministry"),
    "ev_completed": ("បានបញ្ចប់", "Completed"),
    "download": ("មើល ឬទាញយក PDF បច្ចុប្បន្ន", "View or download the current PDF"),
    "document_facts": ("ឯកសារ", "Document"),
    "version": ("កំណែ", "Version"),
    "approve_heading": ("អនុម័ត", "Approve"),
    "approve_explain": (
        "ការអនុម័តគឺជាហត្ថលេខាឌីជីថលរបស់អ្នកលើឯកសារនេះ។",
        "Approving puts your digital signature on this document.",
    ),
    "approve_button": ("អនុម័ត និងចុះហត្ថលេខា", "Approve and sign"),
    "comment_optional": ("មតិយោបល់ (ស្រេចចិត្ត)", "Comment (optional)"),
    "reject_heading": ("បដិសេធ", "Reject"),
    "reject_comment": ("ហេតុអ្វីបដិសេធ? (ចាំបាច់)", "Why do you reject it? (required)"),
    "reject_button": ("បដិសេធ ហើយប្រគល់ទៅអ្នកផ្ញើវិញ", "Reject and return to the author"),
    "returned": (
        "ឯកសារនេះត្រូវបានប្រគល់មកអ្នកវិញ ជាមួយមតិយោបល់៖",
        "This document was returned to you with this comment:",
    ),
    "fresh_note": (
        "ដើម្បីចុះហត្ថលេខា អ្នកនឹងត្រូវចូលម្តងទៀត ប្រសិនបើការចូលចុងក្រោយលើសពី ៥ នាទី។",
        "To sign, you will be asked to log in again if your last login is over 5 minutes old.",
    ),
    "done_approved": (
        "អ្នកបានអនុម័ត និងចុះហត្ថលេខាលើឯកសារនេះ។",
        "You approved and signed this document.",
    ),
    "done_rejected": ("អ្នកបានបដិសេធឯកសារនេះ។", "You rejected this document."),
    "done_created": ("ឯកសារត្រូវបានផ្ញើទៅអ្នកអនុម័តដំបូង។", "The document was sent to the first approver."),
    "new_title": ("ផ្ញើឯកសារដើម្បីអនុម័ត", "Send a document for approval"),
    "field_title": ("ចំណងជើង", "Title"),
    "field_file": ("ឯកសារ PDF", "PDF document"),
    "field_steps": ("អ្នកអនុម័ត", "Approvers"),
    "steps_hint": (
        "មួយជំហានក្នុងមួយបន្ទាត់ តាមលំដាប់។ សរសេរលេខសម្គាល់មន្ត្រីរាជការ។ "
        "ដាក់លេខសម្គាល់ច្រើនក្នុងបន្ទាត់តែមួយ (បំបែកដោយក្បៀស) សម្រាប់ក្រុមដែលត្រូវអនុម័តទាំងអស់គ្នា។",
        "One step per line, in order, by civil-servant id. Several ids on one line (separated "
        "by commas) make a group that must all approve.",
    ),
    "field_seal": ("បោះត្រាអេឡិចត្រូនិករបស់ក្រសួងនៅចុងក្រោយ", "Finish with the ministry's e-seal"),
    "field_certify": ("ហត្ថលេខាទីមួយបញ្ជាក់ឯកសារ", "The first signature certifies the document"),
    "create_button": ("ផ្ញើ", "Send"),
    "workflow_not_found": ("រកមិនឃើញឯកសារនេះទេ។", "There is no such document for you."),
    "not_your_turn": (
        "មិនទាន់ដល់វេនអ្នកទេ ឬអ្នកបានធ្វើសកម្មភាពរួចហើយ។",
        "It is not your turn, or you have already acted.",
    ),
    "invalid_workflow": ("មិនអាចផ្ញើឯកសារនេះបានទេ៖", "The document cannot be sent:"),
    "invalid_pdf": (
        "ឯកសារនេះមិនមែនជា PDF ដែលអាចចុះហត្ថលេខាបានទេ។",
        "The file is not a PDF that can be signed.",
    ),
    "not_a_civil_servant": (
        "មានតែមន្ត្រីរាជការទេដែលអាចផ្ញើឯកសារបាន។",
        "Only civil servants can send documents for approval.",
    ),
    "signing_failed": (
        "ការចុះហត្ថលេខាមិនបានសម្រេច។ សូមព្យាយាមម្តងទៀត។",
        "Signing did not succeed. Please try again.",
    ),
    "error_title": ("មានបញ្ហា", "Something went wrong"),
}

_TEXT: Final[dict[str, dict[str, str]]] = {
    lang: {
        **idp_texts(lang),
        **{key: pair[index] for key, pair in _PAIRS.items()},
    }
    for index, lang in enumerate(LANGUAGES)
}


def texts(lang: str) -> Mapping[str, str]:
    """The signing pages' words in ``lang`` (Khmer for anything unsupported)."""
    return _TEXT.get(lang, _TEXT[LANGUAGES[0]])
