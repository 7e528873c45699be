"""Replies to flags, through the signed webhook on a real store: what people write, what it raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from checkups.engine import conversation
from checkups.engine import enrolment as enrolment_ops
from checkups.engine.flags import queue
from checkups.models import Answer, Checkup, CheckupStatus, Enrolment, Flag

from .conftest import PUBLIC_BASE, TWILIO_TOKEN, World

PHONE = "+447700900777"


class Person:
    def __init__(self, world: World, client: TestClient) -> None:
        self.world, self.client, self.n = world, client, 0

    def says(self, *texts: str) -> None:
        for text in texts:
            self.n += 1
            form = {"MessageSid": f"SM{self.n:030d}", "From": PHONE, "To": "+15005550006", "Body": text}
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
            response = self.client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
            assert response.status_code == 200

    def last_sent(self) -> tuple[str, str]:
        row = self.world.sends()[-1]
        return row.kind, self.world.ctx.vault.decrypt(row.body_cipher)


def checked_in(world: World, client: TestClient, **enrol: object) -> tuple[Person, Checkup]:
    result = world.enrol(phone=PHONE, **enrol)
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.ticker().tick()
    return Person(world, client), result.first_checkup


def open_flag(world: World) -> Flag | None:
    with world.factory() as session:
        flags = queue(session)
    return flags[0] if flags else None


def test_yes_to_any_use_is_a_high_flag_due_in_24_hours_in_the_queue(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("yeah")
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "high"
    assert flag.due_by == world.clock.now() + timedelta(hours=24)
    assert "Said they have used" in flag.reasons[0]["reason"]


def test_strong_urges_with_low_confidence_raise_a_flag(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("no", "8", "3")
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "high"
    assert any("Strong urges with low confidence" in r["reason"] for r in flag.reasons)


def test_a_clean_checkup_raises_nothing_and_closes_with_thanks(world: World, client: TestClient) -> None:
    person, checkup = checked_in(world, client)
    person.says("No", "2", "9", "N")
    assert open_flag(world) is None
    assert person.last_sent()[0] == "closing"
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value


def test_an_answer_not_understood_gets_one_clarification_then_moves_on(world: World, client: TestClient) -> None:
    person, _checkup = checked_in(world, client)
    person.says("no")
    person.says("dunno really")
    assert person.last_sent()[0] == "clarify"
    person.says("somewhere in the middle")
    kind, text = person.last_sent()
    assert kind == "question"
    assert "confident" in text
    with world.factory() as session:
        urges = session.scalars(select(Answer).where(Answer.question_id == "urges")).one()
    assert urges.parsed is False


@pytest.mark.parametrize("when", ["night", "paused"])
def test_crisis_words_flag_urgently_and_reply_at_once(world: World, client: TestClient, when: str) -> None:
    person, _ = checked_in(world, client)
    if when == "night":
        world.clock.set(world.clock.now().replace(hour=2, minute=30) + timedelta(days=1))  # 02:30 in London
    else:
        enrolment_ops.pause(world.ctx, world.factory, 1, "user:1")
    person.says("i just want to end it all")
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "urgent"
    assert flag.due_by == world.clock.now() + timedelta(minutes=15)
    kind, text = person.last_sent()
    assert kind == "crisis_reply"
    assert "116 123" in text
    assert world.sends()[-1].sent_at == world.clock.now()  # not deferred to the morning


def test_crisis_from_an_opted_out_number_is_flagged_but_not_answered(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("STOP")
    sent_before = len(world.sends())
    person.says("took too much")
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "urgent"
    assert len(world.sends()) == sent_before


def test_use_in_the_overdose_window_is_due_the_same_day(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client, overdose_risk="detox")
    person.says("y")
    flag = open_flag(world)
    assert flag is not None
    assert flag.due_by == world.clock.now() + timedelta(hours=8)
    assert len(flag.reasons) == 2  # the overdose-window rule and any use, in one flag


def test_two_then_three_missed_in_a_row_raise_medium_then_lost_contact(world: World) -> None:
    world.enrol(phone=PHONE)
    world.run(until=world.clock.now() + timedelta(weeks=2, days=6))  # check-ups 1 and 2 missed
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "medium"
    assert "Missed two" in flag.reasons[0]["reason"]
    world.run(until=world.clock.now() + timedelta(weeks=1))  # and the third
    flag = open_flag(world)
    assert flag.severity == "high"
    assert any("Lost contact" in r["reason"] for r in flag.reasons)


def test_a_late_reply_is_recorded_against_the_checkup_it_answers(world: World, client: TestClient) -> None:
    person, checkup = checked_in(world, client)
    world.run(until=world.clock.now() + timedelta(days=4, hours=1))  # it closes as missed
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.missed.value
    person.says("no")
    with world.factory() as session:
        answer = session.scalars(select(Answer)).one()
    assert answer.checkup_id == checkup.id


def test_a_partly_answered_checkup_counts_as_contact_not_a_miss(world: World, client: TestClient) -> None:
    person, checkup = checked_in(world, client)
    person.says("no", "4")
    world.run(until=world.clock.now() + timedelta(days=5))
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value
        assert session.scalars(select(Checkup.seq).where(Checkup.status == "pending")).one() == 2
    kinds = [row.kind for row in world.sends()]
    assert "reminder" not in kinds  # no reminder while they were answering


def test_emoji_and_unicode_do_not_break_anything(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("👍🏽", "٣", "\u200b7\u200b", "🙂 no thanks")
    assert datetime.now(UTC)  # reached the end without an error


@pytest.mark.parametrize(
    "text",
    [
        "CALL",
        "call me",
        "Can you call me?",
        "can someone call me, not doing great",
        "I need to talk to someone",
        "please ring me tomorrow",
    ],
)
def test_asking_for_a_call_puts_a_person_on_it(world: World, client: TestClient, text: str) -> None:
    person, _ = checked_in(world, client)
    person.says(text)
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "high"
    assert "Asked for a call" in flag.reasons[0]["reason"]
    assert person.last_sent()[0] == "question"  # no "sorry, we didn't catch that"


def test_a_flag_steps_up_to_weekly_checkups_for_a_while(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client, anchor_date=(world.clock.now() - timedelta(weeks=12)).date())
    # In the fortnightly phase: the next protocol check-up is two weeks away.
    with world.factory() as session:
        current = session.scalars(select(Checkup).where(Checkup.status == "awaiting")).one()
    assert current.phase == "fortnightly"
    person.says("yes", "5", "5", "no")  # any use: flagged, and stepped up
    with world.factory() as session:
        following = session.scalars(select(Checkup).where(Checkup.status == "pending")).one()
    assert following.phase == "step_up"
    gap = following.due_at - world.clock.now()
    assert timedelta(days=6) < gap < timedelta(days=8)


def test_two_clear_checkups_end_the_step_up(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client, anchor_date=(world.clock.now() - timedelta(weeks=12)).date())
    person.says("yes", "5", "5", "no")  # flagged: weekly step-up
    with world.factory() as session:
        assert session.scalars(select(Checkup).where(Checkup.status == "pending")).one().phase == "step_up"
    for _ in range(2):  # the next two check-ups, whichever comes first each week, are clear
        with world.factory() as session:
            nxt = session.scalars(select(Checkup).where(Checkup.status == "pending")).one()
        world.clock.set(nxt.due_at + timedelta(minutes=1))
        world.ticker().tick()
        person.says("no", "2", "8", "no")
    with world.factory() as session:
        enrolment = session.scalars(select(Enrolment)).one()
        following = session.scalars(select(Checkup).where(Checkup.status == "pending")).one()
    assert enrolment.step_up_until is None
    assert following.phase != "step_up"  # back on the protocol's own schedule


def test_the_history_of_an_earlier_check_up_takes_its_previous_answers_from_before_it(
    world: World, client: TestClient
) -> None:
    """Ending a step-up re-runs the rules on earlier check-ups: their "previous" answers are the ones given
    before them, never a later check-up's (a later "urges 3" must not hide an earlier rise to 6)."""
    person, first = checked_in(world, client)
    person.says("no", "2", "8", "no")
    for urges in ("6", "3"):
        with world.factory() as session:
            nxt = session.scalars(select(Checkup).where(Checkup.status == "pending")).one()
        world.clock.set(nxt.due_at + timedelta(minutes=1))
        world.ticker().tick()
        person.says("no", urges, "8", "no")
    with world.factory() as session:
        enrolment = session.scalars(select(Enrolment)).one()
        answered = list(session.scalars(select(Checkup).where(Checkup.status == "answered").order_by(Checkup.seq)))
        assert [c.id for c in answered][:1] == [first.id]
        middle = conversation.history(session, enrolment, answered[1], world.clock.now())
        last = conversation.history(session, enrolment, answered[2], world.clock.now())
    assert (middle.answers["urges"], middle.previous["urges"]) == (6, 2)
    assert (last.answers["urges"], last.previous["urges"]) == (3, 6)


def test_a_half_answered_check_up_does_not_count_towards_ending_the_step_up(world: World, client: TestClient) -> None:
    """Two clear check-ups end the step-up: one where they answered the first question and stopped says
    nothing about their urges or confidence, so it is not one of them."""
    person, _ = checked_in(world, client, anchor_date=(world.clock.now() - timedelta(weeks=12)).date())
    person.says("yes", "5", "5", "no")  # flagged: weekly step-up
    for answers in (["no"], ["no", "2", "8", "no"]):  # the first half answered, then a clear one
        while True:  # the half-answered one closes on time; the next is planned then
            with world.factory() as session:
                nxt = session.scalars(select(Checkup).where(Checkup.status == "pending")).one_or_none()
            if nxt is not None:
                break
            world.run(until=world.clock.now() + timedelta(days=1))
        world.clock.set(nxt.due_at + timedelta(minutes=1))
        world.ticker().tick()
        person.says(*answers)
    with world.factory() as session:
        closed = list(session.scalars(select(Checkup).where(Checkup.status == "answered").order_by(Checkup.seq)))
        enrolment = session.scalars(select(Enrolment)).one()
    assert len(closed) == 3  # the half-answered one closed on time, as contact
    assert enrolment.step_up_until is not None


def test_a_message_between_check_ins_is_read_by_a_person(world: World, client: TestClient) -> None:
    person, checkup = checked_in(world, client)
    person.says("No", "2", "9", "N")  # a clean check-up, closed with thanks
    assert open_flag(world) is None
    world.clock.advance(timedelta(days=2))
    sent_before = len(world.sends())
    person.says("Rough few days. Not sure I can keep this up")
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "medium"
    assert flag.due_by == world.clock.now() + timedelta(hours=72)
    [reason] = flag.reasons
    assert reason["reason"] == conversation.MESSAGE_REASON
    assert reason["source"] == "message"
    assert reason["inbound_id"]
    assert len(world.sends()) == sent_before  # no automatic reply: a person answers it
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value
        assert session.scalars(select(Answer)).all().__len__() == 4  # not taken as an answer


@pytest.mark.parametrize("text", ["Thanks!", "ok thank you 👍", "cheers x", "👍", "Thank you so much"])
def test_a_thank_you_after_the_check_in_raises_nothing(world: World, client: TestClient, text: str) -> None:
    person, _ = checked_in(world, client)
    person.says("No", "2", "9", "N", text)
    assert open_flag(world) is None


def test_a_message_before_the_first_check_in_is_read_by_a_person(world: World, client: TestClient) -> None:
    world.enrol(phone=PHONE)  # nothing sent yet
    Person(world, client).says("is this the number from the clinic? things are hard again")
    flag = open_flag(world)
    assert flag is not None
    assert flag.reasons[0]["source"] == "message"


def test_a_message_adds_to_an_open_flag_without_lowering_it(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("yes")  # used: high, 24 h
    world.clock.advance(timedelta(hours=1))
    person.says("2", "9", "N", "sorry about that, bad weekend")
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "high"
    assert [r["source"] for r in flag.reasons][-1] == "message"


def test_every_message_between_check_ins_is_on_the_flag(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("No", "2", "9", "N", "Rough few days")
    world.clock.advance(timedelta(days=1))
    person.says("Actually it got worse")
    flag = open_flag(world)
    assert flag is not None
    assert [r["source"] for r in flag.reasons] == ["message", "message"]
    assert len({r["inbound_id"] for r in flag.reasons}) == 2
    assert flag.updated_at == world.clock.now()


def test_an_answer_still_unreadable_after_asking_again_is_read_by_a_person(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("Rough few days. Not sure I can keep this up")
    assert person.last_sent()[0] == "clarify"
    person.says("everything is a lot right now honestly")
    assert person.last_sent()[0] == "question"  # the conversation moves on
    flag = open_flag(world)
    assert flag is not None
    assert flag.severity == "medium"
    assert flag.reasons[0]["reason"] == conversation.UNREADABLE_REASON


def test_no_call_for_a_message_after_stop_or_a_withdrawal(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("STOP")
    person.says("I said stop texting me, leave me alone")
    assert open_flag(world) is None
    other = world.enrol("c-2", phone="+447700900778")
    enrolment_ops.withdraw(world.ctx, world.factory, other.enrolment.id, "test", "moved away")
    form = {"MessageSid": "SM" + "9" * 30, "From": "+447700900778", "To": "+15005550006", "Body": "who is this?"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
    assert client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
    assert open_flag(world) is None


@pytest.mark.parametrize(
    "text",
    [
        "no, don't call me",
        "please don’t ring me",
        "I missed your call",
        "I asked you not to call me",
        "can you not call me, my partner doesnt know",
        "people call me a failure",
    ],
)
def test_not_asking_for_a_call_is_not_taken_as_one(world: World, client: TestClient, text: str) -> None:
    person, _ = checked_in(world, client)
    person.says(text)
    flag = open_flag(world)
    assert flag is None or all(r["source"] != "call-request" for r in flag.reasons)


def _answers(world: World) -> dict[str, object]:
    with world.factory() as session:
        return {a.question_id: a.value_text or a.value_int for a in session.scalars(select(Answer)) if a.parsed}


def test_an_answer_and_a_call_request_in_one_message_both_count(world: World, client: TestClient) -> None:
    # In the overdose window, "yes" brings the same-day deadline; the request for a call adds its reason.
    person, _ = checked_in(world, client, overdose_risk="detox")
    person.says("yes used last night. please call me")
    flag = open_flag(world)
    assert flag is not None
    assert flag.due_by == world.clock.now() + timedelta(hours=8)
    assert "call-request" in [r["source"] for r in flag.reasons]
    assert _answers(world) == {"any_use": "yes"}
    assert person.last_sent()[0] == "question"  # the check-in goes on
    person.says("7, call me")  # urges 7
    assert _answers(world)["urges"] == 7


def test_no_call_me_answers_no_and_asks_for_a_call(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("N call me")
    assert _answers(world) == {"any_use": "no"}
    flag = open_flag(world)
    assert flag is not None
    assert [r["source"] for r in flag.reasons] == ["call-request"]


def test_no_i_dont_want_a_call_is_an_answer_and_no_call(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("no", "2", "9", "no, I don't really want a call")
    assert _answers(world)["want_call"] == "no"
    assert open_flag(world) is None


def test_yes_please_call_me_answers_would_you_like_a_call(world: World, client: TestClient) -> None:
    person, checkup = checked_in(world, client)
    person.says("no", "2", "9", "yes please call me")
    assert _answers(world)["want_call"] == "yes"
    assert person.last_sent()[0] == "closing"
    with world.factory() as session:
        assert session.get(Checkup, checkup.id).status == CheckupStatus.answered.value


@pytest.mark.parametrize(
    "text",
    ["I can't stop using, call me", "no but I don't feel great, please call me", "I never wanted this, please call me"],
)
def test_a_call_request_beside_a_negation_is_still_one(world: World, client: TestClient, text: str) -> None:
    person, _ = checked_in(world, client)
    person.says(text)
    flag = open_flag(world)
    assert flag is not None
    assert any(r["source"] == "call-request" for r in flag.reasons)
    assert person.last_sent()[0] != "clarify"


def test_asking_for_a_call_mid_check_in_brings_no_reminder(world: World, client: TestClient) -> None:
    person, _ = checked_in(world, client)
    person.says("call me")  # before any answer: nothing else has stopped the reminder
    world.run(until=world.clock.now() + timedelta(days=5))
    assert "reminder" not in [row.kind for row in world.sends()]
