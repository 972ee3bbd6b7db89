"""Validation rules: the evaluator, the preview count, and POST /api/v1/validations under gunicorn.

    .venv/bin/python bench/rules.py                                   # all three parts
    .venv/bin/python bench/rules.py evaluate preview --database-url postgres://postgres@127.0.0.1:5432/bench_1m
    .venv/bin/python bench/rules.py api --api-database-url postgres://postgres@127.0.0.1:5432/ruleseng_bench

1. ``evaluate`` (on ``--database-url``, default bench_1m, read only): loads one order with several lines and a
   customer, builds 50 rules over every kind of condition (amounts, counts, prices, order and customer
   metadata, items any/every/none with nested conditions, segments, not/and/or logic) and times, over
   ``--iterations`` rounds: evaluating the 50 parsed rules; parsing and evaluating them (their stored JSON,
   as a request that loads them does); and loading the order (with the customer's segments when the
   database has the segments tables) then parsing and evaluating — counting the queries of that last one.
   Target: p95 ≤ 5 ms for the 50 rules, no queries beyond loading the order and the customer's segments.
2. ``preview`` (same database): the preview count (``rules.compiler.preview_count``) of three-condition
   rules over all the orders, and over the last 90 days of orders; median of ``--repeat`` runs after one
   warm-up. Target: ≤ 1 s for a three-condition rule.
3. ``api`` (on ``--api-database-url``, default ruleseng_bench: created when missing, migrated, seeded with
   ``--api-orders`` orders, a rule and a voucher, and an API key): starts gunicorn (``--workers`` sync
   workers) on a free port of 127.0.0.1 and times ``--requests`` sequential POST /api/v1/validations for a
   stored order and for an inline order (created and rolled back in the request), then the same with
   ``--concurrency`` client threads.

Django runs with DEBUG=1 unless ``--debug 0`` (then a throw-away SECRET_KEY). Prints one table per part and
the load average before and after: the machine's 2 cores are shared, so busy runs are slower.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(PROJECT_ROOT / ".venv" / "bin" / "python")
GUNICORN = str(PROJECT_ROOT / ".venv" / "bin" / "gunicorn")
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench_1m"
DEFAULT_API_DB = "postgres://postgres@127.0.0.1:5432/ruleseng_bench"
EVALUATE_TARGET_MS, PREVIEW_TARGET_S = 5.0, 1.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", default=["evaluate", "preview", "api"], help="evaluate, preview, api")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DB)
    parser.add_argument("--api-database-url", default=DEFAULT_API_DB)
    parser.add_argument("--debug", default="1", choices=["0", "1"], help="DEBUG for Django (default 1)")
    parser.add_argument("--iterations", type=int, default=2000, help="evaluate: rounds of 50 rules")
    parser.add_argument("--repeat", type=int, default=5, help="preview: timed runs per rule")
    parser.add_argument("--api-orders", type=int, default=2000, help="api: orders seeded")
    parser.add_argument("--requests", type=int, default=300, help="api: timed requests per scenario")
    parser.add_argument("--concurrency", type=int, default=4, help="api: client threads of the parallel run")
    parser.add_argument("--workers", type=int, default=2, help="api: gunicorn workers")
    return parser.parse_args(argv)


def environment(database_url: str, debug: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, DEBUG=debug, PYTHONPATH=str(PROJECT_ROOT), LOG_LEVEL="WARNING")
    if debug == "0":
        env.update(SECRET_KEY="bench-rules-" + "k" * 50, ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0")
    env.setdefault("DJANGO_SETTINGS_MODULE", "orders_dashboard.settings")
    return env


def setup_django(database_url: str, debug: str) -> None:
    os.environ.update(environment(database_url, debug))
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print(
            "  "
            + "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


# --- 1. the evaluator -----------------------------------------------------------------------------------


def fifty_rules(order, lines) -> list[dict]:
    """50 rules over every kind of condition, built around this order so that some pass and some fail."""
    products = [line.product_id for line in lines if line.product_id] or ["prod_none"]
    skus = [line.sku_id for line in lines if line.sku_id] or ["sku_none"]
    keys = list(order.metadata)[:3] or ["channel"]
    customer_keys = list((order.customer.metadata if order.customer else {}) or {})[:2] or ["tier"]
    amount = order.amount
    conditions = [
        {"name": "order.amount", "conditions": {"$more_than_or_equal": [max(amount - 100, 0)]}},
        {"name": "order.amount", "conditions": {"$less_than": [amount]}},
        {"name": "order.total_amount", "conditions": {"$in": [order.total_amount, 1, 2]}},
        {"name": "order.initial_amount", "conditions": {"$is_not": [0]}},
        {"name": "order.items.count", "conditions": {"$more_than": [1]}},
        {"name": "order.items.quantity", "conditions": {"$less_than_or_equal": [50]}},
        {"name": "order.items.price_any", "conditions": {"$more_than": [1000]}},
        {"name": "order.items.price_each", "conditions": {"$more_than_or_equal": [100]}},
        {"name": "order.metadata", "property": keys[0], "conditions": {"$is": [str(order.metadata.get(keys[0]))]}},
        {"name": "order.metadata", "property": keys[-1], "conditions": {"$in": ["web", "app", "pos"]}},
        {"name": "order.metadata", "property": keys[0], "conditions": {"$contains": ["e"]}},
        {"name": "order.metadata", "property": "missing_key", "conditions": {"$is_unknown": []}},
        {"name": "order.metadata", "property": "placed_on", "conditions": {"$after": ["2025-01-01"]}},
        {"name": "customer.metadata", "property": customer_keys[0], "conditions": {"$has_value": []}},
        {"name": "customer.metadata", "property": customer_keys[-1], "conditions": {"$not_in": ["banned"]}},
        {"name": "customer.segment", "conditions": {"$in": ["seg_bench_a", "seg_bench_b"]}},
        {"name": "customer.segment", "conditions": {"$not_in": ["seg_bench_blocked"]}},
        {"name": "order.items.any", "conditions": {"$is": [{"id": products[0], "object": "product"}]}},
        {
            "name": "order.items.any",
            "conditions": {"$is": [{"id": p, "object": "product"} for p in products[:3]]},
            "rules": {
                "1": {"name": "order.items.aggregated_quantity", "conditions": {"$more_than_or_equal": [1]}},
                "2": {"name": "order.items.price", "conditions": {"$less_than": [10**7]}},
                "logic": "1 and 2",
            },
        },
        {"name": "order.items.every", "conditions": {"$is": [{"id": p, "object": "product"} for p in products]}},
        {"name": "order.items.none", "conditions": {"$is": [{"id": skus[0], "object": "sku"}]}},
        {
            "name": "order.items.none",
            "conditions": {"$is": [{"id": products[-1], "object": "product"}]},
            "rules": {
                "1": {"name": "order.items.aggregated_amount", "conditions": {"$more_than": [10**6]}},
                "logic": "1",
            },
        },
    ]
    logics = ["1", "1 and 2", "1 or 2", "not 1 and 2", "(1 or 2) and 3", "1 and (2 or not 3)"]
    rules = []
    for index in range(50):
        size = 1 + index % 3
        picked = [conditions[(index * 7 + offset * 5) % len(conditions)] for offset in range(size)]
        data = {str(n + 1): condition for n, condition in enumerate(picked)}
        data["logic"] = next(logic for logic in logics[index % len(logics) :] + logics if _fits(logic, size))
        rules.append(data)
    return rules


def _fits(logic: str, size: int) -> bool:
    named = {token for token in logic.replace("(", " ").replace(")", " ").split() if token.isdigit()}
    return named == {str(n) for n in range(1, size + 1)}


def part_evaluate(args) -> list[tuple]:
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from orders.models import Order, OrderItem
    from rules import language as lang
    from rules import segments_bridge, selectors
    from rules.evaluator import evaluate

    recent = list(
        Order.objects.filter(customer__isnull=False).order_by("-created_at").values_list("pk", flat=True)[:200]
    )
    counts = dict(
        OrderItem.objects.filter(order_id__in=recent)
        .values("order_id")
        .annotate(n=Count("id"))
        .values_list("order_id", "n")
    )
    candidate = next((pk for pk in recent if counts.get(pk, 0) >= 3), recent[0])
    order = selectors.order_with_lines(candidate)
    lines = order._rules_lines
    stored = fifty_rules(order, lines)
    parsed = [lang.parse(data) for data in stored]
    tables = set(connection.introspection.table_names())
    has_segments = "segments_segment" in tables
    segment_ids = segments_bridge.segment_ids_of_customer(order.customer_id) if has_segments else frozenset()
    segment_ids = frozenset(segment_ids | {"seg_bench_a"})  # one of the rules' segments, for both branches
    snapshot = selectors.order_snapshot(order)
    passed = sum(evaluate(ruleset, snapshot, segment_ids).valid for ruleset in parsed)
    print(f"  order {order.pk}: {len(lines)} lines, customer {order.customer_id}; {passed}/50 rules pass", flush=True)

    def run(step, count):
        for _ in range(min(50, count)):
            step()
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            step()
            samples.append((time.perf_counter() - start) * 1000)
        return samples

    def evaluate_only():
        for ruleset in parsed:
            evaluate(ruleset, snapshot, segment_ids)

    def parse_and_evaluate():
        for data in stored:
            evaluate(lang.parse(data), snapshot, segment_ids)

    def load_parse_evaluate():
        loaded = selectors.order_with_lines(order.pk)
        rulesets = [lang.parse(data) for data in stored]
        ids = segments_bridge.segment_ids_of_customer(loaded.customer_id) if has_segments else frozenset()
        view = selectors.order_snapshot(loaded)
        for ruleset in rulesets:
            evaluate(ruleset, view, ids)

    rows = []
    for label, step, count in (
        ("evaluate 50 parsed rules", evaluate_only, args.iterations),
        ("parse + evaluate 50 rules", parse_and_evaluate, args.iterations),
        ("load order (+segments) + parse + evaluate", load_parse_evaluate, max(args.iterations // 10, 50)),
    ):
        samples = run(step, count)
        rows.append(
            (
                label,
                count,
                f"{statistics.median(samples):.3f}",
                f"{percentile(samples, 0.95):.3f}",
                f"{percentile(samples, 0.99):.3f}",
            )
        )
    with CaptureQueriesContext(connection) as queries:
        load_parse_evaluate()
    with CaptureQueriesContext(connection) as evaluation_queries:
        evaluate_only()
    loaded = "its lines and the customer's segments" if has_segments else "its lines (no segments tables)"
    print(
        f"  queries: {len(queries)} to load the order, {loaded}, and evaluate; "
        f"{len(evaluation_queries)} while evaluating the parsed rules",
        flush=True,
    )
    return rows


# --- 2. the preview count ------------------------------------------------------------------------------------


def part_preview(args) -> list[tuple]:
    import datetime as dt

    from django.db.models import Max

    from orders.models import Order, OrderItem
    from rules import compiler
    from rules import language as lang

    newest = Order.objects.aggregate(newest=Max("created_at"))["newest"]
    start = (newest - dt.timedelta(days=90)).date() if newest else None
    popular = (
        OrderItem.objects.exclude(product_id=None).values_list("product_id", flat=True).order_by("product_id").first()
    )
    rules = {
        "amount ≥ 100.00 and (channel = web or total < 500.00)": {
            "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [10000]}},
            "2": {"name": "order.metadata", "property": "channel", "conditions": {"$is": ["web"]}},
            "3": {"name": "order.total_amount", "conditions": {"$less_than": [50000]}},
            "logic": "1 and (2 or 3)",
        },
        "a product, amount > 50.00, channel web or app": {
            "1": {"name": "order.items.any", "conditions": {"$is": [{"id": popular, "object": "product"}]}},
            "2": {"name": "order.amount", "conditions": {"$more_than": [5000]}},
            "3": {"name": "order.metadata", "property": "channel", "conditions": {"$in": ["web", "app"]}},
            "logic": "1 and 2 and 3",
        },
        "amount, payment method not paypal, locale starts de": {
            "1": {"name": "order.amount", "conditions": {"$less_than": [20000]}},
            "2": {"name": "order.metadata", "property": "payment_method", "conditions": {"$is_not": ["paypal"]}},
            "3": {"name": "order.metadata", "property": "locale", "conditions": {"$starts_with": ["de"]}},
            "logic": "1 and 2 and 3",
        },
        "amount, channel web, ≥ 3 lines (the items_count column)": {
            "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [10000]}},
            "2": {"name": "order.metadata", "property": "channel", "conditions": {"$is": ["web"]}},
            "3": {"name": "order.items.count", "conditions": {"$more_than_or_equal": [3]}},
            "logic": "1 and 2 and 3",
        },
    }
    rows = []
    for label, data in rules.items():
        ruleset = lang.parse(data)
        for span, kwargs in (("all time", {}), (f"90 days from {start}", {"created_from": start})):
            compiler.preview_count(ruleset, **kwargs)  # warm-up
            samples, count = [], 0
            for _ in range(args.repeat):
                began = time.perf_counter()
                count = compiler.preview_count(ruleset, **kwargs)
                samples.append(time.perf_counter() - began)
            median = statistics.median(samples)
            verdict = "ok" if median <= PREVIEW_TARGET_S else "over"
            rows.append((label, span, f"{count:,}", f"{median * 1000:.0f}", f"{max(samples) * 1000:.0f}", verdict))
            print(f"  {label} / {span}: {median * 1000:.0f} ms", flush=True)
    return rows


# --- 3. the API under gunicorn ------------------------------------------------------------------------------


def api_setup(orders: int) -> dict:
    """Runs in a child process on the API database: migrate, seed once, make a key, a rule and a voucher."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from orders import services as order_services
    from orders.events import Actor
    from orders.models import Order
    from orders_dashboard.api.keys import api_key_create
    from rules import services
    from rules.models import Incentive

    actor = Actor.system("bench")
    existing = Order.objects.count()
    for index in range(existing, orders):
        order_services.order_create(
            actor=actor,
            source_id=f"bench-{index}",
            customer={
                "source_id": f"bench-customer-{index % 300}",
                "metadata": {"tier": ["gold", "silver"][index % 2]},
            },
            items=[
                {
                    "source_id": f"bench-product-{(index + n) % 40}",
                    "related_object": "product",
                    "quantity": 1 + n,
                    "price": 1500 * (n + 1),
                }
                for n in range(3)
            ],
            metadata={"channel": ["web", "app", "pos"][index % 3]},
        )
    voucher = Incentive.objects.filter(code="BENCH10").first()
    if voucher is None:
        rule = services.rule_create(
            name="Bench: three conditions",
            rules={
                "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}},
                "2": {"name": "order.metadata", "property": "channel", "conditions": {"$in": ["web", "app"]}},
                "3": {"name": "customer.metadata", "property": "tier", "conditions": {"$is": ["gold"]}},
                "logic": "1 and (2 or 3)",
            },
        )
        voucher = services.incentive_create(
            kind="voucher", code="BENCH10", name="Bench", amount_off=1000, rules=[rule.pk]
        )
    key = api_key_create(name="bench-rules")
    return {"app_id": key.key.app_id, "token": key.token, "orders": Order.objects.count(), "code": voucher.code}


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    server = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def part_api(args) -> list[tuple]:
    ensure_database(args.api_database_url)
    env = environment(args.api_database_url, args.debug)
    setup = subprocess.run(
        [PYTHON, __file__, "_api_setup", "--api-orders", str(args.api_orders)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    info = json.loads(setup.stdout.strip().splitlines()[-1])
    print(f"  API database: {info['orders']:,} orders; voucher {info['code']}", flush=True)
    port = free_port()
    server = subprocess.Popen(
        [
            GUNICORN,
            "orders_dashboard.wsgi",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=PROJECT_ROOT,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        headers = {"Content-Type": "application/json", "X-App-Id": info["app_id"], "X-App-Token": info["token"]}
        stored = {"order": {"source_id": "bench-7"}, "redeemables": [{"object": "voucher", "id": info["code"]}]}
        inline = {
            "customer": {"source_id": "bench-customer-1"},
            "order": {
                "items": [
                    {"source_id": f"bench-product-{n}", "related_object": "product", "quantity": 2, "price": 2500}
                    for n in range(3)
                ],
                "metadata": {"channel": "web"},
            },
            "redeemables": [{"object": "voucher", "id": info["code"]}],
        }

        def post(body) -> float:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            began = time.perf_counter()
            connection.request("POST", "/api/v1/validations", json.dumps(body), headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = (time.perf_counter() - began) * 1000
            connection.close()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {payload[:300]!r}")
            return elapsed

        rows = []
        for label, body in (("stored order", stored), ("inline order (rolled back)", inline)):
            for _ in range(20):
                post(body)
            samples = [post(body) for _ in range(args.requests)]
            rows.append(
                (
                    label,
                    1,
                    args.requests,
                    f"{statistics.median(samples):.1f}",
                    f"{percentile(samples, 0.95):.1f}",
                    f"{percentile(samples, 0.99):.1f}",
                    f"{1000 / statistics.mean(samples):.0f}",
                )
            )
            samples, lock = [], threading.Lock()

            def worker(count, body=body, samples=samples, lock=lock):
                mine = [post(body) for _ in range(count)]
                with lock:
                    samples.extend(mine)

            threads = [
                threading.Thread(target=worker, args=(args.requests // args.concurrency,))
                for _ in range(args.concurrency)
            ]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            rows.append(
                (
                    label,
                    args.concurrency,
                    len(samples),
                    f"{statistics.median(samples):.1f}",
                    f"{percentile(samples, 0.95):.1f}",
                    f"{percentile(samples, 0.99):.1f}",
                    f"{len(samples) / wall:.0f}",
                )
            )
        return rows
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.parts == ["_api_setup"]:
        setup_django(os.environ["DATABASE_URL"], os.environ.get("DEBUG", "1"))
        print(json.dumps(api_setup(args.api_orders)))
        return 0
    print(f"load average before: {load()}  (2 shared cores; DEBUG={args.debug})", flush=True)
    if {"evaluate", "preview"} & set(args.parts):
        setup_django(args.database_url, args.debug)
        from django.db import connection

        print(f"Database: {connection.settings_dict['NAME']} ({connection.vendor})", flush=True)
    if "evaluate" in args.parts:
        rows = part_evaluate(args)
        table(
            f"1. Evaluator — target p95 ≤ {EVALUATE_TARGET_MS:g} ms for 50 rules",
            ("step", "rounds", "p50 ms", "p95 ms", "p99 ms"),
            rows,
        )
    if "preview" in args.parts:
        rows = part_preview(args)
        table(
            f"2. Preview count — target ≤ {PREVIEW_TARGET_S:g} s",
            ("rule", "orders", "pass", "median ms", "max ms", ""),
            rows,
        )
    if "api" in args.parts:
        rows = part_api(args)
        table(
            f"3. POST /api/v1/validations under gunicorn ({args.workers} workers)",
            ("order", "clients", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s"),
            rows,
        )
    print(f"\nload average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
