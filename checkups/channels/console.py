"""The console channel: no provider, no account. It records what it "delivers" and logs a redacted line.

Its record (the ``console_outbox`` table, written in its own transaction like a provider's) lets the
engine reconcile a send whose outcome it did not see, exactly as with Twilio. With ``echo`` it also prints
the text to a terminal, for the demo; the log never holds the text or the number.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..crypto import Vault
from ..db import READ_ONLY
from ..logging import get_logger
from ..models import ConsoleOutbox
from .base import Outgoing, Receipt
from .encoding import segments

log = get_logger(__name__)


class ConsoleChannel:
    kind = "console"

    def __init__(
        self,
        engine: Engine,
        vault: Vault,
        now: Callable[[], datetime],
        echo: TextIO | None = None,
        describe: Callable[[Outgoing], str] | None = None,
        latency: float = 0.0,
    ) -> None:
        self._latency = latency
        self._engine = engine
        self._vault = vault
        self._now = now
        self._echo = echo
        self._describe = describe

    def send(self, message: Outgoing) -> Receipt:
        if self._latency:
            time.sleep(self._latency)  # a provider's request time; the record is made at its end
        sid = "CO" + uuid.uuid4().hex
        with Session(self._engine) as session, session.begin():
            session.add(
                ConsoleOutbox(
                    sid=sid,
                    key=message.key,
                    participant_id=message.participant_id,
                    kind=message.kind,
                    body_cipher=self._vault.encrypt(message.body),
                    sent_at=self._now(),
                )
            )
        count = segments(message.body)
        log.info(
            "console delivered",
            participant_id=message.participant_id,
            kind=message.kind,
            channel=message.channel,
            segments=count,
            sid=sid,
        )
        if self._echo is not None:
            header = self._describe(message) if self._describe else f"participant {message.participant_id}"
            mode = "CALL" if message.channel == "voice" else "SMS "
            print(f"{mode} {header} [{message.kind}]: {message.body}", file=self._echo, flush=True)
        return Receipt(sid=sid, segments=count)

    def lookup(self, message: Outgoing, sent_after: datetime) -> Receipt | None:
        # Called inside the dispatch transaction, which on SQLite holds the write lock: read without it.
        with Session(self._engine.execution_options(**{READ_ONLY: True})) as session:
            row = session.scalars(
                select(ConsoleOutbox).where(ConsoleOutbox.key == message.key).order_by(ConsoleOutbox.id).limit(1)
            ).first()
        return Receipt(sid=row.sid, segments=segments(message.body)) if row is not None else None


def stdout_if_terminal() -> TextIO | None:
    return sys.stdout if sys.stdout.isatty() else None
