"""PDF signing and verification: esign vs stock pyHanko, measured side by side in one run.

    .venv/bin/python bench/pdf_bench.py [--runs 30] [--big-mb 100] [--big-runs 9]

Prints medians and ratios:
- 1-page PDF, PAdES B-B, RSA-2048 from PKCS#12: esign ``sign_pdf`` vs stock ``signers.sign_pdf``
  with ``SimpleSigner.load_pkcs12`` (each key loaded once, outside the timing);
- a big PDF (one large embedded stream), path to path: esign vs stock vs the floor "copy the file
  + SHA-256 it in Python", each job in its own subprocess so peak RSS (over the interpreter's own)
  is per contender; the three take turns within each round (the order rotates), and besides the
  medians the median of the per-round ratios esign / floor is printed, which is what survives the
  load of a shared machine best; CPU = user + system time of the job;
- verification throughput: esign ``verify_pdf`` vs pyHanko ``validate_pdf_signature``.

Both run the same pyHanko, as shipped: esign changes nothing in it.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "esign" / "pdf"))
sys.path.insert(0, str(ROOT))

from samples import make_pdf  # noqa: E402

PASSWORD = "bench-password"  # noqa: S105 - throwaway PKI created for the run


def _rss_mb() -> float:
    """Peak RSS (VmHWM) in MB since the last :func:`_reset_peak`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> float:
    """Reset the peak-RSS mark to the current RSS (Linux clear_refs 5) and return it."""
    Path("/proc/self/clear_refs").write_text("5")
    return _rss_mb()


def _cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def _medians_ms(runs: int, ours, stock) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median times of ``ours()`` and ``stock()`` (stock pyHanko as shipped), run in turns."""
    ours()
    stock()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        gc.collect()  # neither pays for the other's garbage
        t = time.perf_counter()
        ours()
        times[0].append((time.perf_counter() - t) * 1000)
        gc.collect()
        t = time.perf_counter()
        stock()
        times[1].append((time.perf_counter() - t) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def _stock_signer(p12: Path):  # type: ignore[no-untyped-def]
    from pyhanko.sign import signers

    return signers.SimpleSigner.load_pkcs12(str(p12), passphrase=PASSWORD.encode())


def _stock_sign(signer, source, output=None):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=SigSeedSubFilter.PADES)
    return signers.sign_pdf(IncrementalPdfFileWriter(source), meta, signer=signer, output=output)


def one(kind: str, pki_dir: Path, src: Path, dst: Path) -> None:
    """Child process: do one big-file job and print its time, CPU time and peak RSS over the interpreter's."""
    from esign.pki import load_dev_pki

    pki = load_dev_pki(pki_dir, PASSWORD)
    p12 = pki.p12_path("person-rsa2048")
    if kind == "esign":
        from esign.pdf import sign_pdf

        signer = pki.signer("person-rsa2048")
        base, cpu = _reset_peak(), _cpu_ms()
        t = time.perf_counter()
        sign_pdf(src, dst, signer)
    elif kind == "stock":
        signer = _stock_signer(p12)
        base, cpu = _reset_peak(), _cpu_ms()
        t = time.perf_counter()
        with open(src, "rb") as inp, open(dst, "wb") as out:
            _stock_sign(signer, inp, out)
    else:  # floor: copy the file and hash it in Python
        base, cpu = _reset_peak(), _cpu_ms()
        t = time.perf_counter()
        shutil.copyfile(src, dst)
        h = hashlib.sha256()
        with open(dst, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    elapsed = (time.perf_counter() - t) * 1000
    print(json.dumps({"ms": elapsed, "cpu_ms": _cpu_ms() - cpu, "peak_mb": _rss_mb() - base}))


def _child(kind: str, pki_dir: Path, src: Path, dst: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(pki_dir), str(src), str(dst)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--big-runs", type=int, default=9)
    parser.add_argument("--one", nargs=4)
    parser.add_argument("--verify-only", action="store_true", help="Only the verification comparison.")
    args = parser.parse_args()
    if args.one:
        one(args.one[0], Path(args.one[1]), Path(args.one[2]), Path(args.one[3]))
        return

    import logging

    logging.disable(logging.WARNING)
    from esign.pdf import sign_pdf
    from esign.pki import create_dev_pki

    work = Path(tempfile.mkdtemp(prefix="pdf-bench-"))
    try:
        pki = create_dev_pki(work / "pki", PASSWORD)
        p12 = pki.p12_path("person-rsa2048")
        small = make_pdf(1)
        ours = pki.signer("person-rsa2048")
        stock = _stock_signer(p12)
        if args.verify_only:
            _verify_bench(args, pki, ours, small)
            return
        ours_ms, stock_ms = _medians_ms(
            args.runs, lambda: sign_pdf(small, None, ours), lambda: _stock_sign(stock, io.BytesIO(small))
        )
        print(f"1-page PDF, B-B, RSA-2048 ({args.runs} runs each, in turns, median)")
        print(f"  esign sign_pdf          {ours_ms:8.2f} ms")
        print(f"  stock pyHanko sign_pdf  {stock_ms:8.2f} ms")
        print(f"  speed-up                {stock_ms / ours_ms:8.1f}x   (target >= 5x)")

        big = work / "big.pdf"
        big.write_bytes(make_pdf(1, blob_size=args.big_mb * 1_000_000))
        size_mb = big.stat().st_size / 1e6
        kinds = ["floor", "esign", "stock"]
        results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
        for n in range(args.big_runs):
            for kind in kinds[n % 3 :] + kinds[: n % 3]:
                results[kind].append(_child(kind, work / "pki", big, work / f"out-{kind}.pdf"))
        med = {k: statistics.median(r["ms"] for r in v) for k, v in results.items()}
        low = {k: min(r["ms"] for r in v) for k, v in results.items()}
        cpu = {k: statistics.median(r["cpu_ms"] for r in v) for k, v in results.items()}
        peak = {k: max(r["peak_mb"] for r in v) for k, v in results.items()}
        rounds = zip(results["esign"], results["floor"], strict=True)
        per_round = statistics.median(e["ms"] / f["ms"] for e, f in rounds)
        print(f"{size_mb:.0f} MB PDF, B-B, RSA-2048, path to path ({args.big_runs} rounds; peak RSS over interpreter)")
        print(f"  {'':24s}{'median':>8s}    {'min':>6s}    {'CPU':>6s}")
        for kind, label in (
            ("floor", "copy + SHA-256 (floor)"),
            ("esign", "esign sign_pdf"),
            ("stock", "stock pyHanko sign_pdf"),
        ):
            print(
                f"  {label:24s}{med[kind]:8.1f} ms {low[kind]:6.1f} ms {cpu[kind]:6.1f} ms   peak +{peak[kind]:6.1f} MB"
            )
        print(f"  esign / floor, per round{per_round:8.2f}x   (target <= 1.3x)")
        print(f"  esign / floor, medians  {med['esign'] / med['floor']:8.2f}x")
        print(f"  stock / esign, medians  {med['stock'] / med['esign']:8.2f}x")

        _verify_bench(args, pki, ours, small)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _verify_bench(args: argparse.Namespace, pki: Any, ours: Any, small: bytes) -> None:
    """esign verify_pdf against pyHanko validate_pdf_signature on a 1-page B-B file."""
    from esign.pdf import sign_pdf, verify_pdf

    signed = sign_pdf(small, None, ours)
    assert signed is not None
    from asn1crypto import crl as asn1_crl
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from esign.pdf.adapter import to_asn1

    root = to_asn1(pki.root_cert)
    # esign decides revocation ("require"): both get the same CRLs (issuing CA, root), as a verifier
    # holding them would; stock pyHanko also runs as shipped (soft-fail: no revocation checked offline).
    crls = [pki.crl(), pki.root_crl()]
    asn1_crls = [asn1_crl.CertificateList.load(c) for c in crls]

    def stock_verify() -> None:
        sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
        context = ValidationContext(trust_roots=[root], crls=asn1_crls, revocation_mode="require")
        assert validate_pdf_signature(sig, context).bottom_line

    def stock_default() -> None:
        sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
        assert validate_pdf_signature(sig, ValidationContext(trust_roots=[root])).bottom_line

    def ours_verify() -> None:
        assert verify_pdf(signed, trust_anchors=pki.root_cert, crls=crls)[0].passed

    v_ours, v_stock = _medians_ms(args.runs, ours_verify, stock_verify)
    v_ours2, v_default = _medians_ms(args.runs, ours_verify, stock_default)
    print(f"Verification, 1-page B-B, CRLs supplied ({args.runs} runs each, in turns, median)")
    print(f"  esign verify_pdf                           {v_ours:7.2f} ms  ({1000 / v_ours:6.1f}/s)")
    print(f"  pyHanko validate_pdf_signature, require    {v_stock:7.2f} ms  ({1000 / v_stock:6.1f}/s)")
    print(f"  esign / pyHanko time                       {v_ours / v_stock:7.2f}x")
    print(f"  esign verify_pdf (second round)            {v_ours2:7.2f} ms")
    print(f"  pyHanko validate_pdf_signature, defaults   {v_default:7.2f} ms  (no revocation check offline)")
    print(f"  esign / pyHanko-defaults time              {v_ours2 / v_default:7.2f}x")


if __name__ == "__main__":
    main()
