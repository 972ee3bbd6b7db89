"""The "+" order form (orders:new, orders:edit) and its htmx helpers, through the test client."""

import html
import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders import services
from orders.choices import EventType, MetadataObject, MetadataType, OrderStatus
from orders.exceptions import InvalidInput
from orders.forms import OrderEditor, order_metadata_schema
from orders.models import Customer, MetadataSchema, Order, OrderEvent, Product
from orders.tests.factories import SYSTEM, CustomerFactory, ProductFactory, SKUFactory, make_order

pytestmark = pytest.mark.django_db

NEW = reverse("orders:new")
TOTALS = reverse("orders:form_totals")
ITEM_ROW = reverse("orders:form_item_row")
CUSTOMER_LOOKUP = reverse("orders:customer_lookup")
CATALOG_LOOKUP = reverse("orders:catalog_lookup")
HX = {"HTTP_HX_REQUEST": "true"}


def form_data(items=(), metadata=(), **header):
    """The POST body of the form: ``items``/``metadata`` are row dicts (None leaves a gap, as a row
    removed in the browser does)."""
    data = {"status": OrderStatus.CREATED, **header}
    for prefix, rows, defaults in (
        ("items", items, {"related_object": "product", "quantity": "1"}),
        ("metadata", metadata, {}),
    ):
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
        for index, row in enumerate(rows):
            if row is None:
                continue
            for name, value in {**defaults, **row}.items():
                data[f"{prefix}-{index}-{name}"] = value
    return data


def field_errors(page: str, field_id: str) -> list[str]:
    """The messages Django's error list renders next to the field ``field_id``."""
    found = re.search(rf'<ul class="errorlist" id="{re.escape(field_id)}_error">(.*?)</ul>', page, re.S)
    return [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", found.group(1))] if found else []


def input_value(page: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    if not tag:
        return None
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else ""


def number_schema(**props):
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER)
    for key, type_ in props.items():
        schema.properties.create(key=key, type=type_)
    return schema


@pytest.fixture
def staff(client, manager):
    client.force_login(manager)
    return client


# --- creating an order -----------------------------------------------------------------------------


def test_new_form_has_stable_ids_for_every_control(staff):
    page = staff.get(NEW).content.decode()
    for marker in (
        'id="order-form"',
        'id="id_source_id"',
        'id="id_status"',
        'id="id_customer_query"',
        'id="id_new_customer_email"',
        'id="id_referrer_query"',
        'id="id_discount"',
        'data-item-row="0"',
        'id="id_items-0-quantity"',
        'id="id_items-0-price"',
        'id="add-item"',
        'id="add-metadata-row"',
        'data-metadata-row="0"',
        'id="order-totals"',
        'id="order-submit"',
        'id="id_items-TOTAL_FORMS"',
    ):
        assert marker in page, marker
    # Every visible input has a label.
    for input_id in re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*id="([^"]+)"', page):
        assert f'for="{input_id}"' in page, input_id


def test_create_with_two_items_metadata_and_a_new_customer(staff, manager):
    product = ProductFactory(price=1500)
    number_schema(weight=MetadataType.NUMBER, gift=MetadataType.BOOLEAN)
    data = form_data(
        source_id="WEB-100",
        status=OrderStatus.PAID,
        discount="2.50",
        new_customer_source_id="cust-web-1",
        new_customer_name="Ada Lovelace",
        new_customer_email="ada@example.com",
        items=[
            {"catalog_id": product.pk, "quantity": "2", "discount": "1.00"},  # catalog price 15.00
            {
                "related_object": "sku",
                "source_id": "sku-new-1",
                "name": "Blue, size M",
                "quantity": "3",
                "price": "9.99",
            },
        ],
        metadata=[
            {"key": "channel", "value": "phone"},
            {"key": "weight", "value": "12"},
            {"key": "gift", "value": "yes"},
            {"key": "", "value": ""},
        ],
    )
    response = staff.post(NEW, data)

    order = Order.objects.get(source_id="WEB-100")
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:detail", args=[order.pk])
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Order WEB-100 created."]
    assert order.status == OrderStatus.PAID
    assert order.amount == 2 * 1500 + 3 * 999
    assert order.items_discount_amount == 100
    assert order.discount_amount == 250
    assert order.total_discount_amount == 350
    assert order.total_amount == order.amount - 350
    lines = list(order.items.order_by("position"))
    assert [(line.related_object, line.quantity, line.price, line.discount_amount) for line in lines] == [
        ("product", 2, 1500, 100),
        ("sku", 3, 999, 0),
    ]
    assert lines[0].product_id == product.pk
    assert (lines[1].sku_source_id, lines[1].sku_name) == ("sku-new-1", "Blue, size M")
    assert order.metadata == {"channel": "phone", "weight": 12, "gift": True}
    assert (order.customer.source_id, order.customer.name, order.customer.email) == (
        "cust-web-1",
        "Ada Lovelace",
        "ada@example.com",
    )
    assert order.customer.orders_total_count == 1  # PAID: the summary moved through the service
    event = OrderEvent.objects.get(order=order, type=EventType.ORDER_CREATED)
    assert (event.actor_type, event.actor_user, event.actor_name) == ("user", manager, "manager")


def test_create_with_a_picked_customer_and_referrer(staff):
    customer, referrer = CustomerFactory(), CustomerFactory()
    data = form_data(
        customer_id=customer.pk,
        referrer_id=referrer.pk,
        items=[{"source_id": "p-1", "price": "10"}],
    )
    response = staff.post(NEW, data)
    order = Order.objects.get()
    assert response.status_code == 302
    assert (order.customer, order.referrer) == (customer, referrer)
    assert Customer.objects.count() == 2  # nothing created inline
    assert [str(m) for m in get_messages(response.wsgi_request)] == [f"Order {order.pk} created."]


def test_invalid_fields_keep_the_typed_values_and_say_what_is_wrong_next_to_each(staff):
    number_schema(weight=MetadataType.NUMBER)
    data = form_data(
        source_id="KEEP-ME",
        new_customer_name="Bob",
        new_customer_email="not-an-email",
        discount="5",
        items=[
            {"source_id": "p-zero", "name": "Zero", "quantity": "0", "price": "1.00"},
            {"source_id": "p-abc", "quantity": "2", "price": "abc"},
            {"source_id": "p-cents", "quantity": "1", "price": "1.234"},
        ],
        metadata=[{"key": "weight", "value": "heavy"}, {"key": "note", "value": "<b>fragile</b>"}],
    )
    response = staff.post(NEW, data)
    page = response.content.decode()

    assert response.status_code == 200
    assert not Order.objects.exists()
    assert field_errors(page, "id_items-0-quantity") == ["Quantity must be at least 1."]
    assert field_errors(page, "id_items-1-price") == ["Enter an amount like 12.50."]
    assert field_errors(page, "id_items-2-price") == ["Use at most 2 decimal places."]
    assert field_errors(page, "id_metadata-0-value") == ["Must be a number."]
    assert field_errors(page, "id_new_customer_email") == ["Enter a valid email address, like name@example.com."]
    assert field_errors(page, "id_items-1-quantity") == []
    # Everything typed is still there, escaped.
    assert input_value(page, "source_id") == "KEEP-ME"
    assert input_value(page, "new_customer_name") == "Bob"
    assert input_value(page, "new_customer_email") == "not-an-email"
    assert input_value(page, "discount") == "5"
    assert input_value(page, "items-0-quantity") == "0"
    assert input_value(page, "items-0-name") == "Zero"
    assert input_value(page, "items-1-price") == "abc"
    assert input_value(page, "items-2-price") == "1.234"
    assert input_value(page, "metadata-0-value") == "heavy"
    assert input_value(page, "metadata-1-value") == "<b>fragile</b>"
    assert "<b>fragile</b>" not in page
    assert 'id="form-errors"' in page and "The order was not saved." in page
    assert 'aria-invalid="true"' in page


def test_service_errors_land_on_the_field_their_path_names(staff):
    schema = number_schema(shipped_on=MetadataType.DATE)
    schema.properties.create(key="tier", type=MetadataType.STRING, optional=False)
    data = form_data(
        items=[
            {"source_id": "p-ok", "quantity": "1", "price": "10"},
            None,  # removed in the browser
            {},  # left blank: ignored
            {"source_id": "p-bad", "quantity": "1", "price": "5", "discount": "6"},
        ],
        metadata=[{"key": "shipped_on", "value": "2026-02-30"}],
    )
    page = staff.post(NEW, data).content.decode()

    assert not Order.objects.exists()
    # items[1] of the service is row 3 of the form (row 1 was removed, row 2 left blank).
    assert field_errors(page, "id_items-3-discount") == ["(600) cannot exceed the line amount (500)."]
    assert field_errors(page, "id_items-0-discount") == []
    assert field_errors(page, "id_metadata-0-value") == ["Must be a date in the form YYYY-MM-DD."]
    assert "tier: is required" in page  # a required key no row names: the metadata section says so
    assert 'data-item-row="1"' not in page  # the removed row stays removed


def test_order_discount_larger_than_the_amount_is_marked_on_the_discount_field(staff):
    data = form_data(discount="20", items=[{"source_id": "p-1", "price": "10"}])
    page = staff.post(NEW, data).content.decode()
    assert field_errors(page, "id_discount") == ["The total discount (2000) cannot exceed the order amount (1000)."]


def test_error_paths_map_to_fields_and_unknown_ones_to_the_top():
    editor = OrderEditor(
        form_data(new_customer_name="X", items=[{"source_id": "a"}], metadata=[{"key": "k", "value": "v"}])
    )
    assert editor.is_valid()
    editor.service_kwargs()
    editor.add_service_errors(
        {
            "customer.email": ["must be a valid email address"],
            "items[0].quantity": ["must be at least 1"],
            "items[0].product.name": ["must be at most 255 characters"],
            "metadata.k": ["is not a defined metadata key"],
            "discount_amount": ["too big"],
            "created_at": ["odd"],
        }
    )
    assert editor.header.errors["new_customer_email"] == ["Must be a valid email address."]
    assert editor.header.errors["discount"] == ["Too big."]
    item = editor.items.forms[0]
    assert item.errors["quantity"] == ["Must be at least 1."]
    assert item.errors["name"] == ["Must be at most 255 characters."]
    assert editor.metadata.forms[0].errors["value"] == ["Is not a defined metadata key."]
    assert editor.general_errors == ["created_at: odd"]


def test_a_duplicate_source_id_links_to_the_existing_order_and_changes_nothing(staff):
    existing = make_order(source_id="DUP-1")
    events_before = OrderEvent.objects.filter(order=existing).count()
    page = staff.post(NEW, form_data(source_id="DUP-1", items=[{"source_id": "x", "price": "1"}])).content.decode()

    assert field_errors(page, "id_source_id") == [f"An order with this source id already exists ({existing.pk})."]
    assert f'href="{reverse("orders:detail", args=[existing.pk])}"' in page
    existing.refresh_from_db()
    assert existing.amount == 2000  # not upserted
    assert OrderEvent.objects.filter(order=existing).count() == events_before
    assert Order.objects.count() == 1


def test_a_new_customer_with_a_taken_source_id_is_refused_with_an_offer_to_pick_it(staff):
    taken = CustomerFactory(source_id="c-taken", name="Original")
    data = form_data(new_customer_source_id="c-taken", new_customer_name="Overwrite", items=[{"source_id": "x"}])
    data["items-0-price"] = "1"
    page = staff.post(NEW, data).content.decode()
    assert field_errors(page, "id_new_customer_source_id") == [
        "A customer with this source id already exists: pick them instead of creating a new one."
    ]
    assert f'name="pick_customer" value="{taken.pk}"' in page
    taken.refresh_from_db()
    assert taken.name == "Original"
    assert not Order.objects.exists()


def test_the_page_answers_htmx_with_the_form_partial_and_redirects_by_header(staff):
    page = staff.get(NEW)
    assert "HX-Request" in page["Vary"]
    response = staff.post(NEW, form_data(items=[{"source_id": "a", "quantity": "0", "price": "1"}]), **HX)
    body = response.content.decode()
    assert body.strip().startswith('<div id="order-form-body"') and "<html" not in body
    assert field_errors(body, "id_items-0-quantity") == ["Quantity must be at least 1."]
    response = staff.post(NEW, form_data(items=[{"source_id": "a", "price": "1"}]), **HX)
    assert response["HX-Redirect"] == reverse("orders:detail", args=[Order.objects.get().pk])


def test_more_rows_than_an_order_may_have_are_refused(staff, settings):
    # 8 fields a row: a full order needs more than Django's default limit of 1000 fields.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10 * settings.ORDERS_MAX_ITEMS
    data = form_data(items=[{"source_id": f"p-{i}", "price": "1"} for i in range(501)])
    page = staff.post(NEW, data).content.decode()
    assert "Too many rows: at most 500 are allowed." in page
    assert not Order.objects.exists()


# --- rows without JavaScript -------------------------------------------------------------------------


def test_add_item_button_without_javascript_adds_a_row_and_keeps_every_value(staff):
    data = form_data(
        source_id="S-9",
        items=[{"source_id": "p-1", "quantity": "4", "price": "2.50"}],
        metadata=[{"key": "color", "value": "red"}],
        add_item="1",
    )
    response = staff.post(NEW, data)
    page = response.content.decode()

    assert response.status_code == 200
    assert not Order.objects.exists()
    assert page.count("data-item-row=") == 2
    assert input_value(page, "items-TOTAL_FORMS") == "2"
    assert (input_value(page, "items-0-source_id"), input_value(page, "items-0-quantity")) == ("p-1", "4")
    assert input_value(page, "items-0-price") == "2.50"
    assert input_value(page, "items-1-quantity") == "1"
    assert input_value(page, "source_id") == "S-9"
    assert input_value(page, "metadata-0-value") == "red"
    assert 'class="errorlist"' not in page  # adding a row is not a failed submit
    assert "$10.00" in page  # and the totals were computed for the no-JavaScript user


def test_remove_and_add_metadata_buttons_without_javascript(staff):
    data = form_data(
        items=[{"source_id": "a", "price": "1"}, {"source_id": "b", "price": "2"}, {"source_id": "c", "price": "3"}],
        metadata=[{"key": "k1", "value": "v1"}],
        remove_item="1",
    )
    page = staff.post(NEW, data).content.decode()
    assert [input_value(page, f"items-{i}-source_id") for i in range(3)] == ["a", "c", None]
    assert input_value(page, "items-TOTAL_FORMS") == "2"

    data = form_data(metadata=[{"key": "k1", "value": "v1"}], add_metadata="1")
    page = staff.post(NEW, data).content.decode()
    assert input_value(page, "metadata-TOTAL_FORMS") == "2"
    assert input_value(page, "metadata-0-key") == "k1"


def test_find_and_pick_without_javascript(staff):
    customer = CustomerFactory(name="Grace Hopper")
    product = ProductFactory(name="Compiler", price=4200)
    data = form_data(customer_query="Grace", items=[{"query": "Compil", "quantity": "2"}], find="customer")
    page = staff.post(NEW, data).content.decode()
    assert f'name="pick_customer" value="{customer.pk}"' in page
    assert f'name="pick_item" value="0:{product.pk}"' in page

    data = form_data(customer_query="Grace", items=[{"query": "Compil", "quantity": "2"}], pick_customer=customer.pk)
    page = staff.post(NEW, data).content.decode()
    assert input_value(page, "customer_id") == customer.pk and "Grace Hopper" in page
    assert 'id="clear-customer"' in page

    data = form_data(customer_id=customer.pk, items=[{"query": "Compil", "quantity": "2"}], pick_item=f"0:{product.pk}")
    page = staff.post(NEW, data).content.decode()
    assert input_value(page, "customer_id") == customer.pk
    assert input_value(page, "items-0-catalog_id") == product.pk
    assert input_value(page, "items-0-quantity") == "2"
    assert "$84.00" in page  # 2 × the catalog price, computed by the service


# --- htmx helpers ------------------------------------------------------------------------------------


def test_item_row_partial_returns_the_next_row_and_bumps_the_form_count_out_of_band(staff):
    response = staff.get(ITEM_ROW, {"items-TOTAL_FORMS": "3"}, **HX)
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert 'data-item-row="3"' in page and 'name="items-3-quantity"' in page and 'value="1"' in page
    assert re.search(r'<input[^>]*id="id_items-TOTAL_FORMS"[^>]*value="4"[^>]*hx-swap-oob="true"', page)

    page = staff.get(ITEM_ROW, {"kind": "metadata", "metadata-TOTAL_FORMS": "1"}, **HX).content.decode()
    assert 'data-metadata-row="1"' in page and 'name="metadata-1-key"' in page
    assert re.search(r'id="id_metadata-TOTAL_FORMS"[^>]*value="2"[^>]*hx-swap-oob="true"', page)

    assert staff.get(ITEM_ROW, {"items-TOTAL_FORMS": "x"}, **HX).status_code == 400


def test_item_row_partial_picks_a_catalog_item_keeping_the_typed_quantity(staff):
    sku = SKUFactory(sku="Red <L>", price=1250)
    response = staff.get(
        ITEM_ROW, {"index": "2", "pick": sku.pk, "items-2-quantity": "5", "items-2-query": "red"}, **HX
    )
    page = response.content.decode()
    assert 'data-item-row="2"' in page
    assert input_value(page, "items-2-catalog_id") == sku.pk
    assert input_value(page, "items-2-related_object") == "sku"
    assert input_value(page, "items-2-quantity") == "5"
    assert "Red &lt;L&gt;" in page and "$12.50" in page
    assert "hx-swap-oob" not in page
    assert response["HX-Trigger"] == "order-form-changed"  # the totals refresh

    page = staff.get(ITEM_ROW, {"index": "2", "clear": "1", "items-2-catalog_id": sku.pk}, **HX).content.decode()
    assert input_value(page, "items-2-catalog_id") == ""
    assert 'name="items-2-query"' in page


def test_totals_partial_computes_with_the_service_including_catalog_prices(staff):
    product = ProductFactory(price=1000)
    data = form_data(
        discount="1",
        items=[
            {"catalog_id": product.pk, "quantity": "3"},  # price left empty: the catalog's 10.00
            {"source_id": "brand-new", "name": "New thing", "quantity": "2", "price": "2.25", "discount": "0.50"},
        ],
    )
    response = staff.post(TOTALS, data, **HX)
    page = response.content.decode()

    assert response.status_code == 200
    assert page.strip().startswith('<section id="order-totals"')
    assert re.search(r'id="total-amount">\$34.50<', page)
    assert re.search(r'id="total-items-discount">\$0.50<', page)
    assert re.search(r'id="total-order-discount">\$1.00<', page)
    assert re.search(r'id="total-discount">\$1.50<', page)
    assert re.search(r'id="total-total">\$33.00<', page)
    assert "3 × $10.00" in page and "New thing" in page
    # The preview kept nothing: no order, no catalog item, no event.
    assert not Order.objects.exists()
    assert not Product.objects.filter(source_id="brand-new").exists()
    assert not OrderEvent.objects.exists()


def test_totals_partial_answers_bad_input_with_a_hint_not_an_error(staff):
    data = form_data(items=[{"source_id": "a", "quantity": "0", "price": "abc"}])
    response = staff.post(TOTALS, data, **HX)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="order-totals-hint"' in page
    assert "Item 1 · Quantity: Quantity must be at least 1." in page
    assert re.search(r'id="total-total">—<', page)

    # Input the form accepts but the service refuses: the service's words.
    page = staff.post(TOTALS, form_data(discount="9", items=[{"source_id": "a", "price": "1"}]), **HX).content.decode()
    assert "Order discount: The total discount (900) cannot exceed the order amount (100)." in page

    # A product without a price and no price typed.
    ProductFactory(source_id="no-price", price=None)
    page = staff.post(TOTALS, form_data(items=[{"source_id": "no-price"}]), **HX).content.decode()
    assert "Is required: neither the item nor its product/SKU has a price." in page

    assert staff.post(TOTALS, {"garbage": "1"}, **HX).status_code == 200


def test_removing_a_row_with_htmx_returns_the_totals_without_it_out_of_band(staff):
    data = form_data(items=[{"source_id": "a", "price": "1"}, {"source_id": "b", "price": "2"}], remove_item="0")
    page = staff.post(TOTALS, data, **HX).content.decode()
    assert 'id="order-totals" class="card totals"' in page and 'hx-swap-oob="true"' in page
    assert re.search(r'id="total-amount">\$2.00<', page)


def test_customer_lookup_matches_name_email_and_source_id_escaped(staff):
    evil = CustomerFactory(name="<script>alert(1)</script> Eve", email="eve@example.com", source_id="src-eve")
    CustomerFactory(name="Someone Else", email="else@example.com", source_id="src-else")
    for query in ("Eve", "eve@example", "src-eve", evil.pk):
        page = staff.get(CUSTOMER_LOOKUP, {"field": "customer", "q": query}, **HX).content.decode()
        assert f'value="{evil.pk}"' in page, query
        assert "Someone Else" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Eve" in page
    assert "<script>alert(1)" not in page

    page = staff.get(CUSTOMER_LOOKUP, {"field": "referrer", "referrer_query": "Eve"}, **HX).content.decode()
    assert f'name="pick_referrer" value="{evil.pk}"' in page and "#referrer-picker" in page

    page = staff.get(CUSTOMER_LOOKUP, {"field": "customer", "q": "<nobody>"}, **HX).content.decode()
    assert "No customer matches “&lt;nobody&gt;”." in page

    page = staff.get(CUSTOMER_LOOKUP, {"field": "customer", "pick": evil.pk}, **HX).content.decode()
    assert 'id="customer-picker"' in page and input_value(page, "customer_id") == evil.pk
    assert "&lt;script&gt;" in page and "<script>alert" not in page

    assert staff.get(CUSTOMER_LOOKUP, {"field": "nope", "q": "x"}).status_code == 400


def test_catalog_lookup_matches_products_and_skus_escaped(staff):
    product = ProductFactory(name="Mug <b>bold</b>", source_id="mug-1", price=800)
    sku = SKUFactory(sku="Mug large", source_id="mug-1-l", product=product, price=None)
    ProductFactory(name="Plate", source_id="plate-1")
    page = staff.get(CATALOG_LOOKUP, {"row": "4", "items-4-query": "mug"}, **HX).content.decode()
    assert f'value="4:{product.pk}"' in page and f'value="4:{sku.pk}"' in page
    assert f"index=4&amp;pick={product.pk}" in page
    assert "Plate" not in page
    assert "Mug &lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert "$8.00" in page and "no price" in page

    page = staff.get(CATALOG_LOOKUP, {"row": "0", "q": "zzz<"}, **HX).content.decode()
    assert "Nothing in the catalog matches “zzz&lt;”." in page
    assert staff.get(CATALOG_LOOKUP, {"row": "-1", "q": "x"}).status_code == 400


# --- editing -----------------------------------------------------------------------------------------


@pytest.fixture
def editable(db):
    customer = CustomerFactory(name="Linus")
    return make_order(
        source_id="EDIT-1",
        customer=customer,
        discount_amount=100,
        metadata={"channel": "web", "count": 3},
        items=[
            {"source_id": "p-a", "related_object": "product", "quantity": 2, "price": 1000},
            {"source_id": "p-b", "related_object": "product", "quantity": 1, "price": 550, "discount_amount": 50},
        ],
    )


def test_edit_form_is_prefilled_from_the_order(staff, editable):
    page = staff.get(reverse("orders:edit", args=[editable.pk])).content.decode()
    assert input_value(page, "source_id") == "EDIT-1"
    assert input_value(page, "version") == "1"
    assert input_value(page, "customer_id") == editable.customer_id and "Linus" in page
    assert input_value(page, "discount") == "1.00"
    assert input_value(page, "items-TOTAL_FORMS") == "2"
    assert input_value(page, "items-1-price") == "5.50" and input_value(page, "items-1-discount") == "0.50"
    assert input_value(page, "items-0-quantity") == "2"
    assert input_value(page, "metadata-0-key") == "channel" and input_value(page, "metadata-1-value") == "3"
    assert re.search(r'id="total-total">\$24.00<', page)
    assert f'action="{reverse("orders:edit", args=[editable.pk])}"' in page


def test_edit_saves_through_the_service_and_records_the_user(staff, editable, manager):
    page = staff.get(reverse("orders:edit", args=[editable.pk])).content.decode()
    data = {
        name: input_value(page, name)
        for name in re.findall(r'<input[^>]*name="([^"]+)"', page)
        if name != "csrfmiddlewaretoken"
    }
    data.update(
        {"status": OrderStatus.PAID, "items-0-quantity": "5", "metadata-2-key": "note", "metadata-2-value": "hi"}
    )
    data = {k: v for k, v in data.items() if v is not None and not k.endswith("_query")}
    response = staff.post(reverse("orders:edit", args=[editable.pk]), data)

    assert response.status_code == 302
    assert response["Location"] == reverse("orders:detail", args=[editable.pk])
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Order EDIT-1 saved."]
    editable.refresh_from_db()
    assert editable.status == OrderStatus.PAID and editable.version == 2
    assert editable.amount == 5 * 1000 + 550
    assert editable.metadata == {"channel": "web", "count": 3, "note": "hi"}  # 3 stays a number
    assert editable.customer.name == "Linus"
    updated = OrderEvent.objects.get(order=editable, type=EventType.ORDER_UPDATED)
    assert updated.actor_user == manager
    assert OrderEvent.objects.filter(order=editable, type=EventType.ORDER_PAID, actor_user=manager).exists()


def test_edit_with_a_stale_version_keeps_the_values_and_saves_on_the_second_try(staff, editable):
    services.order_update(order=editable, actor=SYSTEM, discount_amount=200)  # someone else: version 2
    data = form_data(
        source_id="EDIT-1",
        version="1",
        customer_id=editable.customer_id,
        discount="3.00",
        items=[{"source_id": "p-a", "quantity": "7", "price": "10"}],
    )
    url = reverse("orders:edit", args=[editable.pk])
    response = staff.post(url, data)
    page = response.content.decode()

    assert response.status_code == 200
    assert "Someone else changed this order while you were editing it" in page
    assert input_value(page, "items-0-quantity") == "7" and input_value(page, "discount") == "3.00"
    assert input_value(page, "version") == "2"
    editable.refresh_from_db()
    assert (editable.discount_amount, editable.version) == (200, 2)

    data["version"] = input_value(page, "version")
    assert staff.post(url, data).status_code == 302
    editable.refresh_from_db()
    assert (editable.discount_amount, editable.amount, editable.version) == (300, 7000, 3)


def test_edit_offers_only_allowed_status_moves(staff, editable):
    services.order_set_status(order=editable, status=OrderStatus.CANCELED, actor=SYSTEM)
    url = reverse("orders:edit", args=[editable.pk])
    page = staff.get(url).content.decode()
    assert 'value="PAID"' not in page and 'value="CANCELED" selected' in page
    data = form_data(source_id="EDIT-1", status=OrderStatus.PAID, items=[{"source_id": "p-a", "price": "1"}])
    page = staff.post(url, data).content.decode()
    assert field_errors(page, "id_status")
    editable.refresh_from_db()
    assert editable.status == OrderStatus.CANCELED


def test_edit_of_an_unknown_order_is_404(staff):
    assert staff.get(reverse("orders:edit", args=["ord_missing"])).status_code == 404


# --- the preview service ------------------------------------------------------------------------------


def test_order_preview_computes_like_create_and_keeps_nothing():
    customer_count = Customer.objects.count()
    result = services.order_preview(
        customer={"source_id": "preview-cust", "name": "P"},
        items=[{"source_id": "prev-p", "quantity": 2, "price": 300, "discount_amount": 100}],
        discount_amount=50,
        status=OrderStatus.PAID,
    )
    assert result["amount"] == 600 and result["total_discount_amount"] == 150 and result["total_amount"] == 450
    assert result["items"][0] | {"name": None} == {
        "position": 0,
        "name": None,
        "source_id": "prev-p",
        "quantity": 2,
        "price": 300,
        "amount": 600,
        "discount_amount": 100,
        "subtotal_amount": 500,
    }
    assert not Order.objects.exists() and not Product.objects.exists()
    assert Customer.objects.count() == customer_count
    with pytest.raises(InvalidInput) as raised:
        services.order_preview(items=[{"source_id": "x", "quantity": 0, "price": 1}])
    assert "items[0].quantity" in raised.value.errors


# --- permissions and queries -------------------------------------------------------------------------


def _urls(order):
    return [
        ("get", NEW),
        ("post", NEW),
        ("get", reverse("orders:edit", args=[order.pk])),
        ("post", reverse("orders:edit", args=[order.pk])),
        ("post", TOTALS),
        ("get", ITEM_ROW),
        ("get", CUSTOMER_LOOKUP),
        ("get", CATALOG_LOOKUP),
    ]


def test_anonymous_users_are_sent_to_login_from_every_url(client, order):
    for method, url in _urls(order):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{reverse('login')}?next="), url
    assert not OrderEvent.objects.exclude(actor_type="system").exists()


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_viewers_and_users_without_a_role_are_refused_everywhere(client, request, role, order):
    client.force_login(request.getfixturevalue(role))
    count = Order.objects.count()
    for method, url in _urls(order):
        data = form_data(source_id="sneaky", items=[{"source_id": "x", "price": "1"}]) if method == "post" else {}
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url)
    assert Order.objects.count() == count


def test_managers_and_admins_may_use_every_url(client, manager, admin_user, order):
    for user in (manager, admin_user):
        client.force_login(user)
        for method, url in _urls(order):
            if method == "get":
                assert client.get(url, {"q": "a"}).status_code == 200, url


def test_the_form_page_costs_a_constant_number_of_queries(staff, django_assert_max_num_queries):
    number_schema(a=MetadataType.STRING, b=MetadataType.NUMBER)
    staff.get(NEW)  # warm the session
    with django_assert_max_num_queries(6):
        assert staff.get(NEW).status_code == 200

    small = make_order(
        items=[
            {"source_id": "s-0", "related_object": "product", "quantity": 1, "price": 1},
            {"source_id": "s-1", "related_object": "sku", "quantity": 1, "price": 1},
        ],
        customer={"source_id": "c-s"},
    )
    big = make_order(
        items=[
            {"source_id": f"b-{i}", "related_object": "sku" if i % 2 else "product", "quantity": 1, "price": 1}
            for i in range(12)
        ],
        customer={"source_id": "c-q"},
        referrer={"source_id": "r-q"},
    )
    counts = []
    for order_ in (small, big):
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(reverse("orders:edit", args=[order_.pk])).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(10):
        staff.get(reverse("orders:edit", args=[big.pk]))


def test_schema_keys_are_offered_and_typed(staff):
    schema = number_schema(weight=MetadataType.NUMBER)
    schema.properties.create(key="tier", type=MetadataType.STRING, optional=False)
    page = staff.get(NEW).content.decode()
    assert '<option value="weight">Number</option>' in page
    assert input_value(page, "metadata-0-key") == "tier"  # required keys start as rows
    assert order_metadata_schema() == schema
