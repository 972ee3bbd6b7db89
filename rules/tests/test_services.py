"""The rules services: rules and incentives are checked and stored; redemption validates, records through
the orders service, and keeps its limits."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.choices import EventType, OrderStatus, RedemptionStatus
from orders.exceptions import InvalidInput, InvalidStatusTransition, NotFound
from orders.models import OrderEvent, Redemption
from orders.tests.factories import SYSTEM, CustomerFactory, ProductFactory, make_order
from rules import services, validation
from rules.choices import DiscountType
from rules.models import Incentive, ValidationRule
from rules.tests.factories import MIN_5000, make_promotion, make_rule, make_voucher

pytestmark = pytest.mark.django_db


def redeem(order, *incentives, actor=SYSTEM):
    return services.redemption_redeem(
        order=order.pk, redeemables=[validation.Redeemable(i.kind, i.pk) for i in incentives], actor=actor
    )


# --- rules -----------------------------------------------------------------------------------------------


def test_rule_create_stores_the_canonical_form():
    rule = services.rule_create(
        name="  Big carts ",
        rules={"1": {"name": "order.amount", "conditions": {"$more_than_equal": [5000]}}, "logic": "(1)"},
        error_message=" Spend more ",
    )
    rule.refresh_from_db()
    assert rule.pk.startswith("val_")
    assert (rule.name, rule.error_message) == ("Big carts", "Spend more")
    assert rule.rules == {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}}, "logic": "1"}


def test_rule_create_reports_every_problem_with_paths():
    with pytest.raises(InvalidInput) as error:
        services.rule_create(
            name="",
            rules={"1": {"name": "order.amount", "conditions": {"$is": ["x"]}}, "logic": "1 or 2"},
        )
    assert set(error.value.errors) == {"name", "rules.1.conditions", "rules.logic"}
    assert not ValidationRule.objects.exists()


def test_rule_must_name_existing_products_skus_and_segments():
    product = ProductFactory()
    rules = {
        "1": {
            "name": "order.items.any",
            "conditions": {"$is": [{"id": product.pk, "object": "product"}, {"id": "sku_nope", "object": "sku"}]},
        },
        "2": {"name": "customer.segment", "conditions": {"$in": ["seg_nope"]}},
        "logic": "1 and 2",
    }
    with pytest.raises(InvalidInput) as error:
        services.rule_create(name="x", rules=rules)
    assert error.value.errors == {
        "rules.1.conditions": ["Condition 1: no SKU has the id sku_nope."],
        "rules.2.conditions": ["Condition 2: no segment has the id seg_nope."],
    }


def test_rule_update_changes_what_is_given_and_delete_refuses_a_rule_in_use():
    rule = make_rule()
    updated = services.rule_update(rule=rule.pk, error_message="Too small")
    assert updated.error_message == "Too small" and updated.name == "At least 50"
    voucher = make_voucher(rules=[rule])
    with pytest.raises(InvalidInput, match=f"assigned to {voucher.name}"):
        services.rule_delete(rule=rule)
    services.incentive_update(incentive=voucher, rules=[])
    services.rule_delete(rule=rule)
    assert not ValidationRule.objects.exists()
    with pytest.raises(NotFound):
        services.rule_update(rule=rule.pk, name="gone")


# --- incentives ------------------------------------------------------------------------------------------


def test_voucher_codes_are_unique_in_any_letter_case():
    voucher = make_voucher("Save10")
    assert voucher.pk.startswith("v_")
    with pytest.raises(InvalidInput) as error:
        make_voucher("SAVE10")
    assert "another voucher has the code SAVE10" in error.value.errors["code"][0]
    promotion = make_promotion()
    assert promotion.pk.startswith("promo_") and promotion.code is None


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"kind": "voucher", "code": "", "name": "x", "amount_off": 1}, "code"),
        ({"kind": "voucher", "code": "A B", "name": "x", "amount_off": 1}, "code"),
        ({"kind": "promotion_tier", "code": "X", "name": "x", "amount_off": 1}, "code"),
        ({"kind": "voucher", "code": "A", "name": "", "amount_off": 1}, "name"),
        ({"kind": "voucher", "code": "A", "name": "x", "amount_off": None}, "amount_off"),
        ({"kind": "voucher", "code": "A", "name": "x", "amount_off": 1.5}, "amount_off"),
        ({"kind": "voucher", "code": "A", "name": "x", "discount_type": "PERCENT"}, "percent_off"),
        (
            {"kind": "voucher", "code": "A", "name": "x", "discount_type": "PERCENT", "percent_off": "101"},
            "percent_off",
        ),
        (
            {"kind": "voucher", "code": "A", "name": "x", "discount_type": "PERCENT", "percent_off": "1.234"},
            "percent_off",
        ),
        ({"kind": "gift", "code": "A", "name": "x", "amount_off": 1}, "kind"),
        ({"kind": "voucher", "code": "A", "name": "x", "amount_off": 1, "redemption_limit": 0}, "redemption_limit"),
        (
            {
                "kind": "voucher",
                "code": "A",
                "name": "x",
                "amount_off": 1,
                "start_date": "2026-02-01T00:00:00Z",
                "expiration_date": "2026-01-01T00:00:00Z",
            },
            "expiration_date",
        ),
        ({"kind": "voucher", "code": "A", "name": "x", "amount_off": 1, "rules": ["val_nope"]}, "rules"),
    ],
)
def test_incentive_fields_are_checked(fields, path):
    with pytest.raises(InvalidInput) as error:
        services.incentive_create(**fields)
    assert path in error.value.errors
    assert not Incentive.objects.exists()


def test_incentive_update_keeps_the_kind_and_reorders_rules():
    first, second = make_rule(name="a"), make_rule(name="b")
    voucher = make_voucher(rules=[first, second])
    services.incentive_update(incentive=voucher.pk, rules=[second.pk, first.pk], name="Renamed")
    voucher.refresh_from_db()
    assert [link.rule_id for link in voucher.rule_links.order_by("position")] == [second.pk, first.pk]
    with pytest.raises(InvalidInput, match="kind"):
        services.incentive_update(incentive=voucher, kind="promotion_tier")


@pytest.mark.parametrize(
    ("discount", "base", "expected"),
    [
        ({"discount_type": "AMOUNT", "amount_off": 1000}, 5000, 1000),
        ({"discount_type": "AMOUNT", "amount_off": 1000}, 700, 700),  # never more than what is left
        ({"discount_type": "AMOUNT", "amount_off": 1000}, 0, 0),
        ({"discount_type": "PERCENT", "percent_off": Decimal("10")}, 5005, 501),  # 500.5 rounds half up
        ({"discount_type": "PERCENT", "percent_off": Decimal("12.5")}, 999, 125),  # 124.875
        ({"discount_type": "PERCENT", "percent_off": Decimal("50"), "amount_limit": 300}, 5000, 300),
        ({"discount_type": "PERCENT", "percent_off": Decimal("100")}, 4321, 4321),
    ],
)
def test_discounts(discount, base, expected):
    incentive = Incentive(kind="voucher", code="X", name="x", **discount)
    assert validation.discount_for(incentive, base) == expected


# --- redemption ------------------------------------------------------------------------------------------


def test_redemption_applies_the_discount_makes_the_order_paid_and_records_activity():
    order = make_order(amount=None)  # 2 × 1000
    voucher = make_voucher(amount_off=500)
    outcome = redeem(order, voucher)
    assert outcome.succeeded
    (redemption,) = outcome.redemptions
    assert (redemption.status, redemption.amount, redemption.incentive_id, redemption.incentive_code) == (
        RedemptionStatus.SUCCEEDED,
        500,
        voucher.pk,
        "SAVE10",
    )
    order.refresh_from_db()
    assert (order.status, order.discount_amount, order.total_amount) == (OrderStatus.PAID, 500, 1500)
    types = set(OrderEvent.objects.filter(order=order).values_list("type", flat=True))
    assert {EventType.REDEMPTION_SUCCEEDED, EventType.ORDER_PAID} <= types


def test_failed_validation_records_a_failed_redemption_with_code_and_message():
    rule = make_rule(
        {
            "1": {
                "name": "order.amount",
                "conditions": {"$more_than_or_equal": [5000]},
                "error": {"message": "Spend at least 50"},
            },
            "logic": "1",
        }
    )
    voucher = make_voucher(rules=[rule])
    order = make_order()
    outcome = redeem(order, voucher)
    assert not outcome.succeeded
    assert outcome.first_failure.key == "order_rules_violated"
    assert outcome.first_failure.message == "Spend at least 50"
    failed = Redemption.objects.get(order=order)
    assert (failed.status, failed.failure_code, failed.failure_message, failed.amount) == (
        RedemptionStatus.FAILED,
        "order_rules_violated",
        "Spend at least 50",
        0,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED and order.discount_amount == 0
    assert OrderEvent.objects.filter(order=order, type=EventType.REDEMPTION_FAILED).exists()


def test_customer_rules_violated_when_only_customer_conditions_fail():
    rule = make_rule(
        {"1": {"name": "customer.metadata", "property": "tier", "conditions": {"$is": ["gold"]}}, "logic": "1"}
    )
    voucher = make_voucher(rules=[rule])
    order = make_order(customer=CustomerFactory(metadata={"tier": "silver"}))
    assert redeem(order, voucher).first_failure.key == "customer_rules_violated"


def test_inactive_expired_and_future_incentives_do_not_apply():
    now = timezone.now()
    order = make_order()
    inactive = make_voucher("OFF", active=False)
    expired = make_voucher("OLD", expiration_date=now - dt.timedelta(days=1))
    future = make_voucher("NEW", start_date=now + dt.timedelta(days=1))
    for incentive, message in ((inactive, "Inactive"), (expired, "Expired"), (future, "Not active yet")):
        verdict = redeem(order, incentive).first_failure
        assert (verdict.key, verdict.message) == ("inactive", message)


def test_limits_in_total_and_per_customer():
    customer = CustomerFactory()
    voucher = make_voucher(redemption_limit=2, per_customer_limit=1)
    assert redeem(make_order(customer=customer), voucher).succeeded
    second = redeem(make_order(customer=customer), voucher)
    assert second.first_failure.key == "quantity_exceeded"
    assert "per customer" in second.first_failure.details
    assert redeem(make_order(), voucher).succeeded
    third = redeem(make_order(), voucher)
    assert third.first_failure.key == "quantity_exceeded"
    assert "redeemed 2 of 2 times" in third.first_failure.details


def test_a_rolled_back_redemption_gives_its_use_back():
    from orders import services as order_services

    voucher = make_voucher(redemption_limit=1)
    outcome = redeem(make_order(), voucher)
    order_services.redemption_rollback(redemption=outcome.redemptions[0], actor=SYSTEM)
    assert redeem(make_order(), voucher).succeeded


def test_stacked_redeemables_apply_all_or_none_and_discounts_stack():
    order = make_order()  # 2000
    first = make_voucher("A", amount_off=1500)
    second = make_promotion(percent_off="50")
    outcome = redeem(order, first, second)
    assert [r.amount for r in outcome.redemptions] == [1500, 250]  # 50% of the 500 left
    other = make_order()
    failing = make_voucher("B", rules=[make_rule()])
    outcome = redeem(other, first, failing)
    assert not outcome.succeeded
    assert [r.status for r in Redemption.objects.filter(order=other)] == [RedemptionStatus.FAILED]


def test_unknown_redeemable_is_recorded_as_not_found():
    order = make_order()
    outcome = services.redemption_redeem(
        order=order.pk, redeemables=[validation.Redeemable("voucher", "NOPE")], actor=SYSTEM
    )
    assert outcome.first_failure.key == "not_found"
    failed = Redemption.objects.get(order=order)
    assert (failed.failure_code, failed.incentive_code) == ("not_found", "NOPE")


def test_redeeming_on_a_canceled_order_is_refused_and_writes_nothing():
    from orders import services as order_services

    order = make_order()
    order_services.order_set_status(order=order, status=OrderStatus.CANCELED, actor=SYSTEM)
    with pytest.raises(InvalidStatusTransition):
        redeem(order, make_voucher())
    assert not Redemption.objects.exists()


def test_codes_are_found_in_any_letter_case():
    voucher = make_voucher("Summer-Sale")
    outcome = services.redemption_redeem(
        order=make_order().pk, redeemables=[validation.Redeemable("voucher", "summer-SALE")], actor=SYSTEM
    )
    assert outcome.succeeded and outcome.redemptions[0].incentive_id == voucher.pk


def test_rules_of_an_incentive_all_must_pass():
    voucher = make_voucher(
        rules=[
            make_rule(MIN_5000),
            make_rule({"1": {"name": "order.items.count", "conditions": {"$more_than": [1]}}, "logic": "1"}),
        ]
    )
    order = make_order(items=[{"source_id": "p", "related_object": "product", "quantity": 1, "price": 6000}])
    verdict = redeem(order, voucher).first_failure
    assert verdict.key == "order_rules_violated"
    assert [f.name for f in verdict.failed] == ["order.items.count"]


def test_segment_rules_use_the_customers_segments():
    from segments import services as segment_services

    customer = CustomerFactory()
    segment = segment_services.segment_create(name="VIP", type="static", customers=[customer.pk])
    rule = make_rule({"1": {"name": "customer.segment", "conditions": {"$in": [segment.pk]}}, "logic": "1"})
    voucher = make_voucher(rules=[rule], discount_type=DiscountType.AMOUNT, amount_off=100)
    assert redeem(make_order(customer=customer), voucher).succeeded
    assert redeem(make_order(customer=CustomerFactory()), voucher).first_failure.key == "customer_rules_violated"
