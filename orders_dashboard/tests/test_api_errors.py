"""The API's error envelope for every kind of error, the request id, JSON-only answers, and paths without
(or with) trailing slashes. Responses are checked against the OpenAPI schema by the client."""

import json

import pytest
from django.test import Client

from orders.models import Order
from orders.tests import api_support
from orders.tests.api_support import API

# The API fixtures of api_support, bound here so that this module's tests can ask for them.
anon_api, api, api_key = api_support.anon_api, api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db

ENVELOPE_KEYS = {"code", "key", "message", "details", "request_id"}


def assert_envelope(response, status: int, key: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) >= ENVELOPE_KEYS, body
    assert (body["code"], body["key"]) == (status, key), body
    assert isinstance(body["message"], str) and isinstance(body["details"], str) and body["details"]
    assert body["request_id"] == response["X-Request-Id"]
    return body


def raw_post(api, path, data: bytes, content_type="application/json", **extra):
    return api.generic("POST", path, data, content_type=content_type, **extra)


def test_malformed_json_is_a_400_envelope(api):
    body = assert_envelope(raw_post(api, f"{API}/orders", b'{"amount": 1,'), 400, "malformed_payload")
    assert "JSON" in body["details"]


@pytest.mark.parametrize("payload", [b"[]", b'"order"', b"null", b"42"])
def test_a_body_that_is_not_an_object_is_refused(api, payload):
    body = assert_envelope(raw_post(api, f"{API}/orders", payload), 400, "invalid_payload")
    assert "JSON object" in body["details"]


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b'{"amount": NaN}', "NaN"),
        (b'{"amount": 1e400}', "out of range"),
        (b'{"metadata": {"a": "\\u0000"}}', "NUL"),
        (b'{"metadata": {"\\u0000": 1}}', "NUL"),
        (b'{"metadata": {"a": "\\ud800"}}', "surrogate"),
        (b'{"metadata": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, "nested"),
        (b'{"amount": ' + b"9" * 5000 + b"}", "digits"),
        ('{"source_id": "caf\xe9"}'.encode("latin-1"), "UTF-8"),
    ],
)
def test_json_that_cannot_be_stored_is_refused_before_the_database(api, payload, words):
    body = assert_envelope(raw_post(api, f"{API}/orders", payload), 400, "malformed_payload")
    assert words in body["details"]
    assert not Order.objects.exists()


def test_numbers_beyond_64_bits_are_a_400_not_a_500(api):
    # Each value is within what the services accept, their product is not.
    body = {"items": [{"source_id": "big", "quantity": 10**9, "price": 10**15}]}
    response = api.post(f"{API}/orders", body, format="json")
    assert_envelope(response, 400, "invalid_payload")
    assert not Order.objects.exists()


def test_unknown_paths_under_api_are_json_404s_without_redirects(api):
    for path in ("/api/v1/nothing", "/api/v1/nothing/", "/api/v2/orders", "/api", "/api/", "/api/v1/orders/x/y"):
        body = assert_envelope(api.get(path), 404, "not_found")
        assert body["resource_type"] == "endpoint"


def test_unknown_path_post_without_csrf_is_still_a_json_404(db):
    client = Client(enforce_csrf_checks=True)
    assert_envelope(client.post("/api/v1/nothing", "{}", content_type="application/json"), 404, "not_found")


def test_method_not_allowed_is_a_405_envelope(api):
    order_path = f"{API}/orders/ord_x"
    for method in ("DELETE", "PATCH", "POST"):
        response = api.generic(method, order_path, b"{}", content_type="application/json")
        body = assert_envelope(response, 405, "method_not_allowed")
        assert method in body["details"]
    assert_envelope(api.delete(f"{API}/orders"), 405, "method_not_allowed")


def test_post_without_trailing_slash_works_and_with_one_too(api):
    for path in (f"{API}/orders", f"{API}/orders/"):
        response = api.post(path, {"amount": 100}, format="json")
        assert response.status_code == 200, response.content
    assert Order.objects.count() == 2


def test_oversized_body_is_a_413_before_it_is_read(api, settings):
    settings.API_MAX_BODY_BYTES = 1000
    payload = json.dumps({"metadata": {"note": "x" * 2000}}).encode()
    body = assert_envelope(raw_post(api, f"{API}/orders", payload), 413, "payload_too_large")
    assert "1000" in body["details"]
    # a body whose declared length understates it is cut off by the parser, with the same answer
    response = raw_post(api, f"{API}/orders", payload, CONTENT_LENGTH="999")
    assert response.status_code in (400, 413)
    assert not Order.objects.exists()


def test_non_json_content_type_is_a_415(api):
    response = raw_post(api, f"{API}/orders", b"amount=1", content_type="application/x-www-form-urlencoded")
    assert_envelope(response, 415, "unsupported_media_type")


def test_json_whatever_the_accept_header(api):
    response = api.get(f"{API}/orders/ord_missing", HTTP_ACCEPT="text/html")
    assert_envelope(response, 404, "not_found")
    assert api.get(f"{API}/orders", HTTP_ACCEPT="application/xml")["Content-Type"] == "application/json"


def test_every_response_has_a_request_id_and_each_is_new(api):
    first, second = api.get(f"{API}/orders"), api.get(f"{API}/orders")
    assert first["X-Request-Id"].startswith("v-") and first["X-Request-Id"] != second["X-Request-Id"]


def test_an_unexpected_error_is_a_500_envelope_and_is_logged(api, monkeypatch, caplog):
    from orders.api import views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.selectors, "order_find", broken)
    api.raise_request_exception = False
    response = api.get(f"{API}/orders/ord_x")
    body = assert_envelope(response, 500, "internal_error")
    assert "boom" not in body["details"]
    assert any(body["request_id"] in record.getMessage() for record in caplog.records)
