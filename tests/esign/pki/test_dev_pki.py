"""The dev PKI, checked by openssl: chains, OCSP, CRL and RFC 3161 time-stamps."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from esign.errors import InvalidInput, KeyAccessError, WeakAlgorithm
from esign.pki import DevPKI, create_dev_pki, load_dev_pki
from esign.pki.http import serve_pki
from esign.signers import FileSigner


def openssl(*args: str, cwd: Path | None = None, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], cwd=cwd, input=input, capture_output=True, timeout=60)


@pytest.fixture()
def own_pki(tmp_path: Path) -> DevPKI:
    """A PKI of the test's own, for tests that revoke."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pki = create_dev_pki(tmp_path / "pki", "pw-own", base_url=f"http://127.0.0.1:{port}")
    server, _ = serve_pki(pki, port)
    yield pki
    server.shutdown()
    server.server_close()


def test_every_certificate_chains_to_the_root_for_openssl(dev_pki: DevPKI) -> None:
    d = dev_pki.directory
    files = ["tsa.pem", "ocsp.pem", *[f"{n}.pem" for n in dev_pki.signer_names]]
    result = openssl("verify", "-CAfile", "root.pem", "-untrusted", "issuing-ca.pem", *files, cwd=d)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().count(": OK") == len(files)


def test_signer_certificates_carry_signing_extensions(dev_pki: DevPKI) -> None:
    for name in dev_pki.signer_names:
        cert = dev_pki.certificate(name)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        assert any(a.access_location.value == dev_pki.ocsp_url for a in aia)
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert cdp[0].full_name[0].value == dev_pki.crl_url
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "VN"


def test_person_and_organization_subjects_follow_vietnamese_conventions(dev_pki: DevPKI) -> None:
    person = dev_pki.certificate("person-rsa2048").subject
    uid = person.get_attributes_for_oid(NameOID.USER_ID)[0].value
    assert isinstance(uid, str) and uid.startswith("CCCD:") and len(uid) == 5 + 12
    org = dev_pki.certificate("org-p256").subject
    assert org.get_attributes_for_oid(NameOID.USER_ID)[0].value == "MST:5700100256"
    assert org.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "VN:H49.22"


def test_key_kinds_are_as_profiled(dev_pki: DevPKI) -> None:
    sizes = {n: getattr(dev_pki.certificate(n).public_key(), "key_size", None) for n in dev_pki.signer_names}
    assert sizes["person-rsa2048"] == 2048
    assert sizes["person-rsa3072"] == 3072
    assert sizes["person-p256"] == 256


def test_tsa_certificate_is_for_time_stamping_only(dev_pki: DevPKI) -> None:
    eku = dev_pki.tsa.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_pkcs12_opens_with_the_password_and_refuses_a_wrong_one(dev_pki: DevPKI) -> None:
    signer = dev_pki.signer("person-p256")
    assert [c.subject for c in signer.chain] == [dev_pki.issuing_ca.certificate.subject, dev_pki.root_cert.subject]
    with pytest.raises(KeyAccessError, match="wrong password"):
        FileSigner.from_pkcs12(dev_pki.p12_path("person-p256"), "not-the-password")
    result = openssl(
        "pkcs12", "-in", str(dev_pki.p12_path("org-rsa2048")), "-nokeys", "-passin", f"pass:{dev_pki.password}"
    )
    assert result.returncode == 0 and b"BEGIN CERTIFICATE" in result.stdout


def test_loading_with_a_wrong_password_names_the_fix(dev_pki: DevPKI) -> None:
    with pytest.raises(KeyAccessError, match="ESIGN_PKI_PASSWORD"):
        load_dev_pki(dev_pki.directory, "wrong")


def test_init_refuses_a_non_empty_directory(dev_pki: DevPKI) -> None:
    with pytest.raises(InvalidInput, match="not empty"):
        create_dev_pki(dev_pki.directory, "x")


def _ocsp_status(pki: DevPKI, name: str) -> str:
    d = pki.directory
    result = openssl(
        "ocsp", "-issuer", "issuing-ca.pem", "-cert", f"{name}.pem", "-url", pki.ocsp_url, "-CAfile", "chain.pem", cwd=d
    )
    assert result.returncode == 0, result.stderr
    assert b"Response verify OK" in result.stderr + result.stdout
    return result.stdout.decode()


def test_openssl_ocsp_accepts_good_and_revoked_answers(own_pki: DevPKI) -> None:
    assert "person-p256.pem: good" in _ocsp_status(own_pki, "person-p256")
    own_pki.revoke("person-p256", "key_compromise")
    text = _ocsp_status(own_pki, "person-p256")
    assert "person-p256.pem: revoked" in text and "keyCompromise" in text
    assert "org-p256.pem: good" in _ocsp_status(own_pki, "org-p256")


def test_crl_parses_with_openssl_and_lists_revocations(own_pki: DevPKI) -> None:
    own_pki.revoke("org-rsa2048", "superseded")
    crl_der = urllib.request.urlopen(own_pki.crl_url, timeout=10).read()
    result = openssl("crl", "-inform", "DER", "-noout", "-text", input=crl_der)
    assert result.returncode == 0, result.stderr
    serial = format(own_pki.certificate("org-rsa2048").serial_number, "X")
    assert serial in result.stdout.decode().replace(":", "").upper()
    verify = openssl("crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "chain.pem", "-noout", cwd=own_pki.directory)
    assert verify.returncode == 0 and b"verify OK" in verify.stderr + verify.stdout


def test_openssl_ts_verifies_a_token_from_the_tsa_service(dev_pki: DevPKI, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"esign time-stamp test")
    query = tmp_path / "q.tsq"
    assert openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)).returncode == 0
    request = urllib.request.Request(
        dev_pki.tsa_url, data=query.read_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    reply = tmp_path / "r.tsr"
    reply.write_bytes(urllib.request.urlopen(request, timeout=10).read())
    result = openssl(
        "ts",
        "-verify",
        "-in",
        str(reply),
        "-queryfile",
        str(query),
        "-CAfile",
        str(dev_pki.root_pem_path),
        "-untrusted",
        str(dev_pki.directory / "issuing-ca.pem"),
    )
    assert result.returncode == 0, result.stderr
    assert b"Verification: OK" in result.stdout


def _reply_text(reply: bytes) -> str:
    """How openssl reads a TimeStampResp (it accepts a status-only reply, as RFC 3161 allows)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".tsr") as f:
        f.write(reply)
        f.flush()
        result = openssl("ts", "-reply", "-in", f.name, "-text")
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_tsa_refuses_a_sha1_imprint_with_a_pki_failure(dev_pki: DevPKI) -> None:
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha1"}, "hashed_message": b"\x00" * 20},
            "cert_req": True,
        }
    )
    text = _reply_text(dev_pki.tsa.respond(request.dump()))
    assert "Status: Rejected" in text
    assert "unrecognized or unsupported algorithm" in text
    with pytest.raises(WeakAlgorithm):
        dev_pki.tsa.stamp(b"\x00" * 20, "sha1")


def test_tsa_answers_garbage_with_a_rejection_not_an_exception(dev_pki: DevPKI) -> None:
    text = _reply_text(dev_pki.tsa.respond(b"\x30\x03garbage"))
    assert "Status: Rejected" in text and "the data submitted has the wrong format" in text


def test_ocsp_answers_garbage_with_malformed_request(dev_pki: DevPKI) -> None:
    from cryptography.x509 import ocsp

    response = ocsp.load_der_ocsp_response(dev_pki.ocsp.respond(b"not an ocsp request"))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_tsa_token_imprint_matches_the_request(dev_pki: DevPKI) -> None:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"x")
    imprint = digest.finalize()
    token = dev_pki.tsa.stamp(imprint, "sha256", nonce=42)
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == imprint
    assert info["nonce"].native == 42
