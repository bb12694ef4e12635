"""`esign pki init` from the command line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def test_pki_init_creates_every_file_in_seconds(tmp_path: Path) -> None:
    target = tmp_path / "pki"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "esign.cli", "pki", "init", str(target), "--password", "pw"],
                            capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    expected = {"root.pem", "issuing-ca.pem", "chain.pem", "tsa.pem", "ocsp.pem", "crl.der",
                "person-rsa2048.p12", "person-rsa3072.p12", "person-p256.p12", "org-rsa2048.p12", "org-p256.p12"}
    assert expected <= {p.name for p in target.iterdir()}
    assert elapsed < 30, f"pki init took {elapsed:.1f} s"


def test_pki_show_with_wrong_password_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "pki"
    subprocess.run([sys.executable, "-m", "esign.cli", "pki", "init", str(target), "--password", "pw"],
                   check=True, capture_output=True, timeout=120)
    result = subprocess.run([sys.executable, "-m", "esign.cli", "pki", "show", str(target), "--password", "bad"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "wrong PKI password" in result.stderr
