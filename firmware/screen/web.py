"""The screen's HTTP side: pages, the JSON the page uses, images and the live stream.

Every route that shows or changes data needs a session (401 without; pages redirect to the login);
each action is checked against the user's roles (403). Reads come from read-only connections; every
write is a domain function run on the unit's one writer, so the screen records exactly what the CLI
records, with the same audit entries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, \
    StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from firmware.screen.same_origin import SameOriginWrites
from firmware.screen.sessions import COOKIE, Session

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
_templates = Environment(loader=PackageLoader("firmware.screen", "templates"), autoescape=select_autoescape())


def page(name: str, status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=status)


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


class Api:
    """Route handlers bound to one ScreenService (its unit, hub, sessions and config)."""

    def __init__(self, service):
        self.s = service

    # -- sessions ------------------------------------------------------------------------------
    async def session(self, request: Request, action: str | None = None, *, acting: bool = False) -> Session:
        """The request's valid session, else 401; with `action`, 403 unless the roster lets the user do it.
        A refused act (`acting`: a write or a search, which the page never offers to that role) is audited
        as `access_refused`, as the CLI's `authorize` audits it; a refused view is not (module docstring)."""
        token = request.cookies.get(COOKIE)
        session, why = self.s.sessions.check(token, time.time())
        if session is None:
            timed_out = self.s.sessions.expired(token, time.time()) if why == "expired" else None
            if timed_out is not None:   # the session's end is audited once (then the id is revoked)
                await run_in_threadpool(self.s.logout, timed_out, "idle timeout")
            raise HTTPException(401, f"log in first ({why})")
        if action and not await run_in_threadpool(self.s.permits, session, action):
            if acting:
                await run_in_threadpool(self.s.refused, session, action, request.url.path)
            raise HTTPException(403, f"your role may not do this ({action})")
        return session

    def _with_cookie(self, response: Response, token: str) -> Response:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                            max_age=int(self.s.config.session_max_s))
        return response

    async def login_page(self, request: Request) -> Response:
        session, _ = self.s.sessions.check(request.cookies.get(COOKIE), time.time())
        if session is not None:
            return RedirectResponse("/", 303)
        return page("login.html", theme=self.s.config.theme, unit_id=self.s.unit_id, error=None, user="")

    async def login(self, request: Request) -> Response:
        body = await request.body()   # a urlencoded form of two short fields: no multipart parser needed
        try:
            form = parse_qs(body[:4096].decode("utf-8", "replace"), max_num_fields=8) if body else {}
        except ValueError:   # more fields than a login form has
            return page("login.html", status=400, theme=self.s.config.theme, unit_id=self.s.unit_id,
                        error="The login form could not be read; enter your user id and PIN again.", user="")
        user, secret = (form.get("user") or [""])[0].strip(), (form.get("pin") or [""])[0]
        result = await run_in_threadpool(self.s.authenticate, user, secret)
        if not result.ok:
            return page("login.html", status=401, theme=self.s.config.theme, unit_id=self.s.unit_id,
                        error=result.message, user=user)
        _, token = self.s.sessions.new(user, result.roles, time.time())
        return self._with_cookie(RedirectResponse("/", 303), token)

    async def logout(self, request: Request) -> Response:
        session, _ = self.s.sessions.check(request.cookies.get(COOKIE), time.time())
        if session is not None:
            await run_in_threadpool(self.s.logout, session, "officer")
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def touch(self, request: Request) -> Response:
        """The officer touched the screen: the idle timer starts again."""
        session = await self.session(request)
        return self._with_cookie(JSONResponse({"ok": True, "idle_s": self.s.config.session_idle_s}),
                                 self.s.sessions.touch(session, time.time()))

    # -- pages -----------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        session, _ = self.s.sessions.check(request.cookies.get(COOKIE), time.time())
        if session is None:
            return RedirectResponse("/login", 303)
        boot = {"user": session.user, "roles": list(session.roles), "unit_id": self.s.unit_id,
                "idle_s": self.s.config.session_idle_s, "theme": self.s.config.theme,
                "can": {a: self.s.allowed(session, a) for a in self.s.ACTIONS_SHOWN}}
        response = page("screen.html", theme=self.s.config.theme, boot=json.dumps(boot), user=session.user)
        return self._with_cookie(response, self.s.sessions.touch(session, time.time()))

    # -- JSON --------------------------------------------------------------------------------------
    async def state(self, request: Request) -> Response:
        session = await self.session(request, "health.view")
        return JSONResponse(await run_in_threadpool(self.s.state, session))

    async def hit(self, request: Request) -> Response:
        session = await self.session(request, "hits.view")
        result = await run_in_threadpool(self.s.hit_detail, session, request.path_params["hit_id"])
        return JSONResponse(result, status_code=200 if result.get("ok") else 404)

    async def read_hits(self, request: Request) -> Response:
        session = await self.session(request, "hits.view")
        return JSONResponse(await run_in_threadpool(self.s.read_hits, session, request.path_params["read_id"]))

    async def image(self, request: Request) -> Response:
        await self.session(request, "reads.view")
        path = await run_in_threadpool(self.s.image_path, request.path_params["read_id"], request.path_params["role"])
        if path is None:
            return _json_error(404, "no such image")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})

    async def _body(self, request: Request) -> dict:
        try:
            body = await request.json()
        except (ValueError, RecursionError):   # not JSON, not UTF-8, or nested past the parser's depth
            raise HTTPException(400, "the request body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        return body

    async def act(self, request: Request) -> Response:
        """POST /api/hits/{id}/{step}: check | disposition | outcome."""
        step = request.path_params["step"]
        await self.session(request)                   # 401 before anything is read from the request
        body = await self._body(request)
        action = "hits.amend" if step == "disposition" and body.get("amend") else "hits.verify"
        session = await self.session(request, action, acting=True)
        result = await run_in_threadpool(self.s.record_step, session, request.path_params["hit_id"], step, body)
        return JSONResponse(result, status_code=200 if result.get("ok") else 422)

    async def manual(self, request: Request) -> Response:
        if request.method == "GET":
            session = await self.session(request, "hotlist.manual_view")
            return JSONResponse(await run_in_threadpool(self.s.manual_list, session))
        session = await self.session(request, "hotlist.manual_add", acting=True)
        body = await self._body(request)
        result = await run_in_threadpool(self.s.manual_add, session, body)
        return JSONResponse(result, status_code=200 if result.get("ok") else 422)

    async def manual_extend(self, request: Request) -> Response:
        session = await self.session(request, "hotlist.manual_extend", acting=True)
        body = await self._body(request)
        result = await run_in_threadpool(self.s.manual_extend, session, int(request.path_params["entry_id"]), body)
        return JSONResponse(result, status_code=200 if result.get("ok") else 422)

    async def search(self, request: Request) -> Response:
        session = await self.session(request, "reads.search", acting=True)
        body = await self._body(request)
        result = await run_in_threadpool(self.s.search, session, body)
        return JSONResponse(result, status_code=200 if result.get("ok") else 422)

    # -- live stream -------------------------------------------------------------------------------
    async def events(self, request: Request) -> Response:
        session = await self.session(request, "health.view")
        hub = self.s.hub
        client = hub.subscribe(session.user)
        show_hits = self.s.allowed(session, "hits.view")
        show_reads = self.s.allowed(session, "reads.view")
        keepalive = self.s.config.keepalive_s

        async def stream():
            try:
                yield "retry: 1000\n" + _sse("hello", {"server_started_ms": self.s.started_ms})
                while not hub.closed:
                    try:
                        await asyncio.wait_for(client.wake.wait(), keepalive)
                    except (asyncio.TimeoutError, TimeoutError):
                        if self.s.sessions.check(request.cookies.get(COOKIE), time.time())[1] == "ended":
                            yield _sse("session_end", {})
                            return
                        yield ": keep-alive\n\n"
                        continue
                    client.wake.clear()
                    for kind, data in hub.take(client):
                        if kind == "bye":
                            return
                        if (kind == "hit" and not show_hits) or (kind == "read" and not show_reads):
                            continue
                        yield _sse(kind, data)
            finally:
                hub.unsubscribe(client)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _sse(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return _json_error(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("screen request failed", extra={"event": "screen.error", "path": request.url.path})
    return _json_error(500, "the unit could not answer this; try again (logged for the technician)")


def build_app(service) -> Starlette:
    api = Api(service)
    routes = [
        Route("/", api.index),
        Route("/login", api.login_page, methods=["GET"]),
        Route("/login", api.login, methods=["POST"]),
        Route("/logout", api.logout, methods=["POST"]),
        Route("/api/touch", api.touch, methods=["POST"]),
        Route("/api/state", api.state),
        Route("/api/events", api.events),
        Route("/api/hits/{hit_id}", api.hit),
        Route("/api/hits/{hit_id}/{step}", api.act, methods=["POST"]),
        Route("/api/reads/{read_id}/hits", api.read_hits),
        Route("/api/reads/{read_id}/{role}.jpg", api.image),
        Route("/api/manual", api.manual, methods=["GET", "POST"]),
        Route("/api/manual/{entry_id:int}/extend", api.manual_extend, methods=["POST"]),
        Route("/api/search", api.search, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SameOriginWrites)],
                     exception_handlers={HTTPException: _http_error, Exception: _server_error})
