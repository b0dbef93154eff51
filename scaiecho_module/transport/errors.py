"""Map every exception under the module's router onto the one error envelope."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from scaiecho_module import metrics
from scaiecho_module.errors import (
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


def scaiecho_error_handler(_: Request[Any, Any, Any], exc: ScaiEchoError) -> Response[Any]:
    metrics.ERRORS.labels(exc.kind.code).inc()
    return Response(exc.envelope(), status_code=exc.kind.http_status)


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
    error = ScaiEchoError(kind, message, details)
    metrics.ERRORS.labels(kind.code).inc()
    return Response(error.envelope(), status_code=exc.status_code, headers=exc.headers)


def nesting_error_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # The JSON decoders recurse per nesting level: a body nested 100,000 deep ends here while
    # being parsed, before any handler of ours runs. The client's error, not a crash; logged
    # (path only: the query may hold a token) so a recursion bug of our own stays visible.
    logger.warning("request nested too deeply on %s %s", request.method, request.url.path)
    error = ScaiEchoError(VALIDATION_ERROR, "request body is nested too deeply", {"field": "body"})
    metrics.ERRORS.labels(VALIDATION_ERROR.code).inc()
    return Response(error.envelope(), status_code=VALIDATION_ERROR.http_status)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = ScaiEchoError(INTERNAL_ERROR, "internal server error")
    metrics.ERRORS.labels(INTERNAL_ERROR.code).inc()
    return Response(error.envelope(), status_code=500)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ScaiEchoError: scaiecho_error_handler,
    HTTPException: http_error_handler,
    RecursionError: nesting_error_handler,
    Exception: unexpected_error_handler,
}
