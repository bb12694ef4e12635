"""Two exchange nodes talking over real HTTP (two apps under uvicorn on loopback ports, each with its
own database): a letter from province H49 reaches a commune of H55, its statuses flow back; a
delivery queued while the peer is down is delivered once after a restart of the sender; peers over
mutual TLS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from esign_server.app import create_app
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.models.exchange import ExchangeDelivery, ExchangePackage
from esign_server.services import clients, exchange
from sqlmodel import select

from esign.edxml import parse_package
from tests.conftest import _fresh_postgres_database

from .conftest import enroll_person, make_settings
from .exchange_helpers import Agency, agency, letter, seed_registry, status_for, xmlsec1_verify

WAIT_SECONDS = 60.0


@pytest.fixture
def second_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same kind as ``database_url`` for the second node."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'node-b.db'}"
    else:
        yield from _fresh_postgres_database()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """One node's app under uvicorn on a loopback port, with its lifespan (the outbox dispatcher)."""

    def __init__(self, ctx: ServerContext, port: int, **tls: Any) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.sock = sock
        config = uvicorn.Config(create_app(ctx=ctx), log_level="warning", lifespan="on", **tls)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@dataclass
class Node:
    """An exchange node's context, its base URL, and its server while it runs."""

    ctx: ServerContext
    url: str
    port: int
    served: Served | None = None

    def start(self, **tls: Any) -> None:
        self.served = Served(self.ctx, self.port, **tls)

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()
            self.served = None


def node_context(database_url: str, pki_dir: Path, var_dir: Path, code: str) -> ServerContext:
    migrate(database_url)
    var_dir.mkdir(parents=True, exist_ok=True)
    return ServerContext(
        make_settings(
            database_url,
            pki_dir,
            var_dir,
            exchange_node_code=code,
            exchange_retry_first_seconds=0.2,
            exchange_retry_max_seconds=0.5,
        )
    )


@dataclass
class Federation:
    """Node A (H49, the department) and node B (H55, a commune), each knowing the other as a peer."""

    a: Node
    b: Node
    department: Agency
    commune: Agency
    make_a: Callable[[], ServerContext]
    a_on_b: tuple[str, str]
    """The client id and secret B issued to A."""


@pytest.fixture
def federation(
    database_url: str, second_database_url: str, service_pki_dir: Path, tmp_path: Path
) -> Iterator[Federation]:
    def make_a() -> ServerContext:
        return node_context(database_url, service_pki_dir, tmp_path / "a", "H49")

    port_a, port_b = free_port(), free_port()
    a = Node(make_a(), f"http://127.0.0.1:{port_a}", port_a)
    b = Node(
        node_context(second_database_url, service_pki_dir, tmp_path / "b", "H55"), f"http://127.0.0.1:{port_b}", port_b
    )
    for node in (a, b):
        seed_registry(node.ctx)
    # Each node issues the other a client (scope exchange) bound to the other's province, and routes
    # that province to it with the credentials the other issued.
    issued = {}
    for issuer, province in ((a, "H55"), (b, "H49")):
        new = clients.create_client(issuer.ctx, name=f"Trục {province}", scopes=["exchange"], actor="test")
        exchange.bind_code(issuer.ctx, org_code=province, client_id=new.client.id, subtree=True, actor="test")
        issued[id(issuer)] = (new.client.id, new.client_secret)
    for node, peer, province in ((a, b, "H55"), (b, a, "H49")):
        client_id, secret = issued[id(peer)]
        exchange.set_route(
            node.ctx, prefix=province, url=peer.url, client_id=client_id, client_secret=secret, actor="test"
        )
    person = enroll_person(a.ctx, key_algorithm="rsa2048", name="Văn thư Sở Tư pháp")
    department = agency(a.ctx, "QLVB Sở Tư pháp", ["H49.22"], credential_id=person.credential_id)
    commune = agency(b.ctx, "QLVB xã Hòa Bình", ["H55.01"])
    fed = Federation(a, b, department, commune, make_a, issued[id(b)])
    try:
        yield fed
    finally:
        fed.a.stop()
        fed.b.stop()
        fed.a.ctx.close()
        fed.b.ctx.close()


def wait_for(check: Callable[[], object], what: str) -> object:
    """Poll ``check`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def deliveries(ctx: ServerContext) -> list[ExchangeDelivery]:
    with ctx.db.read() as session:
        return list(session.exec(select(ExchangeDelivery)).all())


def test_a_letter_crosses_to_the_peer_node_and_statuses_01_03_06_come_back(
    federation: Federation, service_pki_dir: Path, tmp_path: Path
) -> None:
    fed = federation
    fed.a.start()
    fed.b.start()
    document = letter(["H55.01"])
    with httpx.Client(base_url=fed.a.url, timeout=30) as on_a, httpx.Client(base_url=fed.b.url, timeout=30) as on_b:
        sent = on_a.post("/api/exchange/packages?sign=true", content=document, headers=fed.department.headers)
        assert sent.status_code == 201, sent.text
        assert [(d["recipient"], d["route"]) for d in sent.json()["deliveries"]] == [("H55.01", "H55")]
        package_a = sent.json()["package_id"]

        inbox = wait_for(lambda: on_b.get("/api/exchange/inbox", headers=fed.commune.headers).json(), "B's inbox")
        assert isinstance(inbox, list) and [(e["recipient"], e["sender"]) for e in inbox] == [("H55.01", "H49.22")]
        # Each node verified the envelope A signed (both trust the same service CA here).
        assert sent.json()["envelope"]["check"] == inbox[0]["envelope"]["check"] == "passed"
        package_b = inbox[0]["package_id"]
        delivered = on_b.get(f"/api/exchange/packages/{package_b}", headers=fed.commune.headers).content
        # A signed the envelope after its hop; B keeps the signed package byte for byte (its hop is in
        # its history), so xmlsec1 verifies the signature at the commune.
        assert [t.organ_id for t in parse_package(delivered).traces] == ["H49.22", "H49"]
        checked = xmlsec1_verify(delivered, service_pki_dir / "root.pem", tmp_path)
        assert checked.returncode == 0, checked.stderr
        hops_b = on_b.get(f"/api/exchange/packages/{package_b}/history", headers=fed.commune.headers).json()
        assert [e["organ_id"] for e in hops_b["events"] if e["event"] == "hop"] == ["H55"]

        for code in ("01", "03", "06"):
            status = on_b.post(
                "/api/exchange/packages", content=status_for(document, "H55.01", code), headers=fed.commune.headers
            )
            assert status.status_code == 201, status.text
            assert [(d["recipient"], d["route"]) for d in status.json()["deliveries"]] == [("H49.22", "H49")]

        def statuses_on_a() -> list[str] | None:
            history = on_a.get(f"/api/exchange/packages/{package_a}/history", headers=fed.department.headers).json()
            codes = [s["code"] for s in history["statuses"]]
            return codes if len(codes) == 3 else None

        assert wait_for(statuses_on_a, "the statuses on A") == ["01", "03", "06"]
        history = on_a.get(f"/api/exchange/packages/{package_a}/history", headers=fed.department.headers).json()
        assert [(d["recipient"], d["state"], d["last_status"]) for d in history["deliveries"]] == [
            ("H55.01", "sent", "06")
        ]
        assert [h["organ_id"] for h in history["hops"]] == ["H49.22", "H49"]
        waiting = on_a.get("/api/exchange/inbox", headers=fed.department.headers).json()
        assert sorted(e["status_code"] for e in waiting) == ["01", "03", "06"]
    # Every delivery went exactly once: one on A to B, one inbox entry on B, three statuses each way.
    assert sorted((d.kind, d.route, d.state) for d in deliveries(fed.a.ctx)) == [
        ("document", "H55", "sent"),
        *[("status", "local", "inbox")] * 3,
    ]
    assert sorted((d.kind, d.route, d.state) for d in deliveries(fed.b.ctx)) == [
        ("document", "local", "fetched"),
        *[("status", "H49", "sent")] * 3,
    ]


def test_a_delivery_queued_while_the_peer_is_down_arrives_once_after_a_restart(federation: Federation) -> None:
    fed = federation
    fed.a.start()  # B is not running: its port refuses connections
    document = letter(["H55.01"])
    with httpx.Client(base_url=fed.a.url, timeout=30) as on_a:
        sent = on_a.post("/api/exchange/packages", content=document, headers=fed.department.headers)
        assert sent.status_code == 201, sent.text

    def failed_twice() -> bool:
        rows = deliveries(fed.a.ctx)
        return len(rows) == 1 and rows[0].state == "pending" and rows[0].attempts >= 2

    wait_for(failed_twice, "two failed attempts while B is down")
    assert "ConnectError" in (deliveries(fed.a.ctx)[0].last_error or "")
    # A stops (its process would lose anything held in memory) and comes back on the same database.
    fed.a.stop()
    fed.a.ctx.close()
    fed.a = Node(fed.make_a(), fed.a.url, fed.a.port)
    fed.b.start()
    fed.a.start()

    def sent_once() -> bool:
        rows = deliveries(fed.a.ctx)
        return rows[0].state == "sent"

    wait_for(sent_once, "the delivery after B came back")
    with httpx.Client(base_url=fed.b.url, timeout=30) as on_b:
        inbox = on_b.get("/api/exchange/inbox", headers=fed.commune.headers).json()
        assert [(e["recipient"], e["sender"]) for e in inbox] == [("H55.01", "H49.22")]
        # The answer to a delivery can be lost after B took it: A sends again, B keeps one copy.
        client_id, secret = fed.a_on_b
        token, _ = clients.issue_access_token(fed.b.ctx, client_id=client_id, client_secret=secret, scope="exchange")
        with fed.a.ctx.db.read() as session:
            body = bytes(session.exec(select(ExchangePackage.body)).one())
        again = on_b.post(
            "/api/exchange/packages",
            params={"recipients": "H55.01"},
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
        )
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert len(on_b.get("/api/exchange/inbox", headers=fed.commune.headers).json()) == 1
    assert [d.state for d in deliveries(fed.b.ctx)] == ["inbox"]


@dataclass
class TlsFiles:
    """A CA, the peer's server certificate (127.0.0.1) and node A's client certificate, as PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def issue(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
        extensions: list[tuple[x509.ExtensionType, bool]],
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer[0] if issuer else name(subject))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256())

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path

    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("Exchange peers test CA", ca_key, None, [(x509.BasicConstraints(ca=True, path_length=0), True)])
    ca_path, _ = write("ca", ca, ca_key)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = issue(
        "truc.h55.test",
        server_key,
        (ca.subject, ca_key),
        [
            (x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    client = issue(
        "truc.h49.test",
        client_key,
        (ca.subject, ca_key),
        [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)],
    )
    server_cert, server_key_path = write("server", server, server_key)
    client_cert, client_key_path = write("client", client, client_key)
    return TlsFiles(ca_path, server_cert, server_key_path, client_cert, client_key_path)


def test_peers_over_mutual_tls_deliver_only_with_the_client_certificate(federation: Federation, tmp_path: Path) -> None:
    import ssl

    fed = federation
    tls = make_tls_files(tmp_path / "tls")
    # B accepts only connections that present a certificate from the peers' CA.
    fed.b.start(
        ssl_certfile=str(tls.server_cert),
        ssl_keyfile=str(tls.server_key),
        ssl_ca_certs=str(tls.ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    client_id, secret = fed.a_on_b
    exchange.set_route(
        fed.a.ctx,
        prefix="H55",
        url=f"https://127.0.0.1:{fed.b.port}",
        client_id=client_id,
        client_secret=secret,
        actor="test",
    )
    fed.a.ctx.settings.exchange_tls_ca_file = tls.ca  # A checks B's certificate, but presents none yet
    fed.a.start()
    with httpx.Client(base_url=fed.a.url, timeout=30) as on_a:
        sent = on_a.post("/api/exchange/packages", content=letter(["H55.01"]), headers=fed.department.headers)
        assert sent.status_code == 201, sent.text

    def refused_by_b() -> bool:
        rows = deliveries(fed.a.ctx)
        return rows[0].state == "pending" and rows[0].attempts >= 1

    wait_for(refused_by_b, "an attempt without a client certificate")
    assert deliveries(fed.b.ctx) == []
    # With its client certificate, A's next attempt goes through: the package arrives once.
    fed.a.ctx.settings.exchange_tls_cert, fed.a.ctx.settings.exchange_tls_key = tls.client_cert, tls.client_key
    wait_for(lambda: deliveries(fed.a.ctx)[0].state == "sent", "the delivery over mutual TLS")
    assert [(d.recipient, d.state) for d in deliveries(fed.b.ctx)] == [("H55.01", "inbox")]


def test_a_package_the_peer_refuses_is_given_up_and_the_history_says_why(federation: Federation) -> None:
    fed = federation
    fed.a.start()
    fed.b.start()
    with httpx.Client(base_url=fed.a.url, timeout=30) as on_a:
        # H55.02 is in the registry, but no system on node B serves it: B refuses, A does not retry.
        sent = on_a.post("/api/exchange/packages", content=letter(["H55.02"]), headers=fed.department.headers)
        assert sent.status_code == 201, sent.text
        wait_for(lambda: deliveries(fed.a.ctx)[0].state == "failed", "the refusal to come back")
        history = on_a.get(
            f"/api/exchange/packages/{sent.json()['package_id']}/history", headers=fed.department.headers
        ).json()
    assert [(d["recipient"], d["state"], d["attempts"]) for d in history["deliveries"]] == [("H55.02", "failed", 1)]
    failed = [e for e in history["events"] if e["event"] == "failed"]
    assert len(failed) == 1 and "HTTP 422" in failed[0]["error"] and "H55.02" in failed[0]["error"]
    assert deliveries(fed.b.ctx) == []
