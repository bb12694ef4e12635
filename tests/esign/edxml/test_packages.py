"""Building, writing, reading and checking edXML packages; status and business packages; attachments."""

from __future__ import annotations

import base64
import os
import subprocess
import tracemalloc
import zipfile
from datetime import date, datetime
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from esign.edxml import (
    NAMESPACE,
    BusinessDocType,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    Package,
    ResponseFor,
    SignerInfo,
    StaticRegistry,
    StatusCode,
    StatusHeader,
    TraceHeader,
    add_trace,
    build_package,
    extract_attachments,
    make_business,
    make_status,
    parse_package,
    to_bytes,
    validate,
    write_package,
)
from esign.edxml.packages import VIETNAM_TIME, manifest_of
from esign.errors import InvalidInput

E = f"{{{NAMESPACE}}}"
AT = datetime(2026, 11, 20, 9, 30, tzinfo=VIETNAM_TIME)
HEADER = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"


def _package(registry: StaticRegistry, files: list[tuple[str, bytes]] | None = None) -> Package:
    return build_package(
        sender="H49.22",
        receivers=["H49.01", "H49.02", "H49.03"],
        code_number="125",
        code_notation="STP-HCTP",
        subject="Về việc triển khai chữ ký số trong văn bản điện tử",
        files=files if files is not None else [("cong-van.pdf", b"%PDF-1.7 letter")],
        promulgation_date=date(2026, 11, 20),
        place="Quảng Ninh",
        document_type=DocumentType(type="2", type_name="Công văn"),
        signer_info=SignerInfo(competence="KT. Giám đốc", position="Phó Giám đốc", full_name="Nguyễn Văn A"),
        registry=registry,
        at=AT,
    )


def test_built_package_has_the_regulation_layout(registry: StaticRegistry) -> None:
    data = to_bytes(_package(registry))
    root = etree.fromstring(data)
    # Root and attachments in the default namespace, the envelope under the edXML: prefix.
    assert root.tag == E + "edXML" and root.prefix is None
    envelope = root[0]
    assert envelope.tag == E + "edXMLEnvelope" and envelope.prefix == "edXML"
    assert [etree.QName(c).localname for c in envelope] == ["edXMLHeader", "edXMLBody"]
    message = envelope.find(f"{E}edXMLHeader/{E}MessageHeader")
    assert message is not None
    assert [etree.QName(c).localname for c in message] == [
        "From", "To", "To", "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType", "Subject",
        "SignerInfo", "OtherInfo",
    ]  # fmt: skip
    assert message.findtext(f"{E}From/{E}OrganName") == "Sở Tư pháp tỉnh Quảng Ninh"  # from the registry
    assert message.findtext(f"{E}PromulgationInfo/{E}PromulgationDate") == "2026/11/20"
    trace = envelope.find(f"{E}edXMLHeader/{E}TraceHeaderList/{E}TraceHeader")
    assert trace is not None and trace.findtext(f"{E}Timestamp") == "2026/11/20 09:30:00"
    manifest = envelope.find(f"{E}edXMLBody/{E}edXMLManifest")
    assert manifest is not None and manifest.get("version") == "1.0"
    attachment = root.find(f"{E}AttachmentEncoded/{E}Attachment")
    assert attachment is not None and attachment.prefix is None
    assert attachment.findtext(f"{E}ContentId") == manifest.findtext(f"{E}Reference/{E}ContentId")
    assert attachment.findtext(f"{E}ContentId", "").startswith("cid:")


def test_attachment_opens_with_unzip(registry: StaticRegistry, tmp_path: Path) -> None:
    content = "Nội dung công văn".encode() * 1000
    data = to_bytes(_package(registry, [("cong-van.docx", content)]))
    encoded = etree.fromstring(data).findtext(f"{E}AttachmentEncoded/{E}Attachment/{E}ContentTransferEncoded")
    archive = tmp_path / "attachment.zip"
    archive.write_bytes(base64.b64decode(encoded or ""))
    listing = subprocess.run(["unzip", "-l", str(archive)], capture_output=True, text=True, check=True).stdout
    assert "cong-van.docx" in listing
    unpacked = subprocess.run(["unzip", "-p", str(archive), "cong-van.docx"], capture_output=True, check=True).stdout
    assert unpacked == content


def test_parse_reads_back_what_was_built(registry: StaticRegistry) -> None:
    package = _package(registry)
    parsed = parse_package(to_bytes(package))
    assert parsed.header == package.header
    assert parsed.traces == package.traces
    assert parsed.business == package.business
    assert [(a.content_id, a.name, a.content_type) for a in parsed.attachments] == [
        (a.content_id, a.name, a.content_type) for a in package.attachments
    ]
    assert validate(parsed) == []
    assert to_bytes(parsed) == to_bytes(package)


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
_CODES = st.sampled_from(["H49", "H49.22", "H49.01", "000.00.02.H49", "G12.18", "K49.3.4"])
_MAYBE = st.none() | _TEXT


@st.composite
def _packages(draw: st.DrawFn) -> Package:
    def org() -> Organization:
        return Organization(organ_id=draw(_CODES), organ_name=draw(_MAYBE), email=draw(_MAYBE), website=draw(_MAYBE))

    header = MessageHeader(
        from_=org(),
        to=[org() for _ in range(draw(st.integers(1, 3)))],
        document_id=draw(_MAYBE),
        subject=draw(_MAYBE),
        content=draw(_MAYBE),
        due_date=draw(_MAYBE),
        to_places=draw(st.lists(_TEXT, max_size=2)),
        other_info=OtherInfo(priority=draw(_MAYBE), appendixes=draw(st.lists(_TEXT, max_size=2))),
        response_for=[ResponseFor(organ_id=draw(_CODES), code=draw(_MAYBE))] if draw(st.booleans()) else [],
        steering_type=draw(_MAYBE),
    )
    files = draw(st.lists(st.tuples(_TEXT.filter(bool), st.binary(max_size=200)), max_size=3))
    package = build_package(
        sender=header.from_, receivers=header.to, code_number=draw(_TEXT), code_notation=draw(_TEXT),
        subject=header.subject or "", files=files, at=AT, validate=False,
    )  # fmt: skip
    header.code, header.promulgation_info = package.header.code, package.header.promulgation_info  # type: ignore[union-attr]
    package.header = header
    return package


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_packages())
def test_round_trip_build_parse_build_is_stable(package: Package) -> None:
    first = to_bytes(package)
    parsed = parse_package(first)
    assert parsed.header == package.header
    assert [a.name for a in parsed.attachments] == [a.name for a in package.attachments]
    assert to_bytes(parsed) == first
    assert [str(p) for p in validate(parsed)] == [str(p) for p in validate(package)]


def test_validation_lists_every_problem_by_path(registry: StaticRegistry) -> None:
    package = _package(registry)
    header = package.header
    assert isinstance(header, MessageHeader)
    header.from_.organ_name = None
    header.to[1].organ_id = "000.00.01.H49"  # the same code as To[1]'s H49.01, in the QCVN form
    header.to[2].organ_id = "X99.1"
    header.code.code_number = None
    header.promulgation_info.promulgation_date = "2026-11-20"
    header.due_date = "2026/1/5"
    header.subject = "x" * 501
    header.other_info.priority = "7"
    header.document_type.type = "3"
    package.traces[0].timestamp = "2026/11/20"
    package.manifest[0].content_id = "no-cid"
    problems = {p.path: p.message for p in validate(package)}
    assert problems.keys() == {
        f"{HEADER}/From/OrganName",
        f"{HEADER}/To[2]/OrganId",
        f"{HEADER}/To[3]/OrganId",
        f"{HEADER}/Code/CodeNumber",
        f"{HEADER}/PromulgationInfo/PromulgationDate",
        f"{HEADER}/DueDate",
        f"{HEADER}/Subject",
        f"{HEADER}/OtherInfo/Priority",
        f"{HEADER}/DocumentType/Type",
        "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/TraceHeader[1]/Timestamp",
        "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest/Reference[1]/ContentId",
        "/edXML/AttachmentEncoded/Attachment[1]/ContentId",
    }
    assert "already a receiver (To[1])" in problems[f"{HEADER}/To[2]/OrganId"]
    assert "501 characters" in problems[f"{HEADER}/Subject"]
    assert "yyyy/MM/dd" in problems[f"{HEADER}/PromulgationInfo/PromulgationDate"]


def test_build_refuses_an_invalid_package_listing_all_problems() -> None:
    with pytest.raises(InvalidInput) as caught:
        build_package(sender="H49.22", receivers=["H49.01", "H49.01"], code_number="", code_notation="VP",
                      subject="s", at=AT)  # fmt: skip
    message = str(caught.value)
    assert "From/OrganName: required" in message
    assert "To[2]/OrganId" in message and "Code/CodeNumber: required, but empty" in message


def test_repeated_single_element_is_a_problem_not_a_silent_choice(registry: StaticRegistry) -> None:
    data = to_bytes(_package(registry))
    data = data.replace(b"<edXML:Subject>", b"<edXML:Subject>Forged</edXML:Subject><edXML:Subject>", 1)
    problems = [str(p) for p in validate(parse_package(data))]
    assert f"{HEADER}/Subject: appears 2 times, once is allowed" in problems


def test_hostile_xml_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY a "aaaaaaaa">]>'
            b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&a;</edXML>')  # fmt: skip
    with pytest.raises(InvalidInput):
        parse_package(bomb)
    with pytest.raises(InvalidInput, match="not an edXML package"):
        parse_package(b"<edXML/>")
    with pytest.raises(InvalidInput):
        parse_package(b"not xml")


def test_trace_hop_is_added_and_checked(registry: StaticRegistry) -> None:
    package = _package(registry)
    add_trace(package, "000.00.00.H49", at=datetime(2026, 11, 20, 9, 31, tzinfo=VIETNAM_TIME))
    parsed = parse_package(to_bytes(package))
    assert [(t.organ_id, t.timestamp) for t in parsed.traces] == [
        ("H49.22", "2026/11/20 09:30:00"),
        ("000.00.00.H49", "2026/11/20 09:31:00"),
    ]
    with pytest.raises(InvalidInput):
        add_trace(package, "not a code")


@pytest.mark.parametrize("code", list(StatusCode))
def test_status_package_answers_the_document(registry: StaticRegistry, code: StatusCode) -> None:
    original = _package(registry)
    status = make_status(original, sender="H49.01", status=code, description="Đã nhận", at=AT)
    data = to_bytes(status)
    root = etree.fromstring(data)
    assert root.find(f"{E}edXMLEnvelope/{E}edXMLBody") is None  # no body
    parsed = parse_package(data)
    assert isinstance(parsed.header, StatusHeader)
    assert parsed.header.status_code == code.value
    assert parsed.header.response_for.organ_id == "H49.22"
    assert isinstance(original.header, MessageHeader)
    assert parsed.header.response_for.document_id == original.header.document_id
    assert parsed.header.response_for.code == "125/STP-HCTP"
    assert parsed.recipients == ["H49.22"]
    assert validate(parsed) == []


def test_unknown_status_code_is_refused(registry: StaticRegistry) -> None:
    with pytest.raises(InvalidInput, match="not a status code"):
        make_status(_package(registry), sender="H49.01", status="99")
    status = to_bytes(make_status(_package(registry), sender="H49.01", status="01", at=AT))
    problems = validate(parse_package(status.replace(b">01<", b">99<")))
    assert [p.path for p in problems] == [f"{HEADER}/StatusCode"]


def test_business_packages(registry: StaticRegistry) -> None:
    original = _package(registry)
    assert isinstance(original.header, MessageHeader)
    revocation = parse_package(to_bytes(make_business(original, BusinessDocType.REVOCATION, reason="Ban hành nhầm")))
    assert revocation.business is not None and revocation.business.doc_type == "1"
    assert revocation.business.document_id == original.header.document_id
    assert revocation.attachments == []
    update = parse_package(to_bytes(make_business(original, BusinessDocType.UPDATE, reason="Bổ sung nơi nhận",
                                                  receivers=["H49.01", "H49.02", "H49.03", "H49"])))  # fmt: skip
    assert update.business is not None and update.business.document_receiver == "1"
    assert update.recipients == ["H49.01", "H49.02", "H49.03", "H49"]
    assert [a.name for a in update.attachments] == ["cong-van.pdf"]
    replacement = parse_package(to_bytes(make_business(original, 3, reason="Thay thế",
                                                       files=[("cong-van-moi.pdf", b"%PDF new")])))  # fmt: skip
    assert replacement.business is not None
    assert replacement.business.replacements[0].organ_ids == ["H49.01", "H49.02", "H49.03"]
    assert [a.name for a in replacement.attachments] == ["cong-van-moi.pdf"]
    for package in (revocation, update, replacement):
        assert validate(package) == []
    with pytest.raises(InvalidInput):
        make_business(original, BusinessDocType.REPLACEMENT, reason="no files")


def test_extract_writes_plain_names_only(registry: StaticRegistry, tmp_path: Path) -> None:
    package = _package(registry, [("../../evil.pdf", b"%PDF evil"), ("a.pdf", b"1"), ("A.pdf", b"2")])
    written = extract_attachments(parse_package(to_bytes(package)), tmp_path / "out")
    assert [p.name for p in written] == ["evil.pdf", "a.pdf", "A-2.pdf"]
    assert all(p.parent == tmp_path / "out" for p in written)
    assert (tmp_path / "out" / "evil.pdf").read_bytes() == b"%PDF evil"


def _with_zip(registry: StaticRegistry, archive: bytes) -> Package:
    data = to_bytes(_package(registry, [("a.pdf", b"x")]))
    root = etree.fromstring(data)
    element = root.find(f"{E}AttachmentEncoded/{E}Attachment/{E}ContentTransferEncoded")
    assert element is not None
    element.text = base64.b64encode(archive).decode()
    return parse_package(etree.tostring(root))


def test_zip_with_two_files_or_too_much_content_is_refused(registry: StaticRegistry, tmp_path: Path) -> None:
    two = BytesIO()
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.pdf", b"1")
        archive.writestr("b.pdf", b"2")
    with pytest.raises(InvalidInput, match="holds 2 files"):
        extract_attachments(_with_zip(registry, two.getvalue()), tmp_path / "two")
    bomb = BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.pdf", b"\0" * 5_000_000)
    with pytest.raises(InvalidInput, match="over 1000000"):
        extract_attachments(_with_zip(registry, bomb.getvalue()), tmp_path / "bomb", max_size=1_000_000)
    assert not (tmp_path / "bomb" / "a.pdf").exists()
    with pytest.raises(InvalidInput, match="not base64"):
        package = _with_zip(registry, b"")
        package.attachments[0].encoded = b"@@@@"
        extract_attachments(package, tmp_path / "b64")


def test_writing_large_attachments_takes_bounded_memory(registry: StaticRegistry, tmp_path: Path) -> None:
    files = []
    for index in range(3):
        path = tmp_path / f"file-{index}.bin"
        path.write_bytes(os.urandom(8 * 1024 * 1024))  # incompressible: the ZIPs are as large
        files.append(path)
    package = _package(registry, [])
    package.attachments = [pkg.attachments[0] for pkg in (_package(registry, [(p.name, b"")]) for p in files)]
    for attachment, path in zip(package.attachments, files, strict=True):
        attachment.source, attachment.data = path, None
    package.manifest = manifest_of(package.attachments)
    target = tmp_path / "big.edxml"
    tracemalloc.start()
    with open(target, "wb") as out:
        write_package(package, out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert target.stat().st_size > 3 * 8 * 1024 * 1024 * 4 // 3  # 24 MiB went through as 32 MiB of base64 ...
    assert peak < 4 * 1024 * 1024  # ... with under half of one file in Python memory at any time
    written = extract_attachments(parse_package(target.read_bytes()), tmp_path / "out")
    assert [p.read_bytes() == f.read_bytes() for p, f in zip(written, files, strict=True)] == [True] * 3


def test_extract_from_a_file_streams_and_refuses_hostile_xml(registry: StaticRegistry, tmp_path: Path) -> None:
    package = _package(registry, [("a.pdf", b"%PDF a"), ("b.docx", b"docx b")])
    source = tmp_path / "pkg.edxml"
    source.write_bytes(to_bytes(package))
    written = extract_attachments(source, tmp_path / "out")
    assert [(p.name, p.read_bytes()) for p in written] == [("a.pdf", b"%PDF a"), ("b.docx", b"docx b")]
    late_doctype = tmp_path / "late.edxml"
    late_doctype.write_bytes(b"<?xml version='1.0'?><!--" + b"x" * 5000 + b'--><!DOCTYPE edXML [<!ENTITY e "e">]>'
                             b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&e;</edXML>')  # fmt: skip
    with pytest.raises(InvalidInput, match="DOCTYPE"):
        extract_attachments(late_doctype, tmp_path / "late")
    other = tmp_path / "other.xml"
    other.write_bytes(b"<html/>")
    with pytest.raises(InvalidInput, match="not an edXML package"):
        extract_attachments(other, tmp_path / "other")


_ANY_CODE = st.one_of(_CODES, _TEXT)


@settings(max_examples=60, deadline=None)
@given(
    sender=_ANY_CODE, receivers=st.lists(_ANY_CODE, max_size=4), date_text=_MAYBE, priority=_MAYBE,
    status=st.one_of(st.sampled_from([c.value for c in StatusCode]), _TEXT), trace=_MAYBE,
)  # fmt: skip
def test_validation_answers_every_input_with_problems_never_an_exception(
    sender: str, receivers: list[str], date_text: str | None, priority: str | None, status: str, trace: str | None
) -> None:
    header = MessageHeader(from_=Organization(organ_id=sender), to=[Organization(organ_id=r) for r in receivers])
    header.promulgation_info.promulgation_date = date_text
    header.other_info.priority = priority
    document = Package(header=header, traces=[TraceHeader(organ_id=sender, timestamp=trace)])
    answer = Package(header=StatusHeader(from_=Organization(organ_id=sender), status_code=status))
    for package in (document, answer):
        problems = validate(package)
        assert all(p.path.startswith("/edXML/") and p.message for p in problems)
        assert validate(parse_package(to_bytes(package))) == problems
