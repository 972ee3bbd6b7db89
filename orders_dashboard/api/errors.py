"""The API's error envelope, for every error the API can answer (Voucherify's shape):

    {"code": 404, "key": "not_found", "message": "Resource not found",
     "details": "Cannot find order with id ord_…", "request_id": "v-…",
     "resource_type": "order", "resource_id": "ord_…"}

- ``code`` is the HTTP status, ``key`` a stable machine-readable reason, ``message`` a short title and
  ``details`` the human explanation;
- ``invalid_payload`` (400) also has ``errors``: field path (``items[0].quantity``, ``customer.email``;
  ``""`` for the body as a whole) → messages, and its ``details`` names the paths;
- ``not_found`` (404) has ``resource_type`` and ``resource_id``.

``exception_handler`` (DRF's EXCEPTION_HANDLER) turns DRF's own errors, the orders domain errors
(``orders.exceptions.OrdersError``) and anything unexpected (a 500, logged) into the envelope;
``error_response`` builds one by hand; ``api_not_found`` answers unknown paths under ``/api``.
"""

import logging
import secrets

from django.core import signals
from django.core.exceptions import PermissionDenied
from django.db import DataError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from orders.exceptions import InvalidInput, NotFound, OrdersError

from .exceptions import MalformedPayload, PayloadTooLarge  # noqa: F401 — PayloadTooLarge: re-exported

logger = logging.getLogger("orders_dashboard.api")

REQUEST_ID_HEADER = "X-Request-Id"

# key and message (title) per HTTP status, for errors that bring no key of their own
TITLES = {
    400: ("invalid_payload", "Invalid payload"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Resource not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("too_many_requests", "Too many requests"),
    500: ("internal_error", "Internal server error"),
}


# --- request id ------------------------------------------------------------------------------------------


def request_id(request) -> str:
    """This request's id (made on first use, kept on the Django request): in every error body and in the
    X-Request-Id header of every API response, so a client's report can be found in the logs."""
    django_request = getattr(request, "_request", request)
    rid = getattr(django_request, "api_request_id", None)
    if rid is None:
        rid = "v-" + secrets.token_hex(9)
        django_request.api_request_id = rid
    return rid


# --- errors ----------------------------------------------------------------------------------------------


def flatten_errors(detail, path: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors → {field path: [messages]}, paths written as ``items[0].quantity``."""
    flat: dict[str, list[str]] = {}

    def walk(node, at: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("non_field_errors", "__all__"):
                    walk(value, at)
                elif isinstance(key, int):
                    walk(value, f"{at}[{key}]")
                else:
                    walk(value, f"{at}.{key}" if at else str(key))
        elif isinstance(node, (list, tuple)):
            if all(isinstance(item, str) for item in node):
                flat.setdefault(at, []).extend(str(item) for item in node)
            else:
                for index, item in enumerate(node):
                    if item:
                        walk(item, f"{at}[{index}]")
        elif node:
            flat.setdefault(at, []).append(str(node))

    walk(detail, path)
    return flat


def describe_errors(errors: dict[str, list[str]]) -> str:
    """``items[0].quantity: must be at least 1; customer.email: …`` (the body itself has no path)."""
    return "; ".join(
        f"{path}: {message}" if path else message for path, messages in errors.items() for message in messages
    )


def envelope(status_code: int, *, request, key: str | None = None, message: str | None = None, details="", **extra):
    default_key, default_message = TITLES.get(status_code, ("error", "Error"))
    body = {
        "code": status_code,
        "key": key or default_key,
        "message": message or default_message,
        "details": str(details or message or default_message),
        "request_id": request_id(request),
    }
    body.update(extra)
    return body


def error_response(status_code: int, *, request, headers=None, **fields) -> Response:
    return Response(envelope(status_code, request=request, **fields), status=status_code, headers=headers)


def invalid_payload(errors: dict[str, list[str]], *, request, message: str = "Invalid payload") -> Response:
    return error_response(
        400, request=request, key="invalid_payload", message=message, details=describe_errors(errors), errors=errors
    )


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)

    if isinstance(exc, OrdersError):
        set_rollback()
        if isinstance(exc, NotFound):
            return error_response(
                404,
                request=request,
                key=exc.code,
                details=exc.message,
                resource_type=exc.resource_type,
                resource_id=exc.resource_id,
            )
        if isinstance(exc, InvalidInput):
            return invalid_payload(exc.errors or {"": [exc.message]}, request=request)
        extra = {"errors": exc.errors} if exc.errors else {}
        return error_response(
            exc.status, request=request, key=exc.code, message=_title(exc.code), details=exc.message, **extra
        )

    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        return invalid_payload(flatten_errors(exc.detail) or {"": ["Invalid payload"]}, request=request)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = exc.status_code
        key = None
        if isinstance(exc, MalformedPayload) or (isinstance(exc, exceptions.ParseError) and code == 400):
            key = "malformed_payload"
        return error_response(code, request=request, key=key, details=_text(exc.detail), headers=headers)

    if isinstance(exc, (DataError, OverflowError)):
        # A number past what the database column holds (e.g. a price × quantity beyond 64 bits): bad input,
        # caught here as the last line, since the services bound each value but not every product of them.
        set_rollback()
        logger.warning("API request %s: value out of range: %s", request_id(request), exc)
        return error_response(
            400,
            request=request,
            key="invalid_payload",
            details="A number in the request is out of range (amounts are integers below 10^15).",
            errors={"": ["A number in the request is out of range."]},
        )

    # Anything else is our bug: log it with the request id, tell Django's machinery (the test client
    # re-raises it; error reporting sees it), and still answer in the envelope.
    set_rollback()
    django_request = getattr(request, "_request", request)
    logger.error("API request %s failed", request_id(request), exc_info=exc)
    signals.got_request_exception.send(sender=None, request=django_request)
    return error_response(500, request=request, details="Something went wrong on our side; the request id says where.")


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _text(detail) -> str:
    if isinstance(detail, (list, tuple)):
        return "; ".join(_text(item) for item in detail)
    if isinstance(detail, dict):
        return describe_errors(flatten_errors(detail))
    return str(detail)


@csrf_exempt
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any path under /api that names no endpoint: 404 in the envelope (never an HTML page, never a
    redirect to a slash-ended URL)."""
    body = envelope(
        404,
        request=request,
        details=f"No API endpoint at {request.path}.",
        resource_type="endpoint",
        resource_id=request.path,
    )
    response = JsonResponse(body, status=404)
    response[REQUEST_ID_HEADER] = body["request_id"]
    return response
