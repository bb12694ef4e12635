"""edXML document exchange packages (QCVN 102:2016/BTTTT, amended by SĐ1:2022).

Build a package from metadata and files (:func:`build_package`), write it (:func:`to_bytes`,
:func:`write_package`, streaming the attachments), read one (:func:`parse_package`, hardened),
check it (:func:`validate`, every problem by path), add a hop (:func:`add_trace`), answer with a
status package (:func:`make_status`) or revoke, update or replace (:func:`make_business`), sign the
envelope (:func:`sign_package`, any :mod:`esign.signers` backend) and verify all of it in one report
(:func:`verify_package`: the envelope, every signed attachment, every organization code against a
registry you supply).
"""

from esign.edxml.codec import parse_package, parse_tree, to_bytes, write_package
from esign.edxml.model import (
    BUSINESS_NAMES,
    NAMESPACE,
    STATUS_NAMES,
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
    Problem,
    PromulgationInfo,
    ReceiverEntry,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusHeader,
    TraceHeader,
)
from esign.edxml.packages import (
    add_trace,
    build_package,
    extract_attachments,
    make_business,
    make_status,
)
from esign.edxml.registry import OrgRegistry, RegistryEntry, StaticRegistry
from esign.edxml.signing import async_sign_package, prepare_package, sign_package
from esign.edxml.validation import require_valid, validate
from esign.edxml.verification import (
    AttachmentCheck,
    EnvelopeCheck,
    OrganizationCheck,
    PackageVerification,
    verify_envelope,
    verify_package,
)

__all__ = [
    "BUSINESS_NAMES",
    "NAMESPACE",
    "STATUS_NAMES",
    "Attachment",
    "AttachmentCheck",
    "Business",
    "BusinessDocType",
    "DocumentCode",
    "DocumentType",
    "EnvelopeCheck",
    "EnvelopeSignature",
    "MessageHeader",
    "OrgRegistry",
    "Organization",
    "OrganizationCheck",
    "OtherInfo",
    "Package",
    "PackageVerification",
    "Problem",
    "PromulgationInfo",
    "ReceiverEntry",
    "RegistryEntry",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StaticRegistry",
    "StatusCode",
    "StatusHeader",
    "TraceHeader",
    "add_trace",
    "async_sign_package",
    "build_package",
    "extract_attachments",
    "make_business",
    "make_status",
    "parse_package",
    "parse_tree",
    "prepare_package",
    "require_valid",
    "sign_package",
    "to_bytes",
    "validate",
    "verify_envelope",
    "verify_package",
    "write_package",
]
