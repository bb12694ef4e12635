"""The README's tour and the quick starts, run as written (issue 21, item 4 and the items they show).

Every fenced block marked ``sh`` or ``python`` in the guides below is run literally, in order, from a
clean temporary folder that holds only links to the checkout's ``.venv`` and ``samples/`` (the guides
say to run them in the checkout). ``ESIGN_VAR_DIR`` points the server's state into that folder; nothing
else is changed. A ``sh`` block runs in one ``bash -e`` (so every command must succeed); a line that
starts a server in the foreground (``--serve``) is started in the background instead, and the test
then runs the numbered steps the demo printed, literally too, against that real server. Blocks meant
as illustration are fenced without a language (or ``console``) and are not run.

The admin quick start is written as a terminal session (``$ command`` then what it printed): every
command runs in one shell, in order, with the ids and secrets the guide shows replaced by those this
run printed (``learn``); exit codes the guide shows (``; echo $?``), issued codes and certificate
subjects must match.

The ports are the guides' own (8751 for ``esign pki serve``, 8750 for the server): the test fails
with a clear message if something else holds them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKI_PORT, SERVER_PORT = 8751, 8750
pytestmark = pytest.mark.slow

FENCE = re.compile(r"^```(\w*)\s*\n(.*?)^```\s*$", re.S | re.M)


@dataclass
class Block:
    lang: str
    code: str


def runnable_blocks(doc: Path) -> list[Block]:
    """The ``sh`` and ``python`` blocks of ``doc``, in order."""
    return [Block(m.group(1), m.group(2)) for m in FENCE.finditer(doc.read_text()) if m.group(1) in ("sh", "python")]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no owner
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            return False
    return True


def wait_for(url: str, log: Path, seconds: float = 60) -> None:
    """Until ``url`` answers (the service the guide started in the background, logging to ``log``)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer from {url}; the service said:\n{log.read_text()}") from None
            time.sleep(0.2)


class Folder:
    """A clean folder to follow a guide in, and the processes the guide started there."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / ".venv").symlink_to(REPO / ".venv")
        (root / "samples").symlink_to(REPO / "samples")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ESIGN_", "VIRTUAL_ENV"))}
        self.env["ESIGN_VAR_DIR"] = str(root / "var")
        self.env["PATH"] = f"{REPO / '.venv' / 'bin'}:{self.env['PATH']}"
        self.background: list[subprocess.Popen[bytes]] = []

    def sh(self, code: str, name: str) -> subprocess.CompletedProcess[str]:
        """Run a ``sh`` block with bash -e; a ``--serve`` line goes to the background (its output to a file)."""
        lines = []
        for n, line in enumerate(code.splitlines()):
            command = line.split(" #", 1)[0].rstrip()
            if "--serve" in command and not command.endswith("&"):
                command = f"{command} > {name}.serve.log 2>&1 &"
            elif command.endswith("&") and ">" not in command:  # its output to a file, not to our pipes
                command = f"{command[:-1].rstrip()} > {name}.bg{n}.log 2>&1 &"
            lines.append(command)
        script = self.root / f"{name}.sh"
        script.write_text("set -e\n" + "\n".join(lines) + "\n")
        # Its own session: background servers it starts are stopped with it (killpg).
        process = subprocess.Popen(
            ["bash", str(script)],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.background.append(process)  # type: ignore[arg-type]
        out, err = process.communicate(timeout=180)
        return subprocess.CompletedProcess(process.args, process.returncode, out.decode(), err.decode())

    def python(self, code: str, name: str) -> subprocess.CompletedProcess[str]:
        script = self.root / f"{name}.py"
        script.write_text(code)
        return subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), str(script)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def stop(self) -> None:
        """Stop everything the guide started: each block ran in its own process group."""
        for process in self.background:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.background:
            process.wait(20)
            deadline = time.monotonic() + 20
            while True:  # the servers a block left in the background are in its group too
                try:
                    os.killpg(process.pid, 0)
                except ProcessLookupError:
                    break
                if time.monotonic() > deadline:
                    os.killpg(process.pid, signal.SIGKILL)
                time.sleep(0.1)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Folder]:
    for port in (PKI_PORT, SERVER_PORT):
        assert port_is_free(port), f"port {port} is taken: the guides use it; stop what holds it"
    here = Folder(tmp_path)
    try:
        yield here
    finally:
        here.stop()


def follow(folder: Folder, doc: Path) -> list[tuple[Block, subprocess.CompletedProcess[str]]]:
    done = []
    for n, block in enumerate(runnable_blocks(doc), start=1):
        name = f"{doc.stem}-{n}"
        result = folder.sh(block.code, name) if block.lang == "sh" else folder.python(block.code, name)
        assert result.returncode == 0, f"{doc.name} block {n} failed:\n{block.code}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr and "DeprecationWarning" not in result.stderr, result.stderr
        done.append((block, result))
    return done


def last_json(text: str) -> dict[str, object]:
    """The last JSON object in ``text`` (several printed one after another)."""
    decoder, found, at = json.JSONDecoder(), {}, 0
    while (start := text.find("{", at)) != -1:
        found, at = decoder.raw_decode(text, start)
    return found


def demo_steps(log: str) -> list[str]:
    """The shell commands of the demo's numbered steps, as printed."""
    lines = log.splitlines()
    return [lines[i + 1].strip() for i, line in enumerate(lines) if re.match(r"^\d+\. ", line)]


def test_the_readme_tour_and_the_demo_steps_run_as_written(folder: Folder) -> None:
    done = follow(folder, REPO / "README.md")
    assert [b.lang for b, _ in done] == ["sh", "python"]
    _, python = done[1]
    assert "TOTAL-PASSED" in python.stdout
    assert (folder.root / "cong-van-signed.pdf").is_file() and (folder.root / "hoa-don-signed.xml").is_file()
    wait_for(f"http://127.0.0.1:{SERVER_PORT}/health", folder.root / "README-1.serve.log")
    log = (folder.root / "README-1.serve.log").read_text()
    steps = demo_steps(log)
    assert len(steps) == 4, log
    result = folder.sh("\n".join(steps), "demo-steps")
    assert result.returncode == 0, result.stdout + result.stderr
    fetched = last_json(result.stdout)  # step 4's answer (step 3 printed the phone's)
    assert fetched["status"] == "signed" and len(fetched["signatures"]) == 1


def test_the_integrator_quick_start_runs_as_written(folder: Folder) -> None:
    done = follow(folder, REPO / "docs" / "quickstart-integrator.md")
    assert [b.lang for b, _ in done] == ["sh", "python", "python"]
    assert "TOTAL-PASSED" in done[1][1].stdout


# ------------------------------------------------------------------ the admin quick start ($ prompts)

PROMPT_BLOCK = re.compile(r"^```\s*\n(.*?)^```\s*$", re.S | re.M)
ID_LIKE = re.compile(
    r"^(rs_[0-9a-f]{16}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9_-]{40,})$"
)


@dataclass
class Step:
    command: str
    shown: str
    """The output the guide shows after the command."""


def prompt_steps(doc: Path) -> list[Step]:
    """Every ``$ command`` (with its continuation lines) of the unlabelled blocks, and what follows it."""
    steps: list[Step] = []
    for block in PROMPT_BLOCK.finditer(doc.read_text()):
        lines = block.group(1).splitlines()
        if not lines or not lines[0].startswith("$ "):
            continue
        i = 0
        while i < len(lines):
            command = lines[i][2:]
            while command.endswith("\\"):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            i += 1
            shown = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            steps.append(Step(command.split("  #", 1)[0].rstrip(), "\n".join(shown)))
    return steps


def learn(shown: str, got: str, ids: dict[str, str]) -> None:
    """Map the ids the guide shows to the ones this run printed (same keys, same lines)."""
    for theirs, ours in zip(shown.splitlines(), got.splitlines(), strict=False):
        try:
            a, b = json.loads(theirs), json.loads(ours)
        except ValueError:
            a, b = theirs.split(), ours.split()
            if len(a) == 2 and len(b) == 2 and a[0] == b[0]:  # "client_id  rs_…" lines of `init`
                a, b = {a[0]: a[1]}, {b[0]: b[1]}
            else:
                continue
        if isinstance(a, dict) and isinstance(b, dict):
            for key, value in a.items():
                if isinstance(value, str) and ID_LIKE.match(value) and isinstance(b.get(key), str):
                    ids[value] = b[key]


def test_the_admin_quick_start_runs_as_written(folder: Folder) -> None:
    # Each command runs as the guide prints it, in one shell, in order; the ids and secrets the guide
    # shows (from its own run) are replaced by the ones this run printed, wherever a later command uses them.
    shell = subprocess.Popen(
        ["bash"],
        cwd=folder.root,
        env=folder.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    folder.background.append(shell)  # type: ignore[arg-type]
    assert shell.stdin is not None and shell.stdout is not None
    ids: dict[str, str] = {}
    for n, step in enumerate(prompt_steps(REPO / "docs" / "quickstart-admin.md")):
        command = step.command
        for theirs, ours in ids.items():
            command = command.replace(theirs, ours)
        if command.startswith("cat ") and not (folder.root / command[4:].strip()).exists():
            (folder.root / command[4:].strip()).write_text(step.shown + "\n")  # the file the guide shows
        if command.endswith("&"):
            command = f"{command[:-1].rstrip()} > admin-bg{n}.log 2>&1 &"
        marker = f"__step_{n}_done__"
        shell.stdin.write(f"{command}\necho {marker} $?\n")
        shell.stdin.flush()
        output = []
        while not (line := shell.stdout.readline()).startswith(marker):
            assert line, f"the shell ended at: {command}"
            output.append(line)
        status = int(line.split()[1])
        got = "".join(output)
        assert status == 0, f"`{step.command}` failed ({status}):\n{got}"
        assert "Traceback" not in got, got
        if command.rstrip().endswith("echo $?"):  # the guide shows the command's own exit code last
            assert got.strip().splitlines()[-1] == step.shown.strip().splitlines()[-1], got
        if "jq -r .subject" in command or re.fullmatch(r"[A-Z][0-9A-Z.]+", step.shown.strip()):
            assert got.strip() == step.shown.strip(), f"`{step.command}` printed {got!r}"  # issued codes, subjects
        learn(step.shown, got, ids)
        if "server run" in command:
            wait_for(f"http://127.0.0.1:{SERVER_PORT}/health", folder.root / f"admin-bg{n}.log")
    shell.stdin.close()
    shell.wait(30)
