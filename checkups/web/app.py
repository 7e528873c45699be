"""The one FastAPI app: Twilio's webhooks, the REST API (``/api/v1``) and the staff pages (``/``).

``create_app`` is the factory (``uvicorn --factory checkups.web.app:create_app``). APScheduler never runs
here: the web process only answers requests and hands work to the workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from ..runtime import Runtime, build, session_secret
from ..settings import get_settings
from . import api, api_enrolment, twilio_webhooks
from .pages import admin, auth, enrolment, leads, volunteer
from .security import LoginRequired, login_url
from .templating import HERE, render

SESSION_COOKIE = "checkups_session"
# Machine paths answer errors as JSON; everything else is a page for a person.
MACHINE_PREFIXES = ("/api/", "/twilio/", "/healthz", "/openapi.json", "/docs", "/redoc")
# Staff pages: nothing from elsewhere (scripts, frames, forms), no referrer carrying a flag's address, and
# nothing cached on a shared computer. Inline SVG charts are markup, so they pass 'self' rules.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


PAGE_MODULES = [auth, volunteer, enrolment, leads, admin]


def _default_inbound_handler(runtime: Runtime) -> Callable[[int], None]:
    if runtime.settings.redis_url:
        from ..tasks.actions import process_inbound_task

        return lambda inbound_id: process_inbound_task.delay(inbound_id)

    # Embedded: process in this process, after the response (the sweeper retries anything left).
    import threading

    from ..engine.inbound import process_inbound

    def run(inbound_id: int) -> None:
        threading.Thread(target=process_inbound, args=(runtime.ctx, runtime.factory, inbound_id), daemon=True).start()

    return run


def create_app(runtime: Runtime | None = None, process_inbound: Callable[[int], None] | None = None) -> FastAPI:
    owned = runtime is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            app.state.runtime.close()

    app = FastAPI(title="checkups", version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime or build(get_settings())
    handler = process_inbound or _default_inbound_handler(app.state.runtime)
    settings = app.state.runtime.settings
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.session_hours * 3600),
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.include_router(twilio_webhooks.router(handler))
    app.include_router(api.router())
    app.include_router(api_enrolment.router())
    for module in PAGE_MODULES:
        app.include_router(module.router())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def page_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(MACHINE_PREFIXES):
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, error: LoginRequired) -> Response:
        return RedirectResponse(login_url(error.next_path), status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if request.url.path.startswith(MACHINE_PREFIXES):
            return await http_exception_handler(request, error)
        titles = {403: "Not allowed", 404: "Not found", 409: "Already changed", 429: "Too many requests"}
        return render(
            request,
            "error.html",
            status_code=error.status_code,
            title=titles.get(error.status_code, "Something went wrong"),
            detail=error.detail,
        )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with app.state.runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
