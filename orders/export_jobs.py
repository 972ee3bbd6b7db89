"""Export jobs: an orders export that runs in the background and keeps its CSV for a later download (DESIGN §5
"Export"; the API's ``POST /v1/orders/export``). The same exporter as the dashboard's download
(``orders.export``): the rows of ``OrderFilterSet(filters).qs``, the columns of ``order_columns(fields)``,
the same bytes.

    job = export_job_parameters(body["parameters"], path="parameters")   # InvalidInput naming field paths
    export = export_job_schedule(actor=actor, job=job)                    # SCHEDULED, then queued

``export_job_schedule`` records the ``Export`` SCHEDULED and enqueues ``export_job_run`` (a django.tasks
task: ``manage.py db_worker`` runs it, or the request itself with the immediate backend). Call it outside
``transaction.atomic``: the worker must see the committed record. The task takes the record IN_PROGRESS,
streams the CSV into ``Export.file`` (``exports/YYYY/MM/exp_….csv`` in the default storage) and finishes it
DONE with the row count and size, or ERROR with the reason (logged); never left IN_PROGRESS by a failure.

Voucherify's filters, translated here and nowhere else
------------------------------------------------------

``{"junction": "and", "<field>": {"conditions": {"<operator>": value}}}`` becomes the orders list's query
string (``Export.filters``), so the dashboard's list of exports shows and opens it like any other export:

- ``status``: ``$in``/``$not_in`` (lists), ``$is``/``$is_not`` → ``status=…`` (the statuses that remain).
- ``created_at``, ``updated_at``: ``$after``/``$before``. The list filters whole days (UTC), so a value is a
  date (``2026-03-01``: the whole day; ``$after`` starts the next day, ``$before`` ends the day before) or a
  time at midnight UTC (``2026-03-01T00:00:00Z``: ``$after`` keeps that day, from its midnight on;
  ``$before`` ends the day before). Other times, and the "days ago" ``$more_than``/``$less_than``, are
  refused rather than rounded.
- ``amount``, ``total_amount``: ``$is``, ``$more_than``, ``$more_than_or_equal``, ``$less_than``,
  ``$less_than_or_equal``, integers in minor units → the list's inclusive bounds, written in currency units
  as people type them (``$more_than: 2000`` → ``amount_min=20.01``; integer arithmetic, exact).
- ``customer_id``: ``$is`` (or ``$in`` with one id) → ``customer=…``.
- ``metadata.<key>``: ``$is`` → ``metadata=<key>=<value>``; numbers and booleans only for keys the order
  metadata schema types (an undefined key compares as text).
- ``junction``: ``and`` (the list combines its filters with and). ``or`` is refused when it would join more
  than one condition.

Anything else (another field such as ``source_id``, another operator, a bad value) is an ``InvalidInput``
naming its path, e.g. ``parameters.filters.status.conditions.$in``; nothing is recorded then.
"""

import datetime as dt
import logging
import re
import tempfile
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.db.models import Q
from django.http import FileResponse, QueryDict
from django.tasks import task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .api.views import DEFAULT_ORDERING, LIST_ORDERINGS
from .choices import MetadataObject, OrderStatus
from .events import Actor
from .exceptions import InvalidInput
from .export import METADATA_PREFIX, CSVStream, check_order_fields, export_filename, export_finish, order_columns
from .filters import DEFAULT_SORT, MAX_AMOUNT, OrderFilterSet, typed_metadata_value
from .models import Customer, Export, ExportStatus, MetadataSchemaProperty, Order
from .money import minor_to_input

logger = logging.getLogger(__name__)

# What Voucherify exports when no fields are named.
DEFAULT_FIELDS = ("id", "source_id", "status")
MAX_FIELDS = 100  # columns of one export (PostgreSQL's COPY takes at most 1,664 anyway)
# The CSV is written to a temporary file before it goes to the storage: in memory up to this size.
SPOOL_BYTES = 1024 * 1024
# Downloads of a job's CSV by a signed link (GET /v1/exports/{id}/download?token=…), valid this long.
DOWNLOAD_TOKEN_MAX_AGE = 3600  # seconds; settings.EXPORT_DOWNLOAD_TOKEN_MAX_AGE overrides it
DOWNLOAD_TOKEN_SALT = "orders.export_jobs.download"  # noqa: S105 — a salt (namespace), not a secret

FILTER_FIELDS = ("status", "created_at", "updated_at", "amount", "total_amount", "customer_id", "metadata.<key>")
DATE_FIELDS = {"created_at": ("created_from", "created_to"), "updated_at": ("updated_from", "updated_to")}
AMOUNT_FIELDS = {"amount": ("amount_min", "amount_max"), "total_amount": ("total_min", "total_max")}
STATUS_OPERATORS = ("$in", "$is", "$is_not", "$not_in")
DATE_OPERATORS = ("$after", "$before")
AMOUNT_OPERATORS = ("$is", "$more_than", "$more_than_or_equal", "$less_than", "$less_than_or_equal")
CUSTOMER_OPERATORS = ("$is", "$in")
METADATA_OPERATORS = ("$is",)
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
UTC = dt.UTC


@dataclass(frozen=True)
class ExportJob:
    """What an export job will export: ``filters``, the orders list's query string (OrderFilterSet
    parameters, the sort included unless it is the list's default); ``fields``; ``sort``, the filter set's
    sort; ``parameters``, the request's parameters to echo (order and fields as used, filters as sent)."""

    filters: str
    fields: list[str]
    sort: str
    parameters: dict[str, Any]


# --- parameters → OrderFilterSet parameters ---------------------------------------------------------------


class _Translation:
    """Collects the query parameters, where each came from (for errors the filter set finds) and errors."""

    def __init__(self, path: str):
        self.path = path
        self.query = QueryDict(mutable=True)
        self.origins: dict[str, str] = {}
        self.errors: dict[str, list[str]] = {}

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def set(self, name: str, values: list[str], origin: str) -> None:
        self.query.setlist(name, values)
        self.origins[name] = origin


def export_job_parameters(parameters: Any, *, path: str = "") -> ExportJob:
    """Voucherify's export ``parameters`` (``order``, ``fields``, ``filters``; all optional) → an
    ``ExportJob``; ``InvalidInput`` naming every bad part by its path under ``path``. Reads the database
    (metadata schema, customers) to check values, writes nothing."""
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise InvalidInput({path: ["Must be an object with order, fields and filters (all optional)."]})
    tr = _Translation(path)
    for key in parameters:
        if key not in ("order", "fields", "filters"):
            tr.error(tr.at(key), "Unknown parameter: an export takes order, fields and filters.")
    fields = _fields(parameters.get("fields"), tr)
    order = _order(parameters.get("order"), tr)
    _filters(parameters.get("filters"), tr)
    if tr.errors:
        raise InvalidInput(tr.errors)

    sort = LIST_ORDERINGS[order][0]
    if sort != DEFAULT_SORT:  # as the dashboard records it: the list's default sort is left out
        tr.query["sort"] = sort
    filterset = OrderFilterSet(tr.query, queryset=Order.objects.all())
    if not filterset.is_valid():
        for name, messages in filterset.errors.items():
            for message in messages:
                tr.error(tr.origins.get(name, tr.at("filters")), str(message))
        raise InvalidInput(tr.errors)
    echo: dict[str, Any] = {"order": order, "fields": fields}
    if parameters.get("filters") is not None:
        echo["filters"] = parameters["filters"]
    return ExportJob(filters=tr.query.urlencode(), fields=fields, sort=filterset.sort_value, parameters=echo)


def _fields(value: Any, tr: _Translation) -> list[str]:
    path = tr.at("fields")
    if value is None:
        return list(DEFAULT_FIELDS)
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        tr.error(path, 'Must be a list of field names, e.g. ["id", "status", "metadata.channel"].')
        return []
    if not value:
        tr.error(path, f"Name at least one field, or leave fields out for the default: {', '.join(DEFAULT_FIELDS)}.")
        return []
    problems = False
    for index, name in enumerate(value):
        try:
            check_order_fields([name])
        except ValueError as error:
            tr.error(f"{path}[{index}]", str(error))
            problems = True
    if problems:
        return []
    fields = check_order_fields(value)
    if len(fields) > MAX_FIELDS:
        tr.error(path, f"An export has at most {MAX_FIELDS} fields.")
    return fields


def _order(value: Any, tr: _Translation) -> str:
    if value is None:
        return DEFAULT_ORDERING
    if value not in LIST_ORDERINGS:
        tr.error(tr.at("order"), f"Must be one of {', '.join(LIST_ORDERINGS)}.")
        return DEFAULT_ORDERING
    return value


def _filters(filters: Any, tr: _Translation) -> None:
    path = tr.at("filters")
    if filters is None:
        return
    if not isinstance(filters, dict):
        tr.error(path, 'Must be an object: {"junction": "and", "<field>": {"conditions": {"$in": […]}}}.')
        return
    conditions_count = 0
    metadata: list[tuple[str, Any, str]] = []
    for name, spec in filters.items():
        if name == "junction":
            continue
        field_path = f"{path}.{name}"
        if name.startswith(METADATA_PREFIX):
            operators = METADATA_OPERATORS
        elif name == "status":
            operators = STATUS_OPERATORS
        elif name in DATE_FIELDS:
            operators = DATE_OPERATORS
        elif name in AMOUNT_FIELDS:
            operators = AMOUNT_OPERATORS
        elif name == "customer_id":
            operators = CUSTOMER_OPERATORS
        else:
            tr.error(field_path, f"The export cannot filter by “{name}”: use {', '.join(FILTER_FIELDS)}.")
            continue
        conditions = _conditions(spec, field_path, operators, tr)
        if not conditions:
            continue
        conditions_count += len(conditions)
        conditions_path = f"{field_path}.conditions"
        if name == "status":
            _status(conditions, conditions_path, tr)
        elif name in DATE_FIELDS:
            _dates(name, conditions, conditions_path, tr)
        elif name in AMOUNT_FIELDS:
            _amounts(name, conditions, conditions_path, tr)
        elif name == "customer_id":
            _customer(conditions, conditions_path, tr)
        else:
            metadata.append((name.removeprefix(METADATA_PREFIX), conditions["$is"], f"{conditions_path}.$is"))
    _metadata(metadata, tr)

    junction = filters.get("junction", "and")
    junction_path = f"{path}.junction"
    if not isinstance(junction, str) or junction.lower() not in ("and", "or"):
        tr.error(junction_path, 'Must be "and" or "or".')
    elif junction.lower() == "or" and conditions_count > 1:
        tr.error(
            junction_path,
            '"or" is not supported: the orders list (and so the export) combines its filters with "and". '
            "Create one export per alternative.",
        )


def _conditions(spec: Any, path: str, operators: tuple[str, ...], tr: _Translation) -> dict[str, Any] | None:
    """The ``conditions`` object of one field, its operators checked; None after recording an error."""
    if not isinstance(spec, dict) or "conditions" not in spec:
        tr.error(path, 'Must be an object {"conditions": {"<operator>": value}}.')
        return None
    for key in spec:
        if key != "conditions":
            tr.error(f"{path}.{key}", 'Unknown key: a filter holds only "conditions".')
    conditions = spec["conditions"]
    path = f"{path}.conditions"
    if not isinstance(conditions, dict) or not conditions:
        tr.error(path, f"Must be an object with at least one condition: {', '.join(operators)}.")
        return None
    good = True
    for operator in conditions:
        if operator not in operators:
            tr.error(f"{path}.{operator}", f"Not an operator of this filter: use {', '.join(operators)}.")
            good = False
    return conditions if good else None


def _status(conditions: dict[str, Any], path: str, tr: _Translation) -> None:
    statuses = OrderStatus.values
    remaining = set(statuses)
    good = True
    for operator, value in conditions.items():
        listed = operator in ("$in", "$not_in")
        values = value if listed and isinstance(value, list) else [value]
        if (listed and (not isinstance(value, list) or not value)) or not all(v in statuses for v in values):
            shape = "a list of statuses" if listed else "a status"
            tr.error(f"{path}.{operator}", f"Must be {shape}: {', '.join(statuses)}.")
            good = False
        elif operator in ("$in", "$is"):
            remaining &= set(values)
        else:
            remaining -= set(values)
    if not good:
        return
    if not remaining:
        tr.error(path, "These conditions leave no status to export.")
    elif remaining != set(statuses):
        tr.set("status", [status for status in statuses if status in remaining], path)


def _day(value: Any, path: str, tr: _Translation) -> tuple[dt.date, bool] | None:
    """(the day, whether a date was given) of an ``$after``/``$before`` value; None after an error."""
    example = "a date such as 2026-03-01, or a time at midnight UTC such as 2026-03-01T00:00:00Z"
    text = value.strip() if isinstance(value, str) else ""
    if DATE_TEXT.fullmatch(text):
        try:
            return dt.date.fromisoformat(text), True
        except ValueError:
            pass
    else:
        try:
            moment = parse_datetime(text) if text else None
        except ValueError:  # well formed, but no such time
            moment = None
        if moment is not None:
            if timezone.is_naive(moment):
                moment = moment.replace(tzinfo=UTC)
            moment = moment.astimezone(UTC)
            if moment.time() == dt.time.min:
                return moment.date(), False
            tr.error(path, f"The export filters whole days (UTC): give {example} (got “{text}”).")
            return None
    tr.error(path, f"Must be {example} (ISO 8601).")
    return None


def _dates(name: str, conditions: dict[str, Any], path: str, tr: _Translation) -> None:
    start, end = DATE_FIELDS[name]
    for operator, value in conditions.items():
        where = f"{path}.{operator}"
        found = _day(value, where, tr)
        if found is None:
            continue
        day, whole_day = found
        try:
            if operator == "$after":  # a date: after that whole day; a midnight: from it on
                tr.set(start, [(day + dt.timedelta(days=1) if whole_day else day).isoformat()], where)
            else:  # before the day (a date) or its midnight: up to the end of the day before
                tr.set(end, [(day - dt.timedelta(days=1)).isoformat()], where)
        except OverflowError:
            tr.error(where, "That date is out of range.")


def _amounts(name: str, conditions: dict[str, Any], path: str, tr: _Translation) -> None:
    low: int | None = None
    high: int | None = None
    good = True
    for operator, value in conditions.items():
        where = f"{path}.{operator}"
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
            tr.error(where, "Must be a whole number of minor units (a JSON integer such as 1250), 0 to 10^15.")
            good = False
            continue
        if operator == "$less_than" and value == 0:
            tr.error(where, "Amounts are never negative: no order has an amount less than 0.")
            good = False
            continue
        lower = {"$is": value, "$more_than": value + 1, "$more_than_or_equal": value}.get(operator)
        upper = {"$is": value, "$less_than": value - 1, "$less_than_or_equal": value}.get(operator)
        if lower is not None:
            low = lower if low is None else max(low, lower)
        if upper is not None:
            high = upper if high is None else min(high, upper)
    if not good:
        return
    if low is not None and low > MAX_AMOUNT:
        tr.error(path, "No amount is that large: amounts are at most 10^15.")
    elif low is not None and high is not None and low > high:
        tr.error(path, "These conditions leave no amount to export.")
    else:
        minimum, maximum = AMOUNT_FIELDS[name]
        if low is not None:
            tr.set(minimum, [minor_to_input(low)], path)
        if high is not None:
            tr.set(maximum, [minor_to_input(high)], path)


def _customer(conditions: dict[str, Any], path: str, tr: _Translation) -> None:
    for operator, value in conditions.items():
        where = f"{path}.{operator}"
        if operator == "$in":
            if not isinstance(value, list) or len(value) != 1:
                tr.error(where, "The export filters by one customer at a time: give a list of one customer id.")
                continue
            value = value[0]
        if not isinstance(value, str) or not value or value != value.strip():
            tr.error(where, "Must be a customer id (cust_…).")
            continue
        # The list's customer filter also matches source ids and emails: refuse an id that one of those
        # would make ambiguous, rather than export another customer's orders too.
        if Customer.objects.filter(Q(source_id=value) | Q(email__iexact=value)).exclude(pk=value).exists():
            tr.error(where, f"“{value}” is also another customer's source id or email: it cannot filter the export.")
            continue
        if "customer" in tr.query and tr.query["customer"] != value:
            tr.error(path, "These conditions name two customers: the export filters by one.")
            continue
        tr.set("customer", [value], where)


def _metadata_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return value if isinstance(value, str) else None


def _metadata(conditions: list[tuple[str, Any, str]], tr: _Translation) -> None:
    if not conditions:
        return
    schema = {
        prop.key: prop
        for prop in MetadataSchemaProperty.objects.filter(
            schema__related_object=MetadataObject.ORDER, key__in={key for key, _, _ in conditions}
        )
    }
    values = []
    for key, value, where in conditions:
        key_path = where.removesuffix(".conditions.$is")
        if not key.strip() or key != key.strip() or "=" in key:
            tr.error(key_path, "A metadata key cannot be empty, hold “=” or start or end with spaces.")
            continue
        text = _metadata_text(value)
        if text is None:
            tr.error(where, "Must be text, a number or true/false.")
            continue
        if not text.strip() or text != text.strip():
            tr.error(where, "Must be a value that neither is empty nor starts or ends with spaces.")
            continue
        prop = schema.get(key)
        if prop is None:
            if not isinstance(value, str):
                tr.error(
                    where,
                    f"“{key}” is not in the order metadata schema, so its values compare as text: "
                    f'send the value as a string ("{text}").',
                )
                continue
        else:
            try:
                typed = typed_metadata_value(prop.type, text)
            except ValueError as error:
                tr.error(where, f"“{key}” {error}.")
                continue
            if not isinstance(value, str) and (typed != value or isinstance(typed, bool) != isinstance(value, bool)):
                tr.error(where, f"“{key}” holds {prop.type} values: this value is not one.")
                continue
        values.append(f"{key}={text}")
        origin = where
    if values:  # the filter set's errors about them name the condition, or all filters when there are several
        tr.set("metadata", values, origin if len(values) == 1 else tr.at("filters"))


# --- the job -----------------------------------------------------------------------------------------------


def export_job_create(*, actor: Actor, job: ExportJob) -> Export:
    """Record an export job, SCHEDULED (it exports no order yet and changes none: no OrderEvent)."""
    return Export.objects.create(
        exported_object="order",
        status=ExportStatus.SCHEDULED,
        actor_type=actor.type,
        actor_user=actor.user,
        actor_id=actor.id,
        actor_name=actor.name,
        filters=job.filters,
        fields=list(job.fields),
        order=job.sort,
        parameters=job.parameters,
        created_at=timezone.now(),
    )


def export_job_schedule(*, actor: Actor, job: ExportJob) -> Export:
    """Record the job and queue it; the record as it is after queueing (DONE already when the tasks run
    inline). Call it outside ``transaction.atomic``, so that a worker sees the record. A queue that
    refuses the task leaves the record ERROR and raises."""
    export = export_job_create(actor=actor, job=job)
    try:
        export_job_run.enqueue(export.pk)
    except Exception as error:
        logger.exception("Export job %s could not be queued", export.pk)
        export_finish(export.pk, row_count=None, size=0, error=f"The export could not be queued: {error}")
        raise
    export.refresh_from_db()
    return export


@task
def export_job_run(export_id: str) -> str:
    """Run a SCHEDULED export job: IN_PROGRESS, the CSV into ``Export.file``, then DONE (row count, size) or
    ERROR (the reason). Returns the status it ended in, or "SKIPPED" for a job that was not waiting."""
    claimed = Export.objects.filter(pk=export_id, status=ExportStatus.SCHEDULED).update(
        status=ExportStatus.IN_PROGRESS, started_at=timezone.now()
    )
    if not claimed:  # unknown, or taken by another run of the same task
        logger.warning("Export job %s is not waiting to run: skipped", export_id)
        return "SKIPPED"
    stream: CSVStream | None = None
    try:
        export = Export.objects.get(pk=export_id)
        filterset = OrderFilterSet(QueryDict(export.filters), queryset=Order.objects.all())
        if not filterset.is_valid():  # e.g. the metadata schema changed since the request
            problems = "; ".join(str(message) for messages in filterset.errors.values() for message in messages)
            raise ValueError(f"the filters are no longer valid: {problems}")
        stream = CSVStream(filterset.qs, order_columns(export.fields))
        Export.objects.filter(pk=export_id).update(method=stream.method)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as buffer:
            for chunk in stream:
                buffer.write(chunk)
            buffer.seek(0)
            export.file.save(f"{export.pk}.csv", File(buffer), save=False)
        Export.objects.filter(pk=export_id).update(file=export.file.name)
    except Exception as error:
        logger.exception("Export job %s failed", export_id)
        size = stream.size if stream is not None else 0
        export_finish(export_id, row_count=None, size=size, error=f"The export failed: {error}")
        return ExportStatus.ERROR
    export_finish(export_id, row_count=stream.row_count, size=stream.size)
    return ExportStatus.DONE


# --- downloads -----------------------------------------------------------------------------------------------


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=DOWNLOAD_TOKEN_SALT)


def download_token_max_age() -> int:
    return int(getattr(settings, "EXPORT_DOWNLOAD_TOKEN_MAX_AGE", DOWNLOAD_TOKEN_MAX_AGE))


def download_token(export_id: str) -> str:
    """A token that lets its holder download this export's file for ``download_token_max_age()`` seconds
    (signed with the secret key; the export id is signed too, but not repeated in the token)."""
    return _signer().sign(export_id).removeprefix(f"{export_id}:")


def download_token_problem(export_id: str, token: str) -> str | None:
    """None when ``token`` is a valid, unexpired download token of this export; otherwise what is wrong."""
    try:
        _signer().unsign(f"{export_id}:{token}", max_age=download_token_max_age())
    except signing.SignatureExpired:
        return "The download link has expired: read the export again for a fresh one."
    except signing.BadSignature:
        return "The download token is not valid for this export."
    return None


def export_file_response(export: Export) -> FileResponse:
    """The stored CSV of a DONE export job as an attachment. FileNotFoundError when the file is gone."""
    response = FileResponse(
        export.file.open("rb"),
        as_attachment=True,
        filename=export_filename(export.created_at),
        content_type="text/csv; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    response["X-Export-Id"] = export.pk
    return response
