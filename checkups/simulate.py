"""``checkups simulate``: a synthetic cohort through the real engine, on a settable clock.

Everything a real deployment does runs here, in one process: enrolment, the scheduler tick (claiming,
window deferral, leases), :func:`~checkups.engine.dispatch.perform`, the reply parser, the risk rules and
flags, and volunteers working the flag queue. Only the people are simulated: a :class:`SimulatedPeople`
channel records every message and decides, per person, whether and when they reply and with what text;
replies go through :func:`~checkups.engine.inbound.store_inbound` and
:func:`~checkups.engine.inbound.process_inbound` at their simulated time.

Time is event driven, as in the integration tests' ``World.run``: the clock jumps to the next due action,
the next expiring lease, the next flag deadline, the next pending reply or the next volunteer shift, never
in small fixed steps.

Shards. People never meet in the engine, so the cohort is split over shards, each its own database and
clock (:class:`Shard`), run side by side in worker processes, one per CPU (people ``i``, ``i + n``, ... in
shard ``i`` of ``n``). Volunteers are the one thing people share: once a simulated day the shards stop at
the shift, the :class:`Simulation` merges their open flags into one queue (most severe first, then by
deadline, as the engine's own queue orders them) and hands each shard its people's calls. Because every
event happens at its own instant in any shard, the split changes no figure: the same seed gives the same
figures on one CPU or on many (a test keeps it so). ``--database-url`` runs the whole cohort in that one
database, in one process.

Behaviour model (:class:`Behaviour`, every number a parameter):

* Responding. Each check-up's first message is answered with probability
  ``max(respond_floor, respond_start * respond_monthly_decay ** months_since_discharge) * engagement``,
  where ``engagement`` is the person's own factor (uniform in ``engagement_range``). A reply comes after a
  log-normal delay (median ``reply_median_minutes``); if none is coming, a reminder gets one with
  probability ``reminder_pull`` times that. Once talking, each next question is answered within minutes
  with probability ``continue_conversation``.
* Calls: an automated call (the fallback after unanswered texts) is picked up with ``call_pull`` times
  that probability, and a call that is the check-up itself (a voice-first enrolment) with that probability.
  Whoever picks up answers on the keypad (1 yes, 2 no, a number and #) through the engine's call steps,
  the ones the voice webhooks run, and hangs up before a question with probability ``hang_up``.
* Reply style, fixed per person (``style_weights``): ``clean`` ("no", "3"), ``messy`` ("nah mate",
  "7/10", "yeah a bit", "im a 4 today"), ``words`` ("nope", "three"), ``keypad`` (enrolled for calls,
  answering on the keypad; a text gets a clean answer). After a clarification the person answers cleanly
  with probability ``clarify_clean``.
* Relapse and recovery: a weekly hazard of relapse from discharge, ``relapse_hazard_early`` for the first
  ``early_weeks``, then ``relapse_hazard_mid`` until week 52, then ``relapse_hazard_late``; while using, a
  weekly chance ``recovery_hazard`` of stopping again, after which the relapse hazard applies again. So a
  person may relapse several times over the years. Contact with a volunteer does not change the person's
  course here: the simulation measures how fast relapses are caught, not what the calls achieve.
* Craving: urges are the person's baseline (uniform in ``urge_baseline``) plus noise; in the
  ``craving_lead_days`` before a relapse they rise linearly by up to ``craving_rise``; while using they stay
  ``craving_after`` above baseline. Confidence falls as urges rise.
* Admitting use: while using, "have you used?" is answered yes with probability ``admit_use``;
  otherwise yes with ``false_yes`` (a lapse, not a relapse). "Would you like a call?" is yes with
  ``want_call`` (``want_call_relapsed`` while using).
* Answers keep to each question's own type and range (:func:`shape_of`): the shipped questions follow the
  model above (mood falls and stress rises while using, days of use out of the period, urges and
  confidence scaled to their range); any other question of a lead's own protocol gets even odds for yes
  or no, the middle of its scale, or a choice at random, so a protocol under design can be simulated as
  it is, without clarifications the engine would never need with real people.
* Dropout: a weekly hazard ``dropout_hazard`` after which the person never replies again.
* Crisis: any text reply is replaced by a crisis message with probability ``crisis`` (``crisis_relapsed``
  while using).
* Opt-out: any reply is replaced by STOP with probability ``opt_out``.

Each person draws from their own :class:`random.Random`, seeded from the run's seed and their number, so
the order the engine happens to process people in never changes what they do; with the simulated clock,
the same seed gives the same figures (and :mod:`checkups.simulate_report` the same report, byte for byte).

Figures: :meth:`Simulation.summary` (the terminal summary and ``--json``) and :meth:`Simulation.series`
(week by week, for the report's charts). A relapse counts as caught by the first flag raised while the
person is using or within :data:`CATCH_AFTER` (two weeks) after they stop, and before their next relapse;
its human contact is the first volunteer call after that flag, before the next relapse. Relapses in the
last four weeks of the run are counted but not judged. Volunteer hours needed per week are the flags opened that week
times ``minutes_per_flag`` (30 by default: a planning heuristic, set it from the service's own records).

Cost: every check-up goes through the real engine, about twenty transactions and seventy statements, and
nearly all of the time is SQLAlchemy's Python work per statement (SQLite itself is a few percent). So the
run takes time in proportion to the number of check-ups divided by the CPUs, not to the simulated years.
The simulation's databases are thrown away after the run, so they are written without fsync. See
bench/README.md for the figures.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from time import monotonic
from typing import Any, TextIO

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from .channels.base import Outgoing, Receipt
from .channels.encoding import segments
from .clock import SettableClock
from .crypto import Vault, generate_key
from .db import READ_ONLY, make_engine, session_factory
from .engine import voice
from .engine.compose import question_text
from .engine.context import Context, ProtocolStore, Tuning
from .engine.dispatch import LEASED, Claim, perform
from .engine.enrolment import EnrolmentRequest, enrol, ensure_organisation
from .engine.flags import SEVERITY_ORDER, UNESCALATED, log_attempt, queue, resolve
from .engine.flags import claim as claim_flag
from .engine.inbound import process_inbound, store_inbound
from .engine.ticker import Ticker
from .models import Checkup, CheckupStatus, Enrolment, Flag, Organisation, Participant, Role, User
from .protocols.schedule import due_dates, in_window, zone
from .protocols.schema import AnswerType, Protocol, Question

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; fixed, so runs compare
ZONES = ("Europe/London", "Europe/London", "Europe/London", "Europe/Dublin", "America/New_York", "Australia/Sydney")
ORGANISATION = "sim"
CLIENT_REF = "sim-"
VOLUNTEER_HOUR = 13  # UTC: the volunteers' daily shift
EVALUABLE = timedelta(days=28)  # relapses later than this before the end are too recent to judge detection
# A flag catches a relapse if raised while the person is using or within this long after they stop (an answer
# given just after, a missed check-in of the time of use), and before their next relapse. Later flags are of
# something else: in the model, someone who has stopped answers as someone who has stopped.
CATCH_AFTER = timedelta(days=14)
YEAR = timedelta(days=365.25)
WEEK = timedelta(weeks=1)
PAST = timedelta(microseconds=1)  # the first instant after another, at the database's resolution


@dataclass(frozen=True)
class Behaviour:
    """Parameters of the simulated people (see the module docstring)."""

    respond_start: float = 0.85
    respond_monthly_decay: float = 0.98
    respond_floor: float = 0.35
    engagement_range: tuple[float, float] = (0.75, 1.15)
    reply_median_minutes: float = 45.0
    reply_sigma: float = 1.3  # of the log-normal delay
    reminder_pull: float = 0.45
    call_pull: float = 0.3
    continue_conversation: float = 0.95
    style_weights: tuple[tuple[str, float], ...] = (("clean", 0.5), ("messy", 0.3), ("words", 0.1), ("keypad", 0.1))
    hang_up: float = 0.03  # per question of an automated call: the person hangs up before keying an answer
    clarify_clean: float = 0.85
    early_weeks: int = 13
    relapse_hazard_early: float = 0.025
    relapse_hazard_mid: float = 0.012
    relapse_hazard_late: float = 0.004
    # Weekly chance that someone using stops again (heuristic: a median episode of about four months; in the
    # RMC studies people move between use and recovery many times over the years).
    recovery_hazard: float = 0.04
    urge_baseline: tuple[int, int] = (1, 4)
    craving_lead_days: int = 21
    craving_rise: float = 5.0
    craving_after: float = 3.0
    admit_use: float = 0.6
    false_yes: float = 0.01
    want_call: float = 0.03
    want_call_relapsed: float = 0.15
    dropout_hazard: float = 0.004
    crisis: float = 0.0003
    crisis_relapsed: float = 0.002
    opt_out: float = 0.0005

    def respond_probability(self, months: float, engagement: float) -> float:
        base = max(self.respond_floor, self.respond_start * self.respond_monthly_decay ** max(months, 0.0))
        return min(1.0, base * engagement)

    def relapse_hazard(self, week: int) -> float:
        if week < self.early_weeks:
            return self.relapse_hazard_early
        return self.relapse_hazard_mid if week < 52 else self.relapse_hazard_late


# Simulated people get only numbers reserved for drama and testing, which reach nobody: the UK's 1,000
# (+44 7700 900000-900999), then the US's 100 per area code (+1 NNN 555 0100-0199, area codes 200-999).
MAX_PEOPLE = 1000 + 800 * 100


def simulated_phone(index: int) -> str:
    """Person ``index``'s number, a reserved one (see :data:`MAX_PEOPLE`)."""
    if index < 1000:
        return f"+447700900{index:03d}"
    if index < MAX_PEOPLE:
        area, line = divmod(index - 1000, 100)
        return f"+1{200 + area}55501{line:02d}"
    raise ValueError(f"a simulated cohort has at most {MAX_PEOPLE:,} people (the reserved numbers)")


@dataclass
class Person:
    """One simulated participant: fixed traits drawn at creation, and the state of their conversation."""

    index: int
    phone: str
    timezone: str
    discharged: datetime  # the anchor, at midnight UTC of the anchor date
    rng: random.Random
    engagement: float
    style: str
    urge_baseline: int
    episodes: tuple[tuple[datetime, datetime | None], ...]  # (relapse, recovery or None): times of use
    dropout_at: datetime | None
    participant_id: int | None = None
    question: str | None = None  # id of the question last asked
    talking: bool = False  # answered this check-up's first question
    reply_pending: bool = False
    clarified: bool = False
    opted_out: bool = False
    seq: int = 0

    @classmethod
    def create(cls, index: int, seed: int, behaviour: Behaviour, horizon: timedelta) -> Person:
        rng = random.Random(f"checkups-simulate:{seed}:{index}")  # noqa: S311 (simulation, not secrets)
        discharged = START + timedelta(days=rng.randrange(56))
        weeks = math.ceil(horizon / WEEK) + 1
        episodes: list[tuple[datetime, datetime | None]] = []
        using: datetime | None = None
        dropout_at = None
        for week in range(weeks):
            hazard = behaviour.recovery_hazard if using is not None else behaviour.relapse_hazard(week)
            if rng.random() < hazard:
                at = discharged + week * WEEK + timedelta(minutes=rng.randrange(7 * 24 * 60))
                if using is None:
                    using = at
                else:
                    episodes.append((using, at))
                    using = None
            if dropout_at is None and rng.random() < behaviour.dropout_hazard:
                dropout_at = discharged + week * WEEK + timedelta(minutes=rng.randrange(7 * 24 * 60))
        if using is not None:
            episodes.append((using, None))
        styles, weights = zip(*behaviour.style_weights, strict=True)
        return cls(
            index=index,
            phone=simulated_phone(index),
            timezone=rng.choice(ZONES),
            discharged=discharged,
            rng=rng,
            engagement=rng.uniform(*behaviour.engagement_range),
            style=rng.choices(styles, weights)[0],
            urge_baseline=rng.randint(*behaviour.urge_baseline),
            episodes=tuple(episodes),
            dropout_at=dropout_at,
        )

    @property
    def relapse_at(self) -> datetime | None:
        """The first relapse, if any."""
        return self.episodes[0][0] if self.episodes else None

    def relapsed(self, at: datetime) -> bool:
        """Using at ``at``: within a relapse, before the recovery that ends it."""
        return any(start <= at and (end is None or at < end) for start, end in self.episodes)

    def dropped_out(self, at: datetime) -> bool:
        return self.dropout_at is not None and at >= self.dropout_at

    def urges(self, at: datetime, behaviour: Behaviour) -> int:
        level = float(self.urge_baseline)
        if self.relapsed(at):
            level += behaviour.craving_after
        else:
            coming = [start for start, _end in self.episodes if start > at]
            before = (min(coming) - at).total_seconds() / 86400 if coming else math.inf
            if before < behaviour.craving_lead_days:
                level += behaviour.craving_rise * (1 - before / behaviour.craving_lead_days)
        return max(0, min(10, round(level + self.rng.gauss(0, 1))))

    def _value(self, question: str, at: datetime, behaviour: Behaviour, shape: Shape | None = None) -> bool | int:
        """This person's answer to ``question`` at ``at``: yes or no, a number on the question's scale, or
        the number of a choice. The shipped questions (any_use, want_call, urges, confidence, mood, stress,
        use_days) follow the model; any other follows its ``shape`` alone: even odds for yes or no, the
        middle of a scale, a choice at random."""
        rng = self.rng
        relapsed = self.relapsed(at)
        kind, low, high = shape or _known_shape(question)
        if question == "any_use":
            return rng.random() < (behaviour.admit_use if relapsed else behaviour.false_yes)
        if question == "want_call":
            return rng.random() < (behaviour.want_call_relapsed if relapsed else behaviour.want_call)
        if kind == "yes_no":
            return rng.random() < 0.5
        if kind == "choice":
            return rng.randint(low, high)
        if question in ("mood", "stress"):  # mood falls and stress rises while using, on their own scales
            level = 0.5 - (0.3 if relapsed else 0.0) + rng.gauss(0, 0.16)
            value = low + level * (high - low) if question == "mood" else high - level * (high - low)
        elif question == "use_days":  # days of use in the period asked about
            value = rng.uniform(1, high) if relapsed else 0
        elif question in ("urges", "confidence") or (low, high) == (0, 10):
            urges = self.urges(at, behaviour)
            value = urges if question == "urges" else 9 - urges * 0.7 + rng.gauss(0, 1.2)
            value = low + value * (high - low) / 10
        else:
            value = rng.gauss((low + high) / 2, (high - low) / 6)
        return max(low, min(high, round(value)))

    def keypad(self, question: str, at: datetime, behaviour: Behaviour, shape: Shape | None = None) -> str:
        """The keys this person presses for ``question`` in an automated call: 1 yes, 2 no, or a number and #."""
        value = self._value(question, at, behaviour, shape)
        if isinstance(value, bool):
            return "1" if value else "2"
        return f"{value}#"

    def answer(
        self, question: str, at: datetime, behaviour: Behaviour, clean: bool = False, shape: Shape | None = None
    ) -> str:
        """The text this person sends to ``question`` (a question id of the protocol, of ``shape``) at ``at``."""
        rng = self.rng
        relapsed = self.relapsed(at)
        if rng.random() < (behaviour.crisis_relapsed if relapsed else behaviour.crisis):
            return rng.choice(("i want to die", "cant do this anymore, want to end it all", "took too much last night"))
        if rng.random() < behaviour.opt_out:
            return "STOP"
        # Keypad people answer texts cleanly: they prefer the call, but a text gets a plain answer.
        style = "clean" if clean or self.style == "keypad" else self.style
        value = self._value(question, at, behaviour, shape)
        if isinstance(value, bool):
            forms = {
                "clean": ("yes", "no"),
                "messy": (rng.choice(("yeah a bit", "yep", "yes sadly")), rng.choice(("nah mate", "nope x", "no"))),
                "words": (rng.choice(("yeah", "i have")), rng.choice(("not at all", "no thanks"))),
            }[style]
            return forms[0] if value else forms[1]
        kind, _low, top = shape or _known_shape(question)
        if style == "clean" or kind == "choice":  # a choice by its number
            return str(value)
        if style == "messy":
            return rng.choice((f"{value}/{top}", f"im a {value} today", f"about {value}", f"{value}!!"))
        return _WORDS[value] if value < len(_WORDS) else str(value)


_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
Shape = tuple[str, int, int]  # (yes_no, scale or choice; the lowest and highest answer)
# The shapes of the shipped questions, for callers that give only an id (the shards pass the protocol's own).
_SHAPES: dict[str, Shape] = {"any_use": ("yes_no", 0, 1), "want_call": ("yes_no", 0, 1), "mood": ("scale", 1, 5)}


def _known_shape(question: str) -> Shape:
    return _SHAPES.get(question, ("scale", 0, 10))


def shape_of(question: Question) -> Shape:
    """What a simulated person needs to know of a question to answer it."""
    if question.type is AnswerType.yes_no:
        return ("yes_no", 0, 1)
    if question.type is AnswerType.choice:
        return ("choice", 1, len(question.choices or ()) or 1)
    return ("scale", int(question.min or 0), int(question.max if question.max is not None else 10))


def scheduled_key(key: str) -> bool:
    """A check-up action (send, reminder, call) rather than an answer to something the person wrote."""
    parts = key.split(":")
    return parts[0] == "checkup" and len(parts) > 2 and parts[2] in ("send", "remind", "fallback")


@dataclass
class Facts:
    """What one shard saw, in a form that adds up across shards (and pickles small between processes)."""

    weeks: int
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, kind) -> sent
    messages_by_week: dict[str, list[int]] = field(default_factory=dict)  # channel -> sent per week
    sms_segments: int = 0
    scheduled: int = 0  # check-up actions sent (the ones a send window applies to)
    outside_window: int = 0  # of those, sent outside the person's window: must stay 0 (invariant 1)
    inbound: int = 0
    calls_answered: int = 0  # automated calls picked up by a person (not a machine)
    keypad_answers: int = 0  # answers keyed in during those calls
    checkups: Counter[tuple[str, str]] = field(default_factory=Counter)  # (phase, status) -> check-ups
    closed_by_week: list[int] = field(default_factory=list)
    answered_by_week: list[int] = field(default_factory=list)
    opted_out: int = 0
    # (person, severity, when each reason was raised, created, claimed): the person by their number in the
    # cohort, so figures never depend on which database they were in
    flags: list[tuple[int, str, tuple[datetime, ...], datetime, datetime | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.closed_by_week = self.closed_by_week or [0] * self.weeks
        self.answered_by_week = self.answered_by_week or [0] * self.weeks

    def add(self, other: Facts) -> Facts:
        self.messages.update(other.messages)
        for channel, counts in other.messages_by_week.items():
            mine = self.messages_by_week.setdefault(channel, [0] * self.weeks)
            self.messages_by_week[channel] = [a + b for a, b in zip(mine, counts, strict=True)]
        self.sms_segments += other.sms_segments
        self.scheduled += other.scheduled
        self.outside_window += other.outside_window
        self.inbound += other.inbound
        self.calls_answered += other.calls_answered
        self.keypad_answers += other.keypad_answers
        self.checkups.update(other.checkups)
        self.closed_by_week = [a + b for a, b in zip(self.closed_by_week, other.closed_by_week, strict=True)]
        self.answered_by_week = [a + b for a, b in zip(self.answered_by_week, other.answered_by_week, strict=True)]
        self.opted_out += other.opted_out
        self.flags = sorted([*self.flags, *other.flags], key=_flag_order)
        return self


def _flag_order(flag: tuple[int, str, tuple[datetime, ...], datetime, datetime | None]) -> tuple[int, datetime]:
    return flag[0], flag[3]  # by person, then when it was raised: the same order from any split


def week_of(at: datetime, weeks: int) -> int:
    return min(weeks - 1, max(0, int((_aware(at) - START) / WEEK)))


class SimulatedPeople:
    """A channel (SMS and voice) whose recipients are one shard's :class:`Person` objects; counts every send."""

    kind = "simulated"

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.count = 0
        self._by_key: dict[str, Receipt] = {}

    def send(self, message: Outgoing) -> Receipt:
        shard, facts = self.shard, self.shard.facts
        now = shard.clock.now()
        self.count += 1
        receipt = Receipt(sid=f"SIM{self.count}", segments=segments(message.body))
        self._by_key[message.key] = receipt
        facts.messages[(message.channel, message.kind)] += 1
        facts.messages_by_week.setdefault(message.channel, [0] * facts.weeks)[week_of(now, facts.weeks)] += 1
        if message.channel == "sms":
            facts.sms_segments += receipt.segments
        if scheduled_key(message.key):
            facts.scheduled += 1
            if not in_window(now, zone(message.timezone or "UTC"), shard.send_window):
                facts.outside_window += 1
        shard.received(message, now, receipt.sid)
        return receipt

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        return self._by_key.get(message.key)


@dataclass(frozen=True)
class Plan:
    """What every shard is told: the cohort, the protocol and the people's behaviour."""

    people_count: int
    years: float
    protocol: str
    seed: int
    behaviour: Behaviour
    protocols_dir: Path | None

    @property
    def end(self) -> datetime:
        return START + self.years * YEAR

    @property
    def weeks(self) -> int:
        return max(1, math.ceil((self.end - START) / WEEK))


@dataclass(frozen=True)
class Waiting:
    """An open flag in a shard's queue, as the shared volunteer queue orders it."""

    rank: int  # SEVERITY_ORDER: 0 is the most severe
    due_by: datetime
    created_at: datetime
    person: int
    shard: int
    flag_id: int
    claimed: bool


class Shard:
    """One database and the people in it, run by the real engine on its own simulated clock.

    People never meet in the engine: what happens to one depends on their own check-ups, replies and flags,
    and on the volunteers, whose queue the :class:`Simulation` keeps across every shard. The clock stops at
    each event of each person (a due action, an expiring lease, a flag's deadline, a reply), so an event
    happens at the same instant whichever shard the person is in: splitting the cohort changes no figure.
    """

    def __init__(self, number: int, url: str, plan: Plan, people: list[int]) -> None:
        self.number = number
        self.plan = plan
        self.clock = SettableClock(START)
        self.engine = make_engine(url)
        # The simulation's database is thrown away after the run: its commits need not wait for the disk (a
        # crash loses nothing worth keeping). On SQLite, registered after make_engine's own pragmas, so it
        # overrides their synchronous=NORMAL; on PostgreSQL, for this run's connections only.
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _no_fsync)
        elif self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", _no_commit_wait)
        self.factory: sessionmaker[Session] = session_factory(self.engine)
        # A person's participant id is their number in the cohort plus one, in whichever shard they are: the
        # engine spreads send times within the window by participant id, so ids given by insertion order
        # would move people's messages when the cohort is split differently.
        event.listen(Participant, "before_insert", self._number_participant)
        self.facts = Facts(plan.weeks)
        self.channel = SimulatedPeople(self)
        self.ctx = Context(
            vault=Vault(generate_key()),  # synthetic people: a key for this run is enough
            protocols=ProtocolStore(plan.protocols_dir),
            channels={"sms": self.channel, "voice": self.channel},  # type: ignore[dict-item]
            clock=self.clock,
            # Nothing may depend on the wall clock: one tick claims everything due.
            tuning=Tuning(tick_budget=timedelta(days=365)),
        )
        horizon = plan.end - START
        self.people = {i: Person.create(i, plan.seed, plan.behaviour, horizon) for i in people}
        self.by_participant: dict[int, Person] = {}
        # What people will do, a heap of (at, person, their seq, text, call): a text, or a call picked up, as
        # (the call's message key, its SID), whose questions they answer on the keypad
        self.replies: list[tuple[datetime, int, int, str, tuple[str, str] | None]] = []
        self._questions: list[tuple[str, str]] = []  # (text, question id), longest text first
        self._spoken: dict[str, str] = {}  # a question's words in a call -> its id
        self._shapes: dict[str, Shape] = {}  # question id -> what answers it takes
        self.volunteer_id = 0
        self.ticker = Ticker(self.ctx, self.factory, self._perform, holder=f"simulate-{plan.seed}-{number}")
        self._next: datetime | None = START  # the first turn ticks

    def _number_participant(self, _mapper: Any, connection: Any, participant: Participant) -> None:
        if connection.engine is self.engine and participant.client_ref.startswith(CLIENT_REF):
            participant.id = int(participant.client_ref.removeprefix(CLIENT_REF)) + 1

    # --- the people's side ----------------------------------------------------------------------------

    def _question_in(self, body: str) -> str | None:
        for text, question_id in self._questions:
            if text in body:
                return question_id
        return None

    def received(self, message: Outgoing, now: datetime, sid: str) -> None:
        """A person got ``message``: decide whether and when they reply."""
        person = self.by_participant.get(message.participant_id)
        if person is None or person.opted_out or person.dropped_out(now):
            return
        b = self.plan.behaviour
        months = (now - person.discharged) / (YEAR / 12)
        p = b.respond_probability(months, person.engagement)
        rng = person.rng
        if message.channel == "voice":
            # An automated call: picked up (and answered on the keypad) as a first message is answered when the
            # call is the check-up (a voice-first enrolment), less often when it follows unanswered texts.
            first = message.key.split(":")[2:3] == ["send"]
            if first:  # a new check-up
                person.talking = False
            if not person.talking and not person.reply_pending and rng.random() < p * (1.0 if first else b.call_pull):
                person.reply_pending = True
                person.seq += 1
                heapq.heappush(
                    self.replies, (now + timedelta(seconds=20), person.index, person.seq, "", (message.key, sid))
                )
        elif message.kind == "question":
            question = self._question_in(message.body)
            if question is None:
                return
            # The check-up's first text: its send, or the text after unanswered calls (a voice-first protocol).
            first = message.key.startswith("checkup:") and message.key.split(":")[2] in ("send", "fallback")
            person.question = question
            if first:
                person.talking = False
                person.clarified = False
                if rng.random() < p:
                    self._plan(person, now + self._delay(rng), question)
            elif rng.random() < b.continue_conversation:  # the next question of a conversation
                self._plan(person, now + timedelta(minutes=rng.uniform(1, 15)), question)
        elif message.kind == "clarify" and person.question is not None:
            person.clarified = True
            self._plan(person, now + timedelta(minutes=rng.uniform(1, 20)), person.question, force_clean=True)
        elif (
            message.kind == "reminder"
            and person.question is not None
            and not person.talking
            and rng.random() < p * b.reminder_pull
        ):
            self._plan(person, now + self._delay(rng), person.question)

    def _delay(self, rng: random.Random) -> timedelta:
        b = self.plan.behaviour
        minutes = rng.lognormvariate(math.log(b.reply_median_minutes), b.reply_sigma)
        return timedelta(minutes=min(minutes, 3 * 24 * 60))

    def _plan(self, person: Person, at: datetime, question: str | None, force_clean: bool = False) -> None:
        if person.reply_pending or question is None:
            return
        clean = force_clean and person.rng.random() < 0.85
        text = person.answer(question, at, self.plan.behaviour, clean=clean, shape=self._shapes.get(question))
        person.reply_pending = True
        person.seq += 1
        heapq.heappush(self.replies, (at, person.index, person.seq, text, None))

    def _deliver_replies(self, now: datetime) -> bool:
        """Every reply due by ``now``, in order; whether there was any."""
        any_due = bool(self.replies) and self.replies[0][0] <= now
        while self.replies and self.replies[0][0] <= now:
            at, index, seq, text, call = heapq.heappop(self.replies)
            person = self.people[index]
            person.reply_pending = False
            if person.opted_out:
                continue
            person.talking = True
            if call is not None:
                self._answer_call(person, at, *call)
                continue
            if text == "STOP":
                person.opted_out = True
            with self.factory() as session, session.begin():
                stored = store_inbound(self.ctx, session, f"SIMIN{index}.{seq}", person.phone, text)
            self.facts.inbound += 1
            process_inbound(self.ctx, self.factory, stored.inbound_id)
        return any_due

    def _answer_call(self, person: Person, at: datetime, key: str, sid: str) -> None:
        """The person picks up: the engine's call steps (what the voice webhooks run) ask each question, and
        the person keys in each answer, unless they hang up first."""
        b = self.plan.behaviour
        self.facts.calls_answered += 1
        step = voice.start(self.ctx, self.factory, key, sid, "human")
        while step.kind == "question":
            question = self._spoken.get(step.text)
            if question is None or person.rng.random() < b.hang_up:
                return
            self.facts.keypad_answers += 1
            keys = person.keypad(question, at, b, self._shapes.get(question))
            step = voice.answer(self.ctx, self.factory, key, sid, step.index, keys)

    # --- the run ----------------------------------------------------------------------------------------

    def setup(self) -> None:
        now = self.clock.now()
        protocol = self.ctx.protocols.current(self.plan.protocol)
        self.send_window = protocol.send_window
        self._questions = sorted(
            ((q.text[protocol.default_language], q.id) for q in protocol.questions), key=lambda t: -len(t[0])
        )
        language = protocol.default_language
        self._spoken = {question_text(q, language, protocol, voice=True): q.id for q in protocol.questions}
        self._shapes = {q.id: shape_of(q) for q in protocol.questions}
        with self.factory() as session, session.begin():
            for model in (Organisation, Participant, User):
                if session.scalar(select(model.id).limit(1)) is not None:
                    raise SimulationError(
                        f"the database already holds {model.__tablename__}: a simulation needs an empty one"
                    )
            ensure_organisation(session, ORGANISATION, "Simulated service", now)
            user = User(
                email=f"volunteer-{self.plan.seed}@simulated.invalid",
                password_hash="!simulated",  # noqa: S106 (not a hash: no login possible)
                role=Role.volunteer.value,
                active=True,
                created_at=now,
            )
            session.add(user)
            session.flush()
            self.volunteer_id = user.id
        for person in self.people.values():
            result = enrol(
                self.ctx,
                self.factory,
                EnrolmentRequest(
                    organisation=ORGANISATION,
                    client_ref=f"{CLIENT_REF}{person.index:05d}",
                    phone=person.phone,
                    timezone=person.timezone,
                    anchor_date=person.discharged.date(),
                    protocol=self.plan.protocol,
                    consent_by="simulation",
                    consent_method="electronic",
                    consent_channels=("sms", "voice"),
                    channel="voice" if person.style == "keypad" else None,  # they prefer the call
                ),
                actor="simulate",
            )
            person.participant_id = result.enrolment.participant_id
            self.by_participant[person.participant_id] = person

    def _next_event(self) -> datetime | None:
        """When the scheduler next has something to do: a due action, an expiring lease or a flag's deadline
        passing (the last two a microsecond after: they count once strictly past, and the same instant in any
        shard, so an escalation never depends on another person's event in the same database)."""
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            action, lease, deadline = connection.execute(_NEXT_EVENT).one()
        found = [_aware(action)] if action is not None else []
        found += [_aware(t) + PAST for t in (lease, deadline) if t is not None]
        return min(found) if found else None

    def advance(self, until: datetime) -> list[Waiting]:
        """Run every event up to ``until`` (the next volunteer shift, or the end); return the open flags."""
        changed = True  # the volunteers' calls since the last turn may have resolved flags
        while True:
            now = self.clock.now()
            if self._next is not None and self._next <= now:
                self.ticker.tick()
                changed = True
            changed = self._deliver_replies(now) or changed
            if changed:  # ticks and replies both change what is due next; nothing else does
                self._next = self._next_event()
                changed = False
            if now >= until:
                break
            candidates = [until]
            if self._next is not None:
                candidates.append(self._next)
            if self.replies:
                candidates.append(self.replies[0][0])
            target = min(candidates)
            self.clock.set(target if target > now else now + timedelta(seconds=1))
        with self.factory() as session:
            return [
                Waiting(
                    SEVERITY_ORDER.index(f.severity),
                    _aware(f.due_by),
                    _aware(f.created_at),
                    self.by_participant[f.participant_id].index,
                    self.number,
                    f.id,
                    f.state == "claimed",
                )
                for f in queue(session)
            ]

    def work(self, assignments: list[tuple[int, bool, str]]) -> None:
        """The volunteers call the people of these flags now: (flag, reached, outcome) each."""
        now = self.clock.now()
        with self.factory() as session, session.begin():
            for flag_id, reached, outcome in assignments:
                claim_flag(session, flag_id, self.volunteer_id, now)
                log_attempt(session, flag_id, self.volunteer_id, "reached" if reached else "no_answer", None, now)
                resolve(session, flag_id, self.volunteer_id, outcome, None, now)

    def _perform(self, claim: Claim) -> None:
        perform(self.ctx, self.factory, claim.checkup_id, claim.token)

    def collect(self) -> Facts:
        """This shard's figures, from its database and its channel."""
        facts = self.facts
        weeks = facts.weeks
        with self.factory() as session:
            for phase, status, count in session.execute(
                select(Checkup.phase, Checkup.status, func.count()).group_by(Checkup.phase, Checkup.status)
            ):
                facts.checkups[(phase, status)] += count
            for closed_at, status in session.execute(
                select(Checkup.closed_at, Checkup.status).where(
                    Checkup.status.in_((CheckupStatus.answered.value, CheckupStatus.missed.value))
                )
            ):
                week = week_of(closed_at, weeks)
                facts.closed_by_week[week] += 1
                facts.answered_by_week[week] += status == CheckupStatus.answered.value
            facts.opted_out = (
                session.scalar(select(func.count()).select_from(Enrolment).where(Enrolment.status == "opted_out")) or 0
            )
            rows = session.execute(
                select(Flag.participant_id, Flag.severity, Flag.reasons, Flag.created_at, Flag.claimed_at)
            )
            facts.flags = sorted(
                [
                    (
                        self.by_participant[f.participant_id].index,
                        f.severity,
                        tuple(datetime.fromisoformat(reason["at"]) for reason in f.reasons),
                        _aware(f.created_at),
                        _aware(f.claimed_at) if f.claimed_at is not None else None,
                    )
                    for f in rows
                ],
                key=_flag_order,
            )
        return facts

    def close(self) -> None:
        if event.contains(Participant, "before_insert", self._number_participant):
            event.remove(Participant, "before_insert", self._number_participant)
        self.engine.dispose()


# Asked after every turn that changed something: one statement, built once (SQLAlchemy then reuses its cache key
# and compiled form), reading only the partial indexes ix_checkups_due, ix_checkups_leased and ix_flags_deadline.
_NEXT_EVENT = select(
    select(func.min(Checkup.action_at))
    .where(Checkup.action_state == "ready", Checkup.action.is_not(None))
    .scalar_subquery(),
    select(func.min(Checkup.lease_until)).where(LEASED).scalar_subquery(),
    select(func.min(Flag.due_by)).where(UNESCALATED).scalar_subquery(),
)


# --- running the shards: in this process, or in worker processes --------------------------------------------


class _InProcess:
    """The shards run here, one after the other (one database given by URL, or a single shard)."""

    def __init__(self, plan: Plan, specs: list[tuple[int, str, list[int]]]) -> None:
        self.shards: list[Shard] = []
        try:
            for number, url, people in specs:
                self.shards.append(Shard(number, url, plan, people))
                self.shards[-1].setup()
        except BaseException:
            self.close()  # no engine or mapper listener left behind
            raise

    def step(self, work: dict[int, list[tuple[int, bool, str]]], until: datetime) -> list[Waiting]:
        waiting: list[Waiting] = []
        for shard in self.shards:
            if work.get(shard.number):
                shard.work(work[shard.number])
            waiting += shard.advance(until)
        return waiting

    def collect(self) -> list[Facts]:
        return [shard.collect() for shard in self.shards]

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


def _serve(connection: Connection, plan: Plan, specs: list[tuple[int, str, list[int]]], log_level: str) -> None:
    """A worker process: runs its shards on the coordinator's commands until told to stop."""
    from .logging import configure

    configure(log_format="console", level=log_level)
    runner: _InProcess | None = None
    try:
        runner = _InProcess(plan, specs)
        connection.send(("ok", None))
        while True:
            command, *args = connection.recv()
            if command == "step":
                connection.send(("ok", runner.step(*args)))
            elif command == "collect":
                connection.send(("ok", runner.collect()))
            else:
                break
    except (EOFError, KeyboardInterrupt):
        pass  # the coordinator is gone or stopping: nothing to report to
    except BaseException:
        with contextlib.suppress(OSError):  # the coordinator may be gone already
            connection.send(("error", traceback.format_exc()))
    finally:
        if runner is not None:
            runner.close()
        connection.close()


class SimulationError(RuntimeError):
    """The run cannot go on: a shard failed in a worker process (the message carries its traceback), or a
    database already holds data."""


# Tables whose rows mean a database is in use: simulated people enrolled there would be real enrolments to
# `checkups run` on it, which would send them check-ups.
_IN_USE = ("participants", "organisations", "users")


def ensure_empty(url: str) -> None:
    """:class:`SimulationError` unless the database at ``url`` holds no participant, organisation or user
    (a database without our tables yet counts as empty)."""
    from sqlalchemy import inspect, table

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            for name in _IN_USE:
                if name in present and connection.execute(select(func.count()).select_from(table(name))).scalar():
                    raise SimulationError(
                        f"the database already holds {name}: a simulation needs an empty database of its own "
                        "(its simulated people would be real enrolments to `checkups run` on this one)"
                    )
    finally:
        engine.dispose()


class _Workers:
    """Each worker process runs some of the shards; every step waits for all of them (the volunteers' queue
    is shared, so the shards meet at every shift)."""

    def __init__(self, plan: Plan, specs: list[tuple[int, str, list[int]]], workers: int, log_level: str) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited database connections or threads
        self.connections: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for w in range(workers):
            mine = specs[w::workers]
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, plan, mine, log_level), daemon=True)
            process.start()
            child.close()
            self.connections.append(parent)
            self.processes.append(process)
        try:
            for connection in self.connections:
                self._answer(connection)  # each worker has set its shards up (enrolled their people)
        except BaseException:
            self.close()
            raise

    def _answer(self, connection: Connection) -> Any:
        try:
            status, value = connection.recv()
        except EOFError:
            raise SimulationError("a simulation worker process stopped unexpectedly") from None
        if status == "error":
            raise SimulationError(f"a simulation worker failed:\n{value}")
        return value

    def _ask(self, *command: Any) -> list[Any]:
        for connection, process in zip(self.connections, self.processes, strict=True):
            try:
                connection.send(command)
            except OSError:  # a broken pipe: the worker is gone
                process.join(timeout=1)
                raise SimulationError(
                    f"a simulation worker process stopped unexpectedly (exit code {process.exitcode})"
                ) from None
        return [self._answer(connection) for connection in self.connections]

    def step(self, work: dict[int, list[tuple[int, bool, str]]], until: datetime) -> list[Waiting]:
        return [w for part in self._ask("step", work, until) for w in part]

    def collect(self) -> list[Facts]:
        return [facts for part in self._ask("collect") for facts in part]

    def close(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.send(("stop",))
            connection.close()
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_shards(people: int) -> int:
    """One shard per CPU, but no shard under :data:`MIN_SHARD` people (a process costs about a second)."""
    return max(1, min(available_cpus(), people // MIN_SHARD))


MIN_SHARD = 50


def prepare_shards(directory: Path, count: int) -> list[str]:
    """Fresh SQLite databases ``shard-N.db`` in ``directory`` (old ones removed), migrated: their URLs."""
    from .migrate import upgrade

    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("shard-*.db*"):
        stale.unlink()
    paths = [directory / f"shard-{n}.db" for n in range(count)]
    upgrade(f"sqlite:///{paths[0]}")
    for path in paths[1:]:
        shutil.copyfile(paths[0], path)  # migrated once: the same empty schema for every shard
    return [f"sqlite:///{path}" for path in paths]


CALLS_PER_1000 = 20  # the volunteers' calls a day for every 1,000 people, by default


def default_volunteer_capacity(people: int) -> int:
    """Calls a simulated day the volunteers make unless told: CALLS_PER_1000 per 1,000 people, at least that."""
    return max(CALLS_PER_1000, people * CALLS_PER_1000 // 1000)


@dataclass
class Simulation:
    """The cohort, split over ``len(urls)`` shards (each an empty, migrated database), run to the end.

    With one URL the run is in this process; with several, ``workers`` processes (one per shard by default)
    run them side by side. Volunteers work one queue across all shards, once a day. The split changes no
    figure: the same seed gives the same figures whatever the number of shards or workers.
    """

    urls: list[str]
    people_count: int = 200
    years: float = 1.0
    protocol: str = "standard-5y"
    seed: int = 1
    # Flags the volunteers call a simulated day; default: CALLS_PER_1000 a day for every 1,000 people, at least
    # that many (a fixed 20 left 6,000 flags open in a 10,000-person year).
    volunteer_capacity: int | None = None
    sms_price: float = 0.04
    # Volunteer time one flag takes: reading the history, one to three call attempts, notes. A planning
    # heuristic, not a measured figure: set it from your own service's records.
    minutes_per_flag: float = 30.0
    behaviour: Behaviour = field(default_factory=Behaviour)
    protocols_dir: Path | None = None
    progress: Callable[[float], None] | None = None  # called once a simulated day with the share of the work done
    workers: int | None = None  # processes; default: one per shard when there are several
    log_level: str = "WARNING"  # of the worker processes

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a simulation needs at least one database")
        if not 0 < self.people_count <= MAX_PEOPLE:
            raise ValueError(f"a simulated cohort has 1 to {MAX_PEOPLE:,} people")
        if self.volunteer_capacity is None:
            self.volunteer_capacity = default_volunteer_capacity(self.people_count)
        self.plan = Plan(self.people_count, self.years, self.protocol, self.seed, self.behaviour, self.protocols_dir)
        self.end = self.plan.end
        self.people = [Person.create(i, self.seed, self.behaviour, self.end - START) for i in range(self.people_count)]
        self.vol_rng = random.Random(f"checkups-simulate:{self.seed}:volunteers")  # noqa: S311
        self.facts = Facts(self.plan.weeks)

    def _runner(self) -> _InProcess | _Workers:
        shards = len(self.urls)
        specs = [(n, url, list(range(n, self.people_count, shards))) for n, url in enumerate(self.urls)]
        workers = min(shards, self.workers or shards)
        if workers <= 1:
            return _InProcess(self.plan, specs)
        return _Workers(self.plan, specs, workers, self.log_level)

    def _volunteers(self, waiting: list[Waiting]) -> dict[int, list[tuple[int, bool, str]]]:
        """Today's calls: the first ``volunteer_capacity`` flags of the shared queue, most severe first, then
        by deadline (one queue, as in a real service, whichever shard a person is in)."""
        work: dict[int, list[tuple[int, bool, str]]] = {}
        for flag in sorted(waiting, key=lambda w: (w.rank, w.due_by, w.created_at, w.person))[
            : self.volunteer_capacity
        ]:
            if flag.claimed:
                continue
            reached = self.vol_rng.random() < 0.7
            outcome = (
                self.vol_rng.choice(("re_engaged_treatment", "referred_recovery_support", "no_action_needed"))
                if reached
                else "not_reached"
            )
            work.setdefault(flag.shard, []).append((flag.flag_id, reached, outcome))
        return work

    def _work_done(self, protocol: Protocol) -> Callable[[datetime], float]:
        """The share of the run's work done by a simulated instant, for the progress line: the protocol's
        check-ups due by then over all of them, everyone's discharge date counted. The weekly first months
        hold far more of the work than their share of the time (with standard-5y, half of five years'
        check-ups are due in the first year), so a line drawn from the time alone promised twice the minutes
        a run took; this share kept within five points of the time a 1,000-person run had taken."""
        anchor = START.date()
        offsets = [(d.due - anchor).days for d in due_dates(protocol.schedule.phases, anchor)]
        days = (self.end - START).days + 1
        per_day = [0] * days
        for person in self.people:
            first = (person.discharged - START).days
            for offset in offsets:
                if first + offset < days:
                    per_day[first + offset] += 1
        done = list(itertools.accumulate(per_day))
        total = done[-1] if done else 0
        seconds = (self.end - START).total_seconds()

        def share(until: datetime) -> float:
            if not total:  # nothing due in so short a run: the time it covers, then
                return (until - START).total_seconds() / seconds
            return done[min(days - 1, (until - START).days)] / total if until < self.end else 1.0

        return share

    def run(self) -> dict[str, Any]:
        protocol = ProtocolStore(self.protocols_dir).current(self.protocol)  # an unknown name fails here
        done = self._work_done(protocol)
        runner = self._runner()
        try:
            shift = datetime.combine(START.date(), time(VOLUNTEER_HOUR), UTC)
            work: dict[int, list[tuple[int, bool, str]]] = {}
            while True:
                until = min(shift, self.end)
                waiting = runner.step(work, until)
                if self.progress is not None:
                    self.progress(done(until))
                if until >= self.end:
                    break
                work = self._volunteers(waiting)
                shift += timedelta(days=1)
            facts = Facts(self.plan.weeks)
            for part in runner.collect():
                facts.add(part)
            self.facts = facts
        finally:
            runner.close()
        return self.summary()

    # --- the figures ------------------------------------------------------------------------------------

    def _weeks(self) -> int:
        return self.plan.weeks

    def _relapse_delays(self) -> tuple[int, int, int, list[float], list[float]]:
        """(relapses, evaluable, never flagged, days relapse to first flag, days relapse to first contact)."""
        flag_times: dict[int, list[datetime]] = {}
        contact_times: dict[int, list[datetime]] = {}
        for person, _severity, reasons, _created, claimed_at in self.facts.flags:
            flag_times.setdefault(person, []).extend(reasons)
            if claimed_at is not None:
                contact_times.setdefault(person, []).append(claimed_at)
        to_flag: list[float] = []
        to_contact: list[float] = []
        relapses = evaluable = never = 0
        for person in self.people:
            episodes = [(start, end) for start, end in person.episodes if start < self.end]
            nexts = [start for start, _end in episodes[1:]] + [self.end] if episodes else []
            for (start, end), next_start in zip(episodes, nexts, strict=True):
                until = next_start if end is None else min(end + CATCH_AFTER, next_start)
                relapses += 1
                if start > self.end - EVALUABLE:
                    continue
                evaluable += 1
                flagged = [t for t in flag_times.get(person.index, []) if start <= t < until]
                if not flagged:
                    never += 1
                    continue
                first = min(flagged)
                to_flag.append((first - start).total_seconds() / 86400)
                # The call that follows the flag counts even once they have stopped: it is the flag's answer.
                contacts = [t for t in contact_times.get(person.index, []) if first <= t < next_start]
                if contacts:
                    to_contact.append((min(contacts) - start).total_seconds() / 86400)
        return relapses, evaluable, never, to_flag, to_contact

    def volunteer_hours(self, flags_per_week: list[int]) -> list[float]:
        """Volunteer time the flags of each week need: ``minutes_per_flag`` each (see :class:`Simulation`)."""
        return [round(n * self.minutes_per_flag / 60, 2) for n in flags_per_week]

    def _flags_per_week(self) -> list[int]:
        per_week = [0] * self._weeks()
        for _person, _severity, _reasons, created_at, _claimed in self.facts.flags:
            per_week[week_of(created_at, self._weeks())] += 1
        return per_week

    def summary(self) -> dict[str, Any]:
        facts = self.facts
        messages: dict[str, dict[str, int]] = {}
        for (channel, kind), count in facts.messages.items():
            messages.setdefault(channel, {})[kind] = count
        by_phase: dict[str, Counter[str]] = {}
        for (phase, status), count in facts.checkups.items():
            by_phase.setdefault(phase, Counter())[status] += count
        response_rate = {}
        for phase, counts in sorted(by_phase.items()):
            answered = counts.get(CheckupStatus.answered.value, 0)
            closed = answered + counts.get(CheckupStatus.missed.value, 0)
            response_rate[phase] = {
                "answered": answered,
                "closed": closed,
                "rate": round(answered / closed, 4) if closed else None,
            }
        severity = Counter(severity for _person, severity, *_ in facts.flags)
        per_week = self._flags_per_week()
        hours = self.volunteer_hours(per_week)
        relapses, evaluable, never, to_flag, to_contact = self._relapse_delays()
        return {
            "people": self.people_count,
            "years": self.years,
            "protocol": self.protocol,
            "seed": self.seed,
            "messages": {channel: dict(sorted(kinds.items())) for channel, kinds in sorted(messages.items())},
            "messages_total": sum(facts.messages.values()),
            "inbound": facts.inbound,
            "calls_answered": facts.calls_answered,
            "keypad_answers": facts.keypad_answers,
            "checkups": sum(facts.checkups.values()),
            "outside_window": facts.outside_window,
            "response_rate_by_phase": response_rate,
            "flags_by_severity": dict(sorted(severity.items())),
            "flags_total": len(facts.flags),
            "flags_per_week": {
                "mean": round(statistics.fmean(per_week), 2) if per_week else 0.0,
                "max": max(per_week, default=0),
                "weeks": per_week,
            },
            "volunteer_calls_per_day": self.volunteer_capacity,
            "volunteer_hours_per_week": {
                "minutes_per_flag": self.minutes_per_flag,
                "mean": round(statistics.fmean(hours), 2) if hours else 0.0,
                "max": max(hours, default=0.0),
            },
            "relapses": {
                "simulated": relapses,
                "evaluable": evaluable,
                "never_flagged": never,
                "days_to_flag": _spread(to_flag),
                "days_to_contact": _spread(to_contact),
                "contacted": len(to_contact),
            },
            "opted_out": facts.opted_out,
            "dropped_out": sum(1 for p in self.people if p.dropped_out(self.end)),
            "sms_segments": facts.sms_segments,
            "sms_cost": round(facts.sms_segments * self.sms_price, 2),
        }

    def series(self) -> dict[str, Any]:
        """Week-by-week figures for the report's charts (week 0 starts at the simulation's start)."""
        weeks = self._weeks()
        by_severity: dict[str, list[int]] = {}
        for _person, severity, _reasons, created_at, _claimed in self.facts.flags:
            by_severity.setdefault(severity, [0] * weeks)[week_of(created_at, weeks)] += 1
        _, _, _, to_flag, to_contact = self._relapse_delays()
        return {
            "weeks": weeks,
            "messages_by_channel": dict(sorted(self.facts.messages_by_week.items())),
            "checkups_closed": list(self.facts.closed_by_week),
            "checkups_answered": list(self.facts.answered_by_week),
            "flags_by_severity": dict(sorted(by_severity.items())),
            "volunteer_hours": self.volunteer_hours(self._flags_per_week()),
            "days_to_flag": sorted(round(d, 3) for d in to_flag),
            "days_to_contact": sorted(round(d, 3) for d in to_contact),
        }


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def _no_commit_wait(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO off")
    cursor.close()
    dbapi_connection.commit()  # a SET in a transaction rolled back at check-in would be undone


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _spread(days: list[float]) -> dict[str, float | None]:
    if not days:
        return {"median": None, "p90": None}
    ordered = sorted(days)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return {"median": round(statistics.median(ordered), 2), "p90": round(p90, 2)}


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as lines for a terminal."""
    hours = summary["volunteer_hours_per_week"]
    lines = [
        f"Simulated {summary['people']} people for {summary['years']} years on {summary['protocol']} "
        f"(seed {summary['seed']})",
        "",
        f"Check-ups: {summary['checkups']}",
        f"Messages sent: {summary['messages_total']}  (replies received: {summary['inbound']})",
        f"  automated calls picked up: {summary['calls_answered']}  (answers keyed in: {summary['keypad_answers']})",
        f"  check-up messages outside the person's send window: {summary['outside_window']}",
    ]
    for channel, kinds in summary["messages"].items():
        lines.append(f"  {channel:<6} " + ", ".join(f"{kind} {count}" for kind, count in kinds.items()))
    lines += ["", "Response rate by phase (answered / closed check-ups):"]
    for phase, row in summary["response_rate_by_phase"].items():
        rate = "-" if row["rate"] is None else f"{row['rate']:.0%}"
        lines.append(f"  {phase:<12} {rate:>5}  ({row['answered']}/{row['closed']})")
    lines += [
        "",
        f"Flags: {summary['flags_total']}  "
        + ", ".join(f"{sev} {n}" for sev, n in summary["flags_by_severity"].items()),
        f"Flags per week (volunteer load): mean {summary['flags_per_week']['mean']}, "
        f"max {summary['flags_per_week']['max']}",
        f"Volunteer hours needed per week: mean {hours['mean']:.1f}, max {hours['max']:.1f} "
        f"(at {hours['minutes_per_flag']:g} minutes per flag)",
        f"Volunteer calls made per day: at most {summary['volunteer_calls_per_day']} (--volunteer-capacity)",
    ]
    r = summary["relapses"]
    lines += [
        "",
        f"Relapses simulated: {r['simulated']} ({r['evaluable']} at least 4 weeks before the end)",
        f"  never flagged: {r['never_flagged']}",
        f"  days to first flag: median {r['days_to_flag']['median']}, p90 {r['days_to_flag']['p90']}",
        f"  days to first human contact: median {r['days_to_contact']['median']}, "
        f"p90 {r['days_to_contact']['p90']} ({r['contacted']} contacted)",
        "",
        f"Opted out: {summary['opted_out']}, stopped answering: {summary['dropped_out']}",
        f"SMS segments: {summary['sms_segments']}, cost {summary['sms_cost']:.2f}",
    ]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def terminal_progress(
    stream: TextIO = sys.stderr, clock: Callable[[], float] = monotonic
) -> Callable[[float], None] | None:
    """A one-line progress display when ``stream`` is a terminal, else None: the share of the work done, the
    time taken and, once there is something to go on, about how long is left at the pace so far."""
    if not stream.isatty():
        return None
    started = clock()
    state = {"last": -1, "width": 0}

    def show(fraction: float) -> None:
        percent = int(min(1.0, fraction) * 100)
        if percent == state["last"]:
            return
        state["last"] = percent
        elapsed = clock() - started
        line = f"simulating [{'#' * (percent // 4):<25}] {percent:3d}%  {_duration(elapsed)}"
        if percent >= 100:
            line = f"simulating [{'#' * 25}] 100%  done in {_duration(elapsed)}"
        elif fraction >= 0.02 and elapsed >= 2:
            line += f", about {_duration(elapsed * (1 - fraction) / fraction)} left"
        padding = " " * max(0, state["width"] - len(line))  # wipe what a longer line left behind
        state["width"] = len(line)
        stream.write(f"\r{line}{padding}")
        if percent >= 100:
            stream.write("\n")
        stream.flush()

    return show
