"""One canonicalization, in place: signatures made by xmlsec1 over documents where two prefixes map
to one namespace verify, the tree is left exactly as parsed, and namespace bombs are refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lxml import etree

from esign.errors import InvalidInput
from esign.pki import DevPKI
from esign.xml import verify_xml
from esign.xml.c14n import canonicalize
from esign.xml.constants import C14N11, C14N_EXCLUSIVE, C14N_INCLUSIVE, C14N_INCLUSIVE_COMMENTS
from esign.xml.verification import verify_keeping_tree

DSIG = "http://www.w3.org/2000/09/xmldsig#"

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<doc xmlns="urn:d" xmlns:a="urn:x" xmlns:b="urn:x" xmlns:ds="{ds}" xml:lang="vi">
  <a:item Id="i" b:kind="k"><b:sub>x</b:sub><c>t<!-- note --></c><e xmlns=""><f/></e></a:item>
  <dsig:Signature xmlns:dsig="{ds}">
    <dsig:SignedInfo>
      <dsig:CanonicalizationMethod Algorithm="{c14n}"/>
      <dsig:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <dsig:Reference URI="#i">
        <dsig:Transforms><dsig:Transform Algorithm="{c14n}"/></dsig:Transforms>
        <dsig:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><dsig:DigestValue/>
      </dsig:Reference>
      <dsig:Reference URI="">
        <dsig:Transforms>
          <dsig:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <dsig:Transform Algorithm="{c14n}"/>
        </dsig:Transforms>
        <dsig:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><dsig:DigestValue/>
      </dsig:Reference>
    </dsig:SignedInfo>
    <dsig:SignatureValue/>
    <dsig:KeyInfo><dsig:X509Data/></dsig:KeyInfo>
  </dsig:Signature>
</doc>
"""


def _xmlsec1_signed(tmp_path: Path, dev_pki: DevPKI, c14n: str) -> bytes:
    template = tmp_path / "template.xml"
    template.write_text(TEMPLATE.format(ds=DSIG, c14n=c14n))
    signed = tmp_path / "signed.xml"
    subprocess.run(
        ["xmlsec1", "--sign", "--pkcs12", str(dev_pki.p12_path("org-rsa2048")), "--pwd", dev_pki.password,
         "--id-attr:Id", "urn:x:item", "--output", str(signed), str(template)],
        check=True, capture_output=True,
    )  # fmt: skip
    return signed.read_bytes()


@pytest.mark.parametrize("c14n", [C14N_INCLUSIVE, C14N_INCLUSIVE_COMMENTS, C14N_EXCLUSIVE, C14N11])
def test_xmlsec1_signatures_with_two_prefixes_for_one_namespace_verify(
    tmp_path: Path, dev_pki: DevPKI, c14n: str
) -> None:
    signed = _xmlsec1_signed(tmp_path, dev_pki, c14n)
    result, tree = verify_keeping_tree(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    report = result.reports[0]
    assert [r.digest_ok for r in report.references] == [True, True], report.to_text()
    assert report.sub_indication is None or report.sub_indication.value not in ("HASH_FAILURE", "SIG_CRYPTO_FAILURE")
    # Verifying renamed nothing and moved nothing: the tree serializes to what was parsed.
    assert etree.tostring(tree) == etree.tostring(etree.fromstring(signed).getroottree())
    tampered = verify_xml(signed.replace(b">x<", b">y<"), trust_anchors=dev_pki.root_pem_path)
    assert tampered.reports[0].sub_indication is not None
    assert tampered.reports[0].sub_indication.value == "HASH_FAILURE"


def test_inclusive_subtree_has_every_namespace_in_scope_and_inherited_xml_attributes() -> None:
    root = etree.fromstring(
        b'<r xmlns="urn:d" xmlns:a="urn:x" xmlns:b="urn:x" xml:lang="vi">t<a:s Id="1" b:z="q"><c><b:d>t</b:d></c>'
        b'<e xmlns=""><f/></e></a:s></r>'
    )
    before = etree.tostring(root)
    apex = root[0]
    assert canonicalize(apex, C14N_INCLUSIVE) == (
        b'<a:s xmlns="urn:d" xmlns:a="urn:x" xmlns:b="urn:x" Id="1" xml:lang="vi" b:z="q"><c><b:d>t</b:d></c>'
        b'<e xmlns=""><f></f></e></a:s>'
    )
    assert canonicalize(apex, C14N_EXCLUSIVE) == (
        b'<a:s xmlns:a="urn:x" xmlns:b="urn:x" Id="1" b:z="q"><c xmlns="urn:d"><b:d>t</b:d></c><e><f></f></e></a:s>'
    )
    assert canonicalize(root.getroottree(), C14N_INCLUSIVE, exclude=[apex]) == (
        b'<r xmlns="urn:d" xmlns:a="urn:x" xmlns:b="urn:x" xml:lang="vi">t</r>'
    )
    assert etree.tostring(root) == before


def test_fifty_thousand_namespace_declarations_are_refused(dev_pki: DevPKI) -> None:
    declarations = " ".join(f'xmlns:p{i}="urn:n{i}"' for i in range(50_000))
    bomb = f'<doc {declarations}><a Id="x">1</a><Signature xmlns="{DSIG}"/></doc>'.encode()
    with pytest.raises(InvalidInput, match="namespaces"):
        verify_xml(bomb, trust_anchors=dev_pki.root_pem_path)


def test_many_declarations_that_are_not_in_scope_together_are_fine(dev_pki: DevPKI) -> None:
    # 20,000 elements each redeclaring its namespace (as some generators write): linear, not refused.
    items = "".join(f'<p:i xmlns:p="urn:p{i % 7}">{i}</p:i>' for i in range(20_000))
    document = f'<doc>{items}<Signature xmlns="{DSIG}"/></doc>'.encode()
    with pytest.raises(InvalidInput, match="SignedInfo"):  # past the budget, refused only for what it lacks
        verify_xml(document, trust_anchors=dev_pki.root_pem_path)


def test_signing_refuses_a_namespace_bomb_too(rsa: object) -> None:
    from esign.xml import sign_xml

    declarations = " ".join(f'xmlns:p{i}="urn:n{i}"' for i in range(50_000))
    with pytest.raises(InvalidInput, match="namespaces"):
        sign_xml(f'<doc {declarations}><a Id="x">1</a></doc>'.encode(), rsa, reference_id="x")  # type: ignore[arg-type]


def test_inclusive_subtrees_agree_between_the_fake_root_and_the_cut_out_method() -> None:
    """Differential: random documents (default and prefixed namespaces, redeclarations, xml:lang), every
    subtree canonicalized by canonicalize() and by cutting it out of the whole document's C14N."""
    import random

    from esign.xml import c14n

    rng = random.Random(1)

    def element(depth: int) -> etree._Element:
        namespace = rng.choice([None, "urn:a", "urn:b"])
        prefix = rng.choice(["p", "q", None]) if namespace else None
        nsmap: dict[str | None, str] = {prefix: namespace} if namespace and rng.random() < 0.5 else {}
        if rng.random() < 0.2:
            nsmap[rng.choice(["p", "q"])] = rng.choice(["urn:a", "urn:b", "urn:c"])
        tag = rng.choice(["x", "y"])
        node = etree.Element(f"{{{namespace}}}{tag}" if namespace else tag, nsmap=nsmap or None)  # type: ignore[arg-type]
        if rng.random() < 0.2:
            node.set("{http://www.w3.org/XML/1998/namespace}lang", "vi")
        node.text = "t" if rng.random() < 0.5 else None
        for _ in range(rng.randint(0, 3) if depth < 4 else 0):
            node.append(element(depth + 1))
        return node

    for _ in range(300):
        root = etree.fromstring(etree.tostring(element(0)))
        for apex in root.iter():
            if apex is not root:
                expected = c14n._inclusive_subtree(root.getroottree(), apex, False, False, ())
                assert canonicalize(apex, C14N_INCLUSIVE) == expected
