"""Engine errors: one root, each with structured fields a caller can show next to a form field."""

from __future__ import annotations


class EngineError(Exception):
    """The engine refused the request."""


class InvalidEnrolment(EngineError):
    """The enrolment has invalid fields."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


class EnrolmentConflict(EngineError):
    """This organisation already enrolled this client reference differently."""

    def __init__(self, enrolment_id: int, reason: str) -> None:
        self.enrolment_id = enrolment_id
        self.reason = reason
        super().__init__(reason)


class NotFound(EngineError):
    """No such record."""


class InvalidTransition(EngineError):
    """The enrolment is not in a state that allows this."""
