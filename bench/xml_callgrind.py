"""Instructions of a 10 KB enveloped verify: esign's verify_xml in process against an ``xmlsec1 --verify`` process.

Instruction counts (``valgrind --tool=callgrind``) are not disturbed by other load on the machine, unlike
wall times. esign's figure is per document in a warm process: (instructions of a process verifying the
document N+1 times − those of one verifying it once) / N. Two cases: the dev PKI's CRLs supplied
(TOTAL-PASSED) and none (INDETERMINATE/TRY_LATER, the verdict offline without embedded revocation data).

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
from esign.xml import verify_xml
src, root, crl_dir, n = sys.argv[1:5]
data = open(src, 'rb').read()
crls = [p.read_bytes() for p in sorted(__import__('pathlib').Path(crl_dir).glob('*.der'))]
for _ in range(int(n)):
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
    signed = work / "10k.xml"
    signed.write_bytes(sign_xml(make_document(10_000), pki.signer("person-rsa2048")))
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
    for name, crl_dir in (("CRLs supplied", with_crls), ("no revocation data", without)):
        base = [sys.executable, "-c", CHILD, str(signed), root, str(crl_dir)]
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
