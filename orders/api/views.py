"""Orders API endpoints (paths relative to /api), following Voucherify's Orders API:

    POST /v1/orders                 create, or upsert by id / source_id
    GET  /v1/orders                 list: limit, page, order, plus the OrderFilterSet's filters
    GET  /v1/orders/{id}            by id or source id
    PUT  /v1/orders/{id}            partial update (If-Match: "<version>" for optimistic locking)
    POST /v1/customers              create, or upsert by id / source_id
    GET  /v1/customers              list: limit, page, order, email
    GET  /v1/customers/{id}         by id or source id, with the order summary

HTTP only: parse with the serializers, call ``orders.services`` (every write; activity is recorded as the
API key), read with ``orders.api.selectors`` and the ``OrderFilterSet``.
"""

import django_filters
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from orders import services
from orders.customer_filters import CustomerFilterSet
from orders.exceptions import InvalidInput, NotFound
from orders.filters import MetadataFilter, MoneyFilter, OrderFilterSet
from orders.models import Customer, Order
from orders_dashboard.api.authentication import api_actor
from orders_dashboard.api.schema import error_responses
from orders_dashboard.api.views import ApiView, json_object_body

from . import selectors
from .serializers import (
    CustomerListSerializer,
    CustomerSerializer,
    CustomerWriteSerializer,
    OrderListSerializer,
    OrderSerializer,
    OrderWriteSerializer,
    order_write_kwargs,
    serialize_customer,
    serialize_customers,
    serialize_order,
    serialize_orders,
    validate_customer,
    validate_order,
)

LIMIT_DEFAULT, LIMIT_MAX, PAGE_MAX = 10, 100, 100
LIST_ORDERINGS = {
    # Voucherify's values → (OrderFilterSet sort, Customer ordering). Default: oldest first.
    "created_at": ("created", ("created_at", "id")),
    "-created_at": ("-created", ("-created_at", "-id")),
    "updated_at": ("updated", ("updated_at", "id")),
    "-updated_at": ("-updated", ("-updated_at", "-id")),
}
DEFAULT_ORDERING = "created_at"
# Query parameters of the list that are not OrderFilterSet filters (and the list page's own ones, which
# the API does not take).
LIST_PARAMETERS = ("limit", "page", "order")
DASHBOARD_ONLY_PARAMETERS = ("sort", "cursor", "per_page")
# Parameters of GET /v1/customers that filters registered into the CustomerFilterSet by other apps answer
# (orders.customer_filters.register_customer_filter): API parameter → filter name. orders knows neither the
# filters nor their apps; a parameter whose filter is not registered is ignored, like any unknown one.
REGISTERED_CUSTOMER_PARAMETERS = {"segment_id": "segment"}


def _positive(params, name: str, default: int, maximum: int, errors: dict) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= maximum:
        errors[name] = [f"Must be a whole number from 1 to {maximum}."]
        return default
    return value


def list_parameters(params) -> tuple[int, int, str]:
    errors: dict[str, list[str]] = {}
    limit = _positive(params, "limit", LIMIT_DEFAULT, LIMIT_MAX, errors)
    page = _positive(params, "page", 1, PAGE_MAX, errors)
    ordering = params.get("order") or DEFAULT_ORDERING
    if ordering not in LIST_ORDERINGS:
        errors["order"] = [f"Must be one of {', '.join(LIST_ORDERINGS)}."]
    if errors:
        raise ValidationError(errors)
    return limit, page, ordering


def _if_match_version(request) -> int | None:
    """The order version a client last saw, from ``If-Match: "<version>"`` (the ETag of GET/PUT)."""
    raw = request.headers.get("If-Match")
    if not raw:
        return None
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 9:
        raise ValidationError({"If-Match": ['Must be an order version as sent in the ETag header, e.g. "3".']})
    return int(text)


def _order_response(order: Order, *, prefetched: bool = False, status_code: int = status.HTTP_200_OK) -> Response:
    if not prefetched:
        selectors.prefetch_order_lines(order)
    response = Response(serialize_order(order), status=status_code)
    response["ETag"] = f'"{order.version}"'
    return response


def _rename_paths(exc: InvalidInput, renames: dict[str, str]) -> InvalidInput:
    """Errors about a customer named by a top-level ``customer_id`` speak of ``customer_id``."""
    if not renames:
        return exc
    errors = {renames.get(path, path): messages for path, messages in exc.errors.items()}
    return InvalidInput(errors)


def party_renames(data) -> dict[str, str]:
    return {
        f"{name}.id": f"{name}_id" for name in ("customer", "referrer") if data.get(f"{name}_id") and not data.get(name)
    }


def _registered_customer_filters(params, queryset):
    """``queryset`` narrowed by the registered customer filters that ``params`` name (their own validation:
    400 naming the API parameter), and whether any did."""
    data = {
        name: params[parameter]
        for parameter, name in REGISTERED_CUSTOMER_PARAMETERS.items()
        if params.get(parameter) and name in CustomerFilterSet.base_filters
    }
    if not data:
        return queryset, False
    filterset = CustomerFilterSet(data, queryset=queryset)
    if not filterset.is_valid():
        parameters = {name: parameter for parameter, name in REGISTERED_CUSTOMER_PARAMETERS.items()}
        raise ValidationError({parameters.get(name, name): list(errors) for name, errors in filterset.errors.items()})
    return filterset.qs, True


# --- schema helpers -------------------------------------------------------------------------------------


def _filter_parameter(name: str, filter_) -> OpenApiParameter:
    label = str(filter_.label or name)
    help_text = filter_.extra.get("help_text")
    description = f"{label}{f' ({help_text})' if help_text else ''}."
    if isinstance(filter_, django_filters.MultipleChoiceFilter):
        choices = [value for value, _ in filter_.extra.get("choices", [])]
        schema = {"type": "array", "items": {"type": "string", "enum": choices}}
        return OpenApiParameter(name, schema, explode=True, description=f"{description} Repeatable.")
    if isinstance(filter_, MetadataFilter):
        schema = {"type": "array", "items": {"type": "string"}}
        return OpenApiParameter(name, schema, explode=True, description=f"{description} Repeatable; all must hold.")
    if isinstance(filter_, django_filters.DateFilter):
        return OpenApiParameter(name, OpenApiTypes.DATE, description=f"{description} YYYY-MM-DD, inclusive.")
    if isinstance(filter_, MoneyFilter):
        description += " In currency units as people type them (12.50), like the dashboard's filter."
    return OpenApiParameter(name, OpenApiTypes.STR, description=description)


class OrderListSchema(AutoSchema):
    """Documents the OrderFilterSet's filters as query parameters of GET /v1/orders — read when the schema is
    made, so filters that other apps register at start-up are included."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "GET":
            parameters += [
                _filter_parameter(name, filter_)
                for name, filter_ in OrderFilterSet.base_filters.items()
                if name not in DASHBOARD_ONLY_PARAMETERS
            ]
        return parameters


class CustomerListSchema(AutoSchema):
    """Documents the registered customer filters that GET /v1/customers answers (see
    REGISTERED_CUSTOMER_PARAMETERS), read when the schema is made, like OrderListSchema."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "GET":
            for parameter, name in REGISTERED_CUSTOMER_PARAMETERS.items():
                filter_ = CustomerFilterSet.base_filters.get(name)
                if filter_ is not None:
                    label, help_text = str(filter_.label or name), filter_.extra.get("help_text")
                    description = f"{label} id{f' ({help_text})' if help_text else ''}. An unknown id is a 400 "
                    description += f"invalid_payload naming {parameter}."
                    parameters.append(OpenApiParameter(parameter, OpenApiTypes.STR, description=description))
        return parameters


LIST_QUERY = [
    OpenApiParameter("limit", int, description=f"Rows per page, 1–{LIMIT_MAX} (default {LIMIT_DEFAULT})."),
    OpenApiParameter("page", int, description=f"Page number, 1–{PAGE_MAX} (default 1)."),
    OpenApiParameter(
        "order", str, enum=list(LIST_ORDERINGS), description="Sort; a leading - means descending (default created_at)."
    ),
]
ID_PATH = [
    OpenApiParameter("order_id", str, OpenApiParameter.PATH, description="The order's id (ord_…) or source id."),
]
CUSTOMER_ID_PATH = [
    OpenApiParameter("customer_id", str, OpenApiParameter.PATH, description="The customer's id (cust_…) or source id."),
]
CREATE_EXAMPLE = OpenApiExample(
    "Order with a customer and two items",
    request_only=True,
    value={
        "source_id": "shop-order-1001",
        "status": "PAID",
        "customer": {"source_id": "bob@example.com", "name": "Bob Smith", "email": "bob@example.com"},
        "items": [
            {"source_id": "iphone-12", "related_object": "product", "quantity": 2, "price": 60000},
            {"sku_id": "sku_0b7d7dfb090be5c619", "quantity": 1},
        ],
        "metadata": {"channel": "web"},
    },
)


# --- orders ---------------------------------------------------------------------------------------------


class OrdersView(ApiView):
    schema = OrderListSchema()

    @extend_schema(
        operation_id="list-orders",
        summary="List orders",
        parameters=LIST_QUERY,
        responses={200: OrderListSerializer, **error_responses(400)},
        tags=["orders"],
    )
    def get(self, request):
        params = request.query_params
        limit, page, ordering = list_parameters(params)
        data = params.copy()
        for name in (*LIST_PARAMETERS, *DASHBOARD_ONLY_PARAMETERS):
            data.pop(name, None)
        data["sort"] = LIST_ORDERINGS[ordering][0]
        filterset = OrderFilterSet(data, queryset=Order.objects.all(), request=request)
        if not filterset.is_valid():
            raise ValidationError({name: list(messages) for name, messages in filterset.errors.items()})
        queryset = filterset.qs.prefetch_related(*selectors.order_lines_prefetch())
        page_ = selectors.page_of(
            queryset,
            page=page,
            limit=limit,
            filtered=filterset.has_active_filters(),
            witness=filterset.count_witness,
        )
        return Response(
            {
                "object": "list",
                "data_ref": "orders",
                "orders": serialize_orders(page_.rows),
                "total": page_.total,
            }
        )

    @extend_schema(
        operation_id="create-order",
        summary="Create or upsert an order",
        description="Creates an order, or updates the one that ``id`` or ``source_id`` names (what is not sent "
        "stays as it is). Inline ``customer``/``referrer`` objects are upserted by id or source_id; items name "
        "a product or SKU by id, or by source_id with related_object (new source ids join the catalog).",
        request=OrderWriteSerializer,
        responses={200: OrderSerializer, **error_responses(400, 404, 413, 415)},
        examples=[CREATE_EXAMPLE],
        tags=["orders"],
    )
    def post(self, request):
        body = json_object_body(request)
        data = validate_order(body)
        try:
            order = services.order_create(actor=api_actor(request), **order_write_kwargs(data))
        except InvalidInput as exc:
            raise _rename_paths(exc, party_renames(body)) from None
        return _order_response(order)


class OrderView(ApiView):
    @extend_schema(
        operation_id="get-order",
        summary="Get an order",
        parameters=ID_PATH,
        responses={200: OrderSerializer, **error_responses(404)},
        tags=["orders"],
    )
    def get(self, request, order_id: str):
        order = selectors.order_find(order_id)
        if order is None:
            raise NotFound("order", order_id)
        return _order_response(order, prefetched=True)

    @extend_schema(
        operation_id="update-order",
        summary="Update an order",
        description="Changes only what is sent; ``items`` replaces the whole cart; ``customer: null`` "
        "detaches the customer. Send ``If-Match`` with the ETag of your last read to refuse the change (409) "
        "when the order changed since.",
        parameters=[
            *ID_PATH,
            OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, description='The order version, e.g. "3".'),
        ],
        request=OrderWriteSerializer,
        responses={200: OrderSerializer, **error_responses(400, 404, 409, 413, 415)},
        tags=["orders"],
    )
    def put(self, request, order_id: str):
        body = json_object_body(request)
        data = validate_order(body)
        version = _if_match_version(request)
        found = selectors.order_find_id(order_id)
        if found is None:
            raise NotFound("order", order_id)
        try:
            order = services.order_update(
                order=found,
                actor=api_actor(request),
                version=version,
                **order_write_kwargs(data, partial=True),
            )
        except InvalidInput as exc:
            raise _rename_paths(exc, party_renames(body)) from None
        return _order_response(order)


# --- customers ------------------------------------------------------------------------------------------


class CustomersView(ApiView):
    schema = CustomerListSchema()

    @extend_schema(
        operation_id="list-customers",
        summary="List customers",
        parameters=[*LIST_QUERY, OpenApiParameter("email", str, description="Exact email address, any case.")],
        responses={200: CustomerListSerializer, **error_responses(400)},
        tags=["customers"],
    )
    def get(self, request):
        params = request.query_params
        limit, page, ordering = list_parameters(params)
        queryset = Customer.objects.all()
        email = (params.get("email") or "").strip()
        if email:
            queryset = queryset.filter(email__iexact=email)
        queryset, registered = _registered_customer_filters(params, queryset)
        queryset = queryset.order_by(*LIST_ORDERINGS[ordering][1])
        page_ = selectors.page_of(queryset, page=page, limit=limit, filtered=bool(email) or registered)
        return Response(
            {
                "object": "list",
                "data_ref": "customers",
                "customers": serialize_customers(page_.rows),
                "total": page_.total,
            }
        )

    @extend_schema(
        operation_id="create-customer",
        summary="Create or upsert a customer",
        description="Updates the customer that ``id`` or ``source_id`` names (only the fields sent), or creates one.",
        request=CustomerWriteSerializer,
        responses={200: CustomerSerializer, **error_responses(400, 404, 413, 415)},
        tags=["customers"],
    )
    def post(self, request):
        data = validate_customer(json_object_body(request))
        try:
            customer = services.customer_upsert(data=dict(data), path="customer")
        except InvalidInput as exc:
            # The body is the customer: its fields have no "customer." in front.
            raise InvalidInput(
                {path.removeprefix("customer").removeprefix("."): messages for path, messages in exc.errors.items()}
            ) from None
        return Response(serialize_customer(customer))


class CustomerView(ApiView):
    @extend_schema(
        operation_id="get-customer",
        summary="Get a customer",
        parameters=CUSTOMER_ID_PATH,
        responses={200: CustomerSerializer, **error_responses(404)},
        tags=["customers"],
    )
    def get(self, request, customer_id: str):
        customer = selectors.customer_find(customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        return Response(serialize_customer(customer))
