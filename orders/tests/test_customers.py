"""The customer pages: permissions, the list's search, filters, sorts, keyset pages, counts and htmx shapes,
the customer page (profile, metadata, summary, orders, registered panels), and the registration points."""

import datetime as dt
import re

import django_filters
import pytest
from django.template import Template
from django.urls import reverse
from django.utils import timezone

from orders import customer_panels
from orders.choices import MetadataObject, MetadataType
from orders.customer_filters import CustomerFilterSet, register_customer_filter
from orders.models import Customer, MetadataSchema, MetadataSchemaProperty
from orders.pagination import KeysetPaginator
from orders.tests.factories import CustomerFactory, make_order

pytestmark = pytest.mark.django_db
LIST = "/customers/"
UTC = dt.UTC


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def order(customer, total, status="PAID", days_ago=1, **kwargs):
    created = timezone.now() - dt.timedelta(days=days_ago)
    return make_order(customer=customer, status=status, items=[], amount=total, created_at=created, **kwargs)


def names(response) -> list[str]:
    return [customer.name for customer in response.context["page"].object_list]


@pytest.fixture
def shoppers():
    """Ann: 3 paid orders (total 300.00, last 2 days ago); Bob: 1 fulfilled 50.00 order 40 days ago and a
    canceled one; Cy: only a created order (no summary); Dee: no orders at all."""
    ann = CustomerFactory(name="Ann Archer", email="ann@shop.example", source_id="shop-ann", metadata={"tier": "gold"})
    bob = CustomerFactory(name="Bob Brown", email="bob@else.example", metadata={"tier": "silver", "age": 40})
    cy = CustomerFactory(name="Cy Cole", email="cy@shop.example", metadata={"age": 30})
    dee = CustomerFactory(name="Dee Dale", email="dee@else.example")
    for days, total in ((30, 5000), (10, 10000), (2, 15000)):
        order(ann, total, days_ago=days)
    order(bob, 5000, status="FULFILLED", days_ago=40)
    order(bob, 90000, status="CANCELED", days_ago=1)
    order(cy, 70000, status="CREATED", days_ago=1)
    return ann, bob, cy, dee


# --- who may see them ------------------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_login(client, customer):
    for url in (LIST, reverse("customers:detail", args=[customer.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_users_without_a_role_are_refused(client, outsider, customer):
    client.force_login(outsider)
    for url in (LIST, reverse("customers:detail", args=[customer.pk])):
        assert client.get(url).status_code == 403
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 403


def test_viewers_see_them_but_cannot_post(viewer_client, customer):
    for url in (LIST, reverse("customers:detail", args=[customer.pk])):
        assert viewer_client.get(url).status_code == 200
        assert viewer_client.post(url).status_code == 405


def test_an_unknown_customer_is_a_404(viewer_client):
    assert viewer_client.get(reverse("customers:detail", args=["cust_nope"])).status_code == 404


# --- the list: search, filters, sorts ----------------------------------------------------------------------------


def test_the_list_shows_the_order_summary(viewer_client, shoppers):
    response = viewer_client.get(LIST, {"sort": "-spent"})
    html = response.content.decode()
    assert names(response)[:2] == ["Ann Archer", "Bob Brown"]
    row = re.search(rf'(?s)<tr data-customer-id="{shoppers[0].pk}">.*?</tr>', html).group(0)
    assert "$300.00" in row and ">3<" in row and "$100.00" in row and "$150.00" in row
    assert "4 customers" in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "archer"}, ["Ann Archer"]),
        ({"q": "SHOP.EXAMPLE"}, ["Ann Archer", "Cy Cole"]),
        ({"q": "shop-ann"}, ["Ann Archer"]),
        ({"spent_min": "50", "spent_max": "100.00"}, ["Bob Brown"]),
        ({"spent_min": "0.01"}, ["Ann Archer", "Bob Brown"]),
        ({"orders_min": "2"}, ["Ann Archer"]),
        ({"orders_max": "0"}, ["Cy Cole", "Dee Dale"]),
        ({"last_order_within": "7"}, ["Ann Archer"]),
        ({"last_order_older": "7"}, ["Bob Brown"]),
        ({"metadata": "tier=gold"}, ["Ann Archer"]),
        ({"metadata": ["tier=silver", "tier=gold"]}, []),  # all must hold
    ],
)
def test_filters(viewer_client, shoppers, params, expected):
    response = viewer_client.get(LIST, params)
    assert sorted(names(response)) == expected


def test_last_order_date_range_is_in_whole_days(viewer_client, shoppers):
    today = timezone.now().date()
    response = viewer_client.get(
        LIST, {"last_order_from": (today - dt.timedelta(days=41)).isoformat(), "last_order_to": str(today)}
    )
    assert sorted(names(response)) == ["Ann Archer", "Bob Brown"]
    response = viewer_client.get(LIST, {"last_order_to": (today - dt.timedelta(days=40)).isoformat()})
    assert names(response) == ["Bob Brown"]


def test_metadata_is_typed_by_the_customer_schema(viewer_client, shoppers):
    schema = MetadataSchema.objects.create(related_object=MetadataObject.CUSTOMER)
    MetadataSchemaProperty.objects.create(schema=schema, key="age", type=MetadataType.NUMBER)
    assert names(viewer_client.get(LIST, {"metadata": "age=30"})) == ["Cy Cole"]
    assert names(viewer_client.get(LIST, {"metadata": ["age=40", "tier=silver"]})) == ["Bob Brown"]
    response = viewer_client.get(LIST, {"metadata": "age=thirty"})
    assert response.context["page"] is None
    assert "“age” must be a number" in response.content.decode()


def test_bad_filters_are_shown_instead_of_a_list(viewer_client, shoppers):
    response = viewer_client.get(
        LIST, {"spent_min": "abc", "orders_min": "-1", "spent_max": "1", "last_order_within": "x"}
    )
    html = response.content.decode()
    assert response.context["page"] is None
    assert "Some filters could not be used." in html
    assert "Enter an amount such as 12.50." in html
    assert "Ensure this value is greater than or equal to 0." in html
    response = viewer_client.get(LIST, {"spent_min": "10", "spent_max": "5"})
    assert "Total spent: the end of the range is before its start." in response.content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-spent", ["Ann Archer", "Bob Brown"]),
        ("spent", ["Bob Brown", "Ann Archer"]),
        ("-orders", ["Ann Archer", "Bob Brown"]),
        ("orders", ["Bob Brown", "Ann Archer"]),
        ("-last_order", ["Ann Archer", "Bob Brown"]),
        ("last_order", ["Bob Brown", "Ann Archer"]),
    ],
)
def test_sorts(viewer_client, shoppers, sort, expected):
    response = viewer_client.get(LIST, {"sort": sort, "spent_min": "0.01"})
    assert names(response) == expected


def test_sorting_by_last_order_leaves_out_customers_who_never_ordered_and_says_so(viewer_client, shoppers):
    response = viewer_client.get(LIST, {"sort": "-last_order"})
    assert names(response) == ["Ann Archer", "Bob Brown"]
    html = response.content.decode()
    assert "2 customers" in html and "customers who never ordered have none to sort by" in html


def test_newest_customers_come_first_by_default(viewer_client):
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(3):
        CustomerFactory(name=f"c{n}", created_at=start + dt.timedelta(days=n))
    assert names(viewer_client.get(LIST)) == ["c2", "c1", "c0"]


def test_chips_remove_one_filter_each(viewer_client, shoppers):
    response = viewer_client.get(LIST, {"spent_min": "1", "metadata": "tier=gold", "sort": "-spent"})
    chips = {chip["chip"].label: chip["url"] for chip in response.context["chips"]}
    assert set(chips) == {"Total spent from", "Metadata"}
    assert chips["Metadata"] == f"{LIST}?spent_min=1&sort=-spent"
    assert '<span class="chip-label">Total spent from:</span> $1.00' in response.content.decode()


# --- the list: pages, counts, htmx -------------------------------------------------------------------------------


def make_customers(count: int, prefix="p"):
    start = dt.datetime(2025, 1, 1, tzinfo=UTC)
    Customer.objects.bulk_create(
        [
            Customer(id=f"cust_{prefix}{n:04d}", name=f"{prefix}{n:04d}", created_at=start + dt.timedelta(hours=n),
                     orders_total_amount=100 * (n % 7), orders_total_count=n % 3)
            for n in range(count)
        ]
    )  # fmt: skip


@pytest.mark.parametrize("sort", ["-created", "spent", "-orders"])
def test_keyset_pages_walk_the_whole_list_once_in_order(viewer_client, sort):
    make_customers(60)
    seen, url = [], f"{LIST}?sort={sort}"
    while url:
        response = viewer_client.get(url)
        seen += names(response)
        url = response.context["next_url"]
    assert len(seen) == 60 and len(set(seen)) == 60
    back = viewer_client.get(response.context["previous_url"])
    assert names(back) == seen[25:50]


def test_counts_are_capped_and_honest(viewer_client, monkeypatch):
    from orders.views import customers as views

    monkeypatch.setattr(views, "COUNT_CAP", 10)
    make_customers(12)
    assert "More than 10 customers" in viewer_client.get(LIST).content.decode()
    assert re.search(r"\b1 customer\s", viewer_client.get(LIST, {"q": "cust_p0003"}).content.decode())


def test_htmx_requests_get_only_the_part_they_swap(viewer_client, shoppers):
    results = viewer_client.get(LIST, {"q": "ann"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    html = results.content.decode()
    assert html.lstrip().startswith('<section id="results"') and "<form" not in html.split("<table")[0]
    assert results["HX-Push-Url"] == f"{LIST}?q=ann"
    assert "HX-Request" in results["Vary"]
    listing = viewer_client.get(LIST, {"q": "ann"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing")
    assert listing.content.decode().lstrip().startswith('<div id="listing"')


def test_every_htmx_link_is_a_real_link(viewer_client, shoppers):
    make_customers(30)
    html = viewer_client.get(LIST, {"spent_min": "0"}).content.decode()
    for match in re.finditer(r"<a ([^>]*hx-get[^>]*)>", html):
        attrs = match.group(1)
        assert re.search(r'href="([^"]+)"', attrs).group(1) == re.search(r'hx-get="([^"]+)"', attrs).group(1)


@pytest.mark.parametrize(
    ("params", "most"),
    [
        ({}, 6),  # session, user, permissions (2), the page, the count
        ({"sort": "-spent", "spent_min": "1", "orders_min": "1"}, 6),
        ({"metadata": "tier=gold", "q": "example"}, 7),  # + the metadata schema
    ],
)
def test_queries_do_not_grow_with_the_page_size(viewer_client, django_assert_max_num_queries, params, most):
    make_customers(10, prefix="a")
    with django_assert_max_num_queries(most) as small:
        viewer_client.get(LIST, {**params, "per_page": 100})
    make_customers(150, prefix="b")
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = viewer_client.get(LIST, {**params, "per_page": 100})
    if not params:
        assert len(names(response)) == 100


def test_untrusted_text_is_escaped(viewer_client):
    evil = CustomerFactory(name="<script>x()</script>", email="e@x.example", metadata={"<b>": "<i>"})
    html = viewer_client.get(LIST).content.decode()
    assert "<script>x()</script>" not in html and "&lt;script&gt;" in html
    html = viewer_client.get(reverse("customers:detail", args=[evil.pk])).content.decode()
    assert "<script>x()</script>" not in html and "<b>" not in html and "&lt;b&gt;" in html


# --- one customer -------------------------------------------------------------------------------------------------


def test_the_customer_page_shows_profile_metadata_summary_and_orders(viewer_client, shoppers):
    bob = shoppers[1]
    response = viewer_client.get(reverse("customers:detail", args=[bob.pk]))
    html = response.content.decode()
    assert "Bob Brown" in html and "bob@else.example" in html
    assert 'data-key="tier"' in html and "<code>silver</code>" in html
    # the summary counts the fulfilled order, not the canceled one
    assert 'id="summary-total">$50.00<' in html and 'id="summary-count">1<' in html
    listed = [o.status for o in response.context["orders_page"].object_list]
    assert listed == ["CANCELED", "FULFILLED"]
    for o in response.context["orders_page"].object_list:
        assert f'href="{reverse("orders:detail", args=[o.pk])}"' in html
    assert f"{reverse('orders:list')}?customer={bob.pk}" in html


def test_the_customers_orders_are_keyset_paged_with_an_htmx_partial(viewer_client, django_assert_max_num_queries):
    customer = CustomerFactory()
    made = [order(customer, 100 * n, days_ago=n, source_id=f"k-{n:02d}") for n in range(1, 31)]
    url = reverse("customers:detail", args=[customer.pk])
    # session, user, customer, orders page, permissions (2), metadata schema (2), panels (segments: 2)
    with django_assert_max_num_queries(10):
        response = viewer_client.get(url)
    first = [o.pk for o in response.context["orders_page"].object_list]
    assert first == [o.pk for o in made[:25]]
    next_url = response.context["orders_next_url"]
    partial = viewer_client.get(next_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-orders")
    html = partial.content.decode()
    assert html.lstrip().startswith('<section id="customer-orders"')
    assert [o.pk for o in partial.context["orders_page"].object_list] == [o.pk for o in made[25:]]
    assert partial.context["orders_previous_url"]


def test_registered_panels_show_on_the_customer_page_for_users_with_their_permission(
    client, viewer, manager, customer, monkeypatch
):
    monkeypatch.setattr(customer_panels, "_panels", {})
    customer_panels.register_panel(
        customer_panels.CustomerPanel(
            key="loyalty",
            title="Loyalty",
            template_name=Template('<p id="points">{{ panel_context.points }} points for {{ customer.name }}</p>'),
            context=lambda request, c: {"points": 7},
            permission="orders.add_order",
        )
    )
    url = reverse("customers:detail", args=[customer.pk])
    client.force_login(manager)
    html = client.get(url).content.decode()
    assert 'id="panel-loyalty"' in html and f'<p id="points">7 points for {customer.name}</p>' in html
    client.force_login(viewer)
    assert 'id="panel-loyalty"' not in client.get(url).content.decode()
    with pytest.raises(Exception, match="already registered"):
        customer_panels.register_panel(
            customer_panels.CustomerPanel(key="loyalty", title="Other", template_name="x.html", context=dict)
        )


def test_registered_actions_need_their_permission_and_a_url(manager, viewer, monkeypatch):
    monkeypatch.setattr(customer_panels, "_actions", {})
    customer_panels.register_action(
        customer_panels.CustomerAction(key="a", label="A", url_name="orders:list", permission="orders.add_order")
    )
    customer_panels.register_action(customer_panels.CustomerAction(key="b", label="B", url_name="no:such"))
    assert [a.key for a in customer_panels.actions_for(manager)] == ["a"]
    assert customer_panels.actions_for(viewer) == []


def test_register_customer_filter_refuses_built_in_parameters():
    with pytest.raises(ValueError, match="already a parameter"):
        register_customer_filter("spent_min", django_filters.CharFilter())
    with pytest.raises(ValueError, match="already a parameter"):
        register_customer_filter("cursor", django_filters.CharFilter())
    assert "segment" in CustomerFilterSet.base_filters  # segments registered its filter at start-up


def test_the_paginator_can_leave_out_rows_without_a_value_of_a_nullable_sort_field(shoppers):
    with pytest.raises(ValueError, match="nullable"):
        KeysetPaginator(Customer.objects.all(), per_page=1, ordering=("-last_order_date", "-id"))
    paginator = KeysetPaginator(
        Customer.objects.all(), per_page=1, ordering=("-last_order_date", "-id"), skip_nulls=True
    )
    first = paginator.page()
    second = paginator.page(first.next_cursor)
    assert [c.name for c in (*first, *second)] == ["Ann Archer", "Bob Brown"]
    assert not second.has_next
