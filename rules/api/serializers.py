"""Serializers of the validation and redemption API (Voucherify's shapes, our field names where theirs do
not apply). Requests reuse the Orders API's order and customer serializers; responses reuse its Order."""

from rest_framework import serializers

from orders.api.serializers import (
    ConstantField,
    CustomerWriteSerializer,
    OrderSerializer,
    OrderWriteSerializer,
    TimestampField,
)
from orders.choices import IncentiveKind, RedemptionStatus
from orders.models import Redemption

from ..choices import DiscountType, ValidationKey

MAX_REDEEMABLES = 5


class RedeemableSerializer(serializers.Serializer):
    object = serializers.ChoiceField(choices=IncentiveKind.values, help_text="voucher or promotion_tier")
    id = serializers.CharField(
        max_length=100, help_text="A voucher's code (any letter case) or an incentive id (v_…, promo_…)."
    )

    class Meta:
        ref_name = "Redeemable"


class ValidationRequestSerializer(serializers.Serializer):
    """``POST /v1/validations`` and ``POST /v1/redemptions``."""

    order = OrderWriteSerializer(
        help_text="An order inline, as POST /v1/orders takes it, or only the id or source_id of a stored order."
    )
    customer = CustomerWriteSerializer(
        required=False, allow_null=True, help_text="The customer, when the order does not name one."
    )
    redeemables = RedeemableSerializer(many=True, help_text=f"1 to {MAX_REDEEMABLES}; discounts stack in this order.")

    class Meta:
        ref_name = "ValidationRequest"

    def validate_redeemables(self, value):
        if not value:
            raise serializers.ValidationError("Name at least one voucher or promotion.")
        if len(value) > MAX_REDEEMABLES:
            raise serializers.ValidationError(f"At most {MAX_REDEEMABLES} redeemables at once.")
        return value


class RollbackRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    class Meta:
        ref_name = "RedemptionRollbackRequest"


# --- responses ------------------------------------------------------------------------------------------


class CalculatedOrderSerializer(OrderSerializer):
    """The order with the discounts computed, not stored; ``id`` is null for an inline order that is not
    stored."""

    id = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "OrderCalculated"


class DiscountSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=DiscountType.values)
    amount_off = serializers.IntegerField(required=False, help_text="AMOUNT: minor units off.")
    percent_off = serializers.FloatField(required=False, help_text="PERCENT: percent off.")
    amount_limit = serializers.IntegerField(required=False, help_text="PERCENT: the largest discount, minor units.")
    effect = serializers.CharField(help_text="APPLY_TO_ORDER")
    amount = serializers.IntegerField(help_text="The discount on this order, in minor units.")

    class Meta:
        ref_name = "ValidationDiscount"


class FailedConditionSerializer(serializers.Serializer):
    rule_id = serializers.CharField(help_text="The validation rule (val_…).")
    condition = serializers.CharField(help_text="The condition's number in the rule.")
    name = serializers.CharField(help_text="The condition's name, e.g. order.amount.")
    message = serializers.CharField(help_text="The condition's message, else the rule's, else a generated one.")

    class Meta:
        ref_name = "ValidationFailedCondition"


class ValidationErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text="400, or 404 for not_found.")
    key = serializers.ChoiceField(choices=ValidationKey.values)
    message = serializers.CharField(help_text="For rules: the failing condition's own message wins over the rule's.")
    details = serializers.CharField()
    failed = FailedConditionSerializer(many=True, required=False, help_text="Rules only: the failing conditions.")

    class Meta:
        ref_name = "ValidationError"


class ValidationResultSerializer(serializers.Serializer):
    discount = DiscountSerializer(required=False)
    error = ValidationErrorSerializer(required=False)

    class Meta:
        ref_name = "ValidationResult"


class ValidatedRedeemableSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="APPLICABLE or INAPPLICABLE.")
    id = serializers.CharField(help_text="As given in the request.")
    object = serializers.ChoiceField(choices=IncentiveKind.values)
    order = CalculatedOrderSerializer(help_text="The order with the discounts up to this one, not stored.")
    result = ValidationResultSerializer()

    class Meta:
        ref_name = "ValidatedRedeemable"


class ValidationResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="True when every redeemable applies.")
    redeemables = ValidatedRedeemableSerializer(many=True)

    class Meta:
        ref_name = "ValidationResponse"


class VoucherRefSerializer(serializers.Serializer):
    id = serializers.CharField(allow_blank=True)
    code = serializers.CharField(allow_blank=True)
    object = ConstantField("voucher")

    class Meta:
        ref_name = "RedemptionVoucher"


class PromotionRefSerializer(serializers.Serializer):
    id = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    object = ConstantField("promotion_tier")

    class Meta:
        ref_name = "RedemptionPromotionTier"


class RedemptionObjectSerializer(serializers.Serializer):
    """A redemption (Voucherify's redemption object, without the fields we do not keep)."""

    id = serializers.CharField()
    object = ConstantField("redemption")
    date = TimestampField(source="created_at")
    customer_id = serializers.CharField(allow_null=True)
    order_id = serializers.CharField()
    amount = serializers.IntegerField(help_text="The discount applied, in minor units.")
    result = serializers.SerializerMethodField()
    status = serializers.CharField(help_text="SUCCEEDED or FAILED (ROLLED_BACK once rolled back).")
    failure_code = serializers.CharField(required=False)
    failure_message = serializers.CharField(required=False)
    related_object_type = serializers.CharField(source="incentive_kind", help_text="voucher or promotion_tier")
    related_object_id = serializers.CharField(source="incentive_id")
    voucher = VoucherRefSerializer(required=False)
    promotion_tier = PromotionRefSerializer(required=False)

    class Meta:
        ref_name = "Redemption"

    def get_result(self, redemption: Redemption) -> str:
        """SUCCESS or FAILURE."""
        return "FAILURE" if redemption.status == RedemptionStatus.FAILED else "SUCCESS"

    def to_representation(self, redemption: Redemption):
        data = {
            "id": redemption.pk,
            "object": "redemption",
            "date": self.fields["date"].to_representation(redemption.created_at),
            "customer_id": redemption.customer_id,
            "order_id": redemption.order_id,
            "amount": redemption.amount,
            "result": self.get_result(redemption),
            "status": redemption.status,
            "related_object_type": redemption.incentive_kind,
            "related_object_id": redemption.incentive_id,
        }
        if redemption.status == RedemptionStatus.FAILED:
            data["failure_code"] = redemption.failure_code
            data["failure_message"] = redemption.failure_message
        if redemption.incentive_kind == IncentiveKind.VOUCHER:
            data["voucher"] = {"id": redemption.incentive_id, "code": redemption.incentive_code, "object": "voucher"}
        else:
            data["promotion_tier"] = {
                "id": redemption.incentive_id,
                "name": redemption.incentive_name,
                "object": "promotion_tier",
            }
        return data


class RedemptionResponseSerializer(serializers.Serializer):
    redemptions = RedemptionObjectSerializer(many=True)
    order = OrderSerializer(help_text="The order after the redemption (PAID, discounts applied).")

    class Meta:
        ref_name = "RedemptionResponse"


class RollbackResponseSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The rollback's id (rr_…).")
    object = ConstantField("redemption_rollback")
    date = TimestampField()
    redemption = serializers.CharField(help_text="The redemption rolled back (r_…).")
    customer_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    amount = serializers.IntegerField(help_text="The discount taken back from the order, in minor units.")
    result = ConstantField("SUCCESS")
    status = ConstantField("SUCCEEDED")
    order = OrderSerializer(help_text="The order after the rollback (CANCELED).")

    class Meta:
        ref_name = "RedemptionRollback"


# --- validation rules -------------------------------------------------------------------------------------


class RuleErrorSerializer(serializers.Serializer):
    message = serializers.CharField(allow_blank=True, max_length=500)

    class Meta:
        ref_name = "ValidationRuleError"


class RuleWriteSerializer(serializers.Serializer):
    """``POST /v1/validation-rules`` and ``PUT /v1/validation-rules/{id}`` (what is not sent is unchanged)."""

    name = serializers.CharField(max_length=200, required=False)
    rules = serializers.DictField(
        required=False,
        help_text='Numbered conditions and a logic expression: {"1": {"name": "order.amount", "conditions": '
        '{"$more_than_or_equal": [5000]}, "error": {"message": "…"}}, "logic": "1"}.',
    )
    error = RuleErrorSerializer(required=False, help_text="The message when a failing condition has none.")

    class Meta:
        ref_name = "ValidationRuleWrite"


class RuleSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    rules = serializers.DictField(help_text="The canonical form of the conditions and logic.")
    error = serializers.SerializerMethodField()
    assignments_count = serializers.IntegerField(help_text="How many incentives use the rule.")
    created_at = TimestampField()
    updated_at = TimestampField()
    object = ConstantField("validation_rules")

    class Meta:
        ref_name = "ValidationRule"

    def get_error(self, rule) -> dict[str, str] | None:
        """``{"message": …}`` or null."""
        return {"message": rule.error_message} if rule.error_message else None


class RuleListSerializer(serializers.Serializer):
    object = ConstantField("list")
    data_ref = ConstantField("data")
    data = RuleSerializer(many=True)
    total = serializers.IntegerField()

    class Meta:
        ref_name = "ValidationRuleList"
