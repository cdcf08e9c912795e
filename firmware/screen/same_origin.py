"""A write from another site's page is refused before any handler runs (cross-site request forgery).

Why: the session cookie is SameSite=strict, which modern browsers honour, but the screen may be opened by
a technician's browser on the bench and a cookie rule is one line of defence. Browsers send `Origin` on
every cross-origin POST; a POST whose Origin is not the screen's own (scheme, host and port as the
request addressed them) is answered 403 and nothing is written. A request with no Origin (curl, the
tests' HTTP client, an old browser's same-origin form) passes to the session and role checks as before.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_site(method: str, origin: str | None, host: str | None, scheme: str = "http") -> bool:
    """Pure: is this a write sent by a page of another origin? `origin` and `host` as the headers say."""
    if method.upper() in SAFE_METHODS or origin is None:
        return False
    if origin == "null" or not host:        # a sandboxed or file page; a request that names no host
        return True
    try:
        parts = urlsplit(origin)
        own = urlsplit(f"{scheme}://{host}")
        return (parts.scheme, parts.hostname, parts.port or _default_port(parts.scheme)) != \
            (own.scheme, own.hostname, own.port or _default_port(own.scheme))
    except ValueError:                      # a port that is not a number, a malformed address
        return True


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


class SameOriginWrites:
    """ASGI middleware: `cross_site` writes get 403 JSON; everything else goes through untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if cross_site(scope["method"], headers.get("origin"), headers.get("host"), scope.get("scheme", "http")):
                body = b'{"ok":false,"error":"refused: this request came from another site\'s page"}'
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
