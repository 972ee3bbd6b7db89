"""Reads of the Orders API: orders and customers by id or source id, pages of them, and their totals.

Query budget: one order costs 3 queries (the order; its items with product and SKU joined; its
redemptions), a page of orders the same 3 whatever its size, plus what the count costs (below).

``total`` of a list stays cheap on millions of rows: it is counted exactly up to TOTAL_CAP (10,000: with
``page`` ≤ 100 and ``limit`` ≤ 100 no page reaches further), reading at most TOTAL_CAP + 1 index entries;
past the cap it is PostgreSQL's planner estimate — of the whole table (``pg_class.reltuples``, free) when
nothing filters it, else of the filtered query (EXPLAIN, no rows read). On SQLite (a laptop's small data)
it is counted.
"""

import json
from dataclasses import dataclass

from django.db import connections
from django.db.models import Prefetch, Q, QuerySet

from orders.choices import RedemptionStatus
from orders.models import Customer, Order, OrderItem, Redemption
from orders.pagination import capped_count, estimated_rows

TOTAL_CAP = 10_000


def order_lines_prefetch() -> list[Prefetch]:
    """What an Order response reads besides the order row: 2 queries for any number of orders."""
    return [
        Prefetch("items", queryset=OrderItem.objects.select_related("product", "sku").order_by("position", "id")),
        Prefetch(
            "redemptions",
            queryset=Redemption.objects.exclude(status=RedemptionStatus.FAILED).order_by("created_at", "id"),
        ),
    ]


def prefetch_order_lines(order: Order) -> None:
    """Load what the Order response of a just-written order reads: its items (one query, catalog rows
    joined), and its redemptions — unless the order is still at version 1, which means no redemption was
    ever recorded (recording or rolling one back moves the version; failed attempts, which do not, are not
    shown). Plain queries rather than prefetch_related_objects, whose bookkeeping costs as much as a query."""
    items = OrderItem.objects.filter(order_id=order.pk).select_related("product", "sku").order_by("position", "id")
    list(items)  # evaluates it: the manager of the order hands out this very queryset, already filled
    if order.version == 1:
        redemptions = Redemption.objects.none()
    else:
        redemptions = (
            Redemption.objects.filter(order_id=order.pk)
            .exclude(status=RedemptionStatus.FAILED)
            .order_by("created_at", "id")
        )
        list(redemptions)
    order._prefetched_objects_cache = {"items": items, "redemptions": redemptions}


def _by_id_or_source_id(queryset: QuerySet, value: str):
    """The row whose id is ``value``, else the one whose source id is: one query (both are unique keys)."""
    rows = list(queryset.filter(Q(pk=value) | Q(source_id=value))[:2])
    return next((row for row in rows if row.pk == value), rows[0] if rows else None)


def order_find(value: str) -> Order | None:
    return _by_id_or_source_id(Order.objects.prefetch_related(*order_lines_prefetch()), value)


def order_find_id(value: str) -> str | None:
    row = _by_id_or_source_id(Order.objects.only("pk"), value)
    return row.pk if row else None


def customer_find(value: str) -> Customer | None:
    return _by_id_or_source_id(Customer.objects.all(), value)


@dataclass(frozen=True)
class ListPage:
    rows: list
    total: int
    total_exact: bool


def page_of(queryset: QuerySet, *, page: int, limit: int, filtered: bool, witness: QuerySet | None = None) -> ListPage:
    """Rows ``(page - 1) * limit`` … of the ordered ``queryset`` (OFFSET is bounded: page ≤ 100, limit ≤ 100)
    and the total, as the module docstring says."""
    start = (page - 1) * limit
    rows = list(queryset[start : start + limit])
    total, exact = list_total(queryset, filtered=filtered, witness=witness)
    return ListPage(rows=rows, total=total, total_exact=exact)


def list_total(queryset: QuerySet, *, filtered: bool, witness: QuerySet | None = None) -> tuple[int, bool]:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.order_by().count(), True
    if not filtered:
        estimate = estimated_rows(queryset.model, using=queryset.db)
        if estimate is not None and estimate > TOTAL_CAP:
            return estimate, False
    count = capped_count(queryset, TOTAL_CAP, witness=witness)
    if count.exact:
        return count.value, True
    return max(TOTAL_CAP + 1, _planner_rows(queryset)), False


def _planner_rows(queryset: QuerySet) -> int:
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])
