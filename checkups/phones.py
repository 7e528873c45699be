"""Phone numbers: validated and normalised to E.164 with ``phonenumbers``.

Numbers reserved for drama and testing (UK +44 7700 900000-900999, US +1 NNN 555 0100-0199, Twilio's
magic +1 500 555 0xxx) are accepted although libphonenumber calls some of them invalid: they reach nobody,
and the demo and the tests use them.
"""

from __future__ import annotations

import re

import phonenumbers

_RESERVED = (
    re.compile(r"^\+447700900\d{3}$"),
    re.compile(r"^\+1\d{3}55501\d{2}$"),
    re.compile(r"^\+15005550\d{3}$"),
)


class InvalidPhoneNumber(ValueError):
    """Not a phone number we can send to."""


def is_reserved_for_testing(e164: str) -> bool:
    return any(pattern.match(e164) for pattern in _RESERVED)


def normalise(text: str, default_region: str = "GB") -> str:
    """``text`` as E.164 (``+447700900123``); :class:`InvalidPhoneNumber` with the reason otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidPhoneNumber("a phone number is required")
    if len(text) > 40:
        raise InvalidPhoneNumber("too long to be a phone number")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        reason = {
            phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
                "unknown country code (start with + and the country code)"
            ),
            phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
            phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
            phonenumbers.NumberParseException.TOO_LONG: "too long",
        }.get(error.error_type, "not a phone number")
        raise InvalidPhoneNumber(reason) from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if is_reserved_for_testing(e164):
        return e164
    if not phonenumbers.is_valid_number(parsed):
        region = phonenumbers.region_code_for_number(parsed)
        raise InvalidPhoneNumber(f"not a valid number for {region}" if region else "not a valid phone number")
    return e164


def masked(e164: str) -> str:
    """For staff screens before a flag is claimed: the last three digits only."""
    return "•" * 4 + e164[-3:]
