"""The segment builder in a real browser: htmx adds, changes and removes condition rows, the member count
follows the edits (debounced), the segment saves; the customer list's selection reaches a static segment."""

import re

from playwright.sync_api import expect

from orders.tests.factories import CustomerFactory, make_order
from segments.models import Segment


def settled(page) -> None:
    """Wait until htmx has swapped and settled: it wires up new elements (hx-* attributes) as they settle,
    20 ms after the swap; a robot changing a select before that would not be heard (a person cannot)."""
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")


def test_building_an_auto_update_segment(signed_in, live_server, screenshot):
    page = signed_in
    for n, total in enumerate((5000, 20000, 30000)):
        customer = CustomerFactory(name=f"Shopper {n}")
        for m in range(3):
            make_order(customer=customer, status="PAID", items=[], amount=total // 3, source_id=f"b-{n}-{m}")

    page.goto(f"{live_server.url}/segments/new/?type=auto-update")
    page.get_by_label("Name").fill("Big spenders")
    count = page.locator("#member-count")
    page.locator("#value-0").fill("100")
    expect(count).to_contain_text("2 customers match now")
    expect(count).to_contain_text("Customers who spent more than $100.00")

    # a second row, through htmx (no page load): the URL stays, the rows change
    page.locator("#add-condition").click()
    expect(page.locator("#condition-1")).to_be_visible()
    settled(page)
    page.locator("#attribute-1").select_option("summary.orders.total_count")
    expect(page.locator("#operator-1 option")).to_have_count(8)  # no "is known" for a count
    settled(page)
    page.locator("#operator-1").select_option("$more_than_equal")
    settled(page)
    page.locator("#value-1").fill("3")
    expect(count).to_contain_text("and ordered at least 3 times")

    # a date row gets a number of days
    page.locator("#add-condition").click()
    expect(page.locator("#condition-2")).to_be_visible()
    settled(page)
    page.locator("#attribute-2").select_option("summary.orders.last_order_date")
    expect(page.locator("#operator-2")).to_have_value("within_days")
    settled(page)
    page.locator("#value-2").fill("90")
    expect(count).to_contain_text("last ordered within the last 90 days")
    page.locator("#value-0").fill("250")
    expect(count).to_contain_text("1 customer matches now")
    screenshot("segment-builder")

    settled(page)
    page.get_by_role("button", name="Remove condition 3").click()
    expect(page.locator("#condition-2")).to_have_count(0)
    expect(count).not_to_contain_text("90 days")

    page.locator("#segment-save").click()
    expect(page).to_have_url(re.compile(r"/segments/seg_\w+/$"))
    expect(page.locator("#segment-words")).to_have_text(
        "Customers who spent more than $250.00 and ordered at least 3 times."
    )
    expect(page.locator("#segment-count")).to_have_text("1")
    assert Segment.objects.get().filter["summary.orders.total_count"] == {"conditions": {"$more_than_equal": [3]}}
    screenshot("segment-page")


def test_ticked_customers_go_into_a_new_static_segment(signed_in, live_server, screenshot):
    page = signed_in
    ann, bob = CustomerFactory(name="Ann", metadata={"tier": "gold"}), CustomerFactory(name="Bob")
    make_order(customer=ann, status="PAID", items=[], amount=12345, source_id="ann-1")
    page.goto(f"{live_server.url}/customers/")
    screenshot("customer-list")
    page.get_by_label("Select Ann").check()
    page.get_by_label("Select Bob").check()
    page.get_by_role("button", name="Add to a static segment").click()
    expect(page.locator("h1")).to_have_text("Add 2 customers to a static segment")
    page.get_by_label("Name of the new segment").fill("Picked by hand")
    page.locator("#add-customers-submit").click()
    expect(page.locator("#segment-count")).to_have_text("2")
    page.get_by_role("link", name="Ann").click()
    expect(page.locator("#customer-segments")).to_contain_text("Picked by hand")
    screenshot("customer-page")
    assert set(Segment.objects.get().members.values_list("customer_id", flat=True)) == {ann.pk, bob.pk}
