"""Map every exception under the module's router onto the one error envelope."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from scaiecho_module import metrics
from scaiecho_module.errors import (
    BACKEND_UNAVAILABLE,
    CLIENT_DISCONNECTED,
    FORBIDDEN,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_ERROR,
    ErrorKind,
    ScaiEchoError,
)
from scaiecho_module.transport.request_id import request_id_of

logger = logging.getLogger("scaiecho.errors")

# Litestar reports a client that left mid-body as a 500 with this detail and no own type.
_LITESTAR_DISCONNECT = "client disconnected prematurely"
_BY_STATUS: dict[int, ErrorKind] = {
    400: VALIDATION_ERROR,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
}


# RFC 6750: a 401 names the scheme it wants, so a client sending ``Token ...`` learns it is
# Bearer; MCP clients read it to learn how to authenticate.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scaiecho"'}
# A relay that failed is retried after its cooldown (10 s by default); nodes are re-polled
# every 2 s. Ten seconds covers both without inviting a retry storm.
_RETRY_UNAVAILABLE = 10


def error_response(
    request: Request[Any, Any, Any],
    error: ScaiEchoError,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """The envelope, with the request's id (also in the X-Request-Id header) to quote to support."""
    body = error.envelope()
    if request_id := request_id_of(request):
        body["error"]["request_id"] = request_id
    headers = dict(headers or {})
    if error.kind is UNAUTHORIZED:
        headers.update(CHALLENGE)
    retry_after = error.retry_after
    if retry_after is None and error.kind is BACKEND_UNAVAILABLE:
        retry_after = _RETRY_UNAVAILABLE
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    metrics.ERRORS.labels(error.kind.code).inc()
    return Response(body, status_code=error.kind.http_status, headers=headers or None)


def scaiecho_error_handler(request: Request[Any, Any, Any], exc: ScaiEchoError) -> Response[Any]:
    return error_response(request, exc)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    kind = _BY_STATUS.get(exc.status_code)
    if exc.status_code == 500 and exc.detail == _LITESTAR_DISCONNECT:
        kind = CLIENT_DISCONNECTED  # the client left while Litestar read a body: not our fault
    if kind is None:
        kind = ErrorKind(f"HTTP_{exc.status_code}", exc.status_code, 4500)
    message = str(exc.detail)
    details: dict[str, Any] | None = None
    if isinstance(exc, ValidationException) and exc.extra:
        details = {"errors": exc.extra}
    elif exc.status_code == 413:
        # Same shape as the service's own 413: the caller learns the limit it hit.
        limit = request.route_handler.resolve_request_max_body_size()
        message = f"request body is larger than the {limit} bytes this endpoint accepts"
        details = {"limit_bytes": limit}
    return error_response(request, ScaiEchoError(kind, message, details), exc.headers)


def nesting_error_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # The JSON decoders recurse per nesting level: a body nested 100,000 deep ends here while
    # being parsed, before any handler of ours runs. The client's error, not a crash; logged
    # (path only: the query may hold a token) so a recursion bug of our own stays visible.
    logger.warning("request nested too deeply on %s %s", request.method, request.url.path)
    return error_response(
        request, ScaiEchoError(VALIDATION_ERROR, "request body is nested too deeply", {"field": "body"})
    )


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, ScaiEchoError(INTERNAL_ERROR, "internal server error"))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ScaiEchoError: scaiecho_error_handler,
    HTTPException: http_error_handler,
    RecursionError: nesting_error_handler,
    Exception: unexpected_error_handler,
}
