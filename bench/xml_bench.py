"""XML signing/verifying benchmark: esign vs xmlsec1 (as a process) vs signxml, same documents, one run.

Enveloped signature, RSA-2048, SHA-256, exclusive C14N, over 10 KB, 1 MB and 50 MB documents.
Peak memory is the peak RSS of a child process (os.wait4), so each large run happens in its own process.
The runs of xmlsec1 and of esign alternate (xmlsec1, esign, esign CLI, xmlsec1, ...), so that load from
elsewhere on the machine falls on both alike; the load average is printed with the table. esign's
bytecode is compiled first, as ``pip install`` does: with PYTHONDONTWRITEBYTECODE set and an editable
install, every child would otherwise compile the package from source (~50 ms per process).

    .venv/bin/python bench/xml_bench.py [--sizes 10k,1m,50m] [--repeat 3]
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
from pathlib import Path

from cryptography.hazmat.primitives import serialization

SIZES = {"10k": 10_000, "1m": 1_000_000, "50m": 50_000_000}
TEMPLATE = (
    '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
    '<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<Reference URI=""><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    '<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>'
    '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/></Reference></SignedInfo>'
    "<SignatureValue/><KeyInfo><X509Data/></KeyInfo></Signature>"
)

CHILD_OURS = """
import sys, time
from esign.signers import FileSigner
from esign.xml import sign_xml, verify_xml
mode, key, cert, src, out, root, crl1, crl2, n = sys.argv[1:10]
data = open(src, 'rb').read()
crls = [open(crl1, 'rb').read(), open(crl2, 'rb').read()]
t = time.perf_counter()
if mode == 'sign':
    signer = FileSigner.from_pem(key, cert)
    for _ in range(int(n)):
        result = sign_xml(data, signer, huge_tree=len(data) > 10_000_000)
    open(out, 'wb').write(result)
else:
    for _ in range(int(n)):
        result = verify_xml(data, trust_anchors=root, huge_tree=len(data) > 10_000_000, keep_signed=False,
                            crls=crls)
    # The whole verdict: revocation is required (esign.trust) and the dev PKI's CRLs are supplied, so
    # esign checks more than xmlsec1 does (xmlsec1 checks no revocation here).
    report = result.reports[0]
    assert result.passed, report.to_text()
print((time.perf_counter() - t) / int(n))
"""

CHILD_SIGNXML = """
import sys, time
from lxml import etree
from signxml import XMLSigner, XMLVerifier
mode, key, cert, src, out, root, n = sys.argv[1:8]
data = open(src, 'rb').read()
key_pem, cert_pem = open(key, 'rb').read(), open(cert, 'rb').read()
parser = etree.XMLParser(huge_tree=True)
t = time.perf_counter()
for _ in range(int(n)):
    if mode == 'sign':
        signed = XMLSigner(c14n_algorithm='http://www.w3.org/2001/10/xml-exc-c14n#').sign(
            etree.fromstring(data, parser), key=key_pem, cert=cert_pem)
        result = etree.tostring(signed)
    else:
        XMLVerifier().verify(data, ca_pem_file=root, parser=parser)
if mode == 'sign':
    open(out, 'wb').write(result)
print((time.perf_counter() - t) / int(n))
"""


def make_document(size: int) -> bytes:
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoices xmlns="urn:example:invoices">\n']
    total, i = 0, 0
    while total < size:
        record = (
            f'  <Invoice No="{i}"><Seller>Công ty {i}</Seller><Amount>{i * 1000}</Amount>'
            f"<Note>hàng hóa dịch vụ số {i}</Note></Invoice>\n"
        ).encode()
        parts.append(record)
        total += len(record)
        i += 1
    parts.append(b"</Invoices>\n")
    return b"".join(parts)


def run(args: list[str], stdin: bytes | None = None, ok: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one child process (whose exit code must be in ``ok``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) not in ok:
        raise SystemExit(f"{args[0]} failed: {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10k,1m,50m")
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    from esign.pki import create_dev_pki

    work = Path(tempfile.mkdtemp(prefix="xml-bench-"))
    pki = create_dev_pki(work / "pki", "bench")
    signer = pki.signer("person-rsa2048")
    key_pem, cert_pem = work / "key.pem", work / "cert.pem"
    key_pem.write_bytes(
        signer._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pems = [c.public_bytes(serialization.Encoding.PEM) for c in (signer.certificate, *signer.chain)]
    cert_pem.write_bytes(b"".join(pems))
    root = str(pki.root_pem_path)
    crl_files = (work / "issuing-crl.der", work / "root-crl.der")
    crl_files[0].write_bytes(pki.crl())
    crl_files[1].write_bytes(pki.root_crl())
    py = sys.executable
    cli = str(Path(py).with_name("esign"))
    import esign

    compileall.compile_dir(Path(esign.__file__).parent, quiet=1)
    print(
        f"# XML bench, enveloped RSA-2048/SHA-256 exc-c14n; {os.cpu_count()} cores; xmlsec1 "
        + subprocess.run(["xmlsec1", "--version"], capture_output=True, text=True).stdout.strip()
    )
    print(
        "| size | operation | xmlsec1 (process) | esign in-process | esign whole process | esign CLI (process) |"
        " signxml in-process | ratio xmlsec1/esign (in-proc / process / CLI) |"
        " peak RSS xmlsec1 / esign / CLI / signxml (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in opts.sizes.split(","):
        doc = make_document(SIZES[name])
        src = work / f"{name}.xml"
        src.write_bytes(doc)
        tmpl = work / f"{name}-template.xml"
        tmpl.write_bytes(doc.replace(b"</Invoices>\n", TEMPLATE.encode() + b"</Invoices>\n"))
        ours_out, xs_out, sx_out = work / f"{name}-ours.xml", work / f"{name}-xmlsec.xml", work / f"{name}-signxml.xml"
        inner = {"10k": 200, "1m": 10, "50m": 1}[name]
        xmlsec_runs = {"10k": 40, "1m": 5, "50m": opts.repeat}[name]
        cli_out = work / f"{name}-cli.xml"
        for op in ("sign", "verify"):
            if op == "sign":
                xs_args = [
                    "xmlsec1",
                    "--sign",
                    "--privkey-pem",
                    f"{key_pem},{cert_pem}",
                    "--output",
                    str(xs_out),
                    str(tmpl),
                ]
                cli_args = [
                    cli,
                    "xml",
                    "sign",
                    str(src),
                    "-o",
                    str(cli_out),
                    "--key",
                    str(key_pem),
                    "--cert",
                    str(cert_pem),
                ]
            else:
                xs_args = [
                    "xmlsec1",
                    "--verify",
                    "--trusted-pem",
                    root,
                    "--untrusted-pem",
                    str(pki.directory / "issuing-ca.pem"),
                    str(ours_out),
                ]
                cli_args = [cli, "xml", "verify", str(ours_out), "--trust", root]
            ours_args = [
                py,
                "-c",
                CHILD_OURS,
                op,
                str(key_pem),
                str(cert_pem),
                str(src if op == "sign" else ours_out),
                str(ours_out),
                root,
                *map(str, crl_files),
            ]
            xs: list[tuple[float, float, str]] = []
            ours: list[tuple[float, float, str]] = []
            ours1: list[tuple[float, float, str]] = []
            clis: list[tuple[float, float, str]] = []
            for i in range(max(xmlsec_runs, opts.repeat)):  # interleaved
                if i < xmlsec_runs:
                    xs.append(run(xs_args))
                if i < opts.repeat:
                    ours.append(run([*ours_args, str(inner)]))
                    ours1.append(run([*ours_args, "1"]))
                    # exit 3: INDETERMINATE, the CLI takes no CRL files and the bench serves no revocation data
                    clis.append(run(cli_args, ok=(0, 3) if op == "verify" else (0,)))
            sx = [
                run(
                    [
                        py,
                        "-c",
                        CHILD_SIGNXML,
                        op,
                        str(key_pem),
                        str(cert_pem),
                        str(src if op == "sign" else sx_out),
                        str(sx_out),
                        root,
                        str(max(1, inner // 10)),
                    ]
                )
                for _ in range(opts.repeat if name != "50m" else 1)
            ]
            xs_t = statistics.median(w for w, _, _ in xs)
            ours_t = statistics.median(float(o) for _, _, o in ours)
            ours_proc = statistics.median(w for w, _, _ in ours1)
            cli_t = statistics.median(w for w, _, _ in clis)
            sx_t = statistics.median(float(o) for _, _, o in sx)
            rss = (
                max(r for _, r, _ in xs),
                max(r for _, r, _ in ours1),
                max(r for _, r, _ in clis),
                max(r for _, r, _ in sx),
            )
            print(
                f"| {name} | {op} | {xs_t * 1000:.1f} ms | {ours_t * 1000:.2f} ms | {ours_proc * 1000:.0f} ms |"
                f" {cli_t * 1000:.0f} ms | {sx_t * 1000:.2f} ms |"
                f" {xs_t / ours_t:.1f}x / {xs_t / ours_proc:.2f}x / {xs_t / cli_t:.2f}x |"
                f" {rss[0]:.0f} / {rss[1]:.0f} / {rss[2]:.0f} / {rss[3]:.0f} |",
                flush=True,
            )
    print(f"# load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
