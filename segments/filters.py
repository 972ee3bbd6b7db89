"""The ``segment`` filter that segments contributes to the orders list and the customer list (through
``orders.filters.register_order_filter`` and ``orders.customer_filters.register_customer_filter``, from
``SegmentsConfig.ready()``): ``?segment=seg_…`` keeps the orders of the segment's customers, or the
segment's customers."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from . import selectors
from .models import Segment


class SegmentField(forms.CharField):
    """A segment id → the Segment (one query); an unknown id is a form error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "Segment id (seg_…)", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)  # the text, checked (length) first
        if value in self.empty_values:
            return None
        segment = selectors.segment_get(value.strip())
        if segment is None:
            raise ValidationError("No segment has the id “%(id)s”.", code="unknown", params={"id": value})
        return segment


class SegmentFilter(django_filters.Filter):
    field_class = SegmentField


def orders_of_segment(queryset, name, segment: Segment | None):
    if segment is None:
        return queryset
    return queryset.filter(customer_id__in=selectors.segment_customers(segment).values("pk"))


def customers_of_segment(queryset, name, segment: Segment | None):
    if segment is None:
        return queryset
    return queryset.filter(pk__in=selectors.segment_customers(segment).values("pk"))


def describe(segment: Segment) -> str:
    return segment.name


def order_filter() -> SegmentFilter:
    return SegmentFilter(method=orders_of_segment, label="Segment", help_text="Orders of the segment's customers")


def customer_filter() -> SegmentFilter:
    return SegmentFilter(method=customers_of_segment, label="Segment", help_text="Customers in the segment")
