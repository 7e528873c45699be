"""The words a participant gets for each action, from the protocol, in their language."""

from __future__ import annotations

from ..models import Action, MessageKind
from ..protocols.schema import DeliveryMode, Protocol, Question


def question_text(question: Question, language: str, protocol: Protocol, voice: bool = False) -> str:
    texts = question.voice if voice and question.voice else question.text
    return protocol.text(texts, language)


def checkup_body(protocol: Protocol, phase: str, language: str, voice: bool = False) -> str:
    """The first message of a check-up: its first question, or all of them, as the protocol says."""
    from .answers import questions_for_phase

    questions = questions_for_phase(protocol, phase)
    if voice:
        return " ".join(question_text(q, language, protocol, voice=True) for q in questions)
    if protocol.delivery is DeliveryMode.all_at_once and len(questions) > 1:
        return "\n".join(f"{i}) {question_text(q, language, protocol)}" for i, q in enumerate(questions, 1))
    return question_text(questions[0], language, protocol)


def action_message(protocol: Protocol, action: str, phase: str, language: str, channel: str) -> tuple[str, str]:
    """(kind, body) for an action of a check-up.

    The first message and the fallback both ask the check-up's questions, as the channel they go by needs
    them: a call's script for a call, the text for a text. A fallback is not always a call: a protocol that
    calls first falls back to a text message, which must not read "Press 1 for yes".
    """
    if action in (Action.send.value, Action.fallback.value):
        voice = channel == "voice"
        return (MessageKind.call if voice else MessageKind.question).value, checkup_body(
            protocol, phase, language, voice
        )
    if action == Action.remind.value:
        return MessageKind.reminder.value, protocol.text(protocol.messages.reminder, language)
    raise ValueError(f"action {action!r} sends nothing")
