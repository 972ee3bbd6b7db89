"""The order page: header and status change, Summary (items, totals, redemptions and rollback, customer
cards), Metadata (view and editor), tabs as URLs, registered tabs, permissions and 404s."""

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders import services, tabs
from orders.choices import EventType, MetadataObject, MetadataType, OrderStatus, RedemptionStatus
from orders.events import Actor
from orders.models import MetadataSchema, Order, OrderEvent, Redemption
from orders.money import format_minor
from orders.tests.factories import SYSTEM, make_order

pytestmark = pytest.mark.django_db


def items(count: int) -> list[dict]:
    lines = [
        {
            "related_object": "sku",
            "source_id": "shirt-red-l",
            "sku": {"sku": "Shirt red L"},
            "product": {"source_id": "shirt", "name": "Shirt"},
            "quantity": 1,
            "price": 2500,
            "discount_amount": 500,
        }
    ]
    lines += [
        {
            "related_object": "product",
            "source_id": f"prod-{i}",
            "product": {"name": f"Mug {i}"},
            "quantity": 2,
            "price": 1000,
        }
        for i in range(count - 1)
    ]
    return lines


def rich_order(item_count: int = 2, redemption_count: int = 1, **extra) -> Order:
    """An order with a customer, a referrer, items (one SKU line), a succeeded and a failed redemption."""
    order = make_order(
        source_id=extra.pop("source_id", "shop-1001"),
        customer={"source_id": "cust-ann", "name": "Ann Buyer", "email": "ann@example.com", "phone": "+1 555 0100"},
        referrer={"source_id": "cust-rita", "name": "Rita Referrer", "email": "rita@example.com"},
        items=items(item_count),
        discount_amount=200,
        **extra,
    )
    for index in range(redemption_count):
        services.redemption_record(
            order=order, actor=SYSTEM, amount=300, incentive_code=f"SUMMER{index}", incentive_name="Summer sale"
        )
    services.redemption_record(
        order=order,
        actor=SYSTEM,
        status=RedemptionStatus.FAILED,
        incentive_code="EXPIRED1",
        failure_code="voucher_expired",
        failure_message="The voucher expired on 2026-01-01",
    )
    order.refresh_from_db()
    return order


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def url(name: str, order: Order | str, *extra) -> str:
    order_id = order.pk if isinstance(order, Order) else order
    return reverse(f"orders:{name}", args=[order_id, *extra])


# --- Summary tab ---------------------------------------------------------------------------------------


def test_summary_shows_header_items_totals_incentives_and_people(client, manager):
    order = rich_order()
    client.force_login(manager)
    response = client.get(url("detail", order))
    assert response.status_code == 200
    html = response.content.decode()
    # header
    assert order.id in html and "shop-1001" in html
    assert 'id="order-status" class="badge status-paid">Paid<' in html
    assert f'id="order-total" class="num oh-total">{format_minor(order.total_amount)}<' in html
    assert f'data-version="{order.version}"' in html
    # items: name and ids, quantity, price, amount, discount, subtotal
    assert "Shirt red L" in html and "of Shirt" in html and "shirt-red-l" in html
    assert "Mug 0" in html and "prod-0" in html
    item = order.items.get(sku_name="Shirt red L")
    assert item.sku_id in html and item.product_id in html
    assert "$25.00" in html and "−$5.00" in html and "$20.00" in html
    # totals: amount 25 + 20 = 45, order discount 2 + 3 (redemption), items discount 5
    totals = re.search(r'<dl class="totals" id="totals">(.*?)</dl>', html, re.S).group(1)
    for label, value in [
        ("Amount", "$45.00"),
        ("Order discount", "−$5.00"),
        ("Items discount", "−$5.00"),
        ("Total discount", "−$10.00"),
        ("Total", "$35.00"),
    ]:
        assert f'<dt>{label}</dt><dd class="num">{value}</dd>' in totals, label
    # incentives: succeeded with rollback action, failed with its message
    succeeded = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    assert "SUMMER0" in html and "Summer sale" in html
    assert f'id="rollback-{succeeded.id}"' in html
    assert "voucher_expired" in html and "The voucher expired on 2026-01-01" in html
    # customer and referrer cards with the customer's order summary (the order is PAID: it counts)
    customer_card = re.search(r'id="customer-card".*?</section>', html, re.S).group(0)
    assert "Ann Buyer" in customer_card and "ann@example.com" in customer_card and "+1 555 0100" in customer_card
    assert "$35.00" in customer_card  # total spent, average and last order amount
    assert re.search(r"<dt>Orders</dt><dd class=\"num\">1</dd>", customer_card)
    referrer_card = re.search(r'id="referrer-card".*?</section>', html, re.S).group(0)
    assert "Rita Referrer" in referrer_card
    assert re.search(r"<dt>Orders</dt><dd class=\"num\">0</dd>", referrer_card)
    # status control and edit link for a Manager; tab links
    assert 'id="status-select"' in html and 'id="order-edit-link"' in html
    assert f'href="{reverse("orders:edit", args=[order.id])}"' in html
    for key in ("summary", "metadata", "activity"):
        assert f'id="tab-{key}"' in html
    assert 'id="tab-summary" data-tab="summary" class="tab" aria-current="page"' in html


def test_rolled_back_redemption_shows_rollback_details_and_no_action(client, manager):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    services.redemption_rollback(redemption=redemption, actor=SYSTEM, reason="Customer returned the goods")
    redemption.refresh_from_db()
    client.force_login(manager)
    html = client.get(url("detail", order)).content.decode()
    assert "Rolled back" in html and redemption.rollback_id in html and "Customer returned the goods" in html
    assert f'id="rollback-{redemption.id}"' not in html


def test_summary_htmx_request_gets_only_the_tabs_partial(client, viewer):
    order = rich_order()
    client.force_login(viewer)
    response = client.get(url("detail", order), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="order-tabs"')
    assert "<html" not in html and 'id="order-header"' not in html
    assert "Shirt red L" in html
    assert "HX-Request" in response["Vary"]


def test_history_restore_request_gets_the_whole_page(client, viewer, order):
    client.force_login(viewer)
    response = client.get(url("metadata", order), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


def test_viewer_sees_the_order_without_any_edit_control(client, viewer):
    order = rich_order()
    client.force_login(viewer)
    html = client.get(url("detail", order)).content.decode()
    assert "Shirt red L" in html
    for hook in ('id="status-select"', 'id="order-edit-link"', "data-rollback=", "Roll back"):
        assert hook not in html


def test_summary_runs_a_constant_number_of_queries(client, manager, django_assert_max_num_queries):
    small = rich_order(item_count=1, redemption_count=1, source_id="small")
    big = rich_order(item_count=40, redemption_count=6, source_id="big")
    client.force_login(manager)
    counts = []
    for order in (small, big):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url("detail", order)).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]
    # session, user, order + customer + referrer, items, redemptions, the user's permissions (2)
    with django_assert_max_num_queries(7):
        client.get(url("detail", big))


# --- status change --------------------------------------------------------------------------------------


def test_status_select_offers_the_allowed_moves_and_canceled_is_final(client, manager, order):
    client.force_login(manager)
    html = client.get(url("detail", order)).content.decode()
    select = re.search(r'<select name="status" id="status-select".*?</select>', html, re.S).group(0)
    assert re.findall(r'value="(\w+)"', select) == ["PAID", "CANCELED", "FULFILLED"]
    assert f'name="version" value="{order.version}"' in html
    services.order_set_status(order=order, status=OrderStatus.CANCELED, actor=SYSTEM)
    html = client.get(url("detail", order)).content.decode()
    assert 'id="status-select"' not in html and 'id="status-final"' in html


def test_status_change_moves_the_order_records_the_user_and_redirects_back(client, manager, order):
    client.force_login(manager)
    response = client.post(
        url("set_status", order), {"status": "PAID", "version": order.version, "next": url("activity", order)}
    )
    assert response.status_code == 302 and response["Location"] == url("activity", order)
    assert flashes(response) == [f"Order {order.id} is now Paid."]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    event = OrderEvent.objects.filter(order=order).first()
    assert event.type == EventType.ORDER_PAID
    assert (event.actor_type, event.actor_user) == ("user", manager)


def test_status_change_ignores_an_offsite_next(client, manager, order):
    client.force_login(manager)
    response = client.post(
        url("set_status", order), {"status": "PAID", "version": order.version, "next": "https://evil.example/"}
    )
    assert response["Location"] == url("detail", order)


def test_status_change_out_of_canceled_is_refused_with_a_clear_message(client, manager, order):
    order = services.order_set_status(order=order, status=OrderStatus.CANCELED, actor=SYSTEM)
    events_before = OrderEvent.objects.filter(order=order).count()
    client.force_login(manager)
    response = client.post(url("set_status", order), {"status": "PAID", "version": order.version}, follow=True)
    html = response.content.decode()
    assert "Status not changed. The order is CANCELED, which is final: it cannot move to PAID." in html
    assert 'class="message error"' in html
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED
    assert OrderEvent.objects.filter(order=order).count() == events_before


def test_status_change_with_a_stale_version_changes_nothing(client, manager, order):
    seen = order.version
    services.order_update(order=order, actor=SYSTEM, metadata={"note": "changed meanwhile"})
    client.force_login(manager)
    response = client.post(url("set_status", order), {"status": "FULFILLED", "version": seen})
    (message,) = flashes(response)
    assert message.startswith("Status not changed.") and "changed by someone else" in message
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED


def test_status_change_without_a_version_or_with_a_bad_status_is_refused(client, manager, order):
    client.force_login(manager)
    assert "lost the order's version" in flashes(client.post(url("set_status", order), {"status": "PAID"}))[0]
    response = client.post(url("set_status", order), {"status": "SHIPPED", "version": order.version})
    assert any("must be one of" in message for message in flashes(response))
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED


def test_status_change_is_refused_to_a_viewer_and_asks_anonymous_to_log_in(client, viewer, order):
    response = client.post(url("set_status", order), {"status": "PAID", "version": order.version})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.force_login(viewer)
    response = client.post(url("set_status", order), {"status": "PAID", "version": order.version})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED


def test_status_change_takes_post_only(client, manager, order):
    client.force_login(manager)
    assert client.get(url("set_status", order)).status_code == 405


# --- redemption rollback ----------------------------------------------------------------------------------


def test_rollback_asks_for_confirmation_first(client, manager):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    client.force_login(manager)
    response = client.get(url("redemption_rollback", order, redemption.id))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Roll back this redemption?" in html and 'id="rollback-confirm"' in html and 'name="reason"' in html
    assert 'id="order-header"' in html and 'aria-current="page"' in html
    partial = client.get(url("redemption_rollback", order, redemption.id), HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<div id="order-tabs"')
    assert 'id="rollback-confirm"' in partial.content.decode()
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.SUCCEEDED  # GET changes nothing


def test_rollback_cancels_the_order_records_both_events_and_a_second_one_is_refused(client, manager):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    client.force_login(manager)
    target = url("redemption_rollback", order, redemption.id)
    response = client.post(target, {"reason": "Goods returned"})
    assert response.status_code == 302 and response["Location"] == url("detail", order)
    redemption.refresh_from_db()
    order.refresh_from_db()
    assert redemption.status == RedemptionStatus.ROLLED_BACK and redemption.rollback_reason == "Goods returned"
    assert order.status == OrderStatus.CANCELED
    assert flashes(response) == [
        f"Redemption {redemption.id} rolled back (rollback {redemption.rollback_id}); order {order.id} is now Canceled."
    ]
    activity = client.get(url("activity", order)).content.decode()
    assert "Redemption rolled back" in activity and "Order canceled" in activity and "Goods returned" in activity
    newest = list(OrderEvent.objects.filter(order=order)[:2])
    assert {event.type for event in newest} == {EventType.REDEMPTION_ROLLBACK_SUCCEEDED, EventType.ORDER_CANCELED}
    assert all(event.actor_user == manager for event in newest)

    again = client.post(target, {"reason": "twice"})
    assert again.status_code == 302
    assert flashes(again) == [f"Redemption {redemption.id} has already been rolled back."]
    assert client.get(target).status_code == 302  # no confirmation for what cannot be done


def test_rollback_reason_too_long_keeps_the_confirmation_with_the_error(client, manager):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    client.force_login(manager)
    response = client.post(url("redemption_rollback", order, redemption.id), {"reason": "x" * 2001})
    assert response.status_code == 200
    assert "must be at most 2000 characters" in response.content.decode()
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.SUCCEEDED


def test_rollback_is_refused_to_a_viewer(client, viewer):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    client.force_login(viewer)
    assert client.get(url("redemption_rollback", order, redemption.id)).status_code == 403
    assert client.post(url("redemption_rollback", order, redemption.id), {"reason": "x"}).status_code == 403
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.SUCCEEDED


def test_rollback_of_a_redemption_of_another_order_is_not_found(client, manager):
    order = rich_order()
    other = make_order(source_id="other")
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    client.force_login(manager)
    assert client.post(url("redemption_rollback", other, redemption.id)).status_code == 404
    assert client.get(url("redemption_rollback", order, "r_missing")).status_code == 404
    assert Redemption.objects.get(pk=redemption.pk).status == RedemptionStatus.SUCCEEDED


# --- Metadata tab -----------------------------------------------------------------------------------------


@pytest.fixture
def order_schema(db):
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER)
    schema.properties.create(key="priority", type=MetadataType.NUMBER)
    schema.properties.create(key="gift", type=MetadataType.BOOLEAN)
    schema.properties.create(key="ship_by", type=MetadataType.DATE)
    schema.properties.create(key="channel", type=MetadataType.STRING, optional=False)
    return schema


def test_metadata_tab_lists_keys_with_schema_types_and_escaped_values(client, viewer, order_schema):
    order = make_order(
        metadata={
            "channel": "web",
            "priority": 2,
            "gift": True,
            "nested": {"a": [1, 2], "b": "<i>x</i>"},
            "<script>k</script>": "<img src=x onerror=alert(1)>",
        }
    )
    client.force_login(viewer)
    response = client.get(url("metadata", order))
    html = response.content.decode()
    assert response.status_code == 200
    row = re.search(r'<tr data-key="priority">.*?</tr>', html, re.S).group(0)
    assert "<code>2</code>" in row and "Number" in row
    assert "Yes/no" in re.search(r'<tr data-key="gift">.*?</tr>', html, re.S).group(0)
    assert "required" in re.search(r'<tr data-key="channel">.*?</tr>', html, re.S).group(0)
    assert "<code>{&quot;a&quot;:[1,2],&quot;b&quot;:&quot;&lt;i&gt;x&lt;/i&gt;&quot;}</code>" in html
    assert "not in the schema" in html
    assert "<script>k</script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;k&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "ship_by" in html  # defined, not set: listed below the table
    assert 'id="metadata-edit-link"' not in html
    partial = client.get(url("metadata", order), HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="order-tabs"') and 'data-key="priority"' in partial


def test_metadata_editor_shows_typed_rows(client, manager, order_schema):
    order = make_order(metadata={"channel": "web", "gift": False, "tags": ["a", "b"], "note": "hello"})
    client.force_login(manager)
    html = client.get(url("metadata_edit", order)).content.decode()
    assert 'id="metadata-editor"' in html and f'name="version" value="{order.version}"' in html
    assert "{#" not in html and "{%" not in html and "endcomment" not in html
    keys = re.findall(r'name="key-\d+" value="([^"]*)"', html)
    assert keys == ["channel", "gift", "note", "tags", "priority", "ship_by", ""]
    gift = re.search(r'<tr id="md-row-1".*?</tr>', html, re.S).group(0)
    assert '<option value="false" selected>' in gift
    tags = re.search(r'<tr id="md-row-3".*?</tr>', html, re.S).group(0)
    assert "<textarea" in tags and "[&quot;a&quot;, &quot;b&quot;]" in tags and '<option value="json" selected>' in tags


def post_rows(rows: list[tuple], version: int, **extra) -> dict:
    data = {"version": version, "row": [str(i) for i in range(len(rows))], **extra}
    for index, row in enumerate(rows):
        data[f"key-{index}"] = row[0]
        data[f"value-{index}"] = row[1]
        if len(row) > 2:
            data[f"type-{index}"] = row[2]
    return data


def test_metadata_save_writes_typed_values_through_the_service(client, manager, order_schema):
    order = make_order(metadata={"channel": "web", "old": "bye"})
    client.force_login(manager)
    data = post_rows(
        [
            ("channel", "store"),
            ("priority", "3"),
            ("gift", "true"),
            ("ship_by", "2026-03-01"),
            ("extra", '{"a": 1}'),  # text that is a JSON object is stored as JSON
            ("raw", "[1, 2", "text"),  # not JSON: stays text
            ("count", "7", "json"),
            ("", ""),  # blank row: ignored
        ],
        order.version,
        save="1",
    )
    response = client.post(url("metadata_edit", order), data)
    assert response.status_code == 302 and response["Location"] == url("metadata", order)
    assert flashes(response) == ["Metadata saved."]
    order.refresh_from_db()
    assert order.metadata == {
        "channel": "store",
        "priority": 3,
        "gift": True,
        "ship_by": "2026-03-01",
        "extra": {"a": 1},
        "raw": "[1, 2",
        "count": 7,
    }
    event = OrderEvent.objects.filter(order=order).first()
    assert event.type == EventType.ORDER_UPDATED and event.actor_user == manager
    assert event.data["metadata"]["removed"] == {"old": "bye"}


def test_metadata_errors_show_next_to_their_rows_and_keep_what_was_typed(client, manager, order_schema):
    order = make_order(metadata={"channel": "web"})
    client.force_login(manager)
    data = post_rows(
        [("channel", ""), ("priority", "lots"), ("gift", "maybe"), ("ship_by", "next week"), ("fine", "ok")],
        order.version,
        save="1",
    )
    response = client.post(url("metadata_edit", order), data)
    assert response.status_code == 200
    html = response.content.decode()

    def row(index):
        return re.search(rf'<tr id="md-row-{index}".*?</tr>', html, re.S).group(0)

    assert "is required" in row(0)
    assert "must be a number" in row(1) and 'value="lots"' in row(1)
    assert "must be true or false" in row(2) and '<option value="maybe" selected>' in row(2)
    assert "must be a date in the form YYYY-MM-DD" in row(3) and 'value="next week"' in row(3)
    assert "errorlist" not in row(4) and 'value="ok"' in row(4)
    assert "Nothing was saved" in html
    order.refresh_from_db()
    assert order.metadata == {"channel": "web"}


def test_metadata_local_errors_are_shown_with_the_schema_errors_at_once(client, manager, order_schema):
    order = make_order(metadata={"channel": "web"})
    client.force_login(manager)
    data = post_rows(
        [("channel", "web"), ("bad", "{oops", "json"), ("dup", "1"), ("dup", "2"), ("", "orphan"), ("priority", "x")],
        order.version,
        save="1",
    )
    html = client.post(url("metadata_edit", order), data).content.decode()
    assert "is not valid JSON" in re.search(r'<tr id="md-row-1".*?</tr>', html, re.S).group(0)
    assert "given twice" in re.search(r'<tr id="md-row-3".*?</tr>', html, re.S).group(0)
    assert "needs a key" in re.search(r'<tr id="md-row-4".*?</tr>', html, re.S).group(0)
    assert "must be a number" in re.search(r'<tr id="md-row-5".*?</tr>', html, re.S).group(0)
    order.refresh_from_db()
    assert order.metadata == {"channel": "web"}


def test_metadata_save_with_a_stale_version_keeps_the_form_and_says_why(client, manager):
    order = make_order(metadata={"a": "1"})
    seen = order.version
    services.order_update(order=order, actor=SYSTEM, metadata={"a": "2"})
    client.force_login(manager)
    response = client.post(url("metadata_edit", order), post_rows([("a", "mine")], seen, save="1"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "changed by someone else" in html and 'value="mine"' in html
    order.refresh_from_db()
    assert order.metadata == {"a": "2"}


def test_metadata_add_and_remove_rows_work_without_javascript(client, manager):
    order = make_order(metadata={"a": "1", "b": "2"})
    client.force_login(manager)
    data = post_rows([("a", "1"), ("b", "changed")], order.version, add_row="1")
    html = client.post(url("metadata_edit", order), data).content.decode()
    assert "<html" in html
    assert re.findall(r'name="key-(\d+)" value="([^"]*)"', html) == [("0", "a"), ("1", "b"), ("2", "")]
    assert 'value="changed"' in html  # kept, not saved
    data = post_rows([("a", "1"), ("b", "changed")], order.version, remove_row="0")
    html = client.post(url("metadata_edit", order), data).content.decode()
    assert re.findall(r'name="key-(\d+)" value="([^"]*)"', html) == [("1", "b")]
    order.refresh_from_db()
    assert order.metadata == {"a": "1", "b": "2"}


def test_metadata_add_row_over_htmx_returns_only_the_form(client, manager):
    order = make_order(metadata={"a": "1"})
    client.force_login(manager)
    data = post_rows([("a", "1")], order.version, add_row="1")
    html = client.post(url("metadata_edit", order), data, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<form id="metadata-editor"')
    assert len(re.findall(r'name="key-\d+"', html)) == 2


def test_metadata_save_without_change_says_so(client, manager):
    order = make_order(metadata={"a": "1"})
    client.force_login(manager)
    response = client.post(url("metadata_edit", order), post_rows([("a", "1")], order.version, save="1"))
    assert flashes(response) == ["The metadata was already like this: nothing to save."]


def test_metadata_editor_is_refused_to_a_viewer(client, viewer):
    order = make_order(metadata={"a": "1"})
    client.force_login(viewer)
    assert client.get(url("metadata_edit", order)).status_code == 403
    response = client.post(url("metadata_edit", order), post_rows([("a", "2")], order.version, save="1"))
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.metadata == {"a": "1"}


# --- registered tabs --------------------------------------------------------------------------------------


@pytest.fixture
def extra_tab(monkeypatch):
    monkeypatch.setattr(tabs, "_registry", {})  # without the tabs installed apps register (segments)
    tab = tabs.register(
        tabs.OrderTab(key="segments", label="Segments", url_name="orders:metadata", permission="orders.delete_order")
    )
    yield tab
    tabs.unregister("segments")


def test_registered_tabs_come_after_activity_for_users_with_their_permission(client, manager, admin_user, extra_tab):
    order = make_order()
    client.force_login(admin_user)
    html = client.get(url("detail", order)).content.decode()
    assert re.findall(r'data-tab="(\w+)"', html) == ["summary", "metadata", "activity", "segments"]
    client.force_login(manager)
    assert 'data-tab="segments"' not in client.get(url("detail", order)).content.decode()


def test_register_refuses_a_taken_key_but_accepts_the_same_tab_twice(extra_tab):
    assert tabs.register(extra_tab) is extra_tab
    with pytest.raises(Exception, match="already registered"):
        tabs.register(tabs.OrderTab(key="segments", label="Other", url_name="orders:detail"))
    with pytest.raises(Exception, match="built-in"):
        tabs.register(tabs.OrderTab(key="activity", label="Mine", url_name="orders:detail"))


def test_render_tab_renders_another_apps_tab_inside_the_order_page(rf, admin_user, extra_tab):
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django_htmx.middleware import HtmxDetails

    order = make_order()

    def request(**headers):
        req = rf.get(url("metadata", order), **headers)
        req.user = admin_user
        req.session = {}
        req._messages = FallbackStorage(req)
        req.htmx = HtmxDetails(req)
        return req

    context = {"person": None, "role": "Segment", "card_id": "segment-card"}
    template = "orders/order_detail.html#person_card"
    page = tabs.render_tab(request(), order=order, key="segments", template_name=template, context=context)
    html = page.content.decode()
    assert 'id="order-header"' in html and 'id="segment-card"' in html
    assert 'id="tab-segments" data-tab="segments" class="tab" aria-current="page"' in html
    partial = tabs.render_tab(
        request(HTTP_HX_REQUEST="true"), order=order, key="segments", template_name=template, context=context
    )
    assert partial.content.decode().lstrip().startswith('<div id="order-tabs"')


# --- permissions and 404s for every URL of the order page ---------------------------------------------------


def every_url(order_id: str, redemption_id: str = "r_x") -> list[tuple[str, str]]:
    return [
        ("GET", reverse("orders:detail", args=[order_id])),
        ("GET", reverse("orders:metadata", args=[order_id])),
        ("GET", reverse("orders:metadata_edit", args=[order_id])),
        ("POST", reverse("orders:metadata_edit", args=[order_id])),
        ("GET", reverse("orders:activity", args=[order_id])),
        ("GET", reverse("orders:activity_new", args=[order_id]) + "?after=0"),
        ("POST", reverse("orders:set_status", args=[order_id])),
        ("GET", reverse("orders:redemption_rollback", args=[order_id, redemption_id])),
        ("POST", reverse("orders:redemption_rollback", args=[order_id, redemption_id])),
    ]


def call(client, method: str, target: str):
    return client.get(target) if method == "GET" else client.post(target, {"status": "PAID", "version": "1"})


def test_anonymous_is_sent_to_login_from_every_url(client):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    for method, target in every_url(order.id, redemption.id):
        response = call(client, method, target)
        assert response.status_code == 302, (method, target)
        assert response["Location"].startswith(f"{reverse('login')}?next=/orders/"), (method, target)


def test_a_user_without_a_role_is_refused_every_url(client, outsider):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    client.force_login(outsider)
    for method, target in every_url(order.id, redemption.id):
        assert call(client, method, target).status_code == 403, (method, target)


def test_a_viewer_is_refused_every_post(client, viewer):
    order = rich_order()
    redemption = order.redemptions.get(status=RedemptionStatus.SUCCEEDED)
    client.force_login(viewer)
    for method, target in every_url(order.id, redemption.id):
        if method == "POST":
            assert call(client, method, target).status_code == 403, target
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


@pytest.mark.parametrize("role", ["viewer", "manager"])
def test_unknown_order_is_a_404_page_on_every_url(client, request, role):
    client.force_login(request.getfixturevalue(role))
    for method, target in every_url("ord_doesnotexist"):
        if role == "viewer" and (method == "POST" or "edit" in target or "rollback" in target):
            continue  # refused before looking: 403
        response = call(client, method, target)
        assert response.status_code == 404, (method, target)
        if method == "GET" and "activity/new" not in target:
            assert "Not found" in response.content.decode()


def test_actions_record_the_staff_user_as_actor(client, admin_user, order):
    client.force_login(admin_user)
    client.post(url("set_status", order), {"status": "FULFILLED", "version": order.version})
    event = OrderEvent.objects.filter(order=order).first()
    assert event.actor_name == admin_user.get_username() and event.actor_type == "user"
    assert Actor.for_user(admin_user).id == event.actor_id
