"""Build X.509 names from ``[attribute, value]`` pairs as written in profile files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

from esign.errors import InvalidInput

ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "UID": NameOID.USER_ID,
    "E": NameOID.EMAIL_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
    "title": NameOID.TITLE,
}


def build_name(pairs: Iterable[Sequence[str]]) -> x509.Name:
    """An X.509 name from ``[["C", "VN"], ["CN", "..."], ["UID", "CCCD:..."]]``, in that order."""
    attributes = []
    for pair in pairs:
        if len(pair) != 2:
            raise InvalidInput(f"a name attribute is [name, value], got {list(pair)!r}")
        name, value = pair
        oid = ATTRIBUTES.get(name)
        if oid is None:
            raise InvalidInput(f"unknown name attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
        attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)
