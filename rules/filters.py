"""The ``rule`` filter that rules contributes to the orders list (through
``orders.filters.register_order_filter``, from ``RulesConfig.ready()``): ``?rule=val_…`` keeps the orders
that pass the rule, as ``rules.compiler`` says it in SQL — the set the rule's preview counts."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from . import compiler, selectors
from .models import ValidationRule


class RuleField(forms.CharField):
    """A validation rule id → the rule, with its parsed conditions as ``.ruleset`` (one query)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "Rule id (val_…)", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)  # the text, checked (length included) before it becomes a rule
        if value in self.empty_values:
            return None
        rule = selectors.rule_get(value.strip())
        if rule is None:
            raise ValidationError("No validation rule has the id “%(id)s”.", code="unknown", params={"id": value})
        rule.ruleset = selectors.parsed(rule)
        if rule.ruleset is None:
            raise ValidationError(
                "The rule “%(name)s” cannot be read; fix it in the rule builder.", code="broken", params={"name": rule}
            )
        return rule


class RuleFilter(django_filters.Filter):
    field_class = RuleField


def orders_passing_rule(queryset, name, rule: ValidationRule | None):
    if rule is None:
        return queryset
    return compiler.orders_passing(rule.ruleset, queryset)


def describe(rule: ValidationRule) -> str:
    return f"passes {rule.name}"


def order_filter() -> RuleFilter:
    return RuleFilter(method=orders_passing_rule, label="Passes rule", help_text="Orders that pass a validation rule")
