"""Export jobs through the API: POST /v1/orders/export, GET /v1/exports/{id}, GET /v1/exports/{id}/download,
and the dashboard's view of them. JSON responses are checked against the OpenAPI schema by the client
(orders/tests/api_support.py); the CSV downloads go through plain clients (the schema client reads JSON)."""

import csv
import datetime as dt
import io
import logging
import signal
import time
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from orders import export_jobs
from orders.choices import ActorType, MetadataObject, MetadataType, OrderStatus
from orders.export import CSVStream
from orders.models import Export, ExportStatus, MetadataSchema, MetadataSchemaProperty, Order, OrderEvent
from orders.tests import api_support
from orders.tests.api_support import API
from orders.tests.factories import CustomerFactory, make_order

anon_api, api, api_key = api_support.anon_api, api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db
UTC = dt.UTC
EXPORT = f"{API}/orders/export"
FIELDS = ["id", "source_id", "status", "amount", "created_at", "metadata.channel"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def key_client(api_key):
    """The API key's client without the schema check (which reads JSON only): for the CSV downloads."""
    client = APIClient()
    client.credentials(HTTP_X_APP_ID=api_key.key.app_id, HTTP_X_APP_TOKEN=api_key.token)
    return client


def item(price: int) -> list[dict]:
    return [{"source_id": "prod-x", "related_object": "product", "quantity": 1, "price": price}]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(api, body, status=200) -> dict:
    response = api.post(EXPORT, body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def content(response) -> bytes:
    # Reading a streamed response to its end closes it (and the file it streams), as a WSGI server would.
    return b"".join(response.streaming_content) if response.streaming else response.content


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def dashboard_download(client, query: str, fields: list[str]) -> bytes:
    response = client.post(f"/orders/export/?{query}", {"fields": fields})
    assert response.status_code == 200
    return content(response)


def boundary_orders() -> set[str]:
    """Orders on both sides of every bound of the end-to-end filters; the source ids that pass them all."""
    wanted = set()
    cases = [
        # source id, status, created, amount, channel, passes
        ("in-first-minute", OrderStatus.PAID, "2026-03-02T00:00:00", 2001, "web", True),
        ("in-last-second", OrderStatus.FULFILLED, "2026-03-19T23:59:59.999999", 9000, "web", True),
        ("in-middle", OrderStatus.PAID, "2026-03-10T12:00:00", 5000, "web", True),
        ("day-before", OrderStatus.PAID, "2026-03-01T23:59:59", 5000, "web", False),
        ("day-after", OrderStatus.PAID, "2026-03-20T00:00:00", 5000, "web", False),
        ("amount-at-bound", OrderStatus.PAID, "2026-03-10T12:00:00", 2000, "web", False),
        ("amount-over", OrderStatus.PAID, "2026-03-10T12:00:00", 9001, "web", False),
        ("created", OrderStatus.CREATED, "2026-03-10T12:00:00", 5000, "web", False),
        ("canceled", OrderStatus.CANCELED, "2026-03-10T12:00:00", 5000, "web", False),
        ("app", OrderStatus.PAID, "2026-03-11T12:00:00", 5000, "app", False),
        ("=formula", OrderStatus.PAID, "2026-03-12T12:00:00", 7000, "web", True),
    ]
    for source_id, status, created, amount, channel, passes in cases:
        make_order(
            source_id=source_id,
            status=status,
            created_at=at(created),
            items=item(amount),
            metadata={"channel": channel},
        )
        if passes:
            wanted.add(source_id)
    return wanted


E2E_PARAMETERS = {
    "order": "-created_at",
    "fields": FIELDS,
    "filters": {
        "junction": "and",
        "status": {"conditions": {"$in": ["PAID", "FULFILLED"]}},
        "created_at": {"conditions": {"$after": "2026-03-02T00:00:00Z", "$before": "2026-03-20"}},
        "amount": {"conditions": {"$more_than": 2000, "$less_than_or_equal": 9000}},
        "metadata.channel": {"conditions": {"$is": "web"}},
    },
}
# The same selection as the orders list's query string (amounts in currency units, days inclusive).
E2E_QUERY = (
    "status=PAID&status=FULFILLED&created_from=2026-03-02&created_to=2026-03-19&amount_min=20.01&amount_max=90.00"
    "&metadata=channel%3Dweb"
)


# --- end to end --------------------------------------------------------------------------------------------


def test_export_job_end_to_end_equals_the_dashboard_download(api, api_key, key_client, client, manager):
    wanted = boundary_orders()
    events = OrderEvent.objects.count()

    created = schedule(api, {"parameters": E2E_PARAMETERS})
    assert created["id"].startswith("exp_") and created["object"] == "export"
    assert created["status"] == "DONE"  # the tests run tasks inline
    assert created["channel"] == "API" and created["exported_object"] == "order" and created["user_id"] is None
    assert created["parameters"] == E2E_PARAMETERS
    url = created["result"]["url"]
    assert url.startswith(f"http://testserver{API}/exports/{created['id']}/download?token=")

    export = Export.objects.get()
    assert export.filters == E2E_QUERY  # what the dashboard's list of exports shows and opens
    assert (export.status, export.fields, export.order) == (ExportStatus.DONE, FIELDS, "-created")
    assert (export.actor_type, export.actor_name, export.actor_id) == (
        ActorType.API_KEY,
        "Test shop backend",
        api_key.key.app_id,
    )
    assert export.file.name == f"exports/{export.created_at:%Y/%m}/{export.pk}.csv"
    assert export.method == ("copy" if connection.vendor == "postgresql" else "python")

    read = api.get(f"{API}/exports/{export.pk}").json()
    assert read["status"] == "DONE" and read["parameters"] == E2E_PARAMETERS
    assert read["created_at"] == created["created_at"] and read["created_at"].endswith("Z")

    by_token = Client().get(url)  # no API key: the token alone
    assert by_token.status_code == 200
    assert by_token["Content-Type"] == "text/csv; charset=utf-8"
    assert by_token["Content-Disposition"].startswith('attachment; filename="orders-')
    body = content(by_token)
    by_key = key_client.get(f"{API}/exports/{export.pk}/download")
    assert by_key.status_code == 200 and content(by_key) == body

    rows = rows_of(body)
    assert rows[0] == FIELDS
    assert {row[1] for row in rows[1:]} == {f"'{s}" if s.startswith("=") else s for s in wanted}
    assert [row[4] for row in rows[1:]] == sorted((row[4] for row in rows[1:]), reverse=True)
    assert export.row_count == len(rows) - 1 == len(wanted)
    assert export.size == len(body)

    client.force_login(manager)
    assert dashboard_download(client, E2E_QUERY, FIELDS) == body
    assert OrderEvent.objects.count() == events  # exports write no order, hence no activity


def test_without_parameters_the_job_exports_voucherifys_default_fields_oldest_first(api, key_client):
    make_order(source_id="newer", created_at=at("2026-02-01T00:00:00"))
    make_order(source_id="older", created_at=at("2026-01-01T00:00:00"))
    created = schedule(api, {})
    assert created["parameters"] == {"order": "created_at", "fields": ["id", "source_id", "status"]}
    body = content(key_client.get(f"{API}/exports/{created['id']}/download"))
    rows = rows_of(body)
    assert rows[0] == ["id", "source_id", "status"]
    assert [row[1] for row in rows[1:]] == ["older", "newer"]
    assert Export.objects.get().filters == "sort=created"


def test_parameters_may_also_come_at_the_top_level_of_the_body(api):
    body = {
        "fields": ["id", "total_amount"],
        "order": "updated_at",
        "filters": {"status": {"conditions": {"$is": "PAID"}}},
    }
    created = schedule(api, {"exported_object": "order", **body})
    assert created["parameters"] == body
    assert Export.objects.get().filters == "status=PAID&sort=updated"


def test_not_in_and_is_not_export_the_other_statuses(api):
    filters = {"status": {"conditions": {"$not_in": ["CANCELED"], "$is_not": "PAID"}}}
    schedule(api, {"parameters": {"filters": filters}})
    assert Export.objects.get().filters == "status=CREATED&status=FULFILLED&sort=created"


def test_dates_are_whole_days_a_date_excluding_itself(api):
    filters = {"updated_at": {"conditions": {"$after": "2026-03-01", "$before": "2026-03-31T00:00:00+00:00"}}}
    schedule(api, {"parameters": {"filters": filters, "order": "-created_at"}})
    assert Export.objects.get().filters == "updated_from=2026-03-02&updated_to=2026-03-30"


def test_amount_bounds_in_minor_units_become_the_lists_inclusive_bounds(api):
    filters = {
        "amount": {"conditions": {"$is": 1250}},
        "total_amount": {"conditions": {"$more_than_or_equal": 1, "$less_than": 100000, "$more_than": 99}},
    }
    schedule(api, {"parameters": {"filters": filters, "order": "-created_at"}})
    assert Export.objects.get().filters == "amount_min=12.50&amount_max=12.50&total_min=1.00&total_max=999.99"


def test_customer_and_typed_metadata_filters(api, key_client):
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER)
    MetadataSchemaProperty.objects.create(schema=schema, key="tier", type=MetadataType.NUMBER)
    MetadataSchemaProperty.objects.create(schema=schema, key="gift", type=MetadataType.BOOLEAN)
    ada, bob = CustomerFactory(), CustomerFactory()
    make_order(source_id="hit", customer=ada, metadata={"tier": 2, "gift": True})
    make_order(source_id="other-tier", customer=ada, metadata={"tier": 3, "gift": True})
    make_order(source_id="other-customer", customer=bob, metadata={"tier": 2, "gift": True})
    filters = {
        "customer_id": {"conditions": {"$in": [ada.pk]}},
        "metadata.tier": {"conditions": {"$is": 2}},
        "metadata.gift": {"conditions": {"$is": True}},
    }
    created = schedule(api, {"parameters": {"filters": filters, "fields": ["source_id"]}})
    assert Export.objects.get().filters == f"customer={ada.pk}&metadata=tier%3D2&metadata=gift%3Dtrue&sort=created"
    assert content(key_client.get(f"{API}/exports/{created['id']}/download")) == b"source_id\nhit\n"


def test_or_joining_a_single_condition_is_accepted(api):
    filters = {"junction": "or", "status": {"conditions": {"$in": ["PAID"]}}}
    assert schedule(api, {"parameters": {"filters": filters}})["status"] == "DONE"


# --- bad input -----------------------------------------------------------------------------------------------

STATUS_IN = "parameters.filters.status.conditions.$in"


def _p(**parameters):
    return {"parameters": parameters}


def _f(**filters):
    return _p(filters=filters)


def _c(**conditions):
    return {"conditions": conditions}


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        (_f(status=_c(**{"$in": ["SHIPPED"]})), STATUS_IN, "CREATED, PAID, CANCELED, FULFILLED"),
        (_f(status=_c(**{"$in": "PAID"})), STATUS_IN, "a list of statuses"),
        (_f(status=_c(**{"$in": []})), STATUS_IN, "a list of statuses"),
        (_f(status=_c(**{"$starts_with": "P"})), "parameters.filters.status.conditions.$starts_with", "$in, $is"),
        (_f(status=_c(**{"$not_in": list(OrderStatus.values)})), "parameters.filters.status.conditions", "no status"),
        (_f(status={"$in": ["PAID"]}), "parameters.filters.status", '{"conditions"'),
        (_f(source_id=_c(**{"$is": "x"})), "parameters.filters.source_id", "cannot filter by “source_id”"),
        (
            _f(junction="or", status=_c(**{"$is": "PAID"}), amount=_c(**{"$more_than": 5})),
            "parameters.filters.junction",
            '"or" is not supported',
        ),
        (_f(junction="xor"), "parameters.filters.junction", '"and" or "or"'),
        (_f(created_at=_c(**{"$after": "yesterday"})), "parameters.filters.created_at.conditions.$after", "ISO 8601"),
        (
            _f(created_at=_c(**{"$after": "2026-03-01T10:00:00Z"})),
            "parameters.filters.created_at.conditions.$after",
            "whole days",
        ),
        (_f(created_at=_c(**{"$after": "2026-02-30"})), "parameters.filters.created_at.conditions.$after", "ISO 8601"),
        (_f(updated_at=_c(**{"$more_than": 10})), "parameters.filters.updated_at.conditions.$more_than", "$after"),
        (
            _f(created_at=_c(**{"$after": "2026-03-10", "$before": "2026-03-05"})),
            "parameters.filters.created_at.conditions.$before",
            "end of the range is before its start",
        ),
        (_f(amount=_c(**{"$more_than": 12.5})), "parameters.filters.amount.conditions.$more_than", "minor units"),
        (_f(amount=_c(**{"$more_than": "1250"})), "parameters.filters.amount.conditions.$more_than", "minor units"),
        (_f(amount=_c(**{"$is": True})), "parameters.filters.amount.conditions.$is", "minor units"),
        (_f(amount=_c(**{"$less_than": 0})), "parameters.filters.amount.conditions.$less_than", "never negative"),
        (
            _f(total_amount=_c(**{"$more_than": 5000, "$less_than": 3000})),
            "parameters.filters.total_amount.conditions",
            "no amount",
        ),
        (_f(**{"metadata.vip": _c(**{"$is": 5})}), "parameters.filters.metadata.vip.conditions.$is", 'string ("5")'),
        (_f(**{"metadata.vip": _c(**{"$is": " "})}), "parameters.filters.metadata.vip.conditions.$is", "empty"),
        (_f(**{"metadata.a=b": _c(**{"$is": "x"})}), "parameters.filters.metadata.a=b", "“=”"),
        (_f(customer_id=_c(**{"$in": ["cust_a", "cust_b"]})), "parameters.filters.customer_id.conditions.$in", "one"),
        (_f(customer_id=_c(**{"$is": 7})), "parameters.filters.customer_id.conditions.$is", "customer id"),
        (_p(filters="status=PAID"), "parameters.filters", "Must be an object"),
        (_p(fields=["id", "password"]), "parameters.fields[1]", "“password” is not an order field"),
        (_p(fields=["metadata."]), "parameters.fields[0]", "metadata.<key>"),
        (_p(fields=[]), "parameters.fields", "default: id, source_id, status"),
        (_p(fields="id"), "parameters.fields", "list of field names"),
        (_p(fields=[f"metadata.k{n}" for n in range(101)]), "parameters.fields", "at most 100"),
        (_p(order="-status"), "parameters.order", "created_at, -created_at, updated_at, -updated_at"),
        (_p(limit=5), "parameters.limit", "order, fields and filters"),
        ({"parameters": "all"}, "parameters", "Must be an object"),
        ({"parameters": {}, "fields": ["id"]}, "fields", "inside parameters"),
        ({"exported_object": "customer"}, "exported_object", "exports orders"),
        ({"filters": {"status": {"conditions": {"$in": ["X"]}}}}, "filters.status.conditions.$in", "CREATED"),
        ({"fieldz": ["id"]}, "fieldz", "Unknown field"),
        ([], "", "JSON object"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_path_and_record_nothing(api, body, path, words):
    response = api.post(EXPORT, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["key"] == "invalid_payload"
    assert path in error["errors"], error["errors"]
    assert any(words in message for message in error["errors"][path]), error["errors"][path]
    assert not Export.objects.exists()


def test_a_customer_id_that_is_also_another_customers_source_id_is_refused(api):
    ada = CustomerFactory()
    CustomerFactory(source_id=ada.pk)
    response = api.post(EXPORT, _f(customer_id=_c(**{"$is": ada.pk})), format="json")
    assert response.status_code == 400
    assert "another customer" in response.json()["errors"]["parameters.filters.customer_id.conditions.$is"][0]


def test_a_metadata_value_that_does_not_fit_the_schema_type_is_refused(api):
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER)
    MetadataSchemaProperty.objects.create(schema=schema, key="tier", type=MetadataType.NUMBER)
    for value in ("gold", True):
        response = api.post(EXPORT, _f(**{"metadata.tier": _c(**{"$is": value})}), format="json")
        assert response.status_code == 400
        assert "parameters.filters.metadata.tier.conditions.$is" in response.json()["errors"]
    assert not Export.objects.exists()


# --- who may ----------------------------------------------------------------------------------------------


def test_every_url_needs_the_api_key(anon_api, api, admin_user):
    export_id = schedule(api, {})["id"]
    urls = [("post", EXPORT), ("get", f"{API}/exports/{export_id}"), ("get", f"{API}/exports/{export_id}/download")]
    for signed_in in (False, True):
        if signed_in:
            anon_api.force_login(admin_user)  # a dashboard session is no API key
        for method, url in urls:
            response = anon_api.post(url, {}, format="json") if method == "post" else anon_api.get(url)
            assert response.status_code == 401, url
            assert response.json()["key"] == "unauthorized"
    assert Export.objects.count() == 1


def test_the_token_opens_the_download_only(anon_api, api):
    url = schedule(api, {})["result"]["url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    export_id = Export.objects.get().pk
    assert anon_api.get(f"{API}/exports/{export_id}", {"token": token}).status_code == 401


def test_a_wrong_or_expired_token_is_a_401(anon_api, api):
    first, second = schedule(api, {})["id"], schedule(api, {})["id"]
    download = f"{API}/exports/{first}/download"
    for token in ("nonsense", "a:b", export_jobs.download_token(second), export_jobs.download_token(first) + "x"):
        response = anon_api.get(download, {"token": token})
        assert response.status_code == 401, token
        assert response.json()["details"] == "The download token is not valid for this export."

    an_hour_and_a_second_ago = time.time() - export_jobs.DOWNLOAD_TOKEN_MAX_AGE - 1
    with mock.patch("django.core.signing.time.time", return_value=an_hour_and_a_second_ago):
        stale = export_jobs.download_token(first)
    response = anon_api.get(download, {"token": stale})
    assert response.status_code == 401
    assert "expired" in response.json()["details"]
    with mock.patch("django.core.signing.time.time", return_value=an_hour_and_a_second_ago + 60):
        still_fresh = export_jobs.download_token(first)  # a minute short of the hour
    assert Client().get(download, {"token": still_fresh}).status_code == 200


# --- reading exports ----------------------------------------------------------------------------------------


def test_an_unknown_export_is_the_not_found_envelope(api):
    for url in (f"{API}/exports/exp_nope", f"{API}/exports/exp_nope/download"):
        response = api.get(url)
        assert response.status_code == 404
        body = response.json()
        assert (body["resource_type"], body["resource_id"]) == ("export", "exp_nope")


def test_a_dashboard_export_reads_as_website_with_no_result(api, client, manager, order):
    client.force_login(manager)
    dashboard_download(client, "status=CREATED&sort=-updated", ["id", "total_amount"])
    export = Export.objects.get()
    body = api.get(f"{API}/exports/{export.pk}").json()
    assert (body["channel"], body["status"], body["result"], body["user_id"]) == ("WEBSITE", "DONE", None, None)
    assert body["parameters"] == {"fields": ["id", "total_amount"], "order": "-updated_at"}
    response = api.get(f"{API}/exports/{export.pk}/download")
    assert response.status_code == 409
    assert "kept no file" in response.json()["details"]


def test_an_unfinished_export_cannot_be_downloaded_yet(api, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}  # a queue nobody works
    created = schedule(api, {})
    assert (created["status"], created["result"]) == ("SCHEDULED", None)
    response = api.get(f"{API}/exports/{created['id']}/download")
    assert response.status_code == 409
    assert response.json()["key"] == "export_not_ready"
    assert "SCHEDULED" in response.json()["details"]


def test_reading_an_export_costs_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    export_id = schedule(api, {})["id"]
    with django_assert_max_num_queries(4):  # the key, its last use, the export
        assert api.get(f"{API}/exports/{export_id}").status_code == 200


def test_a_file_gone_from_the_storage_is_a_404(api):
    export_id = schedule(api, {})["id"]
    Export.objects.get().file.delete(save=False)  # the record keeps its name
    response = api.get(f"{API}/exports/{export_id}/download")
    assert response.status_code == 404
    assert response.json()["resource_type"] == "export file"


# --- failures ---------------------------------------------------------------------------------------------


def test_a_job_whose_stream_fails_ends_in_error_with_the_reason(api, monkeypatch, caplog, order):
    def broken(self):
        yield self.header
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(CSVStream, "_generate", broken)
    with caplog.at_level(logging.ERROR, logger="orders.export_jobs"):
        created = schedule(api, {})
    assert (created["status"], created["result"]) == ("ERROR", None)
    export = Export.objects.get()
    assert export.status == ExportStatus.ERROR and "disk on fire" in export.error
    assert export.row_count is None and not export.file and export.finished_at
    assert any("failed" in record.message for record in caplog.records)
    assert api.get(f"{API}/exports/{export.pk}/download").status_code == 409


def test_a_job_runs_once(api):
    export_id = schedule(api, {})["id"]
    finished = Export.objects.get().finished_at
    assert export_jobs.export_job_run.call(export_id) == "SKIPPED"
    assert Export.objects.get().finished_at == finished


# --- the dashboard ----------------------------------------------------------------------------------------


def test_admins_see_api_exports_with_a_download_link(api, client, admin_user, manager, viewer):
    make_order(source_id="listed", status=OrderStatus.PAID)
    export_id = schedule(api, {"parameters": {"filters": {"status": {"conditions": {"$is": "PAID"}}}}})["id"]
    api_bytes = content(APIClient().get(api.get(f"{API}/exports/{export_id}").json()["result"]["url"]))

    client.force_login(admin_user)
    html = client.get("/orders/exports/").content.decode()
    link = f'href="/orders/exports/{export_id}/download/"'
    assert export_id in html and "Test shop backend" in html and "API key" in html and "Done" in html
    assert link in html
    assert 'href="/orders/?status=PAID&amp;sort=created"' in html  # "open in the list"
    response = client.get(f"/orders/exports/{export_id}/download/")
    assert response.status_code == 200 and content(response) == api_bytes == b"id,source_id,status\n" + (
        f"{Order.objects.get().pk},listed,PAID\n".encode()
    )

    client.force_login(manager)  # may export orders: may download (does not see the list)
    assert content(client.get(f"/orders/exports/{export_id}/download/")) == api_bytes
    client.force_login(viewer)
    assert client.get(f"/orders/exports/{export_id}/download/").status_code == 403
    client.logout()
    response = client.get(f"/orders/exports/{export_id}/download/")
    assert response.status_code == 302 and response["Location"].startswith(f"{reverse('login')}?next=")


def test_the_dashboard_offers_no_download_for_what_kept_no_file(client, admin_user, order):
    client.force_login(admin_user)
    dashboard_download(client, "", ["id"])
    export = Export.objects.get()
    assert "/download/" not in client.get("/orders/exports/").content.decode()
    assert client.get(f"/orders/exports/{export.pk}/download/").status_code == 404
    assert client.get("/orders/exports/exp_nope/download/").status_code == 404


# --- the real queue ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_through_the_database_queue_the_job_waits_for_the_worker(settings, api, key_client):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    make_order(source_id="queued", status=OrderStatus.PAID)
    created = schedule(api, {"parameters": {"fields": ["source_id"]}})
    assert (created["status"], created["result"]) == ("SCHEDULED", None)
    assert api.get(f"{API}/exports/{created['id']}").json()["status"] == "SCHEDULED"

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    read = api.get(f"{API}/exports/{created['id']}").json()
    assert read["status"] == "DONE" and read["result"]["url"]
    assert content(key_client.get(f"{API}/exports/{created['id']}/download")) == b"source_id\nqueued\n"
    assert Export.objects.get().row_count == 1


def test_the_orders_list_links_to_past_exports_for_those_who_may_see_them(client, admin_user, manager):
    client.force_login(admin_user)
    assert 'href="/orders/exports/"' in client.get("/orders/").content.decode()
    client.force_login(manager)
    assert 'href="/orders/exports/"' not in client.get("/orders/").content.decode()
