"""Handing a claimed flag over to a colleague: only from the holder, only to someone of the flag's
organisation who works the queue, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from checkups.engine import flags as flag_ops
from checkups.models import AuditEvent, Flag, Organisation, User

from .conftest import World


def add_staff(world: World, role: str, org: str | None = "org-a", email: str | None = None) -> User:
    """An account without a usable password (nobody signs in here: no slow password hashing)."""
    number = world.count(User)
    with world.factory() as session, session.begin():
        org_id = session.scalars(select(Organisation.id).where(Organisation.slug == org)).first() if org else None
        user = User(
            organisation_id=org_id,
            email=email or f"{role}-{number}@example.org",
            password_hash="!",
            role=role,
            active=True,
            created_at=world.clock.now(),
        )
        session.add(user)
        session.flush()
        session.expunge(user)
    return user


def flagged(world: World) -> int:
    participant_id = world.enrol(client_ref="c-1", phone="+447700900451").enrolment.participant_id
    now = world.clock.now()
    with world.factory() as session, session.begin():
        return flag_ops.raise_flag(
            session, participant_id, "high", "said they used", now + timedelta(hours=24), now, "rule:any_use"
        ).id


def test_the_holder_hands_a_flag_to_a_colleague_who_then_holds_it(world: World) -> None:
    flag_id = flagged(world)
    sam, alex = add_staff(world, "volunteer"), add_staff(world, "lead")
    start = world.clock.now()
    with world.factory() as session, session.begin():
        flag_ops.claim(session, flag_id, sam.id, start)
    later = start + timedelta(minutes=90)
    with world.factory() as session, session.begin():
        flag_ops.hand_over(session, flag_id, sam.id, alex.id, later)
    with world.factory() as session:
        flag = session.get(Flag, flag_id)
        assert (flag.state, flag.claimed_by, flag.claimed_at, flag.last_activity_at) == (
            "claimed",
            alex.id,
            later,
            later,
        )
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "flag.handed_over")).all()
    assert event.actor == f"user:{sam.id}"
    assert (event.subject_type, event.subject_id) == ("flag", flag_id)
    assert event.detail == {"participant_id": flag.participant_id, "to_user": alex.id}
    with world.factory() as session, session.begin(), pytest.raises(flag_ops.FlagError, match="not claimed by you"):
        flag_ops.hand_over(session, flag_id, sam.id, alex.id, later)


@pytest.mark.parametrize("who", ["other organisation", "enroller", "inactive", "self", "nobody"])
def test_a_flag_is_not_handed_to_someone_who_cannot_take_it(world: World, who: str) -> None:
    flag_id = flagged(world)
    sam = add_staff(world, "volunteer")
    target = {
        "other organisation": lambda: add_staff(world, "volunteer", "org-b").id,
        "enroller": lambda: add_staff(world, "enroller").id,
        "inactive": lambda: add_staff(world, "volunteer").id,
        "self": lambda: sam.id,
        "nobody": lambda: 999_999,
    }[who]()
    if who == "inactive":
        with world.factory() as session, session.begin():
            session.get(User, target).active = False
    now = world.clock.now()
    with world.factory() as session, session.begin():
        flag_ops.claim(session, flag_id, sam.id, now)
    with world.factory() as session, session.begin(), pytest.raises(flag_ops.FlagError):
        flag_ops.hand_over(session, flag_id, sam.id, target, now)
    with world.factory() as session:
        assert session.get(Flag, flag_id).claimed_by == sam.id
    assert world.count(AuditEvent, AuditEvent.action == "flag.handed_over") == 0


def test_candidates_are_active_volunteers_and_leads_of_the_organisation(world: World) -> None:
    sam = add_staff(world, "volunteer", email="sam@example.org")
    add_staff(world, "lead", email="lee@example.org")
    add_staff(world, "volunteer", email="vic@example.org")
    add_staff(world, "enroller", email="eno@example.org")
    add_staff(world, "volunteer", "org-b", email="bob@example.org")
    add_staff(world, "admin", None, email="adm@example.org")
    gone = add_staff(world, "volunteer", email="gone@example.org")
    with world.factory() as session, session.begin():
        session.get(User, gone.id).active = False
    with world.factory() as session:
        emails = [u.email for u in flag_ops.hand_over_candidates(session, sam.organisation_id, sam.id)]
    assert emails == ["lee@example.org", "vic@example.org"]
