"""Risk rules: which of a protocol's rules hold for one person, now. Pure code: no database, no clock.

The caller gathers a :class:`History` (this check-up's answers and what came before) and calls
:func:`evaluate`; the flag code turns what fired into one open flag (:func:`highest` severity, the earliest
:func:`deadline`, :func:`explain` for each reason).

Semantics, decided here once:

Answers
    ``History.answers`` holds one canonical value per question: a scale answer is its ``int``; a yes/no
    answer is the text ``"yes"`` or ``"no"``; a choice answer is the choice id; an answer that was not
    understood (unparsed) is ``None`` or simply absent. This is ``Parsed.value_text`` when there is one,
    else ``Parsed.value_int`` (see :func:`answer_value`). As a safety net a yes/no condition also reads
    ``True``/``False``, ``1``/``0`` and any case of the words in ``checks.YES_WORDS``/``NO_WORDS``, so a
    caller that passes ``value_int`` for a yes/no question still gets "any use" flagged.

Missing data never fires
    A condition on an answer is False when that answer is missing or unparsed: ``equals: "no"`` does not
    fire on silence, ``at_most: 4`` does not fire when confidence was not given. ``rise_from``/``fall_from``
    are also False without a previous answer (``previous``) or before a baseline exists (``baseline``).
    Scale conditions read numbers only (not text, not booleans). The exception is by design: conditions
    that do not look at answers (``missed_in_a_row``, ``within_first_days``, ``in_overdose_window``) hold or
    not whatever was answered, so a rule made of them alone fires on a missed check-up too. Silence is
    caught by the missed-in-a-row rules, not by answer rules.

Change
    ``rise_from: previous``: current - previous >= by_at_least; ``rise_from: baseline``: current - baseline
    >= by_at_least; ``fall_from`` is the same downwards (previous - current, baseline - current).

Baseline
    A person's own usual level of one question: the median of their first ``BASELINE_ANSWERS`` (3) parsed
    answers to it (:func:`baseline_of`); no baseline until they have given that many, so a rise from
    baseline cannot fire on their first three answers (other rules still can).

Missed in a row
    ``missed_in_a_row: n`` holds when ``History.missed_in_a_row == n`` exactly, not ``>= n``: each threshold
    fires once per run of misses, on the miss that reaches it. With the shipped rules, missing 2 fires "two
    missed" (medium), missing 3 fires "lost contact" (high) and not "two missed" again (its flag is already
    open and the merger keeps the higher severity), and a 4th, 5th, ... miss fires nothing new instead of
    re-raising the same reasons at every miss. An answered check-up resets the count, so a later run fires
    again. The caller must evaluate at every miss (a skipped evaluation at the exact count is not caught
    up later).

Days since discharge
    ``days_since_anchor`` counts calendar days from the anchor (discharge) date, which is day 0.
    ``within_first_days: n`` holds when ``days_since_anchor < n`` (days 0 .. n-1); ``in_overdose_window: n``
    when the person was marked at overdose risk and ``days_since_anchor < n``. A negative count (before
    the anchor date, e.g. a discharge date entered ahead of time) counts as within: a discharge that came
    early is still a discharge, and a call too many costs less than a missed same-day overdose call.

Order
    :func:`evaluate` returns the rules that hold, most severe first; among equal severity the shortest
    ``respond_within`` first; then in the protocol's order.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..protocols.checks import NO_WORDS, YES_WORDS
from ..protocols.durations import Duration
from ..protocols.schema import (
    AllOf,
    AnswerAtLeast,
    AnswerAtMost,
    AnswerEquals,
    AnswerFall,
    AnswerRise,
    AnyOf,
    ChangeBase,
    Condition,
    InOverdoseWindow,
    MissedInARow,
    RiskRule,
    Severity,
    WithinFirstDays,
)

BASELINE_ANSWERS = 3
AnswerValue = int | str | None


class _ParsedLike(Protocol):
    ok: bool
    value_int: int | None
    value_text: str | None


def answer_value(parsed: _ParsedLike) -> AnswerValue:
    """The canonical value of a parsed answer for :attr:`History.answers`: ``None`` when not understood,
    else its text (``"yes"``/``"no"``, a choice id) when it has one, else its number (a scale)."""
    if not parsed.ok:
        return None
    return parsed.value_text if parsed.value_text is not None else parsed.value_int


def baseline_of(values: Sequence[int | None], first_n: int = BASELINE_ANSWERS) -> float | None:
    """A person's own baseline for one question: the median of their first ``first_n`` parsed answers.

    ``values`` are their answers to that question, oldest first (unparsed ones, ``None``, do not count);
    ``None`` until there are ``first_n`` of them. Only the first ``first_n`` count, so passing every answer
    so far (or including the one being evaluated once there are more than ``first_n``) gives the same
    baseline.
    """
    if first_n < 1:
        raise ValueError("a baseline needs at least one answer")
    numbers = [v for v in values if _number(v) is not None][:first_n]
    if len(numbers) < first_n:
        return None
    return float(statistics.median(numbers))


@dataclass(frozen=True, kw_only=True)
class History:
    """What the evaluator needs to know about one person at one check-up (answered or missed)."""

    # This check-up's answers by question id, canonical (see the module doc); None or absent: not understood.
    answers: Mapping[str, AnswerValue]
    # Days from the anchor (discharge) date to this check-up; the anchor date is day 0.
    days_since_anchor: int
    # Their most recent earlier parsed answer to each scale question.
    previous: Mapping[str, int | None] = field(default_factory=dict)
    # Their own baseline for each scale question (baseline_of); None until there is one.
    baseline: Mapping[str, float | None] = field(default_factory=dict)
    # Check-ups missed in a row, counting this one when it is the one just missed; 0 after an answer.
    missed_in_a_row: int = 0
    # Marked at enrolment as at overdose risk (opioids, detox, residential, prison, treatment stopped).
    overdose_risk: bool = False


@dataclass(frozen=True)
class Fired:
    """A rule that holds, with the values that made it hold."""

    rule_id: str
    severity: Severity
    reason: str
    respond_within: Duration
    evidence: dict[str, Any]
    script: str | None = None


def evaluate(rules: Sequence[RiskRule], history: History) -> list[Fired]:
    """Every rule whose condition holds for ``history``, most severe (then most urgent) first."""
    fired: list[Fired] = []
    for rule in rules:
        evidence = _holds(rule.when, history)
        if evidence is not None:
            fired.append(
                Fired(
                    rule_id=rule.id,
                    severity=rule.severity,
                    reason=rule.reason,
                    respond_within=rule.respond_within,
                    evidence=evidence,
                    script=rule.script,
                )
            )
    # sorted() is stable: ties keep the protocol's order.
    return sorted(fired, key=lambda f: (-f.severity.rank, f.respond_within.nominal_days))


def deadline(fired: Sequence[Fired], now: datetime) -> datetime:
    """When a human must have made contact: the earliest ``now + respond_within`` of what fired."""
    if not fired:
        raise ValueError("no rule fired, so there is no deadline")
    return min(f.respond_within.after_instant(now) for f in fired)


def highest(fired: Sequence[Fired]) -> Severity:
    """The highest severity of what fired."""
    if not fired:
        raise ValueError("no rule fired, so there is no severity")
    return max((f.severity for f in fired), key=lambda s: s.rank)


def explain(fired: Fired) -> str:
    """The reason in plain words, with the values behind it, for the volunteer who calls.

    e.g. ``Said they have used since the last check-in (any_use: yes)``.
    """
    reason = fired.reason.strip().rstrip(".")
    parts = (_show(key, value, fired.evidence) for key, value in fired.evidence.items())
    shown = "; ".join(part for part in parts if part)
    return f"{reason} ({shown})" if shown else reason


# --- conditions ------------------------------------------------------------------------------------


def _holds(condition: Condition, history: History) -> dict[str, Any] | None:
    """The evidence behind ``condition`` when it holds for ``history``, else None."""
    if isinstance(condition, AllOf):
        evidence: dict[str, Any] = {}
        for child in condition.all:
            found = _holds(child, history)
            if found is None:
                return None
            evidence.update(found)
        return evidence
    if isinstance(condition, AnyOf):
        # Every child that holds is evidence, not only the first.
        held = [found for child in condition.any if (found := _holds(child, history)) is not None]
        if not held:
            return None
        return {key: value for found in held for key, value in found.items()}
    if isinstance(condition, MissedInARow):
        count = history.missed_in_a_row
        return {"missed_in_a_row": count} if count == condition.missed_in_a_row else None
    if isinstance(condition, WithinFirstDays):
        days = history.days_since_anchor
        return {"days_since_anchor": days} if days < condition.within_first_days else None
    if isinstance(condition, InOverdoseWindow):
        days = history.days_since_anchor
        if history.overdose_risk and days < condition.in_overdose_window:
            return {"overdose_risk": True, "days_since_anchor": days}
        return None
    if isinstance(condition, AnswerEquals):
        shown = _equals(history.answers.get(condition.answer), condition.equals)
        return {condition.answer: shown} if shown is not None else None
    if isinstance(condition, AnswerAtLeast):
        current = _number(history.answers.get(condition.answer))
        return {condition.answer: current} if current is not None and current >= condition.at_least else None
    if isinstance(condition, AnswerAtMost):
        current = _number(history.answers.get(condition.answer))
        return {condition.answer: current} if current is not None and current <= condition.at_most else None
    if isinstance(condition, AnswerRise | AnswerFall):
        return _change(condition, history)
    return None  # an unknown kind of condition never fires


def _change(condition: AnswerRise | AnswerFall, history: History) -> dict[str, Any] | None:
    current = _number(history.answers.get(condition.answer))
    if current is None:
        return None
    base_kind = condition.rise_from if isinstance(condition, AnswerRise) else condition.fall_from
    if base_kind is ChangeBase.previous:
        base = _number(history.previous.get(condition.answer))
    else:
        base = _number(history.baseline.get(condition.answer))
    if base is None:
        return None
    change = current - base if isinstance(condition, AnswerRise) else base - current
    if not change >= condition.by_at_least:
        return None
    return {condition.answer: current, f"{condition.answer}_{base_kind.value}": _compact(base)}


def _number(value: object) -> int | float | None:
    """A scale value: a finite int or float, never a bool or text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _compact(value: float) -> int | float:
    """4.0 -> 4, 4.5 -> 4.5 (for evidence a person reads)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _yes_no(value: object) -> str | None:
    """``"yes"``/``"no"`` for anything that means it (True, 1, "Y", "yes", "false", ...), else None."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return {1: "yes", 0: "no"}.get(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in YES_WORDS:
            return "yes"
        if word in NO_WORDS:
            return "no"
    return None


def _equals(value: object, expected: str | int | bool) -> object | None:
    """The answer as evidence (``"yes"``, a choice id, a number) when it equals ``expected``, else None."""
    if value is None:
        return None
    wanted = _yes_no(expected) if isinstance(expected, bool | str) else None
    if wanted is not None:  # a yes/no comparison
        return wanted if _yes_no(value) == wanted else None
    if isinstance(expected, str):  # a choice id
        return value if isinstance(value, str) and value.strip().lower() == expected.lower() else None
    number = _number(value)  # a number on a scale
    return number if number is not None and number == expected else None


# --- explanation -----------------------------------------------------------------------------------


def _show(key: str, value: Any, evidence: Mapping[str, Any]) -> str:
    if key == "missed_in_a_row":
        return f"missed {value} check-ins in a row"
    if key == "days_since_anchor":
        return f"day {value} after discharge"
    if key == "overdose_risk":
        return "marked at overdose risk" if value else ""
    for suffix, words in (("_baseline", "their usual"), ("_previous", "last time")):
        question = key.removesuffix(suffix)
        if key.endswith(suffix) and question in evidence:
            return f"{question} {words}: {value}"
    return f"{key}: {value}"
