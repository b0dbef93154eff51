"""GET /live: the self-contained live-caption page (inline script and style, no CDN).

Loading the page needs no key (it holds none); it asks for a key or a stream token and
exchanges a key for a stream token at once (live_page.html).
"""

from __future__ import annotations

from importlib.resources import files

from litestar import MediaType, Response, get

_PAGE = files("scaiecho_module.transport").joinpath("live_page.html").read_text(encoding="utf-8")
# The page loads nothing from elsewhere; a strict CSP says so to the browser too.
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; media-src 'self' blob:; img-src 'self' data:"
)


@get("/live", opt={"public": True}, include_in_schema=False, media_type=MediaType.HTML)
async def live_page() -> Response[str]:
    return Response(_PAGE, media_type=MediaType.HTML, headers={"Content-Security-Policy": _CSP})
