"""Attacks on our own verifier: signature wrapping, where readers are shown content that was not signed.

Each test signs a real document, then rearranges it as an attacker would: the signed element stays
intact (so every digest and the signature value still verify) but a forged copy sits where a reader
looks. Every variant must end TOTAL-FAILED with FORMAT_FAILURE and a reason, never TOTAL-PASSED.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from lxml import etree

from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import sign_xml, verify_xml
from esign.xml.constants import DS_NS
from tests.esign.xml.conftest import INVOICE

DS = f"{{{DS_NS}}}"
Attack = Callable[[etree._Element], None]


def _forged(original: etree._Element, *, keep_id: bool = False) -> etree._Element:
    forged = copy.deepcopy(original)
    if not keep_id:
        del forged.attrib["Id"]
    total = forged.find(".//TgTTTBSo")
    if total is not None:
        total.text = "1"
    buyer = forged.find(".//NMua/Ten")
    if buyer is not None:
        buyer.text = "Công ty X"
    return forged


def _invoice_data(root: etree._Element) -> etree._Element:
    data = root.find("DLHDon")
    assert data is not None
    return data


def forged_before_the_original(root: etree._Element) -> None:
    data = _invoice_data(root)
    data.addprevious(_forged(data))


def original_moved_into_a_wrapper(root: etree._Element) -> None:
    data = _invoice_data(root)
    data.addprevious(_forged(data))
    wrapper = etree.SubElement(root, "Wrapper")
    wrapper.append(data)  # the original, Id and all, away from /HDon/DLHDon


def original_moved_into_the_buyer_block(root: etree._Element) -> None:
    data = _invoice_data(root)
    data.addprevious(_forged(data))
    buyer = root.find("DSCKS/NMua")
    if buyer is None:
        holder = root.find("DSCKS")
        assert holder is not None
        buyer = etree.SubElement(holder, "NMua")
    buyer.append(data)


def forged_copy_in_another_namespace_first(root: etree._Element) -> None:
    data = _invoice_data(root)
    forged = _forged(data)
    for element in forged.iter():
        element.tag = "{urn:evil}" + etree.QName(element).localname
    data.addprevious(forged)


def whole_document_in_a_new_root(root: etree._Element) -> None:
    raise AssertionError("applied on the bytes, see _attacked")


def forged_copy_inside_the_signature_object(root: etree._Element) -> None:
    data = _invoice_data(root)
    signature = root.find(f".//{DS}Signature")
    assert signature is not None
    holder = etree.SubElement(signature, DS + "Object")
    holder.append(_forged(data))
    signature.getparent().insert(0, signature)  # type: ignore[union-attr]


def signature_moved_out_of_dscks(root: etree._Element) -> None:
    signature = root.find(f".//{DS}Signature")
    assert signature is not None
    root.append(signature)


def unsigned_invoice_data_next_to_the_signed(root: etree._Element) -> None:
    etree.SubElement(root, "TToan").text = "1"


def forged_element_directly_in_the_signature(root: etree._Element) -> None:
    signature = root.find(f".//{DS}Signature")
    assert signature is not None
    signature.append(_forged(_invoice_data(root)))


EINVOICE_ATTACKS = [
    forged_before_the_original,
    original_moved_into_a_wrapper,
    original_moved_into_the_buyer_block,
    forged_copy_in_another_namespace_first,
    whole_document_in_a_new_root,
    forged_copy_inside_the_signature_object,
    signature_moved_out_of_dscks,
    unsigned_invoice_data_next_to_the_signed,
    forged_element_directly_in_the_signature,
]


def _attacked(signed: bytes, attack: Attack) -> bytes:
    if attack is whole_document_in_a_new_root:
        body = signed.split(b"?>", 1)[1] if signed.startswith(b"<?xml") else signed
        return b"<Wrapper>" + body + b"<HDon><DLHDon><TToan>1</TToan></DLHDon></HDon></Wrapper>"
    root = etree.fromstring(signed)
    attack(root)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


@pytest.fixture(scope="module")
def signed_invoice(signers: dict[str, FileSigner]) -> bytes:
    return sign_xml(INVOICE, signers["org-rsa2048"], profile="einvoice")


def test_the_untouched_invoice_passes_and_hands_back_what_was_signed(dev_pki: DevPKI, signed_invoice: bytes) -> None:
    result = verify_xml(signed_invoice, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.passed and result.profile == "einvoice"
    reference = result.reports[0].references[0]
    assert reference.covers == ("/HDon/DLHDon[@Id='data']",)
    assert "16500000" in (getattr(reference, "signed_content", None) or "")


@pytest.mark.parametrize("attack", EINVOICE_ATTACKS, ids=lambda a: a.__name__)
def test_einvoice_wrapping_is_total_failed_with_a_reason(
    dev_pki: DevPKI, signed_invoice: bytes, attack: Attack
) -> None:
    evil = _attacked(signed_invoice, attack)
    result = verify_xml(evil, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    report = result.reports[0]
    assert report.indication.value == "TOTAL-FAILED", report.to_text()
    assert report.sub_indication is not None and report.sub_indication.value == "FORMAT_FAILURE"
    assert report.errors and report.errors[0]
    # Nothing forged is ever handed back as signed content.
    assert all(b"C\xc3\xb4ng ty X" not in s.data for s in result.signed)


@pytest.mark.parametrize("attack", EINVOICE_ATTACKS[:4], ids=lambda a: a.__name__)
def test_einvoice_wrapping_with_the_buyer_signature_too(
    dev_pki: DevPKI, signers: dict[str, FileSigner], signed_invoice: bytes, attack: Attack
) -> None:
    both = sign_xml(signed_invoice, signers["person-p256"], profile="einvoice", signature_parent="NMua")
    assert verify_xml(both, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed
    result = verify_xml(_attacked(both, attack), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.indication.value == "TOTAL-FAILED"
    assert all(r.sub_indication is not None and r.sub_indication.value == "FORMAT_FAILURE" for r in result.reports)


def test_forcing_the_einvoice_profile_on_a_document_that_is_not_one_fails(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(b"<doc><a Id='x'>1</a></doc>", rsa, reference_id="x")
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed
    forced = verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True, profile="einvoice")
    assert forced.reports[0].sub_indication is not None
    assert forced.reports[0].sub_indication.value == "FORMAT_FAILURE"


def test_an_invoice_without_the_sellers_signature_fails(dev_pki: DevPKI, rsa: FileSigner) -> None:
    only_buyer = sign_xml(INVOICE, rsa, profile="einvoice", signature_parent="NMua")
    result = verify_xml(only_buyer, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert result.reports[0].sub_indication is not None
    assert "NBan" in result.reports[0].errors[0]


# -- the textbook set (Somorovsky et al. XSW1-XSW8), on a generic document ------------------------

DOC = b'<Order xmlns="urn:order"><Pay Id="pay"><To>ACME</To><Amount>10</Amount></Pay><Note>hi</Note></Order>'
ORD = "{urn:order}"


def _pay(root: etree._Element) -> etree._Element:
    pay = root.find(f".//{ORD}Pay[@Id='pay']")
    assert pay is not None
    return pay


def _forged_pay(original: etree._Element) -> etree._Element:
    forged = copy.deepcopy(original)
    forged.attrib.pop("Id")
    amount = forged.find(f"{ORD}Amount")
    assert amount is not None
    amount.text = "1000000"
    return forged


def xsw1_original_into_a_signature_wrapper(root: etree._Element) -> None:
    pay = _pay(root)
    pay.addprevious(_forged_pay(pay))
    signature = root.find(f".//{DS}Signature")
    assert signature is not None
    wrapper = etree.SubElement(signature, DS + "Object")
    wrapper.append(pay)


def xsw2_original_into_a_wrapper_before(root: etree._Element) -> None:
    pay = _pay(root)
    pay.addprevious(_forged_pay(pay))
    wrapper = etree.Element(ORD + "Header")
    root.insert(0, wrapper)
    wrapper.append(pay)


def xsw3_forged_sibling_first(root: etree._Element) -> None:
    pay = _pay(root)
    pay.addprevious(_forged_pay(pay))


def xsw4_original_inside_the_forged_copy(root: etree._Element) -> None:
    pay = _pay(root)
    forged = _forged_pay(pay)
    pay.addprevious(forged)
    forged.append(pay)


def xsw5_forged_copy_at_the_end(root: etree._Element) -> None:
    root.append(_forged_pay(_pay(root)))


def xsw6_original_inside_the_signature_inside_the_forged_copy(root: etree._Element) -> None:
    pay = _pay(root)
    signature = root.find(f".//{DS}Signature")
    assert signature is not None
    forged = _forged_pay(pay)
    pay.addprevious(forged)
    forged.append(signature)
    etree.SubElement(signature, DS + "Object").append(pay)


def xsw7_original_into_an_extensions_element(root: etree._Element) -> None:
    pay = _pay(root)
    pay.addprevious(_forged_pay(pay))
    etree.SubElement(root, ORD + "Extensions").append(pay)


def xsw8_original_into_an_object_and_forged_in_place(root: etree._Element) -> None:
    pay = _pay(root)
    signature = root.find(f".//{DS}Signature")
    assert signature is not None
    pay.addprevious(_forged_pay(pay))
    holder = etree.SubElement(signature, DS + "Object")
    etree.SubElement(holder, "Wrapper").append(pay)


XSW = [
    xsw1_original_into_a_signature_wrapper,
    xsw2_original_into_a_wrapper_before,
    xsw3_forged_sibling_first,
    xsw4_original_inside_the_forged_copy,
    xsw5_forged_copy_at_the_end,
    xsw6_original_inside_the_signature_inside_the_forged_copy,
    xsw7_original_into_an_extensions_element,
    xsw8_original_into_an_object_and_forged_in_place,
]


def _placed(kind: str, rsa: FileSigner) -> bytes:
    """The Pay element signed by an enveloped signature, a sibling (detached, same document) one, or
    an enveloping one whose Object holds the Pay element."""
    if kind == "enveloped":
        return sign_xml(DOC, rsa, reference_id="pay", signature_parent="pay")
    if kind == "detached-sibling":
        return sign_xml(DOC, rsa, reference_id="pay", signature_parent="Note")
    return sign_xml(DOC, rsa, profile="xmldsig-enveloping")


# XSW8 moves the signed element into an Object of the signature; with an enveloped signature that
# signature lies inside the element itself, and no document can hold an element inside its own descendant.
_XSW_CASES = [
    pytest.param(kind, attack, id=f"{attack.__name__.split('_')[0]}-{kind}")
    for kind in ("enveloped", "detached-sibling")
    for attack in XSW
    if not (kind == "enveloped" and attack is xsw8_original_into_an_object_and_forged_in_place)
]


@pytest.mark.parametrize(("kind", "attack"), _XSW_CASES)
def test_textbook_wrapping_is_total_failed(dev_pki: DevPKI, rsa: FileSigner, kind: str, attack: Attack) -> None:
    signed = _placed(kind, rsa)
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed
    root = etree.fromstring(signed)
    attack(root)
    result = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    report = result.reports[0]
    assert report.indication.value == "TOTAL-FAILED", report.to_text()
    # With the signature inside the signed element, some moves also change the signed bytes.
    expected = ("FORMAT_FAILURE",) if kind == "detached-sibling" else ("FORMAT_FAILURE", "HASH_FAILURE")
    assert report.sub_indication is not None and report.sub_indication.value in expected


def test_enveloping_with_a_decoy_object_before_the_signed_one(dev_pki: DevPKI, rsa: FileSigner) -> None:
    signed = sign_xml(DOC, rsa, profile="xmldsig-enveloping")
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed
    root = etree.fromstring(signed)
    signed_object = root.find(f"{DS}Object")
    assert signed_object is not None
    decoy = etree.Element(DS + "Object")
    decoy.append(_forged_pay(_pay(root)))
    signed_object.addprevious(decoy)
    report = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.sub_indication is not None and report.sub_indication.value == "FORMAT_FAILURE"


def test_same_local_name_in_another_namespace_is_not_a_twin(dev_pki: DevPKI, rsa: FileSigner) -> None:
    doc = b'<doc xmlns="urn:a" xmlns:b="urn:b"><item Id="i">1</item><b:item>2</b:item></doc>'
    assert verify_xml(
        sign_xml(doc, rsa, reference_id="i"), trust_anchors=dev_pki.root_pem_path, allow_fetching=True
    ).passed


def test_each_record_signed_by_its_own_signature_passes(dev_pki: DevPKI, rsa: FileSigner) -> None:
    doc = b'<list><rec Id="r1">1</rec><rec Id="r2">2</rec></list>'
    once = sign_xml(doc, rsa, reference_id="r1")
    assert (
        verify_xml(once, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).indication.value == "TOTAL-FAILED"
    )  # r2 unsigned
    twice = sign_xml(once, rsa, reference_id="r2")
    assert verify_xml(twice, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed


def test_whole_document_signature_moved_first_with_a_decoy_in_key_info(dev_pki: DevPKI, rsa: FileSigner) -> None:
    # URI="" with the enveloped transform: the Signature can move without changing any digest; a forged
    # element hidden in its KeyInfo then comes first in document order (//Pay[1]).
    signed = sign_xml(DOC, rsa)
    assert verify_xml(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).passed
    root = etree.fromstring(signed)
    signature = root.find(f"{DS}Signature")
    assert signature is not None
    root.insert(0, signature)
    key_info = signature.find(f"{DS}KeyInfo")
    assert key_info is not None
    key_info.append(_forged_pay(_pay(root)))
    report = verify_xml(etree.tostring(root), trust_anchors=dev_pki.root_pem_path).reports[0]
    assert report.indication.value == "TOTAL-FAILED", report.to_text()
    assert report.sub_indication is not None and report.sub_indication.value == "FORMAT_FAILURE"


def test_an_unsigned_tax_authority_code_is_warned_about(dev_pki: DevPKI, signed_invoice: bytes) -> None:
    with_code = signed_invoice.replace(b"<DSCKS>", b"<MCCQT>00ABCDEF0123456789</MCCQT><DSCKS>", 1)
    report = verify_xml(with_code, trust_anchors=dev_pki.root_pem_path, allow_fetching=True).reports[0]
    assert report.passed, report.to_text()
    assert any("MCCQT" in w for w in report.warnings)
