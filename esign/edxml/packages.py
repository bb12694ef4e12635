"""Making packages: a document package from metadata and files, a trace hop, status and business packages."""

from __future__ import annotations

import copy
import dataclasses
import mimetypes
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from esign.edxml.model import (
    DATE_FORMAT,
    TIMESTAMP_FORMAT,
    Attachment,
    Business,
    BusinessDocType,
    DocumentCode,
    DocumentType,
    EnvelopeSignature,
    MessageHeader,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusHeader,
    TraceHeader,
)
from esign.edxml.registry import OrgRegistry
from esign.edxml.validation import require_valid
from esign.errors import InvalidInput
from esign.orgid import OrgIdentifier, OrgIdError

AttachmentFile = Path | str | tuple[str, bytes]
"""A file to attach: a path, or ``(name, content)``."""
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
"""Times in packages are written in Vietnam time (UTC+7), as the exchange systems show them."""
OrgLike = Organization | str
"""An organization, or just its code (the name then comes from the registry when one is given)."""

CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".xml": "application/xml",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".zip": "application/zip",
}


def timestamp(at: datetime | None = None) -> str:
    """``at`` (default now) in Vietnam time as edXML writes times: ``yyyy/MM/dd HH:mm:ss``."""
    moment = (at or datetime.now(VIETNAM_TIME)).astimezone(VIETNAM_TIME)
    return moment.strftime(TIMESTAMP_FORMAT)


def edxml_date(value: date) -> str:
    """A date as edXML writes it: ``yyyy/MM/dd``."""
    return value.strftime(DATE_FORMAT)


def content_type_of(name: str) -> str:
    """The MIME type for a file name (the common office formats by extension, then the system's table)."""
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def organization(value: OrgLike, registry: OrgRegistry | None = None) -> Organization:
    """An :class:`Organization` for ``value``; a bare code gets its name from ``registry`` when it knows it."""
    if isinstance(value, Organization):
        return value
    result = Organization(organ_id=value.strip())
    if registry is not None:
        try:
            entry = registry.lookup(OrgIdentifier.parse(value))
        except OrgIdError:
            entry = None  # validation names the bad code with its path
        if entry is not None and entry.name:
            result.organ_name = entry.name
    return result


def attachment(file: AttachmentFile, description: str | None = None) -> Attachment:
    """An :class:`Attachment` for a path or ``(name, content)``, with a fresh ``cid:`` content id."""
    if isinstance(file, tuple):
        name, data = file
        source: Path | None = None
    else:
        source = Path(file)
        if not source.is_file():
            raise InvalidInput(f"{source}: no such file")
        name, data = source.name, None
    return Attachment(
        content_id=f"cid:{uuid.uuid4()}",
        name=name,
        content_type=content_type_of(name),
        description=description,
        source=source,
        data=data,
    )


def manifest_of(attachments: Iterable[Attachment]) -> list[Attachment]:
    """The manifest's references for ``attachments`` (copies without content: the manifest only names them)."""
    return [dataclasses.replace(a, encoded=None, source=None, data=None) for a in attachments]


def build_package(
    *,
    sender: OrgLike,
    receivers: Sequence[OrgLike],
    code_number: str,
    code_notation: str,
    subject: str,
    files: Iterable[AttachmentFile] = (),
    promulgation_date: date | None = None,
    place: str | None = None,
    content: str | None = None,
    document_type: DocumentType | None = None,
    signer_info: SignerInfo | None = None,
    other_info: OtherInfo | None = None,
    due_date: date | None = None,
    to_places: Sequence[str] = (),
    response_for: Sequence[ResponseFor] = (),
    steering_type: int | None = None,
    document_id: str | None = None,
    business: Business | None = None,
    registry: OrgRegistry | None = None,
    at: datetime | None = None,
    validate: bool = True,
) -> Package:
    """A document package from metadata and files, with the sender's first trace hop.

    ``sender`` and ``receivers`` are organizations or codes (names filled from ``registry``).
    ``document_id`` defaults to ``<sender>,<promulgation date>,<number>/<notation>``. The package is
    validated (:func:`esign.edxml.validate`) unless ``validate`` is False: :class:`InvalidInput`
    lists every problem. Write it with :func:`esign.edxml.to_bytes` or :func:`esign.edxml.write_package`.

    >>> package = build_package(sender="H49.22", receivers=["H49.01"], code_number="123",  # doctest: +SKIP
    ...                         code_notation="UBND-VP", subject="Về việc ...", files=["cong-van.pdf"])
    """
    issued = promulgation_date or (at or datetime.now(VIETNAM_TIME)).astimezone(VIETNAM_TIME).date()
    from_ = organization(sender, registry)
    header = MessageHeader(
        from_=from_,
        to=[organization(r, registry) for r in receivers],
        document_id=document_id or f"{from_.organ_id},{edxml_date(issued)},{code_number}/{code_notation}",
        code=DocumentCode(code_number=code_number, code_notation=code_notation),
        promulgation_info=PromulgationInfo(place=place, promulgation_date=edxml_date(issued)),
        document_type=document_type or DocumentType(type="2"),
        subject=subject,
        content=content,
        signer_info=signer_info or SignerInfo(),
        due_date=edxml_date(due_date) if due_date else None,
        to_places=list(to_places),
        other_info=other_info or OtherInfo(priority="0"),
        response_for=list(response_for),
        steering_type=str(steering_type) if steering_type is not None else None,
    )
    package = Package(
        header=header,
        traces=[TraceHeader(organ_id=from_.organ_id, timestamp=timestamp(at))],
        business=business or Business(doc_type=str(int(BusinessDocType.NEW)), paper="0"),
        attachments=[attachment(f) for f in files],
    )
    package.manifest = manifest_of(package.attachments)
    if validate:
        require_valid(package)
    return package


def add_trace(package: Package, organ_id: str, at: datetime | None = None) -> Package:
    """Add a hop (``TraceHeader``) for ``organ_id`` at ``at`` (default now), in place; returns ``package``.

    The envelope signature covers the trace list, so the package must be signed again after a hop.
    """
    try:
        OrgIdentifier.parse(organ_id)
    except OrgIdError as exc:
        raise InvalidInput(f"trace hop: {exc}") from None
    package.traces.append(TraceHeader(organ_id=organ_id.strip(), timestamp=timestamp(at)))
    package.signature = EnvelopeSignature("absent")
    return package


def _document_header(original: Package) -> MessageHeader:
    if not isinstance(original.header, MessageHeader):
        raise InvalidInput("a status package is not a document: answer the document package itself")
    return original.header


def make_status(
    original: Package,
    *,
    sender: OrgLike,
    status: StatusCode | str,
    description: str | None = None,
    staff: StaffInfo | None = None,
    registry: OrgRegistry | None = None,
    at: datetime | None = None,
) -> Package:
    """A status package from ``sender`` (a receiver of ``original``) telling the original sender ``status``.

    ``status`` is a :class:`StatusCode` (01 arrived ... 16 update/take-back refused). The package
    has no body; its ``ResponseFor`` names the original document, its trace starts at ``sender``.
    """
    header = _document_header(original)
    try:
        code = StatusCode(status)
    except ValueError:
        raise InvalidInput(f"{status!r} is not a status code ({', '.join(c.value for c in StatusCode)})") from None
    from_ = organization(sender, registry)
    number, notation = header.code.code_number or "", header.code.code_notation or ""
    package = Package(
        header=StatusHeader(
            from_=from_,
            response_for=ResponseFor(
                organ_id=header.from_.organ_id,
                code=f"{number}/{notation}",
                promulgation_date=header.promulgation_info.promulgation_date,
                document_id=header.document_id,
            ),
            staff_info=staff or StaffInfo(),
            status_code=code.value,
            description=description,
            timestamp=timestamp(at),
        ),
        traces=[TraceHeader(organ_id=from_.organ_id, timestamp=timestamp(at))],
    )
    require_valid(package)
    return package


def make_business(
    original: Package,
    kind: BusinessDocType | int,
    *,
    reason: str,
    files: Iterable[AttachmentFile] | None = None,
    receivers: Sequence[OrgLike] | None = None,
    staff: StaffInfo | None = None,
    registry: OrgRegistry | None = None,
    at: datetime | None = None,
) -> Package:
    """A revocation, update or replacement of ``original``, sent by its sender.

    Revocation carries the original's metadata and no files; update carries the original's files
    unless ``files`` are given, and may change the receivers (``receivers``); replacement carries the
    new files and names the document it replaces with the organizations that received it.
    """
    header = copy.deepcopy(_document_header(original))
    business_kind = BusinessDocType(kind)
    if business_kind is BusinessDocType.NEW:
        raise InvalidInput("a new document is made with build_package, not make_business")
    business = Business(
        doc_type=str(int(business_kind)), reason=reason, document_id=header.document_id, paper="0", staff_info=staff
    )
    attachments: list[Attachment] = []
    if business_kind is BusinessDocType.UPDATE:
        attachments = [attachment(f) for f in files] if files is not None else copy.deepcopy(original.attachments)
        business.document_info = "1"
        if receivers is not None:
            header.to = [organization(r, registry) for r in receivers]
            business.document_receiver = "1"
    elif business_kind is BusinessDocType.REPLACEMENT:
        if not files:
            raise InvalidInput("a replacement carries the new document's files")
        attachments = [attachment(f) for f in files]
        business.replacements = [
            ReplacementInfo(document_id=header.document_id, organ_ids=[t.organ_id or "" for t in header.to])
        ]
    package = Package(
        header=header,
        traces=[TraceHeader(organ_id=header.from_.organ_id, timestamp=timestamp(at))],
        business=business,
        attachments=attachments,
    )
    package.manifest = manifest_of(attachments)
    require_valid(package)
    return package


__all__ = [
    "VIETNAM_TIME",
    "AttachmentFile",
    "OrgLike",
    "add_trace",
    "attachment",
    "build_package",
    "content_type_of",
    "edxml_date",
    "extract_attachments",
    "make_business",
    "make_status",
    "manifest_of",
    "organization",
    "timestamp",
]


def extract_attachments(
    package: Package | Path | str, directory: Path | str, *, max_size: int | None = None
) -> list[Path]:
    """Unpack every attachment of ``package`` into ``directory``; return the files written.

    ``package`` is a parsed :class:`Package`, or the path of a package file: then it is read as a
    stream (:func:`esign.edxml.codec.iter_attachments`), one attachment in memory at a time. File
    names come from ``AttachmentName`` reduced to a plain name (no directories); a name met twice
    gets a numbered suffix. Each file is written in chunks and capped at ``max_size`` bytes
    (default :data:`esign.edxml.attachments.MAX_ATTACHMENT_SIZE`).
    """
    from esign.edxml import attachments as att
    from esign.edxml.codec import iter_attachments

    items = package.attachments if isinstance(package, Package) else iter_attachments(package)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    used: set[str] = set()
    for index, item in enumerate(items, 1):
        if item.encoded is None:
            raise InvalidInput(f"attachment {item.name!r} carries no content")
        name = att.safe_file_name(item.name, f"attachment-{index}")
        stem, suffix = Path(name).stem, Path(name).suffix
        counter = 1
        while name.lower() in used:
            counter += 1
            name = f"{stem}-{counter}{suffix}"
        used.add(name.lower())
        path = target / name
        try:
            with open(path, "xb") as out:
                att.open_zip_member(item.encoded, item.name, out, max_size=max_size or att.MAX_ATTACHMENT_SIZE)
        except FileExistsError:
            raise InvalidInput(f"{path} exists already; extract into an empty directory") from None
        except InvalidInput:
            path.unlink(missing_ok=True)
            raise
        written.append(path)
    return written
