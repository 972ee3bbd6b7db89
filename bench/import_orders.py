"""Bulk order import: ``orders.services.orders_import`` and ``POST /api/v1/orders/import`` on PostgreSQL.

    createdb -h 127.0.0.1 -U postgres bench_import      # or let the script create it
    DEBUG=1 .venv/bin/python bench/import_orders.py --database-url postgres://postgres@127.0.0.1:5432/bench_import

On its own database (``--database-url``; created when missing, then migrated; never point it at bench_1m:
the script writes orders), with a catalog of ``--products`` products and ``--customers`` customers seeded on
first use, each run imports ``--orders`` (default 2,000) new orders of 3 items with fresh source ids: inline
customers from the pool (some new), products by source id (some new), half PAID (customer summaries move),
a metadata object — the shape of bench/api.py's orders. It times, in this process:

1. the service, dry run (everything checked, rolled back);
2. the service, for real (target: 2,000 orders of 3 items in under 10 s);
3. the whole API request with the immediate task backend: shape check of the array, the AsyncAction, the
   task, the import, then ``GET /v1/async-actions/{id}``;
4. re-importing ``--upserts`` of those orders (every row names an existing order: one ``order_update``
   each, the per-row path), and, for comparison, ``--upserts`` new orders through ``order_create`` one by
   one (what the import would cost without the bulk path).

Prints one table (seconds, orders/s, queries) and the load average before and after: the machine's 2
cores are shared, so busy runs are slower.
"""

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench_import"
TARGET_S = 10.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB, help="the bench database (created when missing)")
    parser.add_argument("--orders", type=int, default=2000, help="orders per import (default 2000, the API's maximum)")
    parser.add_argument("--products", type=int, default=300, help="products seeded on first use")
    parser.add_argument("--customers", type=int, default=5000, help="customers seeded on first use")
    parser.add_argument("--upserts", type=int, default=200, help="rows of the per-row comparisons")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def ensure_database(database_url: str) -> None:
    import psycopg

    server, name = database_url.rsplit("/", 1)
    if name == "bench_1m":
        sys.exit("bench_1m is the shared read-only data set: give this benchmark its own database.")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", flush=True)


def setup_django(database_url: str) -> None:
    os.environ.update(DATABASE_URL=database_url, DEBUG="1", LOG_LEVEL="WARNING", TASKS_BACKEND="immediate")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_dashboard.settings")
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


def seed(args) -> None:
    from orders.models import Customer, Product

    if not Product.objects.filter(source_id="bench-p-0").exists():
        rng = random.Random(args.seed)
        Product.objects.bulk_create(
            Product(source_id=f"bench-p-{i}", name=f"Product {i}", price=rng.randrange(500, 50000, 100))
            for i in range(args.products)
        )
    if not Customer.objects.filter(source_id="bench-c-0").exists():
        Customer.objects.bulk_create(
            Customer(source_id=f"bench-c-{i}", name=f"Customer {i}", email=f"c{i}@example.com")
            for i in range(args.customers)
        )


def order_body(rng: random.Random, tag: str, serial: int, products: int, customers: int) -> dict:
    """A 3-item order as a shop sends it (the API's JSON)."""
    # 1 in 20 names a customer or a product the shop has not sent before.
    customer = rng.randrange(customers) if rng.random() > 0.05 else f"new-{tag}-{serial}"
    items = []
    for position in range(3):
        product = rng.randrange(products) if rng.random() > 0.05 else f"new-{tag}-{serial}-{position}"
        item = {"source_id": f"bench-p-{product}", "related_object": "product", "quantity": rng.randint(1, 3)}
        if isinstance(product, str):
            item["product"] = {"name": f"New product {product}", "price": 1999}
        items.append(item)
    return {
        "source_id": f"bench-{tag}-{serial}",
        "status": "PAID" if serial % 2 else "CREATED",
        "customer": {"source_id": f"bench-c-{customer}", "name": f"Customer {customer}"},
        "items": items,
        "metadata": {"channel": rng.choice(["web", "app", "pos"]), "bench": tag},
    }


def timed(function):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:  # across requests of the test client too
        started = time.perf_counter()
        value = function()
        seconds = time.perf_counter() - started
    return value, seconds, len(queries)


def main(argv=None) -> int:
    args = parse_args(argv)
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from orders import services
    from orders.api.serializers import order_write_kwargs, validate_order
    from orders.events import Actor
    from orders_dashboard.api.keys import api_key_create

    call_command("migrate", verbosity=0)
    seed(args)
    print(f"Database: {connection.settings_dict['NAME']} ({connection.vendor}); load average before: {load()}")
    rng = random.Random(args.seed)
    actor = Actor.for_api_key(key_id="bench", name="bench/import_orders.py")
    tag = uuid.uuid4().hex[:8]
    bodies = [order_body(rng, tag, i, args.products, args.customers) for i in range(args.orders)]
    rows = [order_write_kwargs(validate_order(body)) for body in bodies]
    figures = []

    def add(name: str, count: int, seconds: float, queries: int, note: str = "") -> None:
        figures.append((name, count, f"{seconds:.2f}", f"{count / seconds:,.0f}", queries, note))

    result, seconds, queries = timed(lambda: services.orders_import(rows=rows, actor=actor, dry_run=True))
    add("service, dry run", args.orders, seconds, queries, f"{len(result.failed)} failed")
    result, seconds, queries = timed(lambda: services.orders_import(rows=rows, actor=actor))
    verdict = "met" if seconds < TARGET_S else "MISSED"
    add("service", args.orders, seconds, queries, f"{result.created} created; target < {TARGET_S:g} s {verdict}")

    key = api_key_create(name=f"bench import {tag}")
    client = Client(HTTP_HOST="localhost", HTTP_X_APP_ID=key.key.app_id, HTTP_X_APP_TOKEN=key.token)
    api_tag = uuid.uuid4().hex[:8]
    api_bodies = [order_body(rng, api_tag, i, args.products, args.customers) for i in range(args.orders)]

    def over_http():
        response = client.post("/api/v1/orders/import", api_bodies, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        action = client.get(f"/api/v1/async-actions/{response.json()['async_action_id']}").json()
        assert action["status"] == "DONE", action
        return action

    action, seconds, queries = timed(over_http)
    size = len(json.dumps(api_bodies)) / 1e6
    add(
        "POST /v1/orders/import + GET",
        args.orders,
        seconds,
        queries,
        f"{size:.1f} MB body; {action['result']['message']}",
    )

    again = [{**row, "status": "FULFILLED"} for row in rows[: args.upserts]]
    result, seconds, queries = timed(lambda: services.orders_import(rows=again, actor=actor))
    add(
        "service, every row an upsert",
        len(again),
        seconds,
        queries,
        f"{result.updated} updated (order_update each)",
    )

    one_tag = uuid.uuid4().hex[:8]
    singles = [
        order_write_kwargs(validate_order(order_body(rng, one_tag, i, args.products, args.customers)))
        for i in range(args.upserts)
    ]

    def one_by_one():
        for row in singles:
            services.order_create(actor=actor, imported=True, **row)

    _, seconds, queries = timed(one_by_one)
    add("order_create one by one (comparison)", len(singles), seconds, queries, "the import without its bulk path")

    header = ("what", "orders", "seconds", "orders/s", "queries", "")
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *figures, strict=True)]
    print(f"\nImport of {args.orders} orders of 3 items")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for figure in figures:
        print(
            "  "
            + "  ".join(
                str(c).rjust(w) if 0 < i < 5 else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(figure, widths, strict=True))
            )
        )
    print(f"\nload average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
