"""What a message says besides its answers: that the person asks for a call, or that it only says thanks.

Pure functions of the text, used by :mod:`.conversation` after the crisis scan (which always comes first).

- **A call request** is either the keyword (the whole message is ``CALL``, "call me", "please call me", ...),
  or the person's own words in one clause of a longer message: "can someone call me", "please ring me",
  "call me asap", "I need to talk to someone", "I'd like a call". A clause that says not to ("don't call me",
  "can you not call me", "no need to ring") is not a request, and neither is "people call me a failure" or
  "you can call me Jo": the request forms are fixed, not any "call me" anywhere.
- **An acknowledgement** is a message made only of thanks-or-ok phrases ("thanks, you too x", "ok 👍",
  "take care", "I'm good thanks"), positive emoji or smileys, and plain punctuation; or a phone's automatic
  reply ("I'm driving with Do Not Disturb ..."). A sad or unknown emoji, a question mark, "...", an empty
  message (a picture) or any other word is for a person to read.
"""

from __future__ import annotations

import re
from enum import Enum


class Call(Enum):
    none = "none"
    keyword = "keyword"  # the whole message asks for a call: nothing else in it to read
    words = "words"  # a clause of the message asks for one: the rest may be an answer


def _normalise(body: str) -> str:
    return " ".join(body.lower().replace("’", "'").replace("‘", "'").split())


_CALL_KEYWORDS = frozenset(
    {
        "call",
        "call me",
        "call me please",
        "please call",
        "please call me",
        "ring me",
        "can you call me",
        "can someone call me",
        "pls call",
    }
)
_CLAUSE_BREAKS = re.compile(r"[,.;:!?\n()]+|\s-\s|\bbut\b")
_FILLER = r"(?:(?:to|please|pls|ever|again|even|you|u|me|need|want|a|someone|anyone|anybody|somebody)\s+)"
_NEGATED = re.compile(
    rf"\b(?:don'?t|dont|do\s+not|not|never|no\s+need\s+to|stop|won'?t|wont)\s+{_FILLER}{{0,3}}(?:call|ring|phone)"
)
_REQUEST = re.compile(
    r"^(?:(?:yes|yeah|yep|ok|okay|please|pls|plz|so|can|could)\s+)*(?:call|ring|phone)\s+me\b"
    r"|\b(?:please|pls|plz)\s+(?:call|ring|phone)\b"
    r"|\b(?:can|could|will|would)\s+(?:someone|somebody|anyone|you|u)\s+(?:please\s+|pls\s+)?(?:call|ring|phone)\b"
    r"|\b(?:call|ring|phone)\s+me\s+(?:please|pls|plz|asap|now|back|today|tonight|tomorrow|when\s+you\s+can)\b"
    r"|\b(?:need|want|like)\s+(?:a\s+call|someone\s+to\s+(?:call|ring|talk\s+to)|to\s+(?:talk|speak)\s+to\s+"
    r"(?:someone|somebody|a\s+person))\b"
)


def call_request(body: str) -> Call:
    """Whether the message asks for a person to call: the keyword, in their own words, or not at all."""
    text = _normalise(body)
    if " ".join(text.replace("?", " ").replace("!", " ").replace(".", " ").split()) in _CALL_KEYWORDS:
        return Call.keyword
    for clause in _CLAUSE_BREAKS.split(text):
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
_PLAIN_PUNCTUATION = frozenset(".,!-")  # not "?": a question is for a person
# Phones' automatic replies start with these; a longer message is a person writing.
_AUTO_REPLIES = (
    "i'm driving with do not disturb",
    "im driving with do not disturb",
    "i'm driving right now",
    "auto-reply",
    "autoreply",
    "[auto-reply]",
    "automatic reply",
)
_AUTO_REPLY_LONGEST = 200


def is_acknowledgement(body: str) -> bool:
    """Whether a message only says thanks or ok, or is a phone's automatic reply: nothing for a person to read."""
    text = _normalise(body)
    if len(text) <= _AUTO_REPLY_LONGEST and text.startswith(_AUTO_REPLIES):
        return True
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
