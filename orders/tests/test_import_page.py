"""The import page (/orders/import/): who may use it, the dry-run preview with the file's line numbers and
columns, the confirm that imports exactly what was previewed (once), CSV and XLSX, and the files it refuses."""

import datetime as dt
import io
import re
import zipfile

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from orders.choices import EventType, MetadataObject, MetadataType
from orders.imports import MAX_FILE_BYTES
from orders.models import (
    SKU,
    Customer,
    MetadataSchema,
    MetadataSchemaProperty,
    Order,
    OrderEvent,
    OrderItem,
    Product,
)
from orders.tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db
URL = "/orders/import/"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

HEADER = (
    "source_id,status,customer_source_id,customer_name,customer_email,item_source_id,quantity,price,metadata.channel"
)
CLEAN = f"""{HEADER}
A-1,PAID,C-1,Ada Lovelace,ada@example.com,mug,2,1250,web
A-1,,,,,poster,1,990,
A-2,CREATED,C-2,Alan Turing,alan@example.com,mug,1,1250,app
A-3,FULFILLED,C-1,Ada Lovelace,ada@example.com,cup,3,500,web
"""


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Previewed files wait in the default storage: a folder of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def upload(text: str | bytes, name: str = "orders.csv", content_type: str = "text/csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type=content_type)


def preview(client, text, name="orders.csv", **extra):
    return client.post(URL, {"file": upload(text, name)}, **extra)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Order, OrderItem, OrderEvent, Customer, Product, SKU)}


def errors_of(response) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.message) for e in response.context["report"].errors]


def form_errors(response) -> list[str]:
    form = response.context["form"]
    return [*form.non_field_errors(), *form.errors.get("file", [])]


def xlsx(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- who may import --------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, {"token": "x"}, "file"])
def test_anonymous_is_sent_to_login(client, data):
    before = counts()
    if data is None:
        response = client.get(URL)
    else:
        response = client.post(URL, {"file": upload(CLEAN)} if data == "file" else data)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")
    assert counts() == before


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_import_is_refused_without_the_import_permission(client, request, who):
    client.force_login(request.getfixturevalue(who))
    before = counts()
    assert client.get(URL).status_code == 403
    assert client.get(URL, HTTP_HX_REQUEST="true").status_code == 403
    assert client.post(URL, {"file": upload(CLEAN)}).status_code == 403
    assert client.post(URL, {"file": upload(CLEAN)}, HTTP_HX_REQUEST="true").status_code == 403
    assert client.post(URL, {"token": "anything"}).status_code == 403
    assert counts() == before


def test_manager_gets_the_form_with_the_file_format(manager_client):
    response = manager_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert f'action="{URL}"' in body and f'hx-post="{URL}"' in body  # a plain form that htmx speeds up
    assert "One row per order item" in body
    for column in ("source_id", "item_source_id", "quantity", "price", "metadata.&lt;key&gt;"):
        assert f"<code>{column}</code>" in body


def test_the_orders_list_links_to_the_import_for_those_who_may_import(client, manager, viewer):
    client.force_login(manager)
    assert f'href="{URL}"' in client.get("/orders/").content.decode()
    client.force_login(viewer)
    assert f'href="{URL}"' not in client.get("/orders/").content.decode()


# --- the preview -----------------------------------------------------------------------------------------


def test_preview_reports_each_bad_row_by_file_line_and_column_and_writes_nothing(manager_client):
    ProductFactory(source_id="stocked", price=700)
    text = (
        f"{HEADER}\n"
        "A-1,PAID,C-1,Ada Lovelace,ada@example.com,mug,2,1250,web\n"  # line 2
        "A-1,,,,,poster,1,990,\n"  # 3
        'A-2,CREATED,C-2,"Alan\nTuring",alan@example.com,mug,1,1250,app\n'  # 4-5: a quoted line break
        "\n"  # 6: blank, skipped
        "A-3,,C-3,Grace,grace@example.com,cup,1,12.50,\n"  # 7: decimal price
        "A-2,PAID,,,,cup,1,100,\n"  # 8: a second status for A-2
        "A-4,,,,,mug,0,100,\n"  # 9: quantity 0
        ",,,,,mug,1,100,\n"  # 10: no source id
        "A-5,SHIPPED,,,,mug,1,100,\n"  # 11: unknown status
        "A-6,,C-6,Eve,not-an-email,mug,1,100,\n"  # 12: the service refuses the email
        "A-7,,,,,mug,1,100,\n"  # 13
        "A-7,,,,,brand-new,2,,\n"  # 14: new product, no price anywhere (the service says so)
        "A-8,,,Nameless,,stocked,2,,\n"  # 15: customer details without customer_source_id
        "A-9,,,,,stocked,1,,\n"  # 16: fine, catalog price
    )
    before = counts()
    response = preview(manager_client, text)
    assert response.status_code == 200
    assert errors_of(response) == [
        (7, "price", "“12.50” is not a whole number: amounts are integer cents (minor units): write 1250 for 12.50"),
        (
            8,
            "status",
            "differs from line 4, the first row of order “A-2” (“CREATED” there): order columns are read from an "
            "order's first row, so leave this cell empty or repeat that value",
        ),
        (9, "quantity", "must be at least 1"),
        (10, "source_id", "is required: every row names the source id of its order"),
        (11, "status", "“SHIPPED” is not one of CREATED, PAID, CANCELED, FULFILLED"),
        (12, "customer_email", "must be a valid email address"),
        (14, "price", "is required: neither the item nor its product/SKU has a price"),
        (
            15,
            "customer_source_id",
            "is required when the row gives customer details (customer_name): it says which customer they belong to",
        ),
    ]
    assert counts() == before

    report = response.context["report"]
    assert not report.ok and report.error_lines == 8
    previews = {order.source_id: order for order in report.orders}
    assert (previews["A-1"].action, previews["A-1"].items, previews["A-1"].total) == ("create", 2, 3490)
    assert previews["A-2"].action == "error" and previews["A-3"].action == "error"
    assert (previews["A-9"].action, previews["A-9"].total) == ("create", 700)  # the catalog's price
    body = response.content.decode()
    assert '<tr data-line="7"><td class="num">7</td><td><code>price</code></td>' in body
    assert "nothing can be imported" in body
    assert 'name="token"' not in body and "Confirm import" not in body  # fix the file first


def test_preview_keeps_no_file_when_there_are_errors(manager_client, media):
    preview(manager_client, f"{HEADER}\nA-1,,,,,mug,1,1.5,\n")
    assert not (media / "imports").exists() or not any((media / "imports").iterdir())


@pytest.mark.parametrize("price", ["12.50", "1e3", "1,250", "12.", "-5", "ten"])
def test_a_price_that_is_not_whole_cents_is_refused(manager_client, price):
    response = preview(manager_client, f'source_id,item_source_id,price\nA-1,mug,"{price}"\n')
    [(line, column, message)] = errors_of(response)
    assert (line, column) == (2, "price")
    expected = "must be at least 0" if price == "-5" else "amounts are integer cents"
    assert expected in message
    assert not Order.objects.exists()


def test_amount_belongs_to_orders_without_items(manager_client):
    text = "source_id,amount,discount_amount,item_source_id,price\nA-1,5000,,mug,100\nB-1,5000,500,,\n"
    response = preview(manager_client, text)
    assert errors_of(response) == [
        (
            2,
            "amount",
            "is the sum of the items for an order with items: leave it empty (it is for orders without items)",
        )
    ]
    assert next(o for o in response.context["report"].orders if o.source_id == "B-1").total == 4500


def test_metadata_columns_are_typed_by_the_schema(manager_client):
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER)
    MetadataSchemaProperty.objects.create(schema=schema, key="gift", type=MetadataType.BOOLEAN)
    MetadataSchemaProperty.objects.create(schema=schema, key="weight", type=MetadataType.NUMBER)
    text = "source_id,amount,metadata.gift,metadata.weight,metadata.note\nA-1,100,yes,2.5,hello\nA-2,100,maybe,3,\n"
    response = preview(manager_client, text)
    assert errors_of(response) == [(3, "metadata.gift", "must be true or false")]
    response = preview(manager_client, "source_id,amount,metadata.gift,metadata.weight\nA-1,100,yes,2.5\n")
    assert response.context["report"].ok
    manager_client.post(URL, {"token": response.context["token"]})
    assert Order.objects.get(source_id="A-1").metadata == {"gift": True, "weight": 2.5}


# --- preview, then confirm -------------------------------------------------------------------------------


def test_clean_csv_previews_then_confirm_imports_it_with_one_imported_event_each(manager_client, manager):
    before = counts()
    response = preview(manager_client, CLEAN)
    assert response.status_code == 200
    report = response.context["report"]
    assert report.ok and (report.created, report.updated) == (3, 0)
    assert [(o.source_id, o.action, o.items, o.total) for o in report.orders] == [
        ("A-1", "create", 2, 3490),
        ("A-2", "create", 1, 1250),
        ("A-3", "create", 1, 1500),
    ]
    body = response.content.decode()
    assert "$34.90" in body and "$15.00" in body  # the dashboard's money format
    assert "Confirm import of 3 orders" in body
    assert counts() == before  # the preview wrote nothing

    response = manager_client.post(URL, {"token": response.context["token"]}, follow=True)
    assert response.redirect_chain == [(reverse("orders:list"), 302)]
    assert "Imported 3 orders (0 updated)." in response.content.decode()

    a1 = Order.objects.get(source_id="A-1")
    assert (a1.status, a1.amount, a1.total_amount, a1.metadata) == ("PAID", 3490, 3490, {"channel": "web"})
    assert [(i.product_source_id, i.quantity, i.price, i.amount) for i in a1.items.order_by("position")] == [
        ("mug", 2, 1250, 2500),
        ("poster", 1, 990, 990),
    ]
    assert (a1.customer.source_id, a1.customer.name, a1.customer.email) == ("C-1", "Ada Lovelace", "ada@example.com")
    assert Order.objects.get(source_id="A-3").customer_id == a1.customer_id
    assert Order.objects.get(source_id="A-2").customer.name == "Alan Turing"
    ada = Customer.objects.get(source_id="C-1")
    assert (ada.orders_total_count, ada.orders_total_amount) == (2, 3490 + 1500)  # PAID + FULFILLED
    for order in Order.objects.filter(source_id__in=["A-1", "A-2", "A-3"]):
        events = list(order.events.all())
        assert [(e.type, e.actor_user_id, e.actor_name) for e in events] == [
            (EventType.ORDER_IMPORTED, manager.pk, "manager")
        ]
    assert counts()["Order"] == before["Order"] + 3
    assert counts()["OrderItem"] == before["OrderItem"] + 4


def test_confirm_cannot_be_replayed_and_importing_the_file_again_only_updates(manager_client):
    token = preview(manager_client, CLEAN).context["token"]
    assert manager_client.post(URL, {"token": token}).status_code == 302
    after_first = counts()

    replay = manager_client.post(URL, {"token": token})
    assert replay.status_code == 409
    assert "imported already" in replay.content.decode()
    assert counts() == after_first

    # The same file uploaded again: every order is an upsert by source_id, and nothing changes.
    response = preview(manager_client, CLEAN)
    report = response.context["report"]
    assert (report.created, report.updated) == (0, 3)
    assert {o.action for o in report.orders} == {"update"}
    response = manager_client.post(URL, {"token": response.context["token"]}, follow=True)
    assert "Imported 3 orders (3 updated)." in response.content.decode()
    assert counts() == after_first  # no order, item or event more


def test_confirm_refuses_a_forged_or_foreign_token(client, manager, admin_user):
    client.force_login(manager)
    token = preview(client, CLEAN).context["token"]
    before = counts()
    forged = client.post(URL, {"token": token[:-3] + "abc"})
    assert forged.status_code == 400 and "not valid" in forged.content.decode()
    client.force_login(admin_user)
    foreign = client.post(URL, {"token": token})
    assert foreign.status_code == 403 and "belongs to someone else" in foreign.content.decode()
    assert counts() == before


def test_confirm_imports_nothing_when_the_data_changed_since_the_preview(manager_client):
    token = preview(manager_client, "source_id,status,amount\nA-1,PAID,100\nA-2,PAID,200\n").context["token"]
    make_order(source_id="A-2", status="CANCELED")  # meanwhile: CANCELED is final, PAID is refused
    before = counts()
    response = manager_client.post(URL, {"token": token})
    assert response.status_code == 409
    assert "Nothing was imported" in response.content.decode()
    assert [(line, column) for line, column, _ in errors_of(response)] == [(3, "status")]
    assert counts() == before  # all or nothing: A-1 was not written either
    assert not Order.objects.filter(source_id="A-1").exists()


def test_an_order_without_items_takes_its_amount(manager_client):
    token = preview(manager_client, "source_id,amount,discount_amount\nNO-ITEMS,5000,500\n").context["token"]
    manager_client.post(URL, {"token": token})
    order = Order.objects.get(source_id="NO-ITEMS")
    assert (order.amount, order.discount_amount, order.total_amount, order.items.count()) == (5000, 500, 4500, 0)


def test_item_rows_can_name_skus_and_catalog_ids(manager_client):
    product = ProductFactory(source_id="tee", price=2000)
    text = (
        "source_id,item_related_object,item_source_id,item_product_id,item_name,quantity,price,item_metadata.size\n"
        "S-1,sku,tee-m,,Tee M,1,2100,M\n"
        f"S-1,,,{product.pk},,2,,\n"
    )
    response = preview(manager_client, text)
    assert response.context["report"].ok, errors_of(response)
    assert response.context["report"].orders[0].total == 2100 + 2 * 2000
    manager_client.post(URL, {"token": response.context["token"]})
    first, second = Order.objects.get(source_id="S-1").items.order_by("position")
    assert (first.related_object, first.sku_source_id, first.sku_name, first.metadata) == (
        "sku",
        "tee-m",
        "Tee M",
        {"size": "M"},
    )
    assert (second.product_id, second.quantity, second.price) == (product.pk, 2, 2000)


# --- XLSX ------------------------------------------------------------------------------------------------


def test_xlsx_previews_and_imports_like_csv(manager_client):
    content = xlsx(
        [
            [
                "source_id",
                "status",
                "created_at",
                "customer_source_id",
                "customer_name",
                "item_source_id",
                "quantity",
                "price",
            ],
            ["X-1", "PAID", dt.datetime(2026, 1, 31, 12, 0), "XC-1", "Ada", "mug", 2.0, 1250],  # typed cells
            ["X-1", None, None, None, None, "poster", 1, 990.0],
            [None, None, None, None, None, None, None, None],  # a blank row: skipped
            [1002, None, None, None, None, "mug", 1, 1250],  # a numeric source id is text
        ]
    )
    response = manager_client.post(URL, {"file": upload(content, "orders.xlsx", XLSX_TYPE)})
    report = response.context["report"]
    assert report.ok, errors_of(response)
    assert report.format == "XLSX"
    assert [(o.line, o.source_id, o.items, o.total) for o in report.orders] == [
        (2, "X-1", 2, 3490),
        (5, "1002", 1, 1250),
    ]
    response = manager_client.post(URL, {"token": response.context["token"]}, follow=True)
    assert "Imported 2 orders (0 updated)." in response.content.decode()
    order = Order.objects.get(source_id="X-1")
    assert (order.amount, order.created_at) == (3490, dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC))
    assert [i.quantity for i in order.items.order_by("position")] == [2, 1]
    assert OrderEvent.objects.filter(order=order, type=EventType.ORDER_IMPORTED).count() == 1


def test_xlsx_fractional_numbers_are_refused_on_their_sheet_row(manager_client):
    content = xlsx(
        [["source_id", "item_source_id", "quantity", "price"], ["X-1", "mug", 1, 12.5], ["X-2", "mug", 1.5, 100]]
    )
    response = manager_client.post(URL, {"file": upload(content, "orders.xlsx", XLSX_TYPE)})
    assert errors_of(response) == [
        (2, "price", "12.5 is not a whole number: amounts are integer cents (minor units): write 1250 for 12.50"),
        (3, "quantity", "1.5 is not a whole number"),
    ]
    assert not Order.objects.exists()


# --- files it refuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("status,item_source_id\nPAID,mug\n", "orders.csv", "The file has no source_id column"),
        ("source_id,colour\nA-1,red\n", "orders.csv", "Unknown column: colour."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "orders.csv", "The file is not UTF-8 text (line 1"),
        ("source_id\0garbage\n", "orders.csv", "it contains binary data"),
        (b"not a workbook at all", "orders.xlsx", "not a valid XLSX workbook"),
        ("", "orders.csv", "The file is empty."),
        ("source_id,status\n", "orders.csv", "a header row but no rows"),
        ("source_id,status\nA-1,PAID,extra\n", "orders.csv", "Line 2 has 3 cells but the header row"),
        ("source_id,status,source_id\nA-1,PAID,A-1\n", "orders.csv", "names source_id more than once"),
        (b"old excel", "orders.xls", "Only CSV and XLSX files"),
    ],
)
def test_files_that_cannot_be_imported_get_a_form_error(manager_client, content, name, message):
    before = counts()
    response = preview(manager_client, content, name)
    assert response.status_code == 400
    assert any(message in error for error in form_errors(response)), form_errors(response)
    assert response.context["report"] is None
    assert counts() == before


def test_windows_line_ends_and_semicolons_are_read(manager_client):
    text = "source_id;item_source_id;quantity;price\r\nW-1;mug;1;100\r\n\r\nW-2;mug;x;100\r\n"
    response = preview(manager_client, text)
    assert errors_of(response) == [(4, "quantity", "“x” is not a whole number")]


def test_a_file_of_empty_rows_is_refused(manager_client):
    response = preview(manager_client, "source_id,status\n,\n,\n")
    assert response.status_code == 400
    assert form_errors(response) == ["The file has no orders: every row under the header is empty."]


def test_a_zip_that_is_not_a_workbook_is_refused(manager_client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    response = preview(manager_client, buffer.getvalue(), "orders.xlsx")
    assert response.status_code == 400
    assert "cannot be read" in form_errors(response)[0]


@pytest.mark.parametrize("size", [MAX_FILE_BYTES + 1, MAX_FILE_BYTES + 1024 * 1024])
def test_too_big_a_file_is_refused(manager_client, size):
    text = HEADER + "\n" + "A-1,,,,,mug,1,100,\n" * (size // 19 + 1)
    response = preview(manager_client, text[:size])
    assert response.status_code == 400
    # Just past the limit the form refuses the file; far past it, the request's declared length does.
    assert "larger than 5 MB" in response.content.decode()
    assert not Order.objects.exists()


def test_more_orders_than_one_import_takes_are_refused(manager_client, monkeypatch):
    monkeypatch.setattr("orders.imports.MAX_ORDERS", 2)
    response = preview(manager_client, CLEAN)  # three orders
    assert response.status_code == 400
    assert "The file holds 3 orders; at most 2 can be imported at once: split it." in form_errors(response)
    assert not Order.objects.exists()


def test_file_errors_come_back_in_the_htmx_panel(manager_client):
    response = preview(manager_client, "status\nPAID\n", HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # htmx swaps only successful responses
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="import-panel"') and "<html" not in body
    assert "The file has no source_id column" in body


def test_htmx_preview_is_the_panel_with_the_confirm_form(manager_client):
    response = preview(manager_client, CLEAN, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="import-panel"') and "<html" not in body
    assert re.search(r'<form method="post" action="/orders/import/" class="import-confirm">', body)
    assert response["Vary"] and "HX-Request" in response["Vary"]


# --- untrusted text --------------------------------------------------------------------------------------


def test_html_in_the_file_is_escaped_in_the_preview(manager_client):
    text = f'{HEADER}\nH-1,"<b>bold</b>",C-1,<script>alert(1)</script>,x@example.com,mug,1,100,<img src=x>\n'
    body = preview(manager_client, text).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<b>bold</b>" not in body
    assert "“&lt;b&gt;bold&lt;/b&gt;” is not one of" in body  # the refused value, echoed escaped


def test_formula_looking_cells_are_imported_as_text(manager_client):
    formula = "=cmd|' /C calc'!A0"
    text = f'{HEADER}\nF-1,,C-F,"{formula}",f@example.com,mug,1,100,"=1+1"\n'
    response = preview(manager_client, text)
    assert response.context["report"].ok, errors_of(response)
    assert "=cmd|&#x27; /C calc&#x27;!A0" in response.content.decode()
    manager_client.post(URL, {"token": response.context["token"]})
    order = Order.objects.get(source_id="F-1")
    assert (order.customer.name, order.metadata) == (formula, {"channel": "=1+1"})


# --- cost ------------------------------------------------------------------------------------------------


def _many_orders(count: int) -> str:
    rows = [HEADER]
    for n in range(count):
        rows.append(f"M-{n},PAID,MC-{n % 25},Customer {n % 25},c{n % 25}@example.com,p-{n % 10},1,{100 + n},web")
        rows.append(f"M-{n},,,,,q-{n % 7},2,50,")
    return "\n".join(rows) + "\n"


def test_preview_queries_do_not_grow_with_the_rows(manager_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert preview(manager_client, _many_orders(20)).context["report"].ok
    with django_assert_max_num_queries(len(small.captured_queries) + 5):
        response = preview(manager_client, _many_orders(200))
    report = response.context["report"]
    assert report.ok and report.created == 200 and len(report.orders) == 200
