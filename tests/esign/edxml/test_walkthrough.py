"""docs/edxml.md's walk-through, run as written: a letter signed, packaged for three communes, answered."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GUIDE = REPO / "docs" / "edxml.md"
PORT = 8761  # the guide's own (esign pki init --base-url)
pytestmark = pytest.mark.slow


def _port_free() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", PORT))
        except OSError:
            return False
    return True


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"^```sh\s*\n(.*?)^```\s*$", GUIDE.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 1
    assert _port_free(), f"port {PORT} is taken: the guide's dev PKI service needs it"
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    (tmp_path / "samples").symlink_to(REPO / "samples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESIGN_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env['PATH']}"
    script = tmp_path / "guide.sh"
    script.write_text("set -e\n" + blocks[0])
    process = subprocess.Popen(["bash", str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the dev PKI service, whatever happened
        except ProcessLookupError:
            pass
    text = output.decode()
    assert process.returncode == 0, text
    assert text.count("Kết quả: TOTAL-PASSED") == 1  # the commune's verification of the package
    assert "Result: TOTAL-PASSED" in text  # the department's verification of the 06 answer
    assert "Trạng thái: 06 (Hoàn thành)" in text
    assert (tmp_path / "xa-a" / "cong-van-ky.pdf").read_bytes() == (tmp_path / "cong-van-ky.pdf").read_bytes()
    assert sorted(p.name for p in tmp_path.glob("H49.3?-0?.edxml")) == [
        f"H49.3{x}-0{c}.edxml" for x in (1, 2, 3) for c in (1, 3, 6)
    ]
