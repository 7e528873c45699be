"""The program leads' figures: plain functions on a session that return plain data.

Check-ups and enrolments are counted by SQL aggregates over the chosen weeks (grouped by week, protocol and
phase in the database, then folded here): no check-up row is read one by one. Flags raised in the range
are read one row a flag, as the median time to first contact needs each flag's own delay (flags are a
small fraction of check-ups). The same SQL runs on SQLite and PostgreSQL, except the week number of a
timestamp and the unpacking of a flag's JSON reasons.

What the figures mean (the dashboard page and the CSV export say the same):

- Weeks run Monday 00:00 to Monday 00:00 UTC; a date range is widened to whole weeks.
- Active enrolments: enrolments whose status is ``active`` now (paused ones are counted apart); an
  enrolment's phase is the phase of its next check-up.
- Response rate: answered ÷ (answered + missed) of the check-ups *sent* that week. Check-ups still
  awaiting a reply are left out until they close, and so are ones cancelled after they were sent.
- Flags: flags *raised* that week, by their severity now (an overdue flag is escalated a step) and by each
  reason they carry (a flag with two reasons counts once under each).
- First human contact: the first call attempt a volunteer logged on the flag. Time to it is counted from
  when the flag was raised; medians are over the flags raised that week that have had one.
- Deadline missed: a flag raised that week whose first logged attempt came after its due-by time, or
  that has no attempt and was resolved after its due-by time or is still unresolved past it.
- Outcomes: flags *resolved* that week, by outcome.
- A flag belongs to the protocol of the participant's enrolment when it was raised, and to the phase of
  that enrolment's last check-up due before it (``(none)`` if it came before the first one).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, case, func, literal, literal_column, select, text, true
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.selectable import Subquery

from ..models import (
    OPEN_CHECKUP,
    Checkup,
    CheckupStatus,
    Enrolment,
    EnrolmentStatus,
    Flag,
    FlagAttempt,
    FlagOutcome,
    Participant,
    ProtocolVersion,
    UTCDateTime,
)

WEEK_SECONDS = 7 * 24 * 3600
MAX_WEEKS = 260  # five years of weekly bars is already more than a chart can show
DEFAULT_WEEKS = 12
SEVERITIES = ("urgent", "high", "medium", "low")
OUTCOMES = tuple(o.value for o in FlagOutcome)
NONE = "(none)"  # the group of rows with no protocol or phase (a flag before the first check-up)


# --- the week a timestamp falls in ---------------------------------------------------------------------


class week_index(FunctionElement[int]):
    """Whole weeks from ``origin`` (UTC epoch seconds, an inline integer) to a UTC timestamp column."""

    type = Integer()
    inherit_cache = True
    name = "week_index"


def _week_args(element: week_index, compiler: Any, **kw: Any) -> tuple[str, str]:
    column, origin = list(element.clauses)
    return compiler.process(column, **kw), compiler.process(origin, **kw)


@compiles(week_index, "sqlite")
def _week_index_sqlite(element: week_index, compiler: Any, **kw: Any) -> str:
    column, origin = _week_args(element, compiler, **kw)
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text. strftime rounds a fraction up to the next second
    # (23:59:59.9999 would land in the next week), so the fraction is cut off first. Integer division is
    # exact; rows are filtered to the range, so nothing is negative.
    return f"((CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) - {origin}) / {WEEK_SECONDS})"


@compiles(week_index, "postgresql")
def _week_index_postgresql(element: week_index, compiler: Any, **kw: Any) -> str:
    column, origin = _week_args(element, compiler, **kw)
    return f"CAST(floor((extract(epoch FROM {column}) - {origin}) / {WEEK_SECONDS}) AS INTEGER)"


@compiles(week_index)
def _week_index_other(element: week_index, compiler: Any, **kw: Any) -> str:
    raise CompileError(f"week_index is not written for {compiler.dialect.name}")


def _week_of(column: Any, origin: int) -> week_index:
    # The origin is rendered inline, not as a parameter: PostgreSQL cannot see that the same expression
    # with two parameters ($1 in SELECT, $2 in GROUP BY) is the same, and it is our own integer.
    return week_index(column, literal_column(str(int(origin))))


# --- what is asked ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Whole weeks from ``start`` (a Monday) to ``end`` (a Sunday), optionally one organisation, protocol
    and phase. ``organisation_id`` None means every organisation (admins only)."""

    start: date
    end: date
    organisation_id: int | None = None
    protocol: str | None = None
    phase: str | None = None

    def __post_init__(self) -> None:
        if self.start.weekday() != 0 or self.end.weekday() != 6:
            raise ValueError("weeks run Monday to Sunday: use Filters.covering()")
        if self.end < self.start:
            raise ValueError("the end date is before the start date")
        if len(self.weeks) > MAX_WEEKS:
            raise ValueError(f"at most {MAX_WEEKS} weeks at a time")

    @classmethod
    def covering(cls, first: date, last: date, **kwargs: Any) -> Filters:
        """The whole weeks (Monday to Sunday) that hold ``first`` to ``last``."""
        if last < first:
            raise ValueError("the end date is before the start date")
        start = first - timedelta(days=first.weekday())
        end = last + timedelta(days=6 - last.weekday())
        if (end - start).days // 7 + 1 > MAX_WEEKS:
            raise ValueError(f"at most {MAX_WEEKS} weeks at a time")
        return cls(start, end, **kwargs)

    @classmethod
    def recent(cls, today: date, weeks: int = DEFAULT_WEEKS, **kwargs: Any) -> Filters:
        """The last ``weeks`` weeks, this one included."""
        return cls.covering(today - timedelta(weeks=weeks - 1), today, **kwargs)

    @property
    def weeks(self) -> list[date]:
        """The Monday of each week."""
        return [self.start + timedelta(weeks=i) for i in range((self.end - self.start).days // 7 + 1)]

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), UTC)

    @property
    def origin(self) -> int:
        return int(self.since.timestamp())


# --- what comes back ----------------------------------------------------------------------------------


@dataclass
class Figures:
    """The counts of one week, one protocol, one phase, or of everything in the range."""

    enrolments_started: int = 0
    active_enrolments: int = 0  # now, not in the week (for a protocol, a phase or the total)
    paused_enrolments: int = 0
    sent: int = 0  # check-ups sent, whatever became of them
    answered: int = 0
    missed: int = 0
    awaiting: int = 0
    flags: int = 0  # raised
    contacted: int = 0  # of those, with a logged call attempt
    deadlines_missed: int = 0
    resolved: int = 0
    median_hours_to_contact: float | None = None

    @property
    def response_rate(self) -> float | None:
        closed = self.answered + self.missed
        return self.answered / closed if closed else None


@dataclass
class Dashboard:
    filters: Filters
    weeks: list[date]
    by_week: list[Figures]
    total: Figures
    by_protocol: dict[str, Figures]
    by_phase: dict[str, Figures]
    severity: dict[str, list[int]]  # severity -> flags raised each week (SEVERITIES order)
    reasons: dict[str, list[int]]  # reason code -> flags raised each week carrying it (most frequent first)
    outcomes: dict[str, list[int]]  # outcome -> flags resolved each week (FlagOutcome order)


def reason_code(source: str | None) -> str:
    """A flag reason's short code: the protocol's rule id, ``crisis``, ``call_request``, ``unreachable_number``."""
    if not source:
        return "other"
    if source.startswith("rule:"):
        return source.removeprefix("rule:")
    if source.startswith("provider:"):
        return "unreachable_number"
    return source.replace("-", "_")


# --- the queries ----------------------------------------------------------------------------------------


def _enrolments_in_scope(query: Select[Any], filters: Filters) -> Select[Any]:
    """``query`` (which reads Enrolment) limited to the organisation and protocol asked for."""
    if filters.organisation_id is not None:
        query = query.join(Participant, Participant.id == Enrolment.participant_id).where(
            Participant.organisation_id == filters.organisation_id
        )
    if filters.protocol is not None:
        query = query.where(Enrolment.protocol_name == filters.protocol)
    return query


def _checkup_rows(session: Session, filters: Filters) -> list[Any]:
    """(week, protocol, phase, sent, answered, missed, awaiting) for check-ups sent in the range."""
    rows = select(
        _week_of(Checkup.sent_at, filters.origin).label("week"),
        Enrolment.protocol_name.label("protocol"),
        Checkup.phase.label("phase"),
        Checkup.status.label("status"),
    ).join(Enrolment, Enrolment.id == Checkup.enrolment_id)
    rows = _enrolments_in_scope(rows, filters).where(Checkup.sent_at >= filters.since, Checkup.sent_at < filters.until)
    if filters.phase is not None:
        rows = rows.where(Checkup.phase == filters.phase)
    sub = rows.subquery("sent_checkups")

    def count(status: CheckupStatus) -> ColumnElement[Any]:
        return func.sum(case((sub.c.status == status.value, 1), else_=0))

    query = select(
        sub.c.week,
        sub.c.protocol,
        sub.c.phase,
        func.count(),
        count(CheckupStatus.answered),
        count(CheckupStatus.missed),
        count(CheckupStatus.awaiting),
    ).group_by(sub.c.week, sub.c.protocol, sub.c.phase)
    return list(session.execute(query))


def _started_rows(session: Session, filters: Filters) -> list[Any]:
    """(week, protocol, count) of enrolments created in the range (not split by phase)."""
    rows = select(
        _week_of(Enrolment.created_at, filters.origin).label("week"), Enrolment.protocol_name.label("protocol")
    )
    rows = _enrolments_in_scope(rows, filters).where(
        Enrolment.created_at >= filters.since, Enrolment.created_at < filters.until
    )
    sub = rows.subquery("started")
    return list(session.execute(select(sub.c.week, sub.c.protocol, func.count()).group_by(sub.c.week, sub.c.protocol)))


def _running_rows(session: Session, filters: Filters) -> list[Any]:
    """(status, protocol, phase of the next check-up, count) of active and paused enrolments, now."""
    upcoming = aliased(Checkup)
    query = select(Enrolment.status, Enrolment.protocol_name, upcoming.phase, func.count()).outerjoin(
        upcoming, and_(upcoming.enrolment_id == Enrolment.id, upcoming.status.in_(OPEN_CHECKUP))
    )
    query = _enrolments_in_scope(query, filters).where(
        Enrolment.status.in_((EnrolmentStatus.active.value, EnrolmentStatus.paused.value))
    )
    if filters.phase is not None:
        query = query.where(upcoming.phase == filters.phase)
    return list(session.execute(query.group_by(Enrolment.status, Enrolment.protocol_name, upcoming.phase)))


def _flag_facts(filters: Filters, stamp: Any) -> Subquery:
    """One row per flag whose ``stamp`` (created_at or resolved_at) is in the range, in scope, with its
    week, protocol, phase and first logged attempt."""
    enrolment_id = (
        select(func.max(Enrolment.id))
        .where(Enrolment.participant_id == Flag.participant_id, Enrolment.created_at <= Flag.created_at)
        .correlate(Flag)
        .scalar_subquery()
    )
    first_attempt = (
        select(func.min(FlagAttempt.at)).where(FlagAttempt.flag_id == Flag.id).correlate(Flag).scalar_subquery()
    )
    base = select(
        Flag.id,
        Flag.severity,
        Flag.reasons,
        Flag.outcome,
        Flag.created_at,
        Flag.due_by,
        Flag.resolved_at,
        _week_of(stamp, filters.origin).label("week"),
        enrolment_id.label("enrolment_id"),
        first_attempt.label("first_at"),
    ).where(stamp >= filters.since, stamp < filters.until)
    if filters.organisation_id is not None:
        base = base.where(Flag.organisation_id == filters.organisation_id)
    flags = base.subquery("flag_base")
    phase = (
        select(Checkup.phase)
        .where(Checkup.enrolment_id == flags.c.enrolment_id, Checkup.due_at <= flags.c.created_at)
        .order_by(Checkup.due_at.desc(), Checkup.id.desc())
        .limit(1)
        .correlate(flags)
        .scalar_subquery()
    )
    facts = select(*flags.c, Enrolment.protocol_name.label("protocol"), phase.label("phase")).outerjoin(
        Enrolment, Enrolment.id == flags.c.enrolment_id
    )
    if filters.protocol is not None:
        facts = facts.where(Enrolment.protocol_name == filters.protocol)
    if filters.phase is not None:
        facts = facts.where(phase == filters.phase)
    return facts.subquery("flag_facts")


def _deadline_missed(facts: Subquery, now: datetime) -> ColumnElement[int]:
    now_value = literal(now, UTCDateTime())
    return case(
        (facts.c.first_at.is_not(None), case((facts.c.first_at > facts.c.due_by, 1), else_=0)),
        (func.coalesce(facts.c.resolved_at, now_value) > facts.c.due_by, 1),
        else_=0,
    )


def _raised_flags(session: Session, facts: Subquery, now: datetime) -> list[Any]:
    """(week, protocol, phase, severity, raised at, first attempt at, deadline missed) of each flag raised.

    One row a flag, not an aggregate: the median needs each flag's own delay, and the same read gives every
    other flag figure (flags are few beside check-ups, and computing each one's phase twice costs more).
    """
    query = select(
        facts.c.week,
        facts.c.protocol,
        facts.c.phase,
        facts.c.severity,
        facts.c.created_at,
        facts.c.first_at,
        _deadline_missed(facts, now),
    )
    return list(session.execute(query))


def _reason_rows(session: Session, facts: Subquery) -> list[Any]:
    """(week, reason source, flags) over every reason of every flag."""
    if session.get_bind().dialect.name == "postgresql":
        items = func.json_array_elements(facts.c.reasons).table_valued("value")
        source: ColumnElement[Any] = items.c.value.op("->>")(literal_column("'source'"))
    else:
        items = func.json_each(facts.c.reasons).table_valued("value")
        source = func.json_extract(items.c.value, literal_column("'$.source'"))
    # A function in FROM may read the columns of the items before it (implicitly LATERAL on PostgreSQL).
    each = select(facts.c.id, facts.c.week, source.label("source")).select_from(facts).join(items, true())
    sub = each.subquery("flag_reasons")
    query = select(sub.c.week, sub.c.source, func.count(func.distinct(sub.c.id))).group_by(sub.c.week, sub.c.source)
    return list(session.execute(query))


def _outcome_rows(session: Session, facts: Subquery) -> list[Any]:
    """(week resolved, protocol, phase, outcome, flags)."""
    query = (
        select(facts.c.week, facts.c.protocol, facts.c.phase, facts.c.outcome, func.count())
        .where(facts.c.outcome.is_not(None))
        .group_by(facts.c.week, facts.c.protocol, facts.c.phase, facts.c.outcome)
    )
    return list(session.execute(query))


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def dashboard(session: Session, filters: Filters, now: datetime) -> Dashboard:
    """Every figure of the dashboard for ``filters``; ``now`` decides which open flags are past due."""
    if session.get_bind().dialect.name == "postgresql":
        # The flag queries run in milliseconds, but their correlated look-ups look costly to the planner,
        # which then spends longer JIT-compiling each one (half a second) than running it. For this
        # transaction only.
        session.execute(text("SET LOCAL jit = off"))
    weeks = filters.weeks
    count = len(weeks)
    by_week = [Figures() for _ in weeks]
    total = Figures()
    by_protocol: dict[str, Figures] = defaultdict(Figures)
    by_phase: dict[str, Figures] = defaultdict(Figures)

    def targets(week: int | None, protocol: str | None, phase: str | bool | None = False) -> Iterator[Figures]:
        yield total
        yield by_protocol[protocol or NONE]
        if phase is not False:
            yield by_phase[phase or NONE]  # type: ignore[index]
        if week is not None and 0 <= week < count:
            yield by_week[week]

    for week, protocol, phase, sent, answered, missed, awaiting in _checkup_rows(session, filters):
        for figures in targets(week, protocol, phase):
            figures.sent += sent
            figures.answered += answered or 0
            figures.missed += missed or 0
            figures.awaiting += awaiting or 0

    for week, protocol, started in _started_rows(session, filters):
        for figures in targets(week, protocol):
            figures.enrolments_started += started

    for status, protocol, phase, enrolments in _running_rows(session, filters):
        for figures in targets(None, protocol, phase):
            if status == EnrolmentStatus.active.value:
                figures.active_enrolments += enrolments
            else:
                figures.paused_enrolments += enrolments

    raised = _flag_facts(filters, Flag.created_at)
    severity = {s: [0] * count for s in SEVERITIES}
    hours: dict[int, list[float]] = defaultdict(list)  # by id() of the Figures they belong to
    for week, protocol, phase, level, raised_at, first_at, missed in _raised_flags(session, raised, now):
        delay = None if first_at is None else (first_at - raised_at).total_seconds() / 3600
        for figures in targets(week, protocol, phase):
            figures.flags += 1
            figures.deadlines_missed += missed
            if delay is not None:
                figures.contacted += 1
                hours[id(figures)].append(delay)
        if 0 <= week < count:
            severity.setdefault(level, [0] * count)[week] += 1
    for figures in [total, *by_protocol.values(), *by_phase.values(), *by_week]:
        figures.median_hours_to_contact = _median(hours.get(id(figures), []))

    reasons: dict[str, list[int]] = {}
    for week, source, flags in _reason_rows(session, raised):
        if 0 <= week < count:
            reasons.setdefault(reason_code(source), [0] * count)[week] += flags
    reasons = dict(sorted(reasons.items(), key=lambda item: (-sum(item[1]), item[0])))

    outcomes = {o: [0] * count for o in OUTCOMES}
    for week, protocol, phase, outcome, flags in _outcome_rows(session, _flag_facts(filters, Flag.resolved_at)):
        for figures in targets(week, protocol, phase):
            figures.resolved += flags
        if 0 <= week < count:
            outcomes.setdefault(outcome, [0] * count)[week] += flags

    return Dashboard(
        filters=filters,
        weeks=weeks,
        by_week=by_week,
        total=total,
        by_protocol=dict(sorted(by_protocol.items())),
        by_phase=dict(sorted(by_phase.items())),
        severity=severity,
        reasons=reasons,
        outcomes=outcomes,
    )


# --- CSV ------------------------------------------------------------------------------------------------

CSV_COLUMNS = ("week_start", "week_end", "metric", "category", "value")
# metric -> what it counts (the dashboard page shows this table).
CSV_METRICS: dict[str, str] = {
    "enrolments_started": "enrolments created that week",
    "checkups_sent": "check-ups sent that week",
    "checkups_answered": "of those, answered",
    "checkups_missed": "of those, missed (no reply before the check-up closed)",
    "checkups_awaiting": "of those, still awaiting a reply",
    "response_rate": "answered ÷ (answered + missed), 0 to 1; empty when none closed",
    "flags_raised": "flags raised that week",
    "flags_by_severity": "flags raised that week, category = severity now",
    "flags_by_reason": "flags raised that week carrying a reason, category = reason code",
    "flags_contacted": "flags raised that week with a logged call attempt",
    "median_hours_to_first_contact": "median hours from flag to first logged call attempt; empty when none",
    "deadlines_missed": "flags raised that week first contacted after their due-by time, or still not",
    "outcomes": "flags resolved that week, category = outcome",
}


def _number(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def csv_rows(board: Dashboard) -> Iterator[tuple[str, str, str, str, str]]:
    """One row per week per metric (and per category for the split ones), in ``CSV_COLUMNS`` order."""
    for i, week in enumerate(board.weeks):
        start, end = week.isoformat(), (week + timedelta(days=6)).isoformat()
        figures = board.by_week[i]
        plain = {
            "enrolments_started": str(figures.enrolments_started),
            "checkups_sent": str(figures.sent),
            "checkups_answered": str(figures.answered),
            "checkups_missed": str(figures.missed),
            "checkups_awaiting": str(figures.awaiting),
            "response_rate": _number(figures.response_rate, 4),
            "flags_raised": str(figures.flags),
        }
        for metric, value in plain.items():
            yield start, end, metric, "", value
        for level, values in board.severity.items():
            yield start, end, "flags_by_severity", level, str(values[i])
        for code, values in board.reasons.items():
            yield start, end, "flags_by_reason", code, str(values[i])
        yield start, end, "flags_contacted", "", str(figures.contacted)
        yield start, end, "median_hours_to_first_contact", "", _number(figures.median_hours_to_contact, 2)
        yield start, end, "deadlines_missed", "", str(figures.deadlines_missed)
        for outcome, values in board.outcomes.items():
            yield start, end, "outcomes", outcome, str(values[i])


# --- protocols: which version each enrolment runs on ---------------------------------------------------


@dataclass(frozen=True)
class VersionCount:
    protocol: str
    version: str
    first_used: datetime  # when the first enrolment on this version was made
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def running(self) -> int:
        return self.by_status.get("active", 0) + self.by_status.get("paused", 0)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def enrolments_by_version(session: Session, organisation_id: int | None = None) -> list[VersionCount]:
    """Enrolments by protocol name and stored version, counted by status; newest version first."""
    query = select(
        Enrolment.protocol_name, ProtocolVersion.version, ProtocolVersion.created_at, Enrolment.status, func.count()
    ).join(ProtocolVersion, ProtocolVersion.id == Enrolment.protocol_version_id)
    if organisation_id is not None:
        query = query.join(Participant, Participant.id == Enrolment.participant_id).where(
            Participant.organisation_id == organisation_id
        )
    query = query.group_by(
        Enrolment.protocol_name, ProtocolVersion.version, ProtocolVersion.created_at, Enrolment.status
    )
    counts: dict[tuple[str, str, datetime], dict[str, int]] = defaultdict(dict)
    for name, version, first_used, status, enrolments in session.execute(query):
        counts[(name, version, first_used)][status] = enrolments
    out = [
        VersionCount(name, version, first_used, by_status) for (name, version, first_used), by_status in counts.items()
    ]
    return sorted(out, key=lambda v: (v.protocol, -v.first_used.timestamp(), v.version))


__all__ = [
    "CSV_COLUMNS",
    "CSV_METRICS",
    "Dashboard",
    "Figures",
    "Filters",
    "VersionCount",
    "csv_rows",
    "dashboard",
    "enrolments_by_version",
    "reason_code",
    "week_index",
]
