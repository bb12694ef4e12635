"""Packages written by hand in the layouts deployed systems send, and mutated signed packages.

Deployed senders declare xsi/xsd on the root, put attributes on TraceHeaderList, write the manifest's
content id as ``xlink:href``, use one AttachmentEncoded per file, and leave a placeholder where the
envelope signature goes. Mutations of a signed package must never verify as TOTAL-PASSED.
"""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esign.edxml import (
    StaticRegistry,
    build_package,
    parse_package,
    sign_package,
    to_bytes,
    validate,
    verify_package,
)
from esign.errors import InvalidInput
from esign.report import Indication
from esign.signers import FileSigner


def _zip(name: str, content: bytes) -> str:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return base64.encodebytes(out.getvalue()).decode()  # with line breaks, as .NET and Java senders wrap it


DEPLOYED = (Path(__file__).parent / "data" / "deployed-layout.edxml.in").read_text(encoding="utf-8")
"""A package as deployed systems write it; ``{signature}`` and ``{encoded}`` are filled in by the tests."""


def _deployed(letter: bytes, signature: str = "<edXML:DigitalSignature/>") -> bytes:
    return DEPLOYED.format(signature=signature, encoded=_zip("cong-van.pdf", letter)).encode()


def test_deployed_layout_parses_validates_and_passes_on_its_signed_letter(
    signed_letter: bytes, registry: StaticRegistry, verify_options: dict[str, object]
) -> None:
    data = _deployed(signed_letter)
    package = parse_package(data)
    assert package.sender == "000.00.22.H49" and package.recipients == ["000.00.01.H49", "H49.02"]
    assert package.manifest[0].content_id == "cid:11111111-1111-1111-1111-111111111111"  # from xlink:href
    assert package.header.other_info.appendixes == ["Phụ lục I"]  # type: ignore[union-attr]
    assert package.signature.kind == "placeholder"
    assert validate(package) == []
    result = verify_package(data, registry=registry, require_envelope_signature=False, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_PASSED, result.reasons
    assert [o.outcome for o in result.organizations] == ["ok"] * 4  # both forms found in the registry


def test_deployed_layout_duplicate_receiver_in_two_forms_is_listed(signed_letter: bytes) -> None:
    data = _deployed(signed_letter).replace(b"<edXML:OrganId>H49.02<", b"<edXML:OrganId>H49.01<")
    problems = [str(p) for p in validate(parse_package(data))]
    assert problems == [
        "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId: H49.01 is already a receiver (To[1])"
    ]


def test_deployed_layout_signed_by_us_keeps_its_layout_and_verifies(
    signed_letter: bytes, registry: StaticRegistry, verify_options: dict[str, object], dev_pki: object
) -> None:
    from esign.pki import DevPKI

    assert isinstance(dev_pki, DevPKI)
    signed = sign_package(_deployed(signed_letter), dev_pki.signer("org-rsa2048"))
    assert b"DigitalSignature" not in signed and b'mustUnderstand="1"' in signed
    result = verify_package(signed, registry=registry, **verify_options)  # type: ignore[arg-type]
    assert result.indication is Indication.TOTAL_PASSED, result.reasons


@pytest.fixture(scope="module")
def signed_small(dev_pki: object, registry: StaticRegistry) -> bytes:
    from esign.pki import DevPKI

    assert isinstance(dev_pki, DevPKI)
    signer: FileSigner = dev_pki.signer("org-rsa2048")
    package = build_package(sender="H49.22", receivers=["H49.01"], code_number="1", code_notation="STP",
                            subject="Thử", files=[("a.txt", b"hello")], registry=registry)  # fmt: skip
    return sign_package(to_bytes(package), signer)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_signed_package_is_never_passed(
    data: st.DataObject, signed_small: bytes, registry: StaticRegistry, dev_pki: object
) -> None:
    from esign.pki import DevPKI

    assert isinstance(dev_pki, DevPKI)
    position = data.draw(st.integers(0, len(signed_small) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != signed_small[position]))
    mutated = signed_small[:position] + bytes([value]) + signed_small[position + 1 :]
    try:
        result = verify_package(mutated, registry=registry, trust_anchors=dev_pki.root_pem_path,
                                crls=[dev_pki.crl(), dev_pki.root_crl()])  # fmt: skip
    except InvalidInput:
        return  # refused as not XML / not edXML: fine
    if result.indication is Indication.TOTAL_PASSED:
        # Only a change no reader sees may pass: inside the signature's own unsigned whitespace or the
        # same text after parsing (e.g. a quote style); the signed content must then be unchanged.
        assert parse_package(mutated).header == parse_package(signed_small).header
        assert [a.encoded for a in parse_package(mutated).attachments] == [
            a.encoded for a in parse_package(signed_small).attachments
        ]
