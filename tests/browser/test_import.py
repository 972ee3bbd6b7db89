"""The import page in a real browser: a file with a problem (shown by line and column, no confirm), then the
fixed file → preview swapped in by htmx → "Confirm import" → the orders list says what was imported."""

import re

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderEvent

HEADER = "source_id,status,customer_source_id,customer_name,item_source_id,quantity,price"
BAD = f"{HEADER}\nB-1,PAID,BC-1,<i>Ada</i>,mug,2,12.50\nB-1,,,,poster,1,990\n"
GOOD = f"{HEADER}\nB-1,PAID,BC-1,<i>Ada</i>,mug,2,1250\nB-1,,,,poster,1,990\nB-2,,BC-2,Alan,mug,1,1250\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def choose(page, text: str) -> None:
    page.locator("#id_file").set_input_files(
        files=[{"name": "orders.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )


def test_upload_preview_confirm(signed_in, live_server, screenshot):
    page = signed_in
    page.goto(f"{live_server.url}/orders/")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page).to_have_url(re.compile(r"/orders/import/$"))

    # A decimal price: the problem by line and column, nothing to confirm.
    choose(page, BAD)
    page.get_by_role("button", name="Check the file").click()
    error = page.locator("#import-errors tbody tr")
    expect(error).to_have_count(1)
    expect(error.first).to_contain_text("2")
    expect(error.first).to_contain_text("price")
    expect(error.first).to_contain_text("integer cents")
    expect(page.locator("#import-confirm")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/orders/import/$"))  # htmx swapped the panel: no navigation
    screenshot("import-errors")

    # The fixed file: a preview, then the confirm.
    choose(page, GOOD)
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#import-orders tbody tr")).to_have_count(2)
    expect(page.locator("#import-orders")).to_contain_text("$34.90")
    expect(page.locator("#import-orders")).to_contain_text("<i>Ada</i>")  # shown as text, not markup
    assert not Order.objects.exists()
    screenshot("import-preview")
    page.locator("#import-confirm").click()

    expect(page).to_have_url(re.compile(r"/orders/$"))
    expect(page.locator(".messages")).to_contain_text("Imported 2 orders (0 updated).")
    expect(page.locator("#results")).to_contain_text("B-1")
    screenshot("import-done")
    assert Order.objects.get(source_id="B-1").total_amount == 3490
    assert OrderEvent.objects.filter(type="order.imported").count() == 2
