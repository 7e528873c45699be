from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from checkups import logging as checkups_logging

UK = "+447700900123"
US = "+1 212 555 0142"


@pytest.fixture
def captured():
    stream = io.StringIO()
    checkups_logging.configure(log_format="json", level="DEBUG", stream=stream)
    yield stream
    checkups_logging.configure(log_format="json", level="WARNING", stream=io.StringIO())


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_sensitive_keys_are_redacted_whatever_they_hold(captured) -> None:
    log = structlog.get_logger("t")
    log.info("sent", participant_id=42, to=UK, body="any use? Y/N", phone=UK, from_=US)
    event = lines(captured)[0]
    assert event["participant_id"] == 42
    assert event["to"] == event["body"] == event["phone"] == event["from_"] == "[redacted]"
    assert UK not in captured.getvalue()


def test_phone_numbers_inside_free_text_are_masked(captured) -> None:
    log = structlog.get_logger("t")
    log.warning(f"provider refused {UK} and (212) 555-0142 and 07700 900456", detail={"nested": [US]})
    raw = captured.getvalue()
    for number in ("447700900123", "555-0142", "07700 900456", "212 555 0142"):
        assert number not in raw
    event = lines(captured)[0]
    assert event["detail"] == {"nested": ["[phone]"]}
    assert "[phone]" in event["event"]


def test_dates_ids_and_times_are_left_alone(captured) -> None:
    structlog.get_logger("t").info("tick", day="2026-01-05", checkup_id=123456, at="10:00:00", count=1500)
    event = lines(captured)[0]
    assert event["day"] == "2026-01-05"
    assert event["checkup_id"] == 123456
    assert event["at"] == "10:00:00"


def test_standard_library_loggers_are_redacted_too(captured) -> None:
    # Twilio's client and Celery log through the standard library.
    logging.getLogger("some.library").warning("Data: {'To': '%s', 'Body': 'hello'}", UK)
    assert UK not in captured.getvalue()
    assert "[phone]" in captured.getvalue()


def test_twilio_http_client_is_quiet_below_warning(captured) -> None:
    logging.getLogger("twilio.http_client").info("POST Request: To=%s", UK)
    assert captured.getvalue() == ""


def test_exception_text_is_masked(captured) -> None:
    try:
        raise ValueError(f"cannot reach {UK}")
    except ValueError:
        structlog.get_logger("t").exception("send failed", checkup_id=1)
    raw = captured.getvalue()
    assert UK not in raw
    assert "send failed" in raw


def test_console_format_renders_redacted(monkeypatch) -> None:
    stream = io.StringIO()
    checkups_logging.configure(log_format="console", level="INFO", stream=stream)
    structlog.get_logger("t").info("sent", to=UK, participant_id=7)
    assert UK not in stream.getvalue()
    assert "participant_id" in stream.getvalue()
