"""Twilio webhooks on a real store: signed, stored first, replay-safe, STOP/START/HELP, forward-only status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from checkups.engine.inbound import keyword, process_inbound
from checkups.models import (
    Answer,
    Checkup,
    CheckupStatus,
    Enrolment,
    InboundMessage,
    OutboundMessage,
    PhoneOptOut,
)

from .conftest import PUBLIC_BASE, TWILIO_TOKEN, World

PHONE = "+447700900123"


def post(client: TestClient, path: str, form: dict[str, str], signature: str | None = "auto"):
    headers = {}
    if signature == "auto":
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + path, form)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, data=form, headers=headers)


def sms(sid: str, body: str, sender: str = PHONE) -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body, "AccountSid": "AC" + "0" * 32}


def awaiting_checkup(world: World) -> Checkup:
    result = world.enrol(phone=PHONE)
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.ticker().tick()
    with world.factory() as session:
        checkup = session.get(Checkup, result.first_checkup.id)
    assert checkup.status == CheckupStatus.awaiting.value
    return checkup


@pytest.mark.parametrize("signature", [None, "", "bm90LWEtc2lnbmF0dXJl"])
def test_missing_or_forged_signature_is_refused_and_nothing_is_stored(
    world: World, client: TestClient, signature: str | None
) -> None:
    response = post(client, "/twilio/sms", sms("SM1", "hello"), signature=signature)
    assert response.status_code == 403
    assert world.count(InboundMessage) == 0


def test_signature_for_another_address_is_refused(world: World, client: TestClient) -> None:
    form = sms("SM1", "hello")
    wrong = RequestValidator(TWILIO_TOKEN).compute_signature("http://internal:8000/twilio/sms", form)
    assert post(client, "/twilio/sms", form, signature=wrong).status_code == 403
    assert world.count(InboundMessage) == 0


def test_replies_answer_one_question_after_another_then_close_the_checkup(world: World, client: TestClient) -> None:
    checkup = awaiting_checkup(world)
    response = post(client, "/twilio/sms", sms("SM1", "no"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    with world.factory() as session:
        inbound = session.scalars(select(InboundMessage)).one()
        assert world.ctx.vault.decrypt(inbound.body_cipher) == "no"
        assert inbound.state == "processed"
        assert inbound.participant_id is not None
        assert session.get(Checkup, checkup.id).status == CheckupStatus.awaiting.value
    asked = [world.ctx.vault.decrypt(row.body_cipher) for row in world.sends() if row.kind == "question"]
    assert "urges" in asked[-1]  # the next question went out
    for i, text in enumerate(["3", "8/10", "nah"], start=2):
        post(client, "/twilio/sms", sms(f"SM{i}", text))
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value
        answers = {a.question_id: a.value_text or a.value_int for a in session.scalars(select(Answer))}
        assert session.scalars(select(Checkup).where(Checkup.seq == 2)).one().status == "pending"
    assert answers == {"any_use": "no", "urges": 3, "confidence": 8, "want_call": "no"}
    assert [row.kind for row in world.sends()][-1] == "closing"


def test_replayed_webhook_changes_nothing(world: World, client: TestClient) -> None:
    awaiting_checkup(world)
    for _ in range(3):
        assert post(client, "/twilio/sms", sms("SM1", "yes")).status_code == 200
    assert world.count(InboundMessage) == 1
    assert world.count(Answer) == 1
    assert [row.kind for row in world.sends()].count("question") == 2  # the check-up, then the next question once


@pytest.mark.parametrize("word", ["STOP", "stop", "  Stop ", "STOPALL", "unsubscribe", "CANCEL", "End", "quit."])
def test_stop_words_opt_out_everything_at_once(world: World, client: TestClient, word: str) -> None:
    awaiting_checkup(world)
    assert post(client, "/twilio/sms", sms("SM1", word)).status_code == 200
    with world.factory() as session:
        assert session.get(PhoneOptOut, world.ctx.vault.lookup_hash(PHONE)) is not None
        assert session.scalars(select(Enrolment.status)).one() == "opted_out"
        assert session.scalars(select(Checkup.status)).one() == CheckupStatus.cancelled.value
    sent_before = len(world.sends())
    world.run(until=world.clock.now() + timedelta(weeks=4))
    assert len(world.sends()) == sent_before  # nothing more, not even reminders


def test_start_opts_back_in_and_the_schedule_resumes(world: World, client: TestClient) -> None:
    awaiting_checkup(world)
    post(client, "/twilio/sms", sms("SM1", "STOP"))
    post(client, "/twilio/sms", sms("SM2", "start"))
    with world.factory() as session:
        assert session.get(PhoneOptOut, world.ctx.vault.lookup_hash(PHONE)) is None
        assert session.scalars(select(Enrolment.status)).one() == "active"
        assert session.scalars(select(Checkup).where(Checkup.status == "pending")).one().due_at > world.clock.now()


def test_help_is_answered_with_the_protocol_help_text_once(world: World, client: TestClient) -> None:
    awaiting_checkup(world)
    post(client, "/twilio/sms", sms("SM1", "HELP"))
    post(client, "/twilio/sms", sms("SM1", "HELP"))  # replayed: no second answer
    helps = [row for row in world.sends() if row.kind == "help"]
    assert len(helps) == 1
    assert "Reply STOP" in world.ctx.vault.decrypt(helps[0].body_cipher)


def test_message_from_an_unknown_number_is_kept_but_matched_to_nobody(world: World, client: TestClient) -> None:
    awaiting_checkup(world)
    post(client, "/twilio/sms", sms("SM1", "who is this?", sender="+447700900999"))
    with world.factory() as session:
        inbound = session.scalars(select(InboundMessage)).one()
        assert inbound.participant_id is None
        assert inbound.state == "processed"
        assert session.scalars(select(Checkup.status).where(Checkup.seq == 1)).one() == "awaiting"


def test_same_number_at_two_services_goes_to_the_one_awaiting_a_reply(world: World, client: TestClient) -> None:
    awaiting_checkup(world)  # org-a's participant has a check-up out
    world.enrol(organisation="org-b", client_ref="b-1", phone=PHONE)  # org-b's first check-up is next week
    post(client, "/twilio/sms", sms("SM1", "N"))
    with world.factory() as session:
        inbound = session.scalars(select(InboundMessage)).one()
        enrolment = session.scalars(select(Enrolment).where(Enrolment.participant_id == inbound.participant_id)).one()
        assert enrolment.participant.organisation.slug == "org-a"


def status(sid: str, value: str, code: str | None = None) -> dict[str, str]:
    form = {"MessageSid": sid, "MessageStatus": value, "AccountSid": "AC" + "0" * 32}
    if code:
        form["ErrorCode"] = code
    return form


def _sent_sid(world: World) -> str:
    with world.factory() as session:
        return session.scalars(select(OutboundMessage.provider_sid)).one()


def test_status_only_moves_forward(world: World, client: TestClient) -> None:
    awaiting_checkup(world)
    sid = _sent_sid(world)
    assert post(client, "/twilio/status", status(sid, "delivered")).status_code == 200
    assert post(client, "/twilio/status", status(sid, "sent")).status_code == 200  # late, out of order
    with world.factory() as session:
        assert session.scalars(select(OutboundMessage.status)).one() == "delivered"


def test_unknown_sid_gets_200_so_twilio_stops_retrying(world: World, client: TestClient) -> None:
    assert post(client, "/twilio/status", status("SMdoesnotexist", "delivered")).status_code == 200


def test_carrier_opt_out_code_21610_opts_the_participant_out(world: World, client: TestClient) -> None:
    awaiting_checkup(world)
    post(client, "/twilio/status", status(_sent_sid(world), "undelivered", "21610"))
    with world.factory() as session:
        assert session.scalars(select(Enrolment.status)).one() == "opted_out"


def test_healthz_reports_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", "stop"),
        (" stop! ", "stop"),
        ("Stop please", None),
        ("START", "start"),
        ("unstop", "start"),
        ("HELP", "help"),
        ("help me", None),
        ("no", None),
        ("", None),
    ],
)
def test_keywords_are_whole_messages_only(body: str, expected: str | None) -> None:
    assert keyword(body) == expected


def test_inbound_left_unprocessed_is_retried_by_the_tick_then_parked(world: World) -> None:
    awaiting_checkup(world)
    with world.factory() as session, session.begin():
        from checkups.engine.inbound import store_inbound

        stored = store_inbound(world.ctx, session, "SMlost", PHONE, "no")  # its processing task was lost
    retried: list[int] = []
    ticker = world.ticker(hand_out_inbound=lambda i: (retried.append(i), process_inbound(world.ctx, world.factory, i)))
    ticker.tick()
    assert retried == []  # too fresh: its own task may still be on the way
    world.clock.advance(timedelta(minutes=2))
    ticker.tick()
    assert retried == [stored.inbound_id]
    with world.factory() as session:
        assert session.get(InboundMessage, stored.inbound_id).state == "processed"
    # One that keeps failing is parked, visibly, not retried for ever.
    with world.factory() as session, session.begin():
        bad = store_inbound(world.ctx, session, "SMbad", PHONE, "x")
        session.get(InboundMessage, bad.inbound_id).attempts = 5
    world.clock.advance(timedelta(minutes=2))
    ticker.tick()
    with world.factory() as session:
        assert session.get(InboundMessage, bad.inbound_id).state == "parked"


def test_a_reply_whose_processing_keeps_failing_is_counted_and_then_parked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each failed attempt counts although its transaction rolls back, so the tick parks the message after
    MAX_ATTEMPTS instead of retrying it every minute for ever; what it was is kept, not the text's content."""
    from checkups.engine import inbound
    from checkups.engine.inbound import MAX_ATTEMPTS, store_inbound

    awaiting_checkup(world)
    with world.factory() as session, session.begin():
        stored = store_inbound(world.ctx, session, "SMfails", PHONE, "no")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the reply handling")

    monkeypatch.setattr(inbound, "handle_reply", broken)
    ticker = world.ticker(hand_out_inbound=lambda i: process_inbound(world.ctx, world.factory, i))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            process_inbound(world.ctx, world.factory, stored.inbound_id)
        with world.factory() as session:
            row = session.get(InboundMessage, stored.inbound_id)
            assert (row.state, row.attempts, row.error) == ("received", attempt, "RuntimeError")
    world.clock.advance(timedelta(minutes=2))
    ticker.tick()
    with world.factory() as session:
        assert session.get(InboundMessage, stored.inbound_id).state == "parked"
