"""OrderFilterSet through the list page: every filter, the sorts, bad values, and the registration point."""

import datetime as dt
from unittest import mock

import django_filters
import pytest
from django.urls import reverse

from orders import filters
from orders.filters import OrderFilterSet, register_order_filter
from orders.models import MetadataSchema, Order
from orders.tests.factories import CustomerFactory, ProductFactory, SKUFactory, make_order

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def listed(client, params=None) -> list[str]:
    """The source ids the list shows, in order (first page of 100)."""
    data = {"per_page": "100", **(params or {})}
    response = client.get(reverse("orders:list"), data)
    assert response.status_code == 200
    assert response.context["form"].errors == {}, response.context["form"].errors
    return [order.source_id for order in response.context["page"].object_list]


def form_errors(client, params) -> dict:
    response = client.get(reverse("orders:list"), params)
    assert response.status_code == 200
    assert response.context["page"] is None  # nothing queried while a filter is invalid
    return response.context["form"].errors


def item(source_id="prod-x", price=1000, quantity=1, **extra):
    return {"source_id": source_id, "related_object": "product", "quantity": quantity, "price": price, **extra}


# --- status ---------------------------------------------------------------------------------------------


def test_status_filter_takes_several_statuses(viewer_client):
    for status in ("CREATED", "PAID", "FULFILLED", "CANCELED"):
        make_order(source_id=status.lower(), status=status)
    assert set(listed(viewer_client, {"status": ["PAID", "FULFILLED"]})) == {"paid", "fulfilled"}
    assert listed(viewer_client, {"status": "CANCELED"}) == ["canceled"]
    assert len(listed(viewer_client)) == 4


def test_unknown_status_is_a_form_error(viewer_client):
    errors = form_errors(viewer_client, {"status": ["PAID", "SHIPPED"]})
    assert "status" in errors


# --- dates ------------------------------------------------------------------------------------------------


def test_created_range_is_inclusive_whole_days(viewer_client):
    make_order(source_id="before", created_at=dt.datetime(2026, 1, 9, 23, 59, 59, tzinfo=UTC))
    make_order(source_id="first-day", created_at=dt.datetime(2026, 1, 10, 0, 0, tzinfo=UTC))
    make_order(source_id="last-day", created_at=dt.datetime(2026, 2, 1, 23, 59, 59, tzinfo=UTC))
    make_order(source_id="after", created_at=dt.datetime(2026, 2, 2, 0, 0, tzinfo=UTC))
    params = {"created_from": "2026-01-10", "created_to": "2026-02-01"}
    assert listed(viewer_client, params) == ["last-day", "first-day"]
    assert listed(viewer_client, {"created_from": "2026-02-02"}) == ["after"]
    assert listed(viewer_client, {"created_to": "2026-01-09"}) == ["before"]


def test_updated_range_uses_the_last_change(viewer_client):
    with mock.patch("django.utils.timezone.now", return_value=dt.datetime(2025, 6, 1, 12, tzinfo=UTC)):
        make_order(source_id="old")
    with mock.patch("django.utils.timezone.now", return_value=dt.datetime(2025, 7, 1, 12, tzinfo=UTC)):
        make_order(source_id="newer")
    assert listed(viewer_client, {"updated_from": "2025-06-15"}) == ["newer"]
    assert listed(viewer_client, {"updated_to": "2025-06-01"}) == ["old"]


def test_bad_dates_and_reversed_ranges_are_form_errors(viewer_client):
    assert "created_from" in form_errors(viewer_client, {"created_from": "2026-13-01"})
    errors = form_errors(viewer_client, {"updated_from": "2026-02-01", "updated_to": "2026-01-01"})
    assert "end of the range is before its start" in str(errors["updated_to"])


# --- money --------------------------------------------------------------------------------------------------


def test_amount_range_is_typed_in_currency_units(viewer_client):
    make_order(source_id="ten", items=[item(price=1000)])
    make_order(source_id="twenty-five-fifty", items=[item(price=2550)])
    make_order(source_id="hundred", items=[item(price=10000)])
    assert set(listed(viewer_client, {"amount_min": "25.5", "amount_max": "100"})) == {"twenty-five-fifty", "hundred"}
    assert listed(viewer_client, {"amount_max": "25.49"}) == ["ten"]
    assert listed(viewer_client, {"amount_min": "1,000"}) == []


def test_total_range_compares_the_total_after_discounts(viewer_client):
    make_order(source_id="discounted", items=[item(price=5000)], discount_amount=4000)  # total 10.00
    make_order(source_id="full", items=[item(price=5000)])  # total 50.00
    assert listed(viewer_client, {"total_max": "10.00"}) == ["discounted"]
    assert listed(viewer_client, {"total_min": "10.01"}) == ["full"]
    assert listed(viewer_client, {"amount_max": "10"}) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [("abc", "Enter an amount"), ("10.005", "decimal places"), ("-5", "cannot be negative"), ("1e999", "too large")],
)
def test_bad_amounts_are_form_errors(viewer_client, value, message):
    errors = form_errors(viewer_client, {"amount_min": value})
    assert message in str(errors["amount_min"])


def test_reversed_amount_range_is_a_form_error(viewer_client):
    assert "total_max" in form_errors(viewer_client, {"total_min": "50", "total_max": "10"})


# --- customer and product --------------------------------------------------------------------------------


def test_customer_filter_takes_id_source_id_or_email(viewer_client):
    ann = CustomerFactory(source_id="CUST-ANN", email="Ann.Lee@Example.com")
    other = CustomerFactory()
    make_order(source_id="ann-1", customer=ann)
    make_order(source_id="ann-2", customer=ann)
    make_order(source_id="other", customer=other)
    make_order(source_id="guest")
    for value in (ann.pk, "CUST-ANN", "ann.lee@example.com"):
        assert set(listed(viewer_client, {"customer": value})) == {"ann-1", "ann-2"}, value
    assert listed(viewer_client, {"customer": "nobody@example.com"}) == []


def test_product_filter_finds_orders_containing_a_product_or_sku(viewer_client, monkeypatch):
    shoe = ProductFactory(source_id="SHOE")
    red = SKUFactory(source_id="SHOE-RED", product=shoe)
    hat = ProductFactory(source_id="HAT")
    make_order(source_id="shoe", items=[{"product_id": shoe.pk, "quantity": 1}])
    make_order(source_id="red-shoe", items=[item("HAT"), {"sku_id": red.pk, "related_object": "sku"}])
    make_order(source_id="hat", items=[{"product_id": hat.pk, "quantity": 3}])
    assert set(listed(viewer_client, {"product": "SHOE"})) == {"shoe", "red-shoe"}  # a SKU's product counts
    assert set(listed(viewer_client, {"product": shoe.pk})) == {"shoe", "red-shoe"}
    assert listed(viewer_client, {"product": "SHOE-RED"}) == ["red-shoe"]
    assert listed(viewer_client, {"product": red.pk}) == ["red-shoe"]
    assert set(listed(viewer_client, {"product": "HAT"})) == {"hat", "red-shoe"}
    assert listed(viewer_client, {"product": "NO-SUCH-THING"}) == []
    # a popular product (many items) is found by walking the orders instead: the same orders
    monkeypatch.setattr(filters, "PRODUCT_ITEMS_LIST_LIMIT", 0)
    assert set(listed(viewer_client, {"product": "SHOE"})) == {"shoe", "red-shoe"}
    assert listed(viewer_client, {"product": "SHOE-RED"}) == ["red-shoe"]


# --- metadata --------------------------------------------------------------------------------------------


@pytest.fixture
def typed_orders():
    """Orders written before the schema existed (so types may disagree with it), then the schema."""
    make_order(source_id="five", metadata={"priority": 5, "gift": True, "channel": "web", "tags": ["a", "b"]})
    make_order(source_id="five-point-oh", metadata={"priority": 5.0, "gift": False, "channel": "5"})
    make_order(source_id="text-five", metadata={"priority": "5", "gift": "true", "channel": 5, "tags": "a"})
    make_order(source_id="ten", metadata={"priority": 10, "channel": "WEB", "tags": ["c"]})
    make_order(source_id="none")
    schema = MetadataSchema.objects.create(related_object="order")
    schema.properties.create(key="priority", type="number")
    schema.properties.create(key="gift", type="boolean")
    schema.properties.create(key="tags", type="string", is_array=True)
    schema.properties.create(key="shipped_on", type="date")
    schema.properties.create(key="address", type="object")


def test_metadata_number_key_compares_numbers(viewer_client, typed_orders):
    assert set(listed(viewer_client, {"metadata": "priority=5"})) == {"five", "five-point-oh"}
    assert set(listed(viewer_client, {"metadata": "priority=5.00"})) == {"five", "five-point-oh"}
    assert listed(viewer_client, {"metadata": "priority=10"}) == ["ten"]


def test_metadata_boolean_key_compares_booleans(viewer_client, typed_orders):
    assert listed(viewer_client, {"metadata": "gift=yes"}) == ["five"]
    assert listed(viewer_client, {"metadata": "gift=false"}) == ["five-point-oh"]


def test_metadata_array_key_matches_lists_that_contain_the_value(viewer_client, typed_orders):
    assert listed(viewer_client, {"metadata": "tags=a"}) == ["five"]  # not the plain string "a"
    assert listed(viewer_client, {"metadata": "tags=c"}) == ["ten"]


def test_metadata_undefined_key_compares_as_exact_text(viewer_client, typed_orders):
    assert listed(viewer_client, {"metadata": "channel=web"}) == ["five"]  # case matters, like JSON
    assert listed(viewer_client, {"metadata": "channel=5"}) == ["five-point-oh"]  # the text "5", not 5


def test_metadata_conditions_combine(viewer_client, typed_orders):
    assert listed(viewer_client, {"metadata": ["priority=5", "channel=web"]}) == ["five"]
    assert listed(viewer_client, {"metadata": ["priority=5", "gift=true", "channel=5"]}) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("priority=abc", "must be a number"),
        ("gift=maybe", "must be true or false"),
        ("shipped_on=yesterday", "YYYY-MM-DD"),
        ("address=x", "cannot be compared"),
        ("priority", "key=value"),
        ("=5", "key=value"),
        ("priority=", "Give a value"),
    ],
)
def test_metadata_values_that_do_not_fit_the_schema_are_form_errors(viewer_client, typed_orders, value, message):
    errors = form_errors(viewer_client, {"metadata": value})
    assert message in str(errors["metadata"])


def test_metadata_keys_with_quotes_and_dots_are_plain_keys(viewer_client):
    make_order(source_id="odd", metadata={'a."b': "x", "a.b": "y"})
    assert listed(viewer_client, {"metadata": 'a."b=x'}) == ["odd"]
    assert listed(viewer_client, {"metadata": "a.b=y"}) == ["odd"]
    assert listed(viewer_client, {"metadata": "a=x"}) == []


# --- search ----------------------------------------------------------------------------------------------


@pytest.fixture
def searchable():
    ann = CustomerFactory(name="Ann Lee", email="ann.lee@shop.example", source_id="CUST-1")
    bob = CustomerFactory(name="Bob Stone", email="bob@other.example", source_id="CUST-2")
    orders = {
        "ann": make_order(source_id="SHOP-1001", customer=ann),
        "bob": make_order(source_id="SHOP-1002", customer=bob),
        "guest": make_order(source_id="SHOP-1003"),
    }
    return orders


def test_search_matches_exact_order_id_and_source_id(viewer_client, searchable):
    assert listed(viewer_client, {"q": searchable["guest"].pk}) == ["SHOP-1003"]
    assert listed(viewer_client, {"q": "SHOP-1002"}) == ["SHOP-1002"]
    assert listed(viewer_client, {"q": "  SHOP-1002 "}) == ["SHOP-1002"]
    assert listed(viewer_client, {"q": "SHOP-100"}) == []  # ids are matched whole


def test_search_matches_part_of_the_customer_name_or_email_in_any_case(viewer_client, searchable):
    assert listed(viewer_client, {"q": "ann l"}) == ["SHOP-1001"]
    assert listed(viewer_client, {"q": "STONE"}) == ["SHOP-1002"]
    assert listed(viewer_client, {"q": "other.exam"}) == ["SHOP-1002"]
    assert set(listed(viewer_client, {"q": ".example"})) == {"SHOP-1001", "SHOP-1002"}
    assert listed(viewer_client, {"q": "zzz"}) == []


@pytest.mark.parametrize(
    ("list_limit", "subquery_limit"),
    [(0, 10), (0, 0)],  # many customers match: a subquery; most match: each order's customer is tested
)
def test_broad_searches_find_the_same_orders(viewer_client, searchable, monkeypatch, list_limit, subquery_limit):
    expected = {"SHOP-1001", "SHOP-1002"}
    assert set(listed(viewer_client, {"q": "example"})) == expected
    monkeypatch.setattr(filters, "CUSTOMER_SEARCH_LIST_LIMIT", list_limit)
    monkeypatch.setattr(filters, "CUSTOMER_SEARCH_SUBQUERY_LIMIT", subquery_limit)
    assert set(listed(viewer_client, {"q": "example"})) == expected
    assert listed(viewer_client, {"q": "STONE"}) == ["SHOP-1002"]
    assert listed(viewer_client, {"q": "SHOP-1003"}) == ["SHOP-1003"]


def test_search_text_with_like_wildcards_is_literal(viewer_client):
    make_order(source_id="half", customer=CustomerFactory(name="50%_off fan"))
    assert listed(viewer_client, {"q": "%_o"}) == ["half"]
    assert listed(viewer_client, {"q": "5_%"}) == []
    assert listed(viewer_client, {"q": "f%n"}) == []


def test_short_search_matches_ids_only_and_says_why(viewer_client):
    make_order(source_id="AB", customer=CustomerFactory(name="Abby"))
    make_order(source_id="other", customer=CustomerFactory(name="Gabby"))
    assert listed(viewer_client, {"q": "AB"}) == ["AB"]
    page = viewer_client.get(reverse("orders:list"), {"q": "ab"})
    assert b"Type at least 3 characters to search customer names and emails" in page.content


# --- sorting --------------------------------------------------------------------------------------------


@pytest.fixture
def sortable():
    rows = [("a", 3000, 0, dt.datetime(2026, 1, 3, tzinfo=UTC)), ("b", 1000, 0, dt.datetime(2026, 1, 1, tzinfo=UTC))]
    rows.append(("c", 5000, 4500, dt.datetime(2026, 1, 2, tzinfo=UTC)))
    for source_id, price, discount, created in rows:
        make_order(source_id=source_id, items=[item(price=price)], discount_amount=discount, created_at=created)
    # "a" is the last one changed
    from orders import services
    from orders.tests.factories import SYSTEM

    services.order_update(order=Order.objects.get(source_id="a"), actor=SYSTEM, metadata={"touched": "yes"})


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["a", "c", "b"]),
        ("-created", ["a", "c", "b"]),
        ("created", ["b", "c", "a"]),
        ("-amount", ["c", "a", "b"]),
        ("amount", ["b", "a", "c"]),
        ("-total", ["a", "b", "c"]),
        ("total", ["c", "b", "a"]),
        ("-updated", ["a", "c", "b"]),
        ("updated", ["b", "c", "a"]),
    ],
)
def test_sort_both_directions(viewer_client, sortable, sort, expected):
    assert listed(viewer_client, {"sort": sort}) == expected


def test_unknown_sort_is_a_form_error(viewer_client):
    assert "sort" in form_errors(viewer_client, {"sort": "id; DROP TABLE orders_order"})


def test_equal_sort_values_fall_back_to_the_id(viewer_client):
    made = [make_order(source_id=f"same-{n}", items=[item(price=700)]) for n in range(4)]
    expected = [o.source_id for o in sorted(made, key=lambda o: o.pk, reverse=True)]
    assert listed(viewer_client, {"sort": "-total"}) == expected
    assert listed(viewer_client, {"sort": "total"}) == expected[::-1]


# --- the FilterSet on its own (what the export and the API use) -----------------------------------------


def test_filterset_qs_is_ordered_and_filtered_for_other_callers(db):
    make_order(source_id="p", status="PAID")
    make_order(source_id="c")
    filterset = OrderFilterSet({"status": ["PAID"], "sort": "total"}, queryset=Order.objects.all())
    assert filterset.is_valid()
    assert [o.source_id for o in filterset.qs] == ["p"]
    assert filterset.qs.query.order_by == ("total_amount", "id")
    assert OrderFilterSet({}, queryset=Order.objects.all()).qs.query.order_by == ("-created_at", "-id")


@pytest.fixture
def registered_filter():
    def only_big(queryset, name, value):
        return queryset.filter(total_amount__gte=value * 100)

    register_order_filter(
        "big", django_filters.NumberFilter(method=only_big, label="At least"), describe=lambda v: f"${v}"
    )
    yield
    del OrderFilterSet.base_filters["big"]
    OrderFilterSet.registered.pop("big")


def test_another_app_can_register_a_filter(viewer_client, registered_filter):
    make_order(source_id="small", items=[item(price=500)])
    make_order(source_id="large", items=[item(price=50000)])
    assert listed(viewer_client, {"big": "100"}) == ["large"]
    page = viewer_client.get(reverse("orders:list"), {"big": "100"})
    assert b'name="big"' in page.content  # rendered in the form
    assert "At least:</span> $100" in page.content.decode()  # and as a chip


def test_registering_over_a_built_in_filter_is_refused(db):
    with pytest.raises(ValueError, match="already a parameter"):
        register_order_filter("status", django_filters.CharFilter())
    with pytest.raises(ValueError, match="already a parameter"):
        register_order_filter("cursor", django_filters.CharFilter())
