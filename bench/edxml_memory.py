"""Peak memory of edXML packages with large attachments: build, sign, verify, extract.

Each step runs in a fresh Python process and reports its peak resident set size (ru_maxrss), so
one step's memory does not hide another's. The attachments are random (incompressible) files, so
the package is about 4/3 of their total size. Revocation: CRLs from the dev PKI, no network.

    .venv/bin/python bench/edxml_memory.py                     # 10 attachments of 20 MB
    .venv/bin/python bench/edxml_memory.py --files 3 --mb 5    # quicker

Prints one line per step: peak RSS in MB and its ratio to the package size. Figures: docs/edxml.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STEPS = {
    "baseline (imports only)": """
        import esign.edxml, esign.xml, esign.pdf
    """,
    "build + write": """
        from esign.edxml import build_package, write_package, Organization
        files = sorted(Path(work, "files").iterdir())
        package = build_package(sender=Organization(organ_id="H49.22", organ_name="Sở"), receivers=["H49.01"],
                                code_number="1", code_notation="STP", subject="bench", files=files)
        with open(Path(work, "pkg.edxml"), "wb") as out:
            write_package(package, out)
    """,
    "sign envelope": """
        from esign.edxml import sign_package
        from esign.pki import load_dev_pki
        pki = load_dev_pki(Path(work, "pki"), "bench-password")
        data = Path(work, "pkg.edxml").read_bytes()
        Path(work, "signed.edxml").write_bytes(sign_package(data, pki.signer("org-rsa2048")))
    """,
    "verify (envelope + attachments)": """
        from esign.edxml import verify_package
        from esign.pki import load_dev_pki
        pki = load_dev_pki(Path(work, "pki"), "bench-password")
        # CRLs issued before the validation time: a CRL fetched during a long verification is
        # "too recent" for the time the validation started (pyhanko-certvalidator's rule).
        crls = [pki.crl(), pki.root_crl()]
        result = verify_package(Path(work, "signed.edxml").read_bytes(), trust_anchors=pki.root_pem_path,
                                registry=None, crls=crls)
        assert result.envelope.indication.value == "TOTAL-PASSED", result.reasons
    """,
    "extract (streamed from the file)": """
        from esign.edxml import extract_attachments
        extract_attachments(Path(work, "signed.edxml"), Path(work, "out"))
    """,
    "parse whole package": """
        from esign.edxml import parse_package
        parse_package(Path(work, "signed.edxml").read_bytes())
    """,
}


def _run(code: str, work: Path) -> float:
    script = (
        "import sys, resource\nfrom pathlib import Path\nwork = sys.argv[1]\n"
        + textwrap.dedent(code)
        + ("\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    )
    done = subprocess.run([sys.executable, "-c", script, str(work)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return int(done.stdout.strip().splitlines()[-1]) / 1024  # kilobytes on Linux


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from esign.pki import create_dev_pki

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "files").mkdir()
        for index in range(args.files):
            (work / "files" / f"file-{index:02}.bin").write_bytes(os.urandom(args.mb * 1024 * 1024))
        create_dev_pki(work / "pki", "bench-password")
        print(f"{args.files} attachments of {args.mb} MB")
        package_mb = 0.0
        for name, code in STEPS.items():
            peak = _run(code, work)
            if (work / "pkg.edxml").exists():
                package_mb = (work / "pkg.edxml").stat().st_size / 1024 / 1024
            ratio = f"{peak / package_mb:.2f}x package" if package_mb else ""
            print(f"{name:34} peak RSS {peak:8.1f} MB  {ratio}")
        print(f"package size {package_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
