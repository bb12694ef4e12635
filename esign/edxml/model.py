"""The edXML package of QCVN 102:2016/BTTTT (amended by SĐ1:2022) as typed values.

Leaf values are kept as the text the package carries (``str``, ``None`` when absent): a parsed
package can then be checked by :func:`esign.edxml.validate` with every problem listed, instead of
the parser stopping at the first bad date. Builders (:mod:`esign.edxml.packages`) write dates and
numbers in the regulation's forms.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
"""The edXML namespace: the root's default namespace, and the ``edXML:`` prefix inside the envelope."""

DATE_FORMAT = "%Y/%m/%d"
"""Dates in edXML: ``yyyy/MM/dd`` (PromulgationDate, DueDate, ResponseFor/PromulgationDate)."""
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
"""Times in edXML: ``yyyy/MM/dd HH:mm:ss`` (TraceHeader/Timestamp, status Timestamp)."""


class BusinessDocType(enum.IntEnum):
    """``Bussiness/BussinessDocType``: what the package does to the document."""

    NEW = 0
    REVOCATION = 1
    UPDATE = 2
    REPLACEMENT = 3


class StatusCode(enum.StrEnum):
    """``StatusCode`` of a status package: where the receiver is with the document."""

    ARRIVED = "01"
    REFUSED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    FINISHED = "06"
    TAKE_BACK_REQUESTED = "13"
    CHANGE_ACCEPTED = "15"
    CHANGE_REFUSED = "16"


STATUS_NAMES: dict[StatusCode, tuple[str, str]] = {
    StatusCode.ARRIVED: ("Đã đến", "arrived"),
    StatusCode.REFUSED: ("Từ chối tiếp nhận", "refused"),
    StatusCode.ACCEPTED: ("Đã tiếp nhận, vào sổ", "accepted and registered"),
    StatusCode.ASSIGNED: ("Đã phân công xử lý", "assigned"),
    StatusCode.PROCESSING: ("Đang xử lý", "processing"),
    StatusCode.FINISHED: ("Hoàn thành", "finished"),
    StatusCode.TAKE_BACK_REQUESTED: ("Bên gửi đề nghị lấy lại", "sender asks to take it back"),
    StatusCode.CHANGE_ACCEPTED: ("Đồng ý cập nhật / lấy lại", "update or take-back accepted"),
    StatusCode.CHANGE_REFUSED: ("Từ chối cập nhật / lấy lại", "update or take-back refused"),
}
"""Vietnamese and English name of each status code."""

BUSINESS_NAMES: dict[BusinessDocType, tuple[str, str]] = {
    BusinessDocType.NEW: ("Văn bản mới", "new document"),
    BusinessDocType.REVOCATION: ("Thu hồi", "revocation"),
    BusinessDocType.UPDATE: ("Cập nhật", "update"),
    BusinessDocType.REPLACEMENT: ("Thay thế", "replacement"),
}
"""Vietnamese and English name of each business document type."""


@dataclass
class Organization:
    """``From`` or ``To``: an organization named by its identifier code."""

    organ_id: str | None = None
    organization_in_charge: str | None = None
    organ_name: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass
class DocumentCode:
    """``Code``: the document's number and notation (``123`` and ``UBND-VP`` of ``123/UBND-VP``)."""

    code_number: str | None = None
    code_notation: str | None = None


@dataclass
class PromulgationInfo:
    """``PromulgationInfo``: where and when the document was issued."""

    place: str | None = None
    promulgation_date: str | None = None


@dataclass
class DocumentType:
    """``DocumentType``: ``Type`` 1 (legal normative) or 2 (administrative), its detail and name."""

    type: str | None = None
    type_detail: str | None = None
    type_name: str | None = None


@dataclass
class SignerInfo:
    """``SignerInfo``: who signed the paper or electronic original."""

    competence: str | None = None
    position: str | None = None
    full_name: str | None = None


@dataclass
class OtherInfo:
    """``OtherInfo``: priority (0-4), sphere, typist, number of copies and pages, direction, appendixes."""

    priority: str | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: str | None = None
    page_amount: str | None = None
    direction: str | None = None
    appendixes: list[str] = field(default_factory=list)


@dataclass
class ResponseFor:
    """``ResponseFor``: the document this one answers (or, in a status package, reports on)."""

    organ_id: str | None = None
    code: str | None = None
    promulgation_date: str | None = None
    document_id: str | None = None


@dataclass
class StaffInfo:
    """``StaffInfo``: the person handling the package at the sending organization."""

    department: str | None = None
    staff: str | None = None
    email: str | None = None
    mobile: str | None = None


@dataclass
class MessageHeader:
    """``MessageHeader`` of a document package."""

    from_: Organization = field(default_factory=Organization)
    to: list[Organization] = field(default_factory=list)
    document_id: str | None = None
    code: DocumentCode = field(default_factory=DocumentCode)
    promulgation_info: PromulgationInfo = field(default_factory=PromulgationInfo)
    document_type: DocumentType = field(default_factory=DocumentType)
    subject: str | None = None
    content: str | None = None
    signer_info: SignerInfo = field(default_factory=SignerInfo)
    due_date: str | None = None
    to_places: list[str] = field(default_factory=list)
    other_info: OtherInfo = field(default_factory=OtherInfo)
    response_for: list[ResponseFor] = field(default_factory=list)
    steering_type: str | None = None


@dataclass
class StatusHeader:
    """``MessageHeader`` of a status package (no body): who reports which status on which document."""

    from_: Organization = field(default_factory=Organization)
    response_for: ResponseFor = field(default_factory=ResponseFor)
    staff_info: StaffInfo = field(default_factory=StaffInfo)
    status_code: str | None = None
    description: str | None = None
    timestamp: str | None = None


@dataclass
class TraceHeader:
    """One hop: the organization (or exchange node) the package passed and when."""

    organ_id: str | None = None
    timestamp: str | None = None


@dataclass
class ReceiverEntry:
    """``BussinessDocumentInfo/ReceiverList/ReceiverInfo``: a receiver an update or replacement concerns."""

    receiver_type: str | None = None
    """``1`` the receiver is added, ``0`` it keeps receiving (as deployed systems write it)."""
    organ_id: str | None = None


@dataclass
class ReplacementInfo:
    """``ReplacementInfoList/ReplacementInfo``: a document replaced and who received it."""

    document_id: str | None = None
    organ_ids: list[str] = field(default_factory=list)


@dataclass
class Business:
    """``Bussiness`` (the regulation's spelling): new document, revocation, update or replacement."""

    doc_type: str | None = None
    reason: str | None = None
    document_id: str | None = None
    paper: str | None = None
    staff_info: StaffInfo | None = None
    document_info: str | None = None
    """``BussinessDocumentInfo/DocumentInfo``: ``1`` when the document's metadata changed (update)."""
    document_receiver: str | None = None
    """``BussinessDocumentInfo/DocumentReceiver``: ``1`` when the receivers changed (update)."""
    receivers: list[ReceiverEntry] = field(default_factory=list)
    replacements: list[ReplacementInfo] = field(default_factory=list)


@dataclass
class Attachment:
    """One attached file: a manifest ``Reference`` and an ``AttachmentEncoded/Attachment``.

    In a package read from bytes, ``encoded`` holds ``ContentTransferEncoded`` as it came (base64 of
    a ZIP holding the file); in a package being built, ``source`` is the file (or ``data`` its bytes)
    and the ZIP is made when the package is written.
    """

    content_id: str
    name: str
    content_type: str = "application/octet-stream"
    description: str | None = None
    encoded: bytes | None = field(default=None, repr=False)
    source: Path | None = None
    data: bytes | None = field(default=None, repr=False)


@dataclass
class EnvelopeSignature:
    """What the package's ``edXMLHeader`` carries where the signature goes."""

    kind: str
    """``xmldsig`` (a ds:Signature with a value), ``placeholder`` (an element with no signature value),
    ``foreign`` (a ``Signature`` outside the XMLDSig namespace) or ``absent``."""
    namespace: str | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a package: where (``/edXML/.../To[2]/OrganId``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Package:
    """An edXML package: a document package (``header`` a :class:`MessageHeader`) or a status package."""

    header: MessageHeader | StatusHeader
    traces: list[TraceHeader] = field(default_factory=list)
    business: Business | None = None
    attachments: list[Attachment] = field(default_factory=list)
    manifest_version: str = "1.0"
    signature: EnvelopeSignature = field(default_factory=lambda: EnvelopeSignature("absent"))
    manifest: list[Attachment] = field(default_factory=list)
    """The manifest's references as read (a built package writes one per attachment)."""
    structure_problems: list[Problem] = field(default_factory=list)
    """What the reader met that the model cannot hold (repeated single elements, ...): validation lists them."""

    @property
    def is_status(self) -> bool:
        """True for a status package."""
        return isinstance(self.header, StatusHeader)

    @property
    def sender(self) -> str | None:
        """The sender's ``OrganId``."""
        return self.header.from_.organ_id

    @property
    def recipients(self) -> list[str]:
        """The receivers' ``OrganId`` values (for a status package: the organization reported to)."""
        if isinstance(self.header, StatusHeader):
            return [self.header.response_for.organ_id] if self.header.response_for.organ_id else []
        return [t.organ_id for t in self.header.to if t.organ_id]


__all__ = [
    "BUSINESS_NAMES",
    "DATE_FORMAT",
    "NAMESPACE",
    "STATUS_NAMES",
    "TIMESTAMP_FORMAT",
    "Attachment",
    "Business",
    "BusinessDocType",
    "DocumentCode",
    "DocumentType",
    "EnvelopeSignature",
    "MessageHeader",
    "Organization",
    "OtherInfo",
    "Package",
    "Problem",
    "PromulgationInfo",
    "ReceiverEntry",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusHeader",
    "TraceHeader",
]
