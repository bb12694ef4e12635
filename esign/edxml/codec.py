"""Reading and writing edXML packages (the XML layout of QCVN 102:2016).

Writing puts the envelope's elements under the ``edXML:`` prefix and the root and attachments in
the default namespace, as the regulation's examples and deployed systems do. Attachments are
streamed into the output (:func:`write_package`), so a package of large files is written in
bounded memory. Reading goes through esign's hardened parser (:func:`esign.xml.parse_xml`: no DTD,
no entities, no network); elements are matched by namespace and local name, so any prefix works.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from esign.edxml import attachments as att
from esign.edxml.model import (
    NAMESPACE,
    Attachment,
    Business,
    DocumentCode,
    DocumentType,
    EnvelopeSignature,
    MessageHeader,
    Organization,
    OtherInfo,
    Package,
    Problem,
    PromulgationInfo,
    ReceiverEntry,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    TraceHeader,
)
from esign.errors import InvalidInput
from esign.xml import parse_xml

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
HUGE_TREE_FROM = 8_000_000
"""Packages from this size are parsed with libxml2's size limits lifted (attachments are long text nodes)."""
_E = f"{{{NAMESPACE}}}"
_XLINK = "http://www.w3.org/1999/xlink"

# (element name, attribute) in the regulation's order, for each flat group of text fields.
ORGANIZATION_FIELDS = (
    ("OrganId", "organ_id"),
    ("OrganizationInCharge", "organization_in_charge"),
    ("OrganName", "organ_name"),
    ("OrganAdd", "organ_add"),
    ("Email", "email"),
    ("Telephone", "telephone"),
    ("Fax", "fax"),
    ("Website", "website"),
)
CODE_FIELDS = (("CodeNumber", "code_number"), ("CodeNotation", "code_notation"))
PROMULGATION_FIELDS = (("Place", "place"), ("PromulgationDate", "promulgation_date"))
DOCUMENT_TYPE_FIELDS = (("Type", "type"), ("TypeDetail", "type_detail"), ("TypeName", "type_name"))
SIGNER_FIELDS = (("Competence", "competence"), ("Position", "position"), ("FullName", "full_name"))
OTHER_INFO_FIELDS = (
    ("Priority", "priority"),
    ("SphereOfPromulgation", "sphere_of_promulgation"),
    ("TyperNotation", "typer_notation"),
    ("PromulgationAmount", "promulgation_amount"),
    ("PageAmount", "page_amount"),
    ("Direction", "direction"),
)
RESPONSE_FOR_FIELDS = (
    ("OrganId", "organ_id"),
    ("Code", "code"),
    ("PromulgationDate", "promulgation_date"),
    ("DocumentId", "document_id"),
)
STAFF_FIELDS = (("Department", "department"), ("Staff", "staff"), ("Email", "email"), ("Mobile", "mobile"))
TRACE_FIELDS = (("OrganId", "organ_id"), ("Timestamp", "timestamp"))
ATTACHMENT_FIELDS = (
    ("ContentId", "content_id"),
    ("AttachmentName", "name"),
    ("Description", "description"),
    ("ContentType", "content_type"),
)


# ---------------------------------------------------------------------------------------- writing
def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _E + name)
    if text is not None:
        element.text = text
    return element


def _add_fields(parent: etree._Element, value: object, fields: tuple[tuple[str, str], ...]) -> None:
    for name, attribute in fields:
        text = getattr(value, attribute)
        if text is not None:
            _add(parent, name, text)


def _group(parent: etree._Element, name: str, value: object, fields: tuple[tuple[str, str], ...]) -> None:
    # A group whose fields are all absent is left out rather than written empty.
    if any(getattr(value, attribute) is not None for _, attribute in fields):
        _add_fields(_add(parent, name), value, fields)


def _message_header(parent: etree._Element, header: MessageHeader) -> None:
    _group(parent, "From", header.from_, ORGANIZATION_FIELDS)
    for to in header.to:
        _add_fields(_add(parent, "To"), to, ORGANIZATION_FIELDS)
    if header.document_id is not None:
        _add(parent, "DocumentId", header.document_id)
    _group(parent, "Code", header.code, CODE_FIELDS)
    _group(parent, "PromulgationInfo", header.promulgation_info, PROMULGATION_FIELDS)
    _group(parent, "DocumentType", header.document_type, DOCUMENT_TYPE_FIELDS)
    for name, text in (("Subject", header.subject), ("Content", header.content)):
        if text is not None:
            _add(parent, name, text)
    _group(parent, "SignerInfo", header.signer_info, SIGNER_FIELDS)
    if header.due_date is not None:
        _add(parent, "DueDate", header.due_date)
    if header.to_places:
        places = _add(parent, "ToPlaces")
        for place in header.to_places:
            _add(places, "Place", place)
    other = header.other_info
    if other.appendixes or any(getattr(other, a) is not None for _, a in OTHER_INFO_FIELDS):
        element = _add(parent, "OtherInfo")
        _add_fields(element, other, OTHER_INFO_FIELDS)
        if other.appendixes:
            appendixes = _add(element, "Appendixes")
            for appendix in other.appendixes:
                _add(appendixes, "Appendix", appendix)
    for response in header.response_for:
        _add_fields(_add(parent, "ResponseFor"), response, RESPONSE_FOR_FIELDS)
    if header.steering_type is not None:
        _add(parent, "SteeringType", header.steering_type)


def _status_header(parent: etree._Element, header: StatusHeader) -> None:
    _group(parent, "From", header.from_, ORGANIZATION_FIELDS)
    _group(parent, "ResponseFor", header.response_for, RESPONSE_FOR_FIELDS)
    _group(parent, "StaffInfo", header.staff_info, STAFF_FIELDS)
    for name, text in (
        ("StatusCode", header.status_code),
        ("Description", header.description),
        ("Timestamp", header.timestamp),
    ):
        if text is not None:
            _add(parent, name, text)


def _business(parent: etree._Element, business: Business) -> None:
    element = _add(parent, "Bussiness")
    if business.doc_type is not None:
        _add(element, "BussinessDocType", business.doc_type)
    if business.reason is not None:
        _add(element, "BussinessDocReason", business.reason)
    if business.document_info is not None or business.document_receiver is not None or business.receivers:
        info = _add(element, "BussinessDocumentInfo")
        if business.document_info is not None:
            _add(info, "DocumentInfo", business.document_info)
        if business.document_receiver is not None:
            _add(info, "DocumentReceiver", business.document_receiver)
        if business.receivers:
            receivers = _add(info, "ReceiverList")
            for receiver in business.receivers:
                entry = _add(receivers, "ReceiverInfo")
                _add_fields(entry, receiver, (("ReceiverType", "receiver_type"), ("OrganId", "organ_id")))
    if business.document_id is not None:
        _add(element, "DocumentId", business.document_id)
    if business.staff_info is not None:
        _add_fields(_add(element, "StaffInfo"), business.staff_info, STAFF_FIELDS)
    if business.paper is not None:
        _add(element, "Paper", business.paper)
    if business.replacements:
        replacements = _add(element, "ReplacementInfoList")
        for replacement in business.replacements:
            entry = _add(replacements, "ReplacementInfo")
            if replacement.document_id is not None:
                _add(entry, "DocumentId", replacement.document_id)
            organs = _add(entry, "OrganIdList")
            for organ_id in replacement.organ_ids:
                _add(organs, "OrganId", organ_id)


def _tree(package: Package, marker: str) -> etree._Element:
    root = etree.Element(_E + "edXML", nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    envelope = etree.SubElement(root, _E + "edXMLEnvelope", nsmap={"edXML": NAMESPACE})
    header = _add(envelope, "edXMLHeader")
    message = _add(header, "MessageHeader")
    if isinstance(package.header, StatusHeader):
        _status_header(message, package.header)
    else:
        _message_header(message, package.header)
    if package.traces or package.business is not None:
        traces = _add(header, "TraceHeaderList")
        for trace in package.traces:
            _add_fields(_add(traces, "TraceHeader"), trace, TRACE_FIELDS)
        if package.business is not None:
            _business(traces, package.business)
    if package.is_status:
        return root  # a status package has no body
    body = _add(envelope, "edXMLBody")
    manifest = _add(body, "edXMLManifest")
    manifest.set("version", package.manifest_version)
    for attachment in package.attachments:
        _add_fields(_add(manifest, "Reference"), attachment, ATTACHMENT_FIELDS)
    if package.attachments:
        encoded = _add(root, "AttachmentEncoded")
        for index, attachment in enumerate(package.attachments):
            element = _add(encoded, "Attachment")
            _add_fields(element, attachment, ATTACHMENT_FIELDS)
            _add(element, "ContentTransferEncoded", f"{marker}{index}.")
    return root


def _attachment_chunks(attachment: Attachment) -> Iterator[bytes]:
    if attachment.encoded is not None:
        return iter((attachment.encoded,))
    if attachment.source is not None:
        return att.encode_chunks(attachment.name, attachment.source)
    if attachment.data is not None:
        return att.encode_chunks(attachment.name, attachment.data)
    raise InvalidInput(f"attachment {attachment.name!r} has no content (give source, data or encoded)")


def write_package(package: Package, out: IO[bytes]) -> None:
    """Write ``package`` as edXML to ``out``, streaming each attachment's ZIP and base64 into place.

    The envelope is written without a signature: sign the result with :func:`esign.edxml.sign_package`.
    """
    marker = f"esign-edxml-{uuid.uuid4().hex}-"  # random: cannot clash with any text of the package
    text = etree.tostring(_tree(package, marker), xml_declaration=True, encoding="UTF-8")
    for index, attachment in enumerate(package.attachments):
        before, _, text = text.partition(f"{marker}{index}.".encode())
        out.write(before)
        for chunk in _attachment_chunks(attachment):
            out.write(chunk)
    out.write(text)
    out.write(b"\n")


def to_bytes(package: Package) -> bytes:
    """``package`` as edXML bytes (see :func:`write_package`)."""
    buffer = io.BytesIO()
    write_package(package, buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------- reading
class _Reader:
    """Reads one package, noting what the model cannot hold instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def children(self, parent: etree._Element, name: str) -> list[etree._Element]:
        return [child for child in parent if child.tag == _E + name]

    def one(self, parent: etree._Element, name: str, path: str) -> etree._Element | None:
        found = self.children(parent, name)
        if len(found) > 1:
            self.problems.append(Problem(f"{path}/{name}", f"appears {len(found)} times, once is allowed"))
        return found[0] if found else None

    def text(self, parent: etree._Element, name: str, path: str) -> str | None:
        element = self.one(parent, name, path)
        if element is None:
            return None
        if len(element):
            self.problems.append(Problem(f"{path}/{name}", "holds elements where text is expected"))
        return element.text or ""

    def fields(
        self, parent: etree._Element | None, path: str, factory: Callable[..., Any], fields: tuple[tuple[str, str], ...]
    ) -> Any:
        if parent is None:
            return factory()
        return factory(**{attribute: self.text(parent, name, path) for name, attribute in fields})

    def organization(self, element: etree._Element | None, path: str) -> Organization:
        result: Organization = self.fields(element, path, Organization, ORGANIZATION_FIELDS)
        return result

    def message_header(self, element: etree._Element, path: str) -> MessageHeader:
        header = MessageHeader(
            from_=self.organization(self.one(element, "From", path), path + "/From"),
            to=[self.organization(to, f"{path}/To[{i}]") for i, to in enumerate(self.children(element, "To"), 1)],
            document_id=self.text(element, "DocumentId", path),
            code=self.fields(self.one(element, "Code", path), path + "/Code", DocumentCode, CODE_FIELDS),
            promulgation_info=self.fields(
                self.one(element, "PromulgationInfo", path),
                path + "/PromulgationInfo",
                PromulgationInfo,
                PROMULGATION_FIELDS,
            ),
            document_type=self.fields(
                self.one(element, "DocumentType", path), path + "/DocumentType", DocumentType, DOCUMENT_TYPE_FIELDS
            ),
            subject=self.text(element, "Subject", path),
            content=self.text(element, "Content", path),
            signer_info=self.fields(
                self.one(element, "SignerInfo", path), path + "/SignerInfo", SignerInfo, SIGNER_FIELDS
            ),
            due_date=self.text(element, "DueDate", path),
            steering_type=self.text(element, "SteeringType", path),
        )
        places = self.one(element, "ToPlaces", path)
        if places is not None:
            header.to_places = [p.text or "" for p in self.children(places, "Place")]
        other = self.one(element, "OtherInfo", path)
        if other is not None:
            header.other_info = self.fields(other, path + "/OtherInfo", OtherInfo, OTHER_INFO_FIELDS)
            appendixes = self.one(other, "Appendixes", path + "/OtherInfo")
            if appendixes is not None:
                header.other_info.appendixes = [a.text or "" for a in self.children(appendixes, "Appendix")]
        header.response_for = [
            self.fields(r, f"{path}/ResponseFor[{i}]", ResponseFor, RESPONSE_FOR_FIELDS)
            for i, r in enumerate(self.children(element, "ResponseFor"), 1)
        ]
        return header

    def status_header(self, element: etree._Element, path: str) -> StatusHeader:
        return StatusHeader(
            from_=self.organization(self.one(element, "From", path), path + "/From"),
            response_for=self.fields(
                self.one(element, "ResponseFor", path), path + "/ResponseFor", ResponseFor, RESPONSE_FOR_FIELDS
            ),
            staff_info=self.fields(self.one(element, "StaffInfo", path), path + "/StaffInfo", StaffInfo, STAFF_FIELDS),
            status_code=self.text(element, "StatusCode", path),
            description=self.text(element, "Description", path),
            timestamp=self.text(element, "Timestamp", path),
        )

    def business(self, element: etree._Element, path: str) -> Business:
        business = Business(
            doc_type=self.text(element, "BussinessDocType", path),
            reason=self.text(element, "BussinessDocReason", path),
            document_id=self.text(element, "DocumentId", path),
            paper=self.text(element, "Paper", path),
        )
        staff = self.one(element, "StaffInfo", path)
        if staff is not None:
            business.staff_info = self.fields(staff, path + "/StaffInfo", StaffInfo, STAFF_FIELDS)
        info = self.one(element, "BussinessDocumentInfo", path)
        if info is not None:
            info_path = path + "/BussinessDocumentInfo"
            business.document_info = self.text(info, "DocumentInfo", info_path)
            business.document_receiver = self.text(info, "DocumentReceiver", info_path)
            receivers = self.one(info, "ReceiverList", info_path)
            if receivers is not None:
                business.receivers = [
                    self.fields(
                        r,
                        f"{info_path}/ReceiverList/ReceiverInfo[{i}]",
                        ReceiverEntry,
                        (("ReceiverType", "receiver_type"), ("OrganId", "organ_id")),
                    )
                    for i, r in enumerate(self.children(receivers, "ReceiverInfo"), 1)
                ]
        replacements = self.one(element, "ReplacementInfoList", path)
        if replacements is not None:
            for i, entry in enumerate(self.children(replacements, "ReplacementInfo"), 1):
                entry_path = f"{path}/ReplacementInfoList/ReplacementInfo[{i}]"
                organs = self.one(entry, "OrganIdList", entry_path)
                business.replacements.append(
                    ReplacementInfo(
                        document_id=self.text(entry, "DocumentId", entry_path),
                        organ_ids=[o.text or "" for o in self.children(organs, "OrganId")]
                        if organs is not None
                        else [],
                    )
                )
        return business

    def attachment(self, element: etree._Element, path: str, *, encoded: bool) -> Attachment:
        values = {attribute: self.text(element, name, path) for name, attribute in ATTACHMENT_FIELDS}
        if not values["content_id"]:
            values["content_id"] = element.get(f"{{{_XLINK}}}href") or ""  # deployed systems also write xlink:href
        result = Attachment(
            content_id=values["content_id"] or "",
            name=values["name"] or "",
            content_type=values["content_type"] or "",
            description=values["description"],
        )
        if encoded:
            text = self.text(element, "ContentTransferEncoded", path)
            result.encoded = text.encode("ascii", "replace") if text is not None else None
        return result


def _signature_of(header: etree._Element) -> EnvelopeSignature:
    for child in header:
        if not isinstance(child.tag, str):
            continue
        namespace, _, local = child.tag[1:].partition("}") if child.tag.startswith("{") else ("", "", child.tag)
        if local == "Signature" and namespace == DS_NS:
            value = child.find(f"{{{DS_NS}}}SignatureValue")
            has_value = value is not None and bool((value.text or "").strip())
            return EnvelopeSignature("xmldsig" if has_value else "placeholder", namespace)
        if local == "Signature":
            return EnvelopeSignature("foreign", namespace or None)
        if local == "DigitalSignature":
            return EnvelopeSignature("placeholder", namespace or None)
    return EnvelopeSignature("absent")


def parse_tree(tree: etree._ElementTree) -> Package:
    """Read an already parsed edXML document (see :func:`parse_package`)."""
    root = tree.getroot()
    if root.tag != _E + "edXML":
        raise InvalidInput(f"not an edXML package: the root is {root.tag!r}, expected edXML in {NAMESPACE}")
    reader = _Reader()
    envelope = reader.one(root, "edXMLEnvelope", "/edXML")
    if envelope is None:
        raise InvalidInput("not an edXML package: no edXMLEnvelope")
    base = "/edXML/edXMLEnvelope"
    header = reader.one(envelope, "edXMLHeader", base)
    if header is None:
        raise InvalidInput("not an edXML package: no edXMLHeader")
    message = reader.one(header, "MessageHeader", base + "/edXMLHeader")
    if message is None:
        raise InvalidInput("not an edXML package: no MessageHeader")
    message_path = base + "/edXMLHeader/MessageHeader"
    if reader.children(message, "StatusCode"):
        package = Package(header=reader.status_header(message, message_path))
    else:
        package = Package(header=reader.message_header(message, message_path))
    traces = reader.one(header, "TraceHeaderList", base + "/edXMLHeader")
    if traces is not None:
        trace_path = base + "/edXMLHeader/TraceHeaderList"
        package.traces = [
            reader.fields(t, f"{trace_path}/TraceHeader[{i}]", TraceHeader, TRACE_FIELDS)
            for i, t in enumerate(reader.children(traces, "TraceHeader"), 1)
        ]
        business = reader.one(traces, "Bussiness", trace_path)
        if business is not None:
            package.business = reader.business(business, trace_path + "/Bussiness")
    package.signature = _signature_of(header)
    body = reader.one(envelope, "edXMLBody", base)
    if body is not None:
        manifest = reader.one(body, "edXMLManifest", base + "/edXMLBody")
        if manifest is not None:
            package.manifest_version = manifest.get("version") or ""
            manifest_path = base + "/edXMLBody/edXMLManifest"
            package.manifest = [
                reader.attachment(r, f"{manifest_path}/Reference[{i}]", encoded=False)
                for i, r in enumerate(reader.children(manifest, "Reference"), 1)
            ]
    index = 0
    for encoded in reader.children(root, "AttachmentEncoded"):
        for element in reader.children(encoded, "Attachment"):
            index += 1
            package.attachments.append(
                reader.attachment(element, f"/edXML/AttachmentEncoded/Attachment[{index}]", encoded=True)
            )
    package.structure_problems = reader.problems
    return package


def iter_attachments(source: str | Path) -> Iterator[Attachment]:
    """The attachments of the package file ``source``, one at a time, without reading the whole package.

    For packages too large to hold: only one attachment's text is in memory at a time. Hardened as
    :func:`parse_package` (no DTD, no entities, no network). The attachments are read as they are:
    check the package (:func:`esign.edxml.verify_package`) before trusting them.
    """
    path = Path(source)
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise InvalidInput("XML with a DOCTYPE (DTD or entity declarations) is refused")
    reader = _Reader()
    events = etree.iterparse(
        str(path), events=("start", "end"), huge_tree=True, resolve_entities=False, no_network=True,
        load_dtd=False, remove_comments=True,
    )  # fmt: skip
    index = 0
    try:
        for event, element in events:
            if event == "start":
                if element.getparent() is None:
                    docinfo: Any = element.getroottree().docinfo
                    if docinfo.doctype or docinfo.internalDTD is not None:
                        raise InvalidInput("XML with a DOCTYPE (DTD or entity declarations) is refused")
                    if element.tag != _E + "edXML":
                        raise InvalidInput(f"not an edXML package: the root is {element.tag!r}")
                continue
            parent = element.getparent()
            if element.tag == _E + "Attachment" and parent is not None and parent.tag == _E + "AttachmentEncoded":
                index += 1
                yield reader.attachment(element, f"/edXML/AttachmentEncoded/Attachment[{index}]", encoded=True)
                element.clear()  # its text is in the Attachment handed out: free the element's copy
                parent.remove(element)
            elif parent is not None and parent.getparent() is None:
                # A child of the root is done: drop it, so finished attachments do not pile up.
                element.clear()
                parent.remove(element)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"not well-formed XML: {exc}") from None


def parse_package(data: bytes) -> Package:
    """Parse edXML bytes into a :class:`Package` (hardened: no DTD, no entities, no network).

    Raises :class:`InvalidInput` when ``data`` is not XML or not an edXML package at all; anything
    less (a missing field, a bad date) is left for :func:`esign.edxml.validate` to list.
    """
    return parse_tree(parse_xml(data, huge_tree=len(data) >= HUGE_TREE_FROM))


__all__ = ["iter_attachments", "parse_package", "parse_tree", "to_bytes", "write_package"]
