"""Process times of esign's commands from two source trees, alternating: what a start-up change gained.

Export the tree to compare with, then run (the other tree is put first on ``PYTHONPATH``; the
commands run as ``python -m esign.cli`` from a scratch folder, so the current checkout is not on the
path by accident)::

    git archive <commit> esign | tar -x -C /tmp/before
    .venv/bin/python bench/startup_compare.py /tmp/before [--repeat 7]

Medians of alternating runs (before, after, before, ...), so that load from elsewhere falls on both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench-pw"  # noqa: S105 - a throwaway PKI made for the run


def main() -> int:
    """Print a table of medians, before and after."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="a folder holding the other tree's esign package")
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from cli_processes import xml_document

    from esign.pki import create_dev_pki

    with tempfile.TemporaryDirectory(prefix="esign-startup-") as name:
        tmp = Path(name)
        pki = create_dev_pki(tmp / "pki", PASSWORD, base_url="http://127.0.0.1:9")
        key, root = str(pki.p12_path("person-rsa2048")), str(pki.root_pem_path)
        letter = str(REPO / "samples" / "cong-van.pdf")
        (tmp / "doc.xml").write_bytes(xml_document(10_000))
        esign = [sys.executable, "-m", "esign.cli"]
        subprocess.run(
            [*esign, "pdf", "sign", letter, "-o", "signed.pdf", "--key", key, "--password", PASSWORD],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*esign, "xml", "sign", "doc.xml", "-o", "signed.xml", "--key", key, "--password", PASSWORD],
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        cases = [
            ("import esign.pdf", ["-c", "import esign.pdf"]),
            ("import esign.pdf.verify", ["-c", "import esign.pdf.verify"]),
            ("import esign.xml.signing", ["-c", "import esign.xml.signing"]),
            (
                "esign pdf sign (B-B, invisible)",
                ["-m", "esign.cli", "pdf", "sign", letter, "-o", "out.pdf", "--key", key, "--password", PASSWORD],
            ),
            ("esign pdf verify", ["-m", "esign.cli", "pdf", "verify", "signed.pdf", "--trust-only", root]),
            (
                "esign xml sign (10 KB)",
                ["-m", "esign.cli", "xml", "sign", "doc.xml", "-o", "out.xml", "--key", key, "--password", PASSWORD],
            ),
            ("esign xml verify (10 KB)", ["-m", "esign.cli", "xml", "verify", "signed.xml", "--trust-only", root]),
        ]

        def run(args: list[str], before: bool) -> float:
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            if before:
                env["PYTHONPATH"] = str(options.before.resolve())
            started = time.perf_counter()
            done = subprocess.run([sys.executable, *args], env=env, cwd=tmp, capture_output=True, timeout=300)
            elapsed = time.perf_counter() - started
            if done.returncode not in (0, 1, 3):  # verified: passed, failed or indeterminate
                raise SystemExit(f"{args}: exit {done.returncode}: {done.stderr.decode()[-500:]}")
            return elapsed

        print(f"# median of {options.repeat} alternating runs; load {os.getloadavg()[0]:.2f}")
        print("| what | before (ms) | after (ms) | after / before |")
        print("|---|---:|---:|---:|")
        for what, args in cases:
            run(args, True)
            run(args, False)
            before, after = [], []
            for _ in range(options.repeat):
                before.append(run(args, True))
                after.append(run(args, False))
            b, a = statistics.median(before), statistics.median(after)
            print(f"| {what} | {b * 1000:.0f} | {a * 1000:.0f} | {a / b:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
