"""The volunteers' pages on both backends: the queue (order, filters, one-click claim that cannot collide)
and a flag page (plain reasons, answers, history, script, the number only once claimed, the forms), with
each role's forbidden paths, another organisation's flags, and replies shown as text, never as markup."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from checkups.engine import flags as flag_ops
from checkups.models import AuditEvent, Flag, FlagAttempt, Organisation, User
from checkups.protocols.loader import Catalog
from checkups.web.pages import volunteer
from tests.conftest import PROTOCOLS

from .conftest import PUBLIC_BASE, TWILIO_TOKEN, World, csrf_of

PHONE = "+447700900321"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
StaffClient = Callable[..., TestClient]
_sids = itertools.count(1)


def says(world: World, client: TestClient, *texts: str, phone: str = PHONE) -> None:
    """Replies from ``phone`` through the signed webhook, parsed by the real engine."""
    for text in texts:
        form = {"MessageSid": f"SM{next(_sids):032d}", "From": phone, "To": "+15005550006", "Body": text}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
        assert client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200


def checked_in(world: World, phone: str = PHONE, **enrol: object) -> int:
    """Enrolled and sent the first check-up; the participant's id."""
    result = world.enrol(phone=phone, **enrol)
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.ticker().tick()
    return result.enrolment.participant_id


def flagged(
    world: World, ref: str, phone: str, severity: str = "high", hours: float = 24, org: str = "org-a", **enrol: object
) -> int:
    """A flag raised straight through the engine (no check-up needed); its id."""
    participant_id = world.enrol(client_ref=ref, phone=phone, organisation=org, **enrol).enrolment.participant_id
    now = world.clock.now()
    with world.factory() as session, session.begin():
        return flag_ops.raise_flag(
            session,
            participant_id,
            severity,
            "Said they have used since the last check-in (any_use: yes)",
            now + timedelta(hours=hours),
            now,
            "rule:any_use",
            {"evidence": {"any_use": "yes"}},
        ).id


def colleague(world: World, role: str, org: str = "org-a") -> User:
    """An account that never signs in here (no slow password hashing)."""
    number = world.count(User)
    with world.factory() as session, session.begin():
        org_id = session.scalars(select(Organisation.id).where(Organisation.slug == org)).one()
        user = User(
            organisation_id=org_id,
            email=f"{role}-{org}-{number}@example.org",
            password_hash="!",
            role=role,
            active=True,
            created_at=world.clock.now(),
        )
        session.add(user)
        session.flush()
        session.expunge(user)
    return user


def only_flag(world: World) -> Flag:
    with world.factory() as session:
        [flag] = flag_ops.queue(session)
        return flag


def post(client: TestClient, path: str, page: str, **data: str):
    return client.post(path, data={"csrf_token": csrf_of(page), **data}, follow_redirects=False)


def claim(client: TestClient, flag_id: int):
    return post(client, f"/flags/{flag_id}/claim", client.get("/queue").text)


def audit_actions(world: World, action: str) -> list[AuditEvent]:
    with world.factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_queue_is_most_severe_first_then_earliest_deadline_with_time_left_in_plain_words(
    world: World, staff_client: StaffClient
) -> None:
    flagged(world, "c-1", "+447700900301", "medium", hours=2, alias="Mel")
    flagged(world, "c-2", "+447700900302", "high", hours=30, alias="Hal")
    flagged(world, "c-3", "+447700900303", "high", hours=5, alias="Hana")
    overdue = flagged(world, "c-4", "+447700900304", "low", hours=1, alias="Lou")
    flagged(world, "c-5", "+447700900305", "urgent", hours=0.25)
    world.clock.advance(timedelta(hours=3))
    sam = staff_client("volunteer")

    html = sam.get("/queue").text

    names = ["participant #5", "Hana", "Hal", "Mel", "Lou"]
    positions = [html.index(f">{name}<") for name in names]
    assert positions == sorted(positions)
    assert 'class="due">2 h left' in html  # Hana: due in 5 h, 3 h on
    assert 'class="due">1 d 3 h left' in html  # Hal
    assert 'class="overdue">1 h overdue' in html  # Mel
    lou = html[html.index(f'id="flag-{overdue}"') :]
    assert re.match(r'(?s).*?class="overdue">2 h overdue', lou)
    assert "Said they have used since the last check-in." in html
    assert html.count(">Claim</button>") == 5
    assert "c-1" not in html
    assert "c-2" not in html


def test_queue_filters_by_severity_and_shows_only_the_users_own_organisation(
    world: World, staff_client: StaffClient
) -> None:
    flagged(world, "a-1", "+447700900311", "high", alias="Ann")
    flagged(world, "a-2", "+447700900312", "medium", alias="Bea")
    flagged(world, "b-1", "+447700900313", "urgent", org="org-b", alias="Cat")
    with world.factory() as session:
        org_b = session.scalars(select(Organisation.id).where(Organisation.slug == "org-b")).one()
    sam = staff_client("volunteer")

    everything = sam.get("/queue").text
    assert ">Ann<" in everything
    assert ">Bea<" in everything
    assert ">Cat<" not in everything
    high = sam.get("/queue?severity=high").text
    assert ">Ann<" in high
    assert ">Bea<" not in high
    # Only an admin without an organisation chooses one: for anyone else the filter changes nothing.
    asked_for_b = sam.get(f"/queue?organisation={org_b}").text
    assert ">Cat<" not in asked_for_b
    assert ">Ann<" in asked_for_b
    assert 'name="organisation"' not in asked_for_b

    admin = staff_client("admin", org=None)
    assert all(f">{n}<" in admin.get("/queue").text for n in ("Ann", "Bea", "Cat"))
    only_b = admin.get(f"/queue?organisation={org_b}").text
    assert ">Cat<" in only_b
    assert ">Ann<" not in only_b
    assert 'name="organisation"' in only_b


def test_a_reply_becomes_a_flag_page_with_reasons_answers_chart_history_and_script(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    checked_in(world, alias="Robin", client_ref="CR-77-SECRET", consent_by="Dr Consentwell")
    says(world, client, "no", "8", "3")  # no use, urges 8, confidence 3: strong urges, low confidence
    flag = only_flag(world)
    sam = staff_client("volunteer")

    page = sam.get(f"/flags/{flag.id}")

    assert page.status_code == 200
    html = page.text
    assert "Robin" in html
    assert "Reported strong or rising urges." in html
    assert "Strong urges with low confidence about staying on track" in html
    assert "what has helped before" in html  # the call script for urges
    assert "never name the service" in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2  # urges and confidence
    assert '<th scope="col">Urges</th>' in html
    assert "<td>8</td>" in html
    assert "How strong have your urges been" in html  # the question sent, in the history
    assert "They wrote" in html
    assert PHONE not in html
    assert "tel:" not in html
    assert "Claim it to see the number" in html
    assert "CR-77-SECRET" not in html
    assert "Consentwell" not in html
    [viewed] = audit_actions(world, "participant.viewed")
    assert viewed.actor == f"user:{sam.user.id}"
    assert viewed.subject_id == flag.participant_id
    assert viewed.detail == {"flag_id": flag.id, "phone_shown": False, "via": "web"}


def test_one_click_claim_shows_the_number_to_the_claimant_only_and_every_view_is_audited(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    checked_in(world, overdose_risk="detox")
    says(world, client, "yes")  # used, days after detox: the overdose-window rule, with its own script
    flag = only_flag(world)
    sam, alex = staff_client("volunteer"), staff_client("volunteer")

    claimed = claim(sam, flag.id)

    assert claimed.status_code == 303
    assert claimed.headers["location"] == f"/flags/{flag.id}?done=claimed"
    html = sam.get(claimed.headers["location"]).text
    assert "You have claimed this flag" in html
    assert f'href="tel:{PHONE}"' in html
    assert "+44 7700 900321" in html
    assert "Check they have naloxone and know how to use it" in html  # the protocol's script for the rule
    assert "a lapse is common" in html  # and ours for use
    others_view = alex.get(f"/flags/{flag.id}").text
    assert PHONE not in others_view
    assert "Only they see the number" in others_view
    shown = [e.detail["phone_shown"] for e in audit_actions(world, "participant.viewed")]
    assert shown == [True, False]
    assert [e.actor for e in audit_actions(world, "flag.claimed")] == [f"user:{sam.user.id}"]
    queue = sam.get("/queue").text
    assert ">You<" in queue
    assert ">Open</a>" in queue


def test_the_second_claim_gets_a_clear_message_not_a_crash(
    world: World, staff_client: StaffClient, client: TestClient
) -> None:
    flag_id = flagged(world, "c-1", "+447700900331", alias="Kim")
    sam, alex = staff_client("volunteer"), staff_client("volunteer")
    sams_queue, alexs_queue = sam.get("/queue").text, alex.get("/queue?severity=high").text

    first = post(sam, f"/flags/{flag_id}/claim", sams_queue)
    second = post(alex, f"/flags/{flag_id}/claim", alexs_queue, severity="high")

    assert first.status_code == 303
    assert second.status_code == 409
    assert "Someone else has just claimed this flag" in second.text
    assert 'class="notice notice-error"' in second.text
    assert '<option value="high" selected>' in second.text  # back to the same filtered view
    with world.factory() as session:
        assert session.get(Flag, flag_id).claimed_by == sam.user.id
    assert "+447700900331" not in alex.get(f"/flags/{flag_id}").text


def test_attempts_and_the_outcome_are_logged_through_the_forms(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    checked_in(world)
    says(world, client, "yes")
    flag = only_flag(world)
    sam = staff_client("volunteer")
    claim(sam, flag.id)
    page = sam.get(f"/flags/{flag.id}").text

    no_choice = post(sam, f"/flags/{flag.id}/attempts", page, notes="typed first")
    assert no_choice.status_code == 400
    assert "Choose what happened on the call." in no_choice.text
    assert "typed first</textarea>" in no_choice.text
    too_long = post(sam, f"/flags/{flag.id}/attempts", page, result="reached", notes="x" * 4001)
    assert too_long.status_code == 400
    assert "Notes are at most 4000 characters." in too_long.text
    no_csrf = sam.post(f"/flags/{flag.id}/attempts", data={"result": "reached"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    first = post(sam, f"/flags/{flag.id}/attempts", page, result="no_answer", notes="rang at 11")
    assert first.status_code == 303
    assert first.headers["location"] == f"/flags/{flag.id}?done=attempt"
    assert "Attempt saved" in sam.get(first.headers["location"]).text
    world.clock.advance(timedelta(hours=2))
    post(sam, f"/flags/{flag.id}/attempts", page, result="reached", notes="talked <b>20 min</b>")
    shown = sam.get(f"/flags/{flag.id}").text
    assert "No answer" in shown
    assert "Reached them" in shown
    assert "rang at 11" in shown
    assert "talked &lt;b&gt;20 min&lt;/b&gt;" in shown

    resolved = post(sam, f"/flags/{flag.id}/resolve", page, outcome="re_engaged_treatment", notes="booked")
    assert resolved.status_code == 303
    assert resolved.headers["location"] == "/queue?done=resolved"
    queue = sam.get(resolved.headers["location"]).text
    assert "Flag resolved with its outcome" in queue
    assert "No open flags" in queue
    with world.factory() as session:
        done = session.get(Flag, flag.id)
        assert (done.state, done.outcome, done.notes) == ("resolved", "re_engaged_treatment", "booked")
        assert session.scalars(select(FlagAttempt.result).order_by(FlagAttempt.id)).all() == ["no_answer", "reached"]
    assert len(audit_actions(world, "flag.attempt")) == 2
    assert len(audit_actions(world, "flag.resolved")) == 1
    after = sam.get(f"/flags/{flag.id}").text
    assert "Reached: back in touch with treatment" in after
    assert PHONE not in after
    late = post(sam, f"/flags/{flag.id}/attempts", page, result="reached")
    assert late.status_code == 409
    assert "already been resolved" in late.text


def test_release_and_hand_over_through_the_forms(world: World, staff_client: StaffClient) -> None:
    flag_id = flagged(world, "c-1", "+447700900341", alias="Jo")
    sam, alex = staff_client("volunteer"), staff_client("volunteer")
    colleague(world, "enroller")  # works in the organisation, but not the queue: not offered
    outsider = colleague(world, "volunteer", org="org-b")
    claim(sam, flag_id)
    page = sam.get(f"/flags/{flag_id}").text
    assert f'<option value="{alex.user.id}">{alex.user.email} (volunteer)</option>' in page
    assert "(enroller)" not in page
    assert outsider.email not in page

    refused = post(sam, f"/flags/{flag_id}/hand-over", page, to_user=str(outsider.id))
    assert refused.status_code == 400
    assert "an active volunteer or lead of its organisation" in refused.text
    handed = post(sam, f"/flags/{flag_id}/hand-over", page, to_user=str(alex.user.id))
    assert handed.status_code == 303
    assert handed.headers["location"] == "/queue?done=handed"
    assert "+447700900341" not in sam.get(f"/flags/{flag_id}").text
    alexs_page = alex.get(f"/flags/{flag_id}").text
    assert "tel:+447700900341" in alexs_page
    [event] = audit_actions(world, "flag.handed_over")
    assert event.actor == f"user:{sam.user.id}"
    assert event.detail["to_user"] == alex.user.id

    not_any_more = post(sam, f"/flags/{flag_id}/release", page)
    assert not_any_more.status_code == 409
    assert "claimed by someone else" in not_any_more.text
    released = post(alex, f"/flags/{flag_id}/release", alexs_page)
    assert released.status_code == 303
    assert released.headers["location"] == "/queue?done=released"
    with world.factory() as session:
        flag = session.get(Flag, flag_id)
        assert (flag.state, flag.claimed_by) == ("open", None)
    assert len(audit_actions(world, "flag.released")) == 1


def test_enrollers_are_refused_and_leads_and_admins_may_work_the_queue(world: World, staff_client: StaffClient) -> None:
    flag_id = flagged(world, "c-1", "+447700900351")
    enroller = staff_client("enroller")
    assert enroller.get("/queue").status_code == 403
    assert enroller.get(f"/flags/{flag_id}").status_code == 403
    token = csrf_of(enroller.get("/login").text)
    for action in ("claim", "attempts", "resolve", "release", "hand-over"):
        refused = enroller.post(f"/flags/{flag_id}/{action}", data={"csrf_token": token, "result": "reached"})
        assert refused.status_code == 403, action
    assert staff_client("lead").get("/queue").status_code == 200
    admin = staff_client("admin", org=None)
    assert admin.get(f"/flags/{flag_id}").status_code == 200
    assert claim(admin, flag_id).status_code == 303
    with world.factory() as session:
        assert session.get(Flag, flag_id).claimed_by == admin.user.id


def test_another_organisations_flag_is_not_found(world: World, staff_client: StaffClient) -> None:
    flag_id = flagged(world, "c-1", "+447700900361", alias="Sol")
    outsider = staff_client("volunteer", org="org-b")
    assert outsider.get(f"/flags/{flag_id}").status_code == 404
    token = csrf_of(outsider.get("/queue").text)
    for action in ("claim", "attempts", "resolve", "release", "hand-over"):
        response = outsider.post(f"/flags/{flag_id}/{action}", data={"csrf_token": token, "result": "reached"})
        assert response.status_code == 404, action
    assert ">Sol<" not in outsider.get("/queue").text
    with world.factory() as session:
        assert session.get(Flag, flag_id).state == "open"
    assert audit_actions(world, "participant.viewed") == []


def test_a_reply_with_html_and_script_is_shown_as_text(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    checked_in(world, alias="<i>Al</i>")
    says(world, client, "CALL", XSS)
    flag = only_flag(world)
    sam = staff_client("volunteer")

    html = sam.get(f"/flags/{flag.id}").text

    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;i&gt;Al&lt;/i&gt;" in html
    assert "<i>Al</i>" not in html
    assert "Asked for someone to call them." in html
    assert "<i>Al</i>" not in sam.get("/queue").text


def test_every_shipped_reason_has_a_plain_kind_and_a_script() -> None:
    expected = {
        "use_in_overdose_window": "use",
        "any_use": "use",
        "wants_call": "call",
        "urges_high_confidence_low": "craving",
        "urges_rising": "craving",
        "two_missed": "silence",
        "lost_contact": "silence",
    }
    for protocol in Catalog.from_directory(PROTOCOLS):
        for rule in protocol.risk_rules:
            # Without the evidence (kind from the rule's id and words) and with it, as the engine stores it.
            bare = {"source": f"rule:{rule.id}", "reason": rule.reason}
            kind = volunteer.reason_kind(bare)
            assert kind == expected.get(rule.id, kind), rule.id
            assert kind != "other", rule.id
    evidence = {
        "any_use": {"any_use": "yes", "overdose_risk": True, "days_since_anchor": 3},
        "urges_rising": {"urges": 8, "urges_baseline": 3},
        "two_missed": {"missed_in_a_row": 2},
        "wants_call": {"want_call": "yes"},
    }
    kinds = {rule: volunteer.reason_kind({"source": "rule:x", "evidence": e}) for rule, e in evidence.items()}
    assert kinds == {"any_use": "use", "urges_rising": "craving", "two_missed": "silence", "wants_call": "call"}
    assert volunteer.reason_kind({"source": "crisis", "reason": "Crisis words in a message: call now"}) == "crisis"
    assert volunteer.reason_kind({"source": "call-request"}) == "call"
    assert volunteer.reason_kind({"source": "provider:30003", "reason": "Cannot reach this person"}) == "number"
    assert set(volunteer.KIND_HEADLINES) == set(volunteer.DEFAULT_SCRIPTS) == set(volunteer.KIND_TITLES)


def test_a_message_between_check_ins_is_shown_to_the_volunteer_as_text(
    world: World, client: TestClient, staff_client: StaffClient
) -> None:
    checked_in(world)
    says(world, client, "no", "2", "9", "n")  # clean
    says(world, client, "rough week " + XSS)
    flag = only_flag(world)
    page = staff_client("volunteer").get(f"/flags/{flag.id}").text
    assert "Wrote something that answers no question" in page
    assert "Read what they wrote before you call" in page
    assert "rough week &lt;script&gt;" in page
    assert "<script>alert(1)" not in page
