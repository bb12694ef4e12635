"""Checking a package against the rules of QCVN 102:2016 (SĐ1:2022), every problem listed by path.

Rules: required fields; text lengths; dates ``yyyy/MM/dd`` and times ``yyyy/MM/dd HH:mm:ss``;
organization codes in the QĐ 20/2020 form (``H49.22``) or the QCVN form (``000.00.22.H49``);
no receiver twice (codes compared as codes, so ``H49.22`` and ``000.00.22.H49`` are the same);
enumerations (``Type``, ``Priority``, ``StatusCode``, ``BussinessDocType``); and the manifest and the
attachments naming the same files. Length limits are those of the format's fields as deployed
document-management systems store them (see docs/edxml.md).
"""

from __future__ import annotations

from datetime import datetime

from esign.edxml.model import (
    DATE_FORMAT,
    TIMESTAMP_FORMAT,
    BusinessDocType,
    MessageHeader,
    Organization,
    Package,
    Problem,
    StatusCode,
    StatusHeader,
)
from esign.errors import InvalidInput
from esign.orgid import OrgIdentifier, OrgIdError

HEADER = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
TRACES = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
MANIFEST = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"

LIMITS: dict[str, int] = {
    "OrganId": 35,
    "OrganizationInCharge": 200,
    "OrganName": 200,
    "OrganAdd": 250,
    "Email": 100,
    "Telephone": 50,
    "Fax": 50,
    "Website": 100,
    "DocumentId": 200,
    "CodeNumber": 50,
    "CodeNotation": 50,
    "Place": 50,
    "TypeDetail": 50,
    "TypeName": 100,
    "Subject": 500,
    "Competence": 100,
    "Position": 100,
    "FullName": 50,
    "SphereOfPromulgation": 100,
    "TyperNotation": 10,
    "Direction": 100,
    "Appendix": 500,
    "Code": 100,
    "Department": 250,
    "Staff": 100,
    "Mobile": 100,
    "Description": 500,
    "BussinessDocReason": 500,
    "AttachmentName": 255,
    "ContentType": 100,
}
"""Longest text (in characters) of each field, by element name."""


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def text(self, path: str, value: str | None, *, required: bool = False) -> bool:
        """Check presence and length; True when there is a non-empty value to check further."""
        name = path.rsplit("/", 1)[-1].split("[", 1)[0]
        if value is None or not value.strip():
            if required:
                self.add(path, "required" if value is None else "required, but empty")
            return False
        limit = LIMITS.get(name)
        if limit is not None and len(value) > limit:
            self.add(path, f"{len(value)} characters, at most {limit} allowed")
        return True

    def code(self, path: str, value: str | None, *, required: bool = False) -> OrgIdentifier | None:
        if not self.text(path, value, required=required):
            return None
        assert value is not None
        try:
            return OrgIdentifier.parse(value)
        except OrgIdError as exc:
            self.add(path, f"not an organization code ({exc.reason}); expected e.g. H49.22 or 000.00.22.H49")
            return None

    def moment(self, path: str, value: str | None, form: str, shown: str, *, required: bool = False) -> None:
        if not self.text(path, value, required=required):
            return
        assert value is not None
        try:
            parsed = datetime.strptime(value, form)
        except ValueError:
            self.add(path, f"{value!r} is not a date in the form {shown}")
            return
        if parsed.strftime(form) != value:  # strptime accepts 2026/1/5; the format writes 2026/01/05
            self.add(path, f"{value!r} is not written as {shown} (two-digit month and day)")

    def integer(
        self, path: str, value: str | None, low: int, high: int | None = None, *, required: bool = False
    ) -> None:
        if not self.text(path, value, required=required):
            return
        assert value is not None
        if not value.strip().isdigit() or not value.isascii():
            self.add(path, f"{value!r} is not a whole number")
            return
        number = int(value)
        if number < low or (high is not None and number > high):
            bound = f"{low}-{high}" if high is not None else f"at least {low}"
            self.add(path, f"{number} is out of range ({bound})")

    def organization(self, path: str, org: Organization, *, name_required: bool) -> OrgIdentifier | None:
        code = self.code(path + "/OrganId", org.organ_id, required=True)
        self.text(path + "/OrganName", org.organ_name, required=name_required)
        for element, value in (
            ("OrganizationInCharge", org.organization_in_charge),
            ("OrganAdd", org.organ_add),
            ("Email", org.email),
            ("Telephone", org.telephone),
            ("Fax", org.fax),
            ("Website", org.website),
        ):
            self.text(f"{path}/{element}", value)
        return code


def _document(check: _Checker, header: MessageHeader) -> None:
    sender = check.organization(HEADER + "/From", header.from_, name_required=True)
    if not header.to:
        check.add(HEADER + "/To", "required: at least one receiver")
    seen: dict[OrgIdentifier, int] = {}
    for index, to in enumerate(header.to, 1):
        code = check.organization(f"{HEADER}/To[{index}]", to, name_required=False)
        if code is None:
            continue
        if code in seen:
            check.add(f"{HEADER}/To[{index}]/OrganId", f"{to.organ_id} is already a receiver (To[{seen[code]}])")
        else:
            seen[code] = index
        if sender is not None and code == sender:
            check.add(f"{HEADER}/To[{index}]/OrganId", "the sender is not a receiver of its own package")
    check.text(HEADER + "/DocumentId", header.document_id)
    check.text(HEADER + "/Code/CodeNumber", header.code.code_number, required=True)
    check.text(HEADER + "/Code/CodeNotation", header.code.code_notation, required=True)
    check.text(HEADER + "/PromulgationInfo/Place", header.promulgation_info.place)
    check.moment(
        HEADER + "/PromulgationInfo/PromulgationDate",
        header.promulgation_info.promulgation_date,
        DATE_FORMAT,
        "yyyy/MM/dd",
    )
    check.integer(HEADER + "/DocumentType/Type", header.document_type.type, 1, 2)
    check.text(HEADER + "/DocumentType/TypeDetail", header.document_type.type_detail)
    check.text(HEADER + "/DocumentType/TypeName", header.document_type.type_name)
    check.text(HEADER + "/Subject", header.subject, required=True)
    signer = header.signer_info
    check.text(HEADER + "/SignerInfo/Competence", signer.competence)
    check.text(HEADER + "/SignerInfo/Position", signer.position)
    check.text(HEADER + "/SignerInfo/FullName", signer.full_name)
    check.moment(HEADER + "/DueDate", header.due_date, DATE_FORMAT, "yyyy/MM/dd")
    for index, place in enumerate(header.to_places, 1):
        check.text(f"{HEADER}/ToPlaces/Place[{index}]", place)
    other = header.other_info
    check.integer(HEADER + "/OtherInfo/Priority", other.priority, 0, 4)
    check.text(HEADER + "/OtherInfo/SphereOfPromulgation", other.sphere_of_promulgation)
    check.text(HEADER + "/OtherInfo/TyperNotation", other.typer_notation)
    check.integer(HEADER + "/OtherInfo/PromulgationAmount", other.promulgation_amount, 0)
    check.integer(HEADER + "/OtherInfo/PageAmount", other.page_amount, 0)
    check.text(HEADER + "/OtherInfo/Direction", other.direction)
    for index, appendix in enumerate(other.appendixes, 1):
        check.text(f"{HEADER}/OtherInfo/Appendixes/Appendix[{index}]", appendix)
    for index, response in enumerate(header.response_for, 1):
        path = f"{HEADER}/ResponseFor[{index}]"
        check.code(path + "/OrganId", response.organ_id, required=True)
        check.text(path + "/Code", response.code)
        check.moment(path + "/PromulgationDate", response.promulgation_date, DATE_FORMAT, "yyyy/MM/dd")
        check.text(path + "/DocumentId", response.document_id)
    check.integer(HEADER + "/SteeringType", header.steering_type, 0)


def _status(check: _Checker, header: StatusHeader) -> None:
    check.organization(HEADER + "/From", header.from_, name_required=False)
    response = header.response_for
    check.code(HEADER + "/ResponseFor/OrganId", response.organ_id, required=True)
    check.text(HEADER + "/ResponseFor/Code", response.code)
    check.moment(HEADER + "/ResponseFor/PromulgationDate", response.promulgation_date, DATE_FORMAT, "yyyy/MM/dd")
    check.text(HEADER + "/ResponseFor/DocumentId", response.document_id, required=True)
    staff = header.staff_info
    for element, value in (
        ("Department", staff.department),
        ("Staff", staff.staff),
        ("Email", staff.email),
        ("Mobile", staff.mobile),
    ):
        check.text(f"{HEADER}/StaffInfo/{element}", value)
    if check.text(HEADER + "/StatusCode", header.status_code, required=True):
        known = {c.value for c in StatusCode}
        if header.status_code not in known:
            listed = ", ".join(sorted(known))
            check.add(HEADER + "/StatusCode", f"{header.status_code!r} is not a status code ({listed})")
    check.text(HEADER + "/Description", header.description)
    check.moment(HEADER + "/Timestamp", header.timestamp, TIMESTAMP_FORMAT, "yyyy/MM/dd HH:mm:ss", required=True)


def _traces_and_business(check: _Checker, package: Package) -> None:
    for index, trace in enumerate(package.traces, 1):
        path = f"{TRACES}/TraceHeader[{index}]"
        check.code(path + "/OrganId", trace.organ_id, required=True)
        check.moment(path + "/Timestamp", trace.timestamp, TIMESTAMP_FORMAT, "yyyy/MM/dd HH:mm:ss", required=True)
    business = package.business
    if business is None:
        return
    path = TRACES + "/Bussiness"
    check.integer(path + "/BussinessDocType", business.doc_type, 0, max(BusinessDocType), required=True)
    changes = business.doc_type not in (None, str(int(BusinessDocType.NEW)))
    check.text(path + "/BussinessDocReason", business.reason, required=changes)
    check.text(path + "/DocumentId", business.document_id, required=changes)
    check.integer(path + "/Paper", business.paper, 0, 1)
    if business.staff_info is not None:
        staff = business.staff_info
        for element, value in (
            ("Department", staff.department),
            ("Staff", staff.staff),
            ("Email", staff.email),
            ("Mobile", staff.mobile),
        ):
            check.text(f"{path}/StaffInfo/{element}", value)
    for index, receiver in enumerate(business.receivers, 1):
        entry = f"{path}/BussinessDocumentInfo/ReceiverList/ReceiverInfo[{index}]"
        check.code(entry + "/OrganId", receiver.organ_id, required=True)
        check.integer(entry + "/ReceiverType", receiver.receiver_type, 0, 1)
    for index, replacement in enumerate(business.replacements, 1):
        entry = f"{path}/ReplacementInfoList/ReplacementInfo[{index}]"
        check.text(entry + "/DocumentId", replacement.document_id, required=True)
        for organ_index, organ_id in enumerate(replacement.organ_ids, 1):
            check.code(f"{entry}/OrganIdList/OrganId[{organ_index}]", organ_id, required=True)


def _attachments(check: _Checker, package: Package) -> None:
    if package.is_status:
        if package.attachments or package.manifest:
            check.add("/edXML/AttachmentEncoded", "a status package carries no body and no attachments")
        return
    if package.manifest_version != "1.0":
        check.add(MANIFEST + "/@version", f"{package.manifest_version!r}, expected '1.0'")
    listed: dict[str, int] = {}
    for index, reference in enumerate(package.manifest, 1):
        path = f"{MANIFEST}/Reference[{index}]"
        if not reference.content_id.startswith("cid:") or len(reference.content_id) <= 4:
            check.add(path + "/ContentId", f"{reference.content_id!r} is not a content id (cid:...)")
        if reference.content_id in listed:
            check.add(path + "/ContentId", f"{reference.content_id} is listed twice")
        listed[reference.content_id] = index
        check.text(path + "/AttachmentName", reference.name, required=True)
        check.text(path + "/ContentType", reference.content_type)
    attached: set[str] = set()
    for index, attachment in enumerate(package.attachments, 1):
        path = f"/edXML/AttachmentEncoded/Attachment[{index}]"
        if attachment.content_id in attached:
            check.add(path + "/ContentId", f"{attachment.content_id} is attached twice")
        attached.add(attachment.content_id)
        check.text(path + "/AttachmentName", attachment.name, required=True)
        check.text(path + "/ContentType", attachment.content_type)
        if attachment.content_id not in listed:
            check.add(path + "/ContentId", f"{attachment.content_id!r} is not in the manifest")
        else:
            reference = package.manifest[listed[attachment.content_id] - 1]
            if reference.name != attachment.name:
                check.add(
                    path + "/AttachmentName", f"{attachment.name!r} differs from the manifest's {reference.name!r}"
                )
        if attachment.encoded is None and attachment.source is None and attachment.data is None:
            check.add(path + "/ContentTransferEncoded", "required")
    for content_id, index in listed.items():
        if content_id not in attached:
            check.add(f"{MANIFEST}/Reference[{index}]/ContentId", f"{content_id!r} has no attachment")


def validate(package: Package) -> list[Problem]:
    """Every problem of ``package``, each with the path of the element concerned; empty when it is valid.

    >>> [str(p) for p in validate(parse_package(data))]                     # doctest: +SKIP
    ['/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId: H49.01 is already a receiver (To[1])']
    """
    check = _Checker()
    check.problems.extend(package.structure_problems)
    if isinstance(package.header, StatusHeader):
        _status(check, package.header)
    else:
        _document(check, package.header)
    _traces_and_business(check, package)
    _attachments(check, package)
    return check.problems


def require_valid(package: Package) -> None:
    """Raise :class:`InvalidInput` listing every problem when ``package`` is not valid."""
    problems = validate(package)
    if problems:
        listed = "\n".join(f"  {p}" for p in problems)
        raise InvalidInput(f"the edXML package has {len(problems)} problem(s):\n{listed}", code="invalid_edxml")


__all__ = ["LIMITS", "require_valid", "validate"]
