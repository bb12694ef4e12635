"""The long fuzzing runs behind ``bench/fuzz_pdf.py`` and ``bench/fuzz_xml.py``.

Two engines over the same mutators as the CI tests (:mod:`tests.esign.fuzz.mutations`):

* ``atheris`` (coverage-guided, libFuzzer): each input either *is* a document (libFuzzer mutates
  the signed seeds byte by byte, guided by the coverage of esign, pyHanko, asn1crypto and
  certvalidator) or *drives* the structured mutators through a ``FuzzedDataProvider``.
  libFuzzer's ``-timeout`` stops the run on an input slower than ``--timeout`` and saves it.
* ``random``: the structured mutators from a seeded :class:`random.Random`; each call runs in a
  watched thread, so a hang is recorded (and ends the run) instead of blocking it.

Both stop after ``--seconds``, never on the first finding: each distinct finding (exception type
and place, a pass after tampering, a hang, or a foreign exception turned into an EsignError at a
last-resort boundary) is saved under ``--out`` with the input that shows it, and a summary is
printed and written as ``summary.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import random
import socket
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.esign.fuzz.mutations import (
    PDF_MUTATORS,
    XML_MUTATORS,
    Choices,
    Mutant,
    ProviderChoices,
    RandomChoices,
    mutate,
    pick,
)

if TYPE_CHECKING:
    from tests.esign.fuzz.harness import Outcome

INSTRUMENTED = ["esign", "pyhanko", "pyhanko_certvalidator", "asn1crypto"]
"""Packages whose Python code atheris instruments for coverage (lxml and cryptography are C)."""
RAW_MODE_BELOW = 64
"""An atheris input whose first byte is below this is a whole document; otherwise it drives mutators."""
BOUNDARY_MARKS = ("cannot be read:",)
"""Phrases in an error or report that mean a last-resort boundary caught a foreign exception."""


class Campaign:
    """One long run: seeds, the verifier, the tally and the findings on disk."""

    def __init__(self, fmt: str, out: Path, timeout: float) -> None:
        self.fmt = fmt
        self.out = out
        self.timeout = timeout
        self.out.mkdir(parents=True, exist_ok=True)
        self.seeds: dict[str, bytes] = {}
        self.verify: Callable[[bytes], list[Any]] = lambda data: []
        self.mutators = PDF_MUTATORS if fmt == "pdf" else XML_MUTATORS
        self.tally: Counter[str] = Counter()
        self.findings: dict[str, dict[str, Any]] = {}
        self.started = time.monotonic()
        self.slowest = 0.0
        self.slowest_what = ""

    # -- set-up ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """A dev PKI with its OCSP/CRL/TSA service on loopback, and signed seeds from it."""
        from esign.pki import create_dev_pki
        from esign.pki.http import serve_pki
        from tests.esign.fuzz.corpus import signed_pdfs, signed_xmls

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        directory = Path(tempfile.mkdtemp(prefix="esign-fuzz-")) / "pki"
        pki = create_dev_pki(directory, "fuzz-password", base_url=f"http://127.0.0.1:{port}")
        serve_pki(pki, port)
        root = pki.root_pem_path.read_bytes()
        # Revocation is required (esign.trust): the PKI's CRLs, supplied, so that a mutant *could* be
        # TOTAL-PASSED (the promise checked is that a tampered one never is) without a fetch per input.
        crls = [pki.crl(), pki.root_crl()]
        if self.fmt == "pdf":
            from esign.pdf import verify_pdf

            self.seeds = dict(signed_pdfs(pki, long_term=True))

            def verify(data: bytes) -> list[Any]:
                return verify_pdf(data, trust_anchors=root, crls=crls)
        else:
            from esign.xml import verify_xml

            self.seeds = dict(signed_xmls(pki, long_term=True))

            def verify(data: bytes) -> list[Any]:
                return list(verify_xml(data, trust_anchors=root, crls=crls).reports)

        self.verify = verify
        for name, data in self.seeds.items():
            reports = verify(data)
            if not (reports and all(r.passed for r in reports)):
                raise SystemExit(f"seed {name!r} does not verify TOTAL-PASSED; fix the corpus first")
        self.started = time.monotonic()  # --seconds counts fuzzing, not setting up

    # -- one input -------------------------------------------------------------------------------

    def evaluate(self, mutant: Mutant, *, guard: bool) -> None:
        """Verify one mutant and record what happened; ``guard`` runs it in a watched thread."""
        # Imported late (here and below): esign must first be imported under atheris' instrumentation.
        from tests.esign.fuzz.harness import FuzzDefect, check

        began = time.perf_counter()
        try:
            if guard:
                outcome = check(self.verify, mutant.data, signed_changed=mutant.signed_changed, timeout=self.timeout)
            else:
                outcome = self._direct(mutant)
        except FuzzDefect as defect:
            cause, hang = defect.__cause__, "did not return" in str(defect)
            if cause is not None:
                self.record(_place(cause), mutant, f"{cause.__class__.__name__}: {cause}")
            else:
                self.record("hang" if hang else "TOTAL-PASSED after tampering", mutant, str(defect))
            if hang:  # the stuck thread keeps running: stop here, the input is saved
                self.finish()
                raise SystemExit(3) from None
            return
        finally:
            took = time.perf_counter() - began
            if took > self.slowest:  # kept, to see what costs the most
                self.slowest = took
                (self.out / ("slowest" + (".pdf" if self.fmt == "pdf" else ".xml"))).write_bytes(mutant.data)
                self.slowest_what = mutant.what[:300]
        self.tally["inputs"] += 1
        if outcome.error is not None:
            self.tally[f"refused: {outcome.error.__class__.__name__}"] += 1
            converted = outcome.converted
            if converted is not None:
                self.record("boundary: " + _place(converted), mutant, str(outcome.error))
        else:
            verdict = ",".join(sorted({r.indication.value for r in outcome.reports})) or "no signature"
            self.tally[f"reported: {verdict}"] += 1
            for report in outcome.reports:
                for error in report.errors:
                    if any(mark in error for mark in BOUNDARY_MARKS):
                        self.record("boundary: " + error.split(":")[1].strip(), mutant, error)

    def _direct(self, mutant: Mutant) -> Outcome:
        """Verify in this thread (atheris: libFuzzer's own -timeout watches for hangs)."""
        from esign.errors import EsignError
        from tests.esign.fuzz.harness import FuzzDefect, Outcome

        try:
            reports = tuple(self.verify(mutant.data))
        except EsignError as exc:
            return Outcome(error=exc)
        except Exception as exc:
            raise FuzzDefect(f"{exc.__class__.__name__}: {exc}") from exc
        outcome = Outcome(reports=reports)
        if mutant.signed_changed and outcome.passed:
            raise FuzzDefect("a report is TOTAL-PASSED although bytes covered by the signature were changed")
        return outcome

    def record(self, key: str, mutant: Mutant, detail: str) -> None:
        """Count a finding; keep the first (smallest seen) input for each distinct one."""
        self.tally["findings"] += 1
        entry = self.findings.get(key)
        if entry is not None and entry["size"] <= len(mutant.data):
            entry["count"] += 1
            return
        name = sha256(mutant.data).hexdigest()[:16] + (".pdf" if self.fmt == "pdf" else ".xml")
        (self.out / name).write_bytes(mutant.data)
        self.findings[key] = {
            "count": (entry["count"] + 1) if entry else 1,
            "input": name,
            "size": len(mutant.data),
            "mutation": mutant.what[:300],
            "detail": detail[:500],
        }
        print(f"finding: {key} ({mutant.what[:100]}) -> {self.out / name}", flush=True)

    # -- engines ---------------------------------------------------------------------------------

    def structured(self, choices: Choices, *, guard: bool) -> None:
        seed = pick(choices, sorted(self.seeds))
        rounds = pick(choices, (1, 1, 1, 2, 3))
        self.evaluate(mutate(self.seeds[seed], self.mutators, choices, rounds=rounds), guard=guard)

    def run_random(self, seconds: float, seed: int) -> None:
        rng = random.Random(seed)
        choices = RandomChoices(rng)
        while time.monotonic() - self.started < seconds:
            self.structured(choices, guard=True)
        self.finish()

    def run_atheris(self, seconds: float, extra: list[str]) -> None:
        import atheris

        corpus = self.out / "corpus"
        corpus.mkdir(exist_ok=True)
        for name, data in self.seeds.items():
            (corpus / f"seed-{sha256(name.encode()).hexdigest()[:8]}").write_bytes(b"\0" + data)

        def one_input(data: bytes) -> None:
            if time.monotonic() - self.started >= seconds:
                # libFuzzer ends with a C exit() that skips Python's atexit: finish here instead.
                self.finish()
                os._exit(1 if self.findings else 0)
            if not data:
                return
            if data[0] < RAW_MODE_BELOW:
                self.evaluate(Mutant(data[1:], "libFuzzer byte mutation"), guard=False)
            else:
                self.structured(ProviderChoices(atheris.FuzzedDataProvider(data[1:])), guard=False)

        args = [
            sys.argv[0],
            f"-max_total_time={int(seconds) + 60}",
            f"-timeout={int(self.timeout)}",
            "-rss_limit_mb=4096",
            "-max_len=200000",
            f"-artifact_prefix={self.out}/",
            *extra,
            str(corpus),
        ]
        atheris.Setup(args, one_input)
        atheris.Fuzz()

    def finish(self) -> None:
        if self.tally.get("finished"):
            return
        self.tally["finished"] = 1
        elapsed = time.monotonic() - self.started
        summary = {
            "format": self.fmt,
            "seconds": round(elapsed, 1),
            "inputs": self.tally["inputs"],
            "inputs_per_second": round(self.tally["inputs"] / elapsed, 1) if elapsed else None,
            "slowest_input_seconds": round(self.slowest, 2),
            "slowest_input": self.slowest_what,
            "seeds": sorted(self.seeds),
            "outcomes": {k: v for k, v in sorted(self.tally.items()) if k.startswith(("refused", "reported"))},
            "findings": self.findings,
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        print(json.dumps(summary, indent=2, ensure_ascii=False), flush=True)


def _place(exc: BaseException) -> str:
    """``ExceptionType at file:line`` of the innermost frame, a stable key for one defect."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename.split('site-packages/')[-1]}:{frames[-1].lineno}" if frames else "?"
    return f"{exc.__class__.__name__} at {where}"


def main(fmt: str, argv: list[str] | None = None) -> int:
    """Command line of ``bench/fuzz_pdf.py`` and ``bench/fuzz_xml.py``."""
    parser = argparse.ArgumentParser(description=f"Long fuzzing run of verify_{fmt} (bounded by time).")
    parser.add_argument("--seconds", type=float, default=600, help="total running time (default 600)")
    parser.add_argument(
        "--engine",
        choices=["atheris", "random"],
        default=None,
        help="atheris when installed (coverage-guided), else random",
    )
    parser.add_argument("--timeout", type=float, default=20, help="seconds one input may take (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random engine seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path(f"var/fuzz/{fmt}"), help="findings directory")
    args, extra = parser.parse_known_args(argv)
    engine = args.engine or ("atheris" if importlib.util.find_spec("atheris") else "random")
    logging.disable(logging.CRITICAL)  # pyHanko logs each broken file with a traceback
    campaign = Campaign(fmt, args.out, args.timeout)
    if engine == "atheris":
        import atheris

        with atheris.instrument_imports(include=INSTRUMENTED):
            import asn1crypto.cms  # noqa: F401
            import pyhanko.sign.validation  # noqa: F401
            import pyhanko_certvalidator  # noqa: F401

            import esign.pdf
            import esign.xml  # noqa: F401
        campaign.prepare()
        print(f"atheris: {len(campaign.seeds)} seeds, {args.seconds:g} s, -timeout={args.timeout:g}", flush=True)
        campaign.run_atheris(args.seconds, extra)
    else:
        campaign.prepare()
        print(f"random: {len(campaign.seeds)} seeds, {args.seconds:g} s, seed {args.seed}", flush=True)
        campaign.run_random(args.seconds, args.seed)
    return 1 if campaign.findings else 0
