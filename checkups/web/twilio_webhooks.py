"""Twilio webhooks: inbound SMS and status callbacks. Every request is signature-checked against the
configured public address (a proxy changes the scheme and host, so the request's own URL is not trusted);
a bad or missing signature gets 403 and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from ..engine.inbound import store_inbound
from ..engine.status import record_status
from ..logging import get_logger
from ..runtime import Runtime

log = get_logger(__name__)
EMPTY_TWIML = str(MessagingResponse())


async def signed_form(request: Request) -> dict[str, str]:
    """The form of a request Twilio signed; 403 otherwise."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    token = settings.twilio_auth_token
    if token is None or settings.public_base_url is None:
        raise HTTPException(403, "Twilio webhooks are not configured")
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = str(settings.public_base_url).rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(token.get_secret_value()).validate(url, form, signature):
        log.warning("webhook signature rejected", path=request.url.path)
        raise HTTPException(403, "invalid signature")
    return form


def router(process_inbound: Callable[[int], None]) -> APIRouter:
    api = APIRouter(prefix="/twilio")

    @api.post("/sms")
    def inbound_sms(request: Request, form: dict[str, str] = Depends(signed_form)) -> Response:
        runtime: Runtime = request.app.state.runtime
        sid = form.get("MessageSid") or form.get("SmsSid")
        sender = form.get("From")
        if not sid or not sender:
            raise HTTPException(400, "MessageSid and From are required")
        # Stored and committed before anything else is done with it.
        with runtime.factory() as session, session.begin():
            stored = store_inbound(runtime.ctx, session, sid, sender, form.get("Body", ""), "sms")
        if stored.created:
            process_inbound(stored.inbound_id)
        log.info("inbound sms", inbound_id=stored.inbound_id, replay=not stored.created)
        return Response(EMPTY_TWIML, media_type="application/xml")

    @api.post("/status")
    def status_callback(request: Request, form: dict[str, str] = Depends(signed_form)) -> Response:
        runtime: Runtime = request.app.state.runtime
        sid = form.get("MessageSid") or form.get("CallSid")
        status = form.get("MessageStatus") or form.get("CallStatus")
        if sid and status:
            record_status(runtime.ctx, runtime.factory, sid, status, form.get("ErrorCode") or None)
        # 200 even for an unknown or stale SID, so Twilio stops retrying.
        return Response(status_code=200)

    return api
