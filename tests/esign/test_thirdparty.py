"""esign's import boundary with pyHanko: no DSA deprecation warning, no logged tracebacks for results
the report already holds, and no global change to warning filters (issue 21, items 9 and 10)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from esign.pki import DevPKI


def python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_loading_the_pdf_code_and_the_pyhanko_client_prints_no_dsa_warning() -> None:
    result = python("import esign.pdf, esign_client.pyhanko")
    assert result.returncode == 0, result.stderr
    assert "DSA is deprecated" not in result.stderr and result.stderr == ""


def test_the_quieting_is_scoped_to_the_import() -> None:
    result = python("""
        import warnings
        before = list(warnings.filters)
        from esign.thirdparty import import_pyhanko
        import_pyhanko()
        assert warnings.filters == before, "a global warning filter was added"
        # The same warning raised later, outside the import, still reaches the application: the
        # filters in force are the application's own (cryptography 50 no longer warns on the DSA
        # import itself, so the warning is raised here rather than provoked through cryptography).
        from cryptography.utils import CryptographyDeprecationWarning
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("DSA is deprecated and will be removed", CryptographyDeprecationWarning)
        assert any("DSA is deprecated" in str(w.message) for w in seen)
    """)
    assert result.returncode == 0, result.stderr


def test_an_expected_indeterminate_logs_no_traceback(dev_pki: DevPKI, tmp_path: Path) -> None:
    # B-T without revocation data, verified offline: INDETERMINATE, said by the report alone.
    result = python(
        f"""
        import esign
        from esign.signers import FileSigner
        from tests.esign.pdf.samples import make_pdf
        signer = FileSigner.from_pkcs12({str(dev_pki.p12_path("person-rsa2048"))!r}, "test-pki-password")
        signed = esign.sign_pdf(make_pdf(), signer=signer, level="B-T", tsa_url={dev_pki.tsa_url!r})
        [report] = esign.verify_pdf(signed, trust_anchors=[{str(dev_pki.root_pem_path)!r}])
        print(report.indication.value)
    """,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "INDETERMINATE"
    assert "Traceback" not in result.stderr
