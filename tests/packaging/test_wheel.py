"""The wheel, installed as a user installs it: in a fresh venv, without the dev extras (issue 21, items 1, 8, 9).

The dev extras pull in packages the library itself needs but might forget to declare (schemathesis
brought ``requests``, which pyHanko 0.38 made optional): only a venv holding nothing but the wheel and
its declared dependencies shows such a gap. The wheel is built from a copy of the checkout's files
(tracked and new, not ignored), with the setuptools of the project's venv; pip resolves the
dependencies from the configured indexes. About 40 s, most of it pip installing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checkout_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and not name.startswith("docs/images/")]


def copy_checkout(target: Path) -> None:
    for name in checkout_files():
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)


class Venv:
    """A fresh virtual environment and helpers to run its commands."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"

    def run(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESIGN_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("checkout")
    copy_checkout(source)
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [found] = dist.glob("esign-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    env = Venv(root)
    installed = env.run("python", "-m", "pip", "install", "-q", str(wheel), cwd=root, env=clean_env())
    assert installed.returncode == 0, installed.stderr
    yield env


def test_the_wheel_holds_what_the_server_needs_at_run_time(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "esign_server/web/mobile_app/index.html",  # the phone app, served at /m/
        "esign_server/web/mobile_app/i18n/vi.json",
        "esign_server/web/mobile_app/icons/icon-192.png",
        "esign/pdf/fonts/DejaVuSans-upm1000.ttf",
        "esign/orgid/data/level1.csv",
    ):
        assert needed in names, needed
    assert any(n.startswith("esign_server/migrations/versions/") for n in names)


def test_without_dev_extras_the_cli_signs_and_verifies_a_pdf_at_b_lt(venv: Venv, tmp_path: Path) -> None:
    env = clean_env()
    missing = venv.run("python", "-c", "import schemathesis", cwd=tmp_path, env=env)
    assert missing.returncode != 0  # really without the dev extras
    port = free_port()
    init = venv.run("esign", "pki", "init", "pki", "--base-url", f"http://127.0.0.1:{port}/pki", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    serve = subprocess.Popen(
        [str(venv.bin / "esign"), "pki", "serve", "pki"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/pki/ca.pem", timeout=2).close()
                break
            except OSError:
                assert serve.poll() is None and time.monotonic() < deadline, "esign pki serve did not answer"
                time.sleep(0.1)
        help_text = venv.run("esign", "pdf", "sign", "--help", cwd=tmp_path, env=env)
        assert help_text.returncode == 0 and "--level" in help_text.stdout
        shutil.copy(REPO / "samples" / "cong-van.pdf", tmp_path / "cong-van.pdf")
        sign = venv.run(
            "esign", "pdf", "sign", "cong-van.pdf", "-o", "signed.pdf", "--key", "pki/person-rsa2048.p12",
            "--password", "esign-dev", "--level", "B-LT", "--tsa", f"http://127.0.0.1:{port}/pki/tsa",
            "--visible", "1:330,80,560,200", cwd=tmp_path, env=env,
        )  # fmt: skip
        assert sign.returncode == 0, sign.stderr
        assert sign.stderr == ""  # no DSA deprecation warning, no traceback
        verify = venv.run("esign", "pdf", "verify", "signed.pdf", "--trust", "pki/root.pem", cwd=tmp_path, env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "TOTAL-PASSED" in verify.stdout and verify.stderr == ""
    finally:
        serve.terminate()
        serve.wait(10)


def test_the_server_extra_serves_the_phone_app_and_local_api_docs_from_the_wheel(
    venv: Venv, wheel: Path, tmp_path: Path
) -> None:
    env = clean_env(XDG_DATA_HOME=str(tmp_path / "data"), ESIGN_DEV_MODE="1")
    absent = venv.run("esign", "server", "init", cwd=tmp_path, env=env)
    assert absent.returncode == 2 and "pip install 'esign[server]'" in absent.stderr
    installed = venv.run("python", "-m", "pip", "install", "-q", f"{wheel}[server]", cwd=tmp_path, env=clean_env())
    assert installed.returncode == 0, installed.stderr
    init = venv.run("esign", "server", "init", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    # Outside a checkout the state goes to $XDG_DATA_HOME/esign, whatever the current folder.
    assert (tmp_path / "data" / "esign" / "esign.db").is_file()
    port = free_port()
    server = subprocess.Popen(
        [str(venv.bin / "esign"), "server", "run", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "esign server run did not answer"
                time.sleep(0.2)
        for path in ("/m/", "/m/app.js", "/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            with urllib.request.urlopen(base + path, timeout=10) as answer:
                assert answer.status == 200, path
        with urllib.request.urlopen(base + "/docs", timeout=10) as answer:
            page = answer.read().decode()
        assert "cdn" not in page.lower() and "/docs/assets/swagger-ui-bundle.js" in page
    finally:
        server.terminate()
        server.wait(20)
