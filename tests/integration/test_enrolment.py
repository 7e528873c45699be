"""Enrolment on a real store (SQLite and PostgreSQL): idempotent, validated, encrypted, audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from checkups.engine import enrolment as enrolment_ops
from checkups.engine.errors import EnrolmentConflict, InvalidEnrolment, InvalidTransition
from checkups.engine.planner import planned_checkups
from checkups.models import (
    AuditEvent,
    Checkup,
    CheckupStatus,
    Enrolment,
    InboundMessage,
    Participant,
    ProtocolVersion,
)

from .conftest import PUBLIC_BASE, TWILIO_TOKEN, World


def test_enrolment_stores_the_next_checkup_only(world: World) -> None:
    result = world.enrol()
    assert result.created
    assert world.count(Checkup) == 1
    first = result.first_checkup
    assert first is not None
    assert first.seq == 1
    assert first.status == CheckupStatus.pending.value
    # standard-5y: weekly, the first a week after discharge (Monday 2026-01-12), in the 10:00-19:00 window
    assert first.due_at.date() == date(2026, 1, 12)
    assert time(10, 0) <= first.due_at.time() < time(19, 0)


def test_same_client_enrolled_twice_gives_back_the_same_enrolment(world: World) -> None:
    first = world.enrol()
    again = world.enrol()
    assert not again.created
    assert again.enrolment.id == first.enrolment.id
    assert world.count(Enrolment) == 1
    assert world.count(Participant) == 1
    assert world.count(Checkup) == 1


def test_conflicting_second_enrolment_is_refused_with_the_reason(world: World) -> None:
    world.enrol()
    with pytest.raises(EnrolmentConflict) as caught:
        world.enrol(anchor_date=date(2025, 12, 1), protocol="tcc-12m")
    assert "protocol" in caught.value.reason
    assert "anchor date" in caught.value.reason
    assert world.count(Enrolment) == 1


def test_same_reference_in_another_organisation_is_another_person(world: World) -> None:
    world.enrol(organisation="org-a")
    other = world.enrol(organisation="org-b", phone="+447700900456")
    assert other.created
    assert world.count(Participant) == 2


def test_every_bad_field_is_reported_and_nothing_is_stored(world: World) -> None:
    with pytest.raises(InvalidEnrolment) as caught:
        world.enrol(
            organisation="nope",
            phone="12",
            timezone="Mars/Base",
            protocol="standard-9y",
            consent_by=" ",
            consent_method="telepathy",
            consent_channels=("fax",),
            overdose_risk="maybe",
        )
    errors = caught.value.errors
    assert set(errors) >= {
        "organisation",
        "phone",
        "timezone",
        "protocol",
        "consent_by",
        "consent_method",
        "consent_channels",
        "overdose_risk",
    }
    assert "unknown time zone" in errors["timezone"]
    assert world.count(Participant) == 0
    assert world.count(Enrolment) == 0


def test_window_and_channel_are_checked(world: World) -> None:
    with pytest.raises(InvalidEnrolment) as caught:
        world.enrol(window_start=time(19, 0), window_end=time(9, 0), channel="voice", consent_channels=("sms",))
    assert "must be after start" in caught.value.errors["window"]
    assert "consent does not cover voice" in caught.value.errors["channel"]


def test_phone_is_normalised_encrypted_and_found_by_hash(world: World) -> None:
    world.enrol(phone="07700 900123")  # national format, region GB
    with world.factory() as session:
        participant = session.scalars(select(Participant)).one()
        assert b"7700900123" not in participant.phone_cipher
        assert world.ctx.vault.decrypt(participant.phone_cipher) == "+447700900123"
        assert participant.phone_hash == world.ctx.vault.lookup_hash("+447700900123")


def test_enrolment_keeps_its_protocol_version(world: World) -> None:
    result = world.enrol()
    with world.factory() as session:
        version = session.get(ProtocolVersion, result.enrolment.protocol_version_id)
        assert version is not None
        assert version.name == "standard-5y"
        assert version.version == world.ctx.protocols.current("standard-5y").version
        assert "weekly" in version.source


def test_late_enrolment_starts_at_the_current_point_of_the_protocol(world: World) -> None:
    # Discharged 20 weeks ago: past the weekly phase, into the fortnightly one. No flood of overdue ones.
    result = world.enrol(anchor_date=world.clock.now().date() - timedelta(weeks=20))
    first = result.first_checkup
    assert first is not None
    assert first.phase == "fortnightly"
    assert first.due_at >= world.clock.now()
    assert world.count(Checkup) == 1


def _london(world: World, when: str) -> datetime:
    """Set the clock to ``when`` (ISO, London wall time in winter = UTC) and return it."""
    instant = datetime.fromisoformat(when).replace(tzinfo=UTC)
    world.clock.set(instant)
    return instant


def test_a_first_checkup_due_earlier_today_goes_at_once_while_the_window_is_open(world: World) -> None:
    # standard-5y: the first check-up a week after discharge, 10:00-19:00 plus the participant's spread.
    # Enrolled at 15:00 on that day, after its time: sent now, not a week later.
    now = _london(world, "2026-01-12T15:00")
    first = world.enrol(anchor_date=date(2026, 1, 5)).first_checkup
    assert first is not None
    assert (first.seq, first.phase) == (1, "weekly")
    assert first.action_at == first.due_at == now
    world.run(now + timedelta(minutes=1))
    assert len(world.sends()) == 1


def test_a_first_checkup_due_earlier_today_waits_for_the_next_window_once_it_has_closed(world: World) -> None:
    _london(world, "2026-01-12T20:30")  # Monday evening: the window closed at 19:00
    result = world.enrol(anchor_date=date(2026, 1, 5))
    first = result.first_checkup
    assert first is not None
    assert first.seq == 1
    # Tuesday, at the time in the window the protocol gave this person on Monday: never at night.
    assert first.action_at == _slot(world, result.enrolment.id, 1) + timedelta(days=1)


def _slot(world: World, enrolment_id: int, seq: int) -> datetime:
    """Where the protocol places check-up ``seq`` of an enrolment (the window plus the person's spread)."""
    with world.factory() as session:
        enrolment = session.get(Enrolment, enrolment_id)
        return next(p.utc for p in planned_checkups(world.ctx, session, enrolment) if p.seq == seq)


def test_late_first_checkups_after_the_window_closed_keep_each_persons_time(world: World) -> None:
    # A CSV of evening enrolments is not a burst at the next opening: each keeps their own spread.
    _london(world, "2026-01-12T20:30")
    times = {
        world.enrol(f"c-{i}", phone=f"+4477009002{i:02d}", anchor_date=date(2026, 1, 5)).first_checkup.action_at
        for i in range(20)
    }
    assert len(times) > 10
    assert all(t.date() == date(2026, 1, 13) and time(10) <= t.time() < time(12) for t in times)


def test_a_saturday_evening_enrolment_waits_for_monday_not_sunday(world: World) -> None:
    _london(world, "2026-01-10T19:30")  # Saturday; standard-5y sends Monday to Saturday
    first = world.enrol(anchor_date=date(2026, 1, 3)).first_checkup
    assert first is not None
    assert first.seq == 1
    assert first.action_at.date() == date(2026, 1, 12)  # Monday, not Sunday
    assert time(10) <= first.action_at.time() < time(12)


def test_a_checkup_due_yesterday_is_not_sent_late(world: World) -> None:
    now = _london(world, "2026-01-13T11:00")  # the first was due yesterday: the schedule goes on from here
    first = world.enrol(anchor_date=date(2026, 1, 5)).first_checkup
    assert first is not None
    assert first.seq == 2
    assert first.due_at.date() == date(2026, 1, 19)
    assert first.due_at > now


def test_a_late_first_checkup_never_runs_into_the_next_one(world: World) -> None:
    # A Monday-only window: the next opening after Monday evening is next Monday, the second one's own day.
    _london(world, "2026-01-12T20:00")
    first = world.enrol(anchor_date=date(2026, 1, 5), window_days=("mon",)).first_checkup
    assert first is not None
    assert first.seq == 2
    assert first.due_at.date() == date(2026, 1, 19)
    assert world.count(Checkup) == 1


def test_a_late_first_checkup_answered_the_same_day_is_followed_by_the_next_one(
    world: World, client: TestClient
) -> None:
    now = _london(world, "2026-01-12T15:00")
    world.enrol(anchor_date=date(2026, 1, 5), phone="+447700900456")
    world.run(now + timedelta(minutes=1))
    for n, text in enumerate(["No", "2", "9", "N"]):
        form = {"MessageSid": f"SM{n:032d}", "From": "+447700900456", "To": "+15005550006", "Body": text}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE + "/twilio/sms", form)
        assert client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
    with world.factory() as session:
        rows = session.execute(select(Checkup.seq, Checkup.status).order_by(Checkup.id)).all()
        state = session.scalars(select(InboundMessage.state)).all()
    assert [tuple(r) for r in rows] == [(1, "answered"), (2, "pending")]
    assert set(state) == {"processed"}


def test_only_the_first_checkup_is_sent_late(world: World) -> None:
    # After the first one closes, a check-up whose time passed is not revived (no two in a day).
    now = _london(world, "2026-01-12T15:00")
    world.enrol(anchor_date=date(2026, 1, 5))
    world.run(now + timedelta(days=6))
    with world.factory() as session:
        seqs = [c.seq for c in session.scalars(select(Checkup).order_by(Checkup.id))]
    assert seqs == sorted(set(seqs))
    assert seqs[:2] == [1, 2]


def test_enrolment_after_the_protocol_has_ended_completes_at_once(world: World) -> None:
    result = world.enrol(anchor_date=date(2020, 1, 1), protocol="tcc-12m")
    assert result.first_checkup is None
    assert result.enrolment.status == "completed"


def test_opted_out_number_cannot_be_enrolled_until_it_opts_in(world: World) -> None:
    phone_hash = world.ctx.vault.lookup_hash("+447700900123")
    with world.factory() as session, session.begin():
        enrolment_ops.opt_out(world.ctx, session, phone_hash, "sms-stop", "test")
    with pytest.raises(InvalidEnrolment, match="opted out"):
        world.enrol()
    with world.factory() as session, session.begin():
        enrolment_ops.opt_in(world.ctx, session, phone_hash, "test")
    assert world.enrol().created


def test_changes_of_state_are_audited_and_checked(world: World) -> None:
    enrolment_id = world.enrol().enrolment.id
    enrolment_ops.pause(world.ctx, world.factory, enrolment_id, "user:1", reason="in hospital")
    with pytest.raises(InvalidTransition):
        enrolment_ops.pause(world.ctx, world.factory, enrolment_id, "user:1")
    enrolment_ops.resume(world.ctx, world.factory, enrolment_id, "user:1")
    enrolment_ops.withdraw(world.ctx, world.factory, enrolment_id, "user:1")
    with pytest.raises(InvalidTransition):
        enrolment_ops.resume(world.ctx, world.factory, enrolment_id, "user:1")
    with world.factory() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["enrolment.created", "enrolment.paused", "enrolment.resumed", "enrolment.withdrawn"]
