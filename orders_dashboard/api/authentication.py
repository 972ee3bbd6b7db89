"""Authentication of the REST API: the ``X-App-Id`` and ``X-App-Token`` headers, nothing else (no session,
no cookie: a browser signed in to the dashboard gets 401 from the API like anyone without a key).

Views get ``request.auth``: the ``ApiKey``; ``request.user``: an ``ApiClient`` (authenticated, not a
Django user); ``api_actor(request)``: the activity actor named after the key.
"""

from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from orders.events import Actor
from orders_dashboard.models import ApiKey

from .keys import api_key_check, touch

APP_ID_HEADER = "X-App-Id"
TOKEN_HEADER = "X-App-Token"  # noqa: S105 — a header name, not a secret


@dataclass(frozen=True)
class ApiClient:
    """Who is calling: the holder of an API key."""

    key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    def __str__(self) -> str:
        return self.key.name


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        app_id = request.META.get("HTTP_X_APP_ID", "")
        token = request.META.get("HTTP_X_APP_TOKEN", "")
        if not app_id and not token:
            return None  # → NotAuthenticated (401) from the permission check
        if not app_id or not token:
            raise exceptions.AuthenticationFailed(f"Send both the {APP_ID_HEADER} and {TOKEN_HEADER} headers.")
        key = api_key_check(app_id, token)
        if key is None:
            raise exceptions.AuthenticationFailed("The app id and token do not name an active API key.")
        touch(key)
        return ApiClient(key=key), key

    def authenticate_header(self, request) -> str:
        # Any value makes DRF answer 401 (not 403) to a request without credentials.
        return f'{TOKEN_HEADER} realm="api"'


class HasApiKey(BasePermission):
    message = f"Authenticate with the {APP_ID_HEADER} and {TOKEN_HEADER} headers of an active API key."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


def api_actor(request) -> Actor:
    """The actor recorded in order activity for this request: the API key, by its name."""
    key: ApiKey = request.auth
    return Actor.for_api_key(key_id=key.app_id, name=key.name)
