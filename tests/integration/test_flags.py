"""The flag lifecycle on a real store: one open flag a person, claims that cannot collide, attempts,
outcomes, escalation of missed deadlines, and claims left idle going back to the queue."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from checkups.engine import flags as flag_ops
from checkups.models import AuditEvent, Flag, FlagAttempt, User

from .conftest import World, sqlite_plan


def volunteer(world: World, email: str) -> int:
    with world.factory() as session, session.begin():
        user = User(
            organisation_id=1,
            email=email,
            password_hash="x",
            role="volunteer",
            active=True,
            created_at=world.clock.now(),
        )
        session.add(user)
        session.flush()
        return user.id


def flagged(
    world: World, severity: str = "high", hours: int = 24, ref: str = "c-1", phone: str = "+447700900123"
) -> int:
    participant_id = world.enrol(client_ref=ref, phone=phone).enrolment.participant_id
    now = world.clock.now()
    with world.factory() as session, session.begin():
        return flag_ops.raise_flag(
            session, participant_id, severity, "said they used", now + timedelta(hours=hours), now, "rule:any_use"
        ).id


def test_two_volunteers_cannot_claim_the_same_flag(world: World) -> None:
    flag_id = flagged(world)
    users = [volunteer(world, f"v{i}@example.org") for i in range(4)]
    barrier = threading.Barrier(len(users))
    won: list[int] = []
    refused: list[int] = []

    def try_claim(user_id: int) -> None:
        barrier.wait()
        try:
            with world.factory() as session, session.begin():
                flag_ops.claim(session, flag_id, user_id, world.clock.now())
            won.append(user_id)
        except flag_ops.FlagError:
            refused.append(user_id)

    threads = [threading.Thread(target=try_claim, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(won) == 1
    assert len(refused) == 3


def test_attempts_and_outcome_need_the_claim_and_are_audited(world: World) -> None:
    flag_id = flagged(world)
    sam, alex = volunteer(world, "sam@example.org"), volunteer(world, "alex@example.org")
    now = world.clock.now()
    with world.factory() as session, session.begin(), pytest.raises(flag_ops.FlagError, match="claim it first"):
        flag_ops.log_attempt(session, flag_id, sam, "no_answer", None, now)
    with world.factory() as session, session.begin():
        flag_ops.claim(session, flag_id, sam, now)
        flag_ops.log_attempt(session, flag_id, sam, "no_answer", "rang twice", now)
        flag_ops.log_attempt(session, flag_id, sam, "reached", "talked for 20 minutes", now + timedelta(hours=1))
    with world.factory() as session, session.begin(), pytest.raises(flag_ops.FlagError, match="not claimed by you"):
        flag_ops.resolve(session, flag_id, alex, "no_action_needed", None, now)
    with world.factory() as session, session.begin(), pytest.raises(flag_ops.FlagError, match="outcome must be"):
        flag_ops.resolve(session, flag_id, sam, "fine", None, now)
    with world.factory() as session, session.begin():
        flag_ops.resolve(session, flag_id, sam, "re_engaged_treatment", "booked with key worker", now)
    with world.factory() as session:
        flag = session.get(Flag, flag_id)
        assert flag.state == "resolved"
        assert flag.outcome == "re_engaged_treatment"
        assert session.scalars(select(FlagAttempt.result).order_by(FlagAttempt.id)).all() == ["no_answer", "reached"]
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "flag")).all()
    assert actions == ["flag.opened", "flag.claimed", "flag.attempt", "flag.attempt", "flag.resolved"]


def test_a_new_reason_after_resolution_opens_a_new_flag(world: World) -> None:
    first = flagged(world)
    user = volunteer(world, "sam@example.org")
    now = world.clock.now()
    with world.factory() as session, session.begin():
        flag_ops.claim(session, first, user, now)
        flag_ops.resolve(session, first, user, "no_action_needed", None, now)
        participant_id = session.get(Flag, first).participant_id
        second = flag_ops.raise_flag(
            session, participant_id, "medium", "missed two", now + timedelta(hours=72), now, "rule:two_missed"
        )
    assert second.id != first
    assert world.count(Flag) == 2


def test_release_and_hand_over(world: World) -> None:
    flag_id = flagged(world)
    sam, alex = volunteer(world, "sam@example.org"), volunteer(world, "alex@example.org")
    now = world.clock.now()
    with world.factory() as session, session.begin():
        flag_ops.claim(session, flag_id, sam, now)
        flag_ops.release(session, flag_id, sam, now, to_user=alex)
    with world.factory() as session:
        assert session.get(Flag, flag_id).claimed_by == alex
    with world.factory() as session, session.begin():
        flag_ops.release(session, flag_id, alex, now)
    with world.factory() as session:
        assert session.get(Flag, flag_id).state == "open"


def test_overdue_flags_are_escalated_once_by_the_tick(world: World) -> None:
    flag_id = flagged(world, severity="medium", hours=72)
    world.clock.advance(timedelta(hours=73))
    assert world.ticker().tick().escalated == 1
    assert world.ticker().tick().escalated == 0
    with world.factory() as session:
        flag = session.get(Flag, flag_id)
        assert flag.severity == "high"
        assert flag.escalated_at is not None


def test_a_claim_left_idle_returns_to_the_queue(world: World) -> None:
    flag_id = flagged(world, hours=240)
    user = volunteer(world, "sam@example.org")
    with world.factory() as session, session.begin():
        flag_ops.claim(session, flag_id, user, world.clock.now())
    world.clock.advance(timedelta(hours=1))
    assert world.ticker().tick().returned == 0
    world.clock.advance(timedelta(hours=2))
    assert world.ticker().tick().returned == 1
    with world.factory() as session:
        flag = session.get(Flag, flag_id)
        assert flag.state == "open"
        assert flag.claimed_by is None


def test_queue_is_most_severe_first_then_earliest_deadline(world: World) -> None:
    medium = flagged(world, "medium", 10, "a", "+447700900001")
    high_late = flagged(world, "high", 20, "b", "+447700900002")
    high_soon = flagged(world, "high", 5, "c", "+447700900003")
    urgent = flagged(world, "urgent", 1, "d", "+447700900004")
    with world.factory() as session:
        assert [f.id for f in flag_ops.queue(session)] == [urgent, high_soon, high_late, medium]
        assert [f.id for f in flag_ops.queue(session, severity="high")] == [high_soon, high_late]


def test_the_tick_reads_only_the_unescalated_flags_index_on_sqlite(tmp_path, sqlite_template) -> None:
    """Every tick asks for open flags past their deadline: through their own partial index ix_flags_deadline.
    Before 0005 it read every open flag at every tick (4 ms a tick at 3,000 open flags)."""
    from datetime import UTC, datetime

    plan = sqlite_plan(
        sqlite_template,
        tmp_path,
        lambda session: flag_ops.escalate_overdue(session, datetime(2026, 1, 5, tzinfo=UTC)),
        "escalated_at IS NULL",
    )
    assert "USING INDEX ix_flags_deadline" in plan, plan


def test_a_persons_open_flag_is_found_through_its_partial_index_on_sqlite(tmp_path, sqlite_template) -> None:
    """Every risk reason looks for the person's open flag first: through uq_flags_open_participant, the only
    index on participant_id, never by reading the whole flags table, history included."""
    plan = sqlite_plan(
        sqlite_template,
        tmp_path,
        lambda session: session.execute(flag_ops._OPEN_FLAG, {"participant_id": 1}).all(),
        "FROM flags",
    )
    assert "USING INDEX uq_flags_open_participant" in plan, plan
    assert "SCAN flags" not in plan, plan
