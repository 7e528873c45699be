"""Replies as people write them: a corpus of real-world answers with their expected parse, several answers
in one message, and crisis words. Property-tested with hypothesis: no text ever makes the parsers raise.

The rules these cases pin down are written out in the docstring of :mod:`checkups.engine.replies`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkups.engine.answers import Parsed
from checkups.engine.intent import Call, call_request, is_acknowledgement
from checkups.engine.replies import MAX_TEXT, crisis_words_of, parse_answer, parse_reply, scan_crisis
from checkups.protocols.loader import load_file
from checkups.protocols.schema import AnswerType, Choice, Question

PROTOCOLS = Path(__file__).resolve().parents[2] / "config" / "protocols"
STANDARD = load_file(PROTOCOLS / "standard-5y.yaml").protocol
RMC = load_file(PROTOCOLS / "rmc-quarterly-4y.yaml").protocol
assert STANDARD is not None
assert RMC is not None
CRISIS_WORDS = list(STANDARD.crisis.words)

SUPPORT = Question(
    id="support",
    type=AnswerType.choice,
    text={"en": "Who have you talked to this week? 1 key worker, 2 a meeting, 3 family or friends, 4 nobody"},
    choices=[
        Choice(id="key_worker", text={"en": "Key worker"}),
        Choice(id="mutual_aid", text={"en": "Mutual aid meeting"}),
        Choice(id="family", text={"en": "Family or friends"}),
        Choice(id="nobody", text={"en": "Nobody"}),
    ],
)
NOTE = Question(id="note", type=AnswerType.text, text={"en": "Anything you'd like us to know?"})
QUESTIONS: dict[str, Question] = {q.id: q for q in STANDARD.questions} | {
    "use_days": RMC.question("use_days"),
    "support": SUPPORT,
    "note": NOTE,
}
CORE = STANDARD.questions_for("weekly")  # any_use, urges, confidence, want_call
MONTHLY = STANDARD.questions_for("monthly")  # any_use, urges, confidence, mood, want_call

X = None  # not understood: the participant gets one clarification

# (question, reply, expected): "yes"/"no" for yes/no questions, a number for scales, a choice id, the kept text.
CORPUS: list[tuple[str, str, Any]] = [
    # --- yes/no: yes as people write it
    ("any_use", "yes", "yes"),
    ("any_use", "Yes", "yes"),
    ("any_use", "YES", "yes"),
    ("any_use", "y", "yes"),
    ("any_use", "Y", "yes"),
    ("any_use", " y ", "yes"),
    ("any_use", "Y.", "yes"),
    ("any_use", "yes.", "yes"),
    ("any_use", "Yes!", "yes"),
    ("any_use", "Yesss!!", "yes"),
    ("any_use", "yeah", "yes"),
    ("any_use", "Yeah a bit", "yes"),
    ("any_use", "yeahhh", "yes"),
    ("any_use", "yea", "yes"),
    ("any_use", "yeh", "yes"),
    ("any_use", "yep", "yes"),
    ("any_use", "Yepp", "yes"),
    ("any_use", "yup", "yes"),
    ("any_use", "ya", "yes"),
    ("any_use", "yh", "yes"),
    ("any_use", "aye", "yes"),
    ("any_use", "Aye I did", "yes"),
    ("any_use", "yes I have", "yes"),
    ("any_use", "I have", "yes"),
    ("any_use", "I did", "yes"),
    ("any_use", "yse", "yes"),
    ("any_use", "hi yes", "yes"),
    ("any_use", "Honestly yes", "yes"),
    ("any_use", "to be honest yeah", "yes"),
    ("any_use", "ok yes", "yes"),
    ("any_use", "yes x", "yes"),
    ("any_use", "Yes 😔", "yes"),
    ("any_use", "yes👍", "yes"),
    ("any_use", "yes, on saturday", "yes"),
    ("any_use", "yeah slipped up at the weekend", "yes"),
    ("any_use", "a bit", "yes"),
    ("any_use", "A little", "yes"),
    ("any_use", "once", "yes"),
    ("any_use", "just once", "yes"),
    ("any_use", "twice", "yes"),
    ("any_use", "slipped up", "yes"),
    ("any_use", "relapsed on friday", "yes"),
    ("any_use", "used on sunday", "yes"),
    ("any_use", "drank on saturday, sorry", "yes"),
    ("any_use", "kinda", "yes"),
    ("want_call", "yes please", "yes"),
    ("want_call", "YES PLEASE", "yes"),
    ("want_call", "sure", "yes"),
    ("want_call", "Sure thing", "yes"),
    ("want_call", "of course", "yes"),
    ("want_call", "definitely", "yes"),
    ("want_call", "I would", "yes"),
    ("want_call", "yes please call after 5", "yes"),
    ("want_call", "uh huh", "yes"),
    # --- yes/no: no as people write it
    ("any_use", "no", "no"),
    ("any_use", "No", "no"),
    ("any_use", "NO", "no"),
    ("any_use", "n", "no"),
    ("any_use", "N", "no"),
    ("any_use", "N.", "no"),
    ("any_use", "no.", "no"),
    ("any_use", "NO!!!", "no"),
    ("any_use", "Noooo", "no"),
    ("any_use", "nah", "no"),
    ("any_use", "nah mate", "no"),
    ("any_use", "naw", "no"),
    ("any_use", "nope", "no"),
    ("any_use", "Nooope", "no"),
    ("any_use", "nope all good 💪", "no"),
    ("any_use", "Nope, still going strong", "no"),
    ("any_use", "not at all", "no"),
    ("any_use", "Not at all!", "no"),
    ("any_use", "never", "no"),
    ("any_use", "Never again", "no"),
    ("any_use", "not once", "no"),
    ("any_use", "none", "no"),
    ("any_use", "nothing", "no"),
    ("any_use", "no I haven't", "no"),
    ("any_use", "No i havent", "no"),
    ("any_use", "haven't", "no"),
    ("any_use", "I haven't", "no"),
    ("any_use", "I have not", "no"),
    ("any_use", "didn't", "no"),
    ("any_use", "havent used", "no"),
    ("any_use", "Not used since I left", "no"),
    ("any_use", "not", "no"),
    ("any_use", "no thanks", "no"),
    ("any_use", "hi no", "no"),
    ("any_use", "well no", "no"),
    ("any_use", "No 😊", "no"),
    ("any_use", "no 👍", "no"),
    ("any_use", "no x", "no"),
    ("want_call", "no thanks", "no"),
    ("want_call", "No thank you", "no"),
    ("want_call", "no ta", "no"),
    ("want_call", "nah I'm good", "no"),
    ("want_call", "no, all fine thanks", "no"),
    ("want_call", "No worries, no thanks", "no"),
    ("want_call", "not today", X),
    # --- yes/no: neither, for certain (one clarification)
    ("any_use", "", X),
    ("any_use", "   ", X),
    ("any_use", "?", X),
    ("any_use", "??", X),
    ("any_use", "ok", X),
    ("any_use", "OK", X),
    ("any_use", "okay", X),
    ("any_use", "k", X),
    ("any_use", "fine", X),
    ("any_use", "good", X),
    ("any_use", "all good", X),
    ("any_use", "idk", X),
    ("any_use", "dunno", X),
    ("any_use", "not sure", X),
    ("any_use", "maybe", X),
    ("any_use", "not really", X),
    ("any_use", "yes and no", X),
    ("any_use", "yeah nah", X),
    ("any_use", "no... well yes", X),
    ("any_use", "no, well a bit", X),
    ("any_use", "no just once", X),
    ("any_use", "No. Well, I had one drink", X),
    ("any_use", "no, 2 beers", X),
    ("any_use", "Haven't been able to stop", X),
    ("any_use", "I used, no idea why", "yes"),
    ("any_use", "No, been clean 3 months", X),  # a number after "no" may be a count of drinks
    ("any_use", "no, I've been good", "no"),
    ("any_use", "Y/N", X),  # the prompt sent back
    ("any_use", "yes I have used", "yes"),
    ("any_use", "1", X),
    ("any_use", "2", X),
    ("any_use", "0", X),
    ("any_use", "👍", X),
    ("any_use", "👎", X),
    ("any_use", "✅", X),
    ("any_use", "❌", X),
    ("any_use", "🙂🙂🙂", X),
    ("any_use", "stop asking", X),
    ("any_use", "call me", X),
    ("any_use", "who is this", X),
    ("any_use", "yesterday", X),
    ("any_use", "nothing much happening, yeah used", X),
    ("want_call", "call me", X),
    ("want_call", "no problem", X),
    ("want_call", "thanks", X),
    # --- yes/no: unicode never breaks anything
    ("any_use", "y\u200bes", "yes"),  # a zero-width space inside the word
    ("any_use", "\u200fno\u200f", "no"),  # right-to-left marks around it
    ("any_use", "\u202eon", X),  # a right-to-left override shows "no", but the text is "on"
    ("any_use", "\ufeffyes", "yes"),  # a byte order mark
    ("any_use", "ＹＥＳ", "yes"),  # full-width
    ("any_use", "Yés", "yes"),
    ("any_use", "no\u00a0thanks", "no"),
    ("any_use", "I haven’t", "no"),  # a typographic apostrophe
    ("any_use", "نعم", X),  # Arabic "yes": not a language of this protocol
    ("any_use", "לא", X),  # Hebrew "no"
    ("any_use", "y" * 5000, "yes"),
    ("any_use", "no " + "really " * 1000, "no"),
    # --- scales
    ("urges", "7", 7),
    ("urges", " 7 ", 7),
    ("urges", "7\n", 7),
    ("urges", "07", 7),
    ("urges", "7.", 7),
    ("urges", "7.0", 7),
    ("urges", "7/10", 7),
    ("urges", "7 / 10", 7),
    ("urges", "7 out of 10", 7),
    ("urges", "7 of 10", 7),
    ("urges", "7 outta 10", 7),
    ("urges", "seven", 7),
    ("urges", "SEVEN", 7),
    ("urges", "Seven out of ten", 7),
    ("urges", "10!!", 10),
    ("urges", "10/10", 10),
    ("urges", "ten", 10),
    ("urges", "a solid 8", 8),
    ("urges", "about 6", 6),
    ("urges", "around 5 I think", 5),
    ("urges", "8ish", 8),
    ("urges", "im a 3 today", 3),
    ("urges", "I'd say a 4", 4),
    ("urges", "3 😬", 3),
    ("urges", "0", 0),
    ("urges", "zero", 0),
    ("urges", "none", 0),
    ("urges", "nil", 0),
    ("urges", "7 7", 7),
    ("urges", "no one to talk to, 8", 8),
    ("urges", "7\ufe0f\u20e3", 7),  # keycap emoji 7️⃣
    ("urges", "\U0001f51f", 10),  # keycap ten 🔟
    ("urges", "７", 7),  # full-width digit
    ("urges", "٧", 7),  # Arabic-Indic seven
    ("urges", "\u200b5\u200b", 5),
    ("urges", "6 or 7", X),
    ("urges", "6-7", X),
    ("urges", "6 to 7", X),
    ("urges", "between 6 and 7", X),
    ("urges", "3 today, 8 yesterday", X),
    ("urges", "11", X),
    ("urges", "100", X),
    ("urges", "-1", X),
    ("urges", "6.5", X),
    ("urges", "six and a half", X),
    ("urges", "3/5", X),
    ("urges", "24/7", X),
    ("urges", "twenty", X),
    ("urges", "1 0", X),
    ("urges", "high", X),
    ("urges", "no urges", X),
    ("urges", "yes", X),
    ("urges", "3pm", X),
    ("urges", "7th", X),
    ("urges", "", X),
    ("urges", "?", X),
    ("urges", "👍", X),
    ("confidence", "9", 9),
    ("confidence", "9/10", 9),
    ("confidence", "nine", 9),
    ("confidence", "Nine!", 9),
    ("confidence", "like a 2 tbh", 2),
    ("confidence", "10 out of 10", 10),
    ("confidence", "very", X),
    ("mood", "4", 4),
    ("mood", "4/5", 4),
    ("mood", "five", 5),
    ("mood", "0", X),  # the mood scale starts at 1
    ("mood", "6", X),
    ("mood", "8/10", X),
    ("use_days", "12", 12),
    ("use_days", "twenty five", 25),
    ("use_days", "twenty-five", 25),
    ("use_days", "thirty", 30),
    ("use_days", "7 out of 30", 7),
    ("use_days", "none", 0),
    ("use_days", "31", X),
    # --- choices
    ("support", "1", "key_worker"),
    ("support", "2", "mutual_aid"),
    ("support", " 4 ", "nobody"),
    ("support", "5", X),
    ("support", "0", X),
    ("support", "key worker", "key_worker"),
    ("support", "KEY WORKER", "key_worker"),
    ("support", "key_worker", "key_worker"),
    ("support", "Family or friends", "family"),
    ("support", "family", "family"),
    ("support", "my family", "family"),
    ("support", "mutual", "mutual_aid"),
    ("support", "a meeting", "mutual_aid"),
    ("support", "meeting", "mutual_aid"),
    ("support", "fam", "family"),
    ("support", "nobdy", "nobody"),
    ("support", "Nobody.", "nobody"),
    ("support", "2 meeting", "mutual_aid"),
    ("support", "2 family", X),  # the number and the words disagree
    ("support", "key worker and family", X),
    ("support", "k", X),
    ("support", "someone", X),
    ("support", "", X),
    # --- free text
    ("note", "Moved flat, new number soon", "Moved flat, new number soon"),
    ("note", "  lots   of\nspace  ", "lots of space"),
    ("note", "all good 👍", "all good 👍"),
    ("note", "x" * 100, "x" * MAX_TEXT),
    ("note", "a\u200bb", "ab"),
    ("note", "שלום", "שלום"),
    ("note", "", X),
    ("note", " \u200b ", X),
]

MULTI: list[tuple[str, list[Question], str, list[Any]]] = [
    # (name, questions asked at once, reply, expected answers)
    ("spaces", CORE, "no 3 8 no", ["no", 3, 8, "no"]),
    ("spaces_three", CORE, "no 3 8", ["no", 3, 8, X]),
    ("commas", CORE, "N, 3, 8, Y", ["no", 3, 8, "yes"]),
    ("commas_no_space", CORE, "n,3,8,y", ["no", 3, 8, "yes"]),
    ("semicolons", CORE, "yes; 9; 2; yes", ["yes", 9, 2, "yes"]),
    ("new_lines", CORE, "no\n3\n8\nyes", ["no", 3, 8, "yes"]),
    ("crlf", CORE, "No\r\n3\r\n8\r\nNo", ["no", 3, 8, "no"]),
    ("numbered_parens", CORE, "1) no 2) 3 3) 8", ["no", 3, 8, X]),
    ("numbered_dots", CORE, "1. no 2. 3 3. 8 4. yes", ["no", 3, 8, "yes"]),
    ("numbered_q", CORE, "q1 no q2 3 q3 8 q4 no", ["no", 3, 8, "no"]),
    ("numbered_fewer", CORE, "1) no 2) 3", ["no", 3, X, X]),
    ("numbered_out_of_sequence_is_not_trusted", CORE, "1) no 4) yes please", [X, X, X, "yes"]),
    ("sentences", CORE, "Nope. About a 2. 9/10. No thanks", ["no", 2, 9, "no"]),
    ("words_around", CORE, "no, urges 3, confidence 8, no thanks", ["no", 3, 8, "no"]),
    ("labels_no_commas", CORE, "urges 3 confidence 8", [X, 3, 8, X]),
    ("spaced_dashes", CORE, "no - 4 - 7 - yes", ["no", 4, 7, "yes"]),
    ("word_numbers", CORE, "nope seven three yes", ["no", 7, 3, "yes"]),
    ("fractions", CORE, "no 3/10 8/10 no", ["no", 3, 8, "no"]),
    ("phrases", CORE, "not at all 2 9 no thanks", ["no", 2, 9, "no"]),
    ("skipped_with_idk", CORE, "no idk 8 yes", ["no", X, 8, "yes"]),
    ("skipped_with_question_mark", CORE, "no, ?, 8, yes", ["no", X, 8, "yes"]),
    ("range_in_place", CORE, "no 6-7 8 yes", ["no", X, 8, "yes"]),
    ("out_of_bounds_in_place", CORE, "no 3 11 yes", ["no", 3, X, "yes"]),
    ("which_scale_unknown", CORE, "no 8", ["no", X, X, X]),
    ("only_scales", CORE, "3 8", [X, 3, 8, X]),
    ("only_yes", CORE, "yes", [X, X, X, X]),
    ("out_of_order", CORE, "3 8 no yes", [X, 3, 8, X]),
    ("empty", CORE, "", [X, X, X, X]),
    ("emoji_only", CORE, "👍👍", [X, X, X, X]),
    ("monthly_mood_fits_one_place", MONTHLY, "no 2 9 4 no", ["no", 2, 9, 4, "no"]),
    ("monthly_missing_mood", MONTHLY, "no 2 9 no", ["no", 2, 9, X, "no"]),
    ("with_choice", [QUESTIONS["any_use"], SUPPORT, QUESTIONS["urges"]], "no family 3", ["no", "family", 3]),
    ("with_choice_number", [QUESTIONS["any_use"], SUPPORT, QUESTIONS["urges"]], "no, 2, 3", ["no", "mutual_aid", 3]),
    ("with_text_in_place", [QUESTIONS["any_use"], NOTE], "no, Moved flat", ["no", "Moved flat"]),
    ("one_question", [QUESTIONS["urges"]], "im a 3 today", [3]),
    ("no_questions", [], "no 3 8", []),
    ("far_too_many", CORE, " ".join(["no 3"] * 40), [X, X, X, X]),
]

CRISIS: list[tuple[str, list[str]]] = [
    # found
    ("I want to kill myself", ["kill myself"]),
    ("KILL MYSELF", ["kill myself"]),
    ("kill  myself", ["kill myself"]),
    ("kill-myself", ["kill myself"]),
    ("killmyself", ["kill myself"]),
    ("kill my self", ["kill myself"]),
    ("kil myself", ["kill myself"]),
    ("kill myslef", ["kill myself"]),
    ("killmyslef", ["kill myself"]),
    ("gonna kill meself", ["kill myself"]),
    ("thinking about killing myself", ["kill myself"]),
    ("k1ll mys3lf", ["kill myself"]),
    ("suicide", ["suicide"]),
    ("Suicide.", ["suicide"]),
    ("suicde", ["suicide"]),
    ("sucide", ["suicide"]),
    ("suicidle", ["suicide"]),
    ("$uicide", ["suicide"]),
    ("s.u.i.c.i.d.e", ["suicide"]),
    ("sui\u200bcide", ["suicide"]),
    ("ｓｕｉｃｉｄｅ", ["suicide"]),
    ("Suïcide", ["suicide"]),
    ("feeling suicidal", ["suicidal"]),
    ("I overdosed last night", ["overdose", "overdosed"]),
    ("0verdose", ["overdose"]),
    ("overdosing", ["overdose"]),
    ("I OD'd", ["od"]),
    ("nearly OD", ["od"]),
    ("0D", ["od"]),
    ("O.D.", ["od"]),
    ("I just want to end it all", ["end it all"]),
    ("ending it all", ["end it all"]),
    ("going to end my life", ["end my life"]),
    ("I want to die", ["want to die"]),
    ("i wanna die", ["want to die"]),
    ("want 2 die", ["want to die"]),
    ("wantto die", ["want to die"]),
    ("I'd be better off dead", ["better off dead"]),
    ("better of dead", ["better off dead"]),
    ("self harm", ["self harm"]),
    ("self-harming again", ["self harm"]),
    ("selfharm", ["self harm"]),
    ("I want to hurt myself", ["hurt myself"]),
    ("took too much", ["took too much"]),
    ("took to much", ["took too much"]),
    ("I'm not suicidal", ["suicidal"]),  # negation is not understood: a person reads the message
    ("could kill myself laughing", ["kill myself"]),  # an idiom still matches, for the same reason
    ("no 3 8 but I want to die and I took too much", ["want to die", "took too much"]),
    # not found
    ("good", []),
    ("code", []),
    ("body", []),
    ("that's odd", []),
    ("oddly fine", []),
    ("God knows", []),
    ("I nod along", []),
    ("the end of it all was fun", []),
    ("I'm dying to see you", []),
    ("I want to diet", []),
    ("want to dye my hair", []),
    ("my life is good", []),
    ("the steak was overdone", []),
    ("I'm overdoing it at the gym", []),
    ("he overdoes it", []),
    ("I killed it at work", []),
    ("myself", []),
    ("better off without booze", []),
    ("took my time", []),
    ("decide", []),
    ("homicide", []),
    ("", []),
    ("👍", []),
    ("no 3 8", []),
]


def expected_parse(question: Question, value: Any) -> Parsed:
    if value is None:
        return Parsed(False)
    if question.type is AnswerType.yes_no:
        return Parsed(True, 1, "yes") if value == "yes" else Parsed(True, 0, "no")
    if question.type is AnswerType.scale:
        return Parsed(True, value)
    if question.type is AnswerType.choice:
        ids = [c.id for c in question.choices or []]
        return Parsed(True, ids.index(value) + 1, value)
    return Parsed(True, None, value)


def _id(text: str) -> str:
    shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} chars)"
    return shown.encode("unicode_escape").decode("ascii") or "<empty>"


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 150
    assert len(MULTI) >= 20
    assert len(CRISIS) >= 40
    assert len({(q, t) for q, t, _ in CORPUS}) == len(CORPUS), "a case is listed twice"


@pytest.mark.parametrize(
    ("question_id", "text", "expected"),
    [pytest.param(q, t, e, id=f"{q}-{_id(t)}") for q, t, e in CORPUS],
)
def test_reply_parses_as_people_write_it(question_id: str, text: str, expected: Any) -> None:
    question = QUESTIONS[question_id]
    assert parse_answer(question, text) == expected_parse(question, expected)


@pytest.mark.parametrize(
    ("questions", "text", "expected"),
    [pytest.param(qs, t, e, id=name) for name, qs, t, e in MULTI],
)
def test_several_answers_in_one_message(questions: list[Question], text: str, expected: list[Any]) -> None:
    assert parse_reply(questions, text) == [expected_parse(q, e) for q, e in zip(questions, expected, strict=True)]


def test_one_question_asked_is_parsed_as_a_single_answer() -> None:
    for question_id, text, expected in CORPUS:
        question = QUESTIONS[question_id]
        assert parse_reply([question], text) == [expected_parse(question, expected)]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=_id(t)) for t, e in CRISIS])
def test_crisis_words_are_found_whole_and_misspelt(text: str, expected: list[str]) -> None:
    assert scan_crisis(text, CRISIS_WORDS) == expected


def test_a_choice_named_none_is_not_the_number_zero() -> None:
    question = Question(
        id="where",
        type=AnswerType.choice,
        text={"en": "Where do you go for support?"},
        choices=[Choice(id="meetings", text={"en": "Meetings"}), Choice(id="none", text={"en": "None of these"})],
    )
    assert parse_answer(question, "none of them") == Parsed(True, 2, "none")
    assert parse_answer(question, "None") == Parsed(True, 2, "none")
    assert parse_answer(question, "0") == Parsed(False)


def test_crisis_words_are_reported_as_listed_in_list_order() -> None:
    words = ["took too much", "Kill Myself", "OD"]
    assert scan_crisis("od'd, wanted to kill myself, took too much", words) == words


def test_crisis_scan_uses_the_list_it_is_given() -> None:
    assert scan_crisis("I relapsed", ["relapse"]) == ["relapse"]
    assert scan_crisis("I relapsed", CRISIS_WORDS) == []
    assert scan_crisis("kms", ["kms"]) == ["kms"]
    assert scan_crisis("anything", []) == []


def test_every_shipped_protocol_crisis_list_compiles_and_matches_its_own_words() -> None:
    for path in sorted(PROTOCOLS.glob("*.yaml")):
        protocol = load_file(path).protocol
        assert protocol is not None
        for word in protocol.crisis.words:
            assert word in scan_crisis(f"honestly {word} tonight", protocol.crisis.words), (path.name, word)


# --- properties -------------------------------------------------------------------------------------------

ANY_TEXT = st.text(max_size=300)
SEPARATORS = st.sampled_from([" ", "  ", "\t", " \n ", "\u00a0", "\u3000"])
VOCABULARY = st.sampled_from(
    [*CRISIS_WORDS, "good", "code", "body", "odd", "dying", "to", "see", "you", "end", "of", "it", "all", "the",
     "overdone", "myself", "kill", "want", "die", "self", "harm", "suicde", "0verdose", "yes", "no", "3"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(question_id=st.sampled_from(sorted(QUESTIONS)), text=ANY_TEXT)
def test_parse_answer_never_raises(question_id: str, text: str) -> None:
    parsed = parse_answer(QUESTIONS[question_id], text)
    assert isinstance(parsed, Parsed)
    if parsed.ok and parsed.value_text is not None:
        assert len(parsed.value_text) <= MAX_TEXT


@settings(max_examples=200, deadline=None)
@given(text=ANY_TEXT)
def test_parse_reply_never_raises_and_answers_every_question(text: str) -> None:
    assert len(parse_reply(MONTHLY, text)) == len(MONTHLY)
    assert len(parse_reply([*CORE, SUPPORT, NOTE], text)) == len(CORE) + 2


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
def test_scan_crisis_never_raises(text: str) -> None:
    found = scan_crisis(text, CRISIS_WORDS)
    assert set(found) <= set(CRISIS_WORDS)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(VOCABULARY, min_size=1, max_size=12),
    separators=st.lists(SEPARATORS, min_size=12, max_size=12),
    cases=st.lists(st.booleans(), min_size=200, max_size=200),
)
def test_scan_crisis_ignores_case_and_spacing(words: list[str], separators: list[str], cases: list[bool]) -> None:
    plain = " ".join(words)
    spaced = "".join(w + s for w, s in zip(words, separators, strict=False))
    mixed = "".join(c.upper() if upper else c.lower() for c, upper in zip(spaced, cases * 10, strict=False))
    found = scan_crisis(plain, CRISIS_WORDS)
    assert scan_crisis(spaced, CRISIS_WORDS) == found
    assert scan_crisis(mixed, CRISIS_WORDS) == found
    assert scan_crisis(plain.upper(), CRISIS_WORDS) == found


def test_crisis_lists_of_several_protocols_are_one_list_each_word_once_first_listed_first() -> None:
    union = crisis_words_of([["suicide", "want to die"], ["Suicide", " want  to DIE ", "overdose"], []])
    assert union == ("suicide", "want to die", "overdose")
    assert crisis_words_of([]) == ()
    assert scan_crisis("i want to die", crisis_words_of([])) == []  # no protocols: nothing to look for


@pytest.mark.parametrize(
    ("text", "only_thanks"),
    [
        ("Thanks!", True),
        ("ok", True),
        ("OK thank you 👍", True),
        ("cheers x", True),
        ("👍🏽", True),
        ("Thank you so much", True),
        ("You too x", True),
        ("thanks, you too :)", True),
        ("Take care", True),
        ("all good", True),
        ("I’m good thanks", True),
        ("Yes thanks", True),
        ("all too much", False),
        ("fine...", False),
        ("ok...", False),
        ("fine…", False),
        ("I'm driving right now, had a few drinks, dont care anymore", False),
        ("Auto-reply: I am away until Monday", True),
        ("too much", False),
        ("love you all bye x", False),
        ("im driving myself mad with cravings, all too much", False),
        ("Do not disturb my mum she doesn't know about this", False),
        (
            "I'm driving with Do Not Disturb While Driving turned on. "
            "I'll see your message when I get where I'm going.",
            True,
        ),
        ("thanks but I'm not ok", False),
        ("no", False),
        ("no good", False),
        ("😢😢😢", False),
        ("💔", False),
        ("🆘", False),
        ("???", False),
        ("...", False),
        ("", False),
        ("I used last night", False),
        ("ok. call me?", False),
    ],
)
def test_only_a_thank_you_or_an_ok_is_an_acknowledgement(text: str, only_thanks: bool) -> None:
    assert is_acknowledgement(text) is only_thanks


@pytest.mark.parametrize(
    ("text", "call"),
    [
        ("CALL", Call.keyword),
        ("Can you call me?", Call.keyword),
        ("can someone call me, not doing great", Call.words),
        ("yes please call me", Call.words),
        ("Yes, call me", Call.words),
        ("please ring me tomorrow", Call.words),
        ("I need to talk to someone", Call.words),
        ("I'd like a call", Call.words),
        ("I can't stop using, call me", Call.words),
        ("please call me, I don't know what to do", Call.words),
        ("no but I don't feel great, please call me", Call.words),
        ("7, call me", Call.words),
        ("not ok call me", Call.words),
        ("im struggling call me", Call.words),
        ("N call me", Call.words),
        ("8 can you give me a call", Call.words),
        ("8, i need to talk", Call.words),
        ("cn u call me", Call.words),
        ("someone call me", Call.words),
        ("can I get a call", Call.words),
        ("i want to talk", Call.words),
        ("Ring me back x", Call.words),
        ("CALL ME PLS", Call.words),
        ("call plz", Call.keyword),
        ("call me back", Call.keyword),
        ("no, don't call me", Call.none),
        ("please don’t ring me", Call.none),
        ("no need to ring", Call.none),
        ("I asked you not to call me", Call.none),
        ("can you not call me, my partner doesnt know", Call.none),
        ("I don't need a call", Call.none),
        ("no, I don't really want a call", Call.none),
        ("no I don't think I need a call thanks", Call.none),
        ("N - I dont want to talk to someone", Call.none),
        ("N. dont really want a call, partner doesnt know", Call.none),
        ("no, pls dnt call me back", Call.none),
        ("I wouldn't want a call", Call.none),
        ("don´t call me", Call.none),
        ("DON T call me", Call.none),
        ("call me crazy but i'm fine", Call.none),
        ("I can't talk right now", Call.none),
        ("people call me a failure", Call.none),
        ("you can call me Jo", Call.none),
        ("I missed your call", Call.none),
        ("recall me", Call.none),
    ],
)
def test_a_call_request_is_the_keyword_or_a_request_in_ones_own_words(text: str, call: Call) -> None:
    assert call_request(text) is call


@given(st.text(max_size=1600))
@settings(max_examples=300, deadline=None)
def test_no_text_makes_the_intent_readers_raise(text: str) -> None:
    call_request(text)
    is_acknowledgement(text)
