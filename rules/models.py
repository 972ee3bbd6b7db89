"""Validation rules and incentives (DESIGN §4): data and constraints. Writes live in services.py.

The redemptions of an incentive are ``orders.Redemption`` rows (their ``incentive_id`` is the incentive's
id): ``orders`` records them, ``rules`` decides when.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone

from orders.choices import IncentiveKind
from orders.ids import ID_MAX_LENGTH, id_factory

from .choices import DiscountType

NAME_MAX_LENGTH = 200
MESSAGE_MAX_LENGTH = 500
CODE_MAX_LENGTH = 100


class ValidationRule(models.Model):
    """Numbered conditions and a logic expression (``rules.language``), stored in the canonical form of the
    public Voucherify shape; ``error_message`` is said when a failing condition has no message of its own."""

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("validation_rule"))
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    rules = models.JSONField(default=dict)
    error_message = models.CharField(max_length=MESSAGE_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="validationrule_name_idx")]
        constraints = [models.CheckConstraint(condition=~Q(name=""), name="validationrule_name_not_empty")]

    def __str__(self) -> str:
        return self.name


class Incentive(models.Model):
    """A discount code (``voucher``: ``code`` unique in any letter case) or an automatic promotion
    (``promotion_tier``: no code), with its discount, validity and limits, gated by validation rules.
    Ids are ``v_…`` for vouchers and ``promo_…`` for promotions (set by ``rules.services``)."""

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("voucher"))
    kind = models.CharField(max_length=16, choices=IncentiveKind.choices, default=IncentiveKind.VOUCHER)
    code = models.CharField(max_length=CODE_MAX_LENGTH, null=True, blank=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    discount_type = models.CharField(max_length=8, choices=DiscountType.choices, default=DiscountType.AMOUNT)
    amount_off = models.BigIntegerField(null=True, blank=True, help_text="Minor units (cents).")
    percent_off = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(100))],
    )
    amount_limit = models.BigIntegerField(
        null=True, blank=True, help_text="Percent off only: the largest discount, in minor units."
    )
    active = models.BooleanField(default=True)
    start_date = models.DateTimeField(null=True, blank=True)
    expiration_date = models.DateTimeField(null=True, blank=True)
    redemption_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Successful redemptions in all.")
    per_customer_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Successful redemptions per customer."
    )
    validation_rules = models.ManyToManyField(
        ValidationRule, through="IncentiveRule", related_name="incentives", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        permissions = [("redeem_incentive", "Can redeem incentives on orders")]
        indexes = [
            models.Index(fields=["name", "id"], name="incentive_name_idx"),
            models.Index(fields=["active", "kind"], name="incentive_active_idx"),
        ]
        constraints = [
            # also the index that finds a code in any letter case
            models.UniqueConstraint(Upper("code"), name="incentive_code_upper_unique"),
            models.CheckConstraint(condition=~Q(name=""), name="incentive_name_not_empty"),
            models.CheckConstraint(condition=Q(kind__in=IncentiveKind.values), name="incentive_kind_valid"),
            models.CheckConstraint(
                condition=(Q(kind=IncentiveKind.VOUCHER, code__isnull=False) & ~Q(code=""))
                | Q(kind=IncentiveKind.PROMOTION_TIER, code__isnull=True),
                name="incentive_code_iff_voucher",
            ),
            models.CheckConstraint(
                condition=Q(
                    discount_type=DiscountType.AMOUNT,
                    amount_off__gte=0,
                    percent_off__isnull=True,
                    amount_limit__isnull=True,
                )
                | Q(
                    discount_type=DiscountType.PERCENT,
                    amount_off__isnull=True,
                    percent_off__gt=0,
                    percent_off__lte=100,
                ),
                name="incentive_discount_valid",
            ),
            models.CheckConstraint(
                condition=Q(amount_limit__isnull=True) | Q(amount_limit__gte=0), name="incentive_amount_limit_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(expiration_date__isnull=True)
                | Q(start_date__lt=F("expiration_date")),
                name="incentive_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.code or self.name

    @property
    def is_voucher(self) -> bool:
        return self.kind == IncentiveKind.VOUCHER

    def is_live(self, now=None) -> bool:
        """Active, and inside its validity window."""
        now = now or timezone.now()
        if not self.active:
            return False
        if self.start_date and now < self.start_date:
            return False
        return not (self.expiration_date and now >= self.expiration_date)


class IncentiveRule(models.Model):
    """A validation rule assigned to an incentive (a rule in use cannot be deleted)."""

    incentive = models.ForeignKey(Incentive, on_delete=models.CASCADE, related_name="rule_links", db_index=False)
    rule = models.ForeignKey(ValidationRule, on_delete=models.PROTECT, related_name="incentive_links")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["incentive", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["incentive", "rule"], name="incentiverule_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.incentive_id}"
