"""Changing the phone's PIN with the old one (``POST /api/mobile/pin/change``): the new PIN unlocks and
the old one no longer does; a wrong old PIN counts towards the same lock as at unlock; every step is
audited. Real HTTP through the app, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
from esign_server.context import ServerContext
from esign_server.models import AuditEvent, DevicePin
from sqlmodel import col, select

from .conftest import Person


def device_headers(person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.device_token}"}


def audited(ctx: ServerContext, device_id: str) -> list[str]:
    """The PIN and unlock actions audited for the device, in order."""
    with ctx.db.read() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    return [
        e.action
        for e in events
        if e.target == f"device:{device_id}" and (e.action.startswith("device.pin") or e.action == "device.unlocked")
    ]


async def set_pin(http: httpx.AsyncClient, person: Person, pin: str) -> None:
    answer = await http.post("/api/mobile/pin", headers=device_headers(person), json={"pin": pin})
    assert answer.status_code == 204, answer.text


async def change(http: httpx.AsyncClient, person: Person, old: str, new: str) -> httpx.Response:
    return await http.post(
        "/api/mobile/pin/change", headers=device_headers(person), json={"old_pin": old, "new_pin": new}
    )


async def unlock(http: httpx.AsyncClient, person: Person, pin: str) -> httpx.Response:
    return await http.post("/api/mobile/unlock", headers=device_headers(person), json={"pin": pin})


async def test_the_new_pin_unlocks_and_the_old_one_no_longer_does(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    await set_pin(http, person, "2468")
    with ctx.db.read() as session:
        before = session.get(DevicePin, person.device_id)
    assert before is not None

    changed = await change(http, person, "2468", "975310")
    assert changed.status_code == 204 and changed.content == b""
    with ctx.db.read() as session:
        after = session.get(DevicePin, person.device_id)
    # The same row, a new argon2id hash that does not hold the PIN as typed.
    assert after is not None and after.pin_hash != before.pin_hash
    assert after.pin_hash.startswith("$argon2id$") and "975310" not in after.pin_hash

    old = await unlock(http, person, "2468")
    assert old.status_code == 400 and old.json()["error"] == "invalid_pin" and old.json()["attempts_left"] == 4
    new = await unlock(http, person, "975310")
    assert new.status_code == 200 and new.json()["method"] == "pin" and new.json()["code_key"]
    assert audited(ctx, person.device_id) == [
        "device.pin_set",
        "device.pin_changed",
        "device.pin_failed",
        "device.unlocked",
    ]


async def test_a_new_pin_of_the_wrong_form_or_equal_to_the_old_is_refused_and_counts_nothing(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    await set_pin(http, person, "2468")
    for new in ("12ab", "123", "１２３４"):
        refused = await change(http, person, "2468", new)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_pin_format", new
    same = await change(http, person, "2468", "2468")
    assert same.status_code == 400 and same.json()["error"] == "pin_unchanged"
    too_long = await change(http, person, "2468", "1234567890123")
    assert too_long.status_code == 422
    # Nothing was judged: no failure counted, the PIN is the one set.
    with ctx.db.read() as session:
        row = session.get(DevicePin, person.device_id)
    assert row is not None and row.failed_streak == 0
    assert (await unlock(http, person, "2468")).status_code == 200
    assert audited(ctx, person.device_id) == ["device.pin_set", "device.unlocked"]


async def test_wrong_old_pins_count_towards_the_lock_shared_with_unlock(
    http: httpx.AsyncClient, ctx: ServerContext, person: Person
) -> None:
    await set_pin(http, person, "2468")
    assert ctx.settings.pin_max_failures == 5
    # One wrong PIN at unlock and three at change: one streak.
    assert (await unlock(http, person, "0000")).json()["attempts_left"] == 4
    for left in (3, 2, 1):
        wrong = await change(http, person, "1111", "8642")
        assert wrong.status_code == 400 and wrong.json() == {
            "error": "invalid_pin",
            "message": "the PIN is wrong",
            "attempts_left": left,
        }
    locked = await change(http, person, "1111", "8642")
    assert locked.status_code == 423 and locked.json()["error"] == "pin_locked"
    assert int(locked.headers["retry-after"]) == 300
    # Locked: the right old PIN is not looked at, nor is the PIN changed; unlocking is locked as well.
    refused = await change(http, person, "2468", "8642")
    assert refused.status_code == 423 and 0 < int(refused.headers["retry-after"]) <= 300
    assert (await unlock(http, person, "2468")).status_code == 423
    assert audited(ctx, person.device_id) == [
        "device.pin_set",
        *["device.pin_failed"] * 5,
        "device.pin_locked",
        "device.pin_refused",
        "device.pin_refused",
    ]

    # Once the lock is over the old PIN still holds; a right old PIN resets the streak and changes it.
    with ctx.db.write() as session:
        row = session.get(DevicePin, person.device_id)
        assert row is not None
        row.locked_until = None
        session.add(row)
    assert (await change(http, person, "2468", "8642")).status_code == 204
    with ctx.db.read() as session:
        row = session.get(DevicePin, person.device_id)
    assert row is not None and row.failed_streak == 0 and row.lock_count == 0
    assert (await unlock(http, person, "8642")).status_code == 200


async def test_changing_needs_a_pin_and_the_device(http: httpx.AsyncClient, person: Person) -> None:
    none = await change(http, person, "2468", "8642")
    assert none.status_code == 404 and none.json()["error"] == "no_pin"
    body = {"old_pin": "2468", "new_pin": "8642"}
    assert (await http.post("/api/mobile/pin/change", json=body)).status_code == 401
    stranger = await http.post("/api/mobile/pin/change", headers={"Authorization": "Bearer nope"}, json=body)
    assert stranger.status_code == 401
