"""Twilio webhooks: inbound SMS and status callbacks. Every request is signature-checked against the
configured public address (a proxy changes the scheme and host, so the request's own URL is not trusted);
a bad or missing signature gets 403 and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from ..channels.voice_twiml import goodbye_twiml, machine_twiml, question_twiml
from ..engine import voice
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

    @api.post("/voice/start")
    def voice_start(request: Request, checkup: str, form: dict[str, str] = Depends(signed_form)) -> Response:
        """The call was answered: a person hears the first question; a machine only the discreet message."""
        runtime: Runtime = request.app.state.runtime
        answered_by = form.get("AnsweredBy", "")
        step = voice.start(runtime.ctx, runtime.factory, checkup, form.get("CallSid", ""), answered_by)
        return _twiml(step, request, checkup)

    @api.post("/voice/answer")
    def voice_answer(request: Request, checkup: str, q: int, form: dict[str, str] = Depends(signed_form)) -> Response:
        """A keypad answer to question ``q``: record it, then the next question or goodbye."""
        runtime: Runtime = request.app.state.runtime
        step = voice.answer(runtime.ctx, runtime.factory, checkup, form.get("CallSid", ""), q, form.get("Digits", ""))
        return _twiml(step, request, checkup)

    return api


def _twiml(step: voice.Step, request: Request, key: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    if step.kind == "question":
        base = str(runtime.settings.public_base_url).rstrip("/")
        action = f"{base}/twilio/voice/answer?{urlencode({'checkup': key, 'q': step.index})}"
        xml = question_twiml(step.text, action, step.num_digits, step.repeat, language=step.language)
    elif step.kind == "machine":
        xml = machine_twiml(step.text, language=step.language)
    else:
        xml = goodbye_twiml(step.text, language=step.language)
    return Response(xml, media_type="application/xml")
