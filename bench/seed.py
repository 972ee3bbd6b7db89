"""Build a demo data set of a given size and print what it cost.

    .venv/bin/python bench/seed.py --database-url postgres://postgres@127.0.0.1:5432/bench_1m --orders 1000000

Migrates the database, runs ``manage.py seed_demo`` (which prints its own phases), then prints the elapsed
seconds, rows per table, the database size (``pg_database_size`` on PostgreSQL, the file size on SQLite),
and checks the customer summaries the seed wrote against ``customer_summaries_rebuild()`` (snapshot,
rebuild, compare). On PostgreSQL it finishes with ``VACUUM (ANALYZE)`` (timed apart; ``--no-vacuum`` skips
it) so that the data set other benchmarks reuse starts settled rather than with autovacuum pending.
Exits non-zero when the summaries do not match.
"""

import argparse
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUMMARY_FIELDS = (
    "orders_total_amount",
    "orders_total_count",
    "orders_average_amount",
    "last_order_amount",
    "last_order_date",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="Database to fill, e.g. postgres://postgres@127.0.0.1:5432/bench_1m (default: $DATABASE_URL, "
        "else the project's SQLite file).",
    )
    parser.add_argument("--orders", type=int, default=1_000_000, help="Orders to create (default 1,000,000).")
    parser.add_argument("--customers", type=int, default=None, help="Customers (default: orders / 5).")
    parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
    parser.add_argument("--no-vacuum", action="store_true", help="Skip the final VACUUM (ANALYZE) on PostgreSQL.")
    return parser.parse_args(argv)


def setup_django(database_url: str | None) -> None:
    """Configure Django for this process before anything imports models."""
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_dashboard.settings")
    os.environ.setdefault("DEBUG", "1")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


def database_size(connection) -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0]
    # WAL mode keeps recent pages in the -wal file; checkpoint them into the database file first, so the
    # figure is the data set's size rather than the log's.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    name = Path(connection.settings_dict["NAME"])
    return sum(path.stat().st_size for path in (name, Path(f"{name}-wal")) if path.exists())


def table_sizes(connection, tables: list[str]) -> dict[str, int]:
    """Bytes per table including its indexes and TOAST (PostgreSQL only; empty elsewhere)."""
    if connection.vendor != "postgresql":
        return {}
    sizes = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            sizes[table] = cursor.fetchone()[0]
    return sizes


def summaries_check() -> tuple[int, int, float]:
    """Snapshot every customer's summary columns, rebuild them, compare. Returns (customers, mismatches,
    seconds the rebuild took)."""
    from orders.models import Customer
    from orders.services import customer_summaries_rebuild

    def snapshot() -> dict[str, tuple]:
        return {row[0]: row[1:] for row in Customer.objects.values_list("id", *SUMMARY_FIELDS).iterator(10_000)}

    before = snapshot()
    started = time.perf_counter()
    customer_summaries_rebuild()
    rebuild_seconds = time.perf_counter() - started
    after = snapshot()
    mismatches = sum(1 for customer_id, values in after.items() if before.get(customer_id) != values)
    return len(after), mismatches, rebuild_seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_django(args.database_url)

    from django.core.management import call_command
    from django.db import connection

    from orders.models import SKU, Customer, Order, OrderEvent, OrderItem, Product, Redemption

    phases: dict[str, float] = {}
    started = time.perf_counter()
    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")

    mark = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    phases["migrate"] = time.perf_counter() - mark

    mark = time.perf_counter()
    seed_options = {"orders": args.orders, "seed": args.seed}
    if args.customers is not None:
        seed_options["customers"] = args.customers
    call_command("seed_demo", **seed_options)
    phases["seed_demo"] = time.perf_counter() - mark
    seeded_at = time.perf_counter()

    models = (Product, SKU, Customer, Order, OrderItem, Redemption, OrderEvent)
    mark = time.perf_counter()
    counts = {model._meta.db_table: model._default_manager.count() for model in models}
    phases["count rows"] = time.perf_counter() - mark
    size_after_seed = database_size(connection)

    mark = time.perf_counter()
    customers, mismatches, rebuild_seconds = summaries_check()
    phases["summaries check (snapshot, rebuild, compare)"] = time.perf_counter() - mark

    if connection.vendor == "postgresql" and not args.no_vacuum:
        mark = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        phases["vacuum (analyze)"] = time.perf_counter() - mark

    print()
    print(f"Seed (migrate + seed_demo): {seeded_at - started:.1f} s")
    print(f"Total elapsed:              {time.perf_counter() - started:.1f} s")
    for phase, seconds in phases.items():
        print(f"  {phase:<46} {seconds:8.1f} s")
    print(f"  of which customer_summaries_rebuild()          {rebuild_seconds:8.1f} s")
    print("Rows per table:")
    sizes = table_sizes(connection, list(counts))
    for table, count in counts.items():
        size = f"  {sizes[table] / 2**20:9.1f} MiB" if table in sizes else ""
        print(f"  {table:<20} {count:>12,}{size}")
    print(f"Database size after seed: {size_after_seed / 2**20:,.1f} MiB")
    print(f"Database size now:        {database_size(connection) / 2**20:,.1f} MiB")
    if mismatches:
        print(f"Summaries: MISMATCH for {mismatches:,} of {customers:,} customers")
        return 1
    print(f"Summaries: OK ({customers:,} customers equal to customer_summaries_rebuild())")
    return 0


if __name__ == "__main__":
    sys.exit(main())
