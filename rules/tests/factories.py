"""Helpers that make rules and incentives through the services, as the dashboard and the API do."""

from orders.choices import IncentiveKind
from rules import services
from rules.choices import DiscountType

MIN_5000 = {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}}, "logic": "1"}


def make_rule(rules=None, *, name: str = "At least 50", error_message: str = ""):
    return services.rule_create(name=name, rules=rules or MIN_5000, error_message=error_message)


def make_voucher(code: str = "SAVE10", *, rules=(), **fields):
    fields.setdefault("name", f"Voucher {code}")
    fields.setdefault("discount_type", DiscountType.AMOUNT)
    if fields["discount_type"] == DiscountType.AMOUNT:
        fields.setdefault("amount_off", 1000)
    return services.incentive_create(kind=IncentiveKind.VOUCHER, code=code, rules=[r.pk for r in rules], **fields)


def make_promotion(name: str = "Summer promotion", *, rules=(), **fields):
    fields.setdefault("discount_type", DiscountType.PERCENT)
    if fields["discount_type"] == DiscountType.PERCENT:
        fields.setdefault("percent_off", "10")
    return services.incentive_create(
        kind=IncentiveKind.PROMOTION_TIER, name=name, rules=[r.pk for r in rules], **fields
    )
