"""Instructions of a 10 KB enveloped verify: esign's verify_xml in process against an ``xmlsec1 --verify`` process.

Instruction counts (``valgrind --tool=callgrind``) are not disturbed by other load on the machine, unlike
wall times. esign's figure is per document in a warm process: (instructions of a process verifying
N+1 documents − those of one verifying one) / N. Cases, with the dev PKI's CRLs supplied (TOTAL-PASSED):
the same document again and again; N+1 different documents from the same signer (a stream of invoices);
and "cold", the same document with esign.trust's path cache emptied before each (a signer or CRL seen
for the first time). Then without revocation data (INDETERMINATE/TRY_LATER, the verdict offline without
embedded revocation data).

    .venv/bin/python bench/xml_callgrind.py [--runs 20]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from xml_bench import make_document

CHILD = """
import sys
from pathlib import Path
from esign.trust.path import path_cache
from esign.xml import verify_xml
mode, docs, root, crl_dir, n = sys.argv[1:6]
documents = [p.read_bytes() for p in sorted(Path(docs).glob('*.xml'))]
crls = [p.read_bytes() for p in sorted(Path(crl_dir).glob('*.der'))]
for i in range(int(n)):
    if mode == 'cold':
        path_cache.clear()
    data = documents[i if mode == 'distinct' else 0]
    result = verify_xml(data, trust_anchors=root, keep_signed=False, crls=crls)
print(result.reports[0].indication.value, result.reports[0].sub_indication)
"""


def instructions(args: list[str]) -> int:
    """Instructions executed by the process ``args`` (and its children), by callgrind."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(proc.stderr[-2000:])
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    opts = parser.parse_args()
    from esign.pki import create_dev_pki
    from esign.xml import sign_xml

    work = Path(tempfile.mkdtemp(prefix="xml-callgrind-"))
    pki = create_dev_pki(work / "pki", "bench")
    docs = work / "docs"
    docs.mkdir()
    signer = pki.signer("person-rsa2048")
    for i in range(opts.runs + 1):  # different invoices, one signer: the first is also the "same" document
        text = make_document(10_000).replace(b"<Invoices ", f'<Invoices batch="{i:04d}" '.encode())
        (docs / f"{i:04d}.xml").write_bytes(sign_xml(text, signer))
    signed = docs / "0000.xml"
    with_crls, without = work / "crls", work / "none"
    with_crls.mkdir()
    without.mkdir()
    (with_crls / "issuing.der").write_bytes(pki.crl())
    (with_crls / "root.der").write_bytes(pki.root_crl())
    root = str(pki.root_pem_path)
    xmlsec = instructions(
        [
            "xmlsec1",
            "--verify",
            "--trusted-pem",
            root,
            "--untrusted-pem",
            str(pki.directory / "issuing-ca.pem"),
            str(signed),
        ]
    )
    print(f"xmlsec1 --verify process: {xmlsec / 1e6:.1f} M instructions")
    cases = (
        ("same", "CRLs supplied, the same document", with_crls),
        ("distinct", "CRLs supplied, different documents of one signer", with_crls),
        ("cold", "CRLs supplied, path cache emptied before each", with_crls),
        ("same", "no revocation data", without),
    )
    for mode, name, crl_dir in cases:
        base = [sys.executable, "-c", CHILD, mode, str(docs), root, str(crl_dir)]
        one = instructions([*base, "1"])
        many = instructions([*base, str(opts.runs + 1)])
        per = (many - one) / opts.runs
        print(
            f"esign verify_xml in process, {name}: {per / 1e6:.1f} M per document "
            f"(({opts.runs + 1} runs {many / 1e6:.0f} M - 1 run {one / 1e6:.0f} M) / {opts.runs}); "
            f"xmlsec1 / esign = {xmlsec / per:.1f}x"
        )


if __name__ == "__main__":
    main()
