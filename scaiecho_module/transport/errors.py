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

_BY_STATUS: dict[int, ErrorKind] = {
    400: VALIDATION_ERROR,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: PAYLOAD_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
}


# RFC 6750: a 401 names the scheme to use, so a client sending ``Token ...`` learns it is Bearer.
_CHALLENGE = 'Bearer realm="scaigrid"'
# A relay that failed is retried after its cooldown (10 s by default); nodes are re-polled
# every 2 s. Ten seconds covers both without inviting a retry storm.
_RETRY_UNAVAILABLE = "10"


def error_response(
    request: Request[Any, Any, Any],
    error: ScaiEchoError,
    status_code: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """The envelope, with the request's id (also in the X-Request-Id header) to quote to support."""
    body = error.envelope()
    if request_id := request_id_of(request):
        body["error"]["request_id"] = request_id
    headers = dict(headers or {})
    if error.kind is UNAUTHORIZED:
        headers.setdefault("WWW-Authenticate", _CHALLENGE)
    elif error.kind is BACKEND_UNAVAILABLE:
        headers.setdefault("Retry-After", _RETRY_UNAVAILABLE)
    metrics.ERRORS.labels(error.kind.code).inc()
    return Response(body, status_code=status_code or error.kind.http_status, headers=headers)


def scaiecho_error_handler(request: Request[Any, Any, Any], exc: ScaiEchoError) -> Response[Any]:
    return error_response(request, exc)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    kind = _BY_STATUS.get(exc.status_code)
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
    return error_response(request, ScaiEchoError(kind, message, details), exc.status_code, exc.headers)


def nesting_error_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # The JSON decoders recurse per nesting level: a body nested 100,000 deep ends here while
    # being parsed, before any handler of ours runs. The client's error, not a crash.
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
