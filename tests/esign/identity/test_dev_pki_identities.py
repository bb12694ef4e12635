"""The dev PKI's certificates (made by esign.pki from certs/dev-pki.toml) read as structured identities."""

from __future__ import annotations

from esign.identity import Identifier, SignerIdentity, SignerKind
from esign.orgid import OrgIdentifier
from esign.pki import DevPKI


def test_dev_person_and_organization_certificates_read_back(dev_pki: DevPKI) -> None:
    person = SignerIdentity.from_certificate(dev_pki.certificate("person-p256"))
    assert person.kind is SignerKind.PERSON
    assert person.name == "Nguyễn Văn An"
    assert person.identifiers == (Identifier.parse("CCCD:001090012389"),)
    assert "001090012389" not in person.describe()

    org = SignerIdentity.from_certificate(dev_pki.certificate("org-p256"))
    assert org.kind is SignerKind.ORGANIZATION
    assert org.tax_code == "5700100256"
    assert org.agency_code == OrgIdentifier.parse("H49.22")
    assert org.email == "stttt@example.vn"
