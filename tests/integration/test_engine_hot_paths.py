"""The cheaper per-message paths give what the plain ones gave: the risk history worked out from the answers
a reply read and wrote, the check-up closed by a prebuilt UPDATE, the opt-out read with the check-up."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from checkups.engine import conversation
from checkups.engine.answers import awaiting_checkup, close_answered
from checkups.engine.dispatch import claim_due
from checkups.engine.inbound import process_inbound, store_inbound
from checkups.models import Checkup, CheckupStatus, Enrolment, PhoneOptOut

from .conftest import World

PHONE = "+447700900123"
REPLIES = ["yes", "no", "0", "2", "9", "7", "1", "10", "not sure what you mean", "Y", "n"]


def test_history_from_a_replys_own_answers_is_the_history_read_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every time a reply works the history out from what it read and wrote, reading it again from the
    store gives the same: across many check-ups, clarifications, unparsed answers, flags and step-ups."""
    plain = conversation.history
    compared: list[Any] = []

    def checked(session: Any, enrolment: Any, checkup: Any, now: Any, missed_in_a_row: int = 0, rows: Any = None):
        worked_out = plain(session, enrolment, checkup, now, missed_in_a_row, rows)
        if rows is not None:
            assert worked_out == plain(session, enrolment, checkup, now, missed_in_a_row)
            compared.append(checkup.id if checkup is not None else None)
        return worked_out

    monkeypatch.setattr(conversation, "history", checked)
    result = world.enrol(phone=PHONE)
    rng = random.Random(7)
    sid = 0
    for _ in range(24):
        with world.factory() as session:
            due = session.scalar(
                select(Checkup.due_at)
                .join(Enrolment)
                .where(Enrolment.id == result.enrolment.id, Checkup.status == CheckupStatus.pending.value)
            )
        # To the next check-up's question, or (one still open) a couple of days on.
        now = world.clock.now()
        world.run(until=max(due + timedelta(minutes=1), now) if due is not None else now + timedelta(days=2))
        for _ in range(rng.randint(1, 7)):
            sid += 1
            world.clock.advance(timedelta(minutes=3))
            with world.factory() as session, session.begin():
                stored = store_inbound(world.ctx, session, f"SMHOT{sid:020d}", PHONE, rng.choice(REPLIES))
            process_inbound(world.ctx, world.factory, stored.inbound_id)
    assert len(compared) >= 20
    assert len(set(compared)) >= 5


def test_closing_an_answered_checkup_updates_the_one_in_the_session(world: World) -> None:
    result = world.enrol(phone=PHONE)
    world.run(until=result.first_checkup.due_at + timedelta(minutes=1))
    with world.factory() as session, session.begin():
        checkup = awaiting_checkup(session, result.enrolment.participant_id)
        assert checkup is not None
        now = world.clock.now()
        assert close_answered(world.ctx, session, checkup, now)
        assert checkup.status == CheckupStatus.answered.value
        assert checkup.closed_at == now
        assert checkup.action is None
        assert checkup.action_at is None
        assert checkup not in session.dirty
        assert not close_answered(world.ctx, session, checkup, now)  # closed already: nothing more
    with world.factory() as session:
        stored = session.get(Checkup, result.first_checkup.id)
        assert stored is not None
        assert (stored.status, stored.action, stored.closed_at) == (CheckupStatus.answered.value, None, now)


def test_a_number_opted_out_under_an_active_enrolment_gets_nothing(world: World) -> None:
    """The opt-out is read with the check-up now; a number opted out (say, by another service's STOP) while
    this enrolment still runs is still never sent to."""
    result = world.enrol(phone=PHONE)
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    with world.factory() as session, session.begin():
        now = world.clock.now()
        claims = claim_due(session, now, 10, now + timedelta(minutes=5))
        session.add(PhoneOptOut(phone_hash=world.ctx.vault.lookup_hash(PHONE), opted_out_at=now, source="test"))
    assert [c.checkup_id for c in claims] == [result.first_checkup.id]
    assert world.perform(claims[0]).outcome == "cancelled"
    assert world.sends() == []
    with world.factory() as session:
        checkup = session.get(Checkup, result.first_checkup.id)
        assert checkup is not None
        assert (checkup.status, checkup.note) == (CheckupStatus.cancelled.value, "number opted out")
