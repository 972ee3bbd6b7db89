"""Validation and redemption API endpoints (paths relative to /api), on the API foundation
(``orders_dashboard.api``: API-key authentication, JSON, the error envelope):

    POST /v1/validations                    which redeemables apply to an order, with the discounts computed
    POST /v1/redemptions                    validate, then redeem all of them (or record FAILED redemptions)
    POST /v1/redemptions/{id}/rollback      undo a redemption (``reason`` in the body or the query string)
    GET/POST /v1/validation-rules, GET/PUT/DELETE /v1/validation-rules/{id}   the rules themselves

HTTP only: parsing with the serializers, ``rules.validation`` to validate, ``rules.services`` to redeem,
``orders.services`` for the orders (creating an inline order, rolling a redemption back).
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.response import Response

from orders import services as order_services
from orders.api import selectors as order_api_selectors
from orders.api.serializers import OrderSerializer, order_write_kwargs
from orders.exceptions import InvalidInput, NotFound
from orders.models import Order
from orders_dashboard.api.authentication import api_actor
from orders_dashboard.api.errors import error_response
from orders_dashboard.api.schema import error_responses
from orders_dashboard.api.views import ApiView, json_object_body

from .. import selectors, services, validation
from ..choices import DiscountType
from ..models import ValidationRule
from .serializers import (
    CalculatedOrderSerializer,
    RedemptionObjectSerializer,
    RedemptionResponseSerializer,
    RollbackRequestSerializer,
    RollbackResponseSerializer,
    RuleListSerializer,
    RuleSerializer,
    RuleWriteSerializer,
    ValidationRequestSerializer,
    ValidationResponseSerializer,
)

REFERENCE_KEYS = {"id", "source_id", "object"}

VALIDATION_EXAMPLE = OpenApiExample(
    "A stored order and a code",
    request_only=True,
    value={"order": {"source_id": "shop-order-1001"}, "redeemables": [{"object": "voucher", "id": "SUMMER10"}]},
)
INLINE_EXAMPLE = OpenApiExample(
    "An order inline and a promotion",
    request_only=True,
    value={
        "customer": {"source_id": "bob@example.com"},
        "order": {"items": [{"source_id": "iphone-12", "related_object": "product", "quantity": 1, "price": 60000}]},
        "redeemables": [{"object": "promotion_tier", "id": "promo_0b7d7dfb090be5c619"}],
    },
)


def _parse(request) -> tuple[dict, dict, list[validation.Redeemable]]:
    body = json_object_body(request)
    serializer = ValidationRequestSerializer(data=body, context={"max_items": settings.ORDERS_MAX_ITEMS})
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    redeemables = [validation.Redeemable(r["object"], r["id"].strip()) for r in data["redeemables"]]
    return body, data, redeemables


def _is_reference(raw_order: Mapping[str, Any]) -> bool:
    """Only the id or source id of a stored order (no cart, no amounts)."""
    return (
        bool(raw_order) and set(raw_order) <= REFERENCE_KEYS and bool(raw_order.get("id") or raw_order.get("source_id"))
    )


def _prefixed(problem: InvalidInput, *, customer_given: bool) -> InvalidInput:
    """Errors of the order services speak of the order's fields: here they are under ``order.`` (the
    customer given at the top level keeps its own path)."""
    errors = {}
    for path, messages in problem.errors.items():
        if customer_given and (path == "customer" or path.startswith("customer.")):
            errors[path] = messages
        else:
            errors[f"order.{path}" if path else "order"] = messages
    return InvalidInput(errors)


def _stored_order(raw_order: Mapping[str, Any]) -> Order:
    ref = raw_order.get("id") or raw_order.get("source_id")
    named = Q(pk=raw_order["id"]) if raw_order.get("id") else Q(source_id=ref)
    order = Order.objects.select_related("customer").filter(named).first()
    if order is None:
        raise NotFound("order", str(ref))
    return order


def _materialize(request, body: dict, data: dict) -> tuple[Order, bool]:
    """The order the request names: a stored one (by id or source id), or the inline one created or
    upserted through ``order_create``. A top-level ``customer`` becomes the order's customer when the order
    has none. Returns (order, whether it is stored outside this request)."""
    raw_order = body.get("order") or {}
    customer = data.get("customer")
    actor = api_actor(request)
    if _is_reference(raw_order):
        order = _stored_order(raw_order)
        if customer:
            current = order.customer_id
            wanted = order_services.customer_upsert(data=dict(customer), path="customer")
            if current and current != wanted.pk:
                raise InvalidInput({"customer": [f"the order belongs to another customer ({current})"]})
            if not current:
                order = order_services.order_update(order=order, actor=actor, customer=wanted)
        return order, True
    kwargs = order_write_kwargs(data["order"])
    existed = (
        bool(kwargs.get("id") or kwargs.get("source_id"))
        and Order.objects.filter(Q(pk=kwargs.get("id") or "") | Q(source_id=kwargs.get("source_id") or "-")).exists()
    )
    if customer and not kwargs.get("customer"):
        kwargs["customer"] = dict(customer)
    try:
        order = order_services.order_create(actor=actor, **kwargs)
    except InvalidInput as problem:
        raise _prefixed(problem, customer_given=bool(customer) and not raw_order.get("customer")) from None
    return order, existed


def _discount(incentive, amount: int) -> dict:
    if incentive.discount_type == DiscountType.AMOUNT:
        discount = {"type": DiscountType.AMOUNT, "amount_off": incentive.amount_off}
    else:
        discount = {"type": DiscountType.PERCENT, "percent_off": float(incentive.percent_off)}
        if incentive.amount_limit is not None:
            discount["amount_limit"] = incentive.amount_limit
    return {**discount, "effect": "APPLY_TO_ORDER", "amount": amount}


def _error(verdict: validation.Verdict) -> dict:
    error = {"code": verdict.http_code, "key": verdict.key, "message": verdict.message, "details": verdict.details}
    failed = [
        {"rule_id": outcome.rule.pk, **failure.as_dict()}
        for outcome in verdict.rules
        for failure in outcome.result.failed
        if failure.condition
    ]
    if failed:
        error["failed"] = failed
    return error


def _calculated(order: Order, extra_discount: int, *, stored: bool) -> dict:
    """The Order object with ``extra_discount`` more order-level discount (in memory only)."""
    saved = (order.discount_amount, order.total_discount_amount, order.total_amount)
    order.discount_amount += extra_discount
    order.total_discount_amount += extra_discount
    order.total_amount -= extra_discount
    try:
        data = CalculatedOrderSerializer(order).data
    finally:
        order.discount_amount, order.total_discount_amount, order.total_amount = saved
    if not stored:
        data["id"] = None
    return data


class ValidationsView(ApiView):
    @extend_schema(
        operation_id="validate",
        summary="Validate vouchers and promotions against an order",
        description="For each redeemable: APPLICABLE with the discount, or INAPPLICABLE with the reason "
        "(not_found, inactive, quantity_exceeded, order_rules_violated, customer_rules_violated; for rules, the "
        "failing condition's own message wins over the rule's). Nothing is stored: an inline order, a new "
        "customer or catalog item exist only for the answer. Discounts stack in the order given.",
        request=ValidationRequestSerializer,
        responses={200: ValidationResponseSerializer, **error_responses(400, 404, 413, 415)},
        examples=[VALIDATION_EXAMPLE, INLINE_EXAMPLE],
        tags=["validations"],
    )
    def post(self, request):
        body, data, redeemables = _parse(request)
        with transaction.atomic():
            # Everything here is read, or written only to be rolled back: a validation stores nothing.
            order, stored = _materialize(request, body, data)
            if order.customer_id and "customer" not in order._state.fields_cache:
                order = Order.objects.select_related("customer").get(pk=order.pk)
            order_api_selectors.prefetch_order_lines(order)
            snapshot = selectors.snapshot_of(order, list(order.items.all()))
            verdicts = validation.validate(snapshot, redeemables)
            answer = []
            stacked = 0
            for verdict in verdicts:
                stacked += verdict.discount
                entry = {
                    "status": "APPLICABLE" if verdict.applicable else "INAPPLICABLE",
                    "id": verdict.redeemable.id,
                    "object": verdict.redeemable.object,
                    "order": _calculated(order, stacked, stored=stored),
                    "result": (
                        {"discount": _discount(verdict.incentive, verdict.discount)}
                        if verdict.applicable
                        else {"error": _error(verdict)}
                    ),
                }
                answer.append(entry)
            transaction.set_rollback(True)
        return Response({"valid": all(v.applicable for v in verdicts), "redeemables": answer})


class RedemptionsView(ApiView):
    @extend_schema(
        operation_id="redeem",
        summary="Redeem vouchers and promotions on an order",
        description="Validates like POST /v1/validations, then redeems every redeemable (all or none): each "
        "is recorded on the order with its discount, the order becomes PAID, and its activity says so. An "
        "inline order is created (or upserted) first. When a redeemable does not apply, a FAILED redemption "
        "with its failure code and message is recorded on the order for it, nothing is redeemed, and the "
        "answer is 400 with the reason as ``key`` (not_found, inactive, quantity_exceeded, "
        "order_rules_violated, customer_rules_violated) and the FAILED redemption as "
        "``resource_type``/``resource_id``. Limits hold under concurrency.",
        request=ValidationRequestSerializer,
        responses={200: RedemptionResponseSerializer, **error_responses(400, 404, 413, 415)},
        examples=[VALIDATION_EXAMPLE, INLINE_EXAMPLE],
        tags=["redemptions"],
    )
    def post(self, request):
        body, data, redeemables = _parse(request)
        order, _ = _materialize(request, body, data)
        outcome = services.redemption_redeem(order=order.pk, redeemables=redeemables, actor=api_actor(request))
        if not outcome.succeeded:
            verdict = outcome.first_failure
            return error_response(
                400,
                request=request,
                key=verdict.key,
                message=verdict.message,
                details=verdict.details,
                resource_type="redemption",
                resource_id=verdict.redemption.pk if verdict.redemption else "",
            )
        order = outcome.order
        order_api_selectors.prefetch_order_lines(order)
        return Response(
            {
                "redemptions": RedemptionObjectSerializer(outcome.redemptions, many=True).data,
                "order": OrderSerializer(order).data,
            }
        )


class RollbackView(ApiView):
    @extend_schema(
        operation_id="rollback-redemption",
        summary="Roll back a redemption",
        description="Takes the redemption's discount back from the order and makes the order CANCELED "
        "(recorded in its activity). A redemption that is not SUCCEEDED cannot be rolled back: 400 "
        "``already_rolled_back`` (or ``redemption_not_succeeded`` for a FAILED one).",
        parameters=[
            OpenApiParameter("redemption_id", str, OpenApiParameter.PATH, description="The redemption's id (r_…)."),
            OpenApiParameter("reason", str, description="Why; the body's ``reason`` takes precedence."),
        ],
        request=RollbackRequestSerializer,
        responses={200: RollbackResponseSerializer, **error_responses(400, 404, 413, 415)},
        tags=["redemptions"],
    )
    def post(self, request, redemption_id: str):
        body = request.data if isinstance(request.data, dict) else {}
        serializer = RollbackRequestSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data.get("reason", request.query_params.get("reason", ""))
        redemption = order_services.redemption_rollback(
            redemption=redemption_id, actor=api_actor(request), reason=reason or ""
        )
        order = Order.objects.get(pk=redemption.order_id)
        order_api_selectors.prefetch_order_lines(order)
        return Response(
            {
                "id": redemption.rollback_id,
                "object": "redemption_rollback",
                "date": RollbackResponseSerializer().fields["date"].to_representation(redemption.rollback_date),
                "redemption": redemption.pk,
                "customer_id": redemption.customer_id,
                "reason": redemption.rollback_reason,
                "amount": redemption.amount,
                "result": "SUCCESS",
                "status": "SUCCEEDED",
                "order": OrderSerializer(order).data,
            }
        )


# --- validation rules -----------------------------------------------------------------------------------------

RULE_ID_PATH = [OpenApiParameter("rule_id", str, OpenApiParameter.PATH, description="The rule's id (val_…).")]
RULE_EXAMPLE = OpenApiExample(
    "Carts of at least 50.00 with a product",
    request_only=True,
    value={
        "name": "Big carts",
        "rules": {
            "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}},
            "2": {
                "name": "order.items.any",
                "conditions": {"$is": [{"id": "prod_0a41bcf807c5fcaaf6", "object": "product"}]},
                "rules": {"1": {"name": "order.items.quantity", "conditions": {"$more_than": [1]}}, "logic": "1"},
            },
            "logic": "1 and 2",
        },
        "error": {"message": "This code needs a cart of at least $50 with the product."},
    },
)


def _rule_response(rule) -> Response:
    rule = ValidationRule.objects.annotate(assignments_count=Count("incentive_links")).get(pk=rule.pk)
    return Response(RuleSerializer(rule).data)


def _rule_arguments(request) -> dict:
    serializer = RuleWriteSerializer(data=json_object_body(request))
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    arguments = {key: data[key] for key in ("name", "rules") if key in data}
    if "error" in data:
        arguments["error_message"] = data["error"].get("message", "")
    return arguments


def _renamed(problem: InvalidInput) -> InvalidInput:
    """The service speaks of ``error_message``; the API of ``error.message``."""
    return InvalidInput({("error.message" if k == "error_message" else k): v for k, v in problem.errors.items()})


class RulesView(ApiView):
    @extend_schema(
        operation_id="list-validation-rules",
        summary="List validation rules",
        responses={200: RuleListSerializer, **error_responses()},
        tags=["validation rules"],
    )
    def get(self, request):
        rules = list(
            ValidationRule.objects.annotate(assignments_count=Count("incentive_links")).order_by("name", "id")[:100]
        )
        return Response(
            {
                "object": "list",
                "data_ref": "data",
                "data": RuleSerializer(rules, many=True).data,
                "total": ValidationRule.objects.count(),
            }
        )

    @extend_schema(
        operation_id="create-validation-rule",
        summary="Create a validation rule",
        description="Unknown condition names or operators, values of the wrong type, products/SKUs/segments that "
        "do not exist, and a logic expression that does not parse or names a missing condition are 400 "
        "invalid_payload, each error under the path of its condition (``rules.2.conditions``, ``rules.logic``).",
        request=RuleWriteSerializer,
        responses={200: RuleSerializer, **error_responses(400, 413, 415)},
        examples=[RULE_EXAMPLE],
        tags=["validation rules"],
    )
    def post(self, request):
        arguments = _rule_arguments(request)
        arguments.setdefault("name", "")
        arguments.setdefault("rules", {})
        try:
            rule = services.rule_create(**arguments)
        except InvalidInput as problem:
            raise _renamed(problem) from None
        return _rule_response(rule)


class RuleView(ApiView):
    @extend_schema(
        operation_id="get-validation-rule",
        summary="Get a validation rule",
        parameters=RULE_ID_PATH,
        responses={200: RuleSerializer, **error_responses(404)},
        tags=["validation rules"],
    )
    def get(self, request, rule_id: str):
        rule = selectors.rule_get(rule_id)
        if rule is None:
            raise NotFound("validation_rule", rule_id)
        return _rule_response(rule)

    @extend_schema(
        operation_id="update-validation-rule",
        summary="Update a validation rule",
        description="Changes what is sent; ``rules`` replaces the conditions and logic, checked as on create.",
        parameters=RULE_ID_PATH,
        request=RuleWriteSerializer,
        responses={200: RuleSerializer, **error_responses(400, 404, 413, 415)},
        tags=["validation rules"],
    )
    def put(self, request, rule_id: str):
        arguments = _rule_arguments(request)
        try:
            rule = services.rule_update(rule=rule_id, **arguments)
        except InvalidInput as problem:
            raise _renamed(problem) from None
        return _rule_response(rule)

    @extend_schema(
        operation_id="delete-validation-rule",
        summary="Delete a validation rule",
        description="A rule that incentives use cannot be deleted (400, naming them).",
        parameters=RULE_ID_PATH,
        request=None,
        responses={204: None, **error_responses(400, 404)},
        tags=["validation rules"],
    )
    def delete(self, request, rule_id: str):
        services.rule_delete(rule=rule_id)
        return Response(status=204)
