"""Keyset (cursor) pagination and an honest, cheap count, for any list of model rows (orders now,
customers later).

Why keyset: ``OFFSET 25000`` makes the database walk and discard 25,000 rows, and rows inserted at the top
shift every later page. A keyset page instead asks for "the next N rows after this one" in the list's
order — ``WHERE (created_at, id) < (x, y) ORDER BY created_at DESC, id DESC LIMIT N`` — which an index on
the sort columns answers by seeking, at the same cost on page 1 and page 1,000, and which new rows do not
shift.

Contract:

- the queryset is ordered by model fields only (``"-created_at", "-id"``), the last one unique (the pk),
  and none of them nullable — or, with ``skip_nulls=True``, nullable ones whose NULL rows the paginator
  leaves out (the caller says so on the page); each ordering wants an index on exactly those columns;
- cursors are opaque, signed strings that name the direction, the ordering and the boundary row's sort
  values; a tampered, truncated or foreign cursor (e.g. made for another sort) raises ``InvalidCursor``,
  whose message can be shown as is;
- ``page()`` costs one query (two when "previous" reaches the start of the list, which is then served as
  the first page).

Counting: ``capped_count`` counts at most ``cap + 1`` rows (``SELECT COUNT(*) FROM (… LIMIT cap + 1)``),
so it is exact for small results and "more than cap" otherwise — never a full COUNT(*) of a large table.
A cheaper subset (a "witness") can settle "more than cap" first, when the caller has one.
``estimated_rows`` reads PostgreSQL's planner estimate for a whole table (label it as an estimate).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Q, QuerySet

DEFAULT_SALT = "orders.pagination.cursor"


class InvalidCursor(ValueError):
    """A cursor that was not made by this paginator for this ordering."""


@dataclass(frozen=True)
class Page:
    object_list: list
    per_page: int
    has_next: bool
    has_previous: bool
    next_cursor: str | None
    previous_cursor: str | None

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


@dataclass(frozen=True)
class Count:
    """How many rows: ``value`` exactly, or (``exact`` False) more than ``value``, or about ``value``
    (``estimated``)."""

    value: int
    exact: bool = True
    estimated: bool = False

    def __str__(self) -> str:
        if self.estimated:
            return f"about {self.value:,} (estimate)"
        return f"{self.value:,}" if self.exact else f"more than {self.value:,}"


def _encode_value(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class KeysetPaginator:
    def __init__(
        self, queryset: QuerySet, *, per_page: int, ordering=None, salt: str = DEFAULT_SALT, skip_nulls: bool = False
    ):
        model = queryset.model
        ordering = tuple(ordering or queryset.query.order_by or model._meta.ordering)
        if not ordering or not all(isinstance(name, str) for name in ordering):
            raise ValueError("keyset pagination needs an ordering by field names")
        self.keys: list[tuple[str, bool]] = []  # (field name, descending)
        self.fields = []
        present = {}  # nullable sort fields whose NULL rows are left out (skip_nulls)
        for name in ordering:
            bare = name.removeprefix("-")
            field = model._meta.pk if bare == "pk" else model._meta.get_field(bare)
            if field.null and not skip_nulls:
                raise ValueError(f"keyset pagination cannot sort by the nullable field {bare!r}")
            if field.null:
                present[f"{bare}__isnull"] = False
            self.keys.append((bare, name.startswith("-")))
            self.fields.append(field)
        if not (self.fields[-1].primary_key or self.fields[-1].unique):
            raise ValueError("the last sort key must be unique (the primary key), to break ties")
        if per_page < 1:
            raise ValueError("per_page must be at least 1")
        self.ordering = ordering
        self.queryset = queryset.filter(**present).order_by(*ordering)
        self.per_page = per_page
        self.salt = salt

    # -- cursors

    def _cursor(self, direction: str, row) -> str:
        # [direction, ordering, *sort values of the boundary row], signed (and compressed when it helps)
        values = [_encode_value(getattr(row, field.attname)) for field in self.fields]
        return signing.dumps([direction, ",".join(self.ordering), *values], salt=self.salt, compress=True)

    def _decode(self, cursor: str) -> tuple[str, list]:
        broken = "That page link is broken, so the list starts again."
        try:
            data = signing.loads(cursor, salt=self.salt)
        except (signing.BadSignature, ValueError, TypeError):
            raise InvalidCursor("That page link is broken or was altered, so the list starts again.") from None
        if not isinstance(data, list) or len(data) != 2 + len(self.fields) or data[0] not in ("n", "p"):
            raise InvalidCursor(broken)
        if data[1] != ",".join(self.ordering):
            raise InvalidCursor("That page link was made for another sort order, so the list starts again.")
        try:
            values = [field.to_python(value) for field, value in zip(self.fields, data[2:], strict=True)]
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise InvalidCursor(broken) from None
        return data[0], values

    # -- queries

    def _beyond(self, values: list, *, forward: bool) -> Q:
        """Rows strictly after ``values`` in the ordering (``forward``) or before it. Written as
        ``a <= x AND (a < x OR (…))`` rather than a plain OR, so the leading comparison can seek the index."""
        condition = None
        for (name, descending), value in reversed(list(zip(self.keys, values, strict=True))):
            op = "lt" if descending == forward else "gt"
            strict = Q(**{f"{name}__{op}": value})
            condition = strict if condition is None else Q(**{f"{name}__{op}e": value}) & (strict | condition)
        return condition

    def _reversed(self) -> tuple[str, ...]:
        return tuple(name.removeprefix("-") if name.startswith("-") else f"-{name}" for name in self.ordering)

    def page(self, cursor: str | None = None) -> Page:
        """The page after (or before) ``cursor``; the first page without one. Raises InvalidCursor."""
        size = self.per_page
        if cursor:
            direction, values = self._decode(cursor)
            if direction == "n":
                rows = list(self.queryset.filter(self._beyond(values, forward=True))[: size + 1])
                return self._make(rows[:size], has_next=len(rows) > size, has_previous=True)
            rows = list(
                self.queryset.order_by(*self._reversed()).filter(self._beyond(values, forward=False))[: size + 1]
            )
            if len(rows) > size:
                return self._make(rows[:size][::-1], has_next=True, has_previous=True)
            # Back at the start of the list: serve a full first page rather than a short one.
        rows = list(self.queryset[: size + 1])
        return self._make(rows[:size], has_next=len(rows) > size, has_previous=False)

    def _make(self, rows: list, *, has_next: bool, has_previous: bool) -> Page:
        return Page(
            object_list=rows,
            per_page=self.per_page,
            has_next=has_next,
            has_previous=has_previous,
            next_cursor=self._cursor("n", rows[-1]) if has_next and rows else None,
            previous_cursor=self._cursor("p", rows[0]) if has_previous and rows else None,
        )


def capped_count(queryset: QuerySet, cap: int, *, witness: QuerySet | None = None) -> Count:
    """Exact up to ``cap``; past it, ``Count(cap, exact=False)``. Costs at most ``cap + 1`` rows read.

    ``witness`` (optional) is a subset of ``queryset`` that is cheaper to count: when it alone holds more
    than ``cap`` rows, so does the whole, and the whole is not counted (one query either way when it does).
    """
    if witness is not None and witness.order_by().values("pk")[: cap + 1].count() > cap:
        return Count(cap, exact=False)
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return Count(found) if found <= cap else Count(cap, exact=False)


def estimated_rows(model, using: str = "default") -> int | None:
    """PostgreSQL's planner estimate of a table's rows (kept by ANALYZE/autovacuum), or None elsewhere
    or before the table was ever analysed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None
