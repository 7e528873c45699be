"""Checking an enrolment without storing it, and changing a participant's phone or send window (both stores)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from checkups.engine.enrolment import (
    EnrolmentRequest,
    assess,
    change_phone,
    change_window,
    pause,
    withdraw,
)
from checkups.engine.errors import EnrolmentConflict, InvalidEnrolment, InvalidTransition, NotFound
from checkups.models import AuditEvent, Checkup, Enrolment, Participant, PhoneOptOut
from checkups.protocols.schedule import in_window

from .conftest import World

LONDON = ZoneInfo("Europe/London")


def request(**overrides: object) -> EnrolmentRequest:
    fields: dict[str, object] = {
        "organisation": "org-a",
        "client_ref": "c-1",
        "phone": "+447700900123",
        "timezone": "Europe/London",
        "anchor_date": date(2026, 1, 5),
        "protocol": "standard-5y",
        "consent_by": "worker 1",
        "consent_method": "verbal",
        "consent_channels": ("sms", "voice"),
    }
    fields.update(overrides)
    return EnrolmentRequest(**fields)  # type: ignore[arg-type]


def assessed(world: World, **overrides: object):
    with world.factory() as session:
        return assess(world.ctx, session, request(**overrides))


def test_assess_says_what_enrol_would_do_and_stores_nothing(world: World) -> None:
    assert assessed(world).outcome == "new"
    assert world.count(Participant) == 0
    bad = assessed(world, phone="12", timezone="Nowhere/Town", protocol="nope")
    assert bad.outcome == "invalid"
    with pytest.raises(InvalidEnrolment) as caught:
        world.enrol(phone="12", timezone="Nowhere/Town", protocol="nope")
    assert bad.errors == caught.value.errors
    world.enrol()
    already = assessed(world)
    assert already.outcome == "already_enrolled"
    assert already.good
    conflict = assessed(world, protocol="tcc-12m", anchor_date=date(2026, 1, 2))
    with pytest.raises(EnrolmentConflict) as refused:
        world.enrol(protocol="tcc-12m", anchor_date=date(2026, 1, 2))
    assert conflict.outcome == "conflict"
    assert conflict.reason == refused.value.reason
    assert not conflict.good
    assert world.count(Enrolment) == 1


def test_assess_refuses_a_number_that_opted_out(world: World) -> None:
    with world.factory() as session, session.begin():
        session.add(
            PhoneOptOut(
                phone_hash=world.ctx.vault.lookup_hash("+447700900123"), opted_out_at=world.clock.now(), source="sms"
            )
        )
    result = assessed(world)
    assert result.outcome == "invalid"
    assert "opted out" in result.errors["phone"]


def test_change_phone_stores_the_new_number_encrypted_and_audits_without_it(world: World) -> None:
    pid = world.enrol().enrolment.participant_id
    change_phone(world.ctx, world.factory, pid, "07700 900456", "user:1")
    with world.factory() as session:
        participant = session.get(Participant, pid)
        assert participant is not None
        assert world.ctx.vault.decrypt(participant.phone_cipher) == "+447700900456"
        assert participant.phone_hash == world.ctx.vault.lookup_hash("+447700900456")
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "participant.phone_changed")).all()
    assert event.actor == "user:1"
    assert "900456" not in str(event.detail)
    # the same number again changes nothing and writes nothing
    change_phone(world.ctx, world.factory, pid, "+447700900456", "user:1")
    assert world.count(AuditEvent, AuditEvent.action == "participant.phone_changed") == 1


def test_change_phone_refuses_bad_and_opted_out_numbers(world: World) -> None:
    pid = world.enrol().enrolment.participant_id
    with pytest.raises(InvalidEnrolment) as caught:
        change_phone(world.ctx, world.factory, pid, "12", "user:1")
    assert set(caught.value.errors) == {"phone"}
    with world.factory() as session, session.begin():
        session.add(
            PhoneOptOut(
                phone_hash=world.ctx.vault.lookup_hash("+447700900777"), opted_out_at=world.clock.now(), source="sms"
            )
        )
    with pytest.raises(InvalidEnrolment) as caught:
        change_phone(world.ctx, world.factory, pid, "+447700900777", "user:1")
    assert "opted out" in caught.value.errors["phone"]
    with pytest.raises(NotFound):
        change_phone(world.ctx, world.factory, 999_999, "+447700900456", "user:1")
    with world.factory() as session:
        participant = session.get(Participant, pid)
        assert world.ctx.vault.decrypt(participant.phone_cipher) == "+447700900123"  # type: ignore[union-attr]


def test_change_window_moves_the_next_checkup_into_it_and_sends_only_there(world: World) -> None:
    result = world.enrol()
    first = result.first_checkup
    assert first is not None
    assert first.due_at.astimezone(LONDON).date() == date(2026, 1, 12)  # a Monday, 10:00-19:00
    change_window(world.ctx, world.factory, result.enrolment.id, "user:1", time(15, 0), time(17, 0), ("tue", "thu"))
    with world.factory() as session:
        checkup = session.scalars(select(Checkup)).one()
        enrolment = session.get(Enrolment, result.enrolment.id)
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "enrolment.window_changed")).all()
    assert enrolment is not None
    assert (enrolment.window_start, enrolment.window_end, enrolment.window_days) == (time(15), time(17), "tue,thu")
    local = checkup.action_at.astimezone(LONDON)  # type: ignore[union-attr]
    assert local.date() == date(2026, 1, 13)  # Monday is no longer a day: the Tuesday after
    assert time(15) <= local.time() < time(17)
    assert checkup.due_at == checkup.action_at
    assert event.detail["before"] == {
        "start": "10:00",
        "end": "19:00",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
    }
    assert event.detail["after"] == {"start": "15:00", "end": "17:00", "days": ["tue", "thu"]}
    assert event.detail["moved_checkup"] == checkup.id

    world.run(datetime(2026, 1, 14, tzinfo=UTC))
    sends = world.sends()
    assert sends
    window = enrolment_window_of(enrolment)
    assert all(in_window(s.sent_at, LONDON, window) for s in sends)


def enrolment_window_of(enrolment: Enrolment):
    from checkups.engine.planner import enrolment_window

    return enrolment_window(enrolment)


def test_a_window_change_never_drops_a_checkup_whose_new_time_has_passed(world: World) -> None:
    result = world.enrol()
    first = result.first_checkup
    assert first is not None
    # Monday 12 January, 09:00 London: the check-up is at 10:xx, before the new window would have placed it
    # at 08:xx, which is past: it goes out at the next opening instead.
    world.clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
    change_window(world.ctx, world.factory, result.enrolment.id, "user:1", time(7, 0), time(9, 0))
    with world.factory() as session:
        checkup = session.scalars(select(Checkup)).one()
    assert checkup.status == "pending"
    local = checkup.action_at.astimezone(LONDON)  # type: ignore[union-attr]
    assert local.date() == date(2026, 1, 13)
    assert time(7) <= local.time() < time(9)


def test_change_window_refuses_a_bad_window_or_an_ended_enrolment(world: World) -> None:
    result = world.enrol()
    eid = result.enrolment.id
    with pytest.raises(InvalidEnrolment) as caught:
        change_window(world.ctx, world.factory, eid, "user:1", time(18, 0), time(9, 0))
    assert "must be after start 18:00" in caught.value.errors["window"]
    with pytest.raises(InvalidEnrolment):
        change_window(world.ctx, world.factory, eid, "user:1", days=("sun", "sun"))
    # unchanged: nothing written
    change_window(world.ctx, world.factory, eid, "user:1", time(10, 0), time(19, 0))
    assert world.count(AuditEvent, AuditEvent.action == "enrolment.window_changed") == 0
    # paused: the window changes; nothing is open to move
    pause(world.ctx, world.factory, eid, "user:1")
    change_window(world.ctx, world.factory, eid, "user:1", end=time(20, 0))
    withdraw(world.ctx, world.factory, eid, "user:1", "moved")
    with pytest.raises(InvalidTransition):
        change_window(world.ctx, world.factory, eid, "user:1", end=time(21, 0))
    with world.factory() as session:
        assert session.get(Enrolment, eid).window_end == time(20, 0)  # type: ignore[union-attr]
    world.clock.advance(timedelta(seconds=1))
