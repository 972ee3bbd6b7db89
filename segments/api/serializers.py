"""Serializers of the Segments API (Voucherify's segment object, plus ``customers_count``).

The request serializer checks only the shape and JSON types of a body; ``segments.services`` checks the
rest (a blank name, the filter language, customers that do not exist, the static member limit) and names
each problem by its field path (``filter.summary.orders.total_amount.$more_than``, ``customers``).
"""

from functools import cache

from rest_framework import serializers

from orders.api.serializers import ConstantField, TimestampField
from orders.models import SOURCE_ID_MAX_LENGTH

from ..choices import SegmentType
from ..models import STATIC_MEMBER_LIMIT

FILTER_HELP = (
    'The filter language: {"junction": "and"|"or", "<attribute>": {"conditions": {"$operator": [values]}}}, '
    "attributes summary.orders.total_amount, summary.orders.total_count, summary.orders.average_amount, "
    "summary.orders.last_order_amount, summary.orders.last_order_date, created_at, email, name and "
    "metadata.<key>; amounts in minor units, dates as 2026-01-31, 2026-01-31T12:00:00Z or “90 days ago”."
)


class CustomerReferencesField(serializers.ListField):
    """A JSON array of customer ids (cust_…) or source ids. Checked item by item without a child field
    per item (a list may hold tens of thousands); whether they exist is the service's business."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=SOURCE_ID_MAX_LENGTH), **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, (str, dict)) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        errors = {}
        for index, item in enumerate(data):
            if not isinstance(item, str) or not item.strip():
                errors[index] = ["Must be a customer id or source id (non-empty text)."]
            elif len(item) > SOURCE_ID_MAX_LENGTH:
                errors[index] = [f"Must be at most {SOURCE_ID_MAX_LENGTH} characters."]
            if len(errors) >= 20:  # enough to show what is wrong
                break
        if errors:
            raise serializers.ValidationError(errors)
        return [item.strip() for item in data]


class SegmentWriteSerializer(serializers.Serializer):
    """``POST /v1/segments``: a static segment (``customers``) or an auto-update one (``filter``)."""

    name = serializers.CharField(
        allow_blank=True, trim_whitespace=False, help_text="1–200 characters (leading and trailing spaces dropped)."
    )
    type = serializers.ChoiceField(choices=SegmentType.values)
    filter = serializers.DictField(
        required=False, allow_null=True, help_text=f"auto-update only (required). {FILTER_HELP}"
    )
    customers = CustomerReferencesField(
        required=False,
        help_text=f"static only: customer ids (cust_…) or source ids, all existing, at most {STATIC_MEMBER_LIMIT:,}.",
    )

    class Meta:
        ref_name = "SegmentWrite"


class SegmentSerializer(serializers.Serializer):
    """The segment object. ``customers_count`` is counted when answering: an auto-update segment's members
    are whoever its filter selects at that moment."""

    id = serializers.CharField(help_text="seg_…")
    name = serializers.CharField()
    created_at = TimestampField()
    type = serializers.ChoiceField(choices=SegmentType.values)
    filter = serializers.DictField(allow_null=True, help_text="auto-update: the filter (canonical form); static: null.")
    initial_sync_status = ConstantField("DONE")
    customers_count = serializers.IntegerField(help_text="How many customers are in the segment now.")
    object = ConstantField("segment")

    class Meta:
        ref_name = "Segment"


class SegmentListSerializer(serializers.Serializer):
    """Documentation only: the shape of ``GET /v1/segments``."""

    object = ConstantField("list")
    data_ref = ConstantField("segments")
    segments = SegmentSerializer(many=True)
    total = serializers.IntegerField(help_text="How many segments there are.")

    class Meta:
        ref_name = "SegmentList"


@cache
def _shared_segment_serializer() -> SegmentSerializer:
    # One instance serves every response (as orders.api.serializers does): building a serializer's fields
    # costs more than writing a segment.
    return SegmentSerializer()


def serialize_segment(segment) -> dict:
    """The segment object of ``segment``, which carries ``customers_count`` (see segments.api.selectors)."""
    return _shared_segment_serializer().to_representation(segment)


def serialize_segments(segments) -> list[dict]:
    return [serialize_segment(segment) for segment in segments]
