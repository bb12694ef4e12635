"""The registry's rules, called directly: issue, allocate, amend, close, never reissue, history, search."""

from __future__ import annotations

import pytest
from esign_server.context import ServerContext
from esign_server.services import audit, orgids
from esign_server.services.errors import Conflict, NotFound, ServiceError

from esign.orgid import load_level1


def test_seeding_adds_every_shipped_level1_code_once(ctx: ServerContext) -> None:
    shipped = load_level1()
    assert orgids.seed_level1(ctx.db, actor="test") == len(shipped)
    assert orgids.seed_level1(ctx.db, actor="test") == 0
    h30 = orgids.get_code(ctx, "H30")
    assert h30.status == "closed"
    assert orgids.get_code(ctx, "000.00.00.H49").name == "UBND tỉnh Quảng Ninh"
    assert [e.action for e in orgids.history(ctx, "H49")] == ["seeded"]


def test_children_are_allocated_in_order_with_qcvn_widths(registry: ServerContext) -> None:
    first = orgids.issue_code(registry, parent="H49", name="Sở Nội vụ", actor="admin:t")
    second = orgids.issue_code(registry, parent="H49", name="Sở Tài chính", actor="admin:t")
    assert (first.code, second.code) == ("H49.01", "H49.02")
    grandchild = orgids.issue_code(registry, parent="H49.01", name="Phòng Tổ chức", actor="admin:t")
    assert grandchild.code == "H49.01.01"
    level4 = orgids.issue_code(registry, parent="H49.01.01", name="Tổ 1", actor="admin:t")
    assert level4.code == "H49.01.01.001"
    assert level4.level == 4 and level4.parent_code == "H49.01.01"


def test_explicit_group_moves_the_allocator_past_it(registry: ServerContext) -> None:
    orgids.issue_code(registry, parent="H49", group="22", name="Sở Tư pháp", actor="admin:t")
    nxt = orgids.issue_code(registry, parent="H49", name="Sở Y tế", actor="admin:t")
    assert nxt.code == "H49.23"


def test_a_full_code_can_be_issued_and_a_new_level1_code_too(registry: ServerContext) -> None:
    assert orgids.issue_code(registry, code="000.00.18.G12", name="Cục Thuế", actor="admin:t").code == "G12.18"
    new = orgids.issue_code(registry, code="K57", name="HĐND tỉnh Khánh Hòa", actor="admin:t")
    assert new.level == 1 and new.parent_code is None


def test_a_code_is_never_given_to_another_organization(registry: ServerContext) -> None:
    orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp", actor="admin:t")
    with pytest.raises(Conflict) as caught:
        orgids.issue_code(registry, parent="H49", group="22", name="Sở khác", actor="admin:t")
    assert caught.value.code == "code_taken"
    orgids.close_code(registry, code="H49.22", reason="giải thể", actor="admin:t")
    with pytest.raises(Conflict, match="never"):
        orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp mới", actor="admin:t")
    # The allocator skips it too: closed numbers are never handed out again.
    assert orgids.issue_code(registry, parent="H49", name="Sở mới", actor="admin:t").code == "H49.23"


def test_a_closed_level1_code_is_not_reissued(registry: ServerContext) -> None:
    with pytest.raises(Conflict, match="closed"):
        orgids.issue_code(registry, code="H30", name="Tỉnh mới", actor="admin:t")


def test_issuing_under_a_missing_or_closed_parent_is_refused(registry: ServerContext) -> None:
    with pytest.raises(NotFound) as missing:
        orgids.issue_code(registry, parent="H56", name="X", actor="admin:t")
    assert missing.value.code == "parent_not_found"
    with pytest.raises(Conflict) as closed:
        orgids.issue_code(registry, parent="H30", name="Sở", actor="admin:t")
    assert closed.value.code == "parent_closed"
    with pytest.raises(NotFound):
        orgids.issue_code(registry, code="H49.22.01", name="Phòng", actor="admin:t")


def test_malformed_input_names_the_rule(registry: ServerContext) -> None:
    with pytest.raises(ServiceError) as caught:
        orgids.issue_code(registry, code="h49.22", name="Sở", actor="admin:t")
    assert caught.value.code == "invalid_orgid"
    assert caught.value.extra["rule"] == "charset" and caught.value.extra["position"] == 1
    with pytest.raises(ServiceError, match="all zeros"):
        orgids.issue_code(registry, parent="H49", group="00", name="Sở", actor="admin:t")
    with pytest.raises(ServiceError, match="either code or parent"):
        orgids.issue_code(registry, name="Sở", actor="admin:t")
    with pytest.raises(ServiceError, match="name"):
        orgids.issue_code(registry, parent="H49", name="   ", actor="admin:t")


def test_amendments_keep_the_old_values_in_history(registry: ServerContext) -> None:
    orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp", address="Hạ Long", actor="admin:a")
    row = orgids.amend_code(
        registry,
        code="H49.22",
        name="Sở Tư pháp tỉnh Quảng Ninh",
        details={"email": "stp@quangninh.gov.vn"},
        actor="admin:b",
    )
    assert row.version == 2 and row.name_folded == "so tu phap tinh quang ninh"
    unchanged = orgids.amend_code(registry, code="H49.22", address="Hạ Long", actor="admin:b")
    assert unchanged.version == 2
    events = orgids.history(registry, "H49.22")
    assert [(e.version, e.action, e.actor) for e in events] == [(1, "issued", "admin:a"), (2, "amended", "admin:b")]
    assert events[1].changes == {
        "name": ["Sở Tư pháp", "Sở Tư pháp tỉnh Quảng Ninh"],
        "details": [{}, {"email": "stp@quangninh.gov.vn"}],
    }


def test_closing_records_reason_and_successor_and_freezes_the_code(registry: ServerContext) -> None:
    orgids.issue_code(registry, code="K57", name="HĐND tỉnh A", actor="admin:t")
    orgids.issue_code(registry, code="K58", name="HĐND tỉnh B", actor="admin:t")
    closed = orgids.close_code(registry, code="K58", reason="sáp nhập", successor="K57", actor="admin:t")
    assert (closed.status, closed.successor_code, closed.closed_reason) == ("closed", "K57", "sáp nhập")
    assert closed.closed_at is not None
    with pytest.raises(Conflict, match="already closed"):
        orgids.close_code(registry, code="K58", reason="again", actor="admin:t")
    with pytest.raises(Conflict, match="closed"):
        orgids.amend_code(registry, code="K58", name="HĐND mới", actor="admin:t")
    assert orgids.history(registry, "K58")[-1].changes["successor"] == [None, "K57"]


def test_closing_checks_successor_and_children(registry: ServerContext) -> None:
    orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp", actor="admin:t")
    with pytest.raises(Conflict) as children:
        orgids.close_code(registry, code="H49", reason="sáp nhập", actor="admin:t")
    assert children.value.code == "has_active_children"
    with pytest.raises(Conflict, match="not an active code"):
        orgids.close_code(registry, code="H49.22", reason="sáp nhập", successor="H30", actor="admin:t")
    with pytest.raises(ServiceError, match="own successor"):
        orgids.close_code(registry, code="H49.22", reason="x", successor="H49.22", actor="admin:t")
    with pytest.raises(ServiceError, match="below"):
        orgids.close_code(registry, code="H49", reason="x", successor="H49.22", actor="admin:t")
    with pytest.raises(ServiceError, match="why"):
        orgids.close_code(registry, code="H49.22", reason="  ", actor="admin:t")


def test_changes_land_in_the_audit_log(registry: ServerContext) -> None:
    orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp", actor="admin:t")
    orgids.amend_code(registry, code="H49.22", address="Hạ Long", actor="admin:t")
    orgids.close_code(registry, code="H49.22", reason="giải thể", actor="admin:t")
    from esign_server.models import AuditEvent
    from sqlmodel import col, select

    with registry.db.read() as session:
        actions = [
            (e.action, e.target)
            for e in session.exec(select(AuditEvent).where(col(AuditEvent.action).like("orgid.%"))).all()
        ]
    assert actions[-3:] == [
        ("orgid.issued", "orgid:H49.22"),
        ("orgid.amended", "orgid:H49.22"),
        ("orgid.closed", "orgid:H49.22"),
    ]
    assert audit.verify_chain(registry.db).ok


def test_history_rows_cannot_be_rewritten_nor_codes_deleted(registry: ServerContext) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError), registry.db.write() as session:
        session.execute(text("UPDATE org_code_events SET actor = 'x'"))
    with pytest.raises(DBAPIError), registry.db.write() as session:
        session.execute(text("DELETE FROM org_codes WHERE code = 'H30'"))
    assert orgids.get_code(registry, "H30").status == "closed"


def test_search_by_name_with_or_without_diacritics_prefix_level_status(registry: ServerContext) -> None:
    orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp tỉnh Quảng Ninh", actor="admin:t")
    orgids.issue_code(registry, code="H55.242", name="Sở Tư pháp tỉnh Thái Nguyên", actor="admin:t")
    for query in ("quang ninh", "Quảng Ninh", "QUANG", "ninh quảng"):
        assert {r.code for r in orgids.search(registry, name=query).items} == {"H49", "H49.22"}, query
    assert [r.code for r in orgids.search(registry, name="tu phap", level=2).items] == ["H49.22", "H55.242"]
    assert [r.code for r in orgids.search(registry, prefix="h49.").items] == ["H49.22"]
    assert [r.code for r in orgids.search(registry, prefix="000.00.22.H49").items] == ["H49.22"]
    page = orgids.search(registry, status="closed")
    assert [r.code for r in page.items] == ["H30"] and page.total == 1
    page = orgids.search(registry, level=1, limit=2, offset=1)
    assert len(page.items) == 2 and page.total == len(load_level1())
    assert orgids.search(registry, name="100%_").total == 0
    with pytest.raises(ServiceError):
        orgids.search(registry, prefix="H49%")


def test_children_are_listed_in_natural_order(registry: ServerContext) -> None:
    for group in ("242", "9", "10"):
        orgids.issue_code(registry, parent="H55", group=group, name=f"Đơn vị {group}", actor="admin:t")
    orgids.close_code(registry, code="H55.10", reason="giải thể", actor="admin:t")
    assert [r.code for r in orgids.children(registry, "H55")] == ["H55.9", "H55.10", "H55.242"]
    assert [r.code for r in orgids.children(registry, "H55", status="active")] == ["H55.9", "H55.242"]


def test_registry_status_annotates_a_verification_report(registry: ServerContext) -> None:
    report = {"signer": {"identity": {"agency_code": "H30", "name": "UBND"}}}
    orgids.annotate_report(registry.db, report)
    assert report["signer"]["identity"]["agency_registry"] == {
        "code": "H30",
        "known": True,
        "status": "closed",
        "active": False,
        "name": "UBND tỉnh Hậu Giang",
        "successor": None,
    }
    assert orgids.registry_status(registry.db, "H49").active
    assert not orgids.registry_status(registry.db, "H49.99").known
    assert not orgids.registry_status(registry.db, "not a code").known
    assert orgids.annotate_report(registry.db, {"signer": None}) == {"signer": None}
