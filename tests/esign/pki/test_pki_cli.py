"""`esign pki init` and `esign pki serve` from the command line."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from esign.pki import create_dev_pki
from esign.pki.http import serve_pki

ESIGN = [sys.executable, "-m", "esign.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_pki_init_creates_every_file(tmp_path: Path) -> None:
    target = tmp_path / "pki"
    result = subprocess.run(
        [*ESIGN, "pki", "init", str(target), "--password", "pw"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    expected = {
        "root.pem",
        "issuing-ca.pem",
        "chain.pem",
        "tsa.pem",
        "ocsp.pem",
        "crl.der",
        "person-rsa2048.p12",
        "person-rsa3072.p12",
        "person-p256.p12",
        "org-rsa2048.p12",
        "org-p256.p12",
    }
    assert expected <= {p.name for p in target.iterdir()}
    # The default URLs follow the server's /pki/... layout, on a port of their own (not the server's 8750).
    assert "http://127.0.0.1:8751/pki/ocsp" in result.stdout


def test_pki_show_with_wrong_password_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "pki"
    subprocess.run(
        [*ESIGN, "pki", "init", str(target), "--password", "pw"], check=True, capture_output=True, timeout=120
    )
    result = subprocess.run(
        [*ESIGN, "pki", "show", str(target), "--password", "bad"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "wrong PKI password" in result.stderr


def test_pki_init_on_an_existing_pki_says_so_in_one_line(tmp_path: Path) -> None:
    target = tmp_path / "pki"
    subprocess.run(
        [*ESIGN, "pki", "init", str(target), "--password", "pw"], check=True, capture_output=True, timeout=120
    )
    result = subprocess.run(
        [*ESIGN, "pki", "init", str(target), "--password", "pw"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "already holds a PKI" in result.stderr


@pytest.mark.parametrize("prefix", ["/pki", ""])
def test_served_paths_are_the_paths_the_certificates_name(tmp_path: Path, prefix: str) -> None:
    port = free_port()
    pki = create_dev_pki(tmp_path / "pki", "pw", base_url=f"http://127.0.0.1:{port}{prefix}")
    server, _ = serve_pki(pki, port)
    try:
        assert pki.crl_url == f"http://127.0.0.1:{port}{prefix}/crl"
        assert status(pki.crl_url) == 200
        assert status(f"http://127.0.0.1:{port}{prefix}/ca.pem") == 200
        if prefix:
            assert status(f"http://127.0.0.1:{port}/crl") == 404  # nothing outside the certificates' prefix
    finally:
        server.shutdown()
        server.server_close()


def test_pki_serve_on_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    port = free_port()
    pki_dir = tmp_path / "pki"
    create_dev_pki(pki_dir, "pw", base_url=f"http://127.0.0.1:{port}/pki")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        result = subprocess.run(
            [*ESIGN, "pki", "serve", str(pki_dir), "--password", "pw"], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
