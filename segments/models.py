"""Customer segments (DESIGN §4): data and constraints. Writes live in services.py."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from orders.ids import ID_MAX_LENGTH, id_factory
from orders.models import Customer

from .choices import SegmentType

# A static segment holds at most this many customers (DESIGN §4).
STATIC_MEMBER_LIMIT = 20_000


class Segment(models.Model):
    """A named set of customers: a fixed member list (``static``) or a filter evaluated live
    (``auto-update``, see segments.language), so that members enter and leave as their orders change."""

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("segment"))
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=SegmentType.choices)
    # The canonical filter of an auto-update segment (segments.language.Definition.to_json()); None for static.
    filter = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name", "id"], name="segment_name_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=SegmentType.values), name="segment_type_valid"),
            models.CheckConstraint(condition=~Q(name=""), name="segment_name_not_empty"),
            models.CheckConstraint(
                condition=Q(type=SegmentType.AUTO_UPDATE, filter__isnull=False)
                | Q(type=SegmentType.STATIC, filter__isnull=True),
                name="segment_filter_iff_auto_update",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_static(self) -> bool:
        return self.type == SegmentType.STATIC


class SegmentMember(models.Model):
    """One customer of a static segment."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="segment_memberships", db_index=False)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["segment", "customer"]
        constraints = [
            # also the index of "the members of a segment"
            models.UniqueConstraint(fields=["segment", "customer"], name="segmentmember_unique"),
        ]
        # "the static segments of a customer" (the customer page, the order page's Segments tab)
        indexes = [models.Index(fields=["customer", "segment"], name="segmentmember_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"
