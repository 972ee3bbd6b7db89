"""Enumerations of the rules app. The incentive kinds (voucher, promotion_tier) are ``orders.choices.
IncentiveKind``: redemptions record them."""

from django.db import models


class DiscountType(models.TextChoices):
    AMOUNT = "AMOUNT", "Amount off"
    PERCENT = "PERCENT", "Percent off"


class ValidationKey(models.TextChoices):
    """Why a redeemable is inapplicable (the API's ``error.key``; a FAILED redemption's failure code)."""

    NOT_FOUND = "not_found", "Not found"
    INACTIVE = "inactive", "Inactive"
    QUANTITY_EXCEEDED = "quantity_exceeded", "Redemption limit reached"
    ORDER_RULES_VIOLATED = "order_rules_violated", "Order rules violated"
    CUSTOMER_RULES_VIOLATED = "customer_rules_violated", "Customer rules violated"
