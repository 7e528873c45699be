"""structlog, set up once: JSON in production, readable on a terminal.

Logs never hold a phone number or a message body. :func:`redact` runs on every event, ours and those of
libraries that log through the standard library (Twilio's client logs request parameters), and removes:

- the values of keys that name sensitive things (``phone``, ``to``, ``body``, ...), at any depth;
- anything that looks like a phone number inside any other string.

Refer to participants by id instead.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[redacted]"
PHONE_MASK = "[phone]"

# Keys whose values are always personal data, whatever they hold. Compared case-insensitively, with
# leading/trailing underscores removed (``from_`` is the Twilio SDK's name for From).
SENSITIVE_KEYS = frozenset(
    {
        "phone",
        "phone_number",
        "number",
        "to",
        "from",
        "caller",
        "called",
        "body",
        "message",
        "message_body",
        "text",
        "reply",
        "raw",
        "raw_text",
        "digits",
        "speechresult",
        "transcript",
        "password",
        "token",
        "auth_token",
        "secret",
        "secret_key",
        "encryption_key",
        "authorization",
    }
)

# A phone number in free text: an optional +, then 7 to 15 digits that may be split by spaces, dots,
# dashes or brackets. Long enough not to eat ids, dates (2026-01-05) or times.
_PHONE_RE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s().-]{0,2}\d){6,14}(?!\w)")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# The same in a URL query ("?To=%2B447700900123", as urllib3 logs a Twilio list request at DEBUG): the
# digits follow "%2B" directly, so the pattern above, which wants no word character before, misses them.
_URL_PHONE_RE = re.compile(r"%2[Bb]\d{7,15}(?!\d)")


def _mask_phones(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        if _DATE_RE.match(found):
            return found
        return PHONE_MASK

    return _PHONE_RE.sub(replace, _URL_PHONE_RE.sub(PHONE_MASK, text))


def _is_sensitive(key: object) -> bool:
    return isinstance(key, str) and key.strip("_").lower() in SENSITIVE_KEYS


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_phones(value)
    if isinstance(value, Mapping):
        return {k: (REDACTED if _is_sensitive(k) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: remove phone numbers and message bodies from an event."""
    cleaned: dict[str, Any] = {}
    for key, value in event_dict.items():
        if _is_sensitive(key) and key != "event":
            cleaned[key] = REDACTED
        elif key in {"exc_info", "stack_info"}:
            cleaned[key] = value
        else:
            cleaned[key] = _scrub(value)
    return cleaned


def _redact_rendered(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Tracebacks are rendered to text by format_exc_info; mask numbers in them too (an exception
    # message from an SDK may quote the number it failed on).
    for key in ("exception", "stack"):
        if isinstance(event_dict.get(key), str):
            event_dict[key] = _mask_phones(event_dict[key])
    return event_dict


_configured = False


def configure(log_format: str = "auto", level: str = "INFO", stream: Any = None) -> None:
    """Set up structlog and the standard library's logging to go through the same redacting chain."""
    global _configured
    stream = stream if stream is not None else sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not stream.isatty())

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _noop,
            _redact_rendered,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Twilio's HTTP client logs each request's parameters (To, Body) at INFO.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    # Alembic announces each plugin and step at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    _configured = True


def _noop(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return event_dict


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; configures logging with defaults if nobody has yet."""
    if not _configured:
        configure()
    return structlog.get_logger(name)
