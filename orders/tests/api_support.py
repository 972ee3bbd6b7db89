"""Test support for the REST API: an API client that checks every response against the OpenAPI schema,
and fixtures for keys and clients. Test modules import the fixtures they use:

    from orders.tests.api_support import api, api_key, anon_api  # noqa: F401 — fixtures

``SchemaCheckingClient`` is DRF's APIClient plus one check after every request: the response's status must
be documented for that operation in ``/api/schema`` (404/405 outside any operation: the error envelope), and
its JSON body must validate against the documented schema, read strictly: an object may have no key that
its schema does not list. So the schema cannot drift from what the API really returns.
"""

import copy
import json
import re
from functools import cache

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from orders_dashboard.api.keys import api_key_create

API = "/api/v1"


@cache
def openapi_schema() -> dict:
    schema = SchemaGenerator(urlconf=settings.ROOT_URLCONF).get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def _strict(node):
    """Every object schema that lists its properties allows no others (the generator leaves that open)."""
    if isinstance(node, dict):
        node = {key: _strict(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


@cache
def _strict_components() -> dict:
    return _strict(copy.deepcopy(openapi_schema()["components"]))


def _operation(method: str, path: str) -> tuple[str, dict] | None:
    for template, item in openapi_schema()["paths"].items():
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "/?$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    return None


def check_against_schema(method: str, path: str, response) -> None:
    if not path.startswith(API) or response.get("Content-Type", "").split(";")[0] != "application/json":
        assert not path.startswith(API), f"{method} {path}: {response.status_code} is not JSON"
        return
    found = _operation(method, path)
    if found is None:
        assert response.status_code in (401, 404, 405), f"{method} {path} is no documented operation"
        schema = {"$ref": "#/components/schemas/Error"}
    else:
        template, operation = found
        documented = operation["responses"].get(str(response.status_code))
        assert documented, f"{method} {template}: status {response.status_code} is not documented"
        schema = documented["content"]["application/json"]["schema"]
    root = {**_strict(schema), "components": _strict_components()}
    errors = sorted(Draft202012Validator(root).iter_errors(response.json()), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method} {path} → {response.status_code}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )


class SchemaCheckingClient(APIClient):
    def request(self, **kwargs):
        response = super().request(**kwargs)
        check_against_schema(kwargs["REQUEST_METHOD"], kwargs["PATH_INFO"], response)
        return response


@pytest.fixture
def api_key(db):
    return api_key_create(name="Test shop backend")


@pytest.fixture
def api(api_key):
    client = SchemaCheckingClient()
    client.credentials(HTTP_X_APP_ID=api_key.key.app_id, HTTP_X_APP_TOKEN=api_key.token)
    return client


@pytest.fixture
def anon_api(db):
    return SchemaCheckingClient()
