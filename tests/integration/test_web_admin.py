"""The admins' pages: the append-only audit trail (who, what, when; filters; pages) and the staff accounts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from checkups.engine import audit
from checkups.engine import flags as flag_ops
from checkups.models import AuditEvent

from .conftest import World, add_staff

Client = Callable[..., TestClient]
ADMIN_PAGES = ["/audit", "/users"]


def rows_of(html: str) -> list[str]:
    """The audit table's rows, as text."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in body.split("</tr>")[:-1]]


@pytest.mark.parametrize("role", ["lead", "volunteer", "enroller"])
def test_only_admins_see_the_audit_trail_and_accounts(staff_client: Client, role: str) -> None:
    client = staff_client(role)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    for path in ADMIN_PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}"


def test_the_trail_lists_views_and_changes_newest_first_with_who_did_them(world: World, staff_client: Client) -> None:
    participant_id = world.enrol("c-1").enrolment.participant_id
    volunteer = add_staff(world, "volunteer", email="sam@example.org")
    now = world.clock.now()
    with world.factory() as session, session.begin():
        audit.record(session, now, f"user:{volunteer.id}", "participant.viewed", "participant", participant_id)
        flag = flag_ops.raise_flag(
            session, participant_id, "high", "said they used", now + timedelta(hours=24), now, "rule:any_use"
        )
    world.clock.advance(timedelta(minutes=5))
    with world.factory() as session, session.begin():
        flag_ops.claim(session, flag.id, volunteer.id, world.clock.now())

    html = staff_client("admin", org=None).get("/audit").text
    rows = rows_of(html)
    actions = [
        next(
            (
                a
                for a in (
                    "login",
                    "user.created",
                    "flag.claimed",
                    "flag.opened",
                    "participant.viewed",
                    "enrolment.created",
                )
                if f" {a} " in f" {row} "
            ),
            "other",
        )
        for row in rows
    ]
    # Newest first: the admin's own sign-in, then the claim, the flag, the view, the enrolment.
    order = [a for a in actions if a in {"flag.claimed", "flag.opened", "participant.viewed", "enrolment.created"}]
    assert order == ["flag.claimed", "flag.opened", "participant.viewed", "enrolment.created"]
    assert actions[0] == "login"
    claimed = next(row for row in rows if "flag.claimed" in row)
    assert "sam@example.org" in claimed
    assert f"(user:{volunteer.id})" in claimed
    assert "Mon 05 Jan 2026 09:05" in claimed
    viewed = next(row for row in rows if "participant.viewed" in row)
    assert f"participant {participant_id}" in viewed
    assert f'href="/audit?participant={participant_id}"' in html


def test_filters_by_who_what_and_participant(world: World, staff_client: Client) -> None:
    first = world.enrol("c-1").enrolment.participant_id
    second = world.enrol("c-2", phone="+447700900124").enrolment.participant_id
    sam = add_staff(world, "volunteer", email="sam@example.org")
    now = world.clock.now()
    with world.factory() as session, session.begin():
        audit.record(session, now, f"user:{sam.id}", "participant.viewed", "participant", first)
        audit.record(session, now, f"user:{sam.id}", "participant.viewed", "participant", second)
        flag = flag_ops.raise_flag(
            session, second, "high", "said they used", now + timedelta(hours=24), now, "rule:any_use"
        )
        flag_ops.claim(session, flag.id, sam.id, now)
        flag_ops.log_attempt(session, flag.id, sam.id, "no_answer", None, now)
    admin = staff_client("admin", org=None)

    by_sam = rows_of(admin.get("/audit", params={"actor": "SAM@example.org"}).text)
    assert len(by_sam) == 4
    assert all("sam@example.org" in row for row in by_sam)
    assert len(rows_of(admin.get("/audit", params={"actor": f"user:{sam.id}"}).text)) == 4
    assert all("system" in row for row in rows_of(admin.get("/audit", params={"actor": "system"}).text))

    flag_rows = rows_of(admin.get("/audit", params={"action": "flag"}).text)
    assert [r.split(" flag.")[1].split()[0] for r in flag_rows] == ["attempt", "claimed", "opened"]
    assert len(rows_of(admin.get("/audit", params={"action": "flag.claimed"}).text)) == 1
    assert rows_of(admin.get("/audit", params={"action": "fla"}).text) == []

    # Everything about the second person: the enrolment, the view, and the flag (even the attempt, whose
    # event names only the flag).
    about = rows_of(admin.get("/audit", params={"participant": str(second)}).text)
    assert len(about) == 5
    assert sum("flag.attempt" in row for row in about) == 1
    assert not any(f"participant {first}" in row for row in about)
    page = admin.get("/audit", params={"participant": "Jo"}).text
    assert 'id="e-participant"' in page


def test_the_trail_is_paged_newest_first(world: World, staff_client: Client) -> None:
    now = world.clock.now()
    with world.factory() as session, session.begin():
        for i in range(120):
            audit.record(session, now, "system", "test.event", "thing", i)
    admin = staff_client("admin", org=None)
    first = admin.get("/audit", params={"action": "test"}).text
    subjects = [int(row.split("thing ")[1].split()[0]) for row in rows_of(first)]
    assert subjects == list(range(119, 69, -1))
    older = re.search(r'href="/audit\?([^"]+)" rel="next"', first)
    assert older
    assert 'rel="prev"' not in first  # the newest page has nothing newer
    second = admin.get("/audit?" + older.group(1).replace("&amp;", "&")).text
    assert [int(row.split("thing ")[1].split()[0]) for row in rows_of(second)] == list(range(69, 19, -1))
    third = admin.get(
        "/audit?" + re.search(r'href="/audit\?([^"]+)" rel="next"', second).group(1).replace("&amp;", "&")
    )
    assert [int(row.split("thing ")[1].split()[0]) for row in rows_of(third.text)] == list(range(19, -1, -1))
    assert 'rel="next"' not in third.text
    newer = re.search(r'href="/audit\?([^"]+)" rel="prev"', second)
    assert newer
    back = admin.get("/audit?" + newer.group(1).replace("&amp;", "&")).text
    assert [int(row.split("thing ")[1].split()[0]) for row in rows_of(back)] == list(range(119, 69, -1))


def test_nothing_in_the_trail_can_be_changed_from_the_web(world: World, staff_client: Client) -> None:
    admin = staff_client("admin", org=None)
    before = world.count(AuditEvent)
    for method in ("post", "put", "patch", "delete"):
        assert getattr(admin, method)("/audit").status_code == 405
    page = admin.get("/audit").text
    forms = re.findall(r"<form[^>]*>", page)
    assert all('method="get"' in f or 'action="/logout"' in f for f in forms)
    assert world.count(AuditEvent) == before


def test_the_accounts_list_shows_role_and_organisation(world: World, staff_client: Client) -> None:
    add_staff(world, "volunteer", org="org-b", email="pat@example.org")
    admin = staff_client("admin", org=None)
    rows = rows_of(admin.get("/users").text)
    pat = next(row for row in rows if "pat@example.org" in row)
    assert "volunteer" in pat
    assert "Org B" in pat
    assert "active" in pat
    assert any("admin" in row and "All organisations" in row for row in rows)
