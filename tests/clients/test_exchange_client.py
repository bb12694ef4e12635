"""The SDK's ExchangeClient against the real exchange node over HTTP: send, receive_all, history, refusals."""

from __future__ import annotations

import httpx
import pytest
from esign_client import ApiError, ExchangeClient, InboxItem
from esign_server.context import ServerContext

from esign.edxml import parse_package
from esign.edxml.attachments import unpack
from tests.server.exchange_helpers import SAMPLE_PDF, Agency, agency, letter


@pytest.fixture
def department(node: ServerContext) -> Agency:
    """The department's document system, bound to H49.22."""
    return agency(node, "QLVB Sở Tư pháp", ["H49.22"])


@pytest.fixture
def commune(node: ServerContext) -> Agency:
    """A commune's document system, bound to H49.01."""
    return agency(node, "QLVB xã Bình Dân", ["H49.01"])


def client(url: str, system: Agency) -> ExchangeClient:
    """The SDK with the system's client credentials (it fetches its own ``exchange`` token)."""
    return ExchangeClient(url, client_id=system.client_id, client_secret=system.client_secret)


def test_a_letter_is_received_acked_and_the_sender_sees_the_ack(
    server_url: str, department: Agency, commune: Agency
) -> None:
    document = letter(["H49.01"])
    with client(server_url, department) as sender, client(server_url, commune) as receiver:
        sent = sender.send(document)
        assert (sent.kind, sent.sender, sent.duplicate, sent.signed_by_node) == ("document", "H49.22", False, False)
        assert [(d.recipient, d.route, d.state) for d in sent.deliveries] == [("H49.01", "local", "inbox")]
        assert sent.envelope is not None and sent.envelope.check == "unsigned"  # the letter has no envelope signature

        [waiting] = receiver.inbox()
        assert (waiting.package_id, waiting.recipient, waiting.sender, waiting.kind) == (
            sent.package_id,
            "H49.01",
            "H49.22",
            "document",
        )
        assert waiting.envelope == sent.envelope
        got: list[tuple[InboxItem, bytes]] = []
        received = receiver.receive_all(lambda item, package: got.append((item, package)))
        assert [item.package_id for item in received.acked] == [sent.package_id] and received.failed == ()
        [(item, package)] = got
        assert item.delivery_id == waiting.delivery_id
        # The handler had the package exactly as the node serves it (the sender's letter plus the node's hop).
        served = httpx.get(f"{server_url}/api/exchange/packages/{sent.package_id}", headers=commune.headers)
        assert served.status_code == 200 and package == served.content
        parsed = parse_package(package)
        assert [t.organ_id for t in parsed.traces] == ["H49.22", "H49"]
        [attachment] = parsed.attachments
        assert attachment.encoded is not None
        assert unpack(attachment.encoded, attachment.name) == SAMPLE_PDF.read_bytes()

        assert receiver.inbox() == []
        assert [i.state for i in receiver.inbox(include_acked=True)] == ["acked"]
        history = sender.history(sent.package_id)
        assert [(d.recipient, d.state) for d in history.deliveries] == [("H49.01", "acked")]
        assert {"received", "delivered", "fetched", "acked"} <= {e["event"] for e in history.events}
        assert [h["organ_id"] for h in history.hops] == ["H49.22", "H49"]
        assert history.envelope == sent.envelope


def test_a_failing_handler_leaves_the_package_in_the_inbox(
    server_url: str, department: Agency, commune: Agency
) -> None:
    with client(server_url, department) as sender, client(server_url, commune) as receiver:
        sent = sender.send(letter(["H49.01"]))

        def broken(item: InboxItem, package: bytes) -> None:
            raise OSError("disk full")

        received = receiver.receive_all(broken)
        assert received.acked == ()
        [(item, error)] = received.failed
        assert item.package_id == sent.package_id and isinstance(error, OSError)
        assert [(i.package_id, i.state) for i in receiver.inbox()] == [(sent.package_id, "fetched")]
        # The next round handles it.
        assert len(receiver.receive_all(lambda item, package: None).acked) == 1
        assert receiver.inbox() == []


def test_a_refused_package_raises_the_servers_error_code(server_url: str, department: Agency) -> None:
    with client(server_url, department) as sender:
        with pytest.raises(ApiError) as refused:
            sender.send(letter(["H49.05"]))  # a registered code no system here serves, and no peer route
        assert (refused.value.status, refused.value.code) == (422, "recipient_unknown")
        assert refused.value.body["problems"] == ["H49.05: not registered on this node and no peer route"]
        with pytest.raises(ApiError) as missing:
            sender.history("no-such-package")
        assert missing.value.status == 404


def test_a_package_sent_twice_is_a_duplicate(server_url: str, department: Agency, commune: Agency) -> None:
    document = letter(["H49.01"])
    with client(server_url, department) as sender, client(server_url, commune) as receiver:
        first = sender.send(document)
        again = sender.send(document)
        assert (first.duplicate, again.duplicate) == (False, True)
        assert again.package_id == first.package_id
        assert len(receiver.inbox()) == 1
