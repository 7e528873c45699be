"""The one FastAPI app: webhooks now; the REST API and the pages come in their own issues.

``create_app`` is the factory (``uvicorn --factory checkups.web.app:create_app``). APScheduler never runs
here: the web process only answers requests and hands work to the workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ..runtime import Runtime, build
from ..settings import get_settings
from . import api, twilio_webhooks


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
    app.include_router(twilio_webhooks.router(handler))
    app.include_router(api.router())

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with app.state.runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
