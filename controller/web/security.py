"""Headers every answer of the daemon's web server carries.

The console is server-rendered HTML with its CSS and scripts in files of its own, so the
Content-Security-Policy can forbid every inline script and style, any other origin, being
framed and forms posting elsewhere: an injection in a page (a service name, a sheet's
text) can neither run script nor send anything away. The API's JSON gets the same
headers; they cost nothing there."""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from controller.config.model import WebSettings

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "media-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Two years, as browsers' preload lists ask; sent only when the daemon speaks TLS itself.
HSTS = "max-age=63072000; includeSubDomains"


def add_security_headers(app: web.Application, settings: WebSettings) -> None:
    """Every answer gets the headers just before its headers are sent: also those a
    handler streams itself (audio, an export, Server-Sent Events), which a middleware
    would see only once they are gone, and the errors aiohttp answers on its own."""
    tls = settings.tls_certificate is not None

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        _add(response.headers, tls)

    app.on_response_prepare.append(on_prepare)


def _add(headers: CIMultiDict[str], tls: bool) -> None:
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if tls:
        headers.setdefault("Strict-Transport-Security", HSTS)
    # Pages and answers hold personal data: no cache keeps them.
    headers.setdefault("Cache-Control", "no-store")


def headers_for(settings: WebSettings) -> dict[str, str]:
    """The same headers, for an answer its handler streams: prepared (headers sent)
    before the middleware sees it, it sets them itself."""
    headers: CIMultiDict[str] = CIMultiDict()
    _add(headers, settings.tls_certificate is not None)
    return dict(headers)
