"""The server under load: ``esign server run`` as a child process on 127.0.0.1, killed and restarted at will.

Also a TCP proxy (in this process, on loopback) between the server and PostgreSQL that can cut
every connection and refuse new ones for a while, then let them through again.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
ESIGN = str(Path(sys.executable).parent / "esign")


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(database_url: str, var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """Dev-mode environment for a server on ``port`` with its state under ``var_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")}
    env.update(
        ESIGN_DEV_MODE="1",
        ESIGN_DATABASE_URL=database_url,
        ESIGN_VAR_DIR=str(var_dir),
        ESIGN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ESIGN_HOST="127.0.0.1",
        ESIGN_PORT=str(port),
        ESIGN_LOG_LEVEL="WARNING",
        # Throughput, not the per-relying-system limits (a few relying systems ask a few users very often).
        ESIGN_MAX_PENDING_PER_CLIENT_USER="1000",
        ESIGN_MAX_SESSIONS_PER_CLIENT_USER_PER_HOUR="0",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


class ServerProcess:
    """``esign server run --workers N`` in its own process group; :meth:`kill` is a SIGKILL of the group."""

    def __init__(self, env: dict[str, str], *, workers: int = 1, log_path: Path | None = None) -> None:
        self.env = env
        self.workers = workers
        self.port = int(env["ESIGN_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until ``/ready`` answers 200."""
        log: Any = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [ESIGN, "server", "run", "--workers", str(self.workers), "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own group: a kill reaches every worker
        )
        if log is not subprocess.DEVNULL:
            log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"esign server run exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the server did not become ready")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes (its process group)."""
        if self.proc is None:
            return 0.0
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:  # field 5 of stat: the process group
                total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        return total / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL every process of the server at once (no shutdown code runs)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc = None
        self.kills += 1

    def stop(self) -> None:
        """SIGTERM the group and wait (a clean end)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


class TcpProxy:
    """A loopback TCP proxy to ``target``: :meth:`cut` drops every connection and refuses new ones.

    Threads, not asyncio, so it runs beside an event loop (or none) in the same process.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = int(self.listener.getsockname()[1])
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()  # the database is "down": connection refused at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket cut() closed meanwhile
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass
            with self._lock:
                if (a, b) in self._pairs:
                    self._pairs.remove((a, b))

    def cut(self) -> None:
        """Drop every proxied connection (RST) and refuse new ones until :meth:`restore`."""
        self._open.clear()
        self.cuts += 1
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass

    def restore(self) -> None:
        """Let connections through again."""
        self._open.set()

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._closed = True
        self.cut()
        self.listener.close()


__all__ = ["ESIGN", "ROOT", "ServerProcess", "TcpProxy", "free_port", "server_env"]


NGINX_PROXY_CONF = ROOT / "deploy" / "nginx" / "esign-proxy.conf"


class NginxProxy:
    """nginx (Debian's) in front of server processes, run as this user: its configuration, pid file,
    logs and temporary files in ``directory``, listening on ``port`` of 127.0.0.1. The proxy settings
    are the shipped ones (``deploy/nginx/esign-proxy.conf``)."""

    def __init__(self, directory: Path, port: int, upstream_ports: list[int]) -> None:
        self.directory = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.upstream_ports = upstream_ports
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        """nginx.conf: the production layout's upstream and server, with non-root paths."""
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in self.upstream_ports)
        d = self.directory
        return f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream esign {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        client_header_timeout 20s;
        client_body_timeout 20s;
        client_max_body_size 30m;
        keepalive_timeout 30s;
        location / {{
            proxy_pass http://esign;
            include {NGINX_PROXY_CONF};
        }}
    }}
}}
"""

    def start(self, timeout: float = 20.0) -> None:
        """Write the configuration, start nginx in the foreground (a child of this process), wait for its port."""
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nginx.conf"
        conf.write_text(self.config())
        nginx = "/usr/sbin/nginx"
        check = subprocess.run([nginx, "-t", "-q", "-p", str(self.directory), "-c", str(conf)], capture_output=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses the configuration: {check.stderr.decode(errors='replace')}")
        self.proc = subprocess.Popen(
            [nginx, "-p", str(self.directory), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    def cpu_seconds(self) -> float:
        """CPU time used so far by nginx's processes (its process group)."""
        return _group_cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def stop(self) -> None:
        """Stop nginx (SIGQUIT: finish the requests in flight) and wait."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGQUIT)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


def _group_cpu_seconds(group: int) -> float:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


class ServerGroup:
    """The production layout on one host: ``processes`` separate ``esign server run`` processes (one
    worker each, ports of their own) behind :class:`NginxProxy`; :meth:`kill` SIGKILLs one process
    for good (nginx sends the next requests to the others)."""

    def __init__(self, env: dict[str, str], *, processes: int, directory: Path) -> None:
        self.nginx = NginxProxy(directory / "nginx", int(env["ESIGN_PORT"]), [free_port() for _ in range(processes)])
        self.url = self.nginx.url
        self.servers = [
            ServerProcess({**env, "ESIGN_PORT": str(port)}, log_path=directory / f"server-{port}.log")
            for port in self.nginx.upstream_ports
        ]
        self.kills = 0

    def start(self) -> None:
        """Start every server process, then nginx."""
        for server in self.servers:
            server.start()
        self.nginx.start()

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server processes (nginx's: :meth:`NginxProxy.cpu_seconds`)."""
        return sum(server.cpu_seconds() for server in self.servers)

    def kill(self) -> None:
        """SIGKILL the last server process still running (once only the first is left, nothing)."""
        alive = [server for server in self.servers if server.proc is not None]
        if len(alive) > 1:
            alive[-1].kill()
            self.kills += 1

    def stop(self) -> None:
        """Stop nginx, then every server process still running."""
        self.nginx.stop()
        for server in self.servers:
            server.stop()
