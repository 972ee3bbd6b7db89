"""What every API view shares, the OpenAPI schema and its docs page.

Every API view derives from ``ApiView`` (or mixes in ``ApiViewMixin``): API-key authentication, JSON in
and out, the error envelope, a request id on every response, and a body-size limit checked before the
body is read (``max_body_bytes``; a view that takes bigger bodies, like a bulk import, raises its own).
"""

import json

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiJsonRenderer2
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from orders_dashboard.access import require_perms

from .errors import REQUEST_ID_HEADER, request_id
from .exceptions import PayloadTooLarge
from .parsers import max_body_bytes


class ApiViewMixin:
    max_body_bytes: int | None = None  # None: settings.API_MAX_BODY_BYTES

    def initial(self, request, *args, **kwargs):
        # Refuse an oversized body by its declared length before anything reads it (the parser also stops
        # reading past the limit, for bodies that understate their length).
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = max_body_bytes(self)
        if length > limit:
            raise PayloadTooLarge(f"The request body is {length} bytes; the limit is {limit} bytes.")
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response[REQUEST_ID_HEADER] = request_id(request)
        return response


class ApiView(ApiViewMixin, APIView):
    pass


def json_object_body(request) -> dict:
    """The request's JSON body, which must be an object (400 naming the whole body otherwise)."""
    if not isinstance(request.data, dict):
        raise ValidationError({"": ["The request body must be a JSON object."]})
    return request.data


class SchemaView(ApiViewMixin, SpectacularAPIView):
    """``GET /api/schema``: the OpenAPI 3.1 description of the API, as JSON; needs an API key like every
    other endpoint (staff read it on the docs page)."""

    renderer_classes = [OpenApiJsonRenderer2]  # application/json, errors included


@require_perms("orders.view_order")
@never_cache
def api_docs(request):
    """``/api/docs``: the API reference for signed-in staff: Swagger UI served from our own static files
    (drf-spectacular-sidecar; no CDN), showing the schema that ``/api/schema`` serves, embedded in the page
    so that reading it needs no API key."""
    generator = SchemaGenerator(patterns=None, urlconf=settings.ROOT_URLCONF)
    schema = generator.get_schema(request=None, public=True)
    # The JSON renderer's encoder handles the lazy strings and enums a schema may hold.
    schema_json = json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))
    return render(request, "api_keys/docs.html", {"schema": schema_json})
