"""The segment pages through the test client: permissions for every URL, the builder and its partials, the
segment page, static members, adding from the customer list, the order page's Segments tab and the
``segment`` filter of the orders and customer lists."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from orders.tests.factories import CustomerFactory, make_order
from segments import services
from segments.models import Segment, SegmentMember

pytestmark = pytest.mark.django_db

BIG_SPENDERS = {"summary.orders.total_amount": {"conditions": {"$more_than": [15000]}}}


@pytest.fixture
def auto_segment():
    return services.segment_create(name="Big spenders", type="auto-update", filter=BIG_SPENDERS)


@pytest.fixture
def static_segment():
    return services.segment_create(name="Hand-picked", type="static")


def paid(customer, total, **kwargs):
    return make_order(customer=customer, status="PAID", items=[], amount=total, **kwargs)


def builder_post(rows, *, name="Seg", junction="and", **extra):
    """Form data of the builder: rows of (attribute, operator, value[, key])."""
    data = {"name": name, "junction": junction, "row": [str(n) for n in range(len(rows))], **extra}
    for n, row in enumerate(rows):
        attribute, operator, value, *key = row
        data |= {f"attribute-{n}": attribute, f"operator-{n}": operator, f"value-{n}": value}
        if key:
            data[f"key-{n}"] = key[0]
    return data


# --- permissions, for every URL --------------------------------------------------------------------------------


def urls(segment, order):
    """(method, url, kind): kind "read" is open to Viewers, "write" to Managers and Admins."""
    return [
        ("get", reverse("segments:list"), "read"),
        ("get", reverse("segments:detail", args=[segment.pk]), "read"),
        ("get", reverse("segments:count", args=[segment.pk]), "read"),
        ("post", reverse("segments:builder_count"), "read"),
        ("get", reverse("segments:order_tab", args=[order.pk]), "read"),
        ("get", reverse("segments:new") + "?type=auto-update", "write"),
        ("post", reverse("segments:new") + "?type=auto-update", "write"),
        ("get", reverse("segments:edit", args=[segment.pk]), "write"),
        ("post", reverse("segments:edit", args=[segment.pk]), "write"),
        ("get", reverse("segments:delete", args=[segment.pk]), "write"),
        ("post", reverse("segments:delete", args=[segment.pk]), "write"),
        ("post", reverse("segments:members_add", args=[segment.pk]), "write"),
        ("post", reverse("segments:members_remove", args=[segment.pk]), "write"),
        ("get", reverse("segments:export", args=[segment.pk]), "write"),
        ("post", reverse("segments:export", args=[segment.pk]), "write"),
        ("get", reverse("segments:add_customers"), "write"),
        ("post", reverse("segments:add_customers"), "write"),
    ]


def test_anonymous_users_are_sent_to_login_everywhere(client, static_segment, order):
    for method, url, _ in urls(static_segment, order):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url


def test_users_without_a_role_are_refused_everywhere(client, outsider, static_segment, order):
    client.force_login(outsider)
    for method, url, _ in urls(static_segment, order):
        assert getattr(client, method)(url).status_code == 403, url


def test_viewers_read_but_never_write(client, viewer, static_segment, order):
    client.force_login(viewer)
    for method, url, kind in urls(static_segment, order):
        status = getattr(client, method)(url).status_code
        assert (status == 200) if kind == "read" else (status == 403), (url, status)
    assert Segment.objects.filter(pk=static_segment.pk).exists()


@pytest.mark.parametrize("role", ["manager", "admin_user"])
def test_managers_and_admins_may_use_every_page(client, role, request, static_segment, order):
    client.force_login(request.getfixturevalue(role))
    customer = CustomerFactory()
    for method, url, _ in urls(static_segment, order):
        if url.endswith("/delete/") and method == "post":
            continue
        data = {"customer": customer.pk} if method == "post" and "members" in url else {}
        response = getattr(client, method)(url, data)
        assert response.status_code in (200, 302, 400), (url, response.status_code)
    response = client.post(reverse("segments:delete", args=[static_segment.pk]))
    assert response.status_code == 302
    assert not Segment.objects.filter(pk=static_segment.pk).exists()


def test_the_nav_links_follow_the_permissions(client, viewer, outsider):
    client.force_login(viewer)
    html = client.get(reverse("segments:list")).content.decode()
    assert f'href="{reverse("segments:list")}" aria-current="page">Segments</a>' in html
    assert f'href="{reverse("customers:list")}"' in html
    client.force_login(outsider)
    html = client.get(reverse("home")).content.decode()
    assert reverse("segments:list") not in html and reverse("customers:list") not in html


# --- the builder ----------------------------------------------------------------------------------------------


def test_a_segment_is_built_and_saved_without_javascript(client, manager):
    client.force_login(manager)
    url = reverse("segments:new") + "?type=auto-update"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="attribute-0"' in html and 'id="member-count"' in html
    # "Add condition" is a plain submit: the whole page comes back with one more row and everything kept
    rows = [("summary.orders.total_amount", "$more_than", "150.00")]
    page = client.post(url, builder_post(rows, name="VIP", add_row="1"))
    html = page.content.decode()
    assert page.status_code == 200 and 'name="attribute-1"' in html and 'value="150.00"' in html
    rows += [
        ("summary.orders.total_count", "$more_than_equal", "3"),
        ("summary.orders.last_order_date", "within_days", "90"),
    ]
    response = client.post(url, builder_post(rows, name="VIP", save="1"))
    segment = Segment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("segments:detail", args=[segment.pk])
    assert segment.type == "auto-update"
    assert segment.filter == {
        "junction": "and",
        "summary.orders.total_amount": {"conditions": {"$more_than": [15000]}},
        "summary.orders.total_count": {"conditions": {"$more_than_equal": [3]}},
        "summary.orders.last_order_date": {"conditions": {"$after": ["90 days ago"]}},
    }
    html = client.get(response["Location"]).content.decode()
    assert (
        "Customers who spent more than $150.00 and ordered at least 3 times and last ordered within the last 90 days"
        in html
    )


def test_builder_buttons_swap_only_the_conditions_with_htmx(client, manager):
    client.force_login(manager)
    url = reverse("segments:new") + "?type=auto-update"
    rows = [("summary.orders.total_amount", "$more_than", "150.00"), ("email", "$contains", "@shop.example")]
    response = client.post(url, builder_post(rows, add_row="1"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "segment-conditions-changed" in response["HX-Trigger-After-Settle"]
    assert html.lstrip().startswith('<fieldset id="conditions"')
    assert "<html" not in html
    assert re.findall(r'name="row" value="(\d+)"', html) == ["0", "1", "2"]

    response = client.post(url, builder_post(rows, remove_row="0"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert re.findall(r'name="row" value="(\d+)"', html) == ["1"]
    assert 'value="@shop.example"' in html

    # a changed attribute gets the operators and the value input of its type
    changed = builder_post([("summary.orders.last_order_date", "$contains", "")], refresh="1")
    html = client.post(url, changed, HTTP_HX_REQUEST="true").content.decode()
    assert '<option value="within_days" selected>' in html
    assert "$contains" not in html
    assert 'type="number"' in html and "(days)" in html
    # metadata rows get a key input
    html = client.post(url, builder_post([("metadata", "$is", "", "tier")], refresh="1"), HTTP_HX_REQUEST="true")
    assert 'name="key-0"' in html.content.decode() and 'value="tier"' in html.content.decode()


def test_the_live_count_follows_the_conditions(client, viewer):
    big, small = CustomerFactory(), CustomerFactory()
    paid(big, 20000)
    paid(small, 5000)
    client.force_login(viewer)
    url = reverse("segments:builder_count")
    response = client.post(url, builder_post([("summary.orders.total_amount", "$more_than", "150")]))
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="member-count"')
    assert '<strong class="big" id="member-count-value">1</strong> customer matches now' in html
    assert "Customers who spent more than $150.00." in html
    response = client.post(url, builder_post([("summary.orders.total_amount", "$more_than", "10")]))
    assert 'id="member-count-value">2</strong> customers' in response.content.decode()
    response = client.post(url, builder_post([("summary.orders.total_amount", "$more_than", "ten")]))
    assert "Complete the conditions" in response.content.decode()


def test_a_failed_save_marks_each_bad_row_and_keeps_what_was_typed(client, manager):
    client.force_login(manager)
    url = reverse("segments:new") + "?type=auto-update"
    rows = [
        ("summary.orders.total_amount", "$more_than", "a lot"),
        ("summary.orders.total_amount", "$more_than", "5"),
        ("metadata", "$is", "gold", ""),
        ("created_at", "$after", "last tuesday"),
    ]
    response = client.post(url, builder_post(rows, name="", save="1"))
    html = response.content.decode()
    assert response.status_code == 200
    assert not Segment.objects.exists()
    assert "Total spent more than: “a lot” is not an amount" in html
    assert "this test is already used on the same attribute above" in html
    assert "Enter the metadata key." in html
    assert "“last tuesday” is not a date" in html
    assert "This field is required." in html
    assert 'value="a lot"' in html and 'value="last tuesday"' in html


def test_the_edit_page_shows_the_stored_filter_as_rows_and_saves_changes(client, manager, auto_segment):
    client.force_login(manager)
    url = reverse("segments:edit", args=[auto_segment.pk])
    html = client.get(url).content.decode()
    assert 'value="150.00"' in html and '<option value="$more_than" selected>' in html
    rows = [("summary.orders.total_amount", "$more_than", "200"), ("name", "$starts_with", "Ann")]
    response = client.post(url, builder_post(rows, name="Bigger", junction="or", save="1"))
    assert response.status_code == 302
    auto_segment.refresh_from_db()
    assert auto_segment.name == "Bigger"
    assert auto_segment.filter["junction"] == "or"
    assert auto_segment.filter["name"] == {"conditions": {"$starts_with": ["Ann"]}}


# --- static segments -------------------------------------------------------------------------------------------


def test_a_static_segment_is_created_from_pasted_and_uploaded_ids(client, manager):
    ann, bob, cy = CustomerFactory(source_id="shop-ann"), CustomerFactory(), CustomerFactory()
    client.force_login(manager)
    upload = SimpleUploadedFile("ids.csv", f"id\n{bob.pk}\n{cy.source_id}\n".encode(), content_type="text/csv")
    response = client.post(
        reverse("segments:new") + "?type=static",
        {"name": "Picked", "members": "shop-ann", "members_file": upload, "save": "1"},
    )
    segment = Segment.objects.get()
    assert response.status_code == 302
    assert set(segment.members.values_list("customer_id", flat=True)) == {ann.pk, bob.pk, cy.pk}


def test_unknown_ids_are_named_and_nothing_is_created(client, manager):
    client.force_login(manager)
    response = client.post(
        reverse("segments:new") + "?type=static", {"name": "Picked", "members": "ghost-1\nghost-2", "save": "1"}
    )
    assert response.status_code == 200
    assert "2 references match no customer (by id or source id): ghost-1, ghost-2" in response.content.decode()
    assert not Segment.objects.exists()


def test_members_are_added_and_removed_on_the_segment_page(client, manager, static_segment):
    a, b = CustomerFactory(), CustomerFactory()
    client.force_login(manager)
    detail = reverse("segments:detail", args=[static_segment.pk])
    response = client.post(reverse("segments:members_add", args=[static_segment.pk]), {"members": f"{a.pk}, {b.pk}"})
    assert response.status_code == 302 and response["Location"] == detail
    html = client.get(detail).content.decode()
    assert "2 customers added to “Hand-picked”." in html
    assert 'id="segment-count" class="big">2<' in html
    response = client.post(reverse("segments:members_add", args=[static_segment.pk]), {"members": "ghost"}, follow=True)
    assert "No customers were added: 1 reference matches no customer" in response.content.decode()
    client.post(reverse("segments:members_remove", args=[static_segment.pk]), {"customer": [a.pk]})
    assert list(static_segment.members.values_list("customer_id", flat=True)) == [b.pk]


def test_the_static_limit_is_shown_as_a_clear_error(client, manager, static_segment, monkeypatch):
    monkeypatch.setattr(services, "STATIC_MEMBER_LIMIT", 1)
    a, b = CustomerFactory(), CustomerFactory()
    client.force_login(manager)
    response = client.post(
        reverse("segments:members_add", args=[static_segment.pk]), {"members": f"{a.pk} {b.pk}"}, follow=True
    )
    assert "a static segment holds at most 1 customers: it has 0 and 2 new ones were given, 1 too many" in (
        response.content.decode()
    )
    assert not SegmentMember.objects.exists()


def test_customers_ticked_in_the_customer_list_go_into_a_static_segment(client, manager, static_segment):
    a, b = CustomerFactory(name="Ann"), CustomerFactory(name="Bob")
    client.force_login(manager)
    listing = client.get(reverse("customers:list")).content.decode()
    assert f'formaction="{reverse("segments:add_customers")}"' in listing
    assert f'name="customer" value="{a.pk}" form="customer-selection"' in listing
    url = reverse("segments:add_customers")
    page = client.get(url, {"customer": [a.pk, b.pk]}).content.decode()
    assert "Add 2 customers to a static segment" in page and "Ann" in page and "Hand-picked" in page
    response = client.post(url, {"customer": [a.pk, b.pk], "segment": static_segment.pk})
    assert response.status_code == 302
    assert static_segment.members.count() == 2
    response = client.post(url, {"customer": [a.pk], "segment": "__new__", "new_name": "Fresh"})
    fresh = Segment.objects.get(name="Fresh")
    assert response["Location"] == reverse("segments:detail", args=[fresh.pk])
    response = client.post(url, {"customer": [a.pk], "segment": "__new__", "new_name": ""})
    assert response.status_code == 400 and "Name: must not be empty" in response.content.decode()


# --- the segment page -------------------------------------------------------------------------------------------


def test_the_segment_page_pages_through_members_by_total_spent(
    client, viewer, auto_segment, django_assert_max_num_queries
):
    customers = [CustomerFactory(name=f"c{n:02d}") for n in range(30)]
    for n, customer in enumerate(customers):
        paid(customer, 20000 + 100 * n, source_id=f"o-{n}")
    client.force_login(viewer)
    url = reverse("segments:detail", args=[auto_segment.pk])
    # session, user, segment, members page, count, permissions (2)
    with django_assert_max_num_queries(8):
        response = client.get(url)
    html = response.content.decode()
    assert 'id="segment-count" class="big">30<' in html
    names = re.findall(r'<span class="customer-name">(c\d\d)</span>', html)
    assert names == [f"c{n:02d}" for n in range(29, 4, -1)]
    assert f'href="{reverse("orders:list")}?segment={auto_segment.pk}"' in html
    next_url = response.context["next_url"]
    partial = client.get(next_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="members").content.decode()
    assert partial.lstrip().startswith('<section id="members"')
    assert re.findall(r'<span class="customer-name">(c\d\d)</span>', partial) == ["c04", "c03", "c02", "c01", "c00"]


def test_untrusted_names_are_escaped(client, viewer):
    segment = services.segment_create(
        name="<script>alert(1)</script>",
        type="auto-update",
        filter={"metadata.<b>k</b>": {"conditions": {"$is": ["<img src=x>"]}}},
    )
    client.force_login(viewer)
    for url in (reverse("segments:detail", args=[segment.pk]), reverse("segments:list")):
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html and "<img src=x>" not in html and "<b>k</b>" not in html
        assert "&lt;script&gt;" in html


def test_the_list_shows_static_counts_and_loads_live_counts(client, viewer, auto_segment, static_segment):
    client.force_login(viewer)
    html = client.get(reverse("segments:list")).content.decode()
    assert "Big spenders" in html and "Hand-picked" in html
    assert f'hx-get="{reverse("segments:count", args=[auto_segment.pk])}" hx-trigger="load"' in html
    count = client.get(reverse("segments:count", args=[auto_segment.pk]), HTTP_HX_REQUEST="true")
    assert f'data-count-for="{auto_segment.pk}">0</span>' in count.content.decode()


# --- what segments adds to the orders pages ----------------------------------------------------------------------


def test_the_order_page_has_a_segments_tab(client, viewer, auto_segment, static_segment):
    customer = CustomerFactory(name="Ann")
    order = paid(customer, 20000)
    services.segment_add_customers(segment=static_segment, customers=[customer.pk])
    client.force_login(viewer)
    detail = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    tab_url = reverse("segments:order_tab", args=[order.pk])
    assert f'href="{tab_url}"' in detail and 'data-tab="segments"' in detail
    page = client.get(tab_url).content.decode()
    assert 'id="order-header"' in page and 'aria-current="page">Segments</a>' in page
    assert "Big spenders" in page and "Hand-picked" in page
    partial = client.get(tab_url, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="order-tabs"') and "Big spenders" in partial
    without = make_order(source_id="nobody")
    assert "has no customer" in client.get(reverse("segments:order_tab", args=[without.pk])).content.decode()
    assert client.get(reverse("segments:order_tab", args=["ord_missing"])).status_code == 404


def test_the_orders_list_can_be_filtered_to_a_segments_customers(client, viewer, auto_segment):
    big, small = CustomerFactory(), CustomerFactory()
    mine = [paid(big, 20000, source_id="big-1"), make_order(customer=big, source_id="big-2")]
    paid(small, 100, source_id="small-1")
    client.force_login(viewer)
    response = client.get(reverse("orders:list"), {"segment": auto_segment.pk})
    assert {o.pk for o in response.context["page"].object_list} == {o.pk for o in mine}
    html = response.content.decode()
    assert '<span class="chip-label">Segment:</span> Big spenders' in html
    response = client.get(reverse("orders:list"), {"segment": "seg_nope"})
    assert response.context["page"] is None
    assert "No segment has the id “seg_nope”." in response.content.decode()


def test_the_customer_list_and_page_know_the_segments(client, viewer, auto_segment, static_segment):
    big, other = CustomerFactory(name="Big"), CustomerFactory(name="Other")
    paid(big, 20000)
    client.force_login(viewer)
    response = client.get(reverse("customers:list"), {"segment": auto_segment.pk})
    assert [c.pk for c in response.context["page"].object_list] == [big.pk]
    page = client.get(reverse("customers:detail", args=[big.pk])).content.decode()
    assert 'id="panel-segments"' in page and "Big spenders" in page
    page = client.get(reverse("customers:detail", args=[other.pk])).content.decode()
    assert "In no segment." in page
    # Viewers may not change segments, so the list offers them no selection
    assert 'id="customer-selection"' not in client.get(reverse("customers:list")).content.decode()


def test_relative_dates_are_evaluated_when_the_page_is_seen(client, viewer):
    recent, old = CustomerFactory(name="Recent"), CustomerFactory(name="Old")
    now = dt.datetime.now(dt.UTC)
    paid(recent, 100, created_at=now - dt.timedelta(days=10))
    paid(old, 100, created_at=now - dt.timedelta(days=100))
    segment = services.segment_create(
        name="Active",
        type="auto-update",
        filter={"summary.orders.last_order_date": {"conditions": {"$after": ["90 days ago"]}}},
    )
    client.force_login(viewer)
    response = client.get(reverse("segments:detail", args=[segment.pk]))
    assert [c.name for c in response.context["page"].object_list] == ["Recent"]
