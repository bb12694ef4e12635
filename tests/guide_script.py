"""Run one fenced shell block of a guide as written, from a clean folder, on the guide's own port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def port_free(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be bound (a guide's server needs its own)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_guide_block(guide: Path, fence: str, port: int, folder: Path) -> tuple[int, str]:
    """Run the guide's only ```` ```fence ```` block with ``bash -e`` in ``folder`` (the project's
    ``.venv`` and ``samples`` linked in, no ``ESIGN_*`` settings inherited); its exit code and output.

    Whatever the block started (a server, a PKI service) is stopped with the process group."""
    blocks = re.findall(rf"^```{fence}\s*\n(.*?)^```\s*$", guide.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 1, f"{guide.name} should hold one ```{fence} block, not {len(blocks)}"
    assert port_free(port), f"port {port} is taken: the guide's server needs it"
    (folder / ".venv").symlink_to(REPO / ".venv")
    (folder / "samples").symlink_to(REPO / "samples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESIGN_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env['PATH']}"
    script = folder / "guide.sh"
    script.write_text("set -e\n" + blocks[0])
    process = subprocess.Popen(["bash", str(script)], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return process.returncode, output.decode()
