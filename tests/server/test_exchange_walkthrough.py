"""docs/edxml.md's exchange node walk-through, run as written: a dev server, the department's letter
through the node to three communes, their 01/03/06 answers, the history."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "edxml.md"
PORT = 8762  # the walk-through's own
pytestmark = pytest.mark.slow


def _port_free() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", PORT))
        except OSError:
            return False
    return True


def test_the_exchange_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"^```bash\s*\n(.*?)^```\s*$", GUIDE.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 1
    assert _port_free(), f"port {PORT} is taken: the walk-through's server needs it"
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
            os.killpg(process.pid, signal.SIGTERM)  # the server, whatever happened
        except ProcessLookupError:
            pass
    text = output.decode()
    assert process.returncode == 0, text
    assert '"deliveries":[["H49.31","local","inbox"],["H49.32","local","inbox"],["H49.33","local","inbox"]]' in text
    assert '"signed_by_node":true' in text
    assert "SignedInfo References (ok/all): 1/1" in text  # xmlsec1 on the fetched package
    assert "Vết chuyển: H49 " in text  # the node's hop, as the commune's `esign edxml show` prints it
    expected = (
        '{"hops":["H49.22","H49"],"deliveries":[["H49.31","acked","01"],["H49.32","acked","03"],'
        '["H49.33","acked","06"]]}\n["status","H49.31","01"]\n["status","H49.32","03"]\n["status","H49.33","06"]\n'
    )
    assert text.endswith(expected), text[-600:]
