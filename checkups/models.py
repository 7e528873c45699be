"""The store: SQLAlchemy 2 typed models. The database is the one source of truth.

All timestamps are UTC-aware (``UTCDateTime`` also on SQLite, which keeps no zone). Phone numbers and
message bodies are stored encrypted (``*_cipher``) with a keyed hash (``*_hash``) to find them.
Constraints are named so migrations are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use checkups.clock.now()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def _enum_check(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{m.value}'" for m in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


class Role(StrEnum):
    admin = "admin"
    lead = "lead"
    enroller = "enroller"
    volunteer = "volunteer"


class EnrolmentStatus(StrEnum):
    active = "active"
    paused = "paused"
    withdrawn = "withdrawn"
    completed = "completed"
    opted_out = "opted_out"


class Channel(StrEnum):
    sms = "sms"
    voice = "voice"


class CheckupStatus(StrEnum):
    pending = "pending"  # not sent yet
    awaiting = "awaiting"  # sent, waiting for the reply
    answered = "answered"
    missed = "missed"
    skipped = "skipped"  # never sent: too late to be useful (an outage), superseded by the next
    cancelled = "cancelled"  # paused, withdrawn, opted out
    failed = "failed"  # could not be delivered (permanent error)


OPEN_CHECKUP = (CheckupStatus.pending.value, CheckupStatus.awaiting.value)


class Action(StrEnum):
    """The next thing to do with a check-up, at ``action_at``."""

    send = "send"
    remind = "remind"
    fallback = "fallback"  # the voice call when an SMS has no reply
    close = "close"  # counts as missed


class ActionState(StrEnum):
    ready = "ready"  # waiting for action_at
    claimed = "claimed"  # a tick claimed it, a task is on its way (lease_until)
    running = "running"  # a worker is talking to the provider (lease_until)


class MessageStatus(StrEnum):
    sending = "sending"  # saved before the request; the outcome is not known yet
    sent = "sent"  # the provider accepted it
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"  # the provider refused it
    unknown = "unknown"  # the request may or may not have gone out: reconcile


class MessageKind(StrEnum):
    question = "question"
    reminder = "reminder"
    call = "call"
    clarify = "clarify"
    closing = "closing"
    crisis_reply = "crisis_reply"
    help = "help"
    intro = "intro"
    opted_out = "opted_out"


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ProtocolVersion(Base):
    """A protocol as it was when an enrolment started: editing the file never changes running enrolments."""

    __tablename__ = "protocol_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("organisation_id", "client_ref"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    client_ref: Mapped[str] = mapped_column(String(100))
    phone_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    alias_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]

    organisation: Mapped[Organisation] = relationship()


class PhoneOptOut(Base):
    """A number that said STOP (or Twilio reported 21610, or staff opted out): nothing is sent to it."""

    __tablename__ = "phone_opt_outs"
    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    opted_out_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32))


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (
        _enum_check("status", EnrolmentStatus),
        _enum_check("channel", Channel),
        CheckConstraint("window_end > window_start", name="window_order"),
        # One running enrolment per participant.
        Index(
            "uq_enrolments_running_participant",
            "participant_id",
            unique=True,
            sqlite_where=text("status IN ('active', 'paused')"),
            postgresql_where=text("status IN ('active', 'paused')"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    protocol_version_id: Mapped[int] = mapped_column(ForeignKey("protocol_versions.id"))
    protocol_name: Mapped[str] = mapped_column(String(64))
    anchor_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=EnrolmentStatus.active.value)
    channel: Mapped[str] = mapped_column(String(8))
    window_start: Mapped[time] = mapped_column(Time)
    window_end: Mapped[time] = mapped_column(Time)
    window_days: Mapped[str] = mapped_column(String(40))  # "mon,tue,wed"
    consent_by: Mapped[str] = mapped_column(String(200))
    consent_at: Mapped[datetime]
    consent_method: Mapped[str] = mapped_column(String(32))
    consent_channels: Mapped[str] = mapped_column(String(32))  # "sms,voice"
    overdose_risk: Mapped[str | None] = mapped_column(String(32))  # opioids, detox, residential, prison
    missed_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # the highest check-up seq planned so far
    step_up_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    participant: Mapped[Participant] = relationship()
    protocol_version: Mapped[ProtocolVersion] = relationship()


class Checkup(Base):
    __tablename__ = "checkups"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "seq"),
        _enum_check("status", CheckupStatus),
        CheckConstraint("action IS NULL OR action IN ('send', 'remind', 'fallback', 'close')", name="action_valid"),
        _enum_check("action_state", ActionState),
        # Only the next check-up of an enrolment is stored ahead: at most one open at a time.
        Index(
            "uq_checkups_open_enrolment",
            "enrolment_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'awaiting')"),
            postgresql_where=text("status IN ('pending', 'awaiting')"),
        ),
        # What the tick reads: every row with an action waiting, ordered by when it is due. A tick scans
        # from the start and stops at the first row not yet due, so with nothing due its cost does not
        # grow with the number of enrolments (measured in bench/claim_throughput.py).
        Index(
            "ix_checkups_due",
            "action_at",
            sqlite_where=text("action_state = 'ready' AND action IS NOT NULL"),
            postgresql_where=text("action_state = 'ready' AND action IS NOT NULL"),
        ),
        Index(
            "ix_checkups_leased",
            "lease_until",
            sqlite_where=text("action_state IN ('claimed', 'running')"),
            postgresql_where=text("action_state IN ('claimed', 'running')"),
        ),
        # The leads' dashboard (engine/metrics.py, measured in bench/dashboard_queries.py): the check-ups sent
        # in a range, from the index alone on PostgreSQL; and a flag's phase (the last check-up of the
        # enrolment due before it) in one index step instead of reading the person's whole history.
        Index("ix_checkups_sent", "sent_at", postgresql_include=["enrolment_id", "phase", "status"]),
        Index("ix_checkups_enrolment_due", "enrolment_id", "due_at", "id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"))
    seq: Mapped[int] = mapped_column(Integer)  # the protocol's sequence number; step-up ones are above 10000
    phase: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]  # when the protocol places it
    status: Mapped[str] = mapped_column(String(16), default=CheckupStatus.pending.value)
    action: Mapped[str | None] = mapped_column(String(16))
    action_at: Mapped[datetime | None]
    action_state: Mapped[str] = mapped_column(String(16), default=ActionState.ready.value)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    deferrals: Mapped[int] = mapped_column(Integer, default=0)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    fallback_at: Mapped[datetime | None]  # when the voice fallback went out
    channel: Mapped[str | None] = mapped_column(String(8))
    sent_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(String(200))

    enrolment: Mapped[Enrolment] = relationship()

    @staticmethod
    def closing(status: CheckupStatus, now: datetime, note: str | None = None) -> dict[str, Any]:
        """Column values that close a check-up with ``status``: no action left, no claim, no lease."""
        values: dict[str, Any] = {
            "status": status.value,
            "action": None,
            "action_at": None,
            "action_state": ActionState.ready.value,
            "claim_token": None,
            "lease_until": None,
            "closed_at": now,
        }
        if note is not None:
            values["note"] = note
        return values


class OutboundMessage(Base):
    """One request to a provider. Saved (and committed) before the request, under a unique key."""

    __tablename__ = "outbound_messages"
    __table_args__ = (_enum_check("status", MessageStatus),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)  # e.g. checkup:12:send:1
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    checkup_id: Mapped[int | None] = mapped_column(ForeignKey("checkups.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    body_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(16))
    segments: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class InboundMessage(Base):
    """A reply, stored (unique provider id) and committed before anything else is done with it."""

    __tablename__ = "inbound_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    from_hash: Mapped[str] = mapped_column(String(64), index=True)
    from_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    body_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    channel: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="received")  # received, processed, parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(200))


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("checkup_id", "question_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    checkup_id: Mapped[int] = mapped_column(ForeignKey("checkups.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    question_id: Mapped[str] = mapped_column(String(64))
    value_int: Mapped[int | None] = mapped_column(Integer)
    value_text: Mapped[str | None] = mapped_column(String(64))
    parsed: Mapped[bool] = mapped_column(Boolean, default=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    answered_at: Mapped[datetime]


_UNESCALATED = text("state != 'resolved' AND escalated_at IS NULL")  # ix_flags_deadline's rows, on both backends


class Flag(Base):
    """A person who needs a human: why, how urgent, by when, and what happened."""

    __tablename__ = "flags"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'claimed', 'resolved')", name="state_valid"),
        CheckConstraint("severity IN ('low', 'medium', 'high', 'urgent')", name="severity_valid"),
        Index("ix_flags_queue", "state", "due_by"),
        # The next deadline to escalate at, read at every tick (and after every simulated event): the open flags
        # not escalated yet, by deadline. Queries state the condition with these literal values (UNESCALATED in
        # engine/flags.py) or SQLite will not use it.
        Index("ix_flags_deadline", "due_by", sqlite_where=_UNESCALATED, postgresql_where=_UNESCALATED),
        # The dashboard's flags raised and resolved in a range.
        Index("ix_flags_created", "created_at"),
        Index(
            "ix_flags_resolved",
            "resolved_at",
            sqlite_where=text("outcome IS NOT NULL"),
            postgresql_where=text("outcome IS NOT NULL"),
        ),
        Index(
            "uq_flags_open_participant",
            "participant_id",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    due_by: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, claimed, resolved
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None]  # passed its deadline unresolved: severity raised, lead alerted
    last_activity_at: Mapped[datetime | None]  # the claimant's last attempt (a claim left idle returns)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FlagOutcome(StrEnum):
    re_engaged_treatment = "re_engaged_treatment"  # reached, and back in touch with treatment
    referred_recovery_support = "referred_recovery_support"  # reached, referred to recovery support / mutual aid
    no_action_needed = "no_action_needed"  # reached, nothing more needed
    not_reached = "not_reached"  # not reached after several attempts
    wrong_number = "wrong_number"
    declined_contact = "declined_contact"  # declined further contact


class AttemptResult(StrEnum):
    reached = "reached"
    no_answer = "no_answer"
    voicemail = "voicemail"  # a message left (nothing telling)
    wrong_number = "wrong_number"
    other = "other"


class FlagAttempt(Base):
    """One try by a volunteer to reach the person behind a flag."""

    __tablename__ = "flag_attempts"
    __table_args__ = (_enum_check("result", AttemptResult),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]
    result: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (_enum_check("role", Role),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for the REST API. It acts as its user (their role and organisation); only its hash is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Append-only: who did what to whom, when."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))  # "user:3", "system", "cli"
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lease(Base):
    """Named leases: the scheduler's leader lock (one process ticks at a time)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class ConsoleOutbox(Base):
    """What the console channel "delivered": its stand-in for a provider's own record, for reconciliation."""

    __tablename__ = "console_outbox"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    participant_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    body_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    sent_at: Mapped[datetime]
