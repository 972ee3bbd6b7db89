"""The orders list page: permissions, columns, keyset pages, counts, htmx shapes, escaping, query counts."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.urls import reverse

from orders.models import Order
from orders.pagination import KeysetPaginator
from orders.tests.factories import CustomerFactory, make_order
from orders.views import list as list_view

pytestmark = pytest.mark.django_db
URL = "/orders/"
UTC = dt.UTC


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def item(source_id="prod-x", price=1000, quantity=1):
    return {"source_id": source_id, "related_object": "product", "quantity": quantity, "price": price}


def make_many(count: int, *, start=dt.datetime(2026, 1, 1, tzinfo=UTC), customer=None, prefix="o", **kwargs):
    return [
        make_order(
            source_id=f"{prefix}-{n:04d}",
            created_at=start + dt.timedelta(minutes=n),
            customer=customer,
            items=[item(price=100 * (n % 7 + 1))],
            **kwargs,
        )
        for n in range(count)
    ]


def source_ids(response) -> list[str]:
    return [order.source_id for order in response.context["page"].object_list]


# --- who may see it --------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_and_back(client):
    response = client.get(URL, {"status": "PAID"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/orders/%3Fstatus%3DPAID"


def test_user_without_a_role_is_refused(client, outsider):
    client.force_login(outsider)
    response = client.get(URL)
    assert response.status_code == 403
    assert client.get(URL, HTTP_HX_REQUEST="true").status_code == 403


def test_viewer_sees_the_list_but_no_new_order_link(viewer_client, order):
    page = viewer_client.get(URL)
    assert page.status_code == 200
    assert order.id.encode() in page.content
    assert b"+ New order" not in page.content
    assert reverse("orders:new").encode() not in page.content


@pytest.mark.parametrize("role", ["manager", "admin_user"])
def test_managers_and_admins_get_the_new_order_link(client, request, role):
    client.force_login(request.getfixturevalue(role))
    page = client.get(URL)
    assert f'href="{reverse("orders:new")}"'.encode() in page.content
    assert b"+ New order" in page.content


# --- what a row shows ----------------------------------------------------------------------------------


def test_row_shows_every_column(viewer_client):
    ann = CustomerFactory(name="Ann Lee", email="ann@example.com")
    order = make_order(
        source_id="SHOP-42",
        customer=ann,
        status="PAID",
        items=[item("a", price=1250, quantity=2), item("b", price=500)],
        discount_amount=300,
        created_at=dt.datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
    )
    html = viewer_client.get(URL).content.decode()
    assert '<span class="badge status-paid">Paid</span>' in html
    assert f'href="{reverse("orders:detail", args=[order.id])}"' in html
    assert "SHOP-42" in html
    assert "Ann Lee" in html and "ann@example.com" in html
    assert f'href="/orders/?customer={ann.pk}"' in html
    row = re.search(r"<tr>\s*<td><span class=\"badge status-paid\">.*?</tr>", html, re.S).group(0)
    cells = [re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[4:8] == ["2", "$30.00", "−$3.00", "$27.00"]
    assert cells[8].startswith("2026-03-04 05:06")


def test_order_without_customer_or_source_id_shows_dashes(viewer_client):
    make_order()
    html = viewer_client.get(URL).content.decode()
    assert html.count('<span class="muted">—</span>') >= 1
    assert '<td class="mono source-id">—</td>' in html


# --- keyset pages ----------------------------------------------------------------------------------------


def walk(client, params, direction="next_url", first=None):
    """Follow the pager from ``first`` (the first page's response) in one direction; every page's ids."""
    response = first or client.get(URL, params)
    pages = [source_ids(response)]
    while (url := response.context[direction]) is not None:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(source_ids(response))
    return pages, response


@pytest.mark.parametrize("sort", ["-created", "created", "-total", "total", "-amount", "updated"])
def test_walking_every_page_shows_each_order_once(viewer_client, sort):
    made = make_many(57)
    pages, last = walk(viewer_client, {"sort": sort, "per_page": 25})
    assert [len(page) for page in pages] == [25, 25, 7]
    seen = [source_id for page in pages for source_id in page]
    assert sorted(seen) == sorted(o.source_id for o in made)  # no gaps, no duplicates
    expected = [o.source_id for o in Order.objects.order_by(*list_view.OrderFilterSet({"sort": sort}).ordering)]
    assert seen == expected
    # and back again, page by page, to the first one
    back, first = walk(viewer_client, None, "previous_url", first=last)
    assert back == pages[::-1]
    assert first.context["page"].has_previous is False


def test_pages_keep_their_filters_and_sort(viewer_client):
    make_many(30, status="PAID")
    make_many(30, status="CREATED", start=dt.datetime(2025, 1, 1, tzinfo=UTC), prefix="c")
    first = viewer_client.get(URL, {"status": "PAID", "sort": "created", "per_page": "25"})
    assert "status=PAID" in first.context["next_url"] and "sort=created" in first.context["next_url"]
    second = viewer_client.get(first.context["next_url"])
    assert len(source_ids(second)) == 5
    assert all(o.status == "PAID" for o in second.context["page"].object_list)


def test_new_orders_do_not_shift_the_next_page(viewer_client):
    make_many(60)
    first = viewer_client.get(URL)
    expected_second = source_ids(viewer_client.get(first.context["next_url"]))
    make_order(source_id="brand-new")  # now the newest, at the top of page 1
    again = viewer_client.get(first.context["next_url"])
    assert source_ids(again) == expected_second
    assert "brand-new" not in source_ids(again)


def test_previous_pages_stay_put_and_the_start_is_a_full_first_page(viewer_client):
    make_many(40)
    first = viewer_client.get(URL)
    second = viewer_client.get(first.context["next_url"])
    make_order(source_id="arrived", created_at=dt.datetime(2027, 1, 1, tzinfo=UTC))
    back = viewer_client.get(second.context["previous_url"])
    assert source_ids(back) == source_ids(first)  # the 25 orders just before page 2, as they were
    assert back.context["page"].has_previous is True  # …and one newer order before them
    start = viewer_client.get(back.context["previous_url"])
    assert source_ids(start) == ["arrived", *source_ids(first)[:24]]  # a full first page, not one row
    assert start.context["page"].has_previous is False


def test_a_page_emptied_since_its_link_was_made_offers_the_first_page(viewer_client):
    make_many(30)
    next_url = viewer_client.get(URL).context["next_url"]
    oldest = Order.objects.order_by("created_at")[:5].values_list("pk", flat=True)
    Order.objects.filter(pk__in=list(oldest)).delete()  # (no service deletes orders; this stands in for one)
    html = viewer_client.get(next_url).content.decode()
    assert "No more orders here" in html
    assert 'href="/orders/"' in html and "Back to the first page" in html


@pytest.mark.parametrize("size", [25, 50, 100])
def test_page_size_choice(viewer_client, size):
    make_many(101)
    assert len(source_ids(viewer_client.get(URL, {"per_page": size}))) == size


def test_unknown_page_size_says_so_and_uses_the_default(viewer_client):
    make_many(30)
    response = viewer_client.get(URL, {"per_page": "1000000"})
    assert response.status_code == 200
    assert len(source_ids(response)) == 25
    assert b"Rows per page can be 25, 50, 100" in response.content


@pytest.mark.parametrize("cursor", ["garbage", "WyJuIl0:bad:sig", "", "x" * 5000])
def test_broken_cursor_is_a_message_and_the_first_page(viewer_client, cursor):
    make_many(30)
    response = viewer_client.get(URL, {"cursor": cursor})
    assert response.status_code == 200
    assert len(source_ids(response)) == 25
    if cursor:
        assert b"That page link is broken" in response.content


def test_tampered_cursor_is_refused(viewer_client):
    make_many(30)
    cursor = viewer_client.get(URL).context["page"].next_cursor
    value, signature = cursor.rsplit(":", 1)
    tampered = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1] + ":" + signature
    response = viewer_client.get(URL, {"cursor": tampered})
    assert b"That page link is broken or was altered" in response.content
    assert source_ids(response) == source_ids(viewer_client.get(URL))


def test_cursor_of_another_sort_is_refused(viewer_client):
    make_many(30)
    cursor = viewer_client.get(URL, {"sort": "total"}).context["page"].next_cursor
    response = viewer_client.get(URL, {"sort": "-created", "cursor": cursor})
    assert b"made for another sort order" in response.content


@pytest.mark.parametrize(
    "payload",
    [
        ["n", "-created_at,-id", "not a date", "x"],
        ["n", "-created_at,-id"],
        ["sideways", "-created_at,-id", "", ""],
        {},
    ],
)
def test_signed_but_malformed_cursor_is_refused(viewer_client, payload):
    from django.core import signing

    from orders.pagination import DEFAULT_SALT

    make_many(3)
    response = viewer_client.get(URL, {"cursor": signing.dumps(payload, salt=DEFAULT_SALT)})
    assert response.status_code == 200
    assert b"That page link is broken" in response.content
    assert len(source_ids(response)) == 3


def test_paginator_refuses_orderings_it_cannot_page():
    with pytest.raises(ValueError, match="unique"):
        KeysetPaginator(Order.objects.order_by("-created_at"), per_page=10)
    with pytest.raises(ValueError, match="nullable"):
        KeysetPaginator(Order.objects.order_by("source_id", "id"), per_page=10)


# --- counts ------------------------------------------------------------------------------------------------


def test_count_is_exact_when_small(viewer_client):
    make_many(3)
    response = viewer_client.get(URL)
    assert response.context["count"].exact
    assert b"3 orders" in response.content


def test_count_is_capped_when_large(viewer_client, monkeypatch):
    monkeypatch.setattr(list_view, "COUNT_CAP", 5)
    make_many(8, status="PAID")
    response = viewer_client.get(URL, {"status": "PAID"})
    assert not response.context["count"].exact
    assert b"More than 5 orders" in response.content
    assert b"6 orders" not in response.content
    assert b"1 order\n" in viewer_client.get(URL, {"q": "o-0001"}).content


def test_count_never_counts_the_whole_table(viewer_client, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(list_view, "COUNT_CAP", 5)
    make_many(8)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        viewer_client.get(URL)
    counts = [q["sql"] for q in queries if q["sql"].upper().startswith("SELECT COUNT(")]
    assert counts and all("LIMIT 6" in sql for sql in counts)


def test_broad_search_is_counted_through_the_orders_of_the_customers_found_first(viewer_client, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    from orders import filters

    monkeypatch.setattr(filters, "CUSTOMER_SEARCH_LIST_LIMIT", 1)
    monkeypatch.setattr(list_view, "COUNT_CAP", 2)
    for n in range(3):
        make_many(3, customer=CustomerFactory(name=f"Nowak {n}"), prefix=f"n{n}")
    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get(URL, {"q": "nowak"})
    assert b"More than 2 orders" in response.content
    order_counts = [q["sql"] for q in queries if q["sql"].startswith("SELECT COUNT(*)") and "orders_order" in q["sql"]]
    assert len(order_counts) == 1 and "LIKE" not in order_counts[0]  # the witness settled it
    monkeypatch.setattr(list_view, "COUNT_CAP", 100)
    assert b"9 orders" in viewer_client.get(URL, {"q": "nowak"}).content  # and exact when it cannot


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the estimate comes from PostgreSQL's statistics")
def test_unfiltered_large_count_is_a_labelled_estimate_on_postgresql(viewer_client, monkeypatch):
    monkeypatch.setattr(list_view, "COUNT_CAP", 5)
    make_many(8)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    response = viewer_client.get(URL)
    assert response.context["count"].estimated
    assert b"About 8 orders" in response.content and b"(estimate)" in response.content
    filtered = viewer_client.get(URL, {"status": "CREATED"})
    assert b"More than 5 orders" in filtered.content  # a filtered count is never guessed


# --- htmx -----------------------------------------------------------------------------------------------


def test_htmx_request_gets_only_the_results_partial(viewer_client):
    make_many(3)
    response = viewer_client.get(URL, {"status": "CREATED", "q": ""}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    html = response.content.decode()
    assert "<html" not in html and "<form" not in html
    assert html.lstrip().startswith('<section id="results"')
    assert "o-0001" in html
    assert response["HX-Push-Url"] == "/orders/?status=CREATED"  # the tidy URL, without empty fields
    assert "HX-Request" in response["Vary"]


def test_htmx_link_that_changes_filters_gets_form_and_results(viewer_client):
    make_many(3, status="PAID")
    response = viewer_client.get(URL, {"status": "PAID"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing")
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="listing"')
    assert 'id="order-filters"' in html and 'id="results"' in html
    assert re.search(r'value="PAID"[^>]*checked', html)


def test_history_restore_gets_the_whole_page(viewer_client):
    response = viewer_client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in response.content


def test_full_page_without_htmx_has_a_working_get_form(viewer_client):
    html = viewer_client.get(URL).content.decode()
    assert "<html" in html
    form = re.search(r"<form id=\"order-filters\"[^>]*>", html).group(0)
    assert 'method="get"' in form and 'action="/orders/"' in form and 'hx-get="/orders/"' in form
    # every input of the form has a label
    for input_id in re.findall(r"<(?:input|select)[^>]*\bid=\"([^\"]+)\"", html):
        assert f'for="{input_id}"' in html, input_id


def test_every_htmx_link_is_a_real_link_to_the_same_url(viewer_client):
    make_many(30, status="PAID", metadata={"a": "b"})
    html = viewer_client.get(URL, {"status": "PAID", "metadata": "a=b"}).content.decode()
    links = re.findall(r"<a ([^>]*hx-get[^>]*)>", html)
    assert len(links) > 5
    for attrs in links:
        href = re.search(r'href="([^"]*)"', attrs).group(1)
        assert f'hx-get="{href}"' in attrs


# --- chips and the empty state ------------------------------------------------------------------------------


def test_active_filters_are_chips_that_each_remove_one_value(viewer_client):
    make_order(source_id="p", status="PAID")
    response = viewer_client.get(URL, {"status": ["PAID", "FULFILLED"], "sort": "total", "amount_min": "5"})
    chips = {item["chip"].text: item["url"] for item in response.context["chips"]}
    assert set(chips) == {"Paid", "Fulfilled", "$5.00"}
    assert chips["Paid"] == "/orders/?status=FULFILLED&sort=total&amount_min=5"
    assert chips["$5.00"] == "/orders/?status=PAID&status=FULFILLED&sort=total"
    assert response.context["clear_url"] == "/orders/?sort=total"  # clearing keeps the sort


def test_no_match_says_so_with_a_clear_filters_link(viewer_client):
    make_order(source_id="x")
    html = viewer_client.get(URL, {"status": "CANCELED"}).content.decode()
    assert "No orders match these filters" in html
    assert 'href="/orders/"' in html and "Clear filters" in html


def test_empty_database_says_no_orders_yet(viewer_client):
    assert b"No orders yet" in viewer_client.get(URL).content


def test_invalid_filter_shows_the_error_not_a_500(viewer_client):
    make_order(source_id="x")
    response = viewer_client.get(URL, {"amount_min": "lots", "created_from": "yesterday"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters could not be used" in html
    assert "Amount from:</strong> Enter an amount" in html
    assert "Created from:</strong> Enter a valid date" in html


# --- escaping --------------------------------------------------------------------------------------------


def test_hostile_text_is_escaped_everywhere(viewer_client):
    hostile = "<script>alert('x')</script>"
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    customer = CustomerFactory(name=hostile, email="evil@example.com")
    make_order(source_id=f"src{hostile}", customer=customer, metadata={hostile: hostile})
    # in the row (source id, customer name) and in the chips and the form (metadata, search, customer)
    response = viewer_client.get(URL, {"metadata": f"{hostile}={hostile}", "customer": customer.pk})
    html = response.content.decode()
    assert source_ids(response) == [f"src{hostile}"]
    assert "<script>alert" not in html
    assert f"src{escaped}" in html
    assert f"{escaped} = {escaped}" in html  # the metadata chip
    searched = viewer_client.get(URL, {"q": hostile, "customer": hostile}).content.decode()
    assert "<script>alert" not in searched
    assert f"&ldquo;{escaped}&rdquo;" in searched or f"“{escaped}”" in searched


# --- queries ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "most"),
    [
        # session, user, the user's and the groups' permissions; the orders (their item counts are a column);
        # the count
        ({}, 6),
        ({"sort": "-total"}, 6),
        # + the metadata schema of the keys used
        ({"status": ["PAID", "CREATED"], "created_from": "2020-01-01", "metadata": "channel=web"}, 7),
        # + the customers a search matches, the products and the SKUs a product filter names
        ({"q": "example", "product": "prod-x", "customer": "C@example.com"}, 9),
    ],
)
def test_queries_do_not_grow_with_the_page_size(viewer_client, django_assert_max_num_queries, params, most):
    customer = CustomerFactory(email="c@example.com")
    make_many(10, customer=customer, metadata={"channel": "web"})
    with django_assert_max_num_queries(most) as small:
        viewer_client.get(URL, {**params, "per_page": 100})
    make_many(91, customer=customer, metadata={"channel": "web"}, start=dt.datetime(2025, 1, 1, tzinfo=UTC), prefix="b")
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        response = viewer_client.get(URL, {**params, "per_page": 100})
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(source_ids(response)) == 100
    # the next page costs the same
    with django_assert_max_num_queries(len(small.captured_queries)):
        viewer_client.get(response.context["next_url"])
