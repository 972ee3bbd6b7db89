"""The Activity tab: events in words (what, who, when, before → after), escaping, keyset "show older",
and the live poller (204 when nothing is new, only newer rows otherwise, the header refreshed out of band)."""

import re

import pytest
from django.urls import reverse

from orders import services
from orders.choices import EventType, OrderStatus
from orders.events import Actor
from orders.models import OrderEvent
from orders.templatetags.activity_tags import describe
from orders.tests.factories import SYSTEM, UserFactory, make_order

pytestmark = pytest.mark.django_db

SHOP_KEY = Actor.for_api_key(key_id="key_shop", name="Shop backend")


def activity_url(order, **query) -> str:
    base = reverse("orders:activity", args=[order.pk])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def poll_url(order, after) -> str:
    return f"{reverse('orders:activity_new', args=[order.pk])}?after={after}"


def event_rows(html: str) -> list[str]:
    return re.findall(r'<li class="event" id="event-(\d+)"', html)


def row_of(html: str, event_id: int) -> str:
    return re.search(rf'<li class="event" id="event-{event_id}".*?\n</li>', html, re.S).group(0)


def test_activity_lists_events_newest_first_with_what_who_and_when(client, viewer):
    staff = UserFactory(username="jdoe", first_name="Jane", last_name="Doe", role="Manager")
    order = make_order(actor=Actor.system("nightly import"))
    services.order_set_status(order=order, status=OrderStatus.PAID, actor=SHOP_KEY)
    services.order_set_status(order=order, status=OrderStatus.FULFILLED, actor=Actor.for_user(staff))
    client.force_login(viewer)
    response = client.get(activity_url(order))
    assert response.status_code == 200
    html = response.content.decode()
    ids = [event.id for event in OrderEvent.objects.filter(order=order).order_by("-id")]
    assert event_rows(html) == [str(i) for i in ids]
    fulfilled, paid, created = (row_of(html, i) for i in ids)
    assert "Order fulfilled" in fulfilled and 'data-actor-kind="user"' in fulfilled
    assert "Staff user" in fulfilled and "Jane Doe" in fulfilled
    assert "Order paid" in paid and "API key" in paid and "Shop backend" in paid
    assert "Order created" in created and "System" in created and "nightly import" in created
    assert '<time datetime="' in fulfilled
    assert re.search(r"Status</span>\s*<del>Paid</del>.*?<ins>Fulfilled</ins>", fulfilled, re.S)
    # the newest page carries the poller, starting after the newest event
    assert f'data-after="{ids[0]}"' in html
    assert "every 3s [document.visibilityState === 'visible']" in html
    assert 'id="activity-list"' in html


def test_activity_htmx_request_gets_the_tab_with_its_poller(client, viewer, order):
    client.force_login(viewer)
    html = client.get(activity_url(order), HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="order-tabs"')
    assert 'id="activity-poller"' in html and 'hx-swap="afterbegin"' in html and "<html" not in html


def test_activity_shows_readable_diffs_of_amounts_items_metadata_and_redemptions(client, manager):
    order = make_order(
        items=[
            {"source_id": "mug", "related_object": "product", "quantity": 1, "price": 1000, "product": {"name": "Mug"}},
            {"source_id": "cap", "related_object": "product", "quantity": 1, "price": 500, "product": {"name": "Cap"}},
        ],
        metadata={"channel": "web", "gone": "soon"},
    )
    services.order_update(
        order=order,
        actor=SYSTEM,
        items=[
            {"source_id": "mug", "related_object": "product", "quantity": 3, "price": 1000},
            {"source_id": "hat", "related_object": "product", "quantity": 1, "price": 2500, "product": {"name": "Hat"}},
        ],
        metadata={"channel": "store", "new": {"deep": [1, 2]}},
    )
    redemption = services.redemption_record(
        order=order, actor=SHOP_KEY, amount=750, incentive_code="SPRING", incentive_name="Spring sale"
    )
    services.redemption_rollback(redemption=redemption, actor=SYSTEM, reason="Fraud check failed")
    client.force_login(manager)
    html = client.get(activity_url(order)).content.decode()
    updated = row_of(html, OrderEvent.objects.get(order=order, type=EventType.ORDER_UPDATED).id)
    assert "Order updated" in updated
    assert re.search(r"Amount</span>\s*<del>\$15.00</del>.*?<ins>\$55.00</ins>", updated, re.S)
    assert "Item added</span>\n      <ins>1 × Hat (hat) at $25.00 = $25.00</ins>" in updated
    assert "Item removed</span>\n      <del>1 × Cap (cap) at $5.00 = $5.00</del>" in updated
    assert re.search(r"Mug: quantity</span>\s*<del>1</del>.*?<ins>3</ins>", updated, re.S)
    assert re.search(r"Mug: amount</span>\s*<del>\$10.00</del>.*?<ins>\$30.00</ins>", updated, re.S)
    assert re.search(r"Metadata “channel”</span>\s*<del>web</del>.*?<ins>store</ins>", updated, re.S)
    assert "Metadata “new”</span>\n      <ins>{&quot;deep&quot;:[1,2]}</ins>" in updated
    assert "Metadata “gone”</span>\n      <del>soon</del>" in updated

    succeeded = row_of(html, OrderEvent.objects.get(order=order, type=EventType.REDEMPTION_SUCCEEDED).id)
    assert "Redemption succeeded" in succeeded and "Voucher SPRING · Spring sale" in succeeded
    assert "<dt>Discount</dt><dd>$7.50</dd>" in succeeded and "Shop backend" in succeeded
    assert re.search(r"Order discount</span>\s*<del>\$0.00</del>.*?<ins>\$7.50</ins>", succeeded, re.S)
    rolled = row_of(html, OrderEvent.objects.get(order=order, type=EventType.REDEMPTION_ROLLBACK_SUCCEEDED).id)
    assert "Redemption rolled back" in rolled and "<dt>Reason</dt><dd>Fraud check failed</dd>" in rolled
    assert redemption.id in rolled
    canceled = row_of(html, OrderEvent.objects.get(order=order, type=EventType.ORDER_CANCELED).id)
    assert re.search(r"<del>Paid</del>.*?<ins>Canceled</ins>", canceled, re.S)


def test_failed_redemption_event_shows_its_failure(client, viewer, order):
    services.redemption_record(
        order=order,
        actor=SYSTEM,
        status="FAILED",
        incentive_code="OLD",
        failure_code="expired",
        failure_message="Too late",
    )
    client.force_login(viewer)
    html = client.get(activity_url(order)).content.decode()
    assert "Redemption failed" in html and "<dt>Failure</dt><dd>expired: Too late</dd>" in html


def test_activity_escapes_hostile_names_metadata_and_reasons(client, viewer):
    hostile = "<script>alert(1)</script>"
    staff = UserFactory(username="evil", first_name="<b>Bad", last_name="Guy</b>", role="Manager")
    order = make_order(
        customer={"source_id": "c", "name": hostile},
        metadata={hostile: hostile, "ok": {"x": "<img src=x onerror=alert(2)>"}},
        actor=Actor.for_api_key(key_id="k", name="<svg onload=alert(3)>"),
    )
    redemption = services.redemption_record(order=order, actor=Actor.for_user(staff), amount=1, incentive_code=hostile)
    services.redemption_rollback(redemption=redemption, actor=Actor.system("<i>sys</i>"), reason=hostile)
    client.force_login(viewer)
    for page in (activity_url(order), reverse("orders:detail", args=[order.pk])):
        html = client.get(page).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "<svg onload" not in html and "<b>Bad" not in html and "<i>sys</i>" not in html
    html = client.get(activity_url(order)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;svg onload=alert(3)&gt;" in html and "&lt;b&gt;Bad Guy&lt;/b&gt;" in html


def test_a_removed_staff_account_still_shows_who_it_was(client, viewer, order):
    staff = UserFactory(username="leaver", role="Manager")
    services.order_set_status(order=order, status=OrderStatus.PAID, actor=Actor.for_user(staff))
    staff.delete()
    client.force_login(viewer)
    assert "leaver (account removed)" in client.get(activity_url(order)).content.decode()


def test_long_histories_show_the_newest_100_then_older_pages(client, viewer, order):
    for index in range(104):  # + the creation event: 105 events
        services.order_update(order=order, actor=SYSTEM, metadata_set={"n": index})
    ids = list(OrderEvent.objects.filter(order=order).order_by("-id").values_list("id", flat=True))
    client.force_login(viewer)
    html = client.get(activity_url(order)).content.decode()
    assert event_rows(html) == [str(i) for i in ids[:100]]
    older = activity_url(order, before=ids[99])
    assert f'href="{older}"' in html
    page2 = client.get(older).content.decode()
    assert event_rows(page2) == [str(i) for i in ids[100:]]
    assert 'id="activity-older"' not in page2 and 'id="activity-poller"' not in page2
    assert 'id="activity-newest"' in page2
    partial = client.get(older, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith("<li") and "<html" not in partial and 'id="order-tabs"' not in partial
    assert event_rows(partial) == [str(i) for i in ids[100:]]


# --- the poller ------------------------------------------------------------------------------------------


def test_polling_with_nothing_new_answers_204_in_three_queries(client, viewer, order, django_assert_max_num_queries):
    client.force_login(viewer)
    newest = OrderEvent.objects.filter(order=order).latest("id").id
    with django_assert_max_num_queries(3):  # session, user, then one query: order, newer event?, permissions
        response = client.get(poll_url(order, newest), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response.content == b""


def test_polling_returns_only_newer_events_moves_the_poller_and_refreshes_the_header(client, manager, order):
    client.force_login(manager)
    first = OrderEvent.objects.filter(order=order).latest("id").id
    services.order_set_status(order=order, status=OrderStatus.PAID, actor=SHOP_KEY)
    services.order_update(order=order, actor=SYSTEM, metadata_set={"note": "packed"})
    order.refresh_from_db()
    newest = OrderEvent.objects.filter(order=order).latest("id").id
    response = client.get(poll_url(order, first), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    new_ids = OrderEvent.objects.filter(order=order, id__gt=first).order_by("-id").values_list("id", flat=True)
    assert event_rows(html) == [str(i) for i in new_ids] and len(new_ids) == 2
    # the poller moves to the newest event, out of band
    poller = re.search(r'<div id="activity-poller".*?></div>', html, re.S).group(0)
    assert f"after={newest}" in poller and 'hx-swap-oob="true"' in poller
    # the header follows: status, version for the status form
    header = re.search(r'<section id="order-header".*?</section>', html, re.S).group(0)
    assert 'hx-swap-oob="true"' in header and f'data-version="{order.version}"' in header
    assert ">Paid<" in header and f'name="version" value="{order.version}"' in header
    assert 'id="status-select"' in header
    # asked again from the new position: nothing
    assert client.get(poll_url(order, newest), HTTP_HX_REQUEST="true").status_code == 204


def test_polled_header_shows_no_controls_to_a_viewer(client, viewer, order):
    client.force_login(viewer)
    first = OrderEvent.objects.filter(order=order).latest("id").id
    services.order_set_status(order=order, status=OrderStatus.PAID, actor=SYSTEM)
    html = client.get(poll_url(order, first), HTTP_HX_REQUEST="true").content.decode()
    assert "Order paid" in html and 'id="status-select"' not in html


def test_polling_many_new_events_returns_them_in_batches_without_gaps(client, viewer, order):
    client.force_login(viewer)
    first = OrderEvent.objects.filter(order=order).latest("id").id
    for index in range(120):
        services.order_update(order=order, actor=SYSTEM, metadata_set={"n": index})
    ids = list(OrderEvent.objects.filter(order=order, id__gt=first).order_by("id").values_list("id", flat=True))
    batch1 = event_rows(client.get(poll_url(order, first), HTTP_HX_REQUEST="true").content.decode())
    assert batch1 == [str(i) for i in reversed(ids[:100])]
    batch2 = event_rows(client.get(poll_url(order, ids[99]), HTTP_HX_REQUEST="true").content.decode())
    assert batch2 == [str(i) for i in reversed(ids[100:])]


def test_polling_guards(client, viewer, outsider, order):
    target = poll_url(order, 0)
    # anonymous: the login page; over htmx, the whole window goes there
    assert client.get(target)["Location"].startswith(f"{reverse('login')}?next=")
    htmx = client.get(target, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{activity_url(order)}")
    assert htmx["HX-Redirect"] == f"{reverse('login')}?next={activity_url(order)}"
    client.force_login(outsider)
    assert client.get(target, HTTP_HX_REQUEST="true").status_code == 403
    assert client.get(poll_url(type(order)(pk="ord_nope"), 0), HTTP_HX_REQUEST="true").status_code == 403
    client.force_login(viewer)
    assert client.get(poll_url(type(order)(pk="ord_nope"), 0), HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(poll_url(order, "abc"), HTTP_HX_REQUEST="true").status_code == 400
    # opened without htmx: the Activity tab
    assert client.get(target)["Location"] == activity_url(order)


def test_superuser_polls_without_a_role(client, order):
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    first = OrderEvent.objects.filter(order=order).latest("id").id
    assert client.get(poll_url(order, first), HTTP_HX_REQUEST="true").status_code == 204


# --- events in words (unit) -------------------------------------------------------------------------------


def test_describe_names_unknown_types_and_tolerates_odd_data(order):
    event = OrderEvent(id=1, order=order, type="order.archived", actor_type="system", actor_name="system", data=[])
    view = describe(event)
    assert (view.title, view.actor_kind_label, view.actor_name, view.lines) == ("order.archived", "System", "", [])
    event = OrderEvent(
        id=2,
        order=order,
        type=EventType.ORDER_UPDATED,
        actor_type="api_key",
        actor_id="key_1",
        data={"changes": {"customer_id": {"before": "cust_a", "after": None}}, "metadata": {"set": {"k": 5}}},
    )
    view = describe(event)
    assert view.actor_name == "key_1"
    assert [(line.kind, line.label, line.before, line.after) for line in view.lines] == [
        ("cleared", "Customer", "cust_a", ""),
        ("added", "Metadata “k”", "", "5"),
    ]
