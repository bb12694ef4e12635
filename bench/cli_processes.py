"""Whole-process times of the commands people time: esign against pdfsig and xmlsec1, same inputs, one run.

What a user waits for when a script calls a command once per document: interpreter start, imports,
key parsing, the work, exit. A 1-page PDF (samples/cong-van.pdf) signed (PAdES B-B, RSA-2048) and
verified, against Poppler's ``pdfsig`` signing (``-add-signature`` with the same key in an NSS
database) and verifying; a 10 KB XML document signed (enveloped, RSA-2048, exc-c14n) and verified,
against ``xmlsec1``. The runs alternate (peer, esign, peer, esign, ...) so that load from elsewhere
falls on both alike; medians of ``--repeat`` runs, and the ratio esign/peer.

esign verifies more than the peers do (the whole chain with revocation in "require" mode, the PAdES
or XAdES rules, identity extraction); pdfsig and xmlsec1 check the CMS/XMLDSig and the chain. The
bytecode is compiled first, as ``pip install`` does.

    .venv/bin/python bench/cli_processes.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ESIGN = str(Path(sys.executable).parent / "esign")
PASSWORD = "bench-pw"  # noqa: S105 - a throwaway PKI made for the run


def timed(args: list[str], *, ok: tuple[int, ...] = (0,), cwd: Path | None = None) -> float:
    """Seconds one process took, start to exit."""
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, cwd=cwd, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"{args[0]} failed ({done.returncode}): {done.stderr.decode()[:500]}")
    return elapsed


def alternate(repeat: int, peer: Callable[[], float], ours: Callable[[], float]) -> tuple[float, float]:
    """Medians of ``repeat`` alternating runs (one warm-up each first)."""
    peer()
    ours()
    theirs, mine = [], []
    for _ in range(repeat):
        theirs.append(peer())
        mine.append(ours())
    return statistics.median(theirs), statistics.median(mine)


def xml_document(size: int) -> bytes:
    """An invoice-like XML document of about ``size`` bytes."""
    rows = []
    n = 0
    while sum(map(len, rows)) < size - 200:
        n += 1
        rows.append(
            f'  <HHDVu STT="{n}"><THHDVu>Hàng hóa số {n}</THHDVu><SLuong>{n}</SLuong><DGia>85000</DGia></HHDVu>\n'
        )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<HDon>\n' + "".join(rows) + "</HDon>\n").encode()


XMLSEC_TEMPLATE = (
    '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
    '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<Reference URI=""><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    '<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>'
    '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/></Reference></SignedInfo>'
    "<SignatureValue/><KeyInfo><X509Data/></KeyInfo></Signature>"
)


def main() -> int:
    """Print a table of medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    repeat = parser.parse_args().repeat
    compileall.compile_dir(str(REPO / "esign"), quiet=1)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from esign.pki import create_dev_pki

    with tempfile.TemporaryDirectory(prefix="esign-cli-bench-") as tmp_name:
        tmp = Path(tmp_name)
        pki = create_dev_pki(tmp / "pki", PASSWORD, base_url="http://127.0.0.1:9")
        p12 = pki.p12_path("person-rsa2048")
        key, cert, _ = pkcs12.load_key_and_certificates(p12.read_bytes(), PASSWORD.encode())
        assert key is not None and cert is not None
        key_pem, cert_pem, root = tmp / "key.pem", tmp / "cert.pem", str(pki.root_pem_path)
        key_pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        # pdfsig signs with a key in an NSS database.
        nss = tmp / "nss"
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
        subprocess.run(
            ["pk12util", "-i", str(p12), "-d", f"sql:{nss}", "-W", PASSWORD], check=True, capture_output=True
        )
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "CT,C,C", "-i", root],
            check=True,
            capture_output=True,
        )
        nick = subprocess.run(
            ["pdfsig", "-nssdir", f"sql:{nss}", "-list-nicks", str(REPO / "samples" / "cong-van.pdf")],
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        letter = str(REPO / "samples" / "cong-van.pdf")
        ours_pdf, theirs_pdf = tmp / "ours.pdf", tmp / "theirs.pdf"
        document = tmp / "doc.xml"
        document.write_bytes(xml_document(10_000))
        template = tmp / "template.xml"
        template.write_bytes(document.read_bytes().replace(b"</HDon>", XMLSEC_TEMPLATE.encode() + b"</HDon>"))
        ours_xml, theirs_xml = tmp / "ours.xml", tmp / "theirs.xml"

        rows = [
            (
                "1-page PDF, sign (B-B)",
                "pdfsig -add-signature",
                lambda: timed(
                    ["pdfsig", "-nssdir", f"sql:{nss}", "-add-signature", "-nick", nick, letter, str(theirs_pdf)]
                ),
                lambda: timed(
                    [ESIGN, "pdf", "sign", letter, "-o", str(ours_pdf), "--key", str(p12), "--password", PASSWORD]
                ),
            ),
            (
                "1-page PDF, verify",
                "pdfsig -no-ocsp",
                lambda: timed(["pdfsig", "-nssdir", f"sql:{nss}", "-no-ocsp", str(theirs_pdf)], ok=(0, 1, 2, 3, 4)),
                lambda: timed([ESIGN, "pdf", "verify", str(ours_pdf), "--trust-only", root], ok=(0, 1, 3)),
            ),
            (
                "10 KB XML, sign (enveloped)",
                "xmlsec1 --sign",
                lambda: timed(
                    [
                        "xmlsec1",
                        "--sign",
                        "--privkey-pem",
                        f"{key_pem},{cert_pem}",
                        "--output",
                        str(theirs_xml),
                        str(template),
                    ]
                ),
                lambda: timed(
                    [
                        ESIGN,
                        "xml",
                        "sign",
                        str(document),
                        "-o",
                        str(ours_xml),
                        "--key",
                        str(p12),
                        "--password",
                        PASSWORD,
                    ]
                ),
            ),
            (
                "10 KB XML, verify",
                "xmlsec1 --verify",
                lambda: timed(
                    [
                        "xmlsec1",
                        "--verify",
                        "--trusted-pem",
                        root,
                        "--untrusted-pem",
                        str(pki.directory / "issuing-ca.pem"),
                        str(theirs_xml),
                    ]
                ),
                lambda: timed([ESIGN, "xml", "verify", str(ours_xml), "--trust-only", root], ok=(0, 1, 3)),
            ),
        ]
        load = os.getloadavg()
        print(f"# whole-process times, median of {repeat} alternating runs; {os.cpu_count()} cores, load {load[0]:.2f}")
        print("| what | peer | peer (ms) | esign (ms) | esign / peer |")
        print("|---|---|---:|---:|---:|")
        for what, peer_name, peer, ours in rows:
            theirs_s, ours_s = alternate(repeat, peer, ours)
            print(f"| {what} | {peer_name} | {theirs_s * 1000:.0f} | {ours_s * 1000:.0f} | {ours_s / theirs_s:.1f} |")
        print(f"\n# imports alone, median of {repeat} processes each")
        print("| python -c | ms |")
        print("|---|---:|")
        for code in IMPORTS:
            times = [timed([sys.executable, "-c", code]) for _ in range(repeat)]
            print(f"| `{code}` | {statistics.median(times) * 1000:.0f} |")
    return 0


IMPORTS = (
    "pass",
    "import esign.pdf",
    "import esign.pdf.verify",
    "import esign.pdf.signing",
    "import esign.pdf.signing; esign.pdf.appearance.stamp_style('x')",
    "import esign.xml.signing",
    "import esign.xml.verification",
)
"""What each kind of command imports: the bare interpreter, the packages, then what ``pdf verify``,
invisible and visible PDF signing, ``xml sign`` and ``xml verify`` load (``-X importtime`` says where)."""


if __name__ == "__main__":
    sys.exit(main())
