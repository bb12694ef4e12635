"""Long fuzzing run of verify_pdf: byte flips, truncation, insertions, xref/trailer damage, /ByteRange and /Contents
edits, nesting bombs, huge numbers, lying stream lengths and shadow updates of signed PDFs (B-B RSA/ECDSA,
certified, B-T, B-LT, B-LTA).

Bounded by time, loopback only (the dev PKI's TSA/OCSP service runs on 127.0.0.1 for the seeds).
Engine: atheris (coverage-guided; in the dev extra) when installed, else a seeded random run.
Findings (inputs and summary.json) go to var/fuzz/pdf/; exit status 1 when there are any.

    .venv/bin/python bench/fuzz_pdf.py --seconds 600                 # atheris, 10 minutes
    .venv/bin/python bench/fuzz_pdf.py --engine random --seconds 600 --seed 1
    .venv/bin/python bench/fuzz_pdf.py --seconds 3600 -- -jobs=1     # extra arguments go to libFuzzer

See docs/reliability.md, "Fuzzing", for what the runs found.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.esign.fuzz.longrun import main

if __name__ == "__main__":
    sys.exit(main("pdf", sys.argv[1:]))
