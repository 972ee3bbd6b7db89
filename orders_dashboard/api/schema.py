"""OpenAPI pieces shared by every API app: the API-key security scheme and the error envelope.

drf-spectacular finds the extension below when this module is imported (``orders_dashboard.api.urls``
imports it). Views document their errors with ``error_responses(400, 404, …)``.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .authentication import APP_ID_HEADER, TOKEN_HEADER


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "orders_dashboard.api.authentication.ApiKeyAuthentication"
    name = ["AppId", "AppToken"]  # both headers, together

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": APP_ID_HEADER, "description": "The API key's app id."},
            {"type": "apiKey", "in": "header", "name": TOKEN_HEADER, "description": "The API key's secret token."},
        ]


def without_slash_aliases(endpoints):
    """drf-spectacular preprocessing hook: API routes accept an optional trailing slash (``orders/?``); the
    schema documents each path once, without it."""
    cleaned = []
    for path, path_regex, method, callback in endpoints:
        cleaned.append((path.rstrip("/") or path, path_regex, method, callback))
    return cleaned


class ErrorSerializer(serializers.Serializer):
    """The error envelope (orders_dashboard.api.errors)."""

    code = serializers.IntegerField(help_text="The HTTP status code.")
    key = serializers.CharField(help_text="A stable, machine-readable reason, e.g. invalid_payload, not_found.")
    message = serializers.CharField(help_text="A short title of the error.")
    details = serializers.CharField(help_text="What went wrong; for invalid_payload, the field paths and messages.")
    request_id = serializers.CharField(help_text="This request's id, also sent as the X-Request-Id header.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='invalid_payload only: field path (e.g. "items[0].quantity"; "" for the whole body) → messages.',
    )
    resource_type = serializers.CharField(required=False, help_text="not_found only: what was looked for.")
    resource_id = serializers.CharField(required=False, help_text="not_found only: the id that found nothing.")

    class Meta:
        ref_name = "Error"


ERROR_DESCRIPTIONS = {
    400: "Invalid payload (``errors`` names each bad field by its path) or malformed JSON.",
    401: "No, wrong or revoked API key.",
    403: "Forbidden.",
    404: "Not found (``resource_type``, ``resource_id``).",
    405: "Method not allowed.",
    409: "Version conflict: the order changed since the version given in If-Match.",
    413: "Request body too large.",
    415: "The body is not JSON.",
    500: "Our bug; the request id finds it in the logs.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``@extend_schema(responses=...)``; 401 and 500 apply to every endpoint."""
    wanted = sorted({*statuses, 401, 500})
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS.get(code, "")) for code in wanted}
