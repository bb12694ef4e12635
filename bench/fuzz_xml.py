"""Long fuzzing run of verify_xml: byte flips, truncation, insertions, element moves and wrapping, attribute edits,
namespace games, DOCTYPE/entity injection, giant base64, deep nesting and invalid UTF-8 of signed XML
(XMLDSig enveloped/enveloping, XAdES B-B/B-T/B-LT, e-invoice with seller and buyer signatures).

Bounded by time, loopback only (the dev PKI's TSA/OCSP service runs on 127.0.0.1 for the seeds).
Engine: atheris (coverage-guided; in the dev extra) when installed, else a seeded random run.
Findings (inputs and summary.json) go to var/fuzz/xml/; exit status 1 when there are any.

    .venv/bin/python bench/fuzz_xml.py --seconds 600                 # atheris, 10 minutes
    .venv/bin/python bench/fuzz_xml.py --engine random --seconds 600 --seed 1
    .venv/bin/python bench/fuzz_xml.py --seconds 3600 -- -jobs=1     # extra arguments go to libFuzzer

See docs/reliability.md, "Fuzzing", for what the runs found.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.esign.fuzz.longrun import main

if __name__ == "__main__":
    sys.exit(main("xml", sys.argv[1:]))
