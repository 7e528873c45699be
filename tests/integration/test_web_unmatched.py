"""Texts from numbers that match no single participant, on both backends: scanned for crisis words as they
arrive (from a number nobody has: an error log line that names only the message's id, nothing sent back;
from a shared number: a flag for each sharer and the crisis reply once), listed for admins only (crisis
words first, the text escaped, the number masked, every view audited), and pointed out on an admin's
queue."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from checkups import logging as checkups_logging
from checkups.models import AuditEvent, Flag, InboundMessage

from .conftest import PUBLIC_BASE, TWILIO_TOKEN, World

StaffClient = Callable[..., TestClient]
PAGE = "/inbound/unmatched"
KNOWN = "+447700900123"  # an enrolled participant's number
STRANGER = "+447700900999"  # nobody's: a new phone
SHARED = "+447700900456"  # two participants', at two services
CRISIS = "<script>alert(1)</script> i want to die"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; i want to die"
_sids = itertools.count(1)


def text(client: TestClient, body: str, sender: str = STRANGER) -> None:
    """A text through the signed webhook, processed by the real engine before the response."""
    form = {"MessageSid": f"SM{next(_sids):032d}", "From": sender, "To": "+15005550006", "Body": body}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
    assert client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200


def rows_of(html: str) -> list[str]:
    """The table's rows, as text."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in body.split("</tr>")[:-1]]


def spellings(e164: str) -> list[str]:
    """The ways a UK number could appear in a page or a log line."""
    national = "0" + e164[3:]
    return [e164, e164[1:], e164[3:], national, f"{national[:5]} {national[5:]}", f"+44 {e164[3:7]} {e164[7:]}"]


def test_an_unmatched_crisis_text_is_listed_first_marked_with_its_text_escaped_and_number_masked(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    world.enrol(phone=KNOWN)
    sent_before = len(world.sends())
    text(client, CRISIS)
    world.clock.advance(timedelta(minutes=5))
    text(client, "who is this?")
    world.clock.advance(timedelta(minutes=5))
    text(client, "sorry, wrong number", sender="+447700900998")
    text(client, "STOP", sender="+447700900997")  # acted on for the number: nothing for staff to read
    assert len(world.sends()) == sent_before  # no consent on record for these numbers: nothing goes back
    assert world.count(Flag) == 0  # and no flag: it would belong to no organisation's queue
    text(client, "i want to die, this is the enrolled one", sender=KNOWN)  # flagged in their own queue
    assert world.count(Flag) == 1

    response = staff_client("admin", org=None).get(PAGE)
    assert response.status_code == 200
    html = response.text
    rows = rows_of(html)
    assert len(rows) == 3
    assert rows[0].startswith("Crisis words want to die")
    assert "Mon 05 Jan 2026 09:00 UTC" in rows[0]
    assert "••••999" in rows[0]
    assert "No participant has this number." in rows[0]
    assert ["wrong number" in rows[1], "who is this?" in rows[2]] == [True, True]  # then newest first
    assert not any("Crisis words" in row for row in rows[1:])
    assert "None found" in rows[1]
    assert html.count('class="badge sev-urgent">Crisis words<') == 1
    assert '<a href="/inbound/unmatched" aria-current="page">Unmatched texts</a>' in html  # in the admin's menu
    assert ESCAPED in html
    assert "<script>alert(1)</script>" not in html
    assert "this is the enrolled one" not in html
    for number in (STRANGER, KNOWN, "+447700900998", "+447700900997"):
        for spelling in spellings(number):
            assert spelling not in html, spelling


def test_crisis_words_from_a_number_two_participants_share_flag_both_and_get_the_crisis_reply_once(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    """Neither is awaiting a reply, so the text cannot be given to one of them; whoever wrote it, someone must
    call now: each gets an urgent flag in their own service's queue, and the number the crisis reply, once.
    The message stays unmatched (in neither timeline) and is listed as shared."""
    from checkups.engine.enrolment import withdraw

    a = world.enrol("a-1", phone=SHARED)
    b = world.enrol("b-1", organisation="org-b", phone=SHARED)
    gone = world.enrol("a-2", phone=SHARED)  # withdrawn: no longer theirs to call
    withdraw(world.ctx, world.factory, gone.enrolment.id, "user:1", "moved")
    sent_before = len(world.sends())
    text(client, "took too much again, overdosed last night", sender=SHARED)
    with world.factory() as session:
        assert session.scalars(select(InboundMessage.participant_id)).one() is None
        flags = list(session.scalars(select(Flag).order_by(Flag.participant_id)))
    assert [(f.participant_id, f.severity) for f in flags] == [
        (a.enrolment.participant_id, "urgent"),
        (b.enrolment.participant_id, "urgent"),
    ]
    assert all(f.due_by == world.clock.now() + timedelta(minutes=15) for f in flags)
    assert all("which someone else also has" in f.reasons[0]["reason"] for f in flags)
    # Neither the words (the message's own) nor how many share the number or where (another service's
    # participant is not this service's business).
    for secret in ("overdose", "took too much", "org-b", "2 participants", "3 participants"):
        assert all(secret not in json.dumps(f.reasons) for f in flags)
    replies = world.sends()[sent_before:]
    assert [r.kind for r in replies] == ["crisis_reply"]
    assert replies[0].participant_id == a.enrolment.participant_id

    rows = rows_of(staff_client("admin", org=None).get(PAGE).text)
    assert len(rows) == 1
    assert rows[0].startswith("Crisis words overdose, overdosed, took too much")
    assert "3 participants share this number" in rows[0]  # the admins' page counts every one
    assert "••••456" in rows[0]


def test_crisis_words_from_a_shared_number_that_opted_out_flag_both_but_send_nothing(
    world: World, client: TestClient
) -> None:
    world.enrol("a-1", phone=SHARED)
    world.enrol("b-1", organisation="org-b", phone=SHARED)
    text(client, "STOP", sender=SHARED)
    sent_before = len(world.sends())
    text(client, "i want to die", sender=SHARED)
    assert world.count(Flag) == 2
    assert len(world.sends()) == sent_before


@pytest.mark.parametrize("role", ["volunteer", "lead", "enroller"])
def test_only_admins_may_read_unmatched_messages(
    world: World, client: TestClient, staff_client: StaffClient, role: str
) -> None:
    text(client, CRISIS)
    response = staff_client(role).get(PAGE)
    assert response.status_code == 403
    assert "want to die" not in response.text
    assert world.count(AuditEvent, AuditEvent.action == "inbound.unmatched_viewed") == 0


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    response = client.get(PAGE, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={PAGE}"


def test_every_view_is_audited_with_counts_but_no_number_or_text(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    text(client, CRISIS)
    text(client, "hello?")
    admin = staff_client("admin", org=None)
    admin.get(PAGE)
    admin.get(PAGE)
    with world.factory() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "inbound.unmatched_viewed")))
    assert len(events) == 2
    event = events[0]
    assert event.actor == f"user:{admin.user.id}"  # type: ignore[attr-defined]
    with world.factory() as session:
        crisis_id, hello_id = sorted(session.scalars(select(InboundMessage.id)))
    assert event.detail == {
        "via": "web",
        "days": 30,
        "shown": 2,
        "with_crisis_words": 1,
        "inbound_ids": [crisis_id, hello_id],  # as listed: crisis words first
    }
    recorded = json.dumps([e.detail for e in events]) + " ".join(f"{e.subject_type} {e.subject_id}" for e in events)
    for secret in [*spellings(STRANGER), "want to die", "hello", "script"]:
        assert secret not in recorded
    assert "inbound.unmatched_viewed" in admin.get("/audit").text


def test_the_queue_tells_admins_of_unmatched_crisis_texts_for_a_week(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    notice = '<a href="/inbound/unmatched">1 unmatched message with crisis words in the last 7 days</a>'
    admin = staff_client("admin", org=None)
    volunteer = staff_client("volunteer")
    lead = staff_client("lead")
    text(client, "nobody knows this number")
    assert "unmatched message" not in admin.get("/queue").text  # no crisis words: nothing to point out

    text(client, CRISIS)
    assert notice in admin.get("/queue").text
    for other in (volunteer, lead):
        page = other.get("/queue")
        assert page.status_code == 200
        assert "unmatched message" not in page.text
        assert PAGE not in page.text

    world.clock.advance(timedelta(days=8))
    assert "unmatched message" not in admin.get("/queue").text
    assert len(rows_of(admin.get(PAGE).text)) == 2  # still listed for a month
    world.clock.advance(timedelta(days=23))
    assert rows_of(admin.get(PAGE).text) == []


def test_the_error_logged_for_an_unmatched_crisis_text_names_only_its_id(world: World, client: TestClient) -> None:
    stream = io.StringIO()
    checkups_logging.configure(log_format="json", level="DEBUG", stream=stream)
    try:
        text(client, "just checking in")
        text(client, CRISIS)
    finally:
        checkups_logging.configure(log_format="json", level="WARNING", stream=io.StringIO())
    with world.factory() as session:
        crisis_id = max(session.scalars(select(InboundMessage.id)))
    raw = stream.getvalue()
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    warnings = [e for e in events if e.get("event") == "unmatched inbound with crisis words"]
    assert len(warnings) == 1  # the plain text raised none
    assert warnings[0]["level"] == "error"
    assert warnings[0]["inbound_id"] == crisis_id
    for secret in [*spellings(STRANGER), "want to die", "alert(1)", "just checking"]:
        assert secret not in raw, secret


def test_a_message_whose_processing_keeps_failing_is_listed_as_not_processed(
    world: World, client: TestClient, staff_client: StaffClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A participant's crisis text that a bug keeps from being processed raises no flag; once parked it is
    listed (crisis first, marked "Not processed"), the parking is logged as an error naming only the id, and
    the admin's queue points to it. A parked STOP is listed too: it was never acted on."""
    from checkups.engine import inbound
    from checkups.engine.inbound import MAX_ATTEMPTS, process_inbound

    world.enrol(phone=KNOWN)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the reply handling")

    monkeypatch.setattr(inbound, "handle_reply", broken)
    monkeypatch.setattr(inbound, "unmatched_crisis", broken)
    monkeypatch.setattr(inbound.enrolment_ops, "opt_out", broken)
    for body in ("i want to die", "STOP"):
        with pytest.raises(RuntimeError):
            text(client, body, sender=KNOWN)
    with world.factory() as session:
        ids = sorted(session.scalars(select(InboundMessage.id)))
    for inbound_id in ids:
        for _ in range(MAX_ATTEMPTS - 1):
            with pytest.raises(RuntimeError):
                process_inbound(world.ctx, world.factory, inbound_id)
    stream = io.StringIO()
    checkups_logging.configure(log_format="json", level="DEBUG", stream=stream)
    try:
        world.clock.advance(timedelta(minutes=2))
        world.ticker(hand_out_inbound=lambda i: None).tick()
    finally:
        checkups_logging.configure(log_format="json", level="WARNING", stream=io.StringIO())
    assert world.count(Flag) == 0
    raw = stream.getvalue()
    errors = [json.loads(line) for line in raw.splitlines() if "inbound parked" in line]
    assert [(e["level"], e["inbound_ids"]) for e in errors] == [("error", ids)]
    for secret in [*spellings(KNOWN), "want to die"]:
        assert secret not in raw

    admin = staff_client("admin", org=None)
    rows = rows_of(admin.get(PAGE).text)
    assert len(rows) == 2
    assert rows[0].startswith("Crisis words want to die Not processed")
    assert "One participant has this number." in rows[0]
    assert "Not processed" in rows[1]
    assert "STOP" in rows[1]
    assert "1 unmatched message with crisis words" in admin.get("/queue").text
    world.clock.advance(timedelta(days=40))  # unmatched ones leave the page after 30 days; parked ones stay
    assert len(rows_of(admin.get(PAGE).text)) == 2
