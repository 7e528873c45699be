"""One scheduler tick: lead, sweep expired leases, claim due actions in batches, hand them out.

Only the leader (a lease in the database) ticks; a tick run twice at once is harmless anyway, because
claiming is atomic. The tick stops claiming before its time budget runs out, so ticks do not pile up.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from ..logging import get_logger
from .context import Context
from .dispatch import Claim, acquire_leadership, claim_due, defer_outside_window, release_leadership, sweep_expired
from .flags import escalate_overdue, return_stale_claims
from .inbound import unprocessed

log = get_logger(__name__)
LEADER_LEASE = "scheduler"
INBOUND_RETRY_AFTER = timedelta(minutes=1)


@dataclass
class TickReport:
    leader: bool = False
    swept: int = 0
    claimed: int = 0
    deferred: int = 0
    handed_out: int = 0
    failed_to_hand_out: int = 0
    inbound_retried: int = 0
    escalated: int = 0
    returned: int = 0


class Ticker:
    def __init__(
        self,
        ctx: Context,
        factory: sessionmaker[Session],
        hand_out: Callable[[Claim], None],
        holder: str | None = None,
        leader_ttl: timedelta = timedelta(seconds=30),
        lead: bool = True,
        hand_out_inbound: Callable[[int], None] | None = None,
    ) -> None:
        self.hand_out_inbound = hand_out_inbound
        self.ctx = ctx
        self.factory = factory
        self.hand_out = hand_out
        self.holder = holder or uuid.uuid4().hex
        self.leader_ttl = leader_ttl
        self.lead = lead  # False: tick without the leader lease (tests of concurrent ticks)

    def tick(self) -> TickReport:
        report = TickReport()
        started = time.monotonic()
        budget = self.ctx.tuning.tick_budget.total_seconds()
        with self.factory() as session, session.begin():
            now = self.ctx.now()
            if self.lead and not acquire_leadership(session, LEADER_LEASE, self.holder, now, now + self.leader_ttl):
                return report
            report.leader = True
            report.swept = sweep_expired(session, now)
            report.escalated = len(escalate_overdue(session, now))  # nothing flagged falls out unseen
            report.returned = len(return_stale_claims(session, now))
            retry = unprocessed(session, now, INBOUND_RETRY_AFTER) if self.hand_out_inbound else []
        for inbound_id in retry:  # no reply is lost: processing is retried until it succeeds or is parked
            try:
                self.hand_out_inbound(inbound_id)  # type: ignore[misc]
                report.inbound_retried += 1
            except Exception:
                log.exception("could not hand out an inbound message", inbound_id=inbound_id)
        while True:
            with self.factory() as session, session.begin():
                now = self.ctx.now()
                claims = claim_due(session, now, self.ctx.tuning.batch_size, now + self.ctx.tuning.claim_lease)
                ready = defer_outside_window(self.ctx, session, claims, now)
            report.claimed += len(claims)
            report.deferred += len(claims) - len(ready)
            for claim in ready:
                try:
                    self.hand_out(claim)
                    report.handed_out += 1
                except Exception:  # the broker is down: the claim's lease expires and the sweeper returns it
                    report.failed_to_hand_out += 1
                    log.exception("could not hand out a claimed action", checkup_id=claim.checkup_id)
            if len(claims) < self.ctx.tuning.batch_size or time.monotonic() - started > budget:
                break
        if report.claimed or report.swept:
            log.info(
                "tick",
                claimed=report.claimed,
                deferred=report.deferred,
                handed_out=report.handed_out,
                swept=report.swept,
                failed=report.failed_to_hand_out,
            )
        return report

    def resign(self) -> None:
        with self.factory() as session, session.begin():
            release_leadership(session, LEADER_LEASE, self.holder, self.ctx.now())
