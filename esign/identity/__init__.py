"""Electronic identification of people and organizations in certificates.

Identifiers carried in ``UID`` attributes (``CCCD:``, ``CMND:``, ``HC:``, ``MST:``, ``MNS:``), subject
builders in the Vietnamese conventions, and masking of personal numbers for logs and reports.
"""

from esign.identity.identifiers import (
    CCCD_PROVINCES,
    UID_OID,
    CitizenNumberInfo,
    Guess,
    Identifier,
    IdentifierError,
    IdentifierKind,
    Sex,
    citizen_number_info,
    guess_identifier,
    mask_number,
)
from esign.identity.masking import mask_personal_numbers
from esign.identity.signer import SignerIdentity, SignerKind
from esign.identity.subject import (
    GOVERNMENT_ENTITY,
    ORGID_PREFIX,
    agency_subject,
    organization_subject,
    person_subject,
)

__all__ = [
    "CCCD_PROVINCES",
    "GOVERNMENT_ENTITY",
    "ORGID_PREFIX",
    "UID_OID",
    "CitizenNumberInfo",
    "Guess",
    "Identifier",
    "IdentifierError",
    "IdentifierKind",
    "Sex",
    "SignerIdentity",
    "SignerKind",
    "agency_subject",
    "citizen_number_info",
    "guess_identifier",
    "mask_number",
    "mask_personal_numbers",
    "organization_subject",
    "person_subject",
]
