"""Forms of the rules pages: what people type, checked and turned into service arguments. The services
check everything again (and own the rules of uniqueness and consistency); their errors come back onto the
fields they name (``apply_service_errors``)."""

import datetime as dt

from django import forms
from django.utils import timezone

from orders.choices import IncentiveKind
from orders.filters import MoneyField
from orders.money import minor_to_input

from .choices import DiscountType
from .models import CODE_MAX_LENGTH, NAME_MAX_LENGTH, Incentive

DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class IncentiveForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            (IncentiveKind.VOUCHER, "Discount code (voucher)"),
            (IncentiveKind.PROMOTION_TIER, "Automatic promotion (no code)"),
        ],
        widget=forms.RadioSelect,
        initial=IncentiveKind.VOUCHER,
    )
    code = forms.CharField(
        max_length=CODE_MAX_LENGTH, required=False, help_text="Vouchers only. Unique in any letter case."
    )
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    discount_type = forms.ChoiceField(
        choices=DiscountType.choices, widget=forms.RadioSelect, initial=DiscountType.AMOUNT
    )
    amount_off = MoneyField(required=False, label="Amount off")
    percent_off = forms.DecimalField(
        required=False, min_value=0, max_value=100, decimal_places=2, label="Percent off", help_text="e.g. 12.5"
    )
    amount_limit = MoneyField(required=False, label="At most", help_text="Percent off only: the largest discount.")
    active = forms.BooleanField(required=False, initial=True)
    start_date = forms.DateTimeField(required=False, widget=DATETIME_INPUT, label="Valid from")
    expiration_date = forms.DateTimeField(required=False, widget=DATETIME_INPUT, label="Valid until")
    redemption_limit = forms.IntegerField(
        required=False, min_value=1, label="Redemptions in all", help_text="Empty: no limit."
    )
    per_customer_limit = forms.IntegerField(
        required=False, min_value=1, label="Redemptions per customer", help_text="Empty: no limit."
    )
    rules = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Validation rules", help_text="All must pass."
    )

    def __init__(self, *args, rule_choices=(), kind_fixed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rules"].choices = list(rule_choices)
        if kind_fixed:
            self.fields["kind"].disabled = True

    def service_arguments(self) -> dict:
        data = dict(self.cleaned_data)
        kind = data["kind"]
        arguments = {
            "kind": kind,
            "code": (data.get("code") or "").strip() or None if kind == IncentiveKind.VOUCHER else None,
            "name": data["name"],
            "discount_type": data["discount_type"],
            "amount_off": data.get("amount_off"),
            "percent_off": data.get("percent_off"),
            "amount_limit": data.get("amount_limit"),
            "active": bool(data.get("active")),
            "start_date": data.get("start_date"),
            "expiration_date": data.get("expiration_date"),
            "redemption_limit": data.get("redemption_limit"),
            "per_customer_limit": data.get("per_customer_limit"),
            "rules": list(data.get("rules") or []),
        }
        if data["discount_type"] == DiscountType.PERCENT:
            arguments["amount_off"] = None
        else:
            arguments["percent_off"] = arguments["amount_limit"] = None
        return arguments

    def apply_service_errors(self, errors: dict[str, list[str]]) -> None:
        for path, messages in errors.items():
            field = path if path in self.fields else None
            for message in messages:
                self.add_error(field, message if field else f"{path}: {message}" if path else message)


def initial_of(incentive: Incentive) -> dict:
    def local(moment: dt.datetime | None):
        return timezone.localtime(moment) if moment else None

    return {
        "kind": incentive.kind,
        "code": incentive.code or "",
        "name": incentive.name,
        "discount_type": incentive.discount_type,
        "amount_off": minor_to_input(incentive.amount_off),
        "percent_off": incentive.percent_off,
        "amount_limit": minor_to_input(incentive.amount_limit),
        "active": incentive.active,
        "start_date": local(incentive.start_date),
        "expiration_date": local(incentive.expiration_date),
        "redemption_limit": incentive.redemption_limit,
        "per_customer_limit": incentive.per_customer_limit,
        "rules": [link.rule_id for link in incentive.rule_links.all()],
    }
