"""Reads of segments: definitions, members, counts, the segments of a customer, customer references.

Every function issues a fixed number of queries, whatever the number of members or segments (up to the
chunk sizes noted).
"""

import datetime as dt
from collections.abc import Iterable

from django.db.models import BooleanField, Case, Exists, OuterRef, Q, QuerySet, Value, When

from orders.choices import MetadataObject
from orders.models import Customer, MetadataSchemaProperty

from . import compiler
from . import language as lang
from .choices import SegmentType
from .models import Segment, SegmentMember

# Customer references are looked up this many at a time (well under SQLite's bound-parameter limit).
REFERENCE_CHUNK = 2000
# Auto-update segments evaluated for one customer in one query (one column each).
EVALUATE_CHUNK = 100


def customer_metadata_types() -> dict[str, str]:
    """Key → type of the customer metadata schema (one query); what ``language.parse`` checks values by."""
    return dict(
        MetadataSchemaProperty.objects.filter(schema__related_object=MetadataObject.CUSTOMER).values_list("key", "type")
    )


def segment_get(segment_id: str) -> Segment | None:
    return Segment.objects.filter(pk=segment_id).first()


def segment_definition(segment: Segment) -> lang.Definition | None:
    """The parsed filter of an auto-update segment (None for a static one). Stored filters were checked
    when saved; a filter that no longer parses raises ``language.FilterError``."""
    if segment.type != SegmentType.AUTO_UPDATE:
        return None
    return lang.parse(segment.filter)


def segment_customers(segment: Segment, *, now: dt.datetime | None = None) -> QuerySet:
    """The customers in ``segment`` now, as one unordered queryset: the filter of an auto-update segment,
    or the member list of a static one."""
    if segment.type == SegmentType.AUTO_UPDATE:
        return Customer.objects.filter(compiler.to_q(segment_definition(segment), now=now)).order_by()
    members = SegmentMember.objects.filter(segment_id=segment.pk, customer_id=OuterRef("pk"))
    return Customer.objects.filter(Exists(members)).order_by()


def segment_member_count(segment: Segment, *, now: dt.datetime | None = None) -> int:
    if segment.type == SegmentType.STATIC:
        return SegmentMember.objects.filter(segment_id=segment.pk).count()
    return segment_customers(segment, now=now).count()


def definition_count(definition: lang.Definition, *, now: dt.datetime | None = None) -> int:
    """How many customers a (not yet saved) filter selects: the builder's live count."""
    return Customer.objects.filter(compiler.to_q(definition, now=now)).count()


def segments_of_customer(customer_id: str, *, now: dt.datetime | None = None) -> list[Segment]:
    """The segments ``customer_id`` is in, by name: static ones by their member list, auto-update ones by
    evaluating all their filters against this one customer in a single query (two queries in all, per
    100 auto-update segments)."""
    candidates = list(
        Segment.objects.filter(
            Q(type=SegmentType.AUTO_UPDATE)
            | Exists(SegmentMember.objects.filter(segment=OuterRef("pk"), customer_id=customer_id))
        ).order_by("name", "id")
    )
    auto = [segment for segment in candidates if segment.type == SegmentType.AUTO_UPDATE]
    inside = {segment.pk for segment in candidates if segment.type == SegmentType.STATIC}
    for start in range(0, len(auto), EVALUATE_CHUNK):
        columns = {}
        for index, segment in enumerate(auto[start : start + EVALUATE_CHUNK]):
            try:
                q = compiler.to_q(segment_definition(segment), now=now)
            except lang.FilterError:
                continue  # a filter that no longer parses selects nobody (its page says why)
            columns[f"s{index}"] = Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())
        if not columns:
            continue
        row = Customer.objects.filter(pk=customer_id).values(**columns).first() or {}
        for index, segment in enumerate(auto[start : start + EVALUATE_CHUNK]):
            if row.get(f"s{index}"):
                inside.add(segment.pk)
    return [segment for segment in candidates if segment.pk in inside]


def resolve_customer_refs(refs: Iterable[str]) -> tuple[list[str], list[str]]:
    """Customer ids or source ids → (the customer ids found, in the order given, without repeats; the
    references that match no customer). An id wins over a source id that happens to be the same text."""
    wanted = list(dict.fromkeys(ref for ref in refs if ref))
    by_id: dict[str, str] = {}
    by_source: dict[str, str] = {}
    for start in range(0, len(wanted), REFERENCE_CHUNK):
        chunk = wanted[start : start + REFERENCE_CHUNK]
        for pk, source_id in Customer.objects.filter(Q(pk__in=chunk) | Q(source_id__in=chunk)).values_list(
            "pk", "source_id"
        ):
            by_id[pk] = pk
            if source_id:
                by_source[source_id] = pk
    found, unknown = [], []
    for ref in wanted:
        pk = by_id.get(ref) or by_source.get(ref)
        (found if pk else unknown).append(pk or ref)
    return list(dict.fromkeys(found)), unknown


def existing_members(segment: Segment, customer_ids: list[str]) -> set[str]:
    """Which of ``customer_ids`` are already members of the static ``segment``."""
    present: set[str] = set()
    for start in range(0, len(customer_ids), REFERENCE_CHUNK):
        chunk = customer_ids[start : start + REFERENCE_CHUNK]
        present.update(
            SegmentMember.objects.filter(segment_id=segment.pk, customer_id__in=chunk).values_list(
                "customer_id", flat=True
            )
        )
    return present
