"""The words of the signature validation pages, in Khmer and English (ARCHITECTURE.md,
"Languages"). The English is the reference; the Khmer should be reviewed by the Ministry's
translators before production, as the IdP pages' words are."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["LANGUAGES", "TEXT", "texts"]

LANGUAGES: Final = ("km", "en")

_PAIRS: dict[str, tuple[str, str]] = {
    "site": ("អត្តសញ្ញាណឌីជីថលជាតិ NatID", "NatID national digital identity"),
    "skip": ("រំលងទៅខ្លឹមសារ", "Skip to main content"),
    "language": ("ភាសា", "Language"),
    "footer": (
        "ឯកសារដែលអ្នកផ្ញើមកត្រូវបានពិនិត្យ ហើយមិនត្រូវបានរក្សាទុកឡើយ។",
        "Documents you upload are checked and never stored.",
    ),
    "title": ("ពិនិត្យហត្ថលេខាឌីជីថល", "Check a digital signature"),
    "intro": (
        "ជ្រើសរើសឯកសារ PDF ដែលបានចុះហត្ថលេខា ដើម្បីដឹងថាអ្នកណាបានចុះហត្ថលេខា នៅពេលណា "
        "និងថាតើឯកសារត្រូវបានកែប្រែបន្ទាប់ពីចុះហត្ថលេខាឬទេ។",
        "Choose a signed PDF to see who signed it, when, and whether it was changed after signing.",
    ),
    "file": ("ឯកសារ PDF", "PDF file"),
    "file_hint": ("យ៉ាងច្រើន {mb} MB", "At most {mb} MB"),
    "submit": ("ពិនិត្យ", "Check"),
    "check_another": ("ពិនិត្យឯកសារផ្សេងទៀត", "Check another document"),
    # the certificate behind a QR code
    "cert_title": ("វិញ្ញាបនបត្រនៃហត្ថលេខា", "The signature's certificate"),
    "cert_intro": (
        "កូដ QR នៅលើត្រានេះ ចង្អុលទៅវិញ្ញាបនបត្រខាងក្រោម។ ដើម្បីដឹងថាឯកសារខ្លួនឯងនៅដដែល សូមផ្ញើឯកសារ PDF ខាងក្រោម។",
        "The QR code on the stamp points to the certificate below. To know that the document "
        "itself is unchanged, upload the PDF below: a printed stamp cannot prove that.",
    ),
    "cert_unknown": (
        "NatID មិនមានវិញ្ញាបនបត្រដែលមានលេខសៀរៀលនេះទេ។ ត្រានេះប្រហែលជាក្លែងក្លាយ។",
        "NatID has no certificate with this serial number. The stamp may be forged.",
    ),
    "holder": ("ម្ចាស់", "Holder"),
    "issuer": ("ចេញដោយ", "Issued by"),
    "serial": ("លេខសៀរៀល", "Serial number"),
    "valid_from": ("មានសុពលភាពពី", "Valid from"),
    "valid_to": ("មានសុពលភាពដល់", "Valid until"),
    "status_now": ("ស្ថានភាពឥឡូវនេះ", "Status now"),
    "stamp_time": ("ពេលវេលានៅលើត្រា", "Time on the stamp"),
    "at_stamp_time": ("នៅពេលចុះហត្ថលេខា", "At the signing time"),
    "status_good": ("មានសុពលភាព", "valid"),
    "status_revoked": ("ត្រូវបានដកហូត", "revoked"),
    "status_suspended": ("ត្រូវបានផ្អាក", "suspended"),
    "status_expired": ("ផុតកំណត់", "expired"),
    "status_not_yet": ("មិនទាន់មានសុពលភាព", "not yet valid"),
    "revoked_on": ("ដកហូតនៅ {when}", "revoked on {when}"),
    # the report
    "report_title": ("លទ្ធផលនៃការពិនិត្យ", "Validation result"),
    "no_signatures": ("ឯកសារនេះគ្មានហត្ថលេខាឌីជីថលទេ។", "This document has no digital signature."),
    "all_valid": ("ហត្ថលេខាទាំងអស់មានសុពលភាព។", "Every signature is valid."),
    "not_all_valid": (
        "ហត្ថលេខាមួយ ឬច្រើនមិនមានសុពលភាព ឬមិនអាចបញ្ជាក់បាន។",
        "One or more signatures are not valid or could not be confirmed.",
    ),
    "signature_n": ("ហត្ថលេខាទី {n}", "Signature {n}"),
    "timestamp_n": ("ត្រាពេលវេលាឯកសារទី {n}", "Document time-stamp {n}"),
    "TOTAL-PASSED": ("មានសុពលភាព", "Valid"),
    "TOTAL-FAILED": ("មិនមានសុពលភាព", "Not valid"),
    "INDETERMINATE": ("មិនអាចបញ្ជាក់បាន", "Could not be confirmed"),
    "indication": ("លទ្ធផល (ETSI EN 319 102-1)", "Result (ETSI EN 319 102-1)"),
    "signer": ("អ្នកចុះហត្ថលេខា", "Signer"),
    "chain": ("ខ្សែវិញ្ញាបនបត្រ", "Certificate chain"),
    "claimed_time": ("ពេលវេលាដែលអ្នកចុះហត្ថលេខាបានបញ្ជាក់", "Signing time claimed by the signer"),
    "timestamp_time": ("ពេលវេលាដែលបញ្ជាក់ដោយត្រាពេលវេលា", "Signing time proven by a time-stamp"),
    "level": ("កម្រិត PAdES", "PAdES level"),
    "modifications": ("ការកែប្រែបន្ទាប់ពីចុះហត្ថលេខា", "Changes after signing"),
    "coverage": ("ផ្នែកដែលហត្ថលេខាគ្រប", "What the signature covers"),
    "certification": ("ហត្ថលេខាបញ្ជាក់ (DocMDP)", "Certification (DocMDP)"),
    "revocation_then": ("ស្ថានភាពវិញ្ញាបនបត្រនៅពេលចុះហត្ថលេខា", "Certificate status when signed"),
    "revocation_now": ("ស្ថានភាពវិញ្ញាបនបត្រឥឡូវនេះ", "Certificate status now"),
    "embedded": ("ព័ត៌មានដកហូតក្នុងឯកសារ", "Revocation data in the document"),
    "embedded_counts": ("ចម្លើយ OCSP {ocsp}, CRL {crl}", "{ocsp} OCSP responses, {crl} CRLs"),
    "details": ("ព័ត៌មានលម្អិត", "Details"),
    "none": ("គ្មាន", "none"),
    "unknown": ("មិនដឹង", "unknown"),
    "yes": ("បាទ/ចាស", "yes"),
    "no": ("ទេ", "no"),
    "good": ("មានសុពលភាព", "valid"),
    "revoked": ("ត្រូវបានដកហូត", "revoked"),
    "revoked_later": ("មានសុពលភាព (ដកហូតនៅពេលក្រោយ)", "valid (revoked later)"),
    # sub-indications, in plain words
    "HASH_FAILURE": (
        "ឯកសារត្រូវបានកែប្រែបន្ទាប់ពីចុះហត្ថលេខា។",
        "The document was changed after it was signed.",
    ),
    "SIG_CRYPTO_FAILURE": (
        "តម្លៃហត្ថលេខាមិនត្រូវគ្នានឹងវិញ្ញាបនបត្រទេ។",
        "The signature value does not match the certificate.",
    ),
    "NO_CERTIFICATE_CHAIN_FOUND": (
        "វិញ្ញាបនបត្រមិនត្រូវបានចេញដោយ NatID ទេ។",
        "The certificate was not issued under NatID's root.",
    ),
    "REVOKED": (
        "វិញ្ញាបនបត្រត្រូវបានដកហូតមុនពេលចុះហត្ថលេខា។",
        "The certificate was revoked before the signature was made.",
    ),
    "REVOKED_NO_POE": (
        "វិញ្ញាបនបត្រត្រូវបានដកហូត ហើយគ្មានភស្តុតាងថាហត្ថលេខាបានធ្វើមុននោះទេ។",
        "The certificate is revoked and nothing proves the signature was made before that.",
    ),
    "EXPIRED": ("វិញ្ញាបនបត្របានផុតកំណត់។", "The certificate has expired."),
    "SIG_CONSTRAINTS_FAILURE": (
        "ត្រាពេលវេលានៃហត្ថលេខាមិនត្រឹមត្រូវ។",
        "The signature's time-stamp is not valid.",
    ),
    "FORMAT_FAILURE": (
        "ឯកសារត្រូវបានកែប្រែតាមរបៀបដែលហត្ថលេខាមិនអនុញ្ញាត។",
        "The document was changed in a way the signature does not allow.",
    ),
    "other_problem": ("មានបញ្ហាជាមួយហត្ថលេខានេះ។", "There is a problem with this signature."),
    # the report's details: one per signing.validate.NOTE_CODES code, "note_" + code
    "note_cannot_process": (
        "ហត្ថលេខានេះមិនអាចដំណើរការបានទេ៖ {detail}",
        "The signature cannot be processed: {detail}",
    ),
    "note_revoked": (
        "វិញ្ញាបនបត្រត្រូវបានដកហូតនៅ {when} (មូលហេតុ៖ {reason})។",
        "The certificate was revoked on {when} (reason: {reason}).",
    ),
    "note_no_revocation_data_in_document": (
        "ឯកសារនេះមិនមានទិន្នន័យអំពីការដកហូតវិញ្ញាបនបត្រដែលអាចប្រើបានទេ "
        "(បានប្រើតែទិន្នន័យនៅក្នុងឯកសារប៉ុណ្ណោះ)។ មិនដឹងថាវិញ្ញាបនបត្រត្រូវបានដកហូតឬទេ។",
        "The document carries no usable revocation data for the certificate chain (only the "
        "data inside the document was used), so whether a certificate was revoked is unknown.",
    ),
    "note_no_revocation_data_obtained": (
        "មិនអាចទទួលបានទិន្នន័យអំពីការដកហូតវិញ្ញាបនបត្រទេ។ មិនដឹងថាវិញ្ញាបនបត្រត្រូវបានដកហូតឬទេ។",
        "No usable revocation data could be obtained for the certificate chain, so whether a "
        "certificate was revoked is unknown.",
    ),
    "note_modified_in_signed_range": (
        "ឯកសារត្រូវបានកែប្រែនៅក្នុងផ្នែកដែលបានចុះហត្ថលេខា។",
        "The document was modified inside the part that was signed.",
    ),
    "note_time_stamp_before_revocation": (
        "ត្រាពេលវេលានៃហត្ថលេខាបញ្ជាក់ថា ហត្ថលេខាត្រូវបានធ្វើមុនពេលដកហូតវិញ្ញាបនបត្រ។",
        "The signature's time-stamp proves it was made before the revocation.",
    ),
    "note_time_stamp_not_trusted": (
        "ត្រាពេលវេលានៃហត្ថលេខាមិនមានសុពលភាព ឬមិនអាចទុកចិត្តបានទេ។",
        "The signature's time-stamp is not valid or not trusted.",
    ),
    "note_partial_revision": (
        "ហត្ថលេខាមិនគ្របលើកំណែទាំងមូលរបស់វាទេ។",
        "The signature does not cover its whole revision.",
    ),
    "note_changed_after_signing": (
        "ឯកសារត្រូវបានកែប្រែបន្ទាប់ពីចុះហត្ថលេខា តាមរបៀបដែលហត្ថលេខាមិនអនុញ្ញាត។",
        "The document was changed after signing in a way the signature does not allow.",
    ),
    "note_judged_at_time_stamp": (
        "បានពិនិត្យតាមស្ថានភាពនៅពេលនៃត្រាពេលវេលារបស់វា ({when}) ដោយប្រើទិន្នន័យដកហូតដែលមាននៅក្នុងឯកសារ។",
        "Checked as at its time-stamp ({when}) with the revocation data the document carries.",
    ),
    "note_proven_by_document_time_stamp": (
        "វិញ្ញាបនបត្រមួយបានផុតកំណត់ហើយ។ ត្រាពេលវេលាឯកសារនៅ {when} បញ្ជាក់ថា ហត្ថលេខា "
        "និងត្រាពេលវេលារបស់វាមានរួចហើយ នៅពេលដែលវិញ្ញាបនបត្រទាំងនោះនៅមានសុពលភាព។",
        "A certificate has expired since; the document time-stamp of {when} proves the "
        "signature and its time-stamp existed while they were valid.",
    ),
    "note_proven_by_later_document_time_stamp": (
        "វិញ្ញាបនបត្ររបស់វាបានផុតកំណត់ហើយ។ ត្រាពេលវេលាឯកសារក្រោយនៅ {when} បញ្ជាក់ថា "
        "ត្រាពេលវេលានេះមានរួចហើយ នៅពេលដែលវិញ្ញាបនបត្ររបស់វានៅមានសុពលភាព។",
        "Its certificate has expired since; the later document time-stamp of {when} proves "
        "this time-stamp existed while its certificate was valid.",
    ),
    # errors
    "error_title": ("មិនអាចពិនិត្យឯកសារបានទេ", "The document cannot be checked"),
    "no_file": ("សូមជ្រើសរើសឯកសារ PDF។", "Please choose a PDF file."),
    "too_large": ("ឯកសារធំពេក។ យ៉ាងច្រើន {mb} MB។", "The file is too large: at most {mb} MB."),
    "invalid_pdf": (
        "ឯកសារនេះមិនមែនជា PDF ដែលអាចអានបានទេ (ខូច ឬមិនមែន PDF)។",
        "This file is not a readable PDF (it is damaged or not a PDF).",
    ),
    "encrypted_pdf": (
        "ឯកសារ PDF នេះត្រូវបានចាក់សោដោយពាក្យសម្ងាត់។ សូមផ្ញើច្បាប់ដែលមិនបានចាក់សោ។",
        "This PDF is encrypted (password-protected). Upload an unencrypted copy.",
    ),
    "bad_request": ("សំណើមិនត្រឹមត្រូវ។", "The request is not valid."),
    "unavailable": (
        "សេវាពិនិត្យមិនអាចប្រើបាននៅពេលនេះទេ។ សូមព្យាយាមម្តងទៀតនៅពេលក្រោយ។",
        "The checking service is not available now. Please try again later.",
    ),
}

TEXT: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        lang: MappingProxyType({key: pair[i] for key, pair in _PAIRS.items()})
        for i, lang in enumerate(LANGUAGES)
    }
)


def texts(lang: str) -> Mapping[str, str]:
    """The words in ``lang`` (``km`` or ``en``; anything else gets Khmer)."""
    return TEXT.get(lang, TEXT["km"])
