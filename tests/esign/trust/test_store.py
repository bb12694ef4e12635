"""The bundled Vietnamese trust store, operator changes, and what a caller adds or replaces."""

from __future__ import annotations

import re
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from esign.errors import InvalidInput
from esign.trust import (
    add_operator_anchor,
    bundled_store,
    default_store,
    remove_operator_anchor,
    resolve_anchors,
    resolve_store,
    validate_path,
)
from esign.trust.store import BUNDLED_ANCHORS, BUNDLED_INTERMEDIATES

from .conftest import SmallPKI

_BESIDE = Path(__file__).resolve().parents[3].parent / "shared" / "trust" / "vn"
# The published table: ../shared/trust/vn beside the checkout, else its copy in tests/data.
SHARED = _BESIDE if _BESIDE.is_dir() else Path(__file__).resolve().parents[2] / "data" / "trust-vn"


@pytest.fixture(autouse=True)
def _empty_operator_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ESIGN_TRUST_DIR", str(tmp_path / "operator"))
    return tmp_path / "operator"


def _readme_fingerprints() -> dict[str, str]:
    table = (SHARED / "README.md").read_text()
    rows = re.findall(r"^\| (\S+\.pem) \|.*?\| ([0-9A-F:]{95}) \|", table, flags=re.M)
    return {name: fp.replace(":", "").lower() for name, fp in rows}


def test_every_bundled_certificate_matches_the_published_fingerprint() -> None:
    published = _readme_fingerprints()
    assert len(published) == 6
    shipped = {**BUNDLED_ANCHORS, **BUNDLED_INTERMEDIATES}
    assert shipped == published
    # and the files themselves, through openssl (a tool we did not write)
    for folder, names in (("anchors", BUNDLED_ANCHORS), ("intermediates", BUNDLED_INTERMEDIATES)):
        for name in names:
            path = resources.files("esign.trust") / folder / name
            out = subprocess.run(
                ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert out.strip().split("=", 1)[1].replace(":", "").lower() == published[name]


def test_openssl_verifies_the_bundled_intermediates_against_the_bundled_anchors(tmp_path: Path) -> None:
    store = bundled_store()
    bundle = tmp_path / "anchors.pem"
    bundle.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in store.certificates()))
    for cert in store.intermediates:
        leaf = tmp_path / "intermediate.pem"
        leaf.write_bytes(cert.public_bytes(Encoding.PEM))
        run = subprocess.run(["openssl", "verify", "-CAfile", str(bundle), str(leaf)], capture_output=True, text=True)
        assert run.returncode == 0 and run.stdout.strip().endswith(": OK"), run.stdout + run.stderr


def test_bundled_roots_are_anchors_and_intermediates_are_not() -> None:
    store = default_store()
    names = {a.name for a in store.anchors}
    assert names == {
        "MIC National Root CA",
        "Vietnam National Root CA",
        "Vietnam National Root CA G3",
        "RootCA chuyên dùng Chính phủ G2",
    }
    assert all(a.source == "bundled" for a in store.anchors)
    assert all(a.certificate.subject == a.certificate.issuer for a in store.anchors)
    intermediate_names = {c.subject.rfc4514_string() for c in store.intermediates}
    assert not any(store.source_of(c) for c in store.intermediates), intermediate_names


def test_the_intermediates_validate_to_the_bundled_roots_through_esign_trust() -> None:
    store = default_store()
    for cert in store.intermediates:
        result = validate_path(cert, revocation="none", usage="any")
        assert result.passed, result.message
        assert store.source_of(result.path[-1]) == "bundled"


def test_trust_adds_and_trust_only_replaces(pki: SmallPKI, tmp_path: Path) -> None:
    root_file = tmp_path / "root.pem"
    root_file.write_bytes(pki.root.certificate.public_bytes(Encoding.PEM))
    added = resolve_anchors(trust=[root_file])
    assert pki.root.certificate in added and len(added) == 5
    only = resolve_anchors(trust_only=[root_file])
    assert only == [pki.root.certificate]
    assert resolve_store(trust=[root_file]).source_of(pki.root.certificate) == "caller"
    with pytest.raises(InvalidInput):
        resolve_anchors(trust=[tmp_path / "missing.pem"])


def test_operator_can_add_and_remove_anchors(pki: SmallPKI, tmp_path: Path, _empty_operator_dir: Path) -> None:
    root_file = tmp_path / "root.pem"
    root_file.write_bytes(pki.root.certificate.public_bytes(Encoding.PEM))
    add_operator_anchor(root_file)
    store = default_store()
    assert store.source_of(pki.root.certificate) == "operator"
    mic = next(a for a in store.anchors if a.name == "MIC National Root CA")
    assert remove_operator_anchor(mic.sha256) == "MIC National Root CA"
    assert remove_operator_anchor(store.anchors[-1].sha256)
    after = default_store()
    assert after.source_of(mic.certificate) is None
    assert after.source_of(pki.root.certificate) is None
    assert mic.sha256 in after.removed
    with pytest.raises(InvalidInput):
        remove_operator_anchor("00" * 32)


def test_an_operator_directory_others_can_write_is_refused(
    pki: SmallPKI, tmp_path: Path, _empty_operator_dir: Path
) -> None:
    root_file = tmp_path / "root.pem"
    root_file.write_bytes(pki.root.certificate.public_bytes(Encoding.PEM))
    (added,) = add_operator_anchor(root_file)
    assert default_store().source_of(pki.root.certificate) == "operator"
    Path(added.origin).chmod(0o666)  # anyone could replace the anchor
    with pytest.raises(InvalidInput, match="writable by other users"):
        default_store()
    Path(added.origin).chmod(0o644)
    (_empty_operator_dir / "anchors").chmod(0o777)
    with pytest.raises(InvalidInput, match="writable by other users"):
        resolve_anchors()
    (_empty_operator_dir / "anchors").chmod(0o755)
    assert default_store().source_of(pki.root.certificate) == "operator"
