"""The CSV export: who may export, the field picker, exactly the list's rows in the list's order, the chosen
columns, metadata columns, formula escaping, Unicode, the export record, an interrupted download, the
PostgreSQL COPY path against the Python path (byte for byte), and memory that does not grow with rows."""

import csv
import datetime as dt
import io
import json
import re
import tracemalloc
from unittest import mock

import pytest
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.urls import reverse

from orders.choices import ActorType, MetadataObject, MetadataType, OrderStatus
from orders.demo import demo_seed
from orders.export import (
    ORDER_FIELDS,
    CSVStream,
    canonical_json,
    integer_column,
    order_columns,
    text_column,
    timestamp_column,
)
from orders.models import Export, ExportStatus, MetadataSchema, MetadataSchemaProperty, Order, OrderEvent
from orders.tests.factories import CustomerFactory, make_order

pytestmark = pytest.mark.django_db
EXPORT = "/orders/export/"
DIALOG = "/orders/export/dialog/"
EXPORTS = "/orders/exports/"
UTC = dt.UTC
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY needs PostgreSQL")


def item(price=1000, quantity=1, source_id="prod-x"):
    return {"source_id": source_id, "related_object": "product", "quantity": quantity, "price": price}


def download(client, query: str = "", fields=None, **extra) -> tuple[object, bytes]:
    fields = list(ORDER_FIELDS) if fields is None else fields
    response = client.post(f"{EXPORT}?{query}" if query else EXPORT, {"fields": fields}, **extra)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


# --- who may export ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"), [("get", DIALOG), ("post", DIALOG), ("get", EXPORT), ("post", EXPORT), ("get", EXPORTS)]
)
def test_anonymous_is_sent_to_login(client, method, url):
    response = getattr(client, method)(f"{url}?status=PAID")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert not Export.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "viewer"])
@pytest.mark.parametrize(("method", "url"), [("get", DIALOG), ("post", DIALOG), ("get", EXPORT), ("post", EXPORT)])
def test_export_is_refused_without_the_export_permission(client, request, who, method, url, order):
    client.force_login(request.getfixturevalue(who))
    response = getattr(client, method)(url, {"fields": ["id"]} if method == "post" else None)
    assert response.status_code == 403
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 403
    assert not Export.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "viewer", "manager"])
def test_the_list_of_exports_is_for_admins_only(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(EXPORTS).status_code == 403


def test_viewer_sees_no_export_button(client, viewer, order):
    client.force_login(viewer)
    page = client.get("/orders/")
    assert page.status_code == 200
    assert b"Export CSV" not in page.content
    assert DIALOG.encode() not in page.content


def test_export_button_opens_the_dialog_with_the_current_filters_and_sort(manager_client, order):
    page = manager_client.get("/orders/", {"status": "PAID", "sort": "total", "per_page": "50", "q": "a&b"})
    html = page.content.decode()
    button = re.search(r'<a class="button secondary" href="([^"]+)"([^>]*)>Export CSV</a>', html)
    assert button, "the Export CSV button is on the page"
    href = button.group(1).replace("&amp;", "&")
    assert href.startswith(DIALOG + "?")
    assert "status=PAID" in href and "sort=total" in href and "q=a%26b" in href
    assert "per_page" not in href  # paging is not a filter
    # With htmx it asks for the dialog with the filter form's values, into a slot of its own.
    assert f'hx-get="{DIALOG}"' in button.group(2)
    assert 'hx-include="#order-filters"' in button.group(2)
    assert 'hx-target="#export-slot"' in button.group(2) and 'id="export-slot"' in html


# --- the dialog ------------------------------------------------------------------------------------------


def test_dialog_page_without_javascript_posts_the_filters_with_the_download(manager_client, order):
    page = manager_client.get(DIALOG, {"status": "CREATED", "sort": "-amount", "cursor": "x", "per_page": "25"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html and 'id="export-form"' in html
    assert f'action="{EXPORT}?status=CREATED&amp;sort=-amount"' in html
    assert "Download CSV" in html and "Back to the orders" in html
    assert "1 order" in html and "Amount, high to low".lower() in html
    assert page["Vary"].count("HX-Request") == 1


def test_dialog_for_htmx_is_a_modal_dialog_partial(manager_client, order):
    response = manager_client.get(DIALOG, {"status": "CREATED"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert html.strip().startswith("<dialog") and 'hx-on::load="this.showModal()"' in html
    assert 'formmethod="dialog"' in html  # Cancel closes it without a request


def test_dialog_offers_schema_keys_and_keys_found_in_the_orders(manager_client):
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER)
    MetadataSchemaProperty.objects.create(schema=schema, key="campaign", type=MetadataType.STRING)
    make_order(metadata={"channel": "web", "gift": True})
    html = manager_client.get(DIALOG).content.decode()
    for name in ("metadata.campaign", "metadata.channel", "metadata.gift", *ORDER_FIELDS):
        assert f'name="fields" value="{name}"' in html


def test_first_dialog_ticks_every_order_field_but_the_json_object(manager_client, order):
    html = manager_client.get(DIALOG).content.decode()
    assert re.search(r'value="total_amount" id="[^"]+" checked', html)
    assert not re.search(r'value="metadata" id="[^"]+" checked', html)


def test_the_field_choice_is_remembered_per_user(client, manager, admin_user, order):
    client.force_login(manager)
    download(client, fields=["total_amount", "metadata.channel", "id"])
    html = client.get(DIALOG).content.decode()
    ticked = re.findall(r'name="fields" value="([^"]+)" id="[^"]+" checked', html)
    assert ticked == ["total_amount", "metadata.channel", "id"]
    # Someone else's choice is theirs.
    client.force_login(admin_user)
    html = client.get(DIALOG).content.decode()
    assert re.findall(r'name="fields" value="([^"]+)" id="[^"]+" checked', html)[:2] == ["id", "source_id"]


def test_moving_a_field_and_adding_a_metadata_key_re_render_the_picker(manager_client):
    state = {"order": ["id", "source_id", "total_amount"], "fields": ["id", "total_amount"]}
    moved = manager_client.post(
        f"{DIALOG}?status=PAID",
        {**state, "move": "up:total_amount"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="export-form",
    )
    html = moved.content.decode()
    assert html.strip().startswith('<form id="export-form"')  # only the picker is swapped
    order = re.findall(r'name="order" value="([^"]+)"', html)
    assert order[:3] == ["id", "total_amount", "source_id"]
    assert re.findall(r'name="fields" value="([^"]+)" id="[^"]+" checked', html) == ["id", "total_amount"]
    assert f'action="{EXPORT}?status=PAID"' in html

    added = manager_client.post(DIALOG, {**state, "add_key": "1", "metadata_key": " vip level "})
    html = added.content.decode()
    assert "<html" in html  # without JavaScript: the page again
    assert 'name="fields" value="metadata.vip level" id' in html
    assert re.search(r'value="metadata.vip level" id="[^"]+" checked', html)
    assert not Export.objects.exists()


def test_invalid_filters_are_shown_and_nothing_is_exported(manager_client, order):
    html = manager_client.get(DIALOG, {"amount_min": "lots"}).content.decode()
    assert "Enter an amount" in html and "Download CSV" not in html
    response, body = download(manager_client, "amount_min=lots")
    assert response.status_code == 400
    assert b"Enter an amount" in body
    assert not Export.objects.exists()


def test_a_download_needs_known_fields(manager_client, order):
    response, body = download(manager_client, fields=[])
    assert response.status_code == 400 and b"Choose at least one column" in body
    response, body = download(manager_client, fields=["id", "password"])
    assert response.status_code == 400 and "“password” is not an order field".encode() in body
    assert not Export.objects.exists()


def test_get_on_the_download_url_shows_the_picker(manager_client):
    response = manager_client.get(EXPORT, {"status": "PAID", "per_page": "50"})
    assert response.status_code == 302
    assert response["Location"] == f"{DIALOG}?status=PAID"


# --- what the download holds ------------------------------------------------------------------------------


def test_download_is_a_streamed_csv_attachment_named_with_the_export_time(manager_client, order):
    response, body = download(manager_client)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    export = Export.objects.get()
    stamp = export.created_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    assert response["Content-Disposition"] == f'attachment; filename="orders-{stamp}.csv"'
    assert response["X-Export-Id"] == export.pk
    assert body.startswith(b"id,source_id,created_at,updated_at,status,amount,")
    assert b"\r\n" not in body and body.endswith(b"\n")


def test_exports_exactly_the_rows_of_the_list_in_its_sort(manager_client):
    customer = CustomerFactory(email="ada@example.com")
    start = dt.datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(30):
        make_order(
            source_id=f"o-{n:02d}",
            created_at=start + dt.timedelta(hours=n),
            customer=customer if n % 3 == 0 else None,
            status=OrderStatus.PAID if n % 2 else OrderStatus.CREATED,
            items=[item(price=100 * (n % 7 + 1), quantity=n % 4 + 1)],
        )
    query = "status=PAID&sort=total&amount_min=3"
    listed = manager_client.get(f"/orders/?{query}&per_page=100").context["page"].object_list
    _, body = download(manager_client, query, fields=["source_id", "total_amount"])
    rows = rows_of(body)
    assert rows[0] == ["source_id", "total_amount"]
    assert [row[0] for row in rows[1:]] == [order.source_id for order in listed]
    assert [int(row[1]) for row in rows[1:]] == sorted(int(row[1]) for row in rows[1:])
    assert 0 < len(rows) - 1 < 30

    _, body = download(manager_client, "customer=ada@example.com&sort=created", fields=["source_id"])
    assert [row[0] for row in rows_of(body)[1:]] == [f"o-{n:02d}" for n in range(0, 30, 3)]


def test_chosen_fields_come_in_the_chosen_order_with_iso_utc_times_and_integer_amounts(manager_client):
    customer = CustomerFactory()
    referrer = CustomerFactory()
    made = make_order(
        source_id="S-1",
        customer=customer,
        referrer=referrer,
        created_at="2026-11-27T04:04:05+01:00",
        discount_amount=250,
        items=[item(price=1999, quantity=3)],
        metadata={"channel": "web"},
    )
    fields = ["total_amount", "created_at", "id", "referrer_id", "customer_id", "amount", "discount_amount"]
    fields += ["items_discount_amount", "total_discount_amount", "status", "updated_at", "source_id"]
    _, body = download(manager_client, fields=fields)
    header, row = rows_of(body)
    assert header == fields
    values = dict(zip(header, row, strict=True))
    assert values["created_at"] == "2026-11-27T03:04:05.000000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", values["updated_at"])
    made.refresh_from_db()
    assert values["updated_at"] == made.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert (values["amount"], values["discount_amount"], values["total_amount"]) == ("5997", "250", "5747")
    assert (values["customer_id"], values["referrer_id"], values["id"]) == (customer.pk, referrer.pk, made.pk)
    assert (values["status"], values["source_id"]) == ("CREATED", "S-1")


def test_metadata_columns_hold_the_object_as_json_and_keys_as_plain_values(manager_client):
    make_order(
        source_id="m-1",
        metadata={
            "channel": "web",
            "count": 3,
            "ratio": 0.25,
            "vip": True,
            "none": None,
            "address": {"city": "Köln", "zip": "50667"},
            "tags": ["a", "b"],
        },
    )
    fields = ["metadata", "metadata.channel", "metadata.count", "metadata.ratio", "metadata.vip", "metadata.none"]
    fields += ["metadata.missing", "metadata.address", "metadata.tags"]
    _, body = download(manager_client, fields=fields)
    header, row = rows_of(body)
    assert header == fields
    # jsonb's order: shorter keys first, then bytewise; ", " and ": " between items.
    assert row[0] == (
        '{"vip": true, "none": null, "tags": ["a", "b"], "count": 3, "ratio": 0.25, '
        '"address": {"zip": "50667", "city": "Köln"}, "channel": "web"}'
    )
    assert row[1:] == ["web", "3", "0.25", "true", "", "", '{"zip": "50667", "city": "Köln"}', '["a", "b"]']
    # A missing value is an empty, unquoted cell.
    assert b',"web",' not in body and b",,," in body


def test_every_formula_trigger_is_escaped_in_names_source_ids_and_metadata(manager_client):
    values = {f"k{n}": f"{char}HYPERLINK(1)" for n, char in enumerate(TRIGGERS)}
    for n, char in enumerate("=+-@"):
        make_order(source_id=f"{char}cmd|' /C calc'!A{n}", metadata=values)
    _, body = download(manager_client, "sort=created", fields=["source_id", *[f"metadata.k{n}" for n in range(7)]])
    rows = rows_of(body)[1:]
    assert [row[0] for row in rows] == [f"'{char}cmd|' /C calc'!A{n}" for n, char in enumerate("=+-@")]
    for row in rows:
        assert row[1:] == [f"'{char}HYPERLINK(1)" for char in TRIGGERS]
    # A leading tab, CR or LF cannot reach a source id: the services strip them.
    assert make_order(source_id="\t\r\nx").source_id == "x"


def test_customer_names_are_escaped_by_a_column_of_the_reusable_exporter():
    hostile = [f"{char}SUM(A1:A9) Müller" for char in "=+-@"]
    for name in hostile:
        make_order(customer=CustomerFactory(name=name))
    columns = [text_column("name", "customer__name"), integer_column("total", "total_amount")]
    body = b"".join(CSVStream(Order.objects.order_by("created_at", "id"), columns))
    assert rows_of(body)[1:] == [[f"'{name}", "2000"] for name in hostile]


def test_amounts_are_never_negative_so_their_cells_are_never_escaped(manager_client, order):
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(amount=-5, total_amount=-5, total_discount_amount=0)
    _, body = download(manager_client, fields=["amount", "total_amount", "discount_amount"])
    assert rows_of(body)[1] == ["2000", "2000", "0"]


def test_unicode_quotes_commas_and_newlines_survive(manager_client):
    source = 'Zoë "the, best"\nline 2 — 東京 🎉'
    make_order(source_id=source, metadata={"note": 'naïve, "quoted"\r\nשלום', "ключ": "значение"})
    _, body = download(manager_client, fields=["source_id", "metadata.note", "metadata.ключ", "metadata"])
    assert body.decode("utf-8")  # UTF-8, no byte-order mark
    assert not body.startswith(b"\xef\xbb\xbf")
    header, row = rows_of(body)
    assert header == ["source_id", "metadata.note", "metadata.ключ", "metadata"]
    assert row[:3] == [source, 'naïve, "quoted"\r\nשלום', "значение"]
    assert row[3] == '{"note": "naïve, \\"quoted\\"\\r\\nשלום", "ключ": "значение"}'


def test_an_empty_result_is_the_header_row_only(manager_client, order):
    response, body = download(manager_client, "status=FULFILLED", fields=["id", "metadata.x"])
    assert response.status_code == 200
    assert body == b"id,metadata.x\n"
    assert Export.objects.get().row_count == 0
    _, body = download(manager_client, "product=no-such-product", fields=["id"])  # a filter that is .none()
    assert body == b"id\n"


# --- the record -----------------------------------------------------------------------------------------


def test_each_download_is_recorded_and_writes_no_order_activity(manager_client, manager):
    for n in range(3):
        make_order(source_id=f"r-{n}", status=OrderStatus.PAID)
    events = OrderEvent.objects.count()
    _, body = download(manager_client, "status=PAID&sort=total", fields=["id", "metadata.channel"])
    export = Export.objects.get()
    assert export.pk.startswith("exp_")
    assert (export.status, export.row_count, export.size) == (ExportStatus.DONE, 3, len(body))
    assert (export.actor_type, export.actor_user, export.actor_name) == (ActorType.USER, manager, "manager")
    assert (export.filters, export.fields, export.order) == (
        "status=PAID&sort=total",
        ["id", "metadata.channel"],
        "total",
    )
    assert export.exported_object == "order"
    assert export.method == ("copy" if connection.vendor == "postgresql" else "python")
    assert export.started_at and export.finished_at >= export.started_at and not export.error
    assert OrderEvent.objects.count() == events


def test_a_download_the_client_abandons_is_recorded_as_an_error(manager_client):
    for n in range(50):
        make_order(source_id=f"x-{n}", metadata={"pad": "x" * 2000})
    response = manager_client.post(EXPORT, {"fields": ["id", "metadata"]})
    first = next(iter(response.streaming_content))
    assert first.startswith(b"id,metadata\n")
    assert Export.objects.get().status == ExportStatus.IN_PROGRESS
    # A WSGI server closes the response when the browser goes away. (The end of the request would also
    # close the test's database connection, which holds the test's transaction: keep it.)
    with mock.patch.object(connections[DEFAULT_DB_ALIAS], "close_if_unusable_or_obsolete"):
        response.close()
    export = Export.objects.get()
    assert export.status == ExportStatus.ERROR
    assert export.row_count is None
    assert export.size == len(first)
    assert "client went away" in export.error
    assert Order.objects.count() == 50  # the connection is still usable


def test_admins_see_the_list_of_exports(client, manager, admin_user, order):
    client.force_login(manager)
    download(client, "status=CREATED&q=fixture", fields=["id", "total_amount"])
    client.force_login(admin_user)
    page = client.get(EXPORTS)
    assert page.status_code == 200
    html = page.content.decode()
    export = Export.objects.get()
    assert export.pk in html and "manager" in html and "Done" in html
    assert "id, total_amount" in html
    assert 'href="/orders/?status=CREATED&amp;q=fixture"' in html


def test_the_dialog_links_admins_to_the_exports(client, admin_user, manager):
    client.force_login(admin_user)
    assert b'href="/orders/exports/"' in client.get(DIALOG).content
    client.force_login(manager)
    assert b'href="/orders/exports/"' not in client.get(DIALOG).content


# --- the exporter on its own -------------------------------------------------------------------------------


def test_canonical_json_is_what_postgresql_prints_for_jsonb():
    value = {"bb": 1, "a": [1.5e-07, 1e16, -0.0, 0.1], "é": 'x\u0001\t"\\', "c": {"zz": None, "y": False}}
    expected = '{"a": [0.00000015, 10000000000000000, 0.0, 0.1], "c": {"y": false, "zz": null}, "bb": 1, "é": '
    expected += '"x\\u0001\\t\\"\\\\"}'
    assert canonical_json(value) == expected
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::jsonb::text", [json.dumps(value)])
            assert cursor.fetchone()[0] == expected


def test_timestamps_keep_microseconds_and_zero_microseconds(manager_client):
    make_order(source_id="t-0", created_at="2026-01-02T03:04:05Z")
    make_order(source_id="t-1", created_at="2026-01-02T03:04:05.000007+00:00")
    columns = [text_column("source_id"), timestamp_column("created_at")]
    body = b"".join(CSVStream(Order.objects.order_by("created_at"), columns, method="python"))
    assert body == b"source_id,created_at\nt-0,2026-01-02T03:04:05.000000Z\nt-1,2026-01-02T03:04:05.000007Z\n"


def test_a_distinct_queryset_exports_only_its_columns(order):
    make_order(source_id="second")
    queryset = Order.objects.filter(items__quantity__gte=1).distinct().order_by("-created_at", "id")
    stream = CSVStream(queryset, order_columns(["source_id"]))
    assert stream.method == "python"  # COPY would also print the ordering columns DISTINCT adds
    assert b"".join(stream) == b"source_id\nsecond\nfixture-order\n"


def test_the_stream_reports_its_end_once(order):
    ends = []
    stream = CSVStream(Order.objects.all(), order_columns(["id"]), on_finish=lambda s, error: ends.append(error))
    assert b"".join(stream) == f"id\n{order.pk}\n".encode()
    stream.close()
    assert ends == [None] and stream.row_count == 1


# --- PostgreSQL: COPY and the Python path give the same bytes ------------------------------------------------


MISSING = object()


def hostile_orders():
    names = ["=1+1", "+cmd", "-cmd", "@SUM(A1)", 'Zoë, "Q" \n 2', "東京 🎉", "", None]
    metadata_values = [
        *[f"{char}x" for char in TRIGGERS],
        "",
        "a,b",
        'say "hi"',
        "multi\nline\r\nend",
        "\\.",
        "ünï ✓",
        None,
        True,
        False,
        0,
        -7,
        12345678901234567890,
        0.1,
        -2.5,
        1e20,
        1.5e-07,
        -0.0,
        100.0,
        {"nested": {"b": [1, {"c": None}], "a": "=x"}, "": "empty key"},
        ["=a", 1, None, True, {"k": "v"}],
        [],
        {},
        MISSING,
    ]
    customers = [CustomerFactory(name=name or "") for name in names]
    start = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    made = []
    for n, value in enumerate(metadata_values):
        source = ["=src", "+src", "-src", "@src", 'q"uo,te', "new\nline", "\\.", None, "ünï"][n % 9]
        metadata = {
            "v": value,
            "k" * (n % 5 + 1): f"len {n}",
            "é": n,
            "ab": "two bytes, like é",
            "123": "digits",
            "a.b": "dotted",
            'q"k': "quoted key",
        }
        if value is MISSING:
            metadata.pop("v")
        made.append(
            make_order(
                source_id=f"{source}-{n}" if source else None,
                customer=customers[n % len(customers)],
                metadata=metadata,
                created_at=start + dt.timedelta(minutes=n, microseconds=0 if n % 3 else n),
                status=list(OrderStatus)[n % 3],
                items=[item(price=100 + n)],
            )
        )
    return made


METADATA_FIELDS = [
    "metadata.v",
    "metadata.k",
    "metadata.é",
    "metadata.123",
    "metadata.a.b",
    'metadata.q"k',
    "metadata.",
]


def both_ways(queryset, columns) -> tuple[bytes, bytes]:
    python = b"".join(CSVStream(queryset, columns, method="python", chunk_rows=7))
    copy = b"".join(CSVStream(queryset, columns, method="copy"))
    return python, copy


@postgres_only
@pytest.mark.postgres
def test_copy_and_python_paths_give_identical_bytes_on_hostile_data():
    hostile_orders()
    fields = [*ORDER_FIELDS, *METADATA_FIELDS[:-1]]
    for sort in ("created_at", "-total_amount"):
        python, copy = both_ways(Order.objects.order_by(sort, "id"), order_columns(fields))
        assert python == copy
        rows = rows_of(copy)
        assert len(rows) == Order.objects.count() + 1
    for escaped in (b"'=src-0", b"'+src-1", b"'-src-2", b"'@src-3", b",'=x,", b",'\tx,", b'"\'\rx"', b'"\'\nx"'):
        assert escaped in copy


@postgres_only
@pytest.mark.postgres
def test_copy_and_python_paths_agree_on_single_columns_empty_text_and_the_end_marker():
    hostile_orders()
    queryset = Order.objects.order_by("created_at", "id")
    for field in ["source_id", "metadata.v", "metadata", "created_at", "total_amount", "customer_id"]:
        python, copy = both_ways(queryset, order_columns([field]))
        assert python == copy, field
    columns = [text_column("name", "customer__name"), text_column("email", "customer__email")]
    assert len(set(both_ways(queryset, columns))) == 1
    python, copy = both_ways(queryset, order_columns(["metadata.v"]))
    assert b'\n""\n' in copy and b'\n"\\."\n' in copy  # an empty text, and a lone \. quoted


@postgres_only
@pytest.mark.postgres
def test_the_download_uses_copy_on_postgresql_and_equals_the_python_path(manager_client):
    hostile_orders()
    query = "status=PAID&status=CREATED&sort=-amount"
    _, body = download(manager_client, query, fields=[*ORDER_FIELDS, "metadata.v"])
    assert Export.objects.get().method == "copy"
    queryset = Order.objects.filter(status__in=["PAID", "CREATED"]).order_by("-amount", "-id")
    python = b"".join(CSVStream(queryset, order_columns([*ORDER_FIELDS, "metadata.v"]), method="python"))
    assert body == python


# --- memory ------------------------------------------------------------------------------------------------


@pytest.fixture
def forget_statistics(db):
    """demo_seed ANALYZEs its tables, and PostgreSQL keeps those statistics through the test's rollback:
    later tests would see estimates of 100,000 orders in empty tables (the API list's ``total`` is one).
    Before the rollback, empty the tables inside the test's transaction and analyze them again (DELETE, not
    TRUNCATE: TRUNCATE gives the table a new catalog row, which the rollback would throw away with the new
    statistics)."""
    yield
    if connection.vendor == "postgresql":
        tables = ("orders_orderevent", "orders_redemption", "orders_orderitem", "orders_order", "orders_customer")
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute(f"ANALYZE {', '.join(tables)}")


def test_memory_does_not_grow_with_the_number_of_rows(manager_client, forget_statistics):
    demo_seed(orders=100_000, customers=2_000, seed=3, now=dt.datetime(2026, 11, 1, tzinfo=UTC))

    def peak(query: str) -> tuple[int, int]:
        response = manager_client.post(f"{EXPORT}?{query}", {"fields": [*ORDER_FIELDS, "metadata.channel"]})
        tracemalloc.start()
        try:
            lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
            return lines - 1, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_rows, small_peak = peak("status=CREATED&status=CANCELED")
    all_rows, all_peak = peak("")
    assert 15_000 < small_rows < 25_000 and all_rows == 100_000
    assert list(Export.objects.values_list("row_count", flat=True)) == [all_rows, small_rows]
    # Five times the rows, the same memory: a few chunks and the render cache, never the result.
    assert all_peak < small_peak * 1.25 + 512 * 1024, (small_peak, all_peak)
    assert all_peak < 8 * 1024 * 1024
