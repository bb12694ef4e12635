"""Verifying a package completely, in one report.

Four checks, each listed in :class:`PackageVerification`:

* **format**: every problem :func:`esign.edxml.validate` finds (paths included);
* **envelope**: the XMLDSig in ``edXMLHeader`` verified by :func:`esign.xml.verify_xml`, and it must
  cover the whole package: one reference, ``URI=""``, only the enveloped-signature and
  canonicalization transforms (an XPath transform could leave the attachments unsigned), no other
  ``ds:Signature`` anywhere in the package. A placeholder (empty signature, ``DigitalSignature``,
  a ``Signature`` outside the XMLDSig namespace) is reported as such;
* **attachments**: each file unpacked (bounded) and every signature in it verified: PDF through
  :func:`esign.verify_pdf`, XML through :func:`esign.verify_xml`;
* **organizations**: every ``OrganId`` (sender, receivers, answers, trace hops, business receivers)
  known to the caller's registry, active, or closed only after the document's date.

The bottom line is TOTAL-PASSED only when every check passed and there is at least one valid
signature; a placeholder envelope gives INDETERMINATE unless the caller accepts packages whose only
binding signatures are in the attached documents (``require_envelope_signature=False``), as
deployed systems send them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from cryptography import x509
from lxml import etree

from esign.edxml import attachments as att
from esign.edxml.codec import DS_NS, HUGE_TREE_FROM, parse_tree
from esign.edxml.model import (
    DATE_FORMAT,
    NAMESPACE,
    TIMESTAMP_FORMAT,
    Attachment,
    MessageHeader,
    Package,
    Problem,
    StatusHeader,
)
from esign.edxml.registry import OrgRegistry
from esign.edxml.validation import HEADER, TRACES, validate
from esign.errors import EsignError, InvalidInput
from esign.orgid import OrgIdentifier, OrgIdError
from esign.report import Indication, ValidationReport
from esign.xml import parse_xml, verify_xml

ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
C14N_TRANSFORMS = frozenset(
    {
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        "http://www.w3.org/2006/12/xml-c14n11",
        "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    }
)
"""Transforms allowed on the envelope signature's reference besides enveloped-signature."""
_DS = f"{{{DS_NS}}}"


@dataclass
class EnvelopeCheck:
    """The envelope signature: what is there and what verification said."""

    kind: str
    """``xmldsig``, ``placeholder``, ``foreign`` or ``absent`` (see :class:`esign.edxml.EnvelopeSignature`)."""
    indication: Indication | None = None
    """None when there is no signature to verify."""
    report: ValidationReport | None = None
    message: str = ""


@dataclass
class AttachmentCheck:
    """One attachment: what it is and the verification of each signature inside it."""

    content_id: str
    name: str
    kind: str = "other"
    """``pdf``, ``xml`` or ``other`` (read from the content, not the name)."""
    size: int = 0
    reports: list[ValidationReport] = field(default_factory=list)
    error: str = ""
    """Why the attachment could not be read or verified (then it fails)."""

    @property
    def indication(self) -> Indication | None:
        """The attachment's bottom line; None when it carries no signature."""
        if self.error:
            return Indication.TOTAL_FAILED
        if not self.reports:
            return None
        return _combine([r.indication for r in self.reports])


@dataclass
class OrganizationCheck:
    """One ``OrganId`` of the package against the registry."""

    path: str
    code: str
    outcome: str
    """``ok``, ``unknown``, ``closed``, ``invalid`` or ``not-checked`` (no registry given)."""
    detail: str = ""


@dataclass
class PackageVerification:
    """The whole verification of a package (see the module documentation)."""

    indication: Indication
    package: Package
    problems: list[Problem]
    envelope: EnvelopeCheck
    attachments: list[AttachmentCheck]
    organizations: list[OrganizationCheck]
    reasons: list[str]
    """Why the bottom line is not TOTAL-PASSED (English; empty when it is)."""

    @property
    def passed(self) -> bool:
        """True only for TOTAL-PASSED."""
        return self.indication is Indication.TOTAL_PASSED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole verification."""
        return {
            "indication": self.indication.value,
            "kind": "status" if self.package.is_status else "document",
            "sender": self.package.sender,
            "recipients": self.package.recipients,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
            "envelope": {
                "kind": self.envelope.kind,
                "indication": self.envelope.indication.value if self.envelope.indication else None,
                "message": self.envelope.message,
                "report": self.envelope.report.to_dict() if self.envelope.report else None,
            },
            "attachments": [
                {
                    "content_id": a.content_id,
                    "name": a.name,
                    "kind": a.kind,
                    "size": a.size,
                    "indication": a.indication.value if a.indication else None,
                    "error": a.error,
                    "reports": [r.to_dict() for r in a.reports],
                }
                for a in self.attachments
            ],
            "organizations": [
                {"path": o.path, "code": o.code, "outcome": o.outcome, "detail": o.detail} for o in self.organizations
            ],
            "reasons": self.reasons,
        }

    def to_json(self, **kwargs: Any) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)


def _combine(indications: Sequence[Indication]) -> Indication:
    if Indication.TOTAL_FAILED in indications:
        return Indication.TOTAL_FAILED
    if Indication.INDETERMINATE in indications:
        return Indication.INDETERMINATE
    return Indication.TOTAL_PASSED


# ---------------------------------------------------------------------------------------- envelope
def _coverage_problem(signature: etree._Element) -> str | None:
    """Why the envelope signature does not cover the whole package, or None when it does."""
    references = signature.findall(f"{_DS}SignedInfo/{_DS}Reference")
    if len(references) != 1:
        return f"the envelope signature has {len(references)} references; one over the whole package is required"
    reference = references[0]
    if reference.get("URI") != "":
        return f'the envelope signature signs {reference.get("URI")!r}, not the whole package (URI="")'
    algorithms = [t.get("Algorithm") or "" for t in reference.findall(f"{_DS}Transforms/{_DS}Transform")]
    if ENVELOPED not in algorithms:
        return "the envelope signature lacks the enveloped-signature transform"
    others = [a for a in algorithms if a != ENVELOPED and a not in C14N_TRANSFORMS]
    if others:
        return f"the envelope signature's transforms may leave parts unsigned: {', '.join(others)}"
    return None


def _envelope_shape(tree: etree._ElementTree, package: Package) -> EnvelopeCheck | None:
    """The envelope's verdict when its shape alone decides it (no signature, or one that cannot count)."""
    header = tree.getroot().find(f"{{{NAMESPACE}}}edXMLEnvelope/{{{NAMESPACE}}}edXMLHeader")
    signatures = list(tree.getroot().iter(f"{_DS}Signature"))
    stray = [s for s in signatures if s.getparent() is not header]
    if stray:
        return EnvelopeCheck(
            package.signature.kind,
            Indication.TOTAL_FAILED,
            message=f"{len(stray)} XML signature(s) outside edXMLHeader",
        )
    if package.signature.kind != "xmldsig":
        messages = {
            "placeholder": "the envelope carries a placeholder, not a signature",
            "foreign": "the envelope's Signature is not in the XMLDSig namespace (a placeholder)",
            "absent": "the envelope is not signed",
        }
        return EnvelopeCheck(package.signature.kind, message=messages.get(package.signature.kind, ""))
    if len(signatures) != 1:
        return EnvelopeCheck(
            "xmldsig",
            Indication.TOTAL_FAILED,
            message=f"edXMLHeader holds {len(signatures)} signatures; one is allowed",
        )
    problem = _coverage_problem(signatures[0])
    if problem:
        return EnvelopeCheck("xmldsig", Indication.TOTAL_FAILED, message=problem)
    return None


def _verify_envelope(data: bytes, options: dict[str, Any]) -> EnvelopeCheck:
    try:
        result = verify_xml(
            data, profile="xmldsig", huge_tree=len(data) >= HUGE_TREE_FROM, keep_signed=False, **options
        )
    except InvalidInput as exc:
        return EnvelopeCheck("xmldsig", Indication.TOTAL_FAILED, message=str(exc))
    if len(result.reports) != 1:
        return EnvelopeCheck(
            "xmldsig", Indication.TOTAL_FAILED, message=f"{len(result.reports)} signature reports for one signature"
        )
    report = result.reports[0]
    return EnvelopeCheck("xmldsig", report.indication, report)


def verify_envelope(
    data: bytes,
    *,
    trust_anchors: Any,
    allow_fetching: bool = False,
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    intermediates: Sequence[x509.Certificate] = (),
    validation_time: datetime | None = None,
) -> EnvelopeCheck:
    """The envelope signature of the package ``data`` alone, judged as :func:`verify_package` judges it
    (one XMLDSig in ``edXMLHeader`` covering the whole package, no other signature anywhere), without
    unpacking or verifying the attachments: what a node that relays packages checks on receipt.

    ``indication`` is None for an unsigned envelope or a placeholder (``kind`` says which). Raises
    :class:`InvalidInput` only when ``data`` is not an edXML package at all.
    """
    tree = parse_xml(data, huge_tree=len(data) >= HUGE_TREE_FROM)
    shape = _envelope_shape(tree, parse_tree(tree))
    del tree  # verify_xml parses its own tree: one whole-package tree at a time
    options = {
        "trust_anchors": trust_anchors,
        "allow_fetching": allow_fetching,
        "crls": crls,
        "ocsps": ocsps,
        "intermediates": intermediates,
        "validation_time": validation_time,
    }
    return shape or _verify_envelope(data, options)


# ---------------------------------------------------------------------------------------- attachments
def _sniff(head: bytes) -> str:
    if b"%PDF-" in head[:1024]:
        return "pdf"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return "xml"
    return "other"


def _verify_pdf(spool: IO[bytes], options: dict[str, Any]) -> list[ValidationReport]:
    from esign.pdf import verify_pdf  # pyHanko loads only when a package carries a PDF

    return verify_pdf(
        spool,
        trust_anchors=options["trust_anchors"],
        at=options.get("validation_time"),
        allow_fetching=options["allow_fetching"],
        crls=options["crls"],
        ocsps=options["ocsps"],
    )


def _check_attachment(attachment: Attachment, options: dict[str, Any], max_size: int) -> AttachmentCheck:
    check = AttachmentCheck(attachment.content_id, attachment.name)
    if attachment.encoded is None:
        check.error = "no ContentTransferEncoded"
        return check
    with tempfile.SpooledTemporaryFile(att.SPOOL) as spool:
        try:
            check.size = att.open_zip_member(attachment.encoded, attachment.name, spool, max_size=max_size)
            spool.seek(0)
            check.kind = _sniff(spool.read(4096))
            spool.seek(0)
            if check.kind == "pdf":
                check.reports = _verify_pdf(spool, options)
            elif check.kind == "xml":
                content = spool.read()
                if DS_NS.encode() in content:
                    check.reports = list(
                        verify_xml(
                            content, huge_tree=len(content) >= HUGE_TREE_FROM, keep_signed=False, **options
                        ).reports
                    )
        except EsignError as exc:
            check.error = str(exc)
    return check


# ---------------------------------------------------------------------------------------- organizations
def _document_day(package: Package) -> date | None:
    header = package.header
    try:
        if isinstance(header, MessageHeader) and header.promulgation_info.promulgation_date:
            return datetime.strptime(header.promulgation_info.promulgation_date, DATE_FORMAT).date()
        if isinstance(header, StatusHeader) and header.timestamp:
            return datetime.strptime(header.timestamp, TIMESTAMP_FORMAT).date()
    except ValueError:
        return None  # validation reports the date
    return None


def _codes(package: Package) -> list[tuple[str, str]]:
    header = package.header
    found = [(HEADER + "/From/OrganId", header.from_.organ_id)]
    if isinstance(header, MessageHeader):
        found += [(f"{HEADER}/To[{i}]/OrganId", t.organ_id) for i, t in enumerate(header.to, 1)]
        found += [(f"{HEADER}/ResponseFor[{i}]/OrganId", r.organ_id) for i, r in enumerate(header.response_for, 1)]
    else:
        found.append((HEADER + "/ResponseFor/OrganId", header.response_for.organ_id))
    found += [(f"{TRACES}/TraceHeader[{i}]/OrganId", t.organ_id) for i, t in enumerate(package.traces, 1)]
    if package.business is not None:
        found += [
            (f"{TRACES}/Bussiness/BussinessDocumentInfo/ReceiverList/ReceiverInfo[{i}]/OrganId", r.organ_id)
            for i, r in enumerate(package.business.receivers, 1)
        ]
    return [(path, code) for path, code in found if code]


def _check_organizations(package: Package, registry: OrgRegistry | None) -> list[OrganizationCheck]:
    day = _document_day(package)
    checks = []
    for path, text in _codes(package):
        try:
            code = OrgIdentifier.parse(text)
        except OrgIdError as exc:
            checks.append(OrganizationCheck(path, text, "invalid", exc.reason))
            continue
        if registry is None:
            checks.append(OrganizationCheck(path, text, "not-checked", "no registry was given"))
            continue
        entry = registry.lookup(code)
        if entry is None:
            checks.append(OrganizationCheck(path, text, "unknown", f"{code} is not in the registry"))
        elif entry.status != "closed":
            checks.append(OrganizationCheck(path, text, "ok", entry.name))
        elif entry.closed_on is not None and day is not None and day < entry.closed_on:
            checks.append(
                OrganizationCheck(
                    path, text, "ok", f"{entry.name}: closed on {entry.closed_on}, after the document's date"
                )
            )
        else:
            when = f" on {entry.closed_on}" if entry.closed_on else ""
            checks.append(OrganizationCheck(path, text, "closed", f"{code} was closed{when}"))
    return checks


# ---------------------------------------------------------------------------------------- the whole
def verify_package(
    data: bytes,
    *,
    trust_anchors: Any,
    registry: OrgRegistry | None,
    allow_fetching: bool = False,
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    intermediates: Sequence[x509.Certificate] = (),
    validation_time: datetime | None = None,
    require_envelope_signature: bool = True,
    max_attachment_size: int = att.MAX_ATTACHMENT_SIZE,
) -> PackageVerification:
    """Verify the package ``data``: format, envelope signature, attached signed documents, organization codes.

    ``trust_anchors`` (certificates or a PEM file) are the roots trusted for every signature;
    ``registry`` answers for the organization codes (None: they are not checked, and the result is at
    best INDETERMINATE); ``crls``/``ocsps`` (DER) and ``allow_fetching`` supply revocation data as in
    :func:`esign.verify_xml`. Raises :class:`InvalidInput` only when ``data`` is not an edXML package
    at all; everything else is in the result.

    >>> registry = StaticRegistry.load("orgs.csv")                              # doctest: +SKIP
    >>> result = verify_package(data, trust_anchors="root.pem", registry=registry)  # doctest: +SKIP
    >>> result.indication.value                                                # doctest: +SKIP
    'TOTAL-PASSED'
    """
    tree = parse_xml(data, huge_tree=len(data) >= HUGE_TREE_FROM)
    package = parse_tree(tree)
    options: dict[str, Any] = {
        "trust_anchors": trust_anchors,
        "allow_fetching": allow_fetching,
        "crls": crls,
        "ocsps": ocsps,
        "validation_time": validation_time,
    }
    problems = validate(package)
    shape = _envelope_shape(tree, package)
    del tree  # verify_xml parses its own tree: one whole-package tree at a time
    xml_options = {**options, "intermediates": intermediates}
    envelope = shape or _verify_envelope(data, xml_options)
    checks = []
    for attachment in package.attachments:
        check = _check_attachment(attachment, xml_options, max_attachment_size)
        checks.append(check)
    organizations = _check_organizations(package, registry)

    failed: list[str] = []
    undecided: list[str] = []
    if problems:
        failed.append(f"{len(problems)} format problem(s)")
    if envelope.indication is Indication.TOTAL_FAILED:
        failed.append(f"envelope signature: {envelope.message or 'TOTAL-FAILED'}")
    elif envelope.indication is Indication.INDETERMINATE:
        undecided.append("envelope signature: INDETERMINATE")
    elif envelope.indication is None and require_envelope_signature:
        undecided.append(envelope.message or "the envelope is not signed")
    for check in checks:
        if check.indication is Indication.TOTAL_FAILED:
            failed.append(f"attachment {check.name}: {check.error or 'a signature is TOTAL-FAILED'}")
        elif check.indication is Indication.INDETERMINATE:
            undecided.append(f"attachment {check.name}: a signature is INDETERMINATE")
    for org in organizations:
        if org.outcome in ("unknown", "closed", "invalid"):
            failed.append(f"{org.path}: {org.detail}")
        elif org.outcome == "not-checked":
            undecided.append("organization codes not checked: no registry was given")
            break
    valid_signatures = (envelope.indication is Indication.TOTAL_PASSED) + sum(
        1 for c in checks for r in c.reports if r.passed
    )
    if not valid_signatures:
        undecided.append("no valid signature in the package")
    indication = (
        Indication.TOTAL_FAILED if failed else Indication.INDETERMINATE if undecided else Indication.TOTAL_PASSED
    )
    return PackageVerification(indication, package, problems, envelope, checks, organizations, failed + undecided)


__all__ = [
    "AttachmentCheck",
    "EnvelopeCheck",
    "OrganizationCheck",
    "PackageVerification",
    "verify_package",
]
