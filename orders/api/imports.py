"""Bulk order import in the API (paths relative to /api), following Voucherify's:

    POST /v1/orders/import              an array of at most 2,000 orders → {"async_action_id": "aa_…"}
    GET  /v1/async-actions/{id}         the async action: status and, when DONE, the result

The whole array is checked for shape up front, as Voucherify does: not an array, more than 2,000 orders, an
element that is not an object, or any field error of ``validate_order`` (the single create's checks) →
400 ``invalid_payload`` naming every bad field as ``[3].items[0].quantity``, and nothing is queued.
What only the import itself can find (an unknown product or customer id, an item naming no product, a
discount above the amount, the same source id twice) is reported per row by the async action, whose
result lists each failed row's ``index``, ``source_id``, ``reason`` and ``errors`` by field path.

The import runs as a background task (``orders.tasks``); the answer is Voucherify's ``200`` with the
async action's id (its SDKs read the body of a documented 200 only).
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from orders import tasks
from orders.exceptions import NotFound
from orders.models import AsyncAction, AsyncActionType
from orders_dashboard.api.authentication import api_actor
from orders_dashboard.api.errors import flatten_errors, request_id
from orders_dashboard.api.schema import error_responses
from orders_dashboard.api.views import ApiView

from .serializers import ConstantField, OrderWriteSerializer, TimestampField, order_write_kwargs, validate_order
from .views import party_renames

IMPORT_MAX_ORDERS = 2000
# 2,000 orders of up to ~5 KB each (a 3-item order with a customer and metadata is ~1.5 KB of JSON); a
# bigger body is a 413, like any API body past its view's limit. Split larger imports.
IMPORT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Our action types → Voucherify's names of them.
VOUCHERIFY_TYPES = {AsyncActionType.ORDER_IMPORT: "ORDERS.IMPORT"}


# --- serializers ------------------------------------------------------------------------------------------


class ImportAcceptedSerializer(serializers.Serializer):
    async_action_id = serializers.CharField(help_text="The id of the async action running the import (aa_…).")

    class Meta:
        ref_name = "OrdersImportAccepted"


class ImportFailedRowSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The order's position in the imported array, from 0.")
    source_id = serializers.CharField(allow_null=True, help_text="The order's source_id, if it had one.")
    reason = serializers.CharField(help_text="What is wrong with it: every field path and message.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Field path within the order (e.g. "items[0].quantity"; "" for the order itself) → messages.',
    )

    class Meta:
        ref_name = "OrdersImportFailedRow"


class ImportResultSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="A short summary, e.g. “5 order(s) imported successfully, 2 failed.”")
    done_count = serializers.IntegerField(help_text="Orders imported: created or updated.")
    failed_count = serializers.IntegerField(help_text="Orders refused; each is listed in failed.")
    created_count = serializers.IntegerField(help_text="Orders created.")
    updated_count = serializers.IntegerField(help_text="Existing orders updated (named by id or source_id).")
    failed = ImportFailedRowSerializer(many=True, help_text="The refused orders, in the order of the array.")

    class Meta:
        ref_name = "OrdersImportResult"


class AsyncActionSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=list(VOUCHERIFY_TYPES.values()))
    # A string, not an enum: a second "status" enum would rename the orders' one in the schema.
    status = serializers.CharField(
        help_text="ENQUEUED (waiting for a worker), IN_PROGRESS, DONE, or FAILED (stopped on an unexpected "
        "error: nothing was imported)."
    )
    result = ImportResultSerializer(
        allow_null=True, help_text="null until DONE or FAILED. A FAILED import's message says why; its counts are 0."
    )
    created_at = TimestampField()
    updated_at = TimestampField()
    request_id = serializers.CharField(help_text="The id of the request that started the action.")
    processing_time = serializers.IntegerField(
        allow_null=True, help_text="Milliseconds from the start of the work to its end; null until then."
    )
    progress = serializers.IntegerField(
        help_text="0 until the action ends, then 100 (an import commits all its orders at once)."
    )
    object = ConstantField("async_action")

    class Meta:
        ref_name = "AsyncAction"


def serialize_async_action(action: AsyncAction) -> dict:
    timestamp = TimestampField()
    return {
        "id": action.pk,
        "type": VOUCHERIFY_TYPES[action.type],
        "status": action.status,
        "result": action.result if action.is_finished else None,
        "created_at": timestamp.to_representation(action.created_at),
        "updated_at": timestamp.to_representation(action.updated_at),
        "request_id": action.request_id,
        "processing_time": action.processing_time_ms,
        "progress": 100 if action.is_finished else 0,
        "object": "async_action",
    }


# --- views ------------------------------------------------------------------------------------------------


def _rows(body) -> tuple[list[dict], dict[int, dict[str, str]]]:
    """The array's orders as ``orders_import`` rows, and per row the paths to report under the names the
    client used; ValidationError naming every bad field (``[3].items[0].quantity``) otherwise."""
    if not isinstance(body, list):
        raise ValidationError({"": ["The request body must be a JSON array of orders."]})
    if not body:
        raise ValidationError({"": ["The array is empty: send at least one order."]})
    if len(body) > IMPORT_MAX_ORDERS:
        raise ValidationError(
            {"": [f"An import takes at most {IMPORT_MAX_ORDERS} orders; this one has {len(body)}. Split it."]}
        )
    errors: dict[str, list[str]] = {}
    rows, renames = [], {}
    for index, order in enumerate(body):
        if not isinstance(order, dict):
            errors[f"[{index}]"] = ["Must be an order object."]
            continue
        try:
            data = validate_order(order)
        except ValidationError as exc:
            errors.update(flatten_errors(exc.detail, f"[{index}]"))
            continue
        rows.append(order_write_kwargs(data))
        if rename := party_renames(order):
            renames[index] = rename
    if errors:
        raise ValidationError(errors)
    return rows, renames


IMPORT_EXAMPLE = OpenApiExample(
    "Two orders",
    request_only=True,
    value=[
        {
            "source_id": "shop-order-1001",
            "status": "PAID",
            "customer": {"source_id": "bob@example.com", "email": "bob@example.com"},
            "items": [{"source_id": "iphone-12", "related_object": "product", "quantity": 1, "price": 60000}],
        },
        {"source_id": "shop-order-1002", "status": "CANCELED", "amount": 7000},
    ],
)


class OrdersImportView(ApiView):
    max_body_bytes = IMPORT_MAX_BODY_BYTES

    @extend_schema(
        operation_id="import-orders",
        summary="Import orders",
        description=f"Creates (or upserts, by id or source_id) up to {IMPORT_MAX_ORDERS} orders in the "
        "background. The array is checked for shape first: any bad field is a 400 naming it by its path "
        "(``[3].items[0].quantity``) and nothing is imported. Otherwise the answer is the id of an async "
        "action; ``GET /v1/async-actions/{id}`` says when it is DONE and which orders failed, by index, with "
        "their errors (orders that fail write nothing; the others are imported). An order may appear once "
        f"per import. Bodies above {IMPORT_MAX_BODY_BYTES // (1024 * 1024)} MiB are refused (413).",
        request=OrderWriteSerializer(many=True),
        responses={200: ImportAcceptedSerializer, **error_responses(400, 413, 415)},
        examples=[IMPORT_EXAMPLE],
        tags=["orders"],
    )
    def post(self, request):
        rows, renames = _rows(request.data)
        action = tasks.orders_import_start(
            rows=rows, actor=api_actor(request), request_id=request_id(request), renames=renames
        )
        return Response({"async_action_id": action.pk})


class AsyncActionView(ApiView):
    @extend_schema(
        operation_id="get-async-action",
        summary="Get an async action",
        parameters=[
            OpenApiParameter("async_action_id", str, OpenApiParameter.PATH, description="The async action's id (aa_…).")
        ],
        responses={200: AsyncActionSerializer, **error_responses(404)},
        tags=["async actions"],
    )
    def get(self, request, async_action_id: str):
        action = AsyncAction.objects.filter(pk=async_action_id).first()
        if action is None:
            raise NotFound("async_action", async_action_id)
        return Response(serialize_async_action(action))
