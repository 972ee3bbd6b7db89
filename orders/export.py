"""Streaming CSV export: a queryset and a list of columns in, CSV bytes out, in constant memory, of any size
(DESIGN §5 "Export"). The orders list's download uses it now; the API's export jobs and the segment member
export (customers, other columns) are meant to reuse it as it is.

Interface
---------

    columns = order_columns(["id", "created_at", "total_amount", "metadata.channel"])   # or your own Columns
    stream = CSVStream(queryset, columns, on_finish=callback)   # method="auto" | "copy" | "python"
    for chunk in stream:   # bytes: the header row at once, then the rows in chunks of about 64 KiB
        ...
    stream.row_count, stream.size, stream.method             # known when the iteration has ended

``on_finish(stream, error)`` is called exactly once: with ``error=None`` after the last row, or with a
message when the database failed or the stream was closed before its end (a client that went away:
``close()`` is how a WSGI server says so). The queryset's rows, filters and ``order_by`` are exported as
they are; the caller decides them (the orders download passes ``OrderFilterSet(...).qs``).

The record of an export (``orders.models.Export``, ``exp_…``): ``export_start(actor=, filters=, fields=,
order=, method=)`` creates it IN_PROGRESS, ``finishes(export)`` is the ``on_finish`` that makes it DONE with
the row count and size, or ERROR with the reason (an interrupted download: ERROR, the bytes sent, the row
count left unknown). ``last_export_fields(user)`` is the remembered field choice. An export job (API)
would create its record SCHEDULED, run the same stream into ``Export.file`` and finish it the same way.

A ``Column`` names its header cell and the field it reads (``source``, as ``values_list`` spells it) and
says how a value becomes text twice: ``render`` in Python and ``sql`` for PostgreSQL's COPY. The helpers
``text_column``, ``integer_column``, ``timestamp_column``, ``json_column`` and ``json_key_column`` build the
usual kinds; a column of another kind gives both functions, or ``sql=None`` to keep exports that use it on
the Python path.

Two paths, one output
---------------------

- **COPY** (PostgreSQL, when every column has ``sql``): the formatting and the formula escaping happen in
  the query, and ``COPY (<the queryset's SELECT>) TO STDOUT WITH (FORMAT csv)`` streams from psycopg as the
  server produces rows, so the first rows arrive at once whatever the size and nothing is held in memory.
- **Python** (SQLite, or a column without ``sql``): the queryset's SELECT runs through Django's chunked
  cursor (``fetchmany``; on PostgreSQL a server-side cursor inside a transaction, so that it is not
  ``WITH HOLD`` and streams too), a thousand rows at a time, rendered column by column.

Both paths run inside ``transaction.atomic`` (one consistent snapshot; a cancelled COPY rolls back to it)
and produce the same bytes (tests compare them on hostile data):

- UTF-8, no byte-order mark; every row, the header row of column names included, ends with ``\\n`` (what
  COPY writes; CSV readers accept it).
- Quoting as PostgreSQL's CSV writer does it: a cell is quoted when it contains ``,``, ``"``, CR or LF, or is
  an empty text; ``"`` is doubled. A missing value (SQL NULL, a metadata key that is absent or null) is an
  empty, unquoted cell; an empty text is ``""``. With a single column, ``\\.`` is quoted too.
- Formula injection (OWASP "CSV Injection"): a text cell that starts with ``=``, ``+``, ``-``, ``@``, tab,
  CR or LF gets a leading ``'``. Columns whose text cannot start so skip the test (``escape=False``):
  amounts are never negative (check constraints), timestamps start with a digit, a JSON object with ``{``,
  order ids with ``ord_`` and statuses are four fixed words.
- Timestamps: ISO 8601 in UTC with microseconds, ``2026-11-27T03:04:05.123456Z``.
- Amounts: integer minor units, as stored.
- A JSON column (``metadata``) is the object as PostgreSQL's ``jsonb`` prints it: keys ordered by length,
  then bytewise; ``", "`` and ``": "`` between items; non-ASCII characters as they are; numbers in plain
  decimal notation (``1e+16`` → ``10000000000000000``, ``1.5e-07`` → ``0.00000015``).
- A JSON key column (``metadata.<key>``) holds the plain value: text as it is, ``true``/``false``, numbers
  as above, objects and lists as JSON (as above), and nothing for an absent key or a null.
"""

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import Expression, F, Func, QuerySet, TextField
from django.db.models.sql.constants import MULTI
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .choices import MetadataObject
from .events import Actor
from .models import Export, ExportStatus, MetadataSchemaProperty

# --- columns ----------------------------------------------------------------------------------------------

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
CHUNK_BYTES = 64 * 1024  # what one yielded chunk holds, about
CHUNK_ROWS = 1000  # rows fetched and rendered at a time on the Python path
MEMO_SIZE = 4096  # rendered JSON values kept per export (values repeat: channels, tiers, …)
UTC = dt.UTC


def _as_is(expression: Expression) -> Expression:
    return expression


@dataclass(frozen=True)
class Column:
    """One CSV column.

    - ``name``: the header cell.
    - ``source``: the field it reads, as ``values_list`` spells it (``"created_at"``, ``"customer__email"``).
    - ``render(value) -> str | None``: the cell text of a value (None: a missing value, an empty cell).
    - ``sql(expression) -> expression``: given ``F(source)``, an expression whose COPY text is exactly what
      ``render`` returns (``_as_is`` when the column's own text is); None keeps the export on the Python path.
    - ``escape``: formula-escape the text; off only where no value can start with a trigger character.
    - ``raw``: ``render`` receives the database driver's value (a text timestamp on SQLite, JSON as text)
      rather than the model field's Python value; the built-in kinds do, which spares a conversion per cell.
    - ``memo``: remember rendered cells during one export (hashable values that repeat and cost to render).
    - ``fetch(expression) -> expression``: what the Python path selects for ``F(source)`` (default: the field
      itself); timestamps ask SQLite for their stored text, which renders faster than a parsed datetime.
    """

    name: str
    source: str
    render: Callable[[Any], str | None]
    sql: Callable[[Expression], Expression] | None = _as_is
    escape: bool = True
    raw: bool = False
    memo: bool = False
    fetch: Callable[[Expression], Expression] = _as_is


def _text(value) -> str | None:
    return value


def _integer(value) -> str | None:
    return None if value is None else str(value)


def _timestamp(value) -> str | None:
    """``2026-11-27T03:04:05.123456Z``. From SQLite comes the text Django stored (UTC without an offset,
    ``str(datetime)``: microseconds left out when zero, see ``_StoredText``); from PostgreSQL an aware
    datetime."""
    if value is None:
        return None
    if type(value) is str:
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        if len(value) == 19 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}.000000Z"
        value = parse_datetime(value)
        if value is None:
            raise ValueError("not a timestamp")
    if value.tzinfo is not None:  # naive: UTC already (how Django stores where the database has no zones)
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


class _StoredText(Func):
    """On SQLite, the column's stored text: sqlite3 would otherwise parse every timestamp into a datetime
    (Django registers that converter), only for the export to print it again. Elsewhere the column."""

    template = "%(expressions)s"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="CAST(%(expressions)s AS text)", **extra_context)


_json_string = json.encoder.encode_basestring  # the C encoder: escapes " \ and controls, keeps non-ASCII


def _jsonb_key_order(item) -> tuple[int, str]:
    # jsonb orders keys by byte length, then bytes; str order is code point order, which UTF-8 keeps.
    key = item[0]
    return (len(key), key) if key.isascii() else (len(key.encode("utf-8", "surrogatepass")), key)


def _number(value: float) -> str:
    """A float as jsonb prints the number Django wrote for it (``repr``): plain decimal notation, no -0."""
    if value != value or value in (float("inf"), float("-inf")):
        return repr(value)  # not JSON (PostgreSQL refuses it); only SQLite can hold it
    return format(Decimal(repr(value or 0.0)), "f")


def canonical_json(value) -> str:
    """``value`` as PostgreSQL prints it as ``jsonb`` (see the module docstring)."""
    if isinstance(value, str):
        return _json_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=_jsonb_key_order)
        return "{" + ", ".join([f"{_json_string(k)}: {canonical_json(v)}" for k, v in items]) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(canonical_json, value)) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def plain_json(value) -> str | None:
    """A JSON value as a cell: text as it is, other scalars as JSON, containers as canonical JSON, null →
    None. What PostgreSQL's ``->>`` returns."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return canonical_json(value)


def _loads(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _json(value) -> str | None:
    return None if value is None else canonical_json(_loads(value))


class _TextTimestamp(Func):
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    output_field = TextField()


class _JSONKeyText(Expression):
    """``json ->> key``: the value under a top-level key as text (NULL when absent or null). Django's
    KeyTextTransform would read a key made of digits as a list index."""

    output_field = TextField()

    def __init__(self, expression: Expression, key: str):
        super().__init__()
        self.expression, self.key = expression, key

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        return f"({sql} ->> %s::text)", (*params, self.key)


class _FormulaSafe(Expression):
    """The text with a leading ``'`` when it starts with a formula trigger (the same test as the Python
    path's; codes of ``\\t \\n \\r + - = @``)."""

    output_field = TextField()
    CODES = ", ".join(str(ord(char)) for char in sorted(FORMULA_TRIGGERS))

    def __init__(self, expression: Expression):
        super().__init__()
        self.expression = expression

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        return (
            f"CASE WHEN ascii({sql}) IN ({self.CODES}) THEN '''' || {sql} ELSE {sql} END",
            (*params, *params, *params),
        )


def text_column(name: str, source: str | None = None, *, escape: bool = True) -> Column:
    """Text as stored, formula-escaped (``escape=False`` only where the database guarantees the form)."""
    return Column(name, source or name, _text, raw=True, escape=escape)


def integer_column(name: str, source: str | None = None) -> Column:
    """An integer (amounts in minor units). Not escaped: only for columns that cannot be negative."""
    return Column(name, source or name, _integer, escape=False, raw=True)


def timestamp_column(name: str, source: str | None = None) -> Column:
    return Column(name, source or name, _timestamp, sql=_TextTimestamp, escape=False, raw=True, fetch=_StoredText)


def json_column(name: str, source: str | None = None) -> Column:
    """A JSON object column as canonical JSON. Not escaped: an object's text starts with ``{``."""
    return Column(name, source or name, _json, escape=False, raw=True, memo=True)


def json_key_column(name: str, source: str, key: str) -> Column:
    """The plain value under ``key`` of a JSON object column (see ``plain_json``), formula-escaped."""

    def render(value) -> str | None:
        data = _loads(value)
        return plain_json(data.get(key)) if isinstance(data, dict) else None

    return Column(name, source, render, sql=lambda expression: _JSONKeyText(expression, key), raw=True, memo=True)


# --- the orders' columns ------------------------------------------------------------------------------------

ORDER_FIELDS = (
    "id",
    "source_id",
    "created_at",
    "updated_at",
    "status",
    "amount",
    "discount_amount",
    "items_discount_amount",
    "total_discount_amount",
    "total_amount",
    "customer_id",
    "referrer_id",
    "metadata",
)
METADATA_PREFIX = "metadata."
METADATA_KEY_MAX_LENGTH = 100  # orders.metadata.MAX_KEY_LENGTH
_ORDER_COLUMNS = {
    # Order ids are made by orders.ids or checked by it (``ord_`` + letters and digits) and the status is one
    # of four words (a check constraint): neither can start with a trigger, so neither pays for the test.
    "id": text_column("id", escape=False),
    "source_id": text_column("source_id"),
    "created_at": timestamp_column("created_at"),
    "updated_at": timestamp_column("updated_at"),
    "status": text_column("status", escape=False),
    **{
        name: integer_column(name)
        for name in ("amount", "discount_amount", "items_discount_amount", "total_discount_amount", "total_amount")
    },
    "customer_id": text_column("customer_id"),
    "referrer_id": text_column("referrer_id"),
    "metadata": json_column("metadata"),
}


def order_metadata_keys(queryset: QuerySet, *, sample: int = 500, limit: int = 60) -> list[str]:
    """Metadata keys worth offering as columns: those the order metadata schema defines, then those found
    in the first ``sample`` orders of ``queryset`` (the export's own rows; a sample, so that this stays one
    cheap query on millions of orders — any other key can still be named)."""
    keys = list(
        MetadataSchemaProperty.objects.filter(schema__related_object=MetadataObject.ORDER)
        .order_by("key")
        .values_list("key", flat=True)
    )
    found: set[str] = set()
    for metadata in queryset.values_list("metadata", flat=True)[:sample]:
        if isinstance(metadata, dict):
            found.update(key for key in metadata if isinstance(key, str) and key.strip())
    keys += sorted(found.difference(keys))
    return [key for key in keys if len(key) <= METADATA_KEY_MAX_LENGTH][:limit]


def check_order_fields(fields: Sequence[str]) -> list[str]:
    """The export field names, de-duplicated in their order; ValueError naming what is wrong. A
    ``metadata.<key>`` field names the top-level key after the first dot (the key may hold dots)."""
    clean: list[str] = []
    for field in fields:
        field = field.strip()
        if field.startswith(METADATA_PREFIX):
            key = field.removeprefix(METADATA_PREFIX)
            if not key.strip():
                raise ValueError("A metadata column needs a key: metadata.<key>.")
            if len(key) > METADATA_KEY_MAX_LENGTH:
                raise ValueError(f"Metadata keys have at most {METADATA_KEY_MAX_LENGTH} characters.")
        elif field not in _ORDER_COLUMNS:
            raise ValueError(f"“{field}” is not an order field that can be exported.")
        if field not in clean:
            clean.append(field)
    if not clean:
        raise ValueError("Choose at least one column.")
    return clean


def order_columns(fields: Sequence[str]) -> list[Column]:
    """The columns of an orders export, in the order given (see ``ORDER_FIELDS``, plus ``metadata.<key>``)."""
    return [
        json_key_column(field, "metadata", field.removeprefix(METADATA_PREFIX))
        if field.startswith(METADATA_PREFIX)
        else _ORDER_COLUMNS[field]
        for field in check_order_fields(fields)
    ]


# --- the stream ---------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    """One CSV cell as PostgreSQL's COPY writes a non-null value (CopyAttributeOutCSV)."""
    if text == "" or '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _finish(text: str | None, escape: bool) -> str:
    if text is None:
        return ""
    if escape and text and text[0] in FORMULA_TRIGGERS:
        text = "'" + text
    return _quote(text)


def _cell_function(
    column: Column, convert: Callable | None, *, single: bool, nullable: bool = True
) -> Callable[[Any], str]:
    """value → finished cell (rendered, escaped, quoted), composed once per export. The usual kinds get a
    function of their own: this runs once per cell, millions of times."""
    render, escape = column.render, column.escape
    if render is _integer and not nullable and convert is None and not single:
        return str
    if render is _text and escape:

        def cell(value):
            if value is None:
                return ""
            if value and value[0] in FORMULA_TRIGGERS:
                value = "'" + value
            if value == "" or '"' in value or "," in value or "\n" in value or "\r" in value:
                return '"' + value.replace('"', '""') + '"'
            return value

    elif render is _text:

        def cell(value):
            if value is None:
                return ""
            if value == "" or '"' in value or "," in value or "\n" in value or "\r" in value:
                return '"' + value.replace('"', '""') + '"'
            return value

    elif render is _integer:

        def cell(value):
            return "" if value is None else str(value)

    elif render is _timestamp:  # digits, dashes, colons: never quoted, never escaped

        def cell(value):
            return "" if value is None else _timestamp(value)

    else:

        def cell(value):
            return _finish(render(value), escape)

    if convert is not None:
        unconverted = cell

        def cell(value):
            return unconverted(convert(value))

    if single:
        # COPY quotes a lone \. (the end-of-data marker of its text format) when it is the whole line.
        unquoted = cell

        def cell(value):
            text = unquoted(value)
            return '"\\."' if text == "\\." else text

    if column.memo:
        uncached, cached = cell, lru_cache(maxsize=MEMO_SIZE)(cell)

        def cell(value):
            try:
                return cached(value)
            except TypeError:  # unhashable (a dict, when the column is not raw)
                return uncached(value)

    return cell


def _converter(functions: list[Callable], expression, connection) -> Callable[[Any], Any]:
    """The model field's conversions of a database value (what ``values_list`` applies), as one function."""

    def convert(value):
        for function in functions:
            value = function(value, expression, connection)
        return value

    return convert


class CSVStream:
    """An iterator of CSV chunks (bytes) for ``queryset`` and ``columns``; see the module docstring.

    ``method``: ``"copy"`` (PostgreSQL only), ``"python"``, or ``"auto"``: COPY where it can. The chosen one
    is in ``.method``; ``.row_count`` and ``.size`` (bytes yielded) are set as the stream ends.
    """

    def __init__(
        self,
        queryset: QuerySet,
        columns: Sequence[Column],
        *,
        method: str = "auto",
        on_finish: Callable[["CSVStream", str | None], None] | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ):
        if not columns:
            raise ValueError("an export needs at least one column")
        self.queryset, self.columns = queryset, list(columns)
        self.vendor = connections[queryset.db].vendor
        # DISTINCT makes Django add the ordering columns to the SELECT, and COPY would print them: Python path.
        copy_possible = (
            self.vendor == "postgresql"
            and all(column.sql is not None for column in self.columns)
            and not queryset.query.distinct
            and not queryset.query.combinator
        )
        if method == "auto":
            method = "copy" if copy_possible else "python"
        if method == "copy" and not copy_possible:
            raise ValueError("COPY needs PostgreSQL and an SQL form of every column")
        if method not in ("copy", "python"):
            raise ValueError(f"unknown export method {method!r}")
        self.method = method
        self.on_finish = on_finish
        self.chunk_rows = chunk_rows
        self.row_count: int | None = None
        self.size = 0
        self.error: str | None = None
        self.finished = False
        self._chunks = self._generate()

    @property
    def header(self) -> bytes:
        return ",".join(_finish(column.name, True) for column in self.columns).encode() + b"\n"

    # iterator protocol, with close() for WSGI servers

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self.finished:
            raise StopIteration
        try:
            chunk = next(self._chunks)
        except StopIteration as done:
            self.row_count = done.value
            self._end(None)
            raise
        except Exception as problem:
            self._end(f"The export failed: {problem}")
            raise
        self.size += len(chunk)
        return chunk

    def close(self) -> None:
        """Stop early (a client that went away): ends the query and reports the export as failed."""
        if self.finished:
            return
        self._chunks.close()
        self._end(f"The download stopped after {self.size:,} bytes: the client went away.")

    def _end(self, error: str | None) -> None:
        self.finished = True
        self.error = error
        if self.on_finish is not None:
            self.on_finish(self, error)

    # the two paths

    def _generate(self) -> Iterator[bytes]:
        yield self.header  # at once: the download starts before the query has produced a row
        with transaction.atomic(using=self.queryset.db):
            rows = yield from (self._copy() if self.method == "copy" else self._python())
        return rows

    def _nullable(self, column: Column) -> bool:
        """Whether the column's values can be NULL (True unless it is a NOT NULL field of the model itself)."""
        try:
            field = self.queryset.model._meta.get_field(column.source)
        except Exception:  # a path across relations, or not a field name
            return True
        return field.null or field.is_relation

    def _copy(self):
        selected = []
        for column in self.columns:
            expression = column.sql(F(column.source))
            selected.append(_FormulaSafe(expression) if column.escape else expression)
        query = self.queryset.values_list(*selected).query
        compiler = query.get_compiler(using=self.queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return 0
        connection = connections[self.queryset.db]
        buffer = bytearray()
        with connection.cursor() as cursor:
            copy_cursor = cursor.cursor  # psycopg's own cursor (Django's wrapper has no copy())
            with copy_cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params or None) as copy:
                for data in copy:
                    buffer += data
                    if len(buffer) >= CHUNK_BYTES:
                        yield bytes(buffer)
                        buffer.clear()
            rows = copy_cursor.rowcount
        if buffer:
            yield bytes(buffer)
        return rows

    def _python(self):
        # What to select: each (source, fetch) once, however many columns read it.
        selects = list(dict.fromkeys((column.source, column.fetch) for column in self.columns))
        queryset = self.queryset.values_list(
            *[source if fetch is _as_is else fetch(F(source)) for source, fetch in selects]
        )
        compiler = queryset.query.get_compiler(using=queryset.db)
        batches = compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=self.chunk_rows)
        # Model-field conversions (e.g. JSON text → dict) for the columns that want Python values.
        selected = [select[0] for select in compiler.select[: len(selects)]] if compiler.select else []
        converters = compiler.get_converters(selected) if selected else {}
        connection = connections[queryset.db]
        single = len(self.columns) == 1
        plan = []
        for column in self.columns:
            position = selects.index((column.source, column.fetch))
            convert = None
            if not column.raw and position in converters:
                convert = _converter(*converters[position], connection)
            plan.append((position, _cell_function(column, convert, single=single, nullable=self._nullable(column))))
        rows_seen = 0
        pending: list[str] = []
        pending_size = 0
        for rows in batches:
            values = list(zip(*rows, strict=True))  # by column: one map() per column, not a loop per cell
            lines = map(",".join, zip(*[map(cell, values[position]) for position, cell in plan], strict=True))
            text = "\n".join(lines) + "\n"
            rows_seen += len(rows)
            pending.append(text)
            pending_size += len(text)
            if pending_size >= CHUNK_BYTES:
                yield "".join(pending).encode("utf-8", "replace")
                pending, pending_size = [], 0
        if pending:
            yield "".join(pending).encode("utf-8", "replace")
        return rows_seen


# --- export records -------------------------------------------------------------------------------------------


def export_start(
    *,
    actor: Actor,
    filters: str,
    fields: Sequence[str],
    order: str = "",
    method: str = "",
    exported_object: str = "order",
) -> Export:
    """Record an export that starts now (IN_PROGRESS). Exports change no order: no OrderEvent."""
    now = timezone.now()
    return Export.objects.create(
        exported_object=exported_object,
        status=ExportStatus.IN_PROGRESS,
        actor_type=actor.type,
        actor_user=actor.user,
        actor_id=actor.id,
        actor_name=actor.name,
        filters=filters,
        fields=list(fields),
        order=order,
        method=method,
        created_at=now,
        started_at=now,
    )


def export_finish(export_id: str, *, row_count: int | None, size: int, error: str | None = None) -> None:
    """DONE with the row count, or ERROR with the reason (the row count is then left unknown)."""
    values = {"finished_at": timezone.now(), "size": size}
    if error is None:
        values |= {"status": ExportStatus.DONE, "row_count": row_count, "error": ""}
    else:
        values |= {"status": ExportStatus.ERROR, "error": error[:2000]}
    Export.objects.filter(pk=export_id).update(**values)


def finishes(export: Export) -> Callable[[CSVStream, str | None], None]:
    """An ``on_finish`` for ``CSVStream`` that records the end of the stream (done, failed, interrupted)."""

    def on_finish(stream: CSVStream, error: str | None) -> None:
        export_finish(export.pk, row_count=stream.row_count, size=stream.size, error=error)

    return on_finish


def last_export_fields(user, exported_object: str = "order") -> list[str] | None:
    """The fields ``user`` chose for their latest export (the remembered choice), or None."""
    if not getattr(user, "pk", None):
        return None
    return (
        Export.objects.filter(actor_user=user, exported_object=exported_object)
        .order_by("-created_at")
        .values_list("fields", flat=True)
        .first()
    )


def export_filename(moment: dt.datetime, prefix: str = "orders") -> str:
    return f"{prefix}-{moment.astimezone(UTC):%Y%m%d-%H%M%S}.csv"
