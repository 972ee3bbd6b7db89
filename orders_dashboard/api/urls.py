"""Everything under /api. A client whose base URL is ``http://host/api`` calls ``/api/v1/orders``.

- ``v1/``: the API's versioned endpoints. Each app adds its routes to ``V1`` as an include; routes that
  share a prefix with another app's ``{id}`` route go first (``orders/import`` and ``orders/export`` must
  come before the orders routes, or ``orders/{id}`` would take them).
- ``schema``: the OpenAPI description (needs an API key); ``docs``: its reference page for signed-in staff.
- Anything else under /api is a 404 in the error envelope: never an HTML page, never an APPEND_SLASH
  redirect (a path that matches something is never redirected, and the catch-all matches everything).
"""

from django.urls import include, path, re_path

from . import schema  # noqa: F401 — registers the API-key security scheme with drf-spectacular
from .errors import api_not_found
from .views import SchemaView, api_docs

app_name = "api"

V1 = [
    # Bulk import and export jobs (another change) go here, above the orders routes.
    path("", include("orders.api.urls")),
    path("", include("rules.api.urls")),  # validations, redemptions, rollbacks
    path("", include("segments.api.urls")),
]

urlpatterns = [
    path("v1/", include(V1)),
    re_path(r"^schema/?$", SchemaView.as_view(), name="schema"),
    re_path(r"^docs/?$", api_docs, name="docs"),
    re_path(r"", api_not_found),
]
