"""Replies as people write them: answers to check-up questions, and crisis words in any message.

Pure functions on text (no database, no I/O): :func:`parse_answer` for one question, :func:`parse_reply` for
several questions asked in one message, :func:`scan_crisis` for the protocol's crisis words. Keypad digits
from a voice call are parsed by :func:`checkups.engine.answers.parse_keypad`, not here.

What counts as an answer, and why: a wrong "no" to "have you used?" hides a lapse from the people who
could help; a wrong "yes" costs one friendly call; an answer not understood costs one clarification
message. So where a reply could be read two ways, it is not understood.

Every answer
  Compatibility forms (full-width digits, ligatures), accents, zero-width and bidi control characters,
  emoji variation selectors and keycap frames are dropped before anything else; any script's digits count
  as 0-9 (Arabic-Indic ``٧`` is 7). Only the first ``MAX_PARSED`` characters are read as answers (an SMS
  is at most 1600); crisis scanning reads all of a message.

Yes/no
  * The answer must come first (after greetings and fillers such as "hi", "ok", "well", "honestly"):
    ``yes``, ``y``, ``yeah``, ``yep``, ``yup``, ``ya``, ``aye``, ``sure``, ``yes please`` ... or ``no``,
    ``n``, ``nah``, ``nope``, ``no thanks``, ``not at all``, ``never`` ... Letters repeated for emphasis
    are one letter (``yesss``, ``nooo``).
  * Words that say "some" count as yes when they lead: ``a bit``, ``once``, ``slipped``, ``used``,
    ``drank``. A leading "no" followed by any of them, by a digit, or by a yes word (``no, well a bit``,
    ``no, 2 drinks``, ``yeah nah``) is not understood: it gets the clarification, never a "no".
  * A leading "yes" followed by a no word (``yes and no``, ``yes... actually no``) is not understood
    either. Fixed acknowledgements (``no worries``, ``no problem``) are neither.
  * ``ok``, ``okay``, ``fine``, ``good`` are not answers: "ok" to "have you used?" is not a yes.
    ``maybe``, ``not really``, ``idk``, ``not sure`` are not answers.
  * Bare digits are not yes/no answers by SMS: "1" and "2" are the voice keypad's yes and no, but in a
    text "2" as easily means "twice" (a yes), so either reading could be the wrong one.
  * Emoji are not answers: 👍 means "fine" as often as "yes", and "fine" to "have you used?" means no.
  * Some replies are answers only when they are the whole reply: ``i have``, ``i did`` (yes) and
    ``i haven't``, ``didn't``, ``have not``, ``not`` (no); "haven't" leading a longer reply is not
    trusted ("haven't been able to stop"), but a reply that starts ``haven't used`` is a no.
  * "call me" and "stop asking" are not answers; STOP, START and HELP are handled before any parsing.

Scale
  * The reply must hold exactly one number (digits or words up to a hundred, ``zero``/``none``/``nil``
    are 0), anywhere among other words (``im a 3 today``, ``about 6``, ``8ish``, ``10!!``), within the
    question's bounds (11 on 0-10 is not understood).
  * ``7/10``, ``7 out of 10`` and ``7 of 10`` are 7 when the second number is the scale's maximum;
    ``3/5`` on a 0-10 scale is not understood (3 out of 5 is neither 3 nor 6 for certain).
  * Two different numbers are not understood: ``6 or 7``, ``6-7``, ``3 today, 8 yesterday``. Taking the
    higher is right for urges but wrong for confidence (where low is the risk); the clarification asks
    for one number and costs one message. A repeated number (``7... 7``) is that number.
  * Negative numbers, decimals (``6.5``; ``7.0`` is 7) and halves are not understood.

Choice
  By number (``2`` is the second choice), by id or by the choice's text in any language, case-insensitive,
  in this order, the first step that names exactly one choice winning: the whole reply is a choice; the
  reply contains a choice (``my family``); the reply's words all belong to one choice (``a meeting`` for
  "Mutual aid meeting"); the reply starts a choice (``fam``, two letters at least); one typo in a reply of
  five letters or more (``nobdy``). A step that names two choices, a number that names no choice, or a
  number and words that disagree (``2 family``) is not understood; a reply with "not" or "no" is never
  read as containing a choice.

Text
  The reply as written (invisible characters removed, spaces collapsed), at most ``MAX_TEXT`` characters;
  an empty reply is not an answer.

Several answers in one message (:func:`parse_reply`)
  1. Numbered answers (``1) no 2) 3 3) 8``, ``1. no 2. 3``, ``q1 no q2 3``) go to the question of their
     number. The numbers must run 1, 2, 3... from the start of the reply: ``1) no 4) yes`` is not
     trusted as numbered (a "4)" may be an answer followed by a bracket).
  2. Otherwise the reply is split at new lines, commas, semicolons, full stops and spaced dashes; when
     that gives one part per question and every part fits its question (or fits no question at all:
     ``idk``, ``?``), each part answers the question in its place.
  3. Otherwise the parts are cut into single answers (``no 3 8`` is three) and matched to the questions
     in order, each answer to a question it fits (a number to a scale within its bounds, a yes/no word to
     a yes/no question). Where more than one such matching is possible, only the pairs that every best
     matching shares are kept: ``no 3 8`` for (any use, urges, confidence, want a call) is no, 3, 8 and
     no answer to the call question; ``no 8`` gives "no" and leaves urges and confidence unanswered,
     because the 8 could be either. Text questions take only an answer in their own place (step 2).
  A reply with far more answers than questions (more than three per question, plus ten) is a message
  for a human, not a list of answers: nothing in it is taken as an answer.

Crisis words (:func:`scan_crisis`)
  * Case-, accent- and spacing-insensitive (``kill  myself``, ``kill-myself``, ``killmyself``,
    ``kill my self``), always whole words: ``od`` matches "OD", "O.D.", "0D", "OD'd", never "good",
    "code", "body" or "odd".
  * Leetspeak-lite inside words (0→o 1→i 3→e 4→a 5→s @→a $→s), letters repeated for emphasis, a doubled
    letter written once (``kil myself``, ``took to much``), common endings (``killing myself``,
    ``overdosing``, ``self harming``, ``wanted to die``) and "wanna"/"2" for "want to"/"to".
  * One typo (Damerau-Levenshtein distance 1) in words of six letters or more (``suicde``, ``sucide``,
    ``suicidle``, ``myslef``, ``meself``), exact for shorter words: "want to dye" is not "want to die".
    Real words one typo away from a crisis word (``overdone``, ``overdoes``, ``overdoing``) are not typos.
  * A phrase matches only as a whole, in order: "the end of it all" is not "end it all", and "dying to
    see you" is not "want to die". Idioms that contain a phrase ("could kill myself laughing") do match:
    a person reads them, and a needless kind message costs far less than a missed one.
  * Negation is not understood: "I'm not suicidal" matches "suicidal", for the same reason.
  * The words found are returned as the protocol lists them, in its order; a message with "overdosed"
    matches both "overdose" and "overdosed".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from ..protocols.schema import AnswerType, Question
from .answers import Parsed

MAX_TEXT = 64  # longest free-text answer kept (the raw message is kept in full elsewhere)
MAX_PARSED = 1600  # an SMS is at most 1600 characters: no longer text is read as answers

NOT_UNDERSTOOD = Parsed(False)
YES = Parsed(True, 1, "yes")  # the same values as a keypad 1
NO = Parsed(True, 0, "no")  # the same values as a keypad 2


# --- text folding -----------------------------------------------------------------------------------------

# Accents, keycap frames, variation selectors (Mn, Me) and zero-width, bidi and soft-hyphen characters (Cf)
# are dropped: "y\u200bes" is "yes", "\u200fno" is "no", "7\ufe0f\u20e3" is "7".
_DROPPED = frozenset({"Mn", "Me", "Cf"})
_KEYCAP_TEN = "\U0001f51f"


def _fold(text: str) -> str:
    """Lower-case text with compatibility forms unfolded, marks and invisible characters dropped, and any
    script's decimal digits written 0-9."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.replace(_KEYCAP_TEN, " 10 "))
    out: list[str] = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category in _DROPPED:
            continue
        out.append(str(unicodedata.decimal(ch)) if category == "Nd" else ch)
    return "".join(out).casefold()


_REPEATS = re.compile(r"(.)\1+")


def _collapse(word: str) -> str:
    """One letter for each run of the same letter: "yesss" and "yes" look the same, so do "kil" and "kill"."""
    return _REPEATS.sub(r"\1", word)


# --- reply tokens -----------------------------------------------------------------------------------------


class _Tok(NamedTuple):
    kind: str  # "num", "word", "sep" (new line , ;) or "mark" (other punctuation that matters)
    text: str  # a word without apostrophes, letter runs collapsed; a number as written
    start: int  # where the token starts and ends in the folded text
    end: int


_TOKEN = re.compile(
    r"(?P<na>(?<![^\W\d_])n/a(?![^\W\d_]))"
    r"|(?P<num>[0-9]+(?:\.[0-9]+)?)(?P<suffix>[^\W\d_]*)"
    r"|(?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)"
    r"|(?P<sep>[\n,;])"
    r"|(?P<mark>[/\-).:?|])"
)
_PER_CHARACTER = str.maketrans(
    {"\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n", "\x0b": "\n", "\x0c": "\n"}
    | {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"}
)


class _Folded(NamedTuple):
    text: str
    origin: list[int] | None  # for each folded character, its index in the reply (None: the same index)

    def original(self, reply: str, start: int, end: int) -> str:
        if self.origin is None:
            return reply[start:end]
        return reply[self.origin[start] : self.origin[end - 1] + 1]


def _fold_reply(text: str) -> _Folded:
    """Fold a reply as :func:`_fold` does, one character at a time, remembering where each came from."""
    text = text[:MAX_PARSED]
    if text.isascii():
        return _Folded(text.lower().translate(_PER_CHARACTER), None)
    out: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        folded = _fold(ch).translate(_PER_CHARACTER)
        out.append(folded)
        origin.extend([index] * len(folded))
    return _Folded("".join(out), origin)


def _tokens(folded: str) -> list[_Tok]:
    out: list[_Tok] = []
    for match in _TOKEN.finditer(folded):
        kind = match.lastgroup
        start, end = match.span()
        if match.group("num") is not None:
            if match.group("suffix") in ("", "ish"):
                out.append(_Tok("num", match.group("num"), start, end))
            else:  # "7th", "3pm", "2day": not an answer
                out.append(_Tok("word", _collapse(match.group(0)), start, end))
        elif kind in ("word", "na"):
            out.append(_Tok("word", _collapse(match.group(0).replace("'", "")), start, end))
        else:
            out.append(_Tok(kind or "mark", match.group(0), start, end))
    return out


def _words(text: str) -> tuple[str, ...]:
    folded = _fold(text).translate(_PER_CHARACTER)
    return tuple(_collapse(w.replace("'", "")) for w in re.findall(r"[^\W_]+(?:'[^\W_]+)*", folded))


# --- yes / no ---------------------------------------------------------------------------------------------

_YES_WORDS = """y | yes | ye | yeah | yea | yeh | yah | ya | yas | yh | yep | yup | yus | yse | aye | sure |
    sure thing | yes please | of course | definitely | absolutely | correct | affirmative | uh huh | uhuh | mhm |
    yes i have | yes i did | i think so"""
_NO_WORDS = """n | no | nah | naw | nay | nope | nop | never | negative | no thanks | no thank you | no ta |
    not at all | not once | not even once | no way | no chance | nothing | none | nada | nil | definitely not |
    absolutely not | of course not | certainly not | hell no | never ever | not a drop | not used |
    havent used | didnt use | dont use | not using | not drinking | didnt drink | havent had a drink"""
# "Some" is a yes to "have you used?", and a reason to distrust a "no" that comes before it.
_SOME_WORDS = """a bit | a little | a little bit | little bit | bit | once | twice | a few times | few times |
    a couple | a couple of times | couple of times | slipped | slipped up | slip | i slipped | lapsed | lapse |
    relapsed | relapse | i relapsed | used | i used | ive used | i have used | using | drank | drunk | drink |
    drinks | drinking | had a drink | had a few | kind of | kinda | sort of | sorta | only once | just once"""
_UNSURE_WORDS = """maybe | perhaps | possibly | not really | idk | dunno | dont know | i dont know | not sure |
    unsure | no idea | skip | pass | n/a"""
# Acknowledgements that contain "no" without saying it.
_NEUTRAL_WORDS = "no worries | no problem | no probs | no bother | no rush | no hurry | no pressure"
_FILLER_WORDS = """hi | hey | hello | hiya | ok | okay | k | kk | oh | um | umm | erm | er | uh | hmm | well | so |
    honestly | tbh | to be honest | lol | haha | thanks | thank you | thx | ty | cheers | mate | x | xx |
    love | hun | please | sorry | my answer is | the answer is | answer"""
_WHOLE_YES = "i have | ive | i did | i do | i would | i have yes | i did yes"
_WHOLE_NO = """not | havent | i havent | ive not | have not | i have not | didnt | i didnt | did not | i did not |
    dont | i dont | wouldnt | i wouldnt | i havent used | i have not used | i didnt use"""


def _phrase_table(**classes: str) -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for name, phrases in classes.items():
        for phrase in phrases.split("|"):
            table[tuple(_collapse(w) for w in phrase.split())] = name
    return table


_LEXICON = _phrase_table(
    yes=_YES_WORDS, no=_NO_WORDS, some=_SOME_WORDS, unsure=_UNSURE_WORDS, neutral=_NEUTRAL_WORDS, filler=_FILLER_WORDS
)
_WHOLE = _phrase_table(yes=_WHOLE_YES, no=_WHOLE_NO)
_LONGEST = max(len(key) for key in _LEXICON)


class _Phrase(NamedTuple):
    kind: str  # a _LEXICON class, "number" or "other"
    words: tuple[str, ...]


def _phrases(tokens: Sequence[_Tok]) -> list[_Phrase]:
    """Words and numbers as phrases of the yes/no lexicon, longest first; punctuation is dropped."""
    items = [t for t in tokens if t.kind in ("word", "num")]
    out: list[_Phrase] = []
    i = 0
    while i < len(items):
        if items[i].kind == "num":
            out.append(_Phrase("number", (items[i].text,)))
            i += 1
            continue
        for size in range(min(_LONGEST, len(items) - i), 0, -1):
            key = tuple(t.text for t in items[i : i + size])
            kind = _LEXICON.get(key)
            if kind is not None:
                out.append(_Phrase(kind, key))
                i += size
                break
        else:
            out.append(_Phrase("other", (items[i].text,)))
            i += 1
    return out


def _yes_no(tokens: Sequence[_Tok]) -> Parsed:
    phrases = [p for p in _phrases(tokens) if p.kind not in ("filler", "neutral")]
    if not phrases:
        return NOT_UNDERSTOOD
    whole = _WHOLE.get(tuple(w for p in phrases for w in p.words))
    if whole is not None:
        return YES if whole == "yes" else NO
    lead, rest = phrases[0].kind, {p.kind for p in phrases[1:]}
    if lead in ("yes", "some"):
        return NOT_UNDERSTOOD if "no" in rest else YES
    if lead == "no":
        return NOT_UNDERSTOOD if rest & {"yes", "some", "number"} else NO
    return NOT_UNDERSTOOD


# --- numbers ----------------------------------------------------------------------------------------------

_UNITS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
)
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = (
    {_collapse(w): n for n, w in enumerate(_UNITS)}
    | {_collapse(w): 10 * n for n, w in enumerate(_TENS, start=2)}
    | {"hundred": 100}
    | {_collapse(w): 0 for w in ("nought", "nil", "none", "nothing", "nada", "zilch")}
)
_TENS_KEYS = {_collapse(w) for w in _TENS}
# "no one", "any one of them": not the number one.
_NOT_A_COUNT = frozenset({"no", "any", "some", "every", "each", "this", "that", "the", "which", "another"})
_RANGE_WORDS = frozenset({"or", "to"})  # "6 or 7", "6 to 7" (collapsed "too" is "to" too)
_INVALID = -1  # a number that cannot be an answer: negative, a fraction, a half


class _Number(NamedTuple):
    value: int  # or _INVALID
    end: int  # index of the token after the number (and its "/10")
    denominator: int | None = None


def _number_at(tokens: Sequence[_Tok], i: int) -> _Number | None:
    """The number that starts at token ``i`` (with its "out of N", if any), or None."""
    tok = tokens[i]
    if tok.kind == "num":
        whole, _, decimals = tok.text.partition(".")
        value = int(whole) if not decimals.strip("0") and len(whole) <= 6 else _INVALID
        prev = tokens[i - 1] if i else None
        before = tokens[i - 2] if i > 1 else None
        # "-3" (the dash touching the digit, not after another number) is a negative number; "6-7" is a range.
        if (
            prev is not None
            and prev.text == "-"
            and prev.end == tok.start
            and not (before is not None and before.kind == "num" and before.end == prev.start)
        ):
            value = _INVALID
        end = i + 1
    elif tok.kind == "word" and tok.text in _NUMBER_WORDS:
        value = _NUMBER_WORDS[tok.text]
        if value == 1 and i and tokens[i - 1].text in _NOT_A_COUNT:
            return None
        end = i + 1
        if tok.text in _TENS_KEYS:  # "twenty five", "twenty-five"
            j = end + 1 if end < len(tokens) and tokens[end].text == "-" else end
            if j < len(tokens) and tokens[j].kind == "word" and 1 <= _NUMBER_WORDS.get(tokens[j].text, 0) <= 9:
                value += _NUMBER_WORDS[tokens[j].text]
                end = j + 1
        elif value == 1 and end < len(tokens) and tokens[end].text == "hundred":
            value, end = 100, end + 1
    elif tok.kind == "word" and tok.text == "half":
        return _Number(_INVALID, i + 1)
    else:
        return None
    # "7/10", "7 out of 10", "7 outta 10", "7 of 10"
    for words in (("/",), ("out", "of"), ("outa",), ("of",)):
        j = end + len(words)
        if j < len(tokens) and tuple(t.text for t in tokens[end:j]) == words:
            below = _number_at(tokens, j)
            if below is not None and below.denominator is None:
                return _Number(value, below.end, below.value)
    return _Number(value, end)


def _numbers(tokens: Sequence[_Tok]) -> list[_Number]:
    found: list[_Number] = []
    i = 0
    while i < len(tokens):
        number = _number_at(tokens, i)
        if number is None:
            i += 1
        else:
            found.append(number)
            i = number.end
    return found


def _one_number(tokens: Sequence[_Tok], maximum: int | None) -> int | None:
    """The one number a reply holds, or None if it holds none, several, or one that cannot be an answer."""
    numbers = _numbers(tokens)
    values = {n.value for n in numbers}
    if len(values) != 1 or _INVALID in values:
        return None
    if any(n.denominator is not None and n.denominator != maximum for n in numbers):
        return None
    return values.pop()


def _scale(question: Question, tokens: Sequence[_Tok]) -> Parsed:
    assert question.min is not None
    assert question.max is not None
    value = _one_number(tokens, question.max)
    if value is None or not question.min <= value <= question.max:
        return NOT_UNDERSTOOD
    return Parsed(True, value)


# --- choices ----------------------------------------------------------------------------------------------


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance of at most 1 (one letter changed, added, dropped, or two swapped)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    if la < lb:
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i:]


def _choice_names(question: Question) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Each choice's names as words: its id ("not_sure" as "not sure") and its text in every language."""
    return _names(tuple((c.id, tuple(c.text.values())) for c in question.choices or ()))


@lru_cache(maxsize=256)
def _names(choices: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[tuple[tuple[str, ...], ...], ...]:
    return tuple(
        tuple(dict.fromkeys((_words(choice_id.replace("_", " ")), *(_words(t) for t in texts))))
        for choice_id, texts in choices
    )


def _contains(words: tuple[str, ...], name: tuple[str, ...]) -> bool:
    return any(words[i : i + len(name)] == name for i in range(len(words) - len(name) + 1))


_LITTLE_WORDS = frozenset(_collapse(w) for w in ("a", "an", "the", "my", "i", "to", "at", "with", "and", "or", "of"))


def _choice_by_text(question: Question, words: tuple[str, ...]) -> tuple[int | None, bool]:
    """(the index of the one choice the words name, whether the match was exact); None if none or several."""
    names = _choice_names(question)
    joined = " ".join(words)
    negated = bool({"not", "no", "never", "dont"} & set(words))
    content = set(words) - _LITTLE_WORDS
    tests = (
        lambda name: words == name,
        lambda name: not negated and _contains(words, name),
        lambda name: not negated and bool(content) and content <= set(name),
        lambda name: len(joined) >= 2 and " ".join(name).startswith(joined),
        lambda name: len(joined) >= 5 and _within_one_edit(joined, " ".join(name)),
    )
    for level, test in enumerate(tests):
        matched = {index for index, forms in enumerate(names) for name in forms if name and test(name)}
        if len(matched) == 1:
            return matched.pop(), level == 0
        if matched:
            return None, False
    return None, False


def _choice(question: Question, tokens: Sequence[_Tok]) -> Parsed:
    choices = question.choices or []
    words = tuple(t.text for t in tokens if t.kind in ("word", "num"))
    by_text, exact = _choice_by_text(question, words)
    if by_text is not None and exact:
        return Parsed(True, by_text + 1, choices[by_text].id)
    # "none" and "nothing" are words here, not the number 0: a choice may be called "None of these".
    number = _one_number([t for t in tokens if t.kind == "num" or _NUMBER_WORDS.get(t.text, 1) != 0], None)
    by_number = number - 1 if number is not None and 1 <= number <= len(choices) else None
    if by_text is not None and by_number is not None and by_text != by_number:
        return NOT_UNDERSTOOD
    if number is not None and by_number is None:
        return NOT_UNDERSTOOD  # a number that names no choice
    chosen = by_text if by_text is not None else by_number
    if chosen is None:
        return NOT_UNDERSTOOD
    return Parsed(True, chosen + 1, choices[chosen].id)


# --- one answer -------------------------------------------------------------------------------------------

_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\x00-\x08\x0e-\x1f\x7f]")


def _free_text(text: str) -> Parsed:
    cleaned = " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split())
    return Parsed(True, None, cleaned[:MAX_TEXT]) if cleaned else NOT_UNDERSTOOD


def _parse_tokens(question: Question, tokens: Sequence[_Tok]) -> Parsed:
    if question.type is AnswerType.yes_no:
        return _yes_no(tokens)
    if question.type is AnswerType.scale:
        return _scale(question, tokens)
    if question.type is AnswerType.choice:
        return _choice(question, tokens)
    return NOT_UNDERSTOOD  # free text is parsed from the text itself


def parse_answer(question: Question, text: str) -> Parsed:
    """Parse one reply to one question; ``Parsed(False)`` when it cannot be understood for certain."""
    if question.type is AnswerType.text:
        return _free_text(text[:MAX_PARSED])
    return _parse_tokens(question, _tokens(_fold_reply(text).text))


# --- several answers --------------------------------------------------------------------------------------

_MARKS_AFTER_NUMBER = frozenset({")", ".", ":"})


def _numbered(tokens: Sequence[_Tok], count: int) -> list[list[_Tok]] | None:
    """Answers numbered 1, 2, 3... from the start of the reply, by question; None if the reply is not so."""
    starts: list[tuple[int, int]] = []  # (index of the marker's first token, index after the marker)
    expected = 1
    for i, tok in enumerate(tokens):
        if tok.kind != "num" or tok.text != str(expected):
            continue
        prev = tokens[i - 1] if i else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if prev is not None and prev.kind == "word" and prev.text in ("q", "question") and prev.end >= tok.start - 1:
            first, end = i - 1, i + 2 if after is not None and after.text in _MARKS_AFTER_NUMBER else i + 1
        elif after is not None and after.text in _MARKS_AFTER_NUMBER:
            first, end = i, i + 2
        else:
            continue
        starts.append((first, end))
        expected += 1
    if len(starts) < 2 or any(t.kind in ("word", "num") for t in tokens[: starts[0][0]]):
        return None
    segments: list[list[_Tok]] = [[] for _ in range(count)]
    for number, (_, end) in enumerate(starts):
        stop = starts[number + 1][0] if number + 1 < len(starts) else len(tokens)
        if number < count:
            segments[number] = list(tokens[end:stop])
    if not any(any(t.kind in ("word", "num") for t in s) for s in segments):
        return None
    return segments


def _split(tokens: Sequence[_Tok]) -> list[list[_Tok]]:
    """The parts of a reply between new lines, commas, semicolons, full stops, bars and spaced dashes."""
    parts: list[list[_Tok]] = [[]]
    for i, tok in enumerate(tokens):
        spaced_dash = (
            tok.text == "-"
            and (i == 0 or tokens[i - 1].end < tok.start)
            and (i + 1 == len(tokens) or tok.end < tokens[i + 1].start)
        )
        if tok.kind == "sep" or tok.text in (".", "|") or spaced_dash:
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if any(t.kind in ("word", "num") or t.text == "?" for t in p)]


def _is_filler(part: Sequence[_Tok]) -> bool:
    phrases = _phrases(part)
    return bool(phrases) and all(p.kind in ("filler", "neutral") for p in phrases)


def _atoms(part: Sequence[_Tok], questions: Sequence[Question]) -> list[list[_Tok]]:
    """Single answers in a part of a reply: numbers (with their "/10" or "or 7"), yes/no phrases, "idk" and
    "?" (an answer not given), and words that name a choice; other words are dropped."""
    choices = [q for q in questions if q.type is AnswerType.choice]
    atoms: list[list[_Tok]] = []
    i = 0
    while i < len(part):
        tok = part[i]
        if tok.text == "?":
            atoms.append([tok])
            i += 1
            continue
        if tok.kind not in ("word", "num"):
            i += 1
            continue
        number = _number_at(part, i)
        if number is not None:
            end = number.end
            # "6 or 7", "6 to 7", "6-7" stay one (ambiguous) answer
            link = part[end] if end < len(part) else None
            if link is not None and (
                link.text in _RANGE_WORDS or (link.text == "-" and link.start == part[end - 1].end)
            ):
                other = _number_at(part, end + 1) if end + 1 < len(part) else None
                if other is not None:
                    end = other.end
            atoms.append(list(part[i:end]))
            i = end
            continue
        phrase = _phrases(part[i : i + 2 * _LONGEST])[0]
        size = sum(1 for _ in phrase.words)
        span = [t for t in part[i:] if t.kind in ("word", "num")][:size]
        next_i = part.index(span[-1], i) + 1
        if phrase.kind in ("yes", "no", "some", "unsure"):
            atoms.append(span)
        elif phrase.kind == "other" and choices:
            run = [tok]
            j = next_i
            while j < len(part) and part[j].kind == "word" and _phrases(part[j : j + 1])[0].kind == "other":
                run.append(part[j])
                j += 1
            if any(_choice(q, run).ok for q in choices):
                atoms.append(run)
                next_i = j
        i = next_i
    return atoms


def _fits(question: Question, atom: Sequence[_Tok]) -> bool:
    return question.type is not AnswerType.text and _parse_tokens(question, atom).ok


def _best(fits: list[list[bool]], skip: int | None = None) -> list[list[int]]:
    """best[a][q]: the most answers matched in order with the first ``a`` atoms and ``q`` questions."""
    atoms, questions = len(fits), len(fits[0]) if fits else 0
    best = [[0] * (questions + 1) for _ in range(atoms + 1)]
    for a in range(1, atoms + 1):
        for q in range(1, questions + 1):
            pair = best[a - 1][q - 1] + 1 if fits[a - 1][q - 1] and q - 1 != skip else 0
            best[a][q] = max(best[a - 1][q], best[a][q - 1], pair)
    return best


def _matched(questions: Sequence[Question], atoms: Sequence[Sequence[_Tok]]) -> list[int | None]:
    """For each question, the atom every best in-order matching gives it, or None."""
    fits = [[_fits(q, atom) for q in questions] for atom in atoms]
    if not atoms:
        return [None] * len(questions)
    best = _best(fits)
    reverse = _best([row[::-1] for row in fits[::-1]])
    total = best[len(atoms)][len(questions)]
    out: list[int | None] = [None] * len(questions)
    if total == 0:
        return out
    for q in range(len(questions)):
        candidates = [
            a
            for a in range(len(atoms))
            if fits[a][q] and best[a][q] + 1 + reverse[len(atoms) - a - 1][len(questions) - q - 1] == total
        ]
        if len(candidates) == 1 and _best(fits, skip=q)[len(atoms)][len(questions)] < total:
            out[q] = candidates[0]
    return out


def _in_place(questions: Sequence[Question], parts: Sequence[Sequence[_Tok]]) -> bool:
    """One part per question, and each fits its own question or none at all (an answer not given)."""
    if len(parts) != len(questions):
        return False
    for question, part in zip(questions, parts, strict=True):
        if question.type is AnswerType.text or _fits(question, part):
            continue
        if any(_fits(q, part) for q in questions):
            return False
    return True


def parse_reply(questions: Sequence[Question], text: str) -> list[Parsed]:
    """Parse one message that answers several questions asked at once; one result per question, in order."""
    questions = list(questions)
    if len(questions) <= 1:
        return [parse_answer(q, text) for q in questions]
    folded = _fold_reply(text)
    tokens = _tokens(folded.text)
    numbered = _numbered(tokens, len(questions))
    if numbered is not None:
        return [_answer(q, text, folded, part) for q, part in zip(questions, numbered, strict=True)]
    parts = [p for p in _split(tokens) if not _is_filler(p)]
    if _in_place(questions, parts):
        return [_answer(q, text, folded, part) for q, part in zip(questions, parts, strict=True)]
    atoms = [atom for part in parts for atom in _atoms(part, questions)]
    if len(atoms) > 3 * len(questions) + 10:
        return [NOT_UNDERSTOOD] * len(questions)
    if _in_place(questions, atoms):
        return [_answer(q, text, folded, atom) for q, atom in zip(questions, atoms, strict=True)]
    matched = _matched(questions, atoms)
    return [
        NOT_UNDERSTOOD if a is None else _answer(q, text, folded, atoms[a])
        for q, a in zip(questions, matched, strict=True)
    ]


def _answer(question: Question, text: str, folded: _Folded, part: Sequence[_Tok]) -> Parsed:
    if not any(t.kind in ("word", "num") for t in part):
        return NOT_UNDERSTOOD
    if question.type is AnswerType.text:
        return _free_text(folded.original(text, part[0].start, part[-1].end))
    return _parse_tokens(question, part)


# --- crisis words -----------------------------------------------------------------------------------------

_CRISIS_TOKEN = re.compile(r"(?:[^\W_]|[@$])+")
_LEET = str.maketrans("01345@$", "oieasas")
_SPELLED_OUT = {"wanna": ("want", "to"), "wana": ("want", "to"), "gonna": ("going", "to"), "2": ("to",)}
# Real words one typo away from a crisis word, or from one of its endings: never read as typos.
_REAL_WORDS = frozenset({"overdone", "overdoes", "overdoing"})
_TYPO_MIN = 6  # words this long or longer may have one typo; shorter ones must be exact


def _crisis_tokens(text: str) -> list[str]:
    out: list[str] = []
    for token in _CRISIS_TOKEN.findall(_fold(text)):
        has_letter = not token.isdigit() and any(ch.isalpha() for ch in token)
        if token in _SPELLED_OUT:
            out.extend(_SPELLED_OUT[token])
        elif has_letter:
            out.append(token.translate(_LEET) if not token.isalpha() else token)
        # digits and symbols alone separate words
    return out


def _runs(word: str) -> list[tuple[str, int]]:
    return [(m.group(1), len(m.group(0))) for m in _REPEATS_OR_SINGLE.finditer(word)]


_REPEATS_OR_SINGLE = re.compile(r"(.)\1*")


def _same_runs(token: str, form: str) -> bool:
    """Whether ``token`` is ``form`` written with a doubled letter once ("kil") or letters repeated for
    emphasis ("killll"); a single letter written exactly twice is another word ("odd" is not "od")."""
    if len(form) <= 2:
        return token == form
    token_runs, form_runs = _runs(token), _runs(form)
    if len(token_runs) != len(form_runs):
        return False
    for (letter, count), (want, wanted) in zip(token_runs, form_runs, strict=True):
        if letter != want or not (count == wanted or count >= 3 or wanted >= 2):
            return False
    return True


def _endings(word: str) -> tuple[str, ...]:
    """A word and its common endings: kill, kills, killed, killing, killin; overdose, overdosing; die, dying."""
    if len(word) < 3 or not word.isalpha():
        return (word,)
    if word.endswith("ie"):
        forms = [word, word + "s", word + "d", word[:-2] + "ying"]
    elif word.endswith("e"):
        forms = [word, word + "s", word + "d", word[:-1] + "ing", word[:-1] + "in"]
    else:
        forms = [word, word + "s", word + "es", word + "ed", word + "ing", word + "in"]
        if word[-1] not in "aeiouwxy":
            forms += [word + word[-1] + "ed", word + word[-1] + "ing"]
    return tuple(dict.fromkeys(forms))


@dataclass(frozen=True)
class _CrisisPhrase:
    index: int  # place in the protocol's list
    parts: tuple[dict[str, tuple[str, ...]], ...]  # per word: collapsed form -> the forms it stands for


class _CrisisMatcher:
    """The protocol's crisis words compiled once; :meth:`scan` runs on every inbound message."""

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        self.phrases: list[_CrisisPhrase] = []
        self.first: dict[str, list[int]] = {}  # collapsed first word -> phrases
        self.joined: dict[str, list[tuple[int, str]]] = {}  # collapsed words run together -> (phrase, form)
        vocabulary: dict[str, str] = {}  # collapsed -> form, for typo correction
        for index, listed in enumerate(words):
            parts = _crisis_tokens(listed)
            if not parts:
                continue
            forms_by_word: list[dict[str, tuple[str, ...]]] = []
            for part in parts:
                by_key: dict[str, list[str]] = {}
                for form in _endings(part):
                    by_key.setdefault(_collapse(form), []).append(form)
                    if len(part) >= _TYPO_MIN:
                        vocabulary.setdefault(_collapse(form), form)
                forms_by_word.append({k: tuple(v) for k, v in by_key.items()})
            phrase_index = len(self.phrases)
            self.phrases.append(_CrisisPhrase(index, tuple(forms_by_word)))
            for key in forms_by_word[0]:
                self.first.setdefault(key, []).append(phrase_index)
            head = "".join(parts[:-1])
            for form in _endings(parts[-1]):
                self.joined.setdefault(_collapse(head + form), []).append((phrase_index, head + form))
                if len(parts) > 1 and any(len(p) >= _TYPO_MIN for p in parts):
                    vocabulary.setdefault(_collapse(head + form), head + form)
        # Every beginning of a run-together phrase, to stop extending a run as soon as it can match nothing.
        self.beginnings = frozenset(k[:n] for k in self.joined for n in range(1, len(k) + 1))
        self.known = frozenset(self.joined) | frozenset(k for p in self.phrases for part in p.parts for k in part)
        self.vocabulary = tuple(vocabulary.items())
        self.seen: dict[str, tuple[str, str]] = {}  # token -> (token with a typo corrected, its collapsed form)

    def _read(self, token: str) -> tuple[str, str]:
        """The token with a typo corrected if it is one typo away from a long crisis word ("suicde" ->
        "suicide"), and its collapsed form."""
        cached = self.seen.get(token)
        if cached is not None:
            return cached
        result = token
        key = _collapse(token)
        if len(key) >= _TYPO_MIN - 1 and key not in self.known and token not in _REAL_WORDS:
            for form_key, form in self.vocabulary:
                if abs(len(form_key) - len(key)) <= 1 and _within_one_edit(key, form_key):
                    result, key = form, form_key
                    break
        if len(self.seen) < 10_000:  # a bounded cache: tokens repeat across messages
            self.seen[token] = (result, key)
        return result, key

    def scan(self, text: str) -> list[str]:
        read = [self._read(t) for t in _crisis_tokens(text)]
        tokens = [t for t, _ in read]
        keys = [k for _, k in read]
        found: set[int] = set()
        for i in range(len(tokens)):
            for p in self.first.get(keys[i], ()):
                parts = self.phrases[p].parts
                if i + len(parts) <= len(tokens) and all(
                    any(_same_runs(tokens[i + j], form) for form in part.get(keys[i + j], ()))
                    for j, part in enumerate(parts)
                ):
                    found.add(p)
            key = ""
            for j in range(i, len(tokens)):  # "killmyself", "kill my self", "o.d."
                # the collapsed form of tokens run together is theirs joined, less a letter repeated at the seam
                key += keys[j][1:] if key and key[-1] == keys[j][0] else keys[j]
                if key not in self.beginnings:
                    break
                for p, form in self.joined.get(key, ()):
                    if _same_runs("".join(tokens[i : j + 1]), form):
                        found.add(p)
        listed = sorted({self.phrases[p].index for p in found})
        return list(dict.fromkeys(self.words[i] for i in listed))


@lru_cache(maxsize=64)
def _matcher(words: tuple[str, ...]) -> _CrisisMatcher:
    return _CrisisMatcher(words)


def scan_crisis(text: str, words: Iterable[str]) -> list[str]:
    """The crisis words and phrases of ``words`` that ``text`` contains, as listed, in list order."""
    return _matcher(tuple(words)).scan(text or "")


def crisis_words_of(lists: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """The words of several crisis lists as one list: first listed first, each once (any case or spacing)."""
    seen: dict[str, str] = {}
    for words in lists:
        for word in words:
            seen.setdefault(" ".join(word.lower().split()), word)
    # A tuple, always in the same order for the same lists: scan_crisis builds its matcher once per tuple.
    return tuple(seen.values())
