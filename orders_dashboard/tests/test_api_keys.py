"""API keys: storage, authentication of API requests, the Admin pages, the command, and the schema and docs
URLs' access rules."""

import datetime as dt
import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from orders.tests import api_support
from orders.tests.api_support import API
from orders.tests.factories import make_order
from orders_dashboard.api.keys import api_key_check, api_key_create, api_key_revoke
from orders_dashboard.models import ApiKey

# The API fixtures of api_support, bound here so that this module's tests can ask for them.
anon_api, api, api_key = api_support.anon_api, api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db


def unauthorized(response):
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert (body["code"], body["key"]) == (401, "unauthorized")
    assert body["request_id"] == response["X-Request-Id"]
    assert "X-App-Token" in response["WWW-Authenticate"]
    return body


# --- keys -----------------------------------------------------------------------------------------------


def test_only_a_sha256_of_the_token_is_stored(api_key):
    key = ApiKey.objects.get(pk=api_key.key.pk)
    assert len(api_key.token) >= 43  # 32 random bytes
    assert key.token_hash == hashlib.sha256(api_key.token.encode()).hexdigest()
    stored = json.dumps(list(ApiKey.objects.values()), default=str)
    assert api_key.token not in stored


def test_check_accepts_only_the_right_pair_of_an_active_key(api_key):
    app_id, token = api_key.key.app_id, api_key.token
    assert api_key_check(app_id, token) == api_key.key
    assert api_key_check(app_id, token + "x") is None
    assert api_key_check("unknown", token) is None
    assert api_key_check(app_id, "") is None
    api_key_revoke(key=api_key.key)
    assert api_key_check(app_id, token) is None


def test_keys_need_a_name():
    with pytest.raises(ValueError, match="name"):
        api_key_create(name="   ")
    with pytest.raises(ValueError, match="100"):
        api_key_create(name="x" * 101)


# --- authentication of API requests ----------------------------------------------------------------------


def test_a_valid_key_is_let_in_and_its_use_recorded(api, api_key):
    assert ApiKey.objects.get(pk=api_key.key.pk).last_used_at is None
    assert api.get(f"{API}/orders").status_code == 200
    first = ApiKey.objects.get(pk=api_key.key.pk).last_used_at
    assert first is not None
    assert api.get(f"{API}/orders").status_code == 200
    assert ApiKey.objects.get(pk=api_key.key.pk).last_used_at == first  # at most once a minute
    ApiKey.objects.filter(pk=api_key.key.pk).update(last_used_at=timezone.now() - dt.timedelta(minutes=2))
    assert api.get(f"{API}/orders").status_code == 200
    assert ApiKey.objects.get(pk=api_key.key.pk).last_used_at > first


@pytest.mark.parametrize(
    "path", [f"{API}/orders", f"{API}/orders/ord_x", f"{API}/customers", f"{API}/customers/cust_x", "/api/schema"]
)
def test_requests_without_a_key_get_401(anon_api, path):
    unauthorized(anon_api.get(path))


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", f"{API}/orders"), ("put", f"{API}/orders/ord_x"), ("post", f"{API}/customers")],
)
def test_writes_without_a_key_get_401_and_change_nothing(anon_api, method, path):
    unauthorized(getattr(anon_api, method)(path, {"amount": 1}, format="json"))
    from orders.models import Order

    assert not Order.objects.exists()


def test_wrong_unknown_half_and_revoked_keys_get_401(anon_api, api_key):
    app_id, token = api_key.key.app_id, api_key.token
    for headers in (
        {"HTTP_X_APP_ID": app_id, "HTTP_X_APP_TOKEN": token[:-1] + ("A" if token[-1] != "A" else "B")},
        {"HTTP_X_APP_ID": "00000000-0000-0000-0000-000000000000", "HTTP_X_APP_TOKEN": token},
        {"HTTP_X_APP_ID": app_id},
        {"HTTP_X_APP_TOKEN": token},
    ):
        unauthorized(anon_api.get(f"{API}/orders", **headers))
    good = {"HTTP_X_APP_ID": app_id, "HTTP_X_APP_TOKEN": token}
    assert anon_api.get(f"{API}/orders", **good).status_code == 200
    api_key_revoke(key=api_key.key)
    unauthorized(anon_api.get(f"{API}/orders", **good))


def test_a_dashboard_session_alone_does_not_open_the_api(anon_api, admin_user):
    anon_api.force_login(admin_user)
    unauthorized(anon_api.get(f"{API}/orders"))
    unauthorized(anon_api.post(f"{API}/orders", {"amount": 1}, format="json"))
    unauthorized(anon_api.get("/api/schema"))


# --- the schema and the docs page ---------------------------------------------------------------------


def test_schema_is_openapi_3_1_json_with_every_endpoint(api):
    response = api.get("/api/schema")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/") and "json" in response["Content-Type"]
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.1")
    assert {
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
    } <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/orders"]) >= {"get", "post"}
    assert set(schema["components"]["securitySchemes"]) == {"AppId", "AppToken"}
    assert {"Order", "OrderItem", "Error", "Customer", "OrderList"} <= set(schema["components"]["schemas"])
    list_parameters = {p["name"] for p in schema["paths"]["/api/v1/orders"]["get"]["parameters"]}
    assert {"limit", "page", "order", "status", "customer", "metadata", "q"} <= list_parameters
    assert "sort" not in list_parameters


def test_docs_page_needs_a_signed_in_staff_member(client, outsider, viewer):
    url = reverse("api:docs")
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    client.force_login(viewer)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html.split("openapi-schema")[0]
    assert '"/api/v1/orders"' in html  # the schema, embedded
    assert page["Cache-Control"].startswith("max-age=0")


# --- Admin pages ---------------------------------------------------------------------------------------


def page_urls(key_id: int):
    return [
        ("get", reverse("api_keys:list")),
        ("get", reverse("api_keys:new")),
        ("post", reverse("api_keys:new")),
        ("post", reverse("api_keys:revoke", args=[key_id])),
    ]


def test_key_pages_send_anonymous_people_to_login(client, api_key):
    for method, url in page_urls(api_key.key.pk):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["viewer", "manager", "outsider"])
def test_key_pages_are_for_admins_only(client, api_key, request, role):
    client.force_login(request.getfixturevalue(role))
    for method, url in page_urls(api_key.key.pk):
        assert getattr(client, method)(url, {"name": "x"}).status_code == 403, url
    assert ApiKey.objects.count() == 1 and ApiKey.objects.get().is_active
    assert b"API keys" not in client.get("/").content


def test_admin_creates_a_key_and_sees_its_token_once(client, admin_user):
    client.force_login(admin_user)
    assert b'href="/api-keys/"' in client.get(reverse("api_keys:list")).content  # the nav link
    form = client.get(reverse("api_keys:new"))
    assert form.status_code == 200 and b'name="name"' in form.content
    response = client.post(reverse("api_keys:new"), {"name": "Web shop"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    assert (key.name, key.created_by) == ("Web shop", admin_user)
    html = response.content.decode()
    token = html.split('<code id="token">')[1].split("</code>")[0]
    assert api_key_check(key.app_id, token) == key
    listing = client.get(reverse("api_keys:list")).content.decode()
    assert key.app_id in listing and "Web shop" in listing and token not in listing
    assert token not in client.get(reverse("api_keys:new")).content.decode()


def test_admin_gets_the_form_back_with_an_error_for_a_blank_name(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("api_keys:new"), {"name": "  "})
    assert response.status_code == 200 and b"aria-invalid" in response.content
    assert not ApiKey.objects.exists()


def test_admin_revokes_a_key_and_its_requests_are_refused(client, admin_user, anon_api, api_key):
    client.force_login(admin_user)
    assert client.get(reverse("api_keys:revoke", args=[api_key.key.pk])).status_code == 405
    response = client.post(reverse("api_keys:revoke", args=[api_key.key.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("api_keys:list")
    key = ApiKey.objects.get()
    assert key.revoked_at is not None and key.revoked_by == admin_user
    unauthorized(anon_api.get(f"{API}/orders", HTTP_X_APP_ID=key.app_id, HTTP_X_APP_TOKEN=api_key.token))
    listing = client.get(reverse("api_keys:list")).content.decode()
    assert "revoked" in listing and "Revoke the key" not in listing
    assert client.post(reverse("api_keys:revoke", args=[999999])).status_code == 404


# --- the command ----------------------------------------------------------------------------------------


def test_create_api_key_command_prints_a_working_key(anon_api, admin_user):
    out = io.StringIO()
    call_command(
        "create_api_key", "Nightly sync", "--created-by", admin_user.username, stdout=out, stderr=io.StringIO()
    )
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    key = ApiKey.objects.get(app_id=lines["X-App-Id"])
    assert (key.name, key.created_by) == ("Nightly sync", admin_user)
    order = make_order()
    headers = {"HTTP_X_APP_ID": lines["X-App-Id"], "HTTP_X_APP_TOKEN": lines["X-App-Token"]}
    response = anon_api.put(f"{API}/orders/{order.pk}", {"status": "PAID"}, format="json", **headers)
    assert response.status_code == 200
    assert order.events.order_by("-id").first().actor_name == "Nightly sync"


def test_create_api_key_command_refuses_an_unknown_creator_and_a_blank_name():
    with pytest.raises(CommandError, match="nobody"):
        call_command("create_api_key", "x", "--created-by", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError, match="name"):
        call_command("create_api_key", " ", stdout=io.StringIO())
    assert not ApiKey.objects.exists()
