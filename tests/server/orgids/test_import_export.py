"""Import is all or nothing and names every bad row by line; export reads back in."""

from __future__ import annotations

import json

import httpx
import pytest
from esign_server.context import ServerContext
from esign_server.services import orgids

from ..conftest import Integrator

GOOD_CSV = """code,name,address,status,closed_reason,successor,details
H49.22.01,Phòng Hành chính tư pháp,,active,,,
H49.22,Sở Tư pháp,"Hạ Long, Quảng Ninh",active,,,"{""email"": ""stp@quangninh.gov.vn""}"
000.00.30.H49,Sở cũ,,closed,sáp nhập,H49.22,
H49.31,Sở đã giải thể,,closed,,,
"""


def test_csv_import_accepts_children_before_parents_and_the_qcvn_form(registry: ServerContext) -> None:
    result = orgids.import_text(registry, GOOD_CSV, fmt="csv", actor="admin:t")
    assert (result.created, result.unchanged) == (4, 0)
    sp = orgids.get_code(registry, "H49.22")
    assert sp.address == "Hạ Long, Quảng Ninh" and sp.details == {"email": "stp@quangninh.gov.vn"}
    old = orgids.get_code(registry, "H49.30")
    assert (old.status, old.successor_code, old.closed_reason) == ("closed", "H49.22", "sáp nhập")
    assert orgids.history(registry, "H49.22.01")[0].action == "imported"
    # The allocator continues after the imported numbers, closed ones included.
    assert orgids.issue_code(registry, parent="H49", name="Sở mới", actor="admin:t").code == "H49.32"
    assert orgids.issue_code(registry, parent="H49.22", name="Phòng mới", actor="admin:t").code == "H49.22.02"


def test_a_bad_import_changes_nothing_and_names_every_bad_row(registry: ServerContext) -> None:
    text = """code,name,status,successor
H49.22,Sở Tư pháp,active,
h49.23,lower case,active,
H49.24,,active,
H49.25,Sở,open,
H49.22,Sở trùng,active,
H56.01,Không có cha,active,
H30.01,Dưới mã đã đóng,active,
H49.26,Sở,active,H49.22
H49.27,"Thiếu cột"
H49,Tên khác,active,
H49.28,Sở,closed,H99
"""
    with pytest.raises(orgids.ImportRejected) as caught:
        orgids.import_text(registry, text, fmt="csv", actor="admin:t")
    problems = {p.line: p.reason for p in caught.value.problems}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert "charset" in problems[3]
    assert "name" in problems[4]
    assert "open" in problems[5]
    assert "also on line 2" in problems[6]
    assert "H56 is neither in the registry nor in this file" in problems[7]
    assert "parent H30 is closed" in problems[8]
    assert "closed codes only" in problems[9]
    assert "fewer fields" in problems[10]
    assert "already issued" in problems[11]
    assert "successor H99" in problems[12]
    assert orgids.search(registry, prefix="H49.").total == 0


def test_an_unknown_header_is_reported_on_line_1(registry: ServerContext) -> None:
    with pytest.raises(orgids.ImportRejected) as caught:
        orgids.import_text(registry, "code,ten\nH49.1,X\n", fmt="csv", actor="admin:t")
    assert caught.value.problems[0].line == 1 and "unknown: ten" in caught.value.problems[0].reason


def test_json_import_reports_the_line_each_object_starts_on(registry: ServerContext) -> None:
    text = (
        '[\n  {"code": "H49.22", "name": "Sở Tư pháp"},\n  {"code": "H49.23",\n   "name": ""},\n  5,\n'
        '  {"code": "H49.24", "name": "X", "colour": "red"}\n]'
    )
    with pytest.raises(orgids.ImportRejected) as caught:
        orgids.import_text(registry, text, fmt="json", actor="admin:t")
    assert [(p.line, p.code) for p in caught.value.problems] == [(3, "H49.23"), (5, None), (6, "H49.24")]
    broken = orgids.read_json('[\n{"code": "H49.1", "name": "X"},\n{"code": }\n]')
    assert broken[1][0].line == 3 and "not valid JSON" in broken[1][0].reason


def test_export_then_import_into_a_fresh_registry_round_trips(registry: ServerContext, tmp_path) -> None:  # type: ignore[no-untyped-def]
    orgids.import_text(registry, GOOD_CSV, fmt="csv", actor="admin:t")
    csv_text = orgids.export_csv(registry)
    json_text = orgids.export_json(registry)
    assert csv_text.splitlines()[0] == ",".join(orgids.COLUMNS)
    assert len(json.loads(json_text)) == len(csv_text.splitlines()) - 1
    # Re-importing what the registry already says is accepted as "unchanged".
    again = orgids.import_text(registry, json_text, fmt="json", actor="admin:t")
    assert again.created == 0 and again.unchanged == len(json.loads(json_text))
    again_csv = orgids.import_text(registry, csv_text, fmt="csv", actor="admin:t")
    assert again_csv.created == 0


async def test_import_and_export_over_http(http: httpx.AsyncClient, registry: ServerContext, admin: Integrator) -> None:
    bad = await http.post(
        "/api/orgids/import",
        content="code,name\nH49.1,Sở\nH49.2,\nH99.1,X\n",
        headers={**admin.headers, "content-type": "text/csv"},
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["error"] == "import_rejected" and "nothing was imported" in body["message"]
    assert [(e["line"], e["code"]) for e in body["errors"]] == [(3, "H49.2"), (4, "H99.1")]

    good = await http.post("/api/orgids/import?format=csv", content=GOOD_CSV.encode(), headers=admin.headers)
    assert good.status_code == 200 and good.json() == {"created": 4, "unchanged": 0}

    exported = await http.get("/api/orgids/export", params={"format": "json"})
    assert exported.headers["content-type"].startswith("application/json")
    codes = [r["code"] for r in exported.json()]
    assert "H49.22.01" in codes and "H30" in codes
    as_csv = await http.get("/api/orgids/export")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.startswith("code,name,")
    empty = await http.post("/api/orgids/import", json=[], headers=admin.headers)
    assert empty.status_code == 400 and empty.json()["error"] == "empty_import"


async def test_hostile_files_are_refused_with_a_reason_never_a_500(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    cases = [
        ("csv", "code,name\nH49.1,Sở\x00\n", "control character"),
        ("csv", "code,name,address\nH49.1,Sở,\x7f\n", "control character"),
        ("csv", "code,name\nH49.1," + "x" * 200_000 + "\n", "not valid CSV"),
        ("csv", "", "no rows"),
        ("json", "[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ("json", '{"code": "H49.1"}', "array of objects"),
        ("json", '[{"code": 491, "name": "X"}]', "code is missing"),
        ("json", '[{"code": "H49.1", "name": "X", "details": [1]}]', "details must be a JSON object"),
        ("json", '[{"code": "H49.1", "name": "X"}] trailing', "closing"),
    ]
    for fmt, text, reason in cases:
        response = await http.post(f"/api/orgids/import?format={fmt}", content=text.encode(), headers=admin.headers)
        assert response.status_code == 400, (fmt, text[:40], response.text[:200])
        body = response.json()
        assert reason in body["message"] + json.dumps(body.get("errors", [])), (reason, body)


def test_imported_rows_read_back_like_issued_ones(registry: ServerContext) -> None:
    from datetime import UTC, datetime, timedelta

    orgids.import_text(registry, GOOD_CSV, fmt="csv", actor="admin:t")
    issued = orgids.issue_code(registry, parent="H49", name="Sở mới", actor="admin:t")
    imported = orgids.get_code(registry, "H49.22")
    now = datetime.now(UTC)
    for row in (imported, orgids.get_code(registry, issued.code)):
        assert row.created_at.tzinfo is not None and abs(now - row.created_at) < timedelta(minutes=1)
    closed = orgids.get_code(registry, "H49.30")
    assert closed.closed_at is not None and abs(now - closed.closed_at) < timedelta(minutes=1)
    event = orgids.history(registry, "H49.22")[0]
    assert abs(now - event.at) < timedelta(minutes=1)
    assert event.changes["details"] == [None, {"email": "stp@quangninh.gov.vn"}]
    # The database holds the same text for both kinds of row (SQLite compares timestamps as text).
    page = orgids.search(registry, prefix="H49.")
    assert sorted(r.created_at for r in page.items)[-1] == orgids.get_code(registry, issued.code).created_at
