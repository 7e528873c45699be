"""SMS text: the GSM 03.38 alphabet, segment counting, and keeping text in GSM-7.

An SMS holds 140 bytes: 160 GSM-7 characters, or 70 UCS-2 (UTF-16) code units once a single character
falls outside the GSM alphabet. A long text is split into parts that each lose room to the concatenation
header: 153 GSM-7 characters or 67 UCS-2 units a part, and every part is billed. So one curly quote pasted
from a word processor can turn a one-part check-up into a two- or three-part one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet (3GPP TS 23.038, 6.2.1), in code order, without 0x1B (the escape to the
# extension table). Greek capitals are written as escapes: lookalikes (U+2126 OHM SIGN) are not GSM.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e"
    "ÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these is sent as ESC + code, so it takes two of the 160 septets.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
PART = {"GSM-7": 153, "UCS-2": 67}

# Characters that word processors and phones put in text in place of plain ones. Any one of them forces
# the whole message into UCS-2 (70 characters a part instead of 160): a no-break space (\xa0) or a curly
# apostrophe alone can double or triple the cost of a check-up. Each is replaced by its GSM look-alike.
GSM_SUBSTITUTES: dict[str, str] = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    "\u2026": "...",
    # No-break, thin, figure, en/em and other fixed-width spaces, and tabs.
    **dict.fromkeys(
        "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t", " "
    ),
    # Invisible characters (zero-width space, word joiner, byte-order mark, soft hyphen): dropped. Zero-width
    # joiners (U+200C/D) are kept: they hold emoji sequences together, and emoji are UCS-2 anyway.
    **dict.fromkeys("\u200b\u2060\ufeff\u00ad", ""),
}
_TABLE = str.maketrans(GSM_SUBSTITUTES)


def gsm_friendly(text: str) -> str:
    """``text`` with smart quotes, dashes, ellipses and odd spaces replaced by their GSM equivalents.

    Anything else outside the GSM alphabet (emoji, most accented letters) is left alone: the message is
    then sent, and billed, as UCS-2.
    """
    return text.translate(_TABLE)


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


@dataclass(frozen=True)
class SmsText:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def measure(text: str) -> SmsText:
    """The encoding, length and number of parts of ``text`` as an SMS (no substitution is made)."""
    if is_gsm(text):
        encoding: Encoding = "GSM-7"
        sizes = [2 if c in GSM_EXTENSION else 1 for c in text]  # an escape pair is never split
    else:
        encoding = "UCS-2"
        sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]  # a surrogate pair is never split
    units = sum(sizes)
    if units <= SINGLE[encoding]:
        return SmsText(encoding, units, 1)
    room, parts, used = PART[encoding], 1, 0
    for size in sizes:
        if used + size > room:
            parts += 1
            used = 0
        used += size
    return SmsText(encoding, units, parts)


def segments(text: str) -> int:
    """How many SMS parts ``text`` is sent (and billed) as."""
    return measure(text).segments
