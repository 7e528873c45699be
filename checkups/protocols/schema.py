"""The shape of a protocol file, as pydantic models.

Structure is checked here (types, unknown keys, bounds of one field); checks that relate one part of the
file to another (a rule naming a question, a language missing from a text) are in :mod:`.checks`, so that
every error in a file is reported at once with its line.
"""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    field_validator,
    model_validator,
)

from .durations import Duration, DurationError, Unit

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
# Text in each language the protocol speaks: {en: "...", cy: "..."}.
Texts = dict[LanguageCode, Annotated[str, Field(min_length=1, max_length=1600)]]


def _duration(value: object) -> Duration:
    try:
        return Duration.parse(value)
    except DurationError as error:
        raise ValueError(str(error)) from None


DurationField = Annotated[Duration, BeforeValidator(_duration), PlainSerializer(str)]


def _positive_duration(value: Duration) -> Duration:
    if value.amount <= 0:
        raise ValueError("must be longer than zero")
    return value


def _hhmm(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hours, minutes = (int(p) for p in value.strip().split(":"))
        if hours == 24 and minutes == 0:
            return time.max
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError(f"expected a time of day as HH:MM (e.g. '10:00'), got {value!r}")


TimeOfDay = Annotated[time, BeforeValidator(_hhmm), PlainSerializer(lambda t: t.strftime("%H:%M"))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Weekday(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"

    @property
    def index(self) -> int:
        """Monday is 0, as in :meth:`datetime.date.weekday`."""
        return list(Weekday).index(self)


ALL_DAYS = tuple(Weekday)


class SendWindow(Strict):
    """When messages may be sent, in the participant's own time zone."""

    start: TimeOfDay
    end: TimeOfDay
    days: tuple[Weekday, ...] = ALL_DAYS

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: Any) -> Any:
        # "mon" or "monday", any case; nothing else ("sunflower" is not Sunday).
        full = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
        if isinstance(value, list | tuple):
            out = []
            for v in value:
                word = v.strip().lower() if isinstance(v, str) else v
                out.append(word[:3] if isinstance(word, str) and word in full else word)
            return out
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SendWindow:
        if self.end <= self.start:
            raise ValueError(
                f"end {self.end:%H:%M} must be after start {self.start:%H:%M} (a window cannot run past midnight)"
            )
        if not self.days:
            raise ValueError("days must name at least one day")
        if len(set(self.days)) != len(self.days):
            raise ValueError("days lists a day twice")
        return self

    def allows(self, weekday: int, at: time) -> bool:
        return weekday in self.day_indexes and self.start <= at < self.end

    @property
    def day_indexes(self) -> frozenset[int]:
        return frozenset(d.index for d in self.days)


class ChannelKind(StrEnum):
    sms = "sms"
    voice = "voice"


class Channels(Strict):
    preferred: ChannelKind = ChannelKind.sms
    fallback: ChannelKind | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Channels:
        if self.fallback is not None and self.fallback == self.preferred:
            raise ValueError("fallback must differ from preferred")
        return self


class Phase(Strict):
    """One step of the taper: a check-up every ``every``, until the phase ends.

    A phase starts where the one before it ended (the first at the anchor date) unless ``from`` says
    otherwise, and ends after ``for`` (from its own start), at ``until`` (from the anchor date), or
    after ``count`` check-ups. Exactly one of these ends it.
    """

    name: Identifier
    every: DurationField
    start: DurationField | None = Field(default=None, alias="from")
    for_: DurationField | None = Field(default=None, alias="for")
    until: DurationField | None = None
    count: Annotated[int, Field(ge=1, le=1000)] | None = None
    questions: Identifier = "default"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("every")
    @classmethod
    def _every_in_days(cls, value: Duration) -> Duration:
        _positive_duration(value)
        if value.unit in (Unit.minutes, Unit.hours):
            raise ValueError("check-ups are at most daily: use days, weeks, months or years")
        return value


class Schedule(Strict):
    phases: list[Phase] = Field(min_length=1)


class AnswerType(StrEnum):
    yes_no = "yes_no"
    scale = "scale"
    choice = "choice"
    text = "text"


class Choice(Strict):
    id: Identifier
    text: Texts


class Question(Strict):
    id: Identifier
    type: AnswerType
    text: Texts
    min: int | None = None
    max: int | None = None
    choices: list[Choice] | None = None
    # Words for the voice call's keypad prompt, e.g. "Press 1 for yes, 2 for no."
    voice: Texts | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> Question:
        if self.type is AnswerType.scale:
            if self.min is None or self.max is None:
                raise ValueError("a scale question needs min and max")
            if self.min >= self.max:
                raise ValueError(f"min ({self.min}) must be below max ({self.max})")
            if self.min < 0 or self.max > 100:
                raise ValueError("a scale runs between 0 and 100")
        elif self.min is not None or self.max is not None:
            raise ValueError(f"min and max are only for scale questions, not {self.type.value}")
        if self.type is AnswerType.choice:
            if not self.choices or len(self.choices) < 2:
                raise ValueError("a choice question needs at least two choices")
            ids = [c.id for c in self.choices]
            if len(set(ids)) != len(ids):
                raise ValueError("two choices share an id")
            if len(self.choices) > 9:
                raise ValueError("at most 9 choices (one keypad digit each)")
        elif self.choices is not None:
            raise ValueError(f"choices are only for choice questions, not {self.type.value}")
        return self


class DeliveryMode(StrEnum):
    one_by_one = "one_by_one"  # ask the next question when the previous one is answered
    all_at_once = "all_at_once"  # all questions in one message


class NonResponse(Strict):
    """What happens when nobody answers, counted from when the check-up was sent."""

    remind_after: list[DurationField] = Field(default_factory=list, max_length=5)
    fallback_after: DurationField | None = None
    missed_after: DurationField

    @model_validator(mode="after")
    def _ordered(self) -> NonResponse:
        missed = self.missed_after.nominal_days
        for reminder in self.remind_after:
            if reminder.nominal_days >= missed:
                raise ValueError(f"reminder after {reminder} comes after the check-up is missed ({self.missed_after})")
        if self.fallback_after is not None and self.fallback_after.nominal_days >= missed:
            raise ValueError(
                f"voice fallback after {self.fallback_after} comes after the check-up is missed ({self.missed_after})"
            )
        return self


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


# Conditions of a risk rule: structured data, never code. The key that is present says which kind.
class AnswerEquals(Strict):
    answer: Identifier
    equals: str | int | bool


class AnswerAtLeast(Strict):
    answer: Identifier
    at_least: int


class AnswerAtMost(Strict):
    answer: Identifier
    at_most: int


class ChangeBase(StrEnum):
    previous = "previous"  # the person's previous answer to the same question
    baseline = "baseline"  # the person's own baseline (median of their first answers)


class AnswerRise(Strict):
    answer: Identifier
    rise_from: ChangeBase
    by_at_least: Annotated[int, Field(ge=1)]


class AnswerFall(Strict):
    answer: Identifier
    fall_from: ChangeBase
    by_at_least: Annotated[int, Field(ge=1)]


class MissedInARow(Strict):
    missed_in_a_row: Annotated[int, Field(ge=1, le=100)]


class WithinFirstDays(Strict):
    """Within the first N days after the anchor (discharge) date."""

    within_first_days: Annotated[int, Field(ge=1, le=3650)]


class InOverdoseWindow(Strict):
    """The participant was marked at enrolment as at overdose risk, and it is within N days of discharge."""

    in_overdose_window: Annotated[int, Field(ge=1, le=365)]


class AllOf(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Condition] = Field(min_length=1)


_CONDITION_KEYS = (
    "all",
    "any",
    "missed_in_a_row",
    "within_first_days",
    "in_overdose_window",
    "equals",
    "at_least",
    "at_most",
    "rise_from",
    "fall_from",
)


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            AllOf: "all",
            AnyOf: "any",
            MissedInARow: "missed_in_a_row",
            WithinFirstDays: "within_first_days",
            InOverdoseWindow: "in_overdose_window",
            AnswerEquals: "equals",
            AnswerAtLeast: "at_least",
            AnswerAtMost: "at_most",
            AnswerRise: "rise_from",
            AnswerFall: "fall_from",
        }.get(type(value), "") + "?"
    if not isinstance(value, dict):
        return None
    kinds = [key for key in _CONDITION_KEYS if key in value]
    # Tags end in "?" so that the loader can drop them from error paths.
    return kinds[0] + "?" if len(kinds) == 1 else None


Condition = Annotated[
    Annotated[AllOf, Tag("all?")]
    | Annotated[AnyOf, Tag("any?")]
    | Annotated[MissedInARow, Tag("missed_in_a_row?")]
    | Annotated[WithinFirstDays, Tag("within_first_days?")]
    | Annotated[InOverdoseWindow, Tag("in_overdose_window?")]
    | Annotated[AnswerEquals, Tag("equals?")]
    | Annotated[AnswerAtLeast, Tag("at_least?")]
    | Annotated[AnswerAtMost, Tag("at_most?")]
    | Annotated[AnswerRise, Tag("rise_from?")]
    | Annotated[AnswerFall, Tag("fall_from?")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message=(
            "a condition needs exactly one of: all, any, missed_in_a_row, within_first_days, "
            "in_overdose_window, or answer with equals, at_least, at_most, rise_from or fall_from"
        ),
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


class RiskRule(Strict):
    id: Identifier
    when: Condition
    severity: Severity
    reason: Annotated[str, Field(min_length=3, max_length=300)]
    respond_within: DurationField
    # Extra words for the volunteer's call script for this reason.
    script: str | None = None

    @field_validator("respond_within")
    @classmethod
    def _positive(cls, value: Duration) -> Duration:
        return _positive_duration(value)


class Crisis(Strict):
    """Words that mean someone may be in danger now; any message is scanned for them."""

    words: list[Annotated[str, Field(min_length=2, max_length=60)]] = Field(min_length=1)
    reply: Texts
    respond_within: DurationField = Duration(15, Unit.minutes)

    @field_validator("respond_within")
    @classmethod
    def _positive(cls, value: Duration) -> Duration:
        return _positive_duration(value)


class StepUp(Strict):
    """After a flag: check in more often for a while, then go back to the protocol."""

    every: DurationField
    for_: DurationField = Field(alias="for")
    questions: Identifier = "default"
    back_after_clear: Annotated[int, Field(ge=1, le=20)] = 2

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Messages(Strict):
    """What the participant reads besides the questions, per language."""

    intro: Texts  # consent / opt-in: names the programme, how often, how to stop
    closing: Texts
    reminder: Texts
    clarify: Texts  # after an answer we could not understand
    help: Texts  # the answer to HELP
    opted_out: Texts  # confirmation of STOP
    voicemail: Texts  # left on an answering machine: no questions, nothing telling


class Discretion(Strict):
    """Telling words this protocol knowingly allows in its texts (the participant chose otherwise)."""

    allow: list[str] = Field(default_factory=list)


class Protocol(Strict):
    """A check-up protocol as one YAML file describes it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    languages: list[LanguageCode] = Field(min_length=1)
    send_window: SendWindow
    channels: Channels = Channels()
    delivery: DeliveryMode = DeliveryMode.one_by_one
    schedule: Schedule
    questions: list[Question] = Field(min_length=1)
    question_sets: dict[Identifier, list[Identifier]]
    non_response: NonResponse
    risk_rules: list[RiskRule] = Field(default_factory=list)
    crisis: Crisis
    step_up: StepUp | None = None
    messages: Messages
    discretion: Discretion = Discretion()

    # Filled in by the loader, not by the file.
    version: str = Field(default="", exclude=True)
    source: str = Field(default="", exclude=True)

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    def questions_for(self, phase_name: str) -> list[Question]:
        phase = next(p for p in self.schedule.phases if p.name == phase_name)
        return [self.question(qid) for qid in self.question_sets[phase.questions]]

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def text(self, texts: dict[str, str], language: str) -> str:
        """``texts`` in ``language``, or in the protocol's first language if it has none in that one."""
        return texts.get(language) or texts[self.default_language]


# Sections of the file, in order; each is validated on its own so one bad section does not hide the
# errors of the others.
SECTIONS: dict[str, Any] = {
    name: field for name, field in Protocol.model_fields.items() if name not in {"version", "source"}
}
