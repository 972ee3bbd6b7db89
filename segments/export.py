"""The segment member export: the customers a segment holds now, as a streamed CSV, through the orders
exporter (``orders/export.py``: constant memory, formula-escaped text, COPY on PostgreSQL)."""

from orders.export import (
    Column,
    CSVStream,
    integer_column,
    json_column,
    text_column,
    timestamp_column,
)

from . import selectors
from .models import Segment

# The columns, in order: who the customer is, then the order summary (PAID and FULFILLED orders; amounts
# in minor units, as everywhere in exports), then the metadata object.
MEMBER_FIELDS = (
    "id",
    "source_id",
    "name",
    "email",
    "created_at",
    "orders_total_amount",
    "orders_total_count",
    "orders_average_amount",
    "last_order_amount",
    "last_order_date",
    "metadata",
)
MEMBER_ORDERING = ("-orders_total_amount", "-id")


def member_columns() -> list[Column]:
    return [
        text_column("id"),
        text_column("source_id"),
        text_column("name"),
        text_column("email"),
        timestamp_column("created_at"),
        integer_column("orders_total_amount"),
        integer_column("orders_total_count"),
        integer_column("orders_average_amount"),
        integer_column("last_order_amount"),
        timestamp_column("last_order_date"),
        json_column("metadata"),
    ]


def member_stream(segment: Segment) -> CSVStream:
    """The CSV of ``segment``'s members now, biggest spenders first (the segment page's order)."""
    queryset = selectors.segment_customers(segment).order_by(*MEMBER_ORDERING)
    return CSVStream(queryset, member_columns())
