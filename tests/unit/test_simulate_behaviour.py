"""The simulated people's behaviour model: deterministic for a seed, and shaped as documented."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from checkups.engine.context import ProtocolStore
from checkups.simulate import START, WEEK, YEAR, Behaviour, Person, Simulation

PROTOCOLS = Path(__file__).resolve().parents[2] / "config" / "protocols"

HORIZON = YEAR


def _cohort(seed: int, n: int = 400, behaviour: Behaviour | None = None) -> list[Person]:
    return [Person.create(i, seed, behaviour or Behaviour(), HORIZON) for i in range(n)]


def _traits(p: Person) -> tuple[object, ...]:
    return (p.phone, p.timezone, p.discharged, p.engagement, p.style, p.urge_baseline, p.relapse_at, p.dropout_at)


def test_the_same_seed_makes_the_same_people_and_answers() -> None:
    a, b = _cohort(7, 50), _cohort(7, 50)
    assert [_traits(p) for p in a] == [_traits(p) for p in b]
    when = a[0].discharged + 3 * WEEK
    assert [p.answer("urges", when, Behaviour()) for p in a] == [p.answer("urges", when, Behaviour()) for p in b]
    assert [_traits(p) for p in _cohort(8, 50)] != [_traits(p) for p in a]


def test_response_probability_falls_over_time_to_its_floor() -> None:
    b = Behaviour()
    assert b.respond_probability(0, 1.0) == b.respond_start
    assert b.respond_probability(6, 1.0) < b.respond_probability(1, 1.0)
    assert b.respond_probability(600, 1.0) == b.respond_floor
    assert b.respond_probability(0, 2.0) == 1.0


def test_relapse_hazard_is_higher_in_the_first_months() -> None:
    b = Behaviour()
    assert b.relapse_hazard(0) > b.relapse_hazard(20) > b.relapse_hazard(60)
    cohort = _cohort(3)
    months = [(p.relapse_at - p.discharged) / (YEAR / 12) for p in cohort if p.relapse_at is not None]
    assert 0.25 < len(months) / len(cohort) < 0.8  # most do not relapse in a year; many do
    first_quarter = sum(1 for m in months if m < 3)
    last_quarter = sum(1 for m in months if 9 <= m < 12)
    assert first_quarter > last_quarter


def test_urges_rise_before_a_relapse_and_stay_up_after() -> None:
    b = Behaviour()
    people = [p for p in _cohort(5) if p.relapse_at is not None and p.relapse_at - p.discharged > 6 * WEEK]

    def mean_urges(offset: timedelta) -> float:
        return sum(p.urges(p.relapse_at + offset, b) for p in people) / len(people)  # type: ignore[operator]

    well_before, just_before, after = mean_urges(-5 * WEEK), mean_urges(-timedelta(days=2)), mean_urges(WEEK)
    assert just_before > well_before + 2
    assert after > well_before + 1.5


def test_use_is_admitted_after_a_relapse_in_each_style() -> None:
    b = Behaviour(crisis=0, crisis_relapsed=0, opt_out=0)
    people = [p for p in _cohort(11, 300, b) if p.relapse_at is not None]
    before = [p.answer("any_use", p.relapse_at - WEEK, b) for p in people]  # type: ignore[operator]
    after = [p.answer("any_use", p.relapse_at + WEEK, b) for p in people]  # type: ignore[operator]
    yes = {"yes", "yeah a bit", "yep", "yes sadly", "yeah", "i have"}
    assert sum(a in yes for a in after) > 0.4 * len(people)
    assert sum(a in yes for a in before) < 0.1 * len(people)
    assert {p.style for p in people} == {"clean", "messy", "words", "keypad"}


@pytest.mark.parametrize("name", ["standard-5y", "rmc-quarterly-4y", "tcc-12m"])
def test_replies_parse_with_the_real_parser_or_are_crisis_or_stop(name: str) -> None:
    """Every shipped protocol's questions, in every style: each answer is one the engine reads (within the
    question's own scale or choices), or a crisis message, or STOP; and keyed answers read as keys."""
    from checkups.engine.answers import parse_keypad
    from checkups.engine.replies import parse_answer, scan_crisis
    from checkups.protocols.loader import Catalog
    from checkups.protocols.schema import AnswerType
    from checkups.simulate import shape_of
    from tests.conftest import PROTOCOLS

    protocol = Catalog.from_directory(PROTOCOLS).get(name)
    b = Behaviour(crisis=0.05, opt_out=0.05)
    kinds = {"parsed": 0, "crisis": 0, "stop": 0}
    for p in _cohort(13, 100, b):
        for week in (2, 30):  # before and after most relapses
            when = p.discharged + week * WEEK
            for question in protocol.questions:
                if question.type is AnswerType.text:
                    continue
                shape = shape_of(question)
                text = p.answer(question.id, when, b, shape=shape)
                if text == "STOP":
                    kinds["stop"] += 1
                elif scan_crisis(text, protocol.crisis.words):
                    kinds["crisis"] += 1
                else:
                    assert parse_answer(question, text).ok, (question.id, text)
                    kinds["parsed"] += 1
                keys = p.keypad(question.id, when, b, shape)
                assert parse_keypad(question, keys).ok, (question.id, keys)
    assert all(kinds.values())


def test_simulated_people_get_only_reserved_numbers_each_their_own() -> None:
    from checkups.phones import is_reserved_for_testing, normalise
    from checkups.simulate import MAX_PEOPLE, simulated_phone

    numbers = [simulated_phone(i) for i in range(MAX_PEOPLE)]
    assert len(set(numbers)) == MAX_PEOPLE
    assert all(is_reserved_for_testing(n) for n in numbers)
    assert [normalise(n) for n in numbers[995:1005]] == numbers[995:1005]
    assert numbers[:1] + numbers[999:1001] == ["+447700900000", "+447700900999", "+12005550100"]
    with pytest.raises(ValueError, match="81,000"):
        simulated_phone(MAX_PEOPLE)


def test_people_stop_using_again_and_may_relapse_more_than_once() -> None:
    b = Behaviour()
    cohort = [Person.create(i, 21, b, 5 * YEAR) for i in range(300)]
    for p in cohort:
        for i, (start, end) in enumerate(p.episodes):
            assert end is None or start < end
            if i + 1 < len(p.episodes):
                assert end is not None
                assert end < p.episodes[i + 1][0]
    ended = [(start, end) for p in cohort for start, end in p.episodes if end is not None]
    assert len(ended) > 50
    weeks = sorted((end - start) / WEEK for start, end in ended)
    assert 8 < weeks[len(weeks) // 2] < 40  # recovery_hazard 0.04: a median episode of about 17 weeks
    assert sum(1 for p in cohort if len(p.episodes) > 1) > 10


def test_after_stopping_again_use_is_denied_and_urges_settle() -> None:
    b = Behaviour(crisis=0, crisis_relapsed=0, opt_out=0, false_yes=0)
    people = [p for p in (Person.create(i, 22, b, 5 * YEAR) for i in range(300)) if p.episodes]
    # Well after the first recovery and well before any next relapse.
    calm = [
        (p, p.episodes[0][1] + 6 * WEEK)
        for p in people
        if p.episodes[0][1] is not None and (len(p.episodes) == 1 or p.episodes[1][0] > p.episodes[0][1] + 12 * WEEK)
    ]
    assert len(calm) > 30
    for p, at in calm:
        assert not p.relapsed(at)
        assert p.answer("any_use", at, b) in {"no", "nah mate", "nope x", "not at all", "no thanks"}
    using = sum(p.urges(p.episodes[0][0] + WEEK, b) for p, _ in calm) / len(calm)
    after = sum(p.urges(at, b) for p, at in calm) / len(calm)
    assert using > after + 1.5


def test_keypad_answers_read_as_the_engine_reads_keys() -> None:
    from checkups.engine.answers import parse_keypad
    from checkups.protocols.loader import Catalog
    from tests.conftest import PROTOCOLS

    protocol = Catalog.from_directory(PROTOCOLS).get("standard-5y")
    b = Behaviour()
    for p in _cohort(23, 40):
        for question in protocol.questions:
            keys = p.keypad(question.id, p.discharged + 10 * WEEK, b)
            parsed = parse_keypad(question, keys)
            assert parsed.ok, (question.id, keys)
            assert keys in ("1", "2") if question.type.value == "yes_no" else keys.endswith("#")


def test_a_relapse_is_caught_by_a_flag_while_using_or_soon_after_and_before_the_next() -> None:
    """The relapse figures on a hand-made cohort: which flag catches which relapse, and the delays."""
    import random
    from datetime import datetime

    from checkups.simulate import START, Simulation, simulated_phone

    day = timedelta(days=1)
    s = START + 10 * day

    def person(index: int, episodes: tuple[tuple[datetime, datetime | None], ...]) -> Person:
        rng = random.Random(index)
        return Person(index, simulated_phone(index), "UTC", START, rng, 1.0, "clean", 2, episodes, None)

    sim = Simulation(["sqlite://"], people_count=5, years=1.0)
    end = sim.end
    sim.people = [
        person(0, ((s, s + 30 * day), (s + 100 * day, None))),  # two relapses
        person(1, ((s, s + 10 * day),)),  # flagged 10 days after stopping: still this relapse
        person(2, ((s, s + 10 * day),)),  # flagged 20 days after stopping: something else
        person(3, ((end - 10 * day, None),)),  # too recent to judge
        person(4, ()),  # never relapses
    ]
    sim.facts.flags = [
        (0, "high", (s + 3 * day,), s + 3 * day, s + 5 * day),  # relapse 1: flag at 3 days, contact at 5
        (0, "medium", (s + 50 * day,), s + 50 * day, None),  # after relapse 1's window, before relapse 2
        (0, "high", (s + 110 * day,), s + 110 * day, None),  # relapse 2: flag at 10 days, no contact
        (1, "high", (s + 20 * day,), s + 20 * day, s + 40 * day),  # contact after they stopped still counts
        (2, "high", (s + 30 * day,), s + 30 * day, s + 31 * day),
        (4, "medium", (s,), s, s + day),
    ]
    relapses, evaluable, never, to_flag, to_contact = sim._relapse_delays()
    assert (relapses, evaluable, never) == (5, 4, 1)
    assert sorted(to_flag) == [3.0, 10.0, 20.0]
    assert sorted(to_contact) == [5.0, 40.0]


def test_progress_follows_the_work_not_the_clock() -> None:
    """The progress line's share: check-ups due by then over all of them. The weekly first months are most of
    the work, so the share runs ahead of the time, and it only ever grows, from nothing to all of it."""
    sim = Simulation(["sqlite://"], people_count=50, years=5, seed=2, protocols_dir=PROTOCOLS)
    done = sim._work_done(ProtocolStore(PROTOCOLS).current("standard-5y"))
    span = sim.end - START
    shares = [done(START + span * (n / 100)) for n in range(101)]
    assert shares[0] < 0.01
    assert shares[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(shares))
    assert shares[20] > 0.4  # a fifth of the time, with weekly then fortnightly check-ups: nearly half the work
    assert shares[50] < 0.95  # quarterly check-ups to the end still take their share
    tiny = Simulation(["sqlite://"], people_count=5, years=0.01, seed=2, protocols_dir=PROTOCOLS)
    share = tiny._work_done(ProtocolStore(PROTOCOLS).current("standard-5y"))
    assert 0 <= share(START + (tiny.end - START) / 2) <= 1
    assert share(tiny.end) == 1.0


def test_the_volunteers_calls_grow_with_the_cohort_unless_set() -> None:
    """20 calls a day for 10,000 people left 6,000 flags open: by default 20 for every 1,000 people."""
    assert Simulation(["sqlite://"], people_count=200, years=0.1).volunteer_capacity == 20
    assert Simulation(["sqlite://"], people_count=1000, years=0.1).volunteer_capacity == 20
    assert Simulation(["sqlite://"], people_count=10_000, years=0.1).volunteer_capacity == 200
    assert Simulation(["sqlite://"], people_count=10_000, years=0.1, volunteer_capacity=5).volunteer_capacity == 5
    assert Simulation(["sqlite://"], people_count=10_000, years=0.1, volunteer_capacity=0).volunteer_capacity == 0
