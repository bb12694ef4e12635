"""The exchange node verifies the envelope signature of what it receives: a signature that does not
verify is refused, an intact one is delivered as ``passed`` or ``indeterminate``, an unsigned package as
``unsigned``; the result is in the answer, the inbox, the history and the audit log.

Real HTTP through the ASGI app, on SQLite and PostgreSQL; one refusal cross-checked with xmlsec1.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from esign_server.context import ServerContext
from esign_server.models import AuditEvent, Credential
from esign_server.models.exchange import ExchangeDelivery, ExchangePackage
from esign_server.services import audit, exchange
from lxml import etree
from sqlmodel import col, func, select

from esign.edxml import async_sign_package
from esign.signers import Signer
from esign.signers.file import FileSigner

from .conftest import enroll_person
from .exchange_helpers import Agency, agency, letter, xmlsec1_verify

COMMUNES = ["H49.01", "H49.02"]
DS = "{http://www.w3.org/2000/09/xmldsig#}"
ED = "{http://www.mic.gov.vn/TBT/QCVN_102_2016}"
CCCD = "001203012389"


@pytest.fixture
def department_signer(node: ServerContext) -> Signer:
    """The department's clerk: a credential certified by the service's own CA, used by the sender's own system."""
    person = enroll_person(node, name="Văn thư Sở Tư pháp", cccd=CCCD)
    with node.db.read() as session:
        credential = session.get(Credential, person.credential_id)
    assert credential is not None
    return exchange.CredentialSigner(node, credential)


@pytest.fixture
def department(node: ServerContext) -> Agency:
    """The department's document system: it signs its packages itself (no credential bound on the node)."""
    return agency(node, "QLVB Sở Tư pháp", ["H49.22"])


@pytest.fixture
def communes(node: ServerContext) -> Agency:
    """One document system serving the communes."""
    return agency(node, "QLVB cấp xã", COMMUNES)


def self_signed_signer() -> FileSigner:
    """A signer whose certificate nobody issued (its CN carries a citizen number, to be masked)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Tự ký CCCD:{CCCD}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return FileSigner(key, cert)


def _count(ctx: ServerContext, model: type) -> int:
    with ctx.db.read() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _audit(ctx: ServerContext, action: str) -> list[dict[str, Any]]:
    with ctx.db.read() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))).all()
        return [dict(r.details) for r in rows]


async def _send(http: httpx.AsyncClient, sender: Agency, package: bytes, query: str = "") -> httpx.Response:
    return await http.post(f"/api/exchange/packages{query}", content=package, headers=sender.headers)


async def _inbox_envelopes(http: httpx.AsyncClient, reader: Agency) -> dict[str, dict[str, Any]]:
    """The inbox entries' envelope checks, by package id."""
    entries = (await http.get("/api/exchange/inbox", headers=reader.headers)).json()
    return {e["package_id"]: e["envelope"] for e in entries}


async def test_a_package_signed_under_the_services_ca_is_delivered_as_passed(
    http: httpx.AsyncClient, node: ServerContext, department: Agency, communes: Agency, department_signer: Signer
) -> None:
    signed = await async_sign_package(letter(COMMUNES), department_signer)
    sent = await _send(http, department, signed)
    assert sent.status_code == 201, sent.text
    envelope = sent.json()["envelope"]
    assert envelope["check"] == "passed" and envelope["reason"] is None
    assert "Văn thư Sở Tư pháp" in envelope["signer"] and CCCD not in envelope["signer"]
    package_id = sent.json()["package_id"]

    assert (await _inbox_envelopes(http, communes)) == {package_id: envelope}
    history = (await http.get(f"/api/exchange/packages/{package_id}/history", headers=communes.headers)).json()
    assert history["envelope"] == envelope
    assert [e["envelope"] for e in history["events"] if e["event"] == "received"] == [envelope]
    assert [d["envelope"] for d in _audit(node, "exchange.document_received")] == [envelope]
    # Delivered byte for byte: the recipient verifies the same signature.
    fetched = await http.get(f"/api/exchange/packages/{package_id}", headers=communes.headers)
    assert fetched.content == signed
    # A retry is answered as the first copy was found.
    again = await _send(http, department, signed)
    assert again.status_code == 200 and again.json()["envelope"] == envelope


async def test_the_node_s_own_signature_is_recorded_as_passed(
    http: httpx.AsyncClient, node: ServerContext, communes: Agency, department_signer: Signer
) -> None:
    person = enroll_person(node, key_algorithm="rsa2048", name="Văn thư Sở Tư pháp", cccd="001203012390")
    department = agency(node, "QLVB Sở Tư pháp", ["H49.22"], credential_id=person.credential_id)
    # The node does not sign over a sender's signature that does not verify.
    broken = _tamper_content(await async_sign_package(letter(COMMUNES), department_signer))
    refused = await _send(http, department, broken, "?sign=true")
    assert (refused.status_code, refused.json()["error"]) == (422, "signature_invalid")
    sent = await _send(http, department, letter(COMMUNES), "?sign=true")
    assert sent.status_code == 201, sent.text
    assert sent.json()["signed_by_node"] is True and sent.json()["envelope"]["check"] == "passed"
    assert _count(node, ExchangePackage) == 1


def _tamper_content(signed: bytes) -> bytes:
    changed = signed.replace(b">125<", b">126<", 1)
    assert changed != signed
    return changed


def _tamper_attachment(signed: bytes) -> bytes:
    """One base64 character of the attached PDF's ZIP changed (the node does not unpack it)."""
    marker = b"ContentTransferEncoded>"
    at = signed.index(marker) + len(marker) + 200
    return signed[:at] + (b"A" if signed[at : at + 1] != b"A" else b"B") + signed[at + 1 :]


def _found(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path)
    assert found is not None, path
    return found


def _wrapped_header(signed: bytes) -> bytes:
    """Signature wrapping: a copy of the signed header hidden in the signature's ``ds:Object`` (where a
    verifier that follows the wrong element would find the original), the real header then changed."""
    tree = etree.fromstring(signed)
    header = _found(tree, f"{ED}edXMLEnvelope/{ED}edXMLHeader")
    hidden = etree.SubElement(_found(header, f"{DS}Signature"), f"{DS}Object")
    original = etree.fromstring(etree.tostring(header))
    original.remove(_found(original, f"{DS}Signature"))
    hidden.append(original)
    _found(header, f".//{ED}Subject").text = "Nội dung đã bị tráo"
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _second_signature(signed: bytes) -> bytes:
    """A second copy of the signature in ``edXMLHeader``."""
    tree = etree.fromstring(signed)
    signature = next(tree.iter(f"{DS}Signature"))
    signature.addnext(etree.fromstring(etree.tostring(signature)))
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _moved_signature(signed: bytes) -> bytes:
    """The signature taken out of ``edXMLHeader`` and put under the root."""
    tree = etree.fromstring(signed)
    signature = next(tree.iter(f"{DS}Signature"))
    tree.append(signature)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _partial_reference(signed: bytes) -> bytes:
    """The reference pointed at part of the package instead of all of it (URI="" changed)."""
    return signed.replace(b'URI=""', b'URI="#nothing"', 1)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_tamper_content, "HASH_FAILURE"),
        (_tamper_attachment, "HASH_FAILURE"),
        (_wrapped_header, "HASH_FAILURE"),
        (_second_signature, "2 signatures"),
        (_moved_signature, "outside edXMLHeader"),
        (_partial_reference, "not the whole package"),
    ],
    ids=["content", "attachment", "wrapped-header", "second-signature", "moved-signature", "partial-reference"],
)
async def test_a_signature_that_does_not_verify_is_refused_and_nothing_is_delivered(
    http: httpx.AsyncClient,
    node: ServerContext,
    department: Agency,
    communes: Agency,
    department_signer: Signer,
    tamper: Any,
    reason: str,
) -> None:
    tampered = tamper(await async_sign_package(letter(COMMUNES), department_signer))
    refused = await _send(http, department, tampered)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["error"] == "signature_invalid" and "does not verify" in body["message"], body
    assert reason in body["message"]
    assert _count(node, ExchangePackage) == 0 and _count(node, ExchangeDelivery) == 0
    assert (await http.get("/api/exchange/inbox", headers=communes.headers)).json() == []
    refusals = _audit(node, "exchange.refused")
    assert [r["error"] for r in refusals] == ["signature_invalid"]
    assert refusals[0]["reason"] == body["message"][:300]
    assert _audit(node, "exchange.document_received") == []
    assert audit.verify_chain(node.db).ok


async def test_xmlsec1_rejects_the_envelope_the_node_refuses(
    http: httpx.AsyncClient,
    node: ServerContext,
    department: Agency,
    communes: Agency,
    department_signer: Signer,
    service_pki_dir: Path,
    tmp_path: Path,
) -> None:
    signed = await async_sign_package(letter(COMMUNES), department_signer)
    root = service_pki_dir / "root.pem"
    intact = xmlsec1_verify(signed, root, tmp_path)
    assert intact.returncode == 0, intact.stderr
    tampered = _tamper_content(signed)
    assert xmlsec1_verify(tampered, root, tmp_path).returncode != 0
    refused = await _send(http, department, tampered)
    assert (refused.status_code, refused.json()["error"]) == (422, "signature_invalid")


async def test_an_intact_signature_from_an_untrusted_signer_is_delivered_as_indeterminate(
    http: httpx.AsyncClient, node: ServerContext, department: Agency, communes: Agency
) -> None:
    signed = await async_sign_package(letter(COMMUNES), self_signed_signer())
    sent = await _send(http, department, signed)
    assert sent.status_code == 201, sent.text
    envelope = sent.json()["envelope"]
    assert envelope["check"] == "indeterminate" and envelope["reason"].startswith("INDETERMINATE"), envelope
    assert "Tự ký" in envelope["signer"] and CCCD not in envelope["signer"]
    package_id = sent.json()["package_id"]
    assert (await _inbox_envelopes(http, communes)) == {package_id: envelope}
    history = (await http.get(f"/api/exchange/packages/{package_id}/history", headers=department.headers)).json()
    assert history["envelope"] == envelope
    assert [d["envelope"] for d in _audit(node, "exchange.document_received")] == [envelope]


async def test_unsigned_packages_and_placeholders_are_delivered_as_unsigned(
    http: httpx.AsyncClient, node: ServerContext, department: Agency, communes: Agency
) -> None:
    header_end = b"</edXML:edXMLHeader>"
    placeholders = [
        b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/>',  # an empty XMLDSig, as deployed systems send
        b"<edXML:DigitalSignature/>",
    ]
    packages = [letter(["H49.01"])] + [
        letter(["H49.02"], number=str(126 + i)).replace(header_end, p + header_end) for i, p in enumerate(placeholders)
    ]
    sent = [await _send(http, department, package) for package in packages]
    assert [s.status_code for s in sent] == [201] * 3, [s.text for s in sent]
    envelopes = [s.json()["envelope"] for s in sent]
    assert [(e["check"], e["signer"]) for e in envelopes] == [("unsigned", None)] * 3
    assert "placeholder" in envelopes[1]["reason"] and "placeholder" in envelopes[2]["reason"]
    assert (await _inbox_envelopes(http, communes)) == {
        s.json()["package_id"]: e for s, e in zip(sent, envelopes, strict=True)
    }
    first = sent[0].json()["package_id"]
    history = (await http.get(f"/api/exchange/packages/{first}/history", headers=communes.headers)).json()
    assert history["envelope"] == envelopes[0]
    assert [d["envelope"]["check"] for d in _audit(node, "exchange.document_received")] == ["unsigned"] * 3
