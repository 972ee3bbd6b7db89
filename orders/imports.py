"""Orders from a CSV or XLSX file: the dashboard's import page (``orders/views/imports.py``).

The file: one row per order ITEM, under one header row (line 1). Rows with the same ``source_id`` form one
order, in file order. Order columns (``source_id``, ``status``, ``created_at``, ``customer_*``,
``referrer_source_id``, ``discount_amount``, ``amount``, ``initial_amount``, ``metadata.<key>``,
``customer_metadata.<key>``) are read from the order's first row; its other rows leave them empty or repeat
them (a different value is an error). Item columns (``item_source_id``, ``item_related_object``,
``item_product_id``, ``item_sku_id``, ``item_name``, ``quantity``, ``price``, ``item_discount_amount``,
``item_metadata.<key>``) make the row an item of its order; a row without them adds no item (an order
whose rows have none has no items, and then ``amount`` says its amount). Amounts are integer cents.
See ``COLUMNS`` and the page's own description.

How (DESIGN §2: every write through ``orders/services.py``):

1. ``read_file``: django-import-export's formats (``base_formats.CSV`` / ``XLSX``) turn the bytes into a
   tablib ``Dataset``; file-level problems (size, encoding, corrupt XLSX, unknown or missing columns, too
   many orders) are ``ImportFileError``. For a CSV we also note the line each record starts on (quoted cells
   may span lines, blank lines are skipped), so every error names the line an editor shows.
2. ``OrderRowResource`` (an import-export ``Resource``) checks every row with its widgets and the
   cross-row rules, one ``RowResult`` per row, ``InvalidRow`` for the bad ones. Its rows are not saved
   one by one (import-export's row-save model would call ``Model.save()``, bypassing the activity log):
   they are grouped into orders and ``after_import`` makes ONE ``services.orders_import`` call (bulk;
   ``dry_run`` for the preview), whose failures (order index + field path such as ``items[2].price``)
   come back to the file's line numbers and column names in the same ``Result``.
3. ``ImportReport`` is what the page shows: per-row errors (line, column, message), the orders that would
   be created or updated, and the counts.
"""

import csv
import datetime as dt
import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from import_export import resources, widgets
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.instance_loaders import BaseInstanceLoader
from import_export.results import InvalidRow, Result, RowResult

from . import services
from .choices import MetadataObject, OrderStatus, RelatedObject
from .events import Actor
from .metadata_rows import Row as MetadataRow
from .metadata_rows import rows_to_metadata
from .models import SKU, SOURCE_ID_MAX_LENGTH, MetadataSchema, Order, Product

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 5 * 1024 * 1024
# As many orders as the API's bulk import takes: a preview and its confirm each run in the request (about
# 5 s for 2,000 orders of 3 lines on SQLite), well within a web worker's timeout.
MAX_ORDERS = 2_000
MAX_ROWS = 50_000
# An XLSX is a zip: what it unpacks to is bounded too, so a small file cannot expand into gigabytes.
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_AMOUNT = 10**15  # services._int's ceiling
MAX_QUANTITY = 10**9

ORDER_METADATA, CUSTOMER_METADATA, ITEM_METADATA = "metadata.", "customer_metadata.", "item_metadata."
# column → what it holds (the page lists these).
ORDER_COLUMNS = {
    "source_id": "the shop's order id (required on every row): rows with the same one form one order",
    "status": "CREATED (default for a new order), PAID, CANCELED or FULFILLED",
    "created_at": "ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z (UTC when no offset)",
    "customer_source_id": "the shop's customer id; created when unknown",
    "customer_name": "customer's name (needs customer_source_id)",
    "customer_email": "customer's email (needs customer_source_id)",
    "customer_phone": "customer's phone (needs customer_source_id)",
    "referrer_source_id": "the referring customer's source id",
    "discount_amount": "order-level discount, integer cents",
    "amount": "integer cents; only for an order without items (with items it is their sum)",
    "initial_amount": "integer cents (default: the amount)",
}
ITEM_COLUMNS = {
    "item_source_id": "the product's (or SKU's) source id; created in the catalog when unknown",
    "item_related_object": "product (default) or sku",
    "item_product_id": "an existing product's id (prod_…), instead of item_source_id",
    "item_sku_id": "an existing SKU's id (sku_…), instead of item_source_id",
    "item_name": "name of a product or SKU the import creates",
    "quantity": "whole number ≥ 1 (default 1)",
    "price": "unit price, integer cents (default: the catalog price)",
    "item_discount_amount": "discount on the line, integer cents",
}
METADATA_COLUMNS = {
    ORDER_METADATA + "<key>": "order metadata; typed by the metadata schema when it defines the key, else text",
    CUSTOMER_METADATA + "<key>": "customer metadata (needs customer_source_id)",
    ITEM_METADATA + "<key>": "item metadata",
}
CUSTOMER_DETAILS = ("customer_name", "customer_email", "customer_phone")
METADATA_PREFIXES = (ORDER_METADATA, CUSTOMER_METADATA, ITEM_METADATA)
# Service field paths → columns.
ORDER_PATHS = {
    "customer": "customer_source_id",
    "customer.id": "customer_source_id",
    "customer.source_id": "customer_source_id",
    "customer.name": "customer_name",
    "customer.email": "customer_email",
    "customer.phone": "customer_phone",
    "referrer": "referrer_source_id",
    "referrer.id": "referrer_source_id",
    "referrer.source_id": "referrer_source_id",
}
ITEM_PATHS = {
    "": "item_source_id",
    "source_id": "item_source_id",
    "related_object": "item_related_object",
    "product_id": "item_product_id",
    "product.id": "item_product_id",
    "product.source_id": "item_source_id",
    "sku_id": "item_sku_id",
    "sku.id": "item_sku_id",
    "sku.source_id": "item_source_id",
    "product": "item_name",
    "sku": "item_name",
    "product.name": "item_name",
    "sku.sku": "item_name",
    "quantity": "quantity",
    "price": "price",
    "product.price": "price",
    "sku.price": "price",
    "amount": "price",
    "discount_amount": "item_discount_amount",
}
CENTS_HINT = "amounts are integer cents (minor units): write 1250 for 12.50"


class ImportFileError(Exception):
    """The file as a whole cannot be imported (nothing row by row to report)."""


# --- cells --------------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell as text. XLSX cells arrive typed: numbers, booleans, datetimes."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def whole_number(value: Any, *, what: str, minimum: int, maximum: int) -> int | None:
    """An integer cell: digits in a CSV, an int (or an integral float: 2.0) in an XLSX. Decimals, exponents
    and thousands separators are refused, never rounded."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"“{cell_text(value)}” is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float | Decimal):
        if not (value == value and abs(value) != float("inf")) or value != int(value):  # NaN, ±inf, 12.5
            raise ValueError(f"{value} is not a whole number{what}")
        number = int(value)
    else:
        text = cell_text(value)
        if not re.fullmatch(r"[+-]?\d{1,18}", text):
            raise ValueError(f"“{text}” is not a whole number{what}")
        number = int(text)
    if number < minimum:
        raise ValueError(f"must be at least {minimum}")
    if number > maximum:
        raise ValueError(f"must be at most {maximum}")
    return number


class TextWidget(widgets.Widget):
    def __init__(self, max_length: int = 255, transform: Callable[[str], str] | None = None):
        super().__init__()
        self.max_length = max_length
        self.transform = transform

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if len(text) > self.max_length:
            raise ValueError(f"is longer than {self.max_length} characters")
        return (self.transform(text) if self.transform else text) or None


class ChoiceWidget(TextWidget):
    def __init__(self, choices: Sequence[str], transform: Callable[[str], str]):
        super().__init__(max_length=64, transform=transform)
        self.choices = choices

    def clean(self, value, row=None, **kwargs):
        text = super().clean(value, row, **kwargs)
        if text is not None and text not in self.choices:
            raise ValueError(f"“{cell_text(value)}” is not one of {', '.join(self.choices)}")
        return text


class CentsWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return whole_number(value, what=f": {CENTS_HINT}", minimum=0, maximum=MAX_AMOUNT)


class QuantityWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return whole_number(value, what="", minimum=1, maximum=MAX_QUANTITY)


# --- reading the file ---------------------------------------------------------------------------------


@dataclass
class ImportFile:
    """A file read into a tablib Dataset, with the file line of each data row."""

    dataset: Any
    lines: list[int]
    format: str  # "CSV" or "XLSX"
    filename: str = ""


def detect_format(content: bytes, filename: str) -> str:
    name = filename.lower()
    if content.startswith(b"PK\x03\x04"):
        return "XLSX"
    if name.endswith((".xlsx", ".xlsm")):
        raise ImportFileError("The file is not a valid XLSX workbook (it may be corrupt). Save it again and retry.")
    if name.endswith((".xls", ".ods", ".numbers")):
        raise ImportFileError("Only CSV and XLSX files can be imported: save the sheet as .xlsx or as CSV (UTF-8).")
    return "CSV"


def read_file(content: bytes, filename: str = "") -> ImportFile:
    """The file's rows as a Dataset, or ``ImportFileError`` saying what is wrong with the file."""
    if not content:
        raise ImportFileError("The file is empty.")
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError(
            f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it into smaller files."
        )
    kind = detect_format(content, filename)
    imported = _read_xlsx(content) if kind == "XLSX" else _read_csv(content)
    imported.filename = filename
    _check_headers(imported)
    return imported


def _read_csv(content: bytes) -> ImportFile:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ImportFileError(
            f"The file is not UTF-8 text (line {line} has a byte that is not UTF-8), so it is not a CSV this page "
            "can read. Save it as “CSV UTF-8” (or as .xlsx) and upload it again."
        ) from None
    if "\x00" in text:
        raise ImportFileError("This is not a CSV file: it contains binary data. Upload a CSV (UTF-8) or an XLSX file.")
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = next((d for d in (";", "\t") if d in first_line), ",")

    # The line each record starts on, read the way tablib reads it (blank lines skipped): quoted cells may
    # hold line breaks, so record n is not line n + 1.
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    width, end = 0, 0
    try:
        for index, record in enumerate(reader):
            start, end = end + 1, reader.line_num
            if index == 0:
                width = len(record)
            elif record:
                if len(record) > width:
                    raise ImportFileError(
                        f"Line {start} has {len(record)} cells but the header row (line 1) names {width} columns: "
                        "check the separators and quotes on that line."
                    )
                lines.append(start)
                if len(lines) > MAX_ROWS:
                    raise ImportFileError(f"The file has more than {MAX_ROWS:,} rows: split it into smaller files.")
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num + 1}: the CSV cannot be read ({exc}).") from None
    dataset = base_formats.CSV().create_dataset(text, delimiter=delimiter)
    if len(dataset) != len(lines):  # tablib and the csv module read the same text the same way
        raise ImportFileError("The CSV cannot be read.")
    return ImportFile(dataset=dataset, lines=lines, format="CSV")


def _read_xlsx(content: bytes) -> ImportFile:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ImportFileError("The file is not a valid XLSX workbook (it may be corrupt).") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ImportFileError("The workbook unpacks to more than 64 MB: split it into smaller files.")
    try:
        dataset = base_formats.XLSX().create_dataset(content)
    except Exception as exc:  # openpyxl raises many kinds (KeyError, InvalidFileException, …) for broken files
        logger.info("unreadable XLSX upload: %r", exc)
        raise ImportFileError(
            "The XLSX workbook cannot be read (is it corrupt or password-protected?). Save it again and retry."
        ) from None
    if len(dataset) > MAX_ROWS:
        raise ImportFileError(f"The file has more than {MAX_ROWS:,} rows: split it into smaller files.")
    # The first sheet's row 1 is the header; data row n is sheet row n + 1 (blank rows are kept, then skipped).
    return ImportFile(dataset=dataset, lines=[index + 2 for index in range(len(dataset))], format="XLSX")


def known_column(name: str) -> bool:
    if name in ORDER_COLUMNS or name in ITEM_COLUMNS:
        return True
    return any(name.startswith(prefix) and len(name) > len(prefix) for prefix in METADATA_PREFIXES)


def _check_headers(imported: ImportFile) -> None:
    dataset = imported.dataset
    headers = [cell_text(header) for header in (dataset.headers or [])]
    if not any(headers):
        raise ImportFileError("The file has no header row: line 1 must name the columns (source_id, …).")
    for index, name in enumerate(headers):
        if not name and any(cell_text(row[index]) for row in dataset):
            raise ImportFileError(f"Column {index + 1} has values but no name in the header row (line 1).")
    named = [name for name in headers if name]
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        raise ImportFileError(f"The header row names {', '.join(twice)} more than once: keep one column each.")
    unknown = [name for name in named if not known_column(name)]
    if unknown:
        raise ImportFileError(
            f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. The columns this page reads "
            "are listed under “File format”."
        )
    if "source_id" not in named:
        raise ImportFileError(
            "The file has no source_id column: every row must name its order's source_id (the header row, line 1, "
            "must include source_id)."
        )
    dataset.headers = headers
    if not len(dataset):
        raise ImportFileError("The file has a header row but no rows of orders under it.")
    source_ids = {cell_text(value) for value in dataset["source_id"]} - {""}
    if len(source_ids) > MAX_ORDERS:
        raise ImportFileError(
            f"The file holds {len(source_ids):,} orders; at most {MAX_ORDERS:,} can be imported at once: split it."
        )


# --- rows → orders ------------------------------------------------------------------------------------


class Line:
    """The "instance" import-export fills for a row: the row's cleaned values as attributes."""

    def __init__(self, number: int):
        self.number = number
        self.blank = False
        self.has_item = False
        self.metadata: dict[str, dict[str, Any]] = {}  # prefix → key → value


@dataclass
class OrderDraft:
    source_id: str
    first: Line
    existing_id: str | None
    lines: list[Line] = field(default_factory=list)  # the order's rows, in file order
    item_lines: list[Line] = field(default_factory=list)  # the rows that are items (items[k] ↔ item_lines[k])
    invalid: bool = False


def _empty(value) -> bool:
    return value is None or value == "" or value == {}


class OrderRowResource(resources.Resource):
    """Checks rows (widgets, then the rules across rows) and gives ``after_import`` the orders to write."""

    source_id = Field(attribute="source_id", column_name="source_id", widget=TextWidget(SOURCE_ID_MAX_LENGTH))
    status = Field(
        attribute="status", column_name="status", widget=ChoiceWidget(OrderStatus.values, transform=str.upper)
    )
    created_at = Field(attribute="created_at", column_name="created_at", widget=TextWidget(64))
    customer_source_id = Field(
        attribute="customer_source_id", column_name="customer_source_id", widget=TextWidget(SOURCE_ID_MAX_LENGTH)
    )
    customer_name = Field(attribute="customer_name", column_name="customer_name", widget=TextWidget(255))
    customer_email = Field(attribute="customer_email", column_name="customer_email", widget=TextWidget(254))
    customer_phone = Field(attribute="customer_phone", column_name="customer_phone", widget=TextWidget(64))
    referrer_source_id = Field(
        attribute="referrer_source_id", column_name="referrer_source_id", widget=TextWidget(SOURCE_ID_MAX_LENGTH)
    )
    discount_amount = Field(attribute="discount_amount", column_name="discount_amount", widget=CentsWidget())
    amount = Field(attribute="amount", column_name="amount", widget=CentsWidget())
    initial_amount = Field(attribute="initial_amount", column_name="initial_amount", widget=CentsWidget())
    item_source_id = Field(
        attribute="item_source_id", column_name="item_source_id", widget=TextWidget(SOURCE_ID_MAX_LENGTH)
    )
    item_related_object = Field(
        attribute="item_related_object",
        column_name="item_related_object",
        widget=ChoiceWidget(RelatedObject.values, transform=str.lower),
    )
    item_product_id = Field(attribute="item_product_id", column_name="item_product_id", widget=TextWidget(64))
    item_sku_id = Field(attribute="item_sku_id", column_name="item_sku_id", widget=TextWidget(64))
    item_name = Field(attribute="item_name", column_name="item_name", widget=TextWidget(255))
    quantity = Field(attribute="quantity", column_name="quantity", widget=QuantityWidget())
    price = Field(attribute="price", column_name="price", widget=CentsWidget())
    item_discount_amount = Field(
        attribute="item_discount_amount", column_name="item_discount_amount", widget=CentsWidget()
    )

    class Meta:
        # Nothing is saved row by row: no instance to load, no per-row savepoint, no diff.
        instance_loader_class = BaseInstanceLoader
        force_init_instance = True
        use_bulk = True
        skip_diff = True
        # The one write is services.orders_import, which runs in its own transaction.
        use_transactions = False

    def __init__(self, *, imported: ImportFile, actor: Actor):
        super().__init__()
        self.imported = imported
        self.actor = actor
        self.headers = [h for h in imported.dataset.headers if h]
        self.order_columns = [h for h in self.headers if h in ORDER_COLUMNS or h.startswith(CUSTOMER_METADATA)]
        self.order_columns += [h for h in self.headers if h.startswith(ORDER_METADATA)]
        self.item_columns = [h for h in self.headers if h in ITEM_COLUMNS or h.startswith(ITEM_METADATA)]
        self.has_order_metadata = any(h.startswith(ORDER_METADATA) for h in self.headers)
        self.drafts: dict[str, OrderDraft] = {}
        self.errors: dict[int, dict[str, list[str]]] = {}  # file line → column → messages
        self.row_results: dict[int, RowResult] = {}
        self.existing: dict[str, str] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        self.service_result: Any = None
        self.sent: list[OrderDraft] = []
        self.written = False
        self._number = 0

    # import-export's hooks, in the order it calls them.

    def before_import(self, dataset, **kwargs):
        source_ids = sorted({cell_text(value) for value in dataset["source_id"]} - {""})
        for start in range(0, len(source_ids), 500):
            chunk = source_ids[start : start + 500]
            self.existing.update(Order.objects.filter(source_id__in=chunk).values_list("source_id", "id"))
        if any(h.startswith(METADATA_PREFIXES) for h in self.headers):
            for schema in MetadataSchema.objects.prefetch_related("properties"):
                self.properties[schema.related_object] = {p.key: p for p in schema.properties.all()}

    def import_row(self, row, instance_loader, **kwargs):
        self._number = self.imported.lines[kwargs["row_number"] - 1]
        row_result = super().import_row(row, instance_loader, **kwargs)
        self.row_results[self._number] = row_result
        if row_result.validation_error is not None:
            self._add_errors(self._number, row_result.validation_error.message_dict)
            draft = self.drafts.get(cell_text(row.get("source_id")))
            if draft is not None:
                draft.invalid = True
        return row_result

    def get_or_init_instance(self, instance_loader, row):
        return Line(self._number), cell_text(row.get("source_id")) not in self.existing

    def import_instance(self, instance: Line, row, **kwargs):
        if not any(cell_text(value) for name, value in row.items() if name):
            instance.blank = True
            return
        errors: dict[str, list[str]] = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.message_dict
        for name in self.headers:
            if not hasattr(instance, name) and not name.startswith(METADATA_PREFIXES):
                setattr(instance, name, None)  # a cell that failed: no value to compare or use
        self._read_metadata(instance, row, errors)
        self._check_row(instance, errors)
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return instance.blank

    def save_instance(self, instance, is_create, row, **kwargs):
        """Rows are not saved one by one: ``after_import`` writes the orders in one service call."""

    def after_import(self, dataset, result, **kwargs):
        for draft in self.drafts.values():
            if draft.item_lines and getattr(draft.first, "amount", None) is not None:
                draft.invalid = True
                self._add_errors(
                    draft.first.number,
                    {
                        "amount": [
                            "is the sum of the items for an order with items: leave it empty (it is for orders "
                            "without items)"
                        ]
                    },
                )
        self.sent = [draft for draft in self.drafts.values() if not draft.invalid]
        rows = [self._order(draft) for draft in self.sent]
        # A bad row anywhere means nothing is written: the other orders are still checked (a dry run), so one
        # upload reports every problem.
        write = not kwargs.get("dry_run", False) and not self.errors
        with transaction.atomic():
            outcome = services.orders_import(rows=rows, actor=self.actor, dry_run=not write)
            if write and outcome.failed:
                # The real run checks everything again (the data may have changed since the preview): all or
                # nothing.
                transaction.set_rollback(True)
        self.service_result = outcome
        self.written = write and not outcome.failed
        for index, paths in outcome.failed.items():
            for path, messages in paths.items():
                line, column = self._locate(self.sent[index], path)
                self._add_errors(line, {column: list(messages)})
        self._rebuild(result)

    def handle_import_error(self, result, error, raise_errors=False):
        logger.error("order import failed", exc_info=error)
        super().handle_import_error(result, error, raise_errors)

    # Checks across columns and rows.

    def _read_metadata(self, line: Line, row, errors: dict[str, list[str]]) -> None:
        objects = {
            ORDER_METADATA: MetadataObject.ORDER,
            CUSTOMER_METADATA: MetadataObject.CUSTOMER,
            ITEM_METADATA: MetadataObject.ORDER_ITEM,
        }
        for prefix, kind in objects.items():
            columns = [name for name in self.headers if name.startswith(prefix)]
            if not columns:
                continue
            properties = self.properties.get(kind, {})
            # The metadata editor's reading of a typed value (defined keys by their schema type, else text).
            meta_rows = [
                MetadataRow(
                    index=i,
                    key=name[len(prefix) :],
                    value=cell_text(row.get(name)),
                    prop=properties.get(name[len(prefix) :]),
                )
                for i, name in enumerate(columns)
            ]
            metadata, _ = rows_to_metadata(meta_rows)
            for name, meta_row in zip(columns, meta_rows, strict=True):
                if meta_row.errors:
                    errors.setdefault(name, []).extend(meta_row.errors)
            line.metadata[prefix] = metadata

    def _check_row(self, line: Line, errors: dict[str, list[str]]) -> None:
        line.has_item = any(
            not _empty(line.metadata.get(ITEM_METADATA) if name.startswith(ITEM_METADATA) else getattr(line, name))
            for name in self.item_columns
        )
        if line.has_item and not any(
            getattr(line, name, None) for name in ("item_source_id", "item_product_id", "item_sku_id")
        ):
            errors.setdefault("item_source_id", []).append(
                "is required on an item row (or item_product_id / item_sku_id): it says which product or SKU the "
                "item is"
            )
        customer_given = [name for name in CUSTOMER_DETAILS if getattr(line, name, None)]
        if line.metadata.get(CUSTOMER_METADATA):
            customer_given.append("customer_metadata")
        if customer_given and not getattr(line, "customer_source_id", None) and "customer_source_id" not in errors:
            errors.setdefault("customer_source_id", []).append(
                f"is required when the row gives customer details ({', '.join(customer_given)}): it says which "
                "customer they belong to"
            )
        source_id = line.source_id
        if source_id is None:
            if "source_id" not in errors:
                errors.setdefault("source_id", []).append("is required: every row names the source id of its order")
            return
        draft = self.drafts.get(source_id)
        if draft is None:
            self.drafts[source_id] = draft = OrderDraft(source_id, line, self.existing.get(source_id))
        else:
            self._check_same_order_values(draft, line, errors)
        draft.lines.append(line)
        if line.has_item:
            draft.item_lines.append(line)

    def _order_value(self, line: Line, column: str):
        for prefix in (CUSTOMER_METADATA, ORDER_METADATA):
            if column.startswith(prefix):
                return line.metadata.get(prefix, {}).get(column[len(prefix) :])
        return getattr(line, column, None)

    def _check_same_order_values(self, draft: OrderDraft, line: Line, errors: dict[str, list[str]]) -> None:
        first = draft.first
        for column in self.order_columns:
            if column == "source_id" or column in errors or column in self.errors.get(first.number, {}):
                continue
            mine, theirs = self._order_value(line, column), self._order_value(first, column)
            if _empty(mine) or mine == theirs:
                continue
            there = f"“{cell_text(theirs)}”" if not _empty(theirs) else "empty"
            errors.setdefault(column, []).append(
                f"differs from line {first.number}, the first row of order “{draft.source_id}” ({there} there): "
                "order columns are read from an order's first row, so leave this cell empty or repeat that value"
            )

    # Rows → the services' order dicts.

    def _order(self, draft: OrderDraft) -> dict[str, Any]:
        first = draft.first
        order: dict[str, Any] = {"source_id": draft.source_id}
        for name in ("status", "created_at", "discount_amount", "amount", "initial_amount"):
            if not _empty(getattr(first, name, None)):
                order[name] = getattr(first, name)
        if getattr(first, "customer_source_id", None):
            customer: dict[str, Any] = {"source_id": first.customer_source_id}
            for name in CUSTOMER_DETAILS:
                if getattr(first, name, None):
                    customer[name.removeprefix("customer_")] = getattr(first, name)
            if first.metadata.get(CUSTOMER_METADATA):
                customer["metadata"] = first.metadata[CUSTOMER_METADATA]
            order["customer"] = customer
        if getattr(first, "referrer_source_id", None):
            order["referrer"] = {"source_id": first.referrer_source_id}
        if self.has_order_metadata:
            # The file states the order's metadata: on an update it replaces what the order had.
            order["metadata"] = first.metadata.get(ORDER_METADATA, {})
        if draft.item_lines:
            order["items"] = [self._item(line) for line in draft.item_lines]
        return order

    def _item(self, line: Line) -> dict[str, Any]:
        related = getattr(line, "item_related_object", None) or RelatedObject.PRODUCT
        item: dict[str, Any] = {"related_object": related}
        for column, key in (
            ("item_source_id", "source_id"),
            ("item_product_id", "product_id"),
            ("item_sku_id", "sku_id"),
            ("quantity", "quantity"),
            ("price", "price"),
            ("item_discount_amount", "discount_amount"),
        ):
            if not _empty(getattr(line, column, None)):
                item[key] = getattr(line, column)
        if getattr(line, "item_name", None):
            if related == RelatedObject.SKU:
                item["sku"] = {"sku": line.item_name}
            else:
                item["product"] = {"name": line.item_name}
        if line.metadata.get(ITEM_METADATA):
            item["metadata"] = line.metadata[ITEM_METADATA]
        return item

    # Service errors → file lines and columns.

    def _locate(self, draft: OrderDraft, path: str) -> tuple[int, str]:
        match = re.fullmatch(r"items\[(\d+)\]\.?(.*)", path)
        if match:
            index, rest = int(match[1]), match[2]
            line = draft.item_lines[index].number if index < len(draft.item_lines) else draft.first.number
            if rest == "metadata" or rest.startswith("metadata."):
                return line, self._metadata_column(ITEM_METADATA, rest.removeprefix("metadata").lstrip("."))
            return line, ITEM_PATHS.get(rest, rest or "item_source_id")
        line = draft.first.number
        if path in ORDER_PATHS:
            return line, ORDER_PATHS[path]
        if path == "metadata" or path.startswith("metadata."):
            return line, self._metadata_column(ORDER_METADATA, path.removeprefix("metadata").lstrip("."))
        if path.startswith("customer.metadata"):
            return line, self._metadata_column(CUSTOMER_METADATA, path.removeprefix("customer.metadata").lstrip("."))
        if path in (NON_FIELD_ERRORS, ""):
            return line, "source_id"
        return line, path

    def _metadata_column(self, prefix: str, rest: str) -> str:
        """``channel``, ``sizes[1]`` or a long key cut with ``…`` → the column of that key."""
        if not rest:
            return prefix.rstrip(".")
        for name in self.headers:
            if name.startswith(prefix):
                key = name[len(prefix) :]
                if rest == key or rest.startswith(f"{key}[") or (rest.endswith("…") and key.startswith(rest[:-1])):
                    return name
        return prefix + rest

    def _add_errors(self, line: int, errors: dict[str, list[str]]) -> None:
        mine = self.errors.setdefault(line, {})
        for column, messages in errors.items():
            column = "source_id" if column == NON_FIELD_ERRORS else column
            for message in messages:
                if message not in mine.setdefault(column, []):
                    mine[column].append(message)

    def _rebuild(self, result: Result) -> None:
        """The service's errors join the rows' own in import-export's structures (``InvalidRow.number`` is
        the file line)."""
        result.invalid_rows = []
        for line in sorted(self.errors):
            error = ValidationError(self.errors[line])
            row_result = self.row_results.get(line)
            if row_result is not None:
                row_result.import_type = RowResult.IMPORT_TYPE_INVALID
                row_result.validation_error = error
            result.invalid_rows.append(InvalidRow(number=line, validation_error=error, values=()))
        for key in result.totals:
            result.totals[key] = 0
        for row_result in result.rows:
            result.increment_row_result_total(row_result)


# --- the report the page shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    message: str


@dataclass
class OrderPreview:
    line: int
    source_id: str
    action: str  # "create", "update" or "error"
    order_id: str | None
    customer: str
    items: int
    total: int | None


@dataclass
class ImportReport:
    filename: str
    format: str
    rows: int  # data rows with content
    errors: list[RowError]
    orders: list[OrderPreview]
    created: int
    updated: int
    failed: bool  # something unexpected happened (logged): nothing was written
    written: bool  # the orders were written (a real run without errors)
    result: Result

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    @property
    def error_lines(self) -> int:
        return len({error.line for error in self.errors})


def run_import(imported: ImportFile, *, actor: Actor, dry_run: bool) -> ImportReport:
    """Check every row and write the orders through ONE ``services.orders_import`` call (or only check, with
    ``dry_run``). With any error in the rows nothing is written; the real run is all or nothing too."""
    resource = OrderRowResource(imported=imported, actor=actor)
    result = resource.import_data(imported.dataset, dry_run=dry_run, raise_errors=False, use_transactions=False)
    columns = {name: index for index, name in enumerate(resource.headers)}
    errors = [
        RowError(line, column, message)
        for line, by_column in sorted(resource.errors.items())
        for column, messages in sorted(by_column.items(), key=lambda pair: columns.get(pair[0], len(columns)))
        for message in messages
    ]
    for error_row in result.error_rows:  # an exception in our own row code: logged by import-export
        errors.append(RowError(imported.lines[error_row.number - 1], "—", "this row could not be checked"))
    outcome = resource.service_result
    counted = outcome is not None and (dry_run or resource.written)
    return ImportReport(
        filename=imported.filename,
        format=imported.format,
        rows=sum(1 for row_result in result.rows if not row_result.is_skip()),
        errors=errors,
        orders=_previews(resource) if outcome is not None else [],
        created=outcome.created if counted else 0,
        updated=outcome.updated if counted else 0,
        failed=bool(result.base_errors) or outcome is None,
        written=resource.written,
        result=result,
    )


def _previews(resource: OrderRowResource) -> list[OrderPreview]:
    sent = {id(draft): index for index, draft in enumerate(resource.sent)}
    outcome = resource.service_result
    failed = outcome.failed if outcome is not None else {}
    prices = _catalog_prices(resource.sent)
    previews = []
    for draft in resource.drafts.values():
        index = sent.get(id(draft))
        first = draft.first
        if index is None or index in failed:
            action, order_id = "error", draft.existing_id
        else:
            order_id = outcome.order_ids[index] if outcome and index < len(outcome.order_ids) else None
            action = "update" if draft.existing_id else "create"
        customer = next(
            (
                getattr(first, name, None)
                for name in ("customer_name", "customer_email", "customer_source_id")
                if getattr(first, name, None)
            ),
            "",
        )
        previews.append(
            OrderPreview(
                line=first.number,
                source_id=draft.source_id,
                action=action,
                order_id=order_id,
                customer=customer,
                items=len(draft.item_lines),
                total=_total(draft, prices),
            )
        )
    return previews


def _line_price(line: Line, prices: dict[tuple[type, str], int | None]) -> int | None:
    """The item's price as the service sets it: the row's, else the SKU's, else the product's."""
    if getattr(line, "price", None) is not None:
        return line.price
    is_sku = (getattr(line, "item_related_object", None) or RelatedObject.PRODUCT) == RelatedObject.SKU
    keys = []
    if is_sku or getattr(line, "item_sku_id", None):
        keys += [(SKU, getattr(line, "item_sku_id", None) or ""), (SKU, "src:" + (line.item_source_id or ""))]
    keys += [(Product, getattr(line, "item_product_id", None) or "")]
    if not is_sku:
        keys.append((Product, "src:" + (line.item_source_id or "")))
    return next((prices[key] for key in keys if prices.get(key) is not None), None)


def _total(draft: OrderDraft, prices) -> int | None:
    """What the order's total will be (amount − discounts), when the file says enough to know it; None for
    an update that keeps the order's cart, or an item whose price is not known yet."""
    first = draft.first
    discount = getattr(first, "discount_amount", None) or 0
    if draft.item_lines:
        amount = 0
        for line in draft.item_lines:
            price = _line_price(line, prices)
            if price is None:
                return None
            amount += price * (getattr(line, "quantity", None) or 1) - (getattr(line, "item_discount_amount", 0) or 0)
        return amount - discount
    if draft.existing_id and getattr(first, "amount", None) is None:
        return None
    return (getattr(first, "amount", None) or 0) - discount


def _catalog_prices(drafts: list[OrderDraft]) -> dict[tuple[type, str], int | None]:
    """Catalog prices of the items that give none, in at most two queries (products, SKUs)."""
    wanted: dict[type, tuple[set, set]] = {Product: (set(), set()), SKU: (set(), set())}
    for draft in drafts:
        for line in draft.item_lines:
            if getattr(line, "price", None) is not None:
                continue
            is_sku = getattr(line, "item_related_object", None) == RelatedObject.SKU
            if getattr(line, "item_product_id", None):
                wanted[Product][0].add(line.item_product_id)
            if getattr(line, "item_sku_id", None):
                wanted[SKU][0].add(line.item_sku_id)
            if getattr(line, "item_source_id", None):
                wanted[SKU if is_sku else Product][1].add(line.item_source_id)
    prices: dict[tuple[type, str], int | None] = {}
    for model, (ids, source_ids) in wanted.items():
        if not ids and not source_ids:
            continue
        queryset = model.objects.filter(pk__in=ids) | model.objects.filter(source_id__in=source_ids)
        if model is SKU:
            queryset = queryset.select_related("product")
        for obj in queryset:
            price = obj.price
            if model is SKU and price is None and obj.product is not None:
                price = obj.product.price
            prices[(model, obj.pk)] = price
            if obj.source_id:
                prices[(model, "src:" + obj.source_id)] = price
    return prices


# --- the upload form ----------------------------------------------------------------------------------


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV or XLSX file",
        help_text=f"At most {MAX_FILE_BYTES // (1024 * 1024)} MB and {MAX_ORDERS:,} orders.",
        error_messages={"required": "Choose a CSV or XLSX file to import.", "empty": "The file is empty."},
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it into smaller files."
            )
        content = upload.read()
        try:
            self.imported = read_file(content, upload.name or "")
        except ImportFileError as exc:
            raise forms.ValidationError(str(exc)) from None
        self.content = content
        self.sha256 = hashlib.sha256(content).hexdigest()
        return upload
