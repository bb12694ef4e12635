"""SignerIdentity from certificates made by another tool (openssl req) and by our subject builders."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings

from esign.errors import InvalidInput
from esign.identity import (
    GOVERNMENT_ENTITY,
    Identifier,
    IdentifierKind,
    SignerIdentity,
    SignerKind,
    agency_subject,
    mask_number,
    organization_subject,
    person_subject,
)
from esign.orgid import OrgIdentifier

from .strategies import citizen_numbers

CCCD = "001203012389"
MST = "0100109106"


def openssl_certificate(tmp_path: Path, subject: str, *extra: str) -> x509.Certificate:
    """A self-signed P-256 certificate made by the openssl command line, not by our code."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-utf8",
            "-subj",
            subject,
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return x509.load_pem_x509_certificate(cert.read_bytes())


def own_certificate(subject: x509.Name) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_person_with_several_uids_from_openssl(tmp_path: Path) -> None:
    cert = openssl_certificate(
        tmp_path,
        f"/C=VN/ST=Hà Nội/CN=Nguyễn Văn An/UID=CCCD:{CCCD}/UID=MST:{MST}/UID=HC:C1234567/emailAddress=an@example.vn",
    )
    identity = SignerIdentity.from_certificate(cert)
    assert identity.name == "Nguyễn Văn An"
    assert identity.kind is SignerKind.PERSON
    assert identity.identifiers == (
        Identifier.parse(f"CCCD:{CCCD}"),
        Identifier.parse(f"MST:{MST}"),
        Identifier.parse("HC:C1234567"),
    )
    assert identity.tax_code == MST
    assert identity.country == "VN"
    assert identity.province == "Hà Nội"
    assert identity.email == "an@example.vn"
    assert identity.identifier(IdentifierKind.CCCD) == Identifier.parse(f"CCCD:{CCCD}")


def test_organization_with_branch_tax_code_and_orgid_from_openssl(tmp_path: Path) -> None:
    cert = openssl_certificate(
        tmp_path,
        f"/C=VN/L=Hạ Long/O=Công ty Cổ phần ABC/CN=Công ty Cổ phần ABC/UID=MST:{MST}-001"
        "/organizationIdentifier=VN:H49.22",
    )
    identity = SignerIdentity.from_certificate(cert)
    assert identity.kind is SignerKind.ORGANIZATION
    assert identity.tax_code == f"{MST}-001"
    assert identity.agency_code == OrgIdentifier.parse("H49.22")
    assert identity.organization == "Công ty Cổ phần ABC"
    assert identity.locality == "Hạ Long"


def test_agency_code_is_read_from_the_ou_hierarchy(tmp_path: Path) -> None:
    cert = openssl_certificate(tmp_path, "/C=VN/O=UBND tỉnh Quảng Ninh/OU=Sở Tư pháp/OU=000.00.22.H49/CN=Sở Tư pháp")
    identity = SignerIdentity.from_certificate(cert)
    assert identity.agency_code == OrgIdentifier.parse("H49.22")
    assert identity.kind is SignerKind.AGENCY
    assert identity.organizational_units == ("Sở Tư pháp", "000.00.22.H49")


def test_official_of_an_agency_without_uid_is_a_person(tmp_path: Path) -> None:
    cert = openssl_certificate(tmp_path, "/C=VN/O=Bộ Tài chính/OU=Vụ Pháp chế/CN=Trần Thị Bình")
    identity = SignerIdentity.from_certificate(cert)
    assert identity.kind is SignerKind.PERSON
    assert identity.organization == "Bộ Tài chính"
    assert identity.describe() == "Trần Thị Bình (person; Bộ Tài chính > Vụ Pháp chế; VN)"


def test_foreign_certificate_gives_name_organization_and_country(tmp_path: Path) -> None:
    cert = openssl_certificate(
        tmp_path,
        "/C=DE/O=Beispiel GmbH/CN=Erika Mustermann/serialNumber=PASDE-C01X00T47",
        "-addext",
        "subjectAltName=email:erika@example.de",
    )
    identity = SignerIdentity.from_certificate(cert)
    assert (identity.name, identity.organization, identity.country) == ("Erika Mustermann", "Beispiel GmbH", "DE")
    assert identity.kind is SignerKind.PERSON
    assert identity.identifiers == ()
    assert identity.email == "erika@example.de"
    assert identity.agency_code is None


def test_malformed_uids_are_kept_aside_and_masked(tmp_path: Path) -> None:
    cert = openssl_certificate(tmp_path, "/C=VN/CN=Lê Văn C/UID=CCCD:001999012389/UID=something")
    identity = SignerIdentity.from_certificate(cert)
    assert identity.identifiers == ()
    assert identity.unrecognized_ids == ("CCCD:001999012389", "something")
    assert "001999012389" not in json.dumps(identity.to_dict(), ensure_ascii=False)
    assert "001999012389" in json.dumps(identity.to_dict(reveal=True), ensure_ascii=False)


def test_etsi_semantics_identifiers_are_understood(tmp_path: Path) -> None:
    cert = openssl_certificate(
        tmp_path, f"/C=VN/CN=Phạm D/serialNumber=IDCVN-{CCCD}/O=Công ty X/organizationIdentifier=NTRVN-{MST}"
    )
    identity = SignerIdentity.from_certificate(cert)
    assert identity.identifiers == (Identifier.parse(f"CCCD:{CCCD}"),)
    assert identity.tax_code == MST


def test_our_subject_builders_read_back_as_what_they_were_built_from() -> None:
    person = SignerIdentity.from_certificate(
        own_certificate(
            person_subject(
                "Nguyễn Văn An",
                CCCD,
                province="Hà Nội",
                locality="Ba Đình",
                email="an@example.vn",
                extra_ids=[f"MST:{MST}"],
            )
        )
    )
    assert person.kind is SignerKind.PERSON
    assert [str(i) for i in person.identifiers] == [f"CCCD:{CCCD}", f"MST:{MST}"]
    assert (person.province, person.locality, person.email) == ("Hà Nội", "Ba Đình", "an@example.vn")

    org = SignerIdentity.from_name(organization_subject("Công ty ABC", f"MST:{MST}", agency_code="VN:G12.18"))
    assert (org.kind, org.tax_code, org.agency_code) == (SignerKind.ORGANIZATION, MST, OrgIdentifier.parse("G12.18"))

    agency = SignerIdentity.from_name(
        agency_subject(
            "Phòng Tư pháp",
            hierarchy=["UBND tỉnh Quảng Ninh", "Sở Tư pháp"],
            agency_code="H49.22",
            budget_code="1234567",
        )
    )
    assert agency.kind is SignerKind.AGENCY
    assert agency.organization == "UBND tỉnh Quảng Ninh"
    assert agency.organizational_units == ("Sở Tư pháp",)
    assert agency.agency_code == OrgIdentifier.parse("H49.22")
    assert agency.identifier(IdentifierKind.MNS) == Identifier.parse("MNS:1234567")


def test_agency_subject_marks_a_government_entity_even_without_a_code() -> None:
    name = agency_subject("UBND xã Tân Dân")
    assert name.get_attributes_for_oid(x509.NameOID.BUSINESS_CATEGORY)[0].value == GOVERNMENT_ENTITY
    assert SignerIdentity.from_name(name).kind is SignerKind.AGENCY


@pytest.mark.parametrize(
    "build",
    [
        lambda: person_subject("An", "001203012380" + "1"),
        lambda: person_subject("An", f"MST:{MST}"),
        lambda: person_subject("   ", CCCD),
        lambda: organization_subject("ABC", "0100109107"),
        lambda: organization_subject("ABC", MST, agency_code="X49"),
        lambda: organization_subject("A" * 65, MST),
    ],
)
def test_subject_builders_refuse_malformed_input(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(citizen_numbers(dt.date.today()))
def test_reports_never_carry_an_unmasked_personal_number(number: str) -> None:
    identity = SignerIdentity.from_name(
        person_subject("Người Ký", number, extra_ids=[f"MST:{number}", f"CMND:{number[3:]}", "MST:0100109106"])
    )
    masked_outputs = [json.dumps(identity.to_dict()), identity.describe(), repr(identity), str(identity)]
    for secret in (number, number[3:], "0100109106"):
        for output in masked_outputs:
            assert secret not in output
    assert mask_number(number) in identity.describe()
    revealed = json.dumps(identity.to_dict(reveal=True)) + identity.describe(reveal=True)
    assert number in revealed and "0100109106" in revealed


def test_an_organizations_tax_code_is_public_and_shown() -> None:
    identity = SignerIdentity.from_name(organization_subject("Công ty ABC", MST))
    assert identity.to_dict()["tax_code"] == MST
    assert identity.describe() == f"Công ty ABC (organization; MST:{MST}; VN)"
