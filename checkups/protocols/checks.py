"""Checks that relate one part of a protocol to another, and the discretion check.

Each check takes the sections that validated on their own and yields :class:`Finding` values with the
path of the offending value, so the loader can report ``file:line: field: message`` for each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .durations import Duration
from .schema import (
    AllOf,
    AnswerAtLeast,
    AnswerAtMost,
    AnswerEquals,
    AnswerFall,
    AnswerRise,
    AnswerType,
    AnyOf,
    Messages,
    Phase,
    Question,
)

Path = tuple[str | int, ...]

# Words that tell a reader of a lock screen what the message is about. Whole words, any case; a phrase
# matches across any spacing. A protocol may allow a word in ``discretion.allow``.
TELLING_WORDS = (
    "drug",
    "drugs",
    "alcohol",
    "alcoholic",
    "addiction",
    "addict",
    "addicted",
    "addicts",
    "treatment",
    "relapse",
    "relapsed",
    "relapsing",
    "rehab",
    "rehabilitation",
    "detox",
    "recovery service",
    "recovery services",
    "recovery programme",
    "recovery program",
    "sober",
    "sobriety",
    "substance",
    "substances",
    "methadone",
    "buprenorphine",
    "subutex",
    "heroin",
    "opioid",
    "opioids",
    "opiate",
    "opiates",
    "cocaine",
    "crack",
    "naloxone",
    "narcan",
    "overdose",
    "drinking",
    "drunk",
)


def _phrase(word: str) -> str:
    return r"(?<!\w)" + r"\s+".join(re.escape(part) for part in word.split()) + r"(?!\w)"


_TELLING_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    *((word, re.compile(_phrase(word), re.IGNORECASE)) for word in TELLING_WORDS),
    # Acronyms are telling only in capitals ("na" and "aa" are common in other words and languages),
    # and "high" only as in "get high".
    ("AA", re.compile(_phrase("AA"))),
    ("NA", re.compile(_phrase("NA"))),
    ("get high", re.compile(r"(?i)(?<!\w)(?:get|getting|got|gets)\s+high(?!\w)")),
)
_MAX_YEARS = 10
YES_WORDS = frozenset({"yes", "y", "true"})
NO_WORDS = frozenset({"no", "n", "false"})


@dataclass(frozen=True)
class Finding:
    path: Path
    message: str
    warning: bool = False


def run_all(parts: Mapping[str, Any], invalid_questions: frozenset[str] = frozenset()) -> Iterator[Finding]:
    """Every cross-check whose sections are present and valid.

    ``invalid_questions`` are the ids of questions that failed their own validation (already reported):
    naming one is not reported again as an unknown question.
    """
    questions: list[Question] | None = _valid(parts.get("questions"))
    sets: dict[str, list[str]] | None = parts.get("question_sets")
    languages: list[str] | None = parts.get("languages")

    if questions is not None:
        yield from _unique_ids(questions, "questions", "question")
    if questions is not None and sets is not None:
        yield from _question_sets(questions, sets, invalid_questions)
    if "schedule" in parts:
        yield from _phases(parts["schedule"].phases, sets)
        if "send_window" in parts:
            yield from _daily_on_closed_days(parts["schedule"].phases, parts["send_window"])
    if "step_up" in parts and parts["step_up"] is not None:
        step = parts["step_up"]
        if step.every.nominal_days > step.for_.nominal_days:
            yield Finding(("step_up", "every"), f"every {step.every} is longer than for {step.for_}")
        if sets is not None and step.questions not in sets:
            yield Finding(("step_up", "questions"), f"unknown question set {step.questions!r}{_known(sets)}")
    if "risk_rules" in parts:
        rules = list(_indexed(parts["risk_rules"]))
        yield from _unique_ids(parts["risk_rules"], "risk_rules", "risk rule")
        if questions is not None:
            by_id: dict[str, Question] = {}
            for q in questions:  # the first question with an id is the one the protocol uses
                by_id.setdefault(q.id, q)
            for i, rule in rules:
                yield from _condition(rule.when, ("risk_rules", i, "when"), by_id, invalid_questions)
            asked = {qid for ids in (sets or {}).values() for qid in ids}
            for i, rule in rules:
                for path, qid in _answers_named(rule.when, ("risk_rules", i, "when")):
                    if qid in by_id and sets is not None and qid not in asked:
                        yield Finding(
                            path, f"question {qid!r} is in no question set, so this never fires", warning=True
                        )
    if languages is not None:
        if len(set(languages)) != len(languages):
            yield Finding(("languages",), "a language is listed twice")
        for path, texts in _all_texts(parts):
            yield from _languages(path, texts, languages)
    if "crisis" in parts:
        seen: dict[str, int] = {}
        for i, word in enumerate(parts["crisis"].words):
            key = " ".join(word.lower().split())
            if key in seen:
                yield Finding(("crisis", "words", i), f"{word!r} is already listed", warning=True)
            seen[key] = i
    yield from discretion(parts)


def _indexed(items: list[Any]) -> Iterator[tuple[int, Any]]:
    """(index, item) for the items that validated; an item that failed is None and is skipped."""
    return ((i, item) for i, item in enumerate(items) if item is not None)


def _valid(items: list[Any] | None) -> list[Any] | None:
    return None if items is None else [item for item in items if item is not None]


def _known(names: Mapping[str, Any] | list[str]) -> str:
    listed = ", ".join(sorted(names))
    return f" (known: {listed})" if listed else ""


def _unique_ids(items: list[Any], section: str, what: str) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for i, item in _indexed(items):
        if item.id in first:
            yield Finding((section, i, "id"), f"{what} id {item.id!r} is already used by {section}[{first[item.id]}]")
        else:
            first[item.id] = i


def _question_sets(
    questions: list[Question], sets: dict[str, list[str]], invalid: frozenset[str] = frozenset()
) -> Iterator[Finding]:
    ids = {q.id for q in questions}
    for name, members in sets.items():
        if not members:
            yield Finding(("question_sets", name), "a question set needs at least one question")
        seen: set[str] = set()
        for i, qid in enumerate(members):
            if qid not in ids:
                if qid not in invalid:
                    yield Finding(("question_sets", name, i), f"unknown question {qid!r}{_known(ids)}")
            elif qid in seen:
                yield Finding(("question_sets", name, i), f"question {qid!r} is listed twice")
            seen.add(qid)


def phase_bounds(phases: list[Phase]) -> list[tuple[float, float | None]]:
    """(start, end) of each phase in nominal days from the anchor; end None when the phase never ends."""
    bounds: list[tuple[float, float | None]] = []
    previous_end: float | None = 0.0
    for phase in phases:
        if phase is None:  # did not validate: its bounds are unknown
            bounds.append((previous_end or 0.0, None))
            previous_end = None
            continue
        start = phase.start.nominal_days if phase.start is not None else (previous_end or 0.0)
        if phase.for_ is not None:
            end: float | None = start + phase.for_.nominal_days
        elif phase.until is not None:
            end = phase.until.nominal_days
        elif phase.count is not None:
            end = start + phase.every.nominal_days * phase.count
        else:
            end = None
        bounds.append((start, end))
        previous_end = end
    return bounds


def _phases(phases: list[Phase], sets: dict[str, list[str]] | None) -> Iterator[Finding]:
    names: dict[str, int] = {}
    bounds = phase_bounds(phases)
    for i, phase in _indexed(phases):
        path: Path = ("schedule", "phases", i)
        if phase.name in names:
            yield Finding((*path, "name"), f"phase name {phase.name!r} is already used by phases[{names[phase.name]}]")
        names.setdefault(phase.name, i)
        ends = [
            key
            for key, value in (("for", phase.for_), ("until", phase.until), ("count", phase.count))
            if value is not None
        ]
        if not ends:
            yield Finding(path, "this phase never ends: give one of for, until or count")
        elif len(ends) > 1:
            yield Finding((*path, ends[1]), f"give only one of for, until or count (found {', '.join(ends)})")
        start, end = bounds[i]
        if i > 0 and phases[i - 1] is not None:
            previous_end = bounds[i - 1][1]
            if previous_end is not None and start < previous_end - 1e-9:
                yield Finding(
                    (*path, "from"),
                    f"overlaps phase {phases[i - 1].name!r}, which runs until "
                    f"{_describe_end(phases[i - 1], previous_end)}",
                )
        if end is not None:
            if end <= start + 1e-9:
                yield Finding(
                    (*path, ends[0] if ends else "until"),
                    f"ends at or before it starts ({_days(end)} vs {_days(start)} after the anchor date)",
                )
            elif phase.every.nominal_days > end - start + 1e-9:
                yield Finding(
                    (*path, "every"), f"every {phase.every} is longer than the phase itself, so it has no check-up"
                )
            elif end > _MAX_YEARS * 365.25:
                yield Finding(
                    (*path, ends[0] if ends else "until"), f"runs past {_MAX_YEARS} years after the anchor date"
                )
        if sets is not None and phase.questions not in sets:
            yield Finding((*path, "questions"), f"unknown question set {phase.questions!r}{_known(sets)}")


def _describe_end(phase: Phase, end: float) -> str:
    if phase.until is not None:
        return f"{phase.until} after the anchor date"
    if phase.for_ is not None:
        return f"{_days(end)} after the anchor date (for {phase.for_} from its start)"
    return f"{_days(end)} after the anchor date ({phase.count} check-ups)"


def _days(value: float) -> str:
    return f"{value:.0f} days"


def _daily_on_closed_days(phases: list[Phase], window: Any) -> Iterator[Finding]:
    if len(window.days) == 7:
        return
    for i, phase in _indexed(phases):
        if phase.every == Duration.parse("1 day"):
            yield Finding(
                ("schedule", "phases", i, "every"),
                "daily check-ups that fall on a closed day move to the next open day and merge",
                warning=True,
            )


def _leaves(condition: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    """The simple conditions inside ``condition`` (through all/any), with their paths."""
    if isinstance(condition, AllOf | AnyOf):
        key, children = ("all", condition.all) if isinstance(condition, AllOf) else ("any", condition.any)
        for i, child in enumerate(children):
            yield from _leaves(child, (*path, key, i))
    else:
        yield path, condition


def _answers_named(condition: Any, path: Path) -> Iterator[tuple[Path, str]]:
    for leaf_path, leaf in _leaves(condition, path):
        if hasattr(leaf, "answer"):
            yield (*leaf_path, "answer"), leaf.answer


def _condition(
    root: Any, root_path: Path, questions: Mapping[str, Question], invalid: frozenset[str] = frozenset()
) -> Iterator[Finding]:
    for path, condition in _leaves(root, root_path):
        if hasattr(condition, "answer") and (condition.answer in questions or condition.answer not in invalid):
            yield from _answer_condition(condition, path, questions)


def _answer_condition(condition: Any, path: Path, questions: Mapping[str, Question]) -> Iterator[Finding]:
    question = questions.get(condition.answer)
    if question is None:
        yield Finding((*path, "answer"), f"unknown question {condition.answer!r}{_known(questions)}")
        return
    kind = question.type
    if isinstance(condition, AnswerEquals):
        yield from _equals_fits(condition.equals, question, (*path, "equals"))
    elif isinstance(condition, AnswerAtLeast | AnswerAtMost):
        key = "at_least" if isinstance(condition, AnswerAtLeast) else "at_most"
        if kind is not AnswerType.scale:
            yield Finding((*path, key), f"{key} needs a scale question; {question.id!r} is {kind.value}")
        else:
            value = getattr(condition, key)
            assert question.min is not None
            assert question.max is not None
            if not question.min <= value <= question.max:
                yield Finding(
                    (*path, key), f"{value} is outside the scale of {question.id!r} ({question.min} to {question.max})"
                )
    elif isinstance(condition, AnswerRise | AnswerFall):
        key = "rise_from" if isinstance(condition, AnswerRise) else "fall_from"
        if kind is not AnswerType.scale:
            yield Finding((*path, key), f"{key} needs a scale question; {question.id!r} is {kind.value}")
        else:
            assert question.min is not None
            assert question.max is not None
            if condition.by_at_least > question.max - question.min:
                yield Finding(
                    (*path, "by_at_least"),
                    f"{condition.by_at_least} is more than the whole scale of {question.id!r} "
                    f"({question.min} to {question.max})",
                )


def _equals_fits(value: object, question: Question, path: Path) -> Iterator[Finding]:
    kind = question.type
    if kind is AnswerType.yes_no:
        if not (isinstance(value, bool) or (isinstance(value, str) and value.lower() in YES_WORDS | NO_WORDS)):
            yield Finding(path, f"{value!r} is not an answer to yes/no question {question.id!r}: use yes or no")
    elif kind is AnswerType.scale:
        assert question.min is not None
        assert question.max is not None
        if isinstance(value, bool) or not isinstance(value, int):
            yield Finding(path, f"{value!r} is not a number on the scale of {question.id!r}")
        elif not question.min <= value <= question.max:
            yield Finding(path, f"{value} is outside the scale of {question.id!r} ({question.min} to {question.max})")
    elif kind is AnswerType.choice:
        ids = [c.id for c in question.choices or []]
        if value not in ids:
            yield Finding(path, f"{value!r} is not a choice of {question.id!r} (choices: {', '.join(ids)})")
    else:
        yield Finding(path, f"free-text question {question.id!r} cannot be compared; scan it with crisis words")


def _all_texts(parts: Mapping[str, Any]) -> Iterator[tuple[Path, dict[str, str]]]:
    """Every participant-facing text map with its path."""
    for i, question in _indexed(parts.get("questions") or []):
        yield ("questions", i, "text"), question.text
        if question.voice is not None:
            yield ("questions", i, "voice"), question.voice
        for j, choice in enumerate(question.choices or []):
            yield ("questions", i, "choices", j, "text"), choice.text
    messages: Messages | None = parts.get("messages")
    if messages is not None:
        for name in Messages.model_fields:
            yield ("messages", name), getattr(messages, name)
    if parts.get("crisis") is not None:
        yield ("crisis", "reply"), parts["crisis"].reply


def _languages(path: Path, texts: dict[str, str], languages: list[str]) -> Iterator[Finding]:
    for language in languages:
        if language not in texts:
            yield Finding(path, f"missing the {language!r} text (the protocol speaks {', '.join(languages)})")
    for language in texts:
        if language not in languages:
            yield Finding((*path, language), f"language {language!r} is not in languages ({', '.join(languages)})")


def telling_words_in(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The telling words found in ``text``, in order of the list, less the allowed ones (any case)."""
    return [word for word, pattern in _TELLING_PATTERNS if word.lower() not in allowed and pattern.search(text)]


def discretion(parts: Mapping[str, Any]) -> Iterator[Finding]:
    """Warn about words in message text that would tell a lock-screen reader what this is."""
    allowed = frozenset(w.lower() for w in (parts["discretion"].allow if "discretion" in parts else []))
    for path, texts in _all_texts(parts):
        for language, text in texts.items():
            words = telling_words_in(text, allowed)
            if words:
                yield Finding(
                    (*path, language),
                    "telling word"
                    + ("s" if len(words) > 1 else "")
                    + " on a lock screen: "
                    + ", ".join(repr(w) for w in words)
                    + " (reword, or list it in discretion.allow if the participant chose otherwise)",
                    warning=True,
                )
