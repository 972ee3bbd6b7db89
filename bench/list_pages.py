"""Server time of the orders list on a large data set, and of the Django admin's changelist on the same data.

    .venv/bin/python bench/list_pages.py --database-url postgres://postgres@127.0.0.1:5432/bench_1m

Runs in-process through Django's test client (server time: middleware, session, queries and template
rendering; no network), with ``DEBUG=1`` as the project's development setting. Signs in as an Admin user
it creates when missing (``bench-list-admin``); the only other write is the orders migration the list
needs (``0004_customer_search_trgm``, ``0005_customer_email_upper_idx``: indexes only) when they are not
applied yet. Waits until the database holds
``--expect-orders`` orders and nothing else is writing to it (a seed still running).

Scenarios (``--requests`` timed requests each, after a warm-up): the first page; a page filtered by status
+ created date range + metadata; sorted by total; a search by email fragment and by name; the page reached
by following "Next" ``--clicks`` times. Then the admin changelist of Order (page 1 and a search) and the
ratios. Prints one table; ``--explain`` adds EXPLAIN (ANALYZE, BUFFERS) of each page's slowest query.
"""

import argparse
import datetime as dt
import html
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
USERNAME = "bench-list-admin"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per scenario (default 50)")
    parser.add_argument("--admin-requests", type=int, default=None, help="for the admin pages (default: --requests)")
    parser.add_argument("--clicks", type=int, default=1000, help='"Next" clicks before the deep page (default 1000)')
    parser.add_argument("--expect-orders", type=int, default=1_000_000, help="wait until this many orders exist")
    parser.add_argument("--wait", type=int, default=3 * 3600, help="give up waiting after this many seconds")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each page's slowest query")
    return parser.parse_args(argv)


def setup_django(database_url: str | None) -> None:
    os.environ["DEBUG"] = "1"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_dashboard.settings")
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


def wait_for_data(expected: int, timeout: int) -> int:
    """Block until ``expected`` orders are committed and no other session is busy in this database."""
    from django.db import connection
    from django.db.utils import OperationalError, ProgrammingError

    started = time.monotonic()
    while True:
        count, busy = 0, []
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM orders_order")
                count = cursor.fetchone()[0]
                if connection.vendor == "postgresql":
                    cursor.execute(
                        "SELECT left(query, 60) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND state = 'active'"
                    )
                    busy = [row[0] for row in cursor.fetchall()]
        except (OperationalError, ProgrammingError) as problem:  # no database or no tables yet
            busy = [str(problem).strip().splitlines()[0]]
            connection.close()
        if count >= expected and not busy:
            return count
        if time.monotonic() - started > timeout:
            raise SystemExit(f"gave up: {count:,} orders, busy: {busy}")
        print(f"  waiting: {count:,}/{expected:,} orders; other sessions busy: {busy or 'none'}", flush=True)
        time.sleep(30)


LIST_MIGRATIONS = ("0004_customer_search_trgm", "0005_customer_email_upper_idx")


def ensure_migration() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    applied = MigrationRecorder(connection).applied_migrations()
    missing = [name for name in LIST_MIGRATIONS if ("orders", name) not in applied]
    if missing:
        print(f"  applying orders {', '.join(missing)} (indexes for the list's search)", flush=True)
        call_command("migrate", "orders", missing[-1], verbosity=0)


def bench_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user, created = get_user_model().objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name="Admin"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def timed(client, url: str, count: int, *, warmup: int = 3) -> tuple[list[float], object]:
    from django.db import connection, reset_queries

    response = None
    for _ in range(warmup):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    samples = []
    for _ in range(count):
        reset_queries()
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    response.bench_queries = list(connection.queries)
    return samples, response


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


NEXT_LINK = re.compile(r'<a href="([^"]+)" hx-get="[^"]+" rel="next">')


def next_url(response) -> str | None:
    match = NEXT_LINK.search(response.content.decode())
    return html.unescape(match.group(1)) if match else None


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(f"      {row[0]}" for row in cursor.fetchall())


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_django(args.database_url)
    from urllib.parse import urlencode

    from django.db import connection

    from orders.models import Customer, Order

    print(f"Database: {connection.settings_dict['NAME']} ({connection.vendor})", flush=True)
    orders = wait_for_data(args.expect_orders, args.wait)
    ensure_migration()
    client = bench_client()
    customers = Customer.objects.count()
    print(f"  {orders:,} orders, {customers:,} customers", flush=True)

    # Filter values taken from the data, so the pages show real rows.
    newest = Order.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    date_to = (newest - dt.timedelta(days=180)).date()
    date_from = (newest - dt.timedelta(days=365)).date()
    sample = Customer.objects.filter(email__contains=".").order_by("pk").values_list("name", "email").first()
    email_fragment = sample[1].split("@")[0].rsplit(".", 1)[0]  # "first.last" of "first.last.123@…"
    name = sample[0].split()[-1]

    filtered = urlencode(
        [
            ("status", "PAID"),
            ("status", "FULFILLED"),
            ("created_from", date_from.isoformat()),
            ("created_to", date_to.isoformat()),
            ("metadata", "channel=web"),
        ]
    )
    scenarios = [
        ("first page", "/orders/"),
        ("status + date range + metadata", f"/orders/?{filtered}"),
        ("sorted by total (high to low)", "/orders/?sort=-total"),
        (f"search email fragment {email_fragment!r}", f"/orders/?{urlencode({'q': email_fragment})}"),
        (f"search name {name!r}", f"/orders/?{urlencode({'q': name})}"),
    ]

    rows = []
    ours = {}
    for label, url in scenarios:
        samples, response = timed(client, url, args.requests)
        rows.append((label, samples, response))
        ours[label] = statistics.median(samples)
        print(f"  {label}: median {ours[label]:.1f} ms", flush=True)

    # The deep page: follow "Next" like a person would, then time that page.
    url = "/orders/"
    started = time.perf_counter()
    for _ in range(args.clicks):
        url = next_url(client.get(url))
        if url is None:
            raise SystemExit("the list ended before the last click")
    walk_seconds = time.perf_counter() - started
    label = f'after {args.clicks:,} "Next" clicks'
    samples, response = timed(client, url, args.requests)
    rows.append((label, samples, response))
    print(f"  {label}: median {statistics.median(samples):.1f} ms (walk took {walk_seconds:.1f} s)", flush=True)

    admin_requests = args.admin_requests or args.requests
    admin_rows = []
    for label, url, ours_label in (
        ("admin changelist, page 1", "/admin/orders/order/", "first page"),
        (
            f"admin changelist, search {email_fragment!r}",
            f"/admin/orders/order/?{urlencode({'q': email_fragment})}",
            scenarios[3][0],
        ),
    ):
        samples, response = timed(client, url, admin_requests, warmup=1)
        admin_rows.append((label, samples, response, ours_label))
        print(f"  {label}: median {statistics.median(samples):.1f} ms", flush=True)

    print()
    print(f"Orders list, {orders:,} orders, {args.requests} requests each (server time, ms):")
    print()
    print(f"| {'page':<46} | {'median':>8} | {'p95':>8} | {'queries':>7} | target ≤ {TARGET_MS:.0f} ms |")
    print(f"|{'-' * 48}|{'-' * 10}|{'-' * 10}|{'-' * 9}|{'-' * 17}|")
    ok = True
    for label, samples, response in rows:
        median = statistics.median(samples)
        ok &= median <= TARGET_MS
        verdict = "met" if median <= TARGET_MS else "MISSED"
        queries = len(response.bench_queries)
        print(f"| {label:<46} | {median:>8.1f} | {p95(samples):>8.1f} | {queries:>7} | {verdict:<15} |")
    for label, samples, response, ours_label in admin_rows:
        median = statistics.median(samples)
        ratio = median / ours[ours_label]
        queries = len(response.bench_queries)
        note = f"{ratio:.1f}× ours"
        print(f"| {label:<46} | {median:>8.1f} | {p95(samples):>8.1f} | {queries:>7} | {note:<15} |")

    if args.explain and connection.vendor == "postgresql":
        print()
        for label, _, response in rows + [row[:3] for row in admin_rows]:
            slowest = max(response.bench_queries, key=lambda q: float(q["time"]))
            print(f"  {label}: slowest query ({float(slowest['time']) * 1000:.1f} ms)\n    {slowest['sql'][:400]}")
            print(explain(slowest["sql"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
