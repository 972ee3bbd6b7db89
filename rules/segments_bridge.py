"""What rules needs from ``segments`` (the ``customer.segment`` condition), in one place: the segments a
customer is in (for the evaluator), the customers of a segment (for the compiler), and segments by id or
name (for checking and building rules). Everything goes through ``segments.selectors``."""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from orders.models import Customer
from segments import selectors as segment_selectors
from segments.models import Segment

SEARCH_LIMIT = 20


def segment_ids_of_customer(customer_id: str | None) -> frozenset[str]:
    """The ids of the segments the customer is in now (a fixed number of queries); none without a customer."""
    if not customer_id:
        return frozenset()
    return frozenset(segment.pk for segment in segment_selectors.segments_of_customer(customer_id))


def customers_in_segment(segment_id: str) -> QuerySet:
    """The customers of the segment as an unordered queryset; none when the segment does not exist (it was
    deleted after a rule named it) or its filter no longer reads."""
    segment = segment_selectors.segment_get(segment_id)
    if segment is None:
        return Customer.objects.none()
    try:
        return segment_selectors.segment_customers(segment)
    except ValueError:  # segments.language.FilterError: a filter that no longer parses selects nobody
        return Customer.objects.none()


def segments_by_id(ids: Iterable[str]) -> dict[str, Segment]:
    wanted = list(dict.fromkeys(ids))
    return {segment.pk: segment for segment in Segment.objects.filter(pk__in=wanted)} if wanted else {}


def segment_search(text: str, *, limit: int = SEARCH_LIMIT) -> list[Segment]:
    """Segments whose id is ``text`` or whose name contains it (any case), by name."""
    text = (text or "").strip()
    queryset = Segment.objects.order_by("name", "id")
    if text:
        queryset = queryset.filter(Q(pk=text) | Q(name__icontains=text))
    return list(queryset[:limit])
