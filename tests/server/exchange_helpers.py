"""Shared pieces of the exchange node tests: the registry, the agencies' relying systems, packages."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from esign_server.context import ServerContext
from esign_server.services import clients, exchange, orgids

from esign.edxml import RegistryEntry, StaticRegistry, build_package, make_status, parse_package, to_bytes
from esign.orgid import OrgIdentifier

SAMPLE_PDF = Path(__file__).resolve().parents[2] / "samples" / "cong-van.pdf"
CODES = {
    "H49.22": "Sở Tư pháp tỉnh Quảng Ninh",
    "H49.01": "UBND xã Bình Dân",
    "H49.02": "UBND xã Đông Ngũ",
    "H49.03": "UBND xã Quảng Tân",
    "H49.05": "UBND xã không dùng trục",
    "H55.01": "UBND xã Hòa Bình",
    "H55.02": "UBND xã chưa nối trục",
}
NAMES = StaticRegistry(RegistryEntry(OrgIdentifier.parse(code), name) for code, name in CODES.items())
"""The same codes as the library's registry, so the packages carry the organizations' names."""


@dataclass
class Agency:
    """A document-management system registered as a relying system with the ``exchange`` scope."""

    client_id: str
    client_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/xml"}


def seed_registry(ctx: ServerContext) -> None:
    """The level-1 codes and the agencies the tests exchange between."""
    orgids.seed_level1(ctx.db, actor="test")
    for code, name in CODES.items():
        orgids.issue_code(ctx, code=code, name=name, actor="test")


def agency(
    ctx: ServerContext, name: str, codes: list[str], *, subtree: bool = False, credential_id: str | None = None
) -> Agency:
    """A relying system bound to ``codes`` (with the exchange scope) and its token."""
    new = clients.create_client(ctx, name=name, scopes=["exchange"], actor="test")
    for code in codes:
        exchange.bind_code(
            ctx, org_code=code, client_id=new.client.id, subtree=subtree, credential_id=credential_id, actor="test"
        )
    token, _ = clients.issue_access_token(
        ctx, client_id=new.client.id, client_secret=new.client_secret, scope="exchange"
    )
    return Agency(new.client.id, new.client_secret, token)


def letter(receivers: list[str], *, number: str = "125", sender: str = "H49.22") -> bytes:
    """An official letter from the department, with the sample PDF attached."""
    package = build_package(
        sender=sender,
        receivers=receivers,
        code_number=number,
        code_notation="STP-VP",
        subject="Về việc triển khai trục liên thông văn bản",
        files=[("cong-van.pdf", SAMPLE_PDF.read_bytes())],
        registry=NAMES,
    )
    return to_bytes(package)


def status_for(document: bytes, sender: str, code: str) -> bytes:
    """A status package from ``sender`` about ``document``."""
    return to_bytes(
        make_status(
            parse_package(document), sender=sender, status=code, description=f"trạng thái {code}", registry=NAMES
        )
    )


def xmlsec1_verify(package: bytes, root_pem: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """xmlsec1's verdict on the envelope signature, trusting ``root_pem``."""
    path = tmp_path / "delivered.edxml"
    path.write_bytes(package)
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(root_pem), "--enabled-reference-uris", "empty", str(path)],
        capture_output=True,
        text=True,
    )
