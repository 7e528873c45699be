"""Risk rules: each shipped protocol's rules on realistic histories, the semantics the evaluator decides
(missing data, baselines, missed exactly n, the overdose window), and properties over arbitrary answers.

Synthetic protocols are made by editing the text of the shipped ``standard-5y.yaml`` and loading it."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkups.engine.answers import Parsed
from checkups.engine.risk import (
    Fired,
    History,
    answer_value,
    baseline_of,
    deadline,
    evaluate,
    explain,
    highest,
)
from checkups.protocols.durations import Duration, Unit
from checkups.protocols.loader import load_file, load_text
from checkups.protocols.schema import Protocol, RiskRule, Severity

PROTOCOLS = Path(__file__).resolve().parents[2] / "config" / "protocols"
STANDARD = (PROTOCOLS / "standard-5y.yaml").read_text(encoding="utf-8")
SHIPPED = ("standard-5y", "rmc-quarterly-4y", "tcc-12m")
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CALM = {"any_use": "no", "urges": 2, "confidence": 8, "want_call": "no"}


@functools.cache
def shipped(name: str) -> Protocol:
    result = load_file(PROTOCOLS / f"{name}.yaml")
    assert result.ok, [str(p) for p in result.problems]
    assert result.protocol is not None
    return result.protocol


@pytest.fixture(params=SHIPPED)
def rules(request: pytest.FixtureRequest) -> list[RiskRule]:
    return shipped(request.param).risk_rules


def history(answers: dict[str, object] | None = None, **kwargs: object) -> History:
    """An answered check-up on day 100 (past any window), calm unless ``answers`` says otherwise."""
    kwargs.setdefault("days_since_anchor", 100)
    return History(answers={**CALM, **(answers or {})}, **kwargs)  # type: ignore[arg-type]


def missed(count: int, **kwargs: object) -> History:
    kwargs.setdefault("days_since_anchor", 100)
    return History(answers={}, missed_in_a_row=count, **kwargs)  # type: ignore[arg-type]


def ids(fired: list[Fired]) -> list[str]:
    return [f.rule_id for f in fired]


def edit(*changes: tuple[str, str], text: str = STANDARD) -> str:
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


@functools.cache
def synthetic(rules_yaml: str) -> list[RiskRule]:
    """The rules of standard-5y with ``rules_yaml`` put first."""
    result = load_text(edit(("risk_rules:\n", "risk_rules:\n" + rules_yaml)), "x.yaml", expected_name="standard-5y")
    assert result.ok, [str(p) for p in result.problems]
    assert result.protocol is not None
    return [r for r in result.protocol.risk_rules if r.id.startswith("test_")]


# --- the shipped protocols -------------------------------------------------------------------------


def test_a_calm_checkup_fires_nothing(rules: list[RiskRule]) -> None:
    assert evaluate(rules, history()) == []


def test_any_use_is_high_with_24_hours(rules: list[RiskRule]) -> None:
    [fired] = evaluate(rules, history({"any_use": "yes"}))
    assert fired.rule_id == "any_use"
    assert fired.severity is Severity.high
    assert fired.respond_within == Duration(24, Unit.hours)
    assert fired.evidence == {"any_use": "yes"}
    assert deadline([fired], NOW) == NOW + timedelta(hours=24)
    assert explain(fired).startswith("Said they have used since the last check-in")
    assert explain(fired).endswith("(any_use: yes)")


def test_explain_reads_as_plain_words() -> None:
    [fired] = evaluate(shipped("standard-5y").risk_rules, history({"any_use": "yes"}))
    assert explain(fired) == "Said they have used since the last check-in (any_use: yes)"


def test_wanting_a_call_is_high_with_24_hours(rules: list[RiskRule]) -> None:
    [fired] = evaluate(rules, history({"want_call": "yes"}))
    assert fired.rule_id == "wants_call"
    assert fired.severity is Severity.high
    assert fired.respond_within == Duration(24, Unit.hours)
    assert explain(fired) == "Asked for a call (want_call: yes)"


@pytest.mark.parametrize(("urges", "confidence"), [(7, 4), (8, 3), (10, 0)])
def test_urges_high_with_confidence_low_is_high(rules: list[RiskRule], urges: int, confidence: int) -> None:
    [fired] = evaluate(rules, history({"urges": urges, "confidence": confidence}))
    assert fired.rule_id == "urges_high_confidence_low"
    assert fired.severity is Severity.high
    assert fired.respond_within == Duration(24, Unit.hours)
    assert fired.evidence == {"urges": urges, "confidence": confidence}


@pytest.mark.parametrize(("urges", "confidence"), [(7, 5), (6, 4), (6, 0), (10, 10)])
def test_urges_or_confidence_just_outside_the_threshold_is_not_that_rule(
    rules: list[RiskRule], urges: int, confidence: int
) -> None:
    assert "urges_high_confidence_low" not in ids(evaluate(rules, history({"urges": urges, "confidence": confidence})))


def test_urges_high_without_a_confidence_answer_does_not_fire(rules: list[RiskRule]) -> None:
    answers = {"any_use": "no", "urges": 9, "want_call": "no"}
    assert evaluate(rules, History(answers=answers, days_since_anchor=100)) == []
    answers["confidence"] = None  # unparsed
    assert evaluate(rules, History(answers=answers, days_since_anchor=100)) == []


def test_a_rise_of_3_from_baseline_is_medium_with_72_hours(rules: list[RiskRule]) -> None:
    [fired] = evaluate(rules, history({"urges": 6}, baseline={"urges": 3.0}))
    assert fired.rule_id == "urges_rising"
    assert fired.severity is Severity.medium
    assert fired.respond_within == Duration(72, Unit.hours)
    assert fired.evidence == {"urges": 6, "urges_baseline": 3}
    assert explain(fired) == "Urges have risen well above their usual level (urges: 6; urges their usual: 3)"


def test_a_rise_of_2_from_baseline_fires_nothing(rules: list[RiskRule]) -> None:
    assert evaluate(rules, history({"urges": 5}, baseline={"urges": 3.0})) == []


def test_a_rise_from_a_half_point_baseline_counts_from_the_half(rules: list[RiskRule]) -> None:
    assert evaluate(rules, history({"urges": 5}, baseline={"urges": 2.5})) == []  # up 2.5
    assert ids(evaluate(rules, history({"urges": 6}, baseline={"urges": 2.5}))) == ["urges_rising"]


def test_no_rise_from_baseline_before_there_is_one(rules: list[RiskRule]) -> None:
    assert evaluate(rules, history({"urges": 6}, baseline={"urges": None})) == []
    assert evaluate(rules, history({"urges": 6})) == []
    # The rule is on the baseline, not the previous answer: a jump from last time alone is not it.
    assert evaluate(rules, history({"urges": 6}, previous={"urges": 0})) == []


def test_a_rise_from_baseline_and_high_urges_with_low_confidence_both_fire(rules: list[RiskRule]) -> None:
    fired = evaluate(rules, history({"urges": 8, "confidence": 2}, baseline={"urges": 2.0}))
    assert ids(fired) == ["urges_high_confidence_low", "urges_rising"]
    assert highest(fired) is Severity.high
    assert deadline(fired, NOW) == NOW + timedelta(hours=24)


def test_two_missed_is_medium_three_is_lost_contact_four_fires_nothing_new(rules: list[RiskRule]) -> None:
    assert evaluate(rules, missed(1)) == []
    [two] = evaluate(rules, missed(2))
    assert (two.rule_id, two.severity, two.respond_within) == ("two_missed", Severity.medium, Duration(72, Unit.hours))
    assert two.evidence == {"missed_in_a_row": 2}
    [three] = evaluate(rules, missed(3))
    assert (three.rule_id, three.severity) == ("lost_contact", Severity.high)
    assert three.evidence == {"missed_in_a_row": 3}
    assert "missed 3 check-ins in a row" in explain(three)
    # missed_in_a_row: n holds at exactly n, so a long run does not re-raise the same reasons at every miss.
    for count in (4, 5, 10, 100):
        assert evaluate(rules, missed(count)) == []


def test_an_answered_checkup_after_a_run_of_misses_fires_nothing_for_the_misses(rules: list[RiskRule]) -> None:
    assert evaluate(rules, history(missed_in_a_row=0)) == []


def test_use_in_the_overdose_window_fires_the_overdose_rule_and_any_use_most_urgent_first(
    rules: list[RiskRule],
) -> None:
    fired = evaluate(rules, history({"any_use": "yes"}, days_since_anchor=10, overdose_risk=True))
    assert ids(fired) == ["use_in_overdose_window", "any_use"]
    window = fired[0]
    assert window.severity is Severity.high
    assert window.respond_within == Duration(8, Unit.hours)
    assert window.evidence == {"any_use": "yes", "overdose_risk": True, "days_since_anchor": 10}
    assert window.script is not None
    assert "naloxone" in window.script
    assert explain(window).endswith("(any_use: yes; marked at overdose risk; day 10 after discharge)")
    assert highest(fired) is Severity.high
    assert deadline(fired, NOW) == NOW + timedelta(hours=8)


@pytest.mark.parametrize(("day", "in_window"), [(-3, True), (0, True), (27, True), (28, False), (40, False)])
def test_the_overdose_window_is_days_0_to_27_after_discharge(rules: list[RiskRule], day: int, in_window: bool) -> None:
    fired = ids(evaluate(rules, history({"any_use": "yes"}, days_since_anchor=day, overdose_risk=True)))
    assert fired == (["use_in_overdose_window", "any_use"] if in_window else ["any_use"])


def test_use_on_day_40_or_by_someone_not_at_overdose_risk_is_only_any_use(rules: list[RiskRule]) -> None:
    assert ids(evaluate(rules, history({"any_use": "yes"}, days_since_anchor=40, overdose_risk=True))) == ["any_use"]
    assert ids(evaluate(rules, history({"any_use": "yes"}, days_since_anchor=3, overdose_risk=False))) == ["any_use"]


def test_no_use_in_the_overdose_window_fires_nothing(rules: list[RiskRule]) -> None:
    assert evaluate(rules, history(days_since_anchor=3, overdose_risk=True)) == []


def test_everything_at_once_is_sorted_most_severe_then_most_urgent(rules: list[RiskRule]) -> None:
    answers = {"any_use": "yes", "want_call": "yes", "urges": 9, "confidence": 1}
    fired = evaluate(rules, history(answers, days_since_anchor=5, overdose_risk=True, baseline={"urges": 3.0}))
    assert ids(fired) == [
        "use_in_overdose_window",
        "any_use",
        "wants_call",
        "urges_high_confidence_low",
        "urges_rising",
    ]
    assert [f.severity for f in fired] == [Severity.high] * 4 + [Severity.medium]


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"any_use": None, "want_call": None, "urges": None, "confidence": None},
        {"any_use": "maybe", "want_call": "call me later", "urges": "lots", "confidence": "🙂"},
        {"urges": None, "confidence": 1},
        {"urges": 10, "confidence": None},
    ],
)
def test_missing_or_unparsed_answers_never_fire(rules: list[RiskRule], answers: dict[str, object]) -> None:
    h = History(
        answers=answers,  # type: ignore[arg-type]
        days_since_anchor=3,
        overdose_risk=True,
        previous={"urges": 10, "confidence": 10},
        baseline={"urges": 10.0, "confidence": 10.0},
    )
    assert evaluate(rules, h) == []


@pytest.mark.parametrize("yes", ["yes", "Yes", " Y ", "true", True, 1])
def test_yes_is_read_in_any_form_a_caller_may_pass(rules: list[RiskRule], yes: object) -> None:
    [fired] = evaluate(rules, history({"any_use": yes}))
    assert fired.rule_id == "any_use"
    assert fired.evidence == {"any_use": "yes"}


@pytest.mark.parametrize("no", ["no", "N", "false", False, 0, 2])
def test_no_or_a_non_answer_to_a_yes_no_question_is_not_yes(rules: list[RiskRule], no: object) -> None:
    assert evaluate(rules, history({"any_use": no, "want_call": no})) == []


def test_a_yes_no_answer_as_a_parsed_keypad_press_fires(rules: list[RiskRule]) -> None:
    answers = {"any_use": answer_value(Parsed(True, 1, "yes")), "urges": answer_value(Parsed(True, 3))}
    assert answers == {"any_use": "yes", "urges": 3}
    assert ids(evaluate(rules, history(answers))) == ["any_use"]


# --- helpers ---------------------------------------------------------------------------------------


def test_answer_value_is_text_when_there_is_text_else_the_number_and_none_when_unparsed() -> None:
    assert answer_value(Parsed(True, 1, "yes")) == "yes"
    assert answer_value(Parsed(True, 0, "no")) == "no"
    assert answer_value(Parsed(True, 7)) == 7
    assert answer_value(Parsed(True, 0)) == 0
    assert answer_value(Parsed(True, 2, "partly")) == "partly"  # a choice: its id
    assert answer_value(Parsed(False)) is None
    assert answer_value(Parsed(False, 1, "yes")) is None


@pytest.mark.parametrize(
    ("values", "first_n", "expected"),
    [
        ([2, 3, 9], 3, 3.0),
        ([2, 3, 9, 10, 10], 3, 3.0),  # only the first three count
        ([5, None, 1, 0], 3, 1.0),  # unparsed answers do not count
        ([2, 3], 3, None),  # not yet a baseline
        ([], 3, None),
        ([1, 2, 3, 4], 4, 2.5),
        ([6], 1, 6.0),
    ],
)
def test_baseline_is_the_median_of_the_first_answers(
    values: list[int | None], first_n: int, expected: float | None
) -> None:
    assert baseline_of(values, first_n) == expected


def test_baseline_of_needs_at_least_one_answer() -> None:
    with pytest.raises(ValueError, match="at least one"):
        baseline_of([1, 2, 3], 0)


def test_deadline_and_highest_need_something_that_fired() -> None:
    with pytest.raises(ValueError, match="no rule fired"):
        deadline([], NOW)
    with pytest.raises(ValueError, match="no rule fired"):
        highest([])


def test_deadline_moves_calendar_months_on_the_calendar() -> None:
    fired = Fired("x", Severity.low, "Something", Duration(1, Unit.months), {})
    assert deadline([fired], datetime(2026, 1, 31, 9, tzinfo=UTC)) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert explain(fired) == "Something"


# --- synthetic rules: every kind of condition, nested ---------------------------------------------

NESTED = """\
  - id: test_nested
    when:
      any:
        - all:
            - {answer: mood, at_most: 2}
            - {within_first_days: 14}
        - all:
            - {answer: urges, rise_from: previous, by_at_least: 2}
            - any:
                - {answer: confidence, fall_from: previous, by_at_least: 3}
                - {answer: confidence, fall_from: baseline, by_at_least: 4}
    severity: low
    reason: Something looks different
    respond_within: 1 week
  - id: test_scale_equals
    when: {answer: urges, equals: 10}
    severity: medium
    reason: Urges at the top of the scale.
    respond_within: 2 days
  - id: test_bool_equals
    when: {answer: want_call, equals: false}
    severity: low
    reason: Did not want a call
    respond_within: 1 month
  - id: test_first_days
    when: {within_first_days: 7}
    severity: low
    reason: In the first week
    respond_within: 3 days
"""


@pytest.fixture
def nested() -> list[RiskRule]:
    rules = synthetic(NESTED)
    assert [r.id for r in rules] == ["test_nested", "test_scale_equals", "test_bool_equals", "test_first_days"]
    return rules


def nested_history(answers: dict[str, object], **kwargs: object) -> History:
    kwargs.setdefault("days_since_anchor", 100)
    return History(answers={"want_call": "yes", **answers}, **kwargs)  # type: ignore[arg-type]


def test_nested_any_of_all_fires_on_its_first_branch(nested: list[RiskRule]) -> None:
    fired = evaluate(nested, nested_history({"mood": 2}, days_since_anchor=6))
    assert ids(fired) == ["test_first_days", "test_nested"]  # equal severity: the shorter response first
    assert fired[1].evidence == {"mood": 2, "days_since_anchor": 6}
    assert ids(evaluate(nested, nested_history({"mood": 2}, days_since_anchor=13))) == ["test_nested"]
    assert evaluate(nested, nested_history({"mood": 2}, days_since_anchor=14)) == []
    assert ids(evaluate(nested, nested_history({"mood": 3}, days_since_anchor=1))) == ["test_first_days"]
    assert ids(evaluate(nested, nested_history({"mood": None}, days_since_anchor=1))) == ["test_first_days"]


def test_nested_second_branch_needs_the_rise_and_one_of_the_falls(nested: list[RiskRule]) -> None:
    previous = {"urges": 3, "confidence": 8}
    # urges up 2 from last time, confidence down 3 from last time
    [fired] = evaluate(nested, nested_history({"urges": 5, "confidence": 5}, previous=previous))
    assert fired.rule_id == "test_nested"
    assert fired.evidence == {"urges": 5, "urges_previous": 3, "confidence": 5, "confidence_previous": 8}
    assert explain(fired) == (
        "Something looks different (urges: 5; urges last time: 3; confidence: 5; confidence last time: 8)"
    )
    # urges up 2, confidence down only 2 from last time and 3 from baseline: neither fall holds
    h = nested_history({"urges": 5, "confidence": 6}, previous=previous, baseline={"confidence": 9.0})
    assert evaluate(nested, h) == []
    # ... but down 4 from baseline does
    h = nested_history({"urges": 5, "confidence": 6}, previous=previous, baseline={"confidence": 10.0})
    [fired] = evaluate(nested, h)
    assert fired.evidence == {"urges": 5, "urges_previous": 3, "confidence": 6, "confidence_baseline": 10}
    # confidence falls but urges rose only 1
    assert evaluate(nested, nested_history({"urges": 4, "confidence": 1}, previous=previous)) == []
    # no previous answer to urges: the rise cannot hold
    assert evaluate(nested, nested_history({"urges": 9, "confidence": 1}, previous={"confidence": 8})) == []


def test_any_collects_the_evidence_of_every_branch_that_holds(nested: list[RiskRule]) -> None:
    h = nested_history(
        {"mood": 1, "urges": 6, "confidence": 2}, days_since_anchor=20, previous={"urges": 1, "confidence": 9}
    )
    [fired] = evaluate(nested, h)
    assert fired.evidence == {"urges": 6, "urges_previous": 1, "confidence": 2, "confidence_previous": 9}
    h = nested_history(
        {"mood": 1, "urges": 6, "confidence": 2}, days_since_anchor=2, previous={"urges": 1, "confidence": 9}
    )
    nested_fired = next(f for f in evaluate(nested, h) if f.rule_id == "test_nested")
    assert nested_fired.evidence == {
        "mood": 1,
        "days_since_anchor": 2,
        "urges": 6,
        "urges_previous": 1,
        "confidence": 2,
        "confidence_previous": 9,
    }


def test_equals_on_a_scale_and_a_boolean_equals_on_yes_no(nested: list[RiskRule]) -> None:
    assert ids(evaluate(nested, nested_history({"urges": 10}))) == ["test_scale_equals"]
    assert evaluate(nested, nested_history({"urges": 9})) == []
    assert evaluate(nested, nested_history({"urges": "10"})) == []  # a scale reads numbers only
    [fired] = evaluate(nested, nested_history({"want_call": "no"}))
    assert fired.rule_id == "test_bool_equals"
    assert fired.evidence == {"want_call": "no"}
    assert explain(fired) == "Did not want a call (want_call: no)"
    assert deadline([fired], NOW) == datetime(2026, 2, 5, 9, tzinfo=UTC)
    assert evaluate(nested, nested_history({"want_call": None})) == []


def test_a_rule_of_days_alone_fires_on_a_missed_checkup_too(nested: list[RiskRule]) -> None:
    fired = evaluate(nested, History(answers={}, days_since_anchor=0, missed_in_a_row=1))
    assert ids(fired) == ["test_first_days"]
    assert explain(fired[0]) == "In the first week (day 0 after discharge)"


# --- properties ------------------------------------------------------------------------------------

ALL_RULES = [rule for name in SHIPPED for rule in shipped(name).risk_rules]
QUESTION_IDS = sorted({q.id for name in SHIPPED for q in shipped(name).questions} | {"mood", "other"})
VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-1000, max_value=1000),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["yes", "no", "Y", "n", "true", "", " ", "10", "seven", "🙂"]),
    st.text(max_size=20),
)
ANSWERS = st.dictionaries(st.sampled_from(QUESTION_IDS) | st.text(max_size=10), VALUES, max_size=8)
HISTORIES = st.builds(
    History,
    answers=ANSWERS,
    days_since_anchor=st.integers(min_value=-10_000, max_value=100_000),
    previous=st.dictionaries(st.sampled_from(QUESTION_IDS), st.none() | st.integers(-1000, 1000), max_size=6),
    baseline=st.dictionaries(st.sampled_from(QUESTION_IDS), st.none() | st.floats(), max_size=6),
    missed_in_a_row=st.integers(min_value=-5, max_value=1000),
    overdose_risk=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(h=HISTORIES, extra=st.data())
def test_evaluate_never_raises_and_its_output_is_sorted_and_explainable(h: History, extra: st.DataObject) -> None:
    rules = ALL_RULES + synthetic(NESTED) if extra.draw(st.booleans()) else ALL_RULES
    fired = evaluate(rules, h)
    ranks = [(-f.severity.rank, f.respond_within.nominal_days) for f in fired]
    assert ranks == sorted(ranks)
    for f in fired:
        assert f.evidence
        assert explain(f).startswith(f.reason.rstrip("."))
    if fired:
        assert highest(fired) is fired[0].severity
        assert deadline(fired, NOW) >= NOW


@settings(max_examples=300, deadline=None)
@given(h=HISTORIES, key=st.sampled_from(QUESTION_IDS) | st.text(max_size=10), value=VALUES)
def test_adding_an_answer_never_removes_a_fired_rule(h: History, key: str, value: object) -> None:
    if key in h.answers:
        return  # adding, not changing
    rules = ALL_RULES + synthetic(NESTED)
    before = {f.rule_id for f in evaluate(rules, h)}
    more = History(
        answers={**h.answers, key: value},  # type: ignore[dict-item]
        days_since_anchor=h.days_since_anchor,
        previous=h.previous,
        baseline=h.baseline,
        missed_in_a_row=h.missed_in_a_row,
        overdose_risk=h.overdose_risk,
    )
    assert before <= {f.rule_id for f in evaluate(rules, more)}


@settings(max_examples=200, deadline=None)
@given(
    urges=st.integers(0, 10),
    confidence=st.integers(0, 10),
    mood=st.integers(1, 5),
    day=st.integers(0, 60),
    other=st.dictionaries(st.sampled_from(["any_use", "want_call"]), st.sampled_from(["no", None])),
)
def test_in_bounds_answers_fire_the_urges_rule_exactly_at_its_thresholds(
    urges: int, confidence: int, mood: int, day: int, other: dict[str, object]
) -> None:
    answers = {"urges": urges, "confidence": confidence, "mood": mood, **other}
    for name in SHIPPED:
        fired = ids(evaluate(shipped(name).risk_rules, History(answers=answers, days_since_anchor=day)))  # type: ignore[arg-type]
        assert fired == (["urges_high_confidence_low"] if urges >= 7 and confidence <= 4 else [])


_QUESTIONS = ("any_use", "urges", "confidence", "mood", "want_call")


@settings(max_examples=200, deadline=None)
@given(
    previous=st.dictionaries(st.sampled_from(_QUESTIONS), st.integers(0, 10)),
    baseline=st.dictionaries(st.sampled_from(_QUESTIONS), st.floats(0, 10)),
    missed=st.integers(0, 6),
    days=st.integers(0, 2000),
    overdose=st.booleans(),
    name=st.sampled_from(SHIPPED),
)
def test_with_no_answer_to_a_check_up_earlier_answers_change_nothing(
    previous: dict[str, int], baseline: dict[str, float], missed: int, days: int, overdose: bool, name: str
) -> None:
    """A missed check-up is evaluated without reading the person's earlier answers (after_missed): sound only
    because no rule can hold on previous answers or the baseline without an answer to this check-up."""
    rules = shipped(name).risk_rules
    bare = History(answers={}, missed_in_a_row=missed, days_since_anchor=days, overdose_risk=overdose)
    full = History(
        answers={},
        previous=previous,
        baseline=baseline,
        missed_in_a_row=missed,
        days_since_anchor=days,
        overdose_risk=overdose,
    )
    assert evaluate(rules, full) == evaluate(rules, bare)
