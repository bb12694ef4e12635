"""Fixtures for PDF tests: sample PDFs, an NSS database trusting the dev root for pdfsig."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from esign.thirdparty import import_pyhanko

sys.path.insert(0, str(Path(__file__).parent))
from samples import make_pdf

# These tests import pyHanko's signing modules themselves, and esign.pdf loads them only on use:
# load them first the way esign's own modules do, without the DSA warning (esign.thirdparty).
import_pyhanko()


@pytest.fixture(scope="session")
def one_page_pdf() -> bytes:
    """A one-page PDF written from scratch."""
    return make_pdf(1, text="Công văn số 1")


@pytest.fixture(scope="session")
def nss_db(dev_pki, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """An NSS database trusting the dev root (what pdfsig checks chains against)."""
    db = tmp_path_factory.mktemp("nss")
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "esign-dev-root", "-t", "CT,C,C", "-i", str(dev_pki.root_pem_path)],
        check=True,
    )
    return db


def pdfsig(path: Path, nss_db: Path) -> str:
    """pdfsig's report for ``path`` (OCSP left on: -no-ocsp misreports good chains, see FIELD-NOTES)."""
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_db}", str(path)], capture_output=True, text=True, timeout=60
    )
    return result.stdout + result.stderr
