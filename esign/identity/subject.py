"""Certificate subjects in the Vietnamese conventions.

* A person: ``CN`` the full name, ``UID=CCCD:<12 digits>`` (more ``UID`` for other identifiers).
* An organization: ``CN`` and ``O`` its name, ``UID=MST:<tax code>``, and ``organizationIdentifier``
  (2.5.4.97) ``VN:<code>`` when it has an electronic identifier code (QĐ 20/2020).
* A state agency: the ``O``/``OU`` hierarchy from the top body down, ``CN`` the agency,
  ``businessCategory=Government Entity``, its code in ``organizationIdentifier``, and ``UID=MST:`` /
  ``UID=MNS:`` when it has them.

Every builder validates what it writes and raises :class:`~esign.identity.IdentifierError` (an
``InvalidInput``) on a malformed number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

from esign.errors import InvalidInput
from esign.identity.identifiers import Identifier, IdentifierKind
from esign.orgid import OrgIdentifier

GOVERNMENT_ENTITY = "Government Entity"
"""``businessCategory`` value (CA/Browser Forum EV guidelines) that marks a state agency subject."""

ORGID_PREFIX = "VN:"
"""Prefix of an organization electronic identifier code in ``organizationIdentifier``."""


def _identifier(value: Identifier | str, kind: IdentifierKind) -> Identifier:
    if isinstance(value, Identifier):
        if value.kind is not kind:
            raise InvalidInput(f"expected a {kind.label} ({kind}:...), got a {value.kind.label}")
        return value
    text = value.strip()
    if ":" in text:
        ident = Identifier.parse(text)
        if ident.kind is not kind:
            raise InvalidInput(f"expected a {kind.label} ({kind}:...), got a {ident.kind.label}")
        return ident
    return Identifier.of(kind, text)


def _extra(ids: Iterable[Identifier | str]) -> list[Identifier]:
    return [i if isinstance(i, Identifier) else Identifier.parse(i) for i in ids]


def _orgid(code: OrgIdentifier | str | None) -> OrgIdentifier | None:
    if code is None or isinstance(code, OrgIdentifier):
        return code
    text = code.strip()
    if text.upper().startswith(ORGID_PREFIX):
        text = text[len(ORGID_PREFIX) :]
    return OrgIdentifier.parse(text)


def _nonempty(name: str, what: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput(f"the {what} must not be empty")
    if len(name) > 64:
        # RFC 5280 upper bound for CN, O and OU.
        raise InvalidInput(f"the {what} is {len(name)} characters; certificates allow at most 64")
    return name


def _place(province: str | None, locality: str | None) -> list[x509.NameAttribute]:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if province:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province))
    if locality:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    return attrs


def _uids(ids: Iterable[Identifier]) -> list[x509.NameAttribute]:
    seen: set[Identifier] = set()
    attrs = []
    for ident in ids:
        if ident not in seen:
            seen.add(ident)
            attrs.append(x509.NameAttribute(NameOID.USER_ID, str(ident)))
    return attrs


def _tail(email: str | None) -> list[x509.NameAttribute]:
    return [x509.NameAttribute(NameOID.EMAIL_ADDRESS, email)] if email else []


def person_subject(
    name: str,
    cccd: Identifier | str,
    *,
    province: str | None = None,
    locality: str | None = None,
    email: str | None = None,
    extra_ids: Iterable[Identifier | str] = (),
) -> x509.Name:
    """Subject for a person: ``C=VN, ST, L, CN=name, UID=CCCD:..., [UID=...], [emailAddress]``.

    ``cccd`` is the 12-digit citizen number, bare or as ``CCCD:...``; ``extra_ids`` more identifiers
    in UID form (``"MST:0100109106"``) or as :class:`Identifier`.

    >>> person_subject("Nguyễn Văn An", "001203012389").rfc4514_string()
    'UID=CCCD:001203012389,CN=Nguyễn Văn An,C=VN'
    """
    ident = _identifier(cccd, IdentifierKind.CCCD)
    return x509.Name(
        [
            *_place(province, locality),
            x509.NameAttribute(NameOID.COMMON_NAME, _nonempty(name, "person's name")),
            *_uids([ident, *_extra(extra_ids)]),
            *_tail(email),
        ]
    )


def organization_subject(
    name: str,
    tax_code: Identifier | str,
    *,
    agency_code: OrgIdentifier | str | None = None,
    locality: str | None = None,
    province: str | None = None,
    email: str | None = None,
    extra_ids: Iterable[Identifier | str] = (),
) -> x509.Name:
    """Subject for an organization: ``C=VN, ST, L, O=name, CN=name, UID=MST:..., [organizationIdentifier]``.

    ``tax_code`` is 10 digits or ``NNNNNNNNNN-NNN`` (bare or ``MST:...``), checked with python-stdnum;
    ``agency_code`` an organization electronic identifier code written as ``VN:<code>``.
    """
    name = _nonempty(name, "organization name")
    ident = _identifier(tax_code, IdentifierKind.MST)
    code = _orgid(agency_code)
    attrs = [
        *_place(province, locality),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
        *_uids([ident, *_extra(extra_ids)]),
    ]
    if code is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"{ORGID_PREFIX}{code}"))
    return x509.Name([*attrs, *_tail(email)])


def agency_subject(
    name: str,
    *,
    hierarchy: Sequence[str] = (),
    agency_code: OrgIdentifier | str | None = None,
    tax_code: Identifier | str | None = None,
    budget_code: Identifier | str | None = None,
    locality: str | None = None,
    province: str | None = None,
    email: str | None = None,
) -> x509.Name:
    """Subject for a state agency with the ``O``/``OU`` hierarchy of the bodies above it.

    ``hierarchy`` lists the bodies above the agency, top first: its first entry is ``O``, the rest
    ``OU`` in order; with no hierarchy the agency itself is ``O``. ``CN`` is the agency's name.

    >>> name = agency_subject("Sở Tư pháp", hierarchy=["UBND tỉnh Quảng Ninh"], agency_code="H49.22")
    >>> name.rfc4514_string()
    '2.5.4.97=VN:H49.22,2.5.4.15=Government Entity,CN=Sở Tư pháp,O=UBND tỉnh Quảng Ninh,C=VN'
    """
    name = _nonempty(name, "agency name")
    above = [_nonempty(h, "hierarchy entry") for h in hierarchy] or [name]
    code = _orgid(agency_code)
    ids: list[Identifier] = []
    if tax_code is not None:
        ids.append(_identifier(tax_code, IdentifierKind.MST))
    if budget_code is not None:
        ids.append(_identifier(budget_code, IdentifierKind.MNS))
    attrs = [
        *_place(province, locality),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, above[0]),
        *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit) for unit in above[1:]),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
        x509.NameAttribute(NameOID.BUSINESS_CATEGORY, GOVERNMENT_ENTITY),
        *_uids(ids),
    ]
    if code is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"{ORGID_PREFIX}{code}"))
    return x509.Name([*attrs, *_tail(email)])
