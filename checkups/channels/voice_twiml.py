"""TwiML for check-up calls, built with ``twilio.twiml.voice_response``. Pure functions: text in, XML out.

The web app serves these, one step per request: a question (its answer comes back to ``action_url`` as
``Digits``), then the next, then goodbye; or, when machine detection reports a machine, only the short
voicemail text. Nothing here decides what to ask: that is the protocol's and the engine's business.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

DEFAULT_TIMEOUT = 6  # seconds of silence after the prompt before a Gather gives up


def _say(response: VoiceResponse, text: str, language: str | None, voice: str | None) -> None:
    response.say(text, **({"language": language} if language else {}), **({"voice": voice} if voice else {}))


def question_twiml(
    question_text: str,
    action_url: str,
    num_digits: int | None = None,
    repeat_prompt: str | None = None,
    *,
    timeout: int = DEFAULT_TIMEOUT,
    language: str | None = None,
    voice: str | None = None,
) -> str:
    """Ask one question and gather its keypad answer; ask once more on silence.

    ``num_digits``: the answer's length when it is fixed (1 for yes/no or a choice of up to 9; the call
    moves on at the first key), or None for a number of any length, ended by ``#`` or by a pause.

    On silence, the first ``<Gather>`` falls through to ``repeat_prompt`` and a second ``<Gather>``; that one
    has ``actionOnEmptyResult``, so ``action_url`` is always called in the end, with empty ``Digits`` if the
    person said nothing twice (the web app records no answer and moves on, or ends the call).
    """
    response = VoiceResponse()
    attempts = [None, repeat_prompt] if repeat_prompt else [None]
    for i, preface in enumerate(attempts):
        last = i == len(attempts) - 1
        gather = response.gather(
            input="dtmf",
            action=action_url,
            method="POST",
            timeout=timeout,
            finish_on_key="#",
            num_digits=num_digits,
            action_on_empty_result=True if last else None,
        )
        if preface:
            _say(gather, preface, language, voice)
        _say(gather, question_text, language, voice)
    return response.to_xml()


def machine_twiml(voicemail_text: str, *, language: str | None = None, voice: str | None = None) -> str:
    """For an answering machine: the short, discreet voicemail text, then hang up. Never a question: a
    voicemail may be heard by anyone in the household."""
    response = VoiceResponse()
    _say(response, voicemail_text, language, voice)
    response.hangup()
    return response.to_xml()


def goodbye_twiml(text: str, *, language: str | None = None, voice: str | None = None) -> str:
    """Say ``text`` and hang up (the end of a check-up call)."""
    response = VoiceResponse()
    _say(response, text, language, voice)
    response.hangup()
    return response.to_xml()
