import time

from django.core.management.base import BaseCommand

from orders.services import customer_summaries_rebuild


class Command(BaseCommand):
    help = "Recompute every customer's order summary from the orders (PAID and FULFILLED only), set-wise in SQL."

    def handle(self, *args, **options):
        started = time.perf_counter()
        updated = customer_summaries_rebuild()
        elapsed = time.perf_counter() - started
        self.stdout.write(f"Rebuilt the order summaries of {updated} customer(s) in {elapsed:.1f} s.")
