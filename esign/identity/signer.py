"""Who signed: a structured identity read from any certificate, Vietnamese or foreign.

>>> from esign.identity import person_subject
>>> identity = SignerIdentity.from_name(person_subject("Nguyễn Văn An", "001203012389"))
>>> identity.describe()
'Nguyễn Văn An (person; CCCD:0012******89; VN)'
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from esign.identity.identifiers import Identifier, IdentifierError, IdentifierKind
from esign.identity.masking import mask_personal_numbers
from esign.identity.subject import GOVERNMENT_ENTITY, ORGID_PREFIX
from esign.orgid import OrgIdentifier, OrgIdError

# ETSI EN 319 412-1 semantics identifiers in serialNumber / organizationIdentifier: 3-letter type,
# country, dash, value. Mapped to our prefixes where the meaning is the same.
_ETSI = re.compile(r"(IDC|PAS|TIN|VAT|NTR|PNO)([A-Z]{2})[-:](.+)")
_ETSI_KINDS = {
    "IDC": IdentifierKind.CCCD,
    "PAS": IdentifierKind.HC,
    "TIN": IdentifierKind.MST,
    "VAT": IdentifierKind.MST,
    "NTR": IdentifierKind.MST,
}


class SignerKind(enum.StrEnum):
    """Whether the certificate names a person, an organization or a state agency."""

    PERSON = "person"
    ORGANIZATION = "organization"
    AGENCY = "agency"


@dataclass(frozen=True)
class SignerIdentity:
    """The structured identity of a certificate's holder.

    Personal numbers stay whole in the object; :meth:`to_dict` and :meth:`describe` mask them unless
    asked (``reveal=True``), and so does ``repr``.
    """

    name: str
    """Common name, or the organization when the certificate has no CN."""
    kind: SignerKind
    identifiers: tuple[Identifier, ...] = ()
    """Every well-formed identifier from ``UID`` (and ETSI ``serialNumber``) attributes, in order."""
    organization: str | None = None
    """``O``: the organization, or the top body of an agency hierarchy."""
    organizational_units: tuple[str, ...] = ()
    """``OU`` values in the order they appear."""
    tax_code: str | None = None
    """The tax code (``MST``), from a UID or an ETSI ``organizationIdentifier`` such as ``NTRVN-...``."""
    agency_code: OrgIdentifier | None = None
    """Organization electronic identifier code, from ``organizationIdentifier`` ``VN:<code>`` or an O/OU
    value that is a code."""
    country: str | None = None
    email: str | None = None
    province: str | None = None
    locality: str | None = None
    unrecognized_ids: tuple[str, ...] = field(default=(), repr=False)
    """``UID`` values that are not a well-formed identifier (kept for display, masked)."""

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> SignerIdentity:
        """Read the identity of ``cert``'s subject (the e-mail also from the SAN when not in the DN)."""
        identity = cls.from_name(cert.subject)
        if identity.email is None:
            try:
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            except (x509.ExtensionNotFound, ValueError):
                return identity
            emails = san.get_values_for_type(x509.RFC822Name)
            if emails:
                return replace(identity, email=emails[0])
        return identity

    @classmethod
    def from_name(cls, name: x509.Name) -> SignerIdentity:
        """Read the identity from a subject name (see :meth:`from_certificate`)."""
        values = _values(name)
        identifiers: list[Identifier] = []
        unrecognized: list[str] = []
        for raw in values.get(NameOID.USER_ID.dotted_string, []):
            try:
                ident = Identifier.parse(raw)
            except IdentifierError:
                unrecognized.append(raw)
                continue
            if ident not in identifiers:
                identifiers.append(ident)
        for raw in values.get(NameOID.SERIAL_NUMBER.dotted_string, []):
            ident_or_none = _etsi_identifier(raw)
            if ident_or_none is not None and ident_or_none not in identifiers:
                identifiers.append(ident_or_none)

        agency_code: OrgIdentifier | None = None
        tax_code = next((i.value for i in identifiers if i.kind is IdentifierKind.MST), None)
        for raw in values.get(NameOID.ORGANIZATION_IDENTIFIER.dotted_string, []):
            code = _orgid_from_attribute(raw)
            if code is not None:
                agency_code = agency_code or code
                continue
            etsi = _etsi_identifier(raw)
            if etsi is not None and etsi.kind is IdentifierKind.MST and tax_code is None:
                tax_code = etsi.value

        organization = _first(values, NameOID.ORGANIZATION_NAME)
        units = tuple(values.get(NameOID.ORGANIZATIONAL_UNIT_NAME.dotted_string, []))
        if agency_code is None:
            # Government certificates may name the agency's code as an O or OU value: take the deepest.
            for raw in reversed([*([organization] if organization else []), *units]):
                code = _orgid_exact(raw)
                if code is not None:
                    agency_code = code
                    break

        common_name = _first(values, NameOID.COMMON_NAME)
        government = GOVERNMENT_ENTITY in values.get(NameOID.BUSINESS_CATEGORY.dotted_string, [])
        kind = _kind(identifiers, common_name, organization, units, agency_code, government, tax_code)
        return cls(
            name=common_name or organization or name.rfc4514_string(),
            kind=kind,
            identifiers=tuple(identifiers),
            organization=organization,
            organizational_units=units,
            tax_code=tax_code,
            agency_code=agency_code,
            country=_first(values, NameOID.COUNTRY_NAME),
            email=_first(values, NameOID.EMAIL_ADDRESS),
            province=_first(values, NameOID.STATE_OR_PROVINCE_NAME),
            locality=_first(values, NameOID.LOCALITY_NAME),
            unrecognized_ids=tuple(unrecognized),
        )

    def identifier(self, kind: IdentifierKind) -> Identifier | None:
        """The first identifier of ``kind``, if any."""
        return next((i for i in self.identifiers if i.kind is kind), None)

    def _show(self, ident: Identifier, reveal: bool) -> str:
        if reveal:
            return str(ident)
        # A person's tax code is personal data whatever its length.
        return ident.masked(always=self.kind is SignerKind.PERSON)

    def _tax_code_shown(self, reveal: bool) -> str | None:
        if self.tax_code is None or reveal:
            return self.tax_code
        return (
            Identifier.of(IdentifierKind.MST, self.tax_code)
            .masked(always=self.kind is SignerKind.PERSON)
            .partition(":")[2]
        )

    def to_dict(self, reveal: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; personal numbers masked unless ``reveal`` (e.g. ``0010******89``)."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "identifiers": [
                {"kind": i.kind.value, "value": shown.partition(":")[2], "uid": shown}
                for i, shown in ((i, self._show(i, reveal)) for i in self.identifiers)
            ],
            "organization": self.organization,
            "organizational_units": list(self.organizational_units),
            "tax_code": self._tax_code_shown(reveal),
            "agency_code": str(self.agency_code) if self.agency_code else None,
            "country": self.country,
            "email": self.email,
            "province": self.province,
            "locality": self.locality,
            "unrecognized_ids": [u if reveal else mask_personal_numbers(u) for u in self.unrecognized_ids],
            "description": self.describe(reveal=reveal),
        }

    def describe(self, reveal: bool = False) -> str:
        """One readable line: ``Name (kind; identifiers; organization > units; code; country)``."""
        parts = [self.kind.value]
        if self.identifiers:
            parts.append(", ".join(self._show(i, reveal) for i in self.identifiers))
        elif self.tax_code:
            parts.append(f"MST:{self._tax_code_shown(reveal)}")
        org = " > ".join(p for p in (self.organization, *self.organizational_units) if p)
        if org and org != self.name:
            parts.append(org)
        if self.agency_code is not None:
            parts.append(f"code {self.agency_code}")
        if self.country:
            parts.append(self.country)
        return f"{self.name} ({'; '.join(parts)})"

    def __repr__(self) -> str:
        return f"SignerIdentity({self.describe()!r})"


def _values(name: x509.Name) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for attr in name:
        value = attr.value if isinstance(attr.value, str) else attr.value.decode("utf-8", "replace")
        values.setdefault(attr.oid.dotted_string, []).append(value.strip())
    return values


def _first(values: dict[str, list[str]], oid: x509.ObjectIdentifier) -> str | None:
    found = values.get(oid.dotted_string)
    return found[0] if found else None


def _orgid_exact(text: str) -> OrgIdentifier | None:
    try:
        return OrgIdentifier.parse(text)
    except OrgIdError:
        return None


def _orgid_from_attribute(raw: str) -> OrgIdentifier | None:
    if raw.upper().startswith(ORGID_PREFIX):
        return _orgid_exact(raw[len(ORGID_PREFIX) :])
    return None


def _etsi_identifier(raw: str) -> Identifier | None:
    """An identifier from ``PREFIX:value`` or an ETSI semantics identifier (``IDCVN-...``)."""
    try:
        return Identifier.parse(raw)
    except IdentifierError:
        pass
    match = _ETSI.fullmatch(raw.strip().upper())
    if match is None or match.group(2) != "VN" or match.group(1) not in _ETSI_KINDS:
        return None
    try:
        return Identifier.of(_ETSI_KINDS[match.group(1)], match.group(3))
    except IdentifierError:
        return None


def _kind(
    identifiers: list[Identifier],
    common_name: str | None,
    organization: str | None,
    units: tuple[str, ...],
    agency_code: OrgIdentifier | None,
    government: bool,
    tax_code: str | None,
) -> SignerKind:
    if any(i.personal for i in identifiers):
        return SignerKind.PERSON
    if government:
        return SignerKind.AGENCY
    if tax_code is not None or any(i.kind is IdentifierKind.MNS for i in identifiers):
        return SignerKind.ORGANIZATION
    names_itself = common_name is None or common_name == organization or common_name in units
    if agency_code is not None and names_itself:
        return SignerKind.AGENCY
    if organization is not None and names_itself:
        return SignerKind.ORGANIZATION
    # A CN that is not the organization's name: a person, possibly an official of that body.
    return SignerKind.PERSON
