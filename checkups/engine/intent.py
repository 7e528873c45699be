"""What a message says besides its answers: that the person asks for a call, or that it only says thanks.

Pure functions of the text, used by :mod:`.conversation` after the crisis scan (which always comes first).

- **A call request** is either the keyword (the whole message is ``CALL``, "call me", "please call me", ...),
  or the person's own words in one clause of a longer message: "can someone call me", "please ring me",
  "call me asap", "im struggling call me", "give me a ring", "I need to talk". A clause with a negation a few
  words before the verb ("don't call me", "can you not call me", "I don't think I need a call") is not a
  request, and neither is "people call me a failure" or "you can call me Jo": the request forms are fixed.
  In doubt, not a call: the message is still read as an answer, or by a person.
- **An acknowledgement** is a message made only of thanks-or-ok phrases ("thanks, you too x", "ok 👍",
  "take care", "I'm good thanks"), positive emoji or smileys, and plain punctuation; or a phone's automatic
  reply (iOS's whole driving text, or "Auto-reply:"). A sad or unknown emoji, a question mark, "...", an empty
  message (a picture) or any other word is for a person to read.
"""

from __future__ import annotations

import re
from enum import Enum


class Call(Enum):
    none = "none"
    keyword = "keyword"  # the whole message asks for a call: nothing else in it to read
    words = "words"  # a clause of the message asks for one: the rest may be an answer


_APOSTROPHES = str.maketrans({c: "'" for c in "’‘´`ʼ"})


def _normalise(body: str) -> str:
    """Lower case, one space between words, every apostrophe form as "'"."""
    return " ".join(body.lower().translate(_APOSTROPHES).split())


_CALL_KEYWORDS = frozenset(
    {
        "call",
        "call me",
        "call me please",
        "call please",
        "call pls",
        "call plz",
        "call me back",
        "please call",
        "please call me",
        "pls call",
        "ring me",
        "ring me back",
        "can you call me",
        "can someone call me",
    }
)
_CLAUSE_BREAKS = re.compile(r"[,.;:!?\n()]+|\s-\s|\bbut\b")
# The verbs of asking for a person, and the words that may follow "call me" when it is a request (not "call me
# Jo", "call me crazy", "people call me a failure").
_VERB = r"(?:call|ring|phone|talk|speak)"
_AFTER_CALL_ME = r"(?:$|x+\b|please|pls|plz|asap|now|back|today|tonight|tomorrow|later|soon|again|when|if|on|at|\d)"
_REQUEST = re.compile(
    rf"\b(?:call|ring|phone)\s+(?:me|us)\s*{_AFTER_CALL_ME}"
    r"|\b(?:please|pls|plz)\s+(?:call|ring|phone)\b"
    r"|\b(?:can|could|will|would|cn)\s+(?:someone|somebody|anyone|you|u|one\s+of\s+you)\s+(?:please\s+|pls\s+)?"
    r"(?:call|ring|phone|give\s+me\s+a)\b"
    r"|\b(?:someone|somebody)\s+(?:call|ring|phone)\s+me\b"
    r"|\bgive\s+me\s+a\s+(?:call|ring|bell)\b"
    r"|\b(?:can|could|may)\s+i\s+(?:get|have)\s+a\s+call\b"
    r"|\b(?:call|ring)\s+(?:me\s+)?back\b"
    r"|\b(?:need|want|like|wanna)\s+(?:a\s+call|someone\s+to\s+(?:call|ring|talk)|to\s+(?:talk|speak))\b"
)
# A negation up to five words before the verb ("don't call", "I don't think I need a call", "pls dnt ring");
# "not" counts unless it is about how they are ("not ok call me" asks for a call).
_NEGATION = (
    r"\b(?:dont|don\s+t|dnt|do\s+not|never|no\s+need|stop|wont|wouldnt|didnt|doesnt|cant|cannot|"
    r"not(?!\s+(?:ok|okay|good|great|well|fine|doing|coping|feeling|sure|too)\b))"
)
_NEGATED = re.compile(rf"{_NEGATION}\s+(?:\S+\s+){{0,5}}?(?:a\s+)?{_VERB}")


def call_request(body: str) -> Call:
    """Whether the message asks for a person to call: the keyword, in their own words, or not at all.

    In doubt about a negation, not a call: the message is still read (as an answer, or by a person)."""
    text = _normalise(body)
    if " ".join(text.replace("?", " ").replace("!", " ").replace(".", " ").split()) in _CALL_KEYWORDS:
        return Call.keyword
    for clause in _CLAUSE_BREAKS.split(text.replace("'", "")):
        clause = clause.strip()
        if clause and _REQUEST.search(clause) and not _NEGATED.search(clause):
            return Call.words
    return Call.none


# Thanks-or-ok phrases, apostrophes removed ("i'm" is "im"); a message must be made of these alone.
_ACK_PHRASES = frozenset(
    tuple(phrase.split())
    for phrase in (
        "ok",
        "okay",
        "okey",
        "okie",
        "k",
        "kk",
        "ok then",
        "thanks",
        "thank you",
        "thankyou",
        "thank u",
        "thanks you",
        "thanx",
        "thnx",
        "thx",
        "tnx",
        "ty",
        "tq",
        "ta",
        "cheers",
        "many thanks",
        "thanks so much",
        "thanks very much",
        "thanks a lot",
        "thank you so much",
        "thank you very much",
        "thanks again",
        "thank you again",
        "much appreciated",
        "appreciated",
        "appreciate it",
        "you too",
        "u too",
        "and you",
        "and u",
        "same to you",
        "take care",
        "all good",
        "all fine",
        "im good",
        "im fine",
        "im ok",
        "im okay",
        "doing good",
        "doing well",
        "great",
        "good",
        "fine",
        "cool",
        "nice",
        "lovely",
        "sure",
        "np",
        "no problem",
        "no worries",
        "will do",
        "got it",
        "yes",
        "yep",
        "yeah",
        "bye",
        "see ya",
        "see you",
        "speak soon",
        "talk soon",
        "have a good day",
        "have a nice day",
        "have a good one",
        "good night",
        "night",
        "good morning",
        "morning",
        "x",
        "xx",
        "xxx",
        "xo",
        "lol",
        "haha",
    )
)
_LONGEST_PHRASE = max(len(p) for p in _ACK_PHRASES)
_SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_POSITIVE_SYMBOLS = frozenset("👍🙏😊🙂☺❤♥💕💖😀😃😄😁👌✌💪🤗🥰😍😘👋✅💯⭐🌟☀🤞\ufe0f\u200d") | _SKIN_TONES
_SMILEYS = (":-)", ":)", "(:", ";-)", ";)", ":d", "<3")
_PLAIN_PUNCTUATION = frozenset(".,!-")  # not "?": a question is for a person; nor "..." (see below)
# Phones' automatic replies: iOS's whole driving text, or a message marked as automatic at its start.
_AUTO_REPLIES = (
    "im driving with do not disturb while driving turned on. ill see your message when i get where im going.",
    "auto-reply:",
    "autoreply:",
    "[auto-reply]",
    "automatic reply:",
)
_AUTO_REPLY_LONGEST = 200


def is_acknowledgement(body: str) -> bool:
    """Whether a message only says thanks or ok, or is a phone's automatic reply: nothing for a person to read."""
    text = _normalise(body)
    if len(text) <= _AUTO_REPLY_LONGEST and text.replace("'", "").startswith(_AUTO_REPLIES):
        return True
    if ".." in text:  # "fine..." trails off: for a person
        return False
    positive = False
    for smiley in _SMILEYS:
        if smiley in text:
            text, positive = text.replace(smiley, " "), True
    kept = []
    for ch in text.replace("'", ""):
        if ch.isalnum():
            kept.append(ch)
            continue
        if ch in _POSITIVE_SYMBOLS:
            positive = True
        elif not ch.isspace() and ch not in _PLAIN_PUNCTUATION:
            return False
        kept.append(" ")
    words = "".join(kept).split()
    if not words:
        return positive
    # Whether words[:i] splits into known phrases, for each i.
    fits = [True] + [False] * len(words)
    for end in range(1, len(words) + 1):
        fits[end] = any(
            fits[start] and tuple(words[start:end]) in _ACK_PHRASES
            for start in range(max(0, end - _LONGEST_PHRASE), end)
        )
    return fits[-1]
