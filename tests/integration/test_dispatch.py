"""Dispatch invariants on a real store (SQLite and PostgreSQL): sent once, in the window, never lost."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from checkups.channels.base import ChannelError, Outgoing, Receipt
from checkups.engine import enrolment as enrolment_ops
from checkups.engine.dispatch import Claim
from checkups.engine.planner import enrolment_window
from checkups.models import Checkup, CheckupStatus, ConsoleOutbox, Enrolment, MessageStatus, OutboundMessage
from checkups.protocols.schedule import in_window, zone

from .conftest import World, sqlite_plan


def send_keys(world: World) -> Counter[str]:
    """Provider-side sends per check-up: 'checkup:<id>:send' -> count."""
    return Counter(":".join(row.key.split(":")[:3]) for row in world.sends() if ":send:" in row.key)


def assert_local_in_window(world: World) -> None:
    with world.factory() as session:
        rows = session.execute(
            select(ConsoleOutbox, Enrolment).join(Enrolment, Enrolment.participant_id == ConsoleOutbox.participant_id)
        ).all()
        for sent, enrolment in rows:
            tz = zone(enrolment.participant.timezone)
            window = enrolment_window(enrolment)
            assert in_window(sent.sent_at, tz, window), f"{sent.kind} at {sent.sent_at.astimezone(tz)} outside {window}"


def test_checkup_goes_out_once_at_its_time_then_reminder_fallback_and_missed(world: World) -> None:
    result = world.enrol()
    checkup_id = result.first_checkup.id
    due = result.first_checkup.due_at
    world.run(until=due - timedelta(minutes=1))
    assert world.sends() == []
    world.run(until=due + timedelta(days=5))
    kinds = [row.kind for row in world.sends()]
    # standard-5y: SMS, a reminder after a day, a voice call after two days, missed after four.
    assert kinds == ["question", "reminder", "call"]
    with world.factory() as session:
        checkup = session.get(Checkup, checkup_id)
        assert checkup.status == CheckupStatus.missed.value
        enrolment = session.get(Enrolment, result.enrolment.id)
        assert enrolment.missed_in_a_row == 1
        following = session.scalars(select(Checkup).where(Checkup.seq == 2)).one()
        assert following.status == CheckupStatus.pending.value
    assert_local_in_window(world)


def test_each_checkup_of_a_schedule_goes_out_exactly_once(world: World) -> None:
    world.enrol()
    world.run(until=world.clock.now() + timedelta(weeks=12))
    counts = send_keys(world)
    assert len(counts) == 9  # weeks 1-8, then fortnightly: week 10 (week 12's is at 10:00+, after the end)
    assert set(counts.values()) == {1}
    with world.factory() as session:
        seqs = session.scalars(select(Checkup.seq).order_by(Checkup.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))


def test_late_tick_outside_the_window_defers_to_the_next_opening(world: World) -> None:
    result = world.enrol(window_start=time(10, 0), window_end=time(11, 0))
    due = result.first_checkup.due_at
    # The scheduler was down from just before the check-up until 23:30: it must not send at night.
    world.clock.set(due.replace(hour=23, minute=30))
    world.ticker().tick()
    assert world.sends() == []
    with world.factory() as session:
        checkup = session.get(Checkup, result.first_checkup.id)
        assert checkup.deferrals == 1
        assert checkup.action_at.astimezone(ZoneInfo("Europe/London")).time() == time(10, 0)
    world.run(until=due + timedelta(days=1, hours=2))
    assert len(send_keys(world)) == 1
    assert_local_in_window(world)


def test_two_schedulers_ticking_at_once_send_each_checkup_once(world: World) -> None:
    for i in range(60):
        world.enrol(client_ref=f"c-{i}", phone=f"+447700900{i:03d}")
    with world.factory() as session, session.begin():
        due = session.scalars(select(Checkup.due_at)).all()
    world.clock.set(max(due) + timedelta(minutes=1))
    tickers = [world.ticker(lead=False) for _ in range(4)]  # no leader lock: the claim alone must hold
    barrier = threading.Barrier(len(tickers))
    errors: list[BaseException] = []

    def run(ticker) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                ticker.tick()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in tickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    counts = send_keys(world)
    assert len(counts) == 60
    assert set(counts.values()) == {1}


def test_only_one_scheduler_leads_at_a_time(world: World) -> None:
    first, second = world.ticker(holder="first"), world.ticker(holder="second")
    assert first.tick().leader
    assert not second.tick().leader
    world.clock.advance(timedelta(minutes=5))  # the first one's lease has lapsed: it died
    assert second.tick().leader
    assert not first.tick().leader
    second.resign()
    assert first.tick().leader


def _claim_everything_due(world: World) -> list[Claim]:
    claims: list[Claim] = []
    world.ticker(hand_out=claims.append).tick()
    return claims


@pytest.mark.parametrize("stop", ["pause", "withdraw", "opt_out", "complete"])
def test_stopping_an_enrolment_stops_even_a_claimed_checkup(world: World, stop: str) -> None:
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    claims = _claim_everything_due(world)
    assert len(claims) == 1
    enrolment_id = result.enrolment.id
    if stop == "opt_out":
        with world.factory() as session, session.begin():
            enrolment_ops.opt_out(world.ctx, session, world.ctx.vault.lookup_hash("+447700900123"), "staff", "t")
    else:
        getattr(enrolment_ops, stop)(world.ctx, world.factory, enrolment_id, "user:1")
    assert world.perform(claims[0]).outcome == "stale"
    world.run(until=world.clock.now() + timedelta(weeks=6))
    assert world.sends() == []
    with world.factory() as session:
        assert session.scalars(select(Checkup.status)).all() == [CheckupStatus.cancelled.value]


def test_resume_continues_from_now_without_a_burst(world: World) -> None:
    result = world.enrol()
    enrolment_ops.pause(world.ctx, world.factory, result.enrolment.id, "user:1")
    world.clock.advance(timedelta(weeks=5))
    enrolment_ops.resume(world.ctx, world.factory, result.enrolment.id, "user:1")
    with world.factory() as session:
        pending = session.scalars(select(Checkup).where(Checkup.status == CheckupStatus.pending.value)).one()
    assert pending.due_at >= world.clock.now()
    assert pending.seq == 5  # weeks 1-4 fell due while paused and are not sent; week 5 is later today
    world.run(until=pending.due_at + timedelta(hours=9))
    assert len(send_keys(world)) == 1


def test_long_outage_catches_up_without_stale_checkups_or_night_sends(world: World) -> None:
    for i in range(30):
        world.enrol(
            client_ref=f"c-{i}",
            phone=f"+447700900{i:03d}",
            timezone=["Europe/London", "America/New_York", "Asia/Kolkata"][i % 3],
        )
    with world.factory() as session:
        first_due = min(session.scalars(select(Checkup.due_at)).all())
    # The scheduler is down for a week and comes back at 02:00 UTC.
    world.clock.set((first_due + timedelta(days=7)).replace(hour=2, minute=0))
    world.run(until=world.clock.now() + timedelta(days=3))
    assert_local_in_window(world)
    with world.factory() as session:
        statuses = Counter(session.scalars(select(Checkup.status).where(Checkup.seq == 1)).all())
    # Every first check-up was more than four days (missed_after) late: skipped, never sent.
    assert statuses == {CheckupStatus.skipped.value: 30}
    counts = send_keys(world)
    assert set(counts.values()) <= {1}
    # At most one check-up per person went out in the catch-up: no burst.
    per_person = Counter(row.participant_id for row in world.sends() if row.kind == "question")
    assert max(per_person.values(), default=0) <= 1


def test_expired_claim_is_swept_and_sent_once(world: World) -> None:
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    lost = _claim_everything_due(world)  # handed to a worker that never ran it (Redis lost the task)
    assert len(lost) == 1
    world.clock.advance(world.ctx.tuning.claim_lease + timedelta(seconds=1))
    report = world.ticker().tick()
    assert report.swept == 1
    world.ticker().tick()
    assert world.perform(lost[0]).outcome == "stale"  # the lost task turns up late: it does nothing
    assert list(send_keys(world).values()) == [1]


class _Flaky:
    """A channel wrapper that fails the way providers and networks do."""

    kind = "flaky"

    def __init__(self, inner, mode: str) -> None:
        self.inner = inner
        self.mode = mode
        self.calls = 0

    def send(self, message: Outgoing) -> Receipt:
        self.calls += 1
        if self.mode == "timeout_after_send" and self.calls == 1:
            self.inner.send(message)  # the provider got it; the answer was lost
            raise ChannelError("read timeout", outcome_unknown=True)
        if self.mode == "timeout_before_send" and self.calls == 1:
            raise ChannelError("connect timeout", outcome_unknown=True)
        if self.mode == "crash_after_send" and self.calls == 1:
            self.inner.send(message)
            raise RuntimeError("worker died")  # any exception mid-request: outcome unknown
        if self.mode == "transient" and self.calls <= 2:
            raise ChannelError("queue overflow", code="30003")
        if self.mode == "permanent" and self.calls == 1:
            raise ChannelError("invalid number", code="21211", permanent=True)
        return self.inner.send(message)

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        return self.inner.lookup(message, sent_after)


@pytest.mark.parametrize("mode", ["timeout_after_send", "crash_after_send"])
def test_send_with_unknown_outcome_is_reconciled_not_resent(world: World, mode: str) -> None:
    flaky = _Flaky(world.console, mode)
    world.ctx.channels = {"sms": flaky, "voice": flaky}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.run(until=world.clock.now() + timedelta(hours=2))
    assert list(send_keys(world).values()) == [1]
    with world.factory() as session:
        checkup = session.get(Checkup, result.first_checkup.id)
        assert checkup.status == CheckupStatus.awaiting.value
        messages = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "question")).all()
    assert [m.status for m in messages] == [MessageStatus.sent.value]
    assert messages[0].provider_sid is not None


def test_send_that_never_reached_the_provider_is_sent_once_after_reconciling(world: World) -> None:
    flaky = _Flaky(world.console, "timeout_before_send")
    world.ctx.channels = {"sms": flaky, "voice": flaky}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.run(until=world.clock.now() + timedelta(hours=2))
    assert list(send_keys(world).values()) == [1]
    with world.factory() as session:
        statuses = session.scalars(
            select(OutboundMessage.status).where(OutboundMessage.kind == "question").order_by(OutboundMessage.id)
        ).all()
    assert statuses == [MessageStatus.failed.value, MessageStatus.sent.value]  # looked up: not there; then sent


def test_worker_dying_mid_send_is_recovered_by_the_sweeper(world: World) -> None:
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    claims = _claim_everything_due(world)
    # A worker starts the send and dies after the provider accepted it, before recording anything.
    with world.factory() as session, session.begin():
        session.execute(update(Checkup).values(action_state="running"))
    checkup_id = claims[0].checkup_id
    from checkups.engine.dispatch import _decide  # the first half of perform, as the dead worker ran it

    with world.factory() as session, session.begin():
        prepared = _decide(world.ctx, session, session.get(Checkup, checkup_id), world.clock.now())
    world.console.send(prepared.outgoing)
    world.clock.advance(world.ctx.tuning.send_lease + timedelta(seconds=1))
    world.run(until=world.clock.now() + timedelta(minutes=30))
    assert list(send_keys(world).values()) == [1]
    with world.factory() as session:
        assert session.get(Checkup, checkup_id).status == CheckupStatus.awaiting.value


def test_transient_errors_are_retried_then_sent(world: World) -> None:
    flaky = _Flaky(world.console, "transient")
    world.ctx.channels = {"sms": flaky, "voice": flaky}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.run(until=world.clock.now() + timedelta(minutes=40))
    assert flaky.calls == 3  # failed, retried after 5 minutes, failed, retried after 10, sent
    assert list(send_keys(world).values()) == [1]


def test_permanent_error_fails_the_checkup_and_plans_the_next(world: World) -> None:
    flaky = _Flaky(world.console, "permanent")
    world.ctx.channels = {"sms": flaky, "voice": flaky}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.run(until=world.clock.now() + timedelta(hours=1))
    assert world.sends() == []
    with world.factory() as session:
        first = session.get(Checkup, result.first_checkup.id)
        assert first.status == CheckupStatus.failed.value
        assert "21211" in first.note
        assert session.scalars(select(Checkup).where(Checkup.seq == 2)).one().status == "pending"


def test_utc_times_come_back_aware_on_every_backend(world: World) -> None:
    result = world.enrol()
    with world.factory() as session:
        checkup = session.get(Checkup, result.first_checkup.id)
        assert checkup.due_at.tzinfo is not None
        assert checkup.due_at.utcoffset() == timedelta(0)
    naive = datetime(2026, 1, 1, 12, 0)
    with pytest.raises(Exception, match="naive datetime"), world.factory() as session, session.begin():
        session.execute(update(Checkup).values(action_at=naive))
    assert datetime.now(UTC).tzinfo is not None


class _Refusing:
    """A provider that refuses every send with one error code."""

    kind = "refusing"

    def __init__(self, code: str) -> None:
        self.code = code

    def send(self, message: Outgoing) -> Receipt:
        raise ChannelError("refused", code=self.code, permanent=True)

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        return None


def test_carrier_opt_out_on_send_opts_the_number_out_everywhere(world: World) -> None:
    refusing = _Refusing("21610")
    world.ctx.channels = {"sms": refusing, "voice": refusing}
    result = world.enrol()
    other = world.enrol(organisation="org-b", client_ref="b-1")  # the same number, at another service
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.ticker().tick()
    with world.factory() as session:
        statuses = session.scalars(select(Enrolment.status).order_by(Enrolment.id)).all()
    assert statuses == ["opted_out", "opted_out"]
    assert other.enrolment.id


def test_unusable_number_flags_it_once_for_staff(world: World) -> None:
    from checkups.models import Flag

    refusing = _Refusing("21211")
    world.ctx.channels = {"sms": refusing, "voice": refusing}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.run(until=world.clock.now() + timedelta(weeks=3))  # three check-ups fail the same way
    with world.factory() as session:
        flags = session.scalars(select(Flag)).all()
    assert len(flags) == 1
    assert flags[0].state == "open"
    assert "21211" in flags[0].reasons[0]["reason"]
    assert len(flags[0].reasons) == 1  # the same reason again adds nothing


def test_new_reasons_merge_into_the_open_flag_raising_severity_and_pulling_the_deadline(world: World) -> None:
    from checkups.engine.flags import raise_flag
    from checkups.models import Flag

    participant_id = world.enrol().enrolment.participant_id
    now = world.clock.now()
    with world.factory() as session, session.begin():
        raise_flag(session, participant_id, "medium", "missed two", now + timedelta(hours=72), now, "rule:a")
        raise_flag(session, participant_id, "high", "said they used", now + timedelta(hours=24), now, "rule:b")
        raise_flag(session, participant_id, "low", "something minor", now + timedelta(days=7), now, "rule:c")
    with world.factory() as session:
        flag = session.scalars(select(Flag)).one()
    assert flag.severity == "high"
    assert flag.due_by == now + timedelta(hours=24)
    assert [r["reason"] for r in flag.reasons] == ["missed two", "said they used", "something minor"]


class _Outage:
    """A provider that is down (or rate limiting us) for the first ``n`` requests."""

    kind = "outage"

    def __init__(self, inner, code: str, n: int) -> None:
        self.inner, self.code, self.n, self.calls = inner, code, n, 0

    def send(self, message: Outgoing) -> Receipt:
        self.calls += 1
        if self.calls <= self.n:
            raise ChannelError("provider trouble", code=self.code, permanent=self.code == "20003")
        return self.inner.send(message)

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        return self.inner.lookup(message, sent_after)


@pytest.mark.parametrize("code", ["rate-limited", "20429", "http-503", "connect", "20003"])
def test_provider_trouble_never_fails_a_checkup(world: World, code: str) -> None:
    outage = _Outage(world.console, code, n=6)  # far more than the two retries a message gets
    world.ctx.channels = {"sms": outage, "voice": outage}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    world.run(until=world.clock.now() + timedelta(hours=2))
    assert outage.calls == 7
    assert list(send_keys(world).values()) == [1]
    with world.factory() as session:
        assert session.get(Checkup, result.first_checkup.id).status == CheckupStatus.awaiting.value


def test_the_lease_sweep_reads_its_partial_index_on_sqlite(tmp_path: Path, sqlite_template: Path) -> None:
    """SQLite uses a partial index only when the query repeats its condition with the same literal values;
    with bound parameters the sweep read the whole checkups table at every tick."""
    from checkups.engine.dispatch import sweep_expired

    def sweep(session) -> None:
        sweep_expired(session, datetime(2026, 1, 5, tzinfo=UTC))

    plan = sqlite_plan(sqlite_template, tmp_path, sweep, "lease_until")
    assert "USING INDEX ix_checkups_leased" in plan, plan


class _Late:
    """A send the provider accepts but whose answer comes back only after its lease expired: ``meanwhile`` runs
    between the two (the sweeper, a tick), once."""

    kind = "late"

    def __init__(self, inner, meanwhile) -> None:
        self.inner, self.meanwhile = inner, meanwhile

    def send(self, message: Outgoing) -> Receipt:
        receipt = self.inner.send(message)
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            meanwhile()
        return receipt

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        return self.inner.lookup(message, sent_after)


@pytest.mark.parametrize("then", ["swept", "claimed again"])
def test_send_answered_after_the_sweeper_took_its_lease_back_is_recorded_not_resent(world: World, then: str) -> None:
    from checkups.engine.dispatch import sweep_expired

    claims: list[Claim] = []

    def lease_runs_out() -> None:
        world.clock.advance(world.ctx.tuning.send_lease + timedelta(seconds=1))
        if then == "swept":
            with world.factory() as session, session.begin():
                assert sweep_expired(session, world.clock.now()) == 1
        else:
            assert world.ticker(hand_out=claims.append).tick().swept == 1
            assert len(claims) == 1

    late = _Late(world.console, lease_runs_out)
    world.ctx.channels = {"sms": late, "voice": late}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    first = _claim_everything_due(world)
    # Nobody has acted on the check-up since: the provider's answer is still this send's to record.
    assert world.perform(first[0]).outcome == "sent"
    for claim in claims:
        assert world.perform(claim).outcome == "stale"
    world.run(until=world.clock.now() + timedelta(hours=2))
    assert list(send_keys(world).values()) == [1]
    with world.factory() as session:
        assert session.get(Checkup, result.first_checkup.id).status == CheckupStatus.awaiting.value
        message = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "question")).one()
    assert message.status == MessageStatus.sent.value
    assert message.provider_sid == world.sends()[0].sid


class _Held:
    """A send the provider accepts, whose answer is held back until ``release`` is set."""

    kind = "held"

    def __init__(self, inner) -> None:
        self.inner = inner
        self.accepted, self.release = threading.Event(), threading.Event()

    def send(self, message: Outgoing) -> Receipt:
        receipt = self.inner.send(message)
        self.accepted.set()
        assert self.release.wait(30)
        return receipt

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        return self.inner.lookup(message, sent_after)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_send_recorded_while_the_sweeper_takes_its_lease_back_does_not_deadlock(world: World) -> None:
    """PostgreSQL, two connections. The send's answer is written on its message, and the check-up locked next,
    just as the sweeper has locked the expired check-up and goes for its message: neither may wait for the other
    (PostgreSQL would abort one as a deadlock)."""
    from sqlalchemy import event

    from checkups.engine.dispatch import sweep_expired

    @event.listens_for(world.engine, "connect")
    def _fail_fast(dbapi_connection, _record) -> None:  # a regression fails in seconds, never hangs
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
            cursor.execute("SET statement_timeout = '10s'")
        dbapi_connection.commit()

    held = _Held(world.console)
    world.ctx.channels = {"sms": held, "voice": held}
    result = world.enrol()
    world.clock.set(result.first_checkup.due_at + timedelta(minutes=1))
    claims = _claim_everything_due(world)
    world.engine.dispose()  # from here on, every connection has the timeouts

    recording, sweeping = threading.Event(), threading.Event()  # the message is written; the check-up is locked
    outcomes: dict[str, object] = {}
    errors: list[BaseException] = []

    @event.listens_for(world.engine, "before_cursor_execute")
    def _before(_conn, _cursor, statement, *_args) -> None:
        # The send, back from the provider (it has written its message): at its lock of the check-up, wait
        # until the sweeper holds the check-up.
        if (
            threading.current_thread() is sender
            and held.release.is_set()
            and "FOR UPDATE" in statement
            and "checkups" in statement
            and not recording.is_set()
        ):
            recording.set()
            assert sweeping.wait(10), "the sweeper never locked the check-up"

    @event.listens_for(world.engine, "after_cursor_execute")
    def _after(_conn, _cursor, statement, *_args) -> None:
        if threading.current_thread() is sweeper and "FOR UPDATE" in statement and "checkups" in statement:
            sweeping.set()

    def send() -> None:
        try:
            outcomes["perform"] = world.perform(claims[0]).outcome
        except BaseException as error:
            errors.append(error)

    def sweep() -> None:
        try:
            assert recording.wait(10), "the send never came back to record its outcome"
            with world.factory() as session, session.begin():
                outcomes["swept"] = sweep_expired(session, world.clock.now())
        except BaseException as error:
            errors.append(error)

    sender, sweeper = threading.Thread(target=send), threading.Thread(target=sweep)
    sender.start()
    assert held.accepted.wait(10)
    world.clock.advance(world.ctx.tuning.send_lease + timedelta(seconds=1))  # the send outlives its lease
    sweeper.start()
    held.release.set()
    for thread in (sender, sweeper):
        thread.join(timeout=30)
    event.remove(world.engine, "before_cursor_execute", _before)
    event.remove(world.engine, "after_cursor_execute", _after)
    assert not sender.is_alive()
    assert not sweeper.is_alive()
    assert not errors, errors
    # The sweeper gave the check-up back; the send then found nobody had acted on it since and recorded its answer.
    assert outcomes == {"swept": 1, "perform": "sent"}
    with world.factory() as session:
        checkup = session.get(Checkup, result.first_checkup.id)
        message = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "question")).one()
    assert message.status == MessageStatus.sent.value  # the provider's answer, never overwritten as unknown
    assert message.provider_sid == world.sends()[0].sid
    assert (checkup.action_state, checkup.claim_token, checkup.lease_until) == ("ready", None, None)
    assert checkup.status == CheckupStatus.awaiting.value
    world.run(until=world.clock.now() + timedelta(hours=2))
    assert list(send_keys(world).values()) == [1]
