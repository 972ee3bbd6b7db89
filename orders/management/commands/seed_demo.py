"""``manage.py seed_demo --orders N [--customers M] [--seed S] [--if-empty]``: fill the database with demo data."""

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from orders.demo import DemoDataExists, default_customers, demo_seed
from orders.models import Order


class Command(BaseCommand):
    help = (
        "Fill the database with deterministic demo data: a catalog, customers, and orders with items, "
        "redemptions, activity and customer summaries (bulk-written, one transaction)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orders", type=int, required=True, help="Number of orders to create.")
        parser.add_argument(
            "--customers", type=int, default=None, help="Number of customers (default: orders / 5, at least 10)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same seed gives the same data.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when the database already has orders.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias to write to.")

    def handle(self, *args, orders: int, customers: int | None, seed: int, if_empty: bool, database: str, **options):
        if orders < 0 or (customers is not None and customers < 0):
            raise CommandError("--orders and --customers must not be negative.")
        if if_empty and Order.objects.using(database).exists():
            self.stdout.write("Orders already exist; --if-empty given, so no demo data was added.")
            return
        customers = default_customers(orders) if customers is None else customers
        self.stdout.write(f"Seeding {orders:,} orders and {customers:,} customers (seed {seed})…")
        started = time.perf_counter()
        try:
            result = demo_seed(
                orders=orders, customers=customers, seed=seed, using=database, progress=self.stdout.write
            )
        except DemoDataExists as exc:
            raise CommandError(f"{exc}. seed_demo fills an empty database; use --if-empty to skip quietly.") from exc
        for table, count in result.counts.items():
            self.stdout.write(f"  {table:<40} {count:>8,}")
        for phase, seconds in result.phases.items():
            self.stdout.write(f"  {phase:<40} {seconds:8.2f} s")
        self.stdout.write(self.style.SUCCESS(f"Demo data written in {time.perf_counter() - started:.1f} s."))
