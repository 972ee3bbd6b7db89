"""Real-browser tests: Playwright (Python) drives Debian's Chromium against Django's live server.

Playwright cannot download its own browsers on these machines, so the launch uses /usr/bin/chromium
(`make browsers` installs it). Screenshots go to $ARTIFACTS_DIR (default /tmp/orders-dashboard-artifacts),
outside the repository.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a thread
# with a running loop unless told that this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", Path(tempfile.gettempdir()) / "orders-dashboard-artifacts"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make browsers` (apt-get install chromium) first.")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


@pytest.fixture
def screenshot(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def signed_in(page, live_server, manager):
    """A page signed in as a Manager through the real login form."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill("pw-for-tests-only")
    page.get_by_role("button", name="Sign in").click()
    return page
