from playwright.sync_api import expect


def test_login_page_then_signed_in_landing(signed_in, live_server, screenshot):
    page = signed_in
    expect(page.locator(".account .who")).to_have_text("manager")
    screenshot("landing")
