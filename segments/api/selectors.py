"""Reads of the Segments API: segments with their ``customers_count``.

Counting costs a fixed number of queries whatever the number of segments answered:

- a static segment's members are counted by a subquery annotated onto the query that reads the segments;
- auto-update segments are counted together, in one query over the customers holding one conditional
  COUNT per segment (its filter compiled by ``segments.compiler``: the very set that
  ``segments.selectors.segment_customers`` selects), per ``EVALUATE_CHUNK`` segments — one query for a
  page of at most 100.

A stored filter that no longer parses selects nobody (as in ``segments.selectors.segments_of_customer``).
"""

import datetime as dt
from collections.abc import Iterable

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from orders.models import Customer

from .. import compiler, selectors
from .. import language as lang
from ..choices import SegmentType
from ..models import Segment, SegmentMember


def segments_with_static_counts() -> QuerySet:
    """Every segment, with ``customers_count`` annotated: the member count of a static one (0 for an
    auto-update one until ``count_auto_update`` fills it in)."""
    members = (
        SegmentMember.objects.filter(segment_id=OuterRef("pk"))
        .order_by()
        .values("segment_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Segment.objects.annotate(customers_count=Coalesce(Subquery(members), 0))


def count_auto_update(segments: Iterable[Segment], *, now: dt.datetime | None = None) -> None:
    """Set ``customers_count`` of each auto-update segment of ``segments`` to how many customers its filter
    selects now (one query per EVALUATE_CHUNK of them)."""
    now = now or timezone.now()
    auto = [segment for segment in segments if segment.type == SegmentType.AUTO_UPDATE]
    for start in range(0, len(auto), selectors.EVALUATE_CHUNK):
        chunk = auto[start : start + selectors.EVALUATE_CHUNK]
        counts = {}
        for index, segment in enumerate(chunk):
            segment.customers_count = 0
            try:
                q = compiler.to_q(selectors.segment_definition(segment), now=now)
            except lang.FilterError:
                continue
            counts[f"s{index}"] = Count("pk", filter=q)
        if not counts:
            continue
        row = Customer.objects.aggregate(**counts)
        for index, segment in enumerate(chunk):
            segment.customers_count = row.get(f"s{index}") or 0


def segment_with_count(segment: Segment) -> Segment:
    """``segment`` with ``customers_count`` set, counted by ``segments.selectors.segment_member_count``."""
    try:
        segment.customers_count = selectors.segment_member_count(segment)
    except lang.FilterError:
        segment.customers_count = 0
    return segment
