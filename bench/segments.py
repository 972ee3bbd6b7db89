"""Counting and listing the members of an auto-update segment on a large data set.

    .venv/bin/python bench/segments.py --database-url postgres://postgres@127.0.0.1:5432/bench_1m

The segment (created once, through segments.services, as ``bench: big recent spenders``): customers who
spent more than $150.00 and ordered at least 3 times and last ordered within the last 90 days. The filter
is evaluated live, as the segment page and the builder's live count evaluate it.

Timed, ``--runs`` times each after a warm-up (the clock starts before the filter is parsed and compiled):

- count: ``selectors.segment_member_count`` — what the segment page and the builder show (target ≤ 100 ms
  median);
- first page: the first keyset page of members, biggest spenders first (``KeysetPaginator``; target
  ≤ 100 ms);
- and, for context, the same through HTTP (Django's test client, in process: middleware, session,
  permissions, template): the segment page (count + first page + rendering) and the builder's live count
  endpoint.

Writes: the segments migrations when they are not applied yet (the tables, and on PostgreSQL the covering
index of ``segments.0002``), the bench segment, and a user ``bench-segments`` in the Manager role. Orders and
customers are only read. Prints one table; ``--explain`` adds EXPLAIN (ANALYZE, BUFFERS) of the two queries.
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
USERNAME = "bench-segments"
SEGMENT_NAME = "bench: big recent spenders"
FILTER = {
    "junction": "and",
    "summary.orders.total_amount": {"conditions": {"$more_than": [15000]}},
    "summary.orders.total_count": {"conditions": {"$more_than_equal": [3]}},
    "summary.orders.last_order_date": {"conditions": {"$after": ["90 days ago"]}},
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement (default 50)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the count and the first page")
    return parser.parse_args(argv)


def setup_django(database_url: str | None) -> None:
    os.environ.setdefault("DEBUG", "1")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_dashboard.settings")
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


def ensure_migrations() -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    applied = {name for app, name in MigrationRecorder(connection).applied_migrations() if app == "segments"}
    wanted = ("0001_segments", "0002_customer_summary_covering_index")
    if not set(wanted) <= applied:
        print(f"  applying segments migrations ({', '.join(sorted(set(wanted) - applied))})", flush=True)
        call_command("migrate", "segments", wanted[-1], verbosity=0)


def bench_segment():
    from segments import services
    from segments.models import Segment

    segment = Segment.objects.filter(name=SEGMENT_NAME).first()
    if segment is None:
        return services.segment_create(name=SEGMENT_NAME, type="auto-update", filter=FILTER)
    return services.segment_update(segment=segment, filter=FILTER)  # no write when it is unchanged


def bench_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    user, created = get_user_model().objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name="Manager"))
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def timed(function, runs: int, warmup: int = 3) -> tuple[list[float], object]:
    result = None
    for _ in range(warmup):
        result = function()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def explain_last_query(function) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the last query ``function`` runs, exactly as it ran."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        function()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {queries[-1]['sql']}")
        return "\n".join(row[0] for row in cursor.fetchall())


def load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_django(args.database_url)
    from django.db import connection
    from django.urls import reverse

    from orders.models import Customer, Order
    from orders.pagination import KeysetPaginator
    from segments import selectors
    from segments.builder import rows_from_filter
    from segments.language import describe
    from segments.views import MEMBER_FIELDS, MEMBER_ORDERING, MEMBERS_PAGE_SIZE

    print(f"database: {connection.vendor} {connection.settings_dict.get('NAME')}; load average before: {load()}")
    ensure_migrations()
    customers = Customer.objects.count()
    orders = Order.objects.count()
    segment = bench_segment()
    print(f"{customers:,} customers, {orders:,} orders")
    print(f"segment {segment.pk}: {describe(selectors.segment_definition(segment))}")

    def count():
        return selectors.segment_member_count(segment)

    def first_page():
        members = selectors.segment_customers(segment).only(*MEMBER_FIELDS)
        return KeysetPaginator(members, per_page=MEMBERS_PAGE_SIZE, ordering=MEMBER_ORDERING).page()

    client = bench_client()
    page_url = reverse("segments:detail", args=[segment.pk])
    junction, rows = rows_from_filter(segment.filter)
    builder_data = {"name": "x", "junction": junction, "row": [str(row.index) for row in rows]}
    for row in rows:
        builder_data |= {
            f"attribute-{row.index}": row.attribute,
            f"operator-{row.index}": row.operator,
            f"value-{row.index}": row.value,
        }

    def page():
        response = client.get(page_url)
        assert response.status_code == 200, response.status_code
        return response

    def live_count():
        response = client.post(reverse("segments:builder_count"), builder_data)
        assert response.status_code == 200 and b"member-count-value" in response.content, response.content[:300]
        return response

    results = []
    for label, function, target in (
        ("count (selector)", count, TARGET_MS),
        ("first page of 25 members (selector)", first_page, TARGET_MS),
        ("segment page, HTTP (count + page + render)", page, None),
        ("builder live count, HTTP", live_count, None),
    ):
        samples, result = timed(function, args.runs)
        results.append((label, samples, target, result))

    members = results[0][3]
    print(f"\nmembers: {members:,} ({members / customers:.1%} of the customers); runs per line: {args.runs}")
    print(f"{'measurement':46} {'median':>9} {'p95':>9} {'min':>9}  target")
    for label, samples, target, _ in results:
        median = statistics.median(samples)
        verdict = "" if target is None else (f"≤ {target:.0f} ms: " + ("met" if median <= target else "MISSED"))
        print(f"{label:46} {median:8.1f}ms {p95(samples):8.1f}ms {min(samples):8.1f}ms  {verdict}")
    print(f"load average after: {load()}")

    if args.explain:
        for label, function in (("count", count), ("first page", first_page)):
            print(f"\nEXPLAIN {label}:\n{explain_last_query(function)}")
    missed = [label for label, samples, target, _ in results if target and statistics.median(samples) > target]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
