"""A staff member's day, in a real browser: list → filters (URL and back button) → next page → an order →
live Activity → a new order through "+" (an error first) → it is listed → its status → a rollback."""

import re

import pytest
from playwright.sync_api import expect

from orders import services
from orders.models import Order
from orders.tests.factories import SYSTEM, make_order

LIVE = 6_000  # ms: new events must show within 5 s of the change


@pytest.fixture
def orders_data(db):
    channels = ("web", "app", "store")
    for n in range(70):
        make_order(
            source_id=f"J-{n:03d}",
            status="PAID" if n % 2 else "CREATED",
            metadata={"channel": channels[n % 3]},
            customer={"source_id": f"jc-{n % 7}", "name": f"Customer {n % 7}", "email": f"c{n % 7}@example.com"},
            items=[{"source_id": f"p-{n % 5}", "quantity": 1 + n % 3, "price": 1000 + n}],
        )
    paid = make_order(source_id="J-REDEEMED", items=[{"source_id": "p-9", "quantity": 1, "price": 5000}])
    redemption = services.redemption_record(order=paid, actor=SYSTEM, amount=500, incentive_code="SPRING5")
    return {"redeemed": paid, "redemption": redemption}


def test_staff_journey(signed_in, live_server, orders_data, screenshot):
    page = signed_in
    base = live_server.url

    # The list, then filters that land in the URL.
    page.goto(f"{base}/orders/")
    expect(page.locator("#results tbody tr").first).to_be_visible()
    page.get_by_label("Paid", exact=True).check()
    expect(page).to_have_url(re.compile(r"status=PAID"))
    page.locator("#id_metadata").fill("channel=web")
    page.locator("#id_metadata").press("Enter")
    expect(page).to_have_url(re.compile(r"metadata=channel(%3D|=)web"))
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_be_visible()
    for text in rows.all_inner_texts():
        assert "Paid" in text
    screenshot("list-filtered")

    # Back restores the previous filter: status only, no metadata.
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"metadata="))
    expect(page).to_have_url(re.compile(r"status=PAID"))
    expect(page.get_by_label("Paid", exact=True)).to_be_checked()

    # Page forward: other orders.
    first_page = set(page.locator("#results tbody tr").all_inner_texts())
    page.locator("a[rel=next]").first.click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(page.locator("#results tbody tr").first).to_be_visible()
    second_page = set(page.locator("#results tbody tr").all_inner_texts())
    assert second_page and not (first_page & second_page)

    # Open an order, then its Activity tab.
    link = page.locator("#results tbody tr a[href*='/orders/ord_']").first
    order_id = link.inner_text().strip()
    link.click()
    expect(page.locator("#order-header")).to_have_attribute("data-order-id", order_id)
    screenshot("detail")
    page.locator("#tab-activity").click()
    expect(page).to_have_url(re.compile(rf"/orders/{order_id}/activity/"))
    expect(page.locator("#activity-list [data-event-id]").first).to_be_visible()

    # The order changes elsewhere (the API, another user): the event shows without a reload.
    services.order_update(order=order_id, actor=SYSTEM, metadata_set={"gift_note": "changed elsewhere"})
    expect(page.locator("#activity-list [data-event-id]").first).to_contain_text("gift_note", timeout=LIVE)

    # A new order through "+": an error first, then success.
    page.goto(f"{base}/orders/new/")
    page.locator("#id_source_id").fill("J-NEW-1")
    page.locator("#id_items-0-source_id").fill("widget-a")
    page.locator("#id_items-0-name").fill("Widget A")
    page.locator("#id_items-0-quantity").fill("2")
    page.locator("#id_items-0-price").fill("12.50")
    page.locator("#add-item").click()
    expect(page.locator("[data-item-row]")).to_have_count(2)
    page.locator("#id_items-1-source_id").fill("widget-b")
    page.locator("#id_items-1-name").fill("Widget B")
    page.locator("#id_items-1-quantity").fill("0")
    page.locator("#id_items-1-price").fill("3.00")
    page.locator("#id_metadata-0-key").fill("channel")
    page.locator("#id_metadata-0-value").fill("phone")
    page.locator("#order-submit").click()
    expect(page.locator("#id_items-1-quantity_error")).to_be_visible()
    expect(page.locator("#id_items-0-price")).to_have_value("12.50")
    screenshot("form-error")
    page.locator("#id_items-1-quantity").fill("1")
    expect(page.locator("#order-totals")).to_contain_text("28.00", timeout=LIVE)
    page.locator("#order-submit").click()
    expect(page.locator("#order-header")).to_be_visible()
    created = Order.objects.get(source_id="J-NEW-1")
    assert (created.amount, created.metadata, created.items.count()) == (2800, {"channel": "phone"}, 2)
    expect(page.locator(".messages")).to_contain_text("created")

    # It shows in the list.
    page.goto(f"{base}/orders/?q=J-NEW-1")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results tbody tr")).to_contain_text(created.id)

    # Change its status.
    page.goto(f"{base}/orders/{created.id}/")
    page.locator("#status-select").select_option("PAID")
    page.locator("#status-submit").click()
    expect(page.locator("#order-status")).to_have_text("Paid")

    # Roll back a redemption: the order becomes CANCELED.
    redeemed, redemption = orders_data["redeemed"], orders_data["redemption"]
    page.goto(f"{base}/orders/{redeemed.id}/")
    page.locator(f"#rollback-{redemption.id}").click()
    page.get_by_label(re.compile("Reason", re.I)).fill("Customer returned the goods")
    page.locator("#rollback-confirm").click()
    expect(page.locator("#order-status")).to_have_text("Canceled")
    expect(page.locator(f"#redemption-{redemption.id}")).to_have_attribute("data-status", "ROLLED_BACK")
    redeemed.refresh_from_db()
    assert redeemed.status == "CANCELED"
    screenshot("detail-after-rollback")
