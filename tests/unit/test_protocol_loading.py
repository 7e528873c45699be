"""Loading protocol files: every problem is reported as ``file:line: field: message``.

Bad protocols are made by editing the text of the shipped ``standard-5y.yaml``, so each test shows the
one thing that is wrong; expected lines are found in the edited text, not hard-coded.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest

from checkups.protocols import checks
from checkups.protocols.durations import Duration, Unit
from checkups.protocols.loader import MAX_FILE_BYTES, LoadResult, Problem, load_file, load_text
from checkups.protocols.schema import ChannelKind
from checkups.protocols.yamlsource import parse

PROTOCOLS = Path(__file__).resolve().parents[2] / "config" / "protocols"
STANDARD = (PROTOCOLS / "standard-5y.yaml").read_text(encoding="utf-8")
SHIPPED = ("standard-5y", "rmc-quarterly-4y", "tcc-12m")

MOOD_SCALE = "  - id: mood\n    type: scale\n    min: 1\n    max: 5\n"
WANT_CALL_RULE = '{answer: want_call, equals: "yes"}'


# --- helpers ---------------------------------------------------------------------------------------


def edit(*changes: tuple[str, str], text: str = STANDARD) -> str:
    """``text`` with each ``old`` (which must occur exactly once) replaced by ``new``."""
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text


def line_of(text: str, needle: str, after: int = 0) -> int:
    """The 1-based line of the only line after line ``after`` that contains ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if n > after and needle in line]
    assert hits, f"{needle!r} not found after line {after}"
    return hits[0]


def load(text: str, name: str = "standard-5y") -> LoadResult:
    return load_text(text, "x.yaml", expected_name=name)


def shown(result: LoadResult) -> list[str]:
    return [str(p) for p in result.problems]


def only_problem(result: LoadResult) -> Problem:
    assert len(result.problems) == 1, shown(result)
    return result.problems[0]


def assert_only(text: str, line: int, message: str) -> None:
    """Loading ``text`` gives exactly one problem, ``x.yaml:<line>: <message>``."""
    result = load(text)
    assert shown(result) == [f"x.yaml:{line}: {message}"]
    assert result.protocol is None
    assert not result.ok


def with_mood_as(question: str, rule: str) -> str:
    """standard-5y with the mood question replaced and the "wants a call" rule's condition replaced."""
    return edit((MOOD_SCALE, question), (WANT_CALL_RULE, rule))


def with_second_language(text: str, code: str, skip: str | None = None) -> str:
    """``text`` speaking ``code`` too: a ``code`` text after every ``en`` text, except the one containing
    ``skip``."""
    text = edit(("languages: [en]", f"languages: [en, {code}]"), text=text)
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        match = re.match(r"^(\s*)en: ", line)
        if not match:
            continue
        indent = len(match.group(1))
        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent:
            out.append(lines[i])
            i += 1
        if skip is None or skip not in line:
            out.append(f'{match.group(1)}{code}: "({code})"\n')
    return "".join(out)


# --- the shipped protocols -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_protocol_loads_with_no_problems_at_all(name: str) -> None:
    result = load_file(PROTOCOLS / f"{name}.yaml")
    assert result.problems == []
    assert result.ok
    assert result.protocol is not None
    assert result.protocol.name == name
    assert re.fullmatch(r"[0-9a-f]{12}", result.protocol.version)


def test_rmc_quarterly_has_one_phase_every_3_months_until_48_months_so_16_checkups() -> None:
    protocol = load_file(PROTOCOLS / "rmc-quarterly-4y.yaml").protocol
    assert protocol is not None
    [phase] = protocol.schedule.phases
    assert phase.every == Duration(3, Unit.months)
    assert phase.until == Duration(48, Unit.months)
    assert phase.start is None
    assert phase.for_ is None
    assert phase.count is None
    assert phase.until.amount // phase.every.amount == 16
    assert protocol.non_response.missed_after == Duration(2, Unit.weeks)
    assert protocol.channels.fallback is ChannelKind.voice
    assert protocol.step_up is not None
    assert (protocol.step_up.every, protocol.step_up.for_) == (Duration(1, Unit.weeks), Duration(4, Unit.weeks))


def test_tcc_is_weekly_for_8_weeks_then_every_2_weeks_until_month_12_by_voice_first() -> None:
    protocol = load_file(PROTOCOLS / "tcc-12m.yaml").protocol
    assert protocol is not None
    weekly, fortnightly = protocol.schedule.phases
    assert (weekly.every, weekly.for_) == (Duration(1, Unit.weeks), Duration(8, Unit.weeks))
    assert (fortnightly.every, fortnightly.until) == (Duration(2, Unit.weeks), Duration(12, Unit.months))
    assert protocol.channels.preferred is ChannelKind.voice
    assert protocol.channels.fallback is ChannelKind.sms
    assert protocol.step_up is not None


# --- the file itself -------------------------------------------------------------------------------


def test_yaml_syntax_error_is_reported_with_its_line() -> None:
    text = edit(("title: Standard check-ups, five years", "title: Standard check-ups: five years"))
    line = line_of(text, "title: Standard check-ups: five years")
    assert_only(text, line, "not valid YAML: mapping values are not allowed here")


def test_tab_indentation_is_a_yaml_syntax_error_on_its_line() -> None:
    text = edit(("delivery: one_by_one\n", "delivery: one_by_one\n\tx: 1\n"))
    assert_only(text, line_of(text, "\tx: 1"), "not valid YAML: found character '\\t' that cannot start any token")


def test_two_documents_in_one_file_is_a_yaml_error() -> None:
    text = edit(("delivery: one_by_one\n", "---\ndelivery: one_by_one\n"))
    assert_only(text, line_of(text, "---"), "not valid YAML: but found another document")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just words\n", "", "# only a comment\n"])
def test_a_file_that_is_not_a_mapping_is_reported_at_line_1(text: str) -> None:
    assert_only(text, 1, "a protocol file is a mapping of keys (name, title, schedule, questions, ...)")


def test_duplicate_key_is_reported_at_the_second_with_the_line_of_the_first() -> None:
    text = edit(("delivery: one_by_one\n", "delivery: one_by_one\ndelivery: all_at_once\n"))
    first = line_of(text, "delivery: one_by_one")
    second = line_of(text, "delivery: all_at_once")
    assert_only(text, second, f"delivery: duplicate key (first given on line {first})")


def test_merge_keys_are_refused_at_their_line() -> None:
    text = edit(("channels:\n  preferred: sms\n", "channels:\n  <<: {preferred: sms}\n  preferred: sms\n"))
    assert_only(text, line_of(text, "<<:"), "channels: merge keys (<<) are not supported")


def test_a_key_that_is_a_list_is_refused() -> None:
    text = edit(("delivery: one_by_one\n", "[a, b]: 1\ndelivery: one_by_one\n"))
    assert_only(text, line_of(text, "[a, b]: 1"), "a key must be a plain value")


def test_file_not_utf8_is_reported_with_the_byte_offset(tmp_path: Path) -> None:
    data = STANDARD.encode("utf-8")
    at = data.index(b"Standard check-ups")
    path = tmp_path / "standard-5y.yaml"
    path.write_bytes(data[:at] + b"\xff" + data[at:])
    result = load_file(path)
    assert shown(result) == [f"{path}:1: not UTF-8 text (byte {at})"]
    assert result.protocol is None


def test_file_that_cannot_be_read_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    result = load_file(path)
    assert shown(result) == [f"{path}:1: cannot read: No such file or directory"]
    assert not result.ok


def test_a_directory_is_not_a_readable_protocol(tmp_path: Path) -> None:
    path = tmp_path / "folder.yaml"
    path.mkdir()
    result = load_file(path)
    assert shown(result) == [f"{path}:1: cannot read: Is a directory"]


def test_file_too_large_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "standard-5y.yaml"
    data = (STANDARD + "#" * MAX_FILE_BYTES).encode("utf-8")
    path.write_bytes(data)
    result = load_file(path)
    assert shown(result) == [f"{path}:1: too large ({len(data)} bytes; at most {MAX_FILE_BYTES})"]


def test_name_not_matching_the_file_name_is_reported_at_the_name(tmp_path: Path) -> None:
    path = tmp_path / "other-name.yaml"
    path.write_text(STANDARD, encoding="utf-8")
    result = load_file(path)
    line = line_of(STANDARD, "name: standard-5y")
    assert shown(result) == [f"{path}:{line}: name: 'standard-5y' does not match the file name 'other-name'"]


def test_name_is_not_checked_when_no_file_name_is_expected() -> None:
    assert load_text(STANDARD, "x.yaml").problems == []


# --- keys ------------------------------------------------------------------------------------------


def test_unknown_key_is_reported_with_its_line_and_a_suggestion() -> None:
    text = edit(("delivery: one_by_one", "delivry: one_by_one"))
    assert_only(text, line_of(text, "delivry:"), "delivry: unknown key; did you mean 'delivery'?")


def test_unknown_key_with_no_close_match_lists_the_allowed_keys() -> None:
    text = edit(("delivery: one_by_one", "delivery: one_by_one\nzzz: 1"))
    assert_only(
        text, line_of(text, "zzz:"),
        "zzz: unknown key (allowed: name, title, description, languages, send_window, channels, delivery, "
        "schedule, questions, question_sets, non_response, risk_rules, crisis, step_up, messages, discretion)",
    )


def test_unknown_nested_key_is_reported_with_its_path_and_a_suggestion() -> None:
    text = edit(("  fallback: voice", "  fallback: voice\n  fallbak: sms"))
    assert_only(text, line_of(text, "fallbak:"), "channels.fallbak: unknown key; did you mean 'fallback'?")


def test_unknown_key_in_a_phase_suggests_the_alias_the_lead_writes() -> None:
    text = edit(("      for: 8 weeks", "      fro: 8 weeks"))
    assert_only(text, line_of(text, "fro: 8 weeks"), "schedule.phases[0].fro: unknown key; did you mean 'from'?")


def test_unknown_key_in_a_condition_lists_that_conditions_keys() -> None:
    # Regression: this used to say "(allowed: all)" for every kind of condition.
    text = edit(("when: {missed_in_a_row: 2}", "when: {missed_in_a_row: 2, foo: 1}"))
    assert_only(text, line_of(text, "foo: 1"), "risk_rules[5].when.foo: unknown key (allowed: missed_in_a_row)")


def test_misspelt_key_in_an_answer_condition_suggests_the_right_one() -> None:
    text = edit((WANT_CALL_RULE, '{answer: want_call, equals: "yes", equal: 1}'))
    assert_only(text, line_of(text, "equal: 1"), "risk_rules[2].when.equal: unknown key; did you mean 'equals'?")


def test_missing_required_top_level_key_is_reported_at_the_start_of_the_file() -> None:
    text = edit(("title: Standard check-ups, five years\n", ""))
    assert_only(text, line_of(text, "name: standard-5y"), "title: missing: this key is required")


def test_missing_nested_key_is_reported_at_its_parent() -> None:
    text = edit(("  missed_after: 4 days\n", ""))
    assert_only(text, line_of(text, "non_response:"), "non_response.missed_after: missing: this key is required")


def test_missing_answer_in_a_condition_is_reported_at_the_condition() -> None:
    text = edit((WANT_CALL_RULE, '{equals: "yes"}'))
    assert_only(text, line_of(text, '{equals: "yes"}'), "risk_rules[2].when.answer: missing: this key is required")


def test_wrong_type_of_section_is_reported_with_what_was_given() -> None:
    text = edit(("question_sets:\n", "question_sets: 3\nxquestion_sets:\n"))
    result = load(text)
    assert shown(result)[0] == f"x.yaml:{line_of(text, 'question_sets: 3')}: question_sets: " \
                               "Input should be a valid dictionary, got 3"


# --- schedule --------------------------------------------------------------------------------------


def test_phase_that_never_ends_is_reported_at_the_phase() -> None:
    text = edit(("      for: 8 weeks\n", ""))
    assert_only(text, line_of(text, "- name: weekly"),
                "schedule.phases[0]: this phase never ends: give one of for, until or count")


def test_phase_with_two_ends_is_reported_at_the_second() -> None:
    text = edit(("      for: 8 weeks\n", "      for: 8 weeks\n      count: 8\n"))
    assert_only(text, line_of(text, "count: 8"),
                "schedule.phases[0].count: give only one of for, until or count (found for, count)")


def test_phase_starting_before_the_previous_one_ends_is_an_overlap() -> None:
    text = edit(("      every: 2 weeks\n", "      every: 2 weeks\n      from: 4 weeks\n"))
    assert_only(
        text, line_of(text, "from: 4 weeks"),
        "schedule.phases[1].from: overlaps phase 'weekly', which runs until 56 days after the anchor date "
        "(for 8 weeks from its start)",
    )


def test_overlap_with_a_phase_ending_at_until_names_that_date() -> None:
    text = edit(("      every: 1 month\n", "      every: 1 month\n      from: 6 months\n"))
    assert_only(text, line_of(text, "from: 6 months"),
                "schedule.phases[2].from: overlaps phase 'fortnightly', which runs until 1 year after the anchor date")


def test_overlap_with_a_phase_ending_after_a_count_gives_its_end_in_days() -> None:
    text = edit(("      for: 8 weeks", "      count: 8"),
                ("      every: 2 weeks\n", "      every: 2 weeks\n      from: 4 weeks\n"))
    assert_only(text, line_of(text, "from: 4 weeks"),
                "schedule.phases[1].from: overlaps phase 'weekly', which runs until 56 days after the anchor date "
                "(8 check-ups)")


def test_phase_until_earlier_than_the_previous_phase_end_ends_before_it_starts() -> None:
    text = edit(("      until: 24 months", "      until: 6 months"))
    assert_only(text, line_of(text, "until: 6 months"),
                "schedule.phases[2].until: ends at or before it starts (183 days vs 365 days after the anchor date)")


def test_phase_ending_before_its_own_from_is_reported_at_its_end() -> None:
    text = edit(("      until: 12 months", "      from: 6 months\n      until: 3 months"))
    assert_only(text, line_of(text, "until: 3 months"),
                "schedule.phases[1].until: ends at or before it starts (91 days vs 183 days after the anchor date)")


def test_phase_of_zero_length_ends_before_it_starts() -> None:
    text = edit(("      for: 8 weeks", "      for: 0 weeks"))
    assert_only(text, line_of(text, "for: 0 weeks"),
                "schedule.phases[0].for: ends at or before it starts (0 days vs 0 days after the anchor date)")


def test_every_longer_than_the_phase_means_no_checkup() -> None:
    text = edit(("      every: 1 week\n      for: 8 weeks", "      every: 10 weeks\n      for: 8 weeks"))
    assert_only(text, line_of(text, "every: 10 weeks"),
                "schedule.phases[0].every: every 10 weeks is longer than the phase itself, so it has no check-up")


def test_phase_running_past_ten_years_is_refused() -> None:
    text = edit(("      until: 5 years", "      until: 11 years"))
    assert_only(text, line_of(text, "until: 11 years"),
                "schedule.phases[3].until: runs past 10 years after the anchor date")


def test_duplicate_phase_name_names_the_first() -> None:
    text = edit(("    - name: fortnightly", "    - name: weekly"))
    assert_only(text, line_of(text, "- name: weekly", after=line_of(text, "for: 8 weeks")),
                "schedule.phases[1].name: phase name 'weekly' is already used by phases[0]")


def test_unknown_question_set_in_a_phase_lists_the_known_sets() -> None:
    text = edit(("      questions: core\n    - name: fortnightly", "      questions: cor\n    - name: fortnightly"))
    assert_only(text, line_of(text, "      questions: cor"),
                "schedule.phases[0].questions: unknown question set 'cor' (known: core, monthly)")


def test_empty_list_of_phases_is_refused() -> None:
    text = edit(("schedule:\n  phases:\n", "schedule:\n  phases: []\n  zzz:\n"))
    line = line_of(text, "phases: []")
    assert shown(load(text)) == [
        f"x.yaml:{line}: schedule.phases: List should have at least 1 item",
        f"x.yaml:{line + 1}: schedule.zzz: unknown key (allowed: phases)",
    ]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("8 fortnights",
         "unknown unit 'fortnights' in '8 fortnights': use minutes, hours, days, weeks, months or years"),
        ("eight weeks", "expected a duration such as '2 weeks' or '12 months', got 'eight weeks'"),
        ("8", "expected a duration such as '2 weeks' or '12 months', got 8"),
    ],
    ids=["unknown-unit", "words-not-digits", "bare-number"],
)
def test_bad_duration_is_reported_at_its_line(written: str, message: str) -> None:
    text = edit(("      for: 8 weeks", f"      for: {written}"))
    assert_only(text, line_of(text, f"for: {written}"), f"schedule.phases[0].for: {message}")


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("12 hours", "check-ups are at most daily: use days, weeks, months or years"),
        ("0 weeks", "must be longer than zero"),
    ],
)
def test_every_must_be_at_least_a_day_and_longer_than_zero(written: str, message: str) -> None:
    text = edit(("      every: 2 weeks", f"      every: {written}"))
    assert_only(text, line_of(text, f"every: {written}"), f"schedule.phases[1].every: {message}")


def test_daily_checkups_with_closed_days_warn_but_load() -> None:
    text = edit(("      every: 1 week\n      for: 8", "      every: 1 day\n      for: 8"))
    result = load(text)
    line = line_of(text, "every: 1 day")
    assert shown(result) == [
        f"x.yaml:{line}: schedule.phases[0].every: warning: daily check-ups that fall on a closed day move "
        "to the next open day and merge"
    ]
    assert result.ok


# --- send window and channels ----------------------------------------------------------------------


@pytest.mark.parametrize("written", ['"25:00"', '"10:60"', "10am", '"10"'])
def test_bad_time_of_day_is_reported_at_its_line(written: str) -> None:
    text = edit(('start: "10:00"', f"start: {written}"))
    value = parse(f"v: {written}").data["v"]
    assert_only(text, line_of(text, f"start: {written}"),
                f"send_window.start: expected a time of day as HH:MM (e.g. '10:00'), got {value!r}")


def test_window_ending_before_it_starts_is_reported_at_the_window() -> None:
    text = edit(('end: "19:00"', 'end: "09:00"'))
    assert_only(text, line_of(text, "send_window:"),
                "send_window: end 09:00 must be after start 10:00 (a window cannot run past midnight)")


def test_window_may_end_at_midnight() -> None:
    result = load(edit(('end: "19:00"', 'end: "24:00"')))
    assert result.problems == []
    assert result.protocol is not None
    assert result.protocol.send_window.end == time.max


@pytest.mark.parametrize(
    ("days", "field", "message"),
    [
        ("[]", "send_window", "days must name at least one day"),
        ("[mon, Monday]", "send_window", "days lists a day twice"),
        ("[mon, xyz]", "send_window.days[1]",
         "Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun', got 'xyz'"),
    ],
    ids=["no-days", "day-twice", "unknown-day"],
)
def test_bad_days_of_the_send_window(days: str, field: str, message: str) -> None:
    text = edit(("  days: [mon, tue, wed, thu, fri, sat]", f"  days: {days}"))
    line = line_of(text, "send_window:") if field == "send_window" else line_of(text, f"days: {days}")
    assert_only(text, line, f"{field}: {message}")


def test_fallback_channel_must_differ_from_the_preferred_one() -> None:
    text = edit(("  fallback: voice", "  fallback: sms"))
    assert_only(text, line_of(text, "channels:"), "channels: fallback must differ from preferred")


def test_unknown_channel_is_reported_with_the_choices() -> None:
    text = edit(("  fallback: voice", "  fallback: pigeon"))
    assert_only(text, line_of(text, "fallback: pigeon"),
                "channels.fallback: Input should be 'sms' or 'voice', got 'pigeon'")


# --- questions and question sets -------------------------------------------------------------------


def test_question_set_naming_an_unknown_question_lists_the_known_ones() -> None:
    text = edit(("core: [any_use, urges", "core: [any_use, urgs"))
    assert_only(text, line_of(text, "core: [any_use, urgs"),
                "question_sets.core[1]: unknown question 'urgs' (known: any_use, confidence, mood, urges, want_call)")


def test_question_listed_twice_in_a_set() -> None:
    text = edit(("core: [any_use, urges,", "core: [any_use, urges, urges,"))
    assert_only(text, line_of(text, "core: [any_use"), "question_sets.core[2]: question 'urges' is listed twice")


def test_empty_question_set_is_refused() -> None:
    text = edit(("  monthly: [any_use", "  spare: []\n  monthly: [any_use"))
    assert_only(text, line_of(text, "spare: []"), "question_sets.spare: a question set needs at least one question")


def test_duplicate_question_id_is_reported_and_rules_use_the_first_question() -> None:
    # The second "urges" (a 1-5 scale) must not make "urges at_least 7" look out of range: the first
    # question with an id is the one the protocol asks.
    text = edit(("  - id: mood", "  - id: urges"))
    second = line_of(text, "- id: urges", after=line_of(text, "- id: urges"))
    assert shown(load(text)) == [
        f"x.yaml:{second}: questions[3].id: question id 'urges' is already used by questions[1]",
        f"x.yaml:{line_of(text, 'monthly: [')}: question_sets.monthly[3]: unknown question 'mood' "
        "(known: any_use, confidence, urges, want_call)",
    ]


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("  - id: mood\n    type: scale\n    min: 1\n", "a scale question needs min and max"),
        ("  - id: mood\n    type: scale\n    max: 5\n", "a scale question needs min and max"),
        ("  - id: mood\n    type: scale\n    min: 5\n    max: 5\n", "min (5) must be below max (5)"),
        ("  - id: mood\n    type: scale\n    min: 6\n    max: 5\n", "min (6) must be below max (5)"),
        ("  - id: mood\n    type: scale\n    min: 1\n    max: 101\n", "a scale runs between 0 and 100"),
        ("  - id: mood\n    type: yes_no\n    min: 1\n", "min and max are only for scale questions, not yes_no"),
        ("  - id: mood\n    type: text\n    choices: []\n", "choices are only for choice questions, not text"),
        ("  - id: mood\n    type: choice\n    choices:\n      - id: low\n        text: {en: Low}\n",
         "a choice question needs at least two choices"),
        ("  - id: mood\n    type: choice\n", "a choice question needs at least two choices"),
        ("  - id: mood\n    type: choice\n    choices:\n      - id: low\n        text: {en: Low}\n"
         "      - id: low\n        text: {en: Lower}\n", "two choices share an id"),
        ("  - id: mood\n    type: choice\n    choices:\n"
         + "".join(f"      - id: c{n}\n        text: {{en: '{n}'}}\n" for n in range(10)),
         "at most 9 choices (one keypad digit each)"),
    ],
    ids=["scale-without-max", "scale-without-min", "min-equals-max", "min-above-max", "scale-above-100",
         "min-on-yes-no", "choices-on-text", "choice-with-one-choice", "choice-without-choices",
         "choices-sharing-an-id", "ten-choices"],
)
def test_question_that_does_not_fit_its_type_is_the_only_problem(question: str, message: str) -> None:
    # Only one problem: a question that failed its own check is not also "unknown" where it is used.
    text = edit((MOOD_SCALE, question))
    assert_only(text, line_of(text, "- id: mood"), f"questions[3]: {message}")


def test_bad_answer_type_lists_the_types() -> None:
    text = edit((MOOD_SCALE, "  - id: mood\n    type: slider\n    min: 1\n    max: 5\n"))
    assert_only(text, line_of(text, "type: slider"),
                "questions[3].type: Input should be 'yes_no', 'scale', 'choice' or 'text', got 'slider'")


@pytest.mark.parametrize(
    ("written", "field", "message"),
    [
        ("  - id: Mood", "questions[3].id",
         "'Mood' is not allowed here: use lower-case letters, digits and _ (start with a letter)"),
        ("  - id: 2mood", "questions[3].id",
         "'2mood' is not allowed here: use lower-case letters, digits and _ (start with a letter)"),
    ],
)
def test_identifier_pattern_is_explained(written: str, field: str, message: str) -> None:
    text = edit(("  - id: mood", written))
    result = load(text)
    assert shown(result)[0] == f"x.yaml:{line_of(text, written)}: {field}: {message}"


def test_protocol_name_pattern_is_explained_with_hyphens_not_underscores() -> None:
    # Regression: the name allows "-" and a leading digit, not "_"; the message used to say otherwise.
    text = edit(("name: standard-5y", "name: Standard_5y"))
    assert_only(text, line_of(text, "name: Standard_5y"), "name: 'Standard_5y' is not allowed here: use "
                "lower-case letters, digits and - (start with a letter or digit)")


def test_language_code_pattern_is_explained_as_a_language_code() -> None:
    text = edit(("languages: [en]", "languages: [EN]"))
    result = load(text)
    assert shown(result)[0] == (f"x.yaml:{line_of(text, 'languages: [EN]')}: languages[0]: 'EN' is not "
                                "allowed here: use a language code such as 'en', 'cy' or 'pt-BR'")


def test_overlong_text_is_not_repeated_back_in_full() -> None:
    long = "x" * 1700
    text = edit(("\"Thanks, that's all for now. Take care.\"", f'"{long}"'))
    problem = only_problem(load(text))
    assert problem.line == line_of(text, long)
    assert problem.field == "messages.closing.en"
    assert problem.message == "String should have at most 1600 characters, got '" + "x" * 55 + "...'"


# --- risk rules ------------------------------------------------------------------------------------


def rule_line(text: str, rule_id: str, needle: str) -> int:
    return line_of(text, needle, after=line_of(text, f"- id: {rule_id}", after=line_of(text, "risk_rules:")))


def test_rule_naming_an_unknown_question_lists_the_known_ones() -> None:
    text = edit((WANT_CALL_RULE, '{answer: want_cal, equals: "yes"}'))
    assert_only(text, line_of(text, "want_cal,"), "risk_rules[2].when.answer: unknown question 'want_cal' "
                "(known: any_use, confidence, mood, urges, want_call)")


def test_rule_inside_all_gives_the_path_of_the_leaf() -> None:
    text = edit(("{answer: urges, at_least: 7}", "{answer: urges, at_least: 11}"))
    assert_only(text, line_of(text, "at_least: 11"),
                "risk_rules[3].when.all[0].at_least: 11 is outside the scale of 'urges' (0 to 10)")


def test_at_most_outside_the_scale() -> None:
    text = edit(("{answer: confidence, at_most: 4}", "{answer: confidence, at_most: -1}"))
    assert_only(text, line_of(text, "at_most: -1"),
                "risk_rules[3].when.all[1].at_most: -1 is outside the scale of 'confidence' (0 to 10)")


@pytest.mark.parametrize("key", ["at_least", "at_most"])
def test_threshold_on_a_yes_no_question_needs_a_scale(key: str) -> None:
    text = edit((WANT_CALL_RULE, f"{{answer: want_call, {key}: 1}}"))
    assert_only(text, line_of(text, f"{key}: 1}}"),
                f"risk_rules[2].when.{key}: {key} needs a scale question; 'want_call' is yes_no")


@pytest.mark.parametrize("key", ["rise_from", "fall_from"])
def test_change_on_a_yes_no_question_needs_a_scale(key: str) -> None:
    text = edit((WANT_CALL_RULE, f"{{answer: want_call, {key}: previous, by_at_least: 1}}"))
    assert_only(text, line_of(text, f"{key}: previous"),
                f"risk_rules[2].when.{key}: {key} needs a scale question; 'want_call' is yes_no")


def test_rise_bigger_than_the_whole_scale_never_fires() -> None:
    text = edit(("by_at_least: 3", "by_at_least: 11"))
    assert_only(text, line_of(text, "by_at_least: 11"),
                "risk_rules[4].when.by_at_least: 11 is more than the whole scale of 'urges' (0 to 10)")


def test_rise_of_zero_is_refused() -> None:
    text = edit(("by_at_least: 3", "by_at_least: 0"))
    assert_only(text, line_of(text, "by_at_least: 0"),
                "risk_rules[4].when.by_at_least: Input should be greater than or equal to 1, got 0")


@pytest.mark.parametrize(
    ("question", "equals", "message"),
    [
        (MOOD_SCALE.replace("scale\n    min: 1\n    max: 5", "yes_no"), '"maybe"',
         "'maybe' is not an answer to yes/no question 'mood': use yes or no"),
        (MOOD_SCALE.replace("scale\n    min: 1\n    max: 5", "yes_no"), "2",
         "2 is not an answer to yes/no question 'mood': use yes or no"),
        (MOOD_SCALE, '"yes"', "'yes' is not a number on the scale of 'mood'"),
        (MOOD_SCALE, "true", "True is not a number on the scale of 'mood'"),
        (MOOD_SCALE, "6", "6 is outside the scale of 'mood' (1 to 5)"),
        ("  - id: mood\n    type: choice\n    choices:\n      - id: low\n        text: {en: Low}\n"
         "      - id: good\n        text: {en: Good}\n", "meh", "'meh' is not a choice of 'mood' (choices: low, good)"),
        ("  - id: mood\n    type: text\n", '"fine"',
         "free-text question 'mood' cannot be compared; scan it with crisis words"),
    ],
    ids=["yes-no-maybe", "yes-no-number", "scale-word", "scale-boolean", "scale-out-of-range", "choice-unknown",
         "free-text"],
)
def test_equals_value_that_cannot_be_an_answer(question: str, equals: str, message: str) -> None:
    text = with_mood_as(question, f"{{answer: mood, equals: {equals}}}")
    assert_only(text, line_of(text, "{answer: mood, equals:"), f"risk_rules[2].when.equals: {message}")


@pytest.mark.parametrize("equals", ["yes", "no", "Y", "n", "true", "false", '"YES"'])
def test_equals_accepts_every_spelling_of_yes_and_no(equals: str) -> None:
    assert load(edit((WANT_CALL_RULE, f"{{answer: want_call, equals: {equals}}}"))).problems == []


def test_equals_on_a_choice_question_accepts_a_choice_id() -> None:
    question = ("  - id: mood\n    type: choice\n    choices:\n      - id: low\n        text: {en: Low}\n"
                "      - id: good\n        text: {en: Good}\n")
    assert load(with_mood_as(question, "{answer: mood, equals: low}")).problems == []


def test_bad_severity_lists_the_severities() -> None:
    text = edit(("    severity: medium\n    reason: Urges", "    severity: severe\n    reason: Urges"))
    assert_only(text, line_of(text, "severity: severe"),
                "risk_rules[4].severity: Input should be 'low', 'medium', 'high' or 'urgent', got 'severe'")


@pytest.mark.parametrize(
    "condition",
    ["{missed_in_row: 2}", "{missed_in_a_row: 2, within_first_days: 3}", "{answer: urges}", "[]"],
    ids=["misspelt-kind", "two-kinds", "answer-without-test", "not-a-mapping"],
)
def test_condition_with_no_known_kind_lists_the_kinds(condition: str) -> None:
    text = edit(("when: {missed_in_a_row: 2}", f"when: {condition}"))
    assert_only(text, line_of(text, f"when: {condition}"),
                "risk_rules[5].when: a condition needs exactly one of: all, any, missed_in_a_row, "
                "within_first_days, in_overdose_window, or answer with equals, at_least, at_most, rise_from "
                "or fall_from")


def test_empty_all_is_refused() -> None:
    text = edit(("when: {missed_in_a_row: 2}", "when: {all: []}"))
    assert_only(text, line_of(text, "when: {all: []}"),
                "risk_rules[5].when.all: List should have at least 1 item after validation, not 0")


@pytest.mark.parametrize(
    ("condition", "field", "message"),
    [
        ("{missed_in_a_row: 0}", "missed_in_a_row", "Input should be greater than or equal to 1, got 0"),
        ("{within_first_days: 0}", "within_first_days", "Input should be greater than or equal to 1, got 0"),
        ("{in_overdose_window: 400}", "in_overdose_window", "Input should be less than or equal to 365, got 400"),
    ],
)
def test_condition_counts_out_of_bounds(condition: str, field: str, message: str) -> None:
    text = edit(("when: {missed_in_a_row: 2}", f"when: {condition}"))
    assert_only(text, line_of(text, f"when: {condition}"), f"risk_rules[5].when.{field}: {message}")


def test_duplicate_rule_id_names_the_first() -> None:
    text = edit(("  - id: two_missed", "  - id: any_use"))
    second = rule_line(text, "any_use", "- id: any_use")
    assert_only(text, second, "risk_rules[5].id: risk rule id 'any_use' is already used by risk_rules[1]")


def test_respond_within_must_be_longer_than_zero() -> None:
    text = edit(("    reason: Asked for a call\n    respond_within: 24 hours",
                 "    reason: Asked for a call\n    respond_within: 0 hours"))
    assert_only(text, line_of(text, "respond_within: 0 hours"),
                "risk_rules[2].respond_within: must be longer than zero")


def test_rule_on_a_question_in_no_set_warns_that_it_never_fires() -> None:
    text = edit(
        ("question_sets:", "  - id: extra\n    type: yes_no\n    text: {en: 'Anything else? Reply Y or N'}\n"
                           "\nquestion_sets:"),
        (WANT_CALL_RULE, "{answer: extra, equals: yes}"),
    )
    result = load(text)
    assert shown(result) == [f"x.yaml:{line_of(text, 'answer: extra')}: risk_rules[2].when.answer: warning: "
                             "question 'extra' is in no question set, so this never fires"]
    assert result.ok


def test_one_bad_rule_does_not_hide_a_problem_in_another() -> None:
    text = edit(("  - id: any_use\n    when", "  - id: any_use\n    bogus: 1\n    when"),
                ("{answer: urges, at_least: 7}", "{answer: urges, at_least: 11}"))
    assert shown(load(text)) == [
        f"x.yaml:{line_of(text, 'bogus: 1')}: risk_rules[1].bogus: unknown key "
        "(allowed: id, when, severity, reason, respond_within, script)",
        f"x.yaml:{line_of(text, 'at_least: 11')}: risk_rules[3].when.all[0].at_least: 11 is outside the scale "
        "of 'urges' (0 to 10)",
    ]


# --- languages -------------------------------------------------------------------------------------


def test_second_language_with_every_text_loads() -> None:
    result = load(with_second_language(STANDARD, "cy"))
    assert result.problems == []
    assert result.protocol is not None
    assert result.protocol.languages == ["en", "cy"]


def test_language_missing_for_one_question_is_reported_at_its_text() -> None:
    text = with_second_language(STANDARD, "cy", skip="How strong have your urges been this week, from 0")
    line = line_of(text, "text:", after=line_of(text, "- id: urges"))
    assert_only(text, line, "questions[1].text: missing the 'cy' text (the protocol speaks en, cy)")


def test_text_in_a_language_not_listed_is_reported_at_that_language() -> None:
    text = edit(("    en: \"Thanks, that's", "    cy: \"Diolch\"\n    en: \"Thanks, that's"))
    assert_only(text, line_of(text, 'cy: "Diolch"'), "messages.closing.cy: language 'cy' is not in languages (en)")


def test_language_listed_twice() -> None:
    text = edit(("languages: [en]", "languages: [en, en]"))
    assert_only(text, line_of(text, "languages:"), "languages: a language is listed twice")


# --- non-response, crisis, step-up -----------------------------------------------------------------


def test_reminder_after_the_checkup_is_missed_is_reported_at_non_response() -> None:
    text = edit(("remind_after: [1 day]", "remind_after: [5 days]"))
    assert_only(text, line_of(text, "non_response:"),
                "non_response: reminder after 5 days comes after the check-up is missed (4 days)")


def test_voice_fallback_after_the_checkup_is_missed_is_reported_at_non_response() -> None:
    text = edit(("  fallback_after: 2 days", "  fallback_after: 4 days"))
    assert_only(text, line_of(text, "non_response:"),
                "non_response: voice fallback after 4 days comes after the check-up is missed (4 days)")


def test_too_many_reminders() -> None:
    text = edit(("remind_after: [1 day]", "remind_after: [1 h, 2 h, 3 h, 4 h, 5 h, 6 h]"))
    assert_only(text, line_of(text, "remind_after:"),
                "non_response.remind_after: List should have at most 5 items after validation, not 6")


def test_step_up_every_longer_than_for() -> None:
    text = edit(("  every: 1 week\n  for: 4 weeks", "  every: 6 weeks\n  for: 4 weeks"))
    assert_only(text, line_of(text, "every: 6 weeks"), "step_up.every: every 6 weeks is longer than for 4 weeks")


def test_step_up_unknown_question_set() -> None:
    text = edit(("  back_after_clear: 2\n  questions: core", "  back_after_clear: 2\n  questions: cor"))
    assert_only(text, line_of(text, "  questions: cor", after=line_of(text, "step_up:")),
                "step_up.questions: unknown question set 'cor' (known: core, monthly)")


def test_step_up_back_after_clear_must_be_at_least_one() -> None:
    text = edit(("  back_after_clear: 2", "  back_after_clear: 0"))
    assert_only(text, line_of(text, "back_after_clear: 0"),
                "step_up.back_after_clear: Input should be greater than or equal to 1, got 0")


def test_crisis_word_listed_twice_warns() -> None:
    # Case and spacing do not make a different word.
    text = edit(("    - took too much\n", "    - took too much\n    - Kill  Myself\n"))
    result = load(text)
    assert shown(result) == [f"x.yaml:{line_of(text, 'Kill  Myself')}: crisis.words[13]: warning: "
                             "'Kill  Myself' is already listed"]
    assert result.ok


def test_crisis_needs_at_least_one_word() -> None:
    text = edit(("crisis:\n", "crisis:\n  words: []\n  old_words:\n"))
    result = load(text)
    assert shown(result)[0] == (f"x.yaml:{line_of(text, 'words: []')}: crisis.words: "
                                "List should have at least 1 item after validation, not 0")


# --- several problems at once ----------------------------------------------------------------------


def test_several_errors_are_all_reported_in_line_order_with_warnings_last() -> None:
    text = edit(
        ('start: "10:00"', 'start: "25:00"'),
        ("delivery: one_by_one", "delivry: one_by_one"),
        ("      for: 8 weeks\n", ""),
        ("  monthly: [any_use, urges, confidence, mood, want_call]",
         "  monthly: [any_use, urges, confidence, moood, want_call]"),
        ("    severity: medium\n    reason: Urges", "    severity: severe\n    reason: Urges"),
        ("  fallback: voice", "  fallback: voice\n  fallbak: sms"),
        # Warnings, one of them earlier in the file than every error.
        ("(none) to 10 (very strong)?", "(none) to 10 (very strong)? Any rehab?"),
        ("    - suicidal\n", "    - suicidal\n    - suicide\n"),
    )
    result = load(text)
    assert shown(result) == [
        f"x.yaml:{line_of(text, 'start: ')}: send_window.start: expected a time of day as HH:MM "
        "(e.g. '10:00'), got '25:00'",
        f"x.yaml:{line_of(text, 'fallbak:')}: channels.fallbak: unknown key; did you mean 'fallback'?",
        f"x.yaml:{line_of(text, 'delivry:')}: delivry: unknown key; did you mean 'delivery'?",
        f"x.yaml:{line_of(text, '- name: weekly')}: schedule.phases[0]: this phase never ends: "
        "give one of for, until or count",
        f"x.yaml:{line_of(text, 'monthly: [')}: question_sets.monthly[3]: unknown question 'moood' "
        "(known: any_use, confidence, mood, urges, want_call)",
        f"x.yaml:{line_of(text, 'severity: severe')}: risk_rules[4].severity: Input should be 'low', 'medium', "
        "'high' or 'urgent', got 'severe'",
        f"x.yaml:{line_of(text, 'Any rehab?')}: questions[1].text.en: warning: telling word on a lock screen: "
        "'rehab' (reword, or list it in discretion.allow if the participant chose otherwise)",
        f"x.yaml:{line_of(text, '- suicide', after=line_of(text, '- suicidal'))}: crisis.words[2]: warning: "
        "'suicide' is already listed",
    ]
    lines = [p.line for p in result.errors]
    assert lines == sorted(lines)
    assert result.problems[-2:] == result.warnings
    assert result.protocol is None


# --- discretion ------------------------------------------------------------------------------------


CLOSING = "\"Thanks, that's all for now. Take care.\""


def with_closing(words: str, allow: str | None = None) -> str:
    text = edit((CLOSING, f'"{words}"'))
    if allow is not None:
        text += f"\ndiscretion:\n  allow: {allow}\n"
    return text


def telling(result: LoadResult) -> list[str]:
    return [p.message for p in result.warnings if "telling word" in p.message]


def test_telling_word_is_a_warning_and_the_protocol_still_loads() -> None:
    text = with_closing("Thanks. Stay sober!")
    result = load(text)
    assert shown(result) == [
        f"x.yaml:{line_of(text, 'Stay sober')}: messages.closing.en: warning: telling word on a lock screen: "
        "'sober' (reword, or list it in discretion.allow if the participant chose otherwise)"
    ]
    assert result.errors == []
    assert result.ok
    assert result.protocol is not None


def test_several_telling_words_in_one_text_are_one_warning() -> None:
    result = load(with_closing("Your treatment and rehab and DETOX"))
    assert telling(result) == ["telling words on a lock screen: 'treatment', 'rehab', 'detox' "
                               "(reword, or list it in discretion.allow if the participant chose otherwise)"]


def test_discretion_allow_suppresses_exactly_the_allowed_word() -> None:
    result = load(with_closing("Stay sober, skip rehab.", allow="[Sober]"))
    assert telling(result) == ["telling word on a lock screen: 'rehab' "
                               "(reword, or list it in discretion.allow if the participant chose otherwise)"]
    assert result.ok


def test_allowing_every_telling_word_used_leaves_no_warning() -> None:
    assert load(with_closing("Stay sober, skip rehab.", allow="[sober, rehab]")).problems == []


@pytest.mark.parametrize("words", ["See you at AA", "NA meets at 7", "Good luck (AA)."])
def test_aa_and_na_in_capitals_are_telling(words: str) -> None:
    assert telling(load(with_closing(words)))


@pytest.mark.parametrize("words", ["Aa, see you", "aa", "na na na", "Baa baa", "NAN", "AAA rating"])
def test_aa_and_na_not_in_capitals_or_inside_words_are_not_telling(words: str) -> None:
    assert load(with_closing(words)).problems == []


@pytest.mark.parametrize("words", ["drugstore", "the pharmacy's drugstore hours", "redrug", "undetoxed"])
def test_telling_words_inside_other_words_do_not_match(words: str) -> None:
    assert checks.telling_words_in(words) == []
    assert load(with_closing(words)).problems == []


@pytest.mark.parametrize(
    ("words", "found"),
    [("drug", ["drug"]), ("a drug.", ["drug"]), ("(drugs)", ["drugs"]), ("DRUG-free", ["drug"]),
     # "_" is a word character: "drug_free" is one word, not "drug".
     ("drug_free", [])],
)
def test_telling_word_on_its_own_matches_whatever_surrounds_it(words: str, found: list[str]) -> None:
    assert checks.telling_words_in(words) == found


@pytest.mark.parametrize("words", ["your recovery   service", "Recovery\tService", "recovery services"])
def test_telling_phrase_matches_across_any_spacing(words: str) -> None:
    assert checks.telling_words_in(words)[0].startswith("recovery service")


def test_phrase_across_a_line_break_in_a_folded_text_is_telling() -> None:
    text = edit(("      less often. Reply STOP", "      less often, from your recovery\n      service. Reply STOP"))
    result = load(text)
    [warning] = result.warnings
    assert warning.field == "messages.intro.en"
    assert warning.line == line_of(text, "en: >", after=line_of(text, "intro:"))
    assert "'recovery service'" in warning.message


def test_recovery_on_its_own_is_not_telling() -> None:
    assert checks.telling_words_in("Your recovery matters to us") == []


@pytest.mark.parametrize(("words", "found"), [("Don't get high", ["get high"]), ("getting  high", ["get high"]),
                                              ("a high score", []), ("high five", [])])
def test_high_is_telling_only_as_get_high(words: str, found: list[str]) -> None:
    assert checks.telling_words_in(words) == found


def test_telling_words_are_checked_in_questions_voice_choices_and_crisis_reply() -> None:
    text = edit(
        ("you used at all? Press 1", "you used drugs at all? Press 1"),
        ("call 999. Samaritans", "call 999 or ask for naloxone. Samaritans"),
        (MOOD_SCALE, "  - id: mood\n    type: choice\n    choices:\n      - id: low\n        text: {en: Hungover}\n"
                     "      - id: ok\n        text: {en: Drunk}\n"),
    )
    assert [(p.field, p.line) for p in load(text).warnings] == [
        ("questions[0].voice.en", line_of(text, "used drugs")),
        ("questions[3].choices[1].text.en", line_of(text, "{en: Drunk}")),
        ("crisis.reply.en", line_of(text, "en: >", after=line_of(text, "reply:"))),
    ]


def test_crisis_words_and_volunteer_scripts_are_not_checked_for_discretion() -> None:
    # Crisis words and rule reasons/scripts are never shown to the participant.
    assert load(STANDARD).problems == []
    assert "overdose" in STANDARD
    assert "naloxone" in STANDARD


def test_discretion_allow_of_an_unknown_key_is_an_error() -> None:
    text = STANDARD + "\ndiscretion:\n  allows: [sober]\n"
    assert_only(text, line_of(text, "allows:"), "discretion.allows: unknown key; did you mean 'allow'?")


# --- version and YAML 1.2 --------------------------------------------------------------------------


def version(text: str) -> str:
    result = load(text)
    assert result.ok, shown(result)
    assert result.protocol is not None
    return result.protocol.version


def test_version_is_stable_across_comment_and_whitespace_edits() -> None:
    relaid = edit(
        ("name: standard-5y\n", "# a new comment\n\nname: standard-5y   # trailing comment\n"),
        ("  days: [mon, tue, wed, thu, fri, sat]", "  days: [ mon,tue,  wed, thu, fri, sat ]"),
        ('  start: "10:00"', "  start: '10:00'"),
        ("question_sets:\n", "\n\nquestion_sets:\n"),
        ("  core: [any_use, urges, confidence, want_call]",
         "  core:\n    - any_use\n    - urges\n    - confidence\n    - want_call"),
    )
    assert relaid != STANDARD
    assert version(relaid) == version(STANDARD)


def test_version_is_stable_when_keys_are_reordered() -> None:
    reordered = edit(("delivery: one_by_one\n", ""), ("schedule:\n", "delivery: one_by_one\n\nschedule:\n"))
    assert version(reordered) == version(STANDARD)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("title: Standard check-ups, five years", "title: Standard check-ups, 5 years"),
        ("remind_after: [1 day]", "remind_after: [1 day, 3 days]"),
        ("at_least: 7", "at_least: 8"),
        ("Take care.", "Take care!"),
    ],
)
def test_version_changes_when_content_changes(old: str, new: str) -> None:
    assert version(edit((old, new))) != version(STANDARD)


def test_unquoted_time_of_day_parses_as_a_time_not_a_number() -> None:
    text = edit(('start: "10:00"', "start: 10:00"), ('end: "19:00"', "end: 19:00"))
    assert parse("start: 10:00").data == {"start": "10:00"}
    result = load(text)
    assert result.problems == []
    assert result.protocol is not None
    assert result.protocol.send_window.start == time(10, 0)
    assert result.protocol.send_window.end == time(19, 0)


def test_no_yes_on_off_stay_strings_and_only_true_false_are_booleans() -> None:
    data = parse("languages: [en, no]\na: yes\nb: off\nc: true\nd: False\ne: 0o17\nf: 1_000\ng: 1:30\n").data
    assert data == {"languages": ["en", "no"], "a": "yes", "b": "off", "c": True, "d": False,
                    "e": "0o17", "f": "1_000", "g": "1:30"}


@pytest.mark.parametrize(("written", "value"), [("010", 10), ("08", 8), ("-3", -3), ("+7", 7), ("1.5", 1.5)])
def test_numbers_with_leading_zeros_are_decimal_as_in_yaml_1_2(written: str, value: float) -> None:
    # Regression: PyYAML read 010 as octal 8 and crashed on 08 ("invalid literal for int() with base 8").
    assert parse(f"a: {written}").data == {"a": value}


def test_leading_zero_threshold_loads_as_the_number_written() -> None:
    result = load(edit(("at_least: 7", "at_least: 07")))
    assert result.problems == []


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("!!int seven", "'seven' is not a whole number"),
        ("!!timestamp soon", "cannot read 'soon' as tag:yaml.org,2002:timestamp"),
        ("!!python/object x", "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object'"),
        ("!custom x", "could not determine a constructor for the tag '!custom'"),
    ],
)
def test_value_that_cannot_be_built_is_a_yaml_error_not_a_crash(written: str, message: str) -> None:
    # Regression: these raised out of load_text, which must never raise for bad content.
    text = edit(("at_least: 7", f"at_least: {written}"))
    assert_only(text, line_of(text, f"at_least: {written}"), f"not valid YAML: {message}")


def test_language_no_is_kept_as_norwegian_and_needs_its_texts() -> None:
    text = edit(("languages: [en]", "languages: [en, no]"))
    result = load(text)
    assert result.errors
    assert {p.message for p in result.errors} == {"missing the 'no' text (the protocol speaks en, no)"}


def test_unquoted_yes_in_a_rule_is_the_answer_yes() -> None:
    assert load(edit((WANT_CALL_RULE, "{answer: want_call, equals: yes}"))).problems == []
