"""Every write to segments. Views, forms and the API call these; nothing else saves a Segment or a member.

Contract of every service:
- keyword-only, one transaction (``@transaction.atomic``): a failure leaves nothing half-done;
- raises ``orders.exceptions.InvalidInput`` (``errors``: field path → messages, the same envelope as the
  orders services) for bad input before writing anything, and ``NotFound`` for an unknown segment;
- a filter is stored in its canonical form (``segments.language.Definition.to_json()``), checked against
  the customer metadata schema;
- a static segment never holds more than ``STATIC_MEMBER_LIMIT`` customers: additions that would pass it
  are refused whole, as are lists naming customers that do not exist (the error lists them).
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from orders.exceptions import InvalidInput, NotFound

from . import language as lang
from . import selectors
from .choices import SegmentType
from .models import STATIC_MEMBER_LIMIT, Segment, SegmentMember

__all__ = [
    "UNSET",
    "parse_customer_refs",
    "segment_add_customers",
    "segment_create",
    "segment_delete",
    "segment_remove_customers",
    "segment_update",
]

NAME_MAX_LENGTH = 200
# How many unknown references an error message lists before "and N more".
UNKNOWN_SHOWN = 20
# Separators of a pasted or uploaded list of ids: new lines, commas, semicolons, tabs, spaces.
_SEPARATORS = re.compile(r"[\s,;]+")
_HEADER_WORDS = {"id", "ids", "source_id", "customer_id", "customer", "customers"}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


def parse_customer_refs(text: str) -> list[str]:
    """A pasted or uploaded list → references (customer ids or source ids), in order, without repeats.
    Any of new lines, commas, semicolons, tabs or spaces separate them; quotes around one are dropped;
    a header word first ("id", "source_id", …, as a CSV export starts) is skipped."""
    refs = [token.strip().strip("\"'") for token in _SEPARATORS.split(text or "")]
    refs = [ref for ref in refs if ref]
    if refs and refs[0].lower() in _HEADER_WORDS:
        refs = refs[1:]
    return list(dict.fromkeys(refs))


def _name(value, errors: dict[str, list[str]]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.setdefault("name", []).append("must not be empty")
        return None
    if len(value.strip()) > NAME_MAX_LENGTH:
        errors.setdefault("name", []).append(f"must be at most {NAME_MAX_LENGTH} characters")
        return None
    return value.strip()


def _filter(value, errors: dict[str, list[str]]) -> dict | None:
    try:
        definition = lang.parse(value, metadata_types=selectors.customer_metadata_types())
    except lang.FilterError as problem:
        for path, message in problem.problems:
            errors.setdefault(f"filter.{path}" if path else "filter", []).append(message)
        return None
    return definition.to_json()


def _unknown_message(unknown: list[str]) -> str:
    shown = ", ".join(unknown[:UNKNOWN_SHOWN])
    more = f" and {len(unknown) - UNKNOWN_SHOWN:,} more" if len(unknown) > UNKNOWN_SHOWN else ""
    noun = "reference matches" if len(unknown) == 1 else "references match"
    return f"{len(unknown):,} {noun} no customer (by id or source id): {shown}{more}"


def _limit_message(current: int, new: int) -> str:
    over = current + new - STATIC_MEMBER_LIMIT
    return (
        f"a static segment holds at most {STATIC_MEMBER_LIMIT:,} customers: it has {current:,} and {new:,} "
        f"new ones were given, {over:,} too many"
    )


def _resolve(customers: Iterable[str], errors: dict[str, list[str]], *, current: int = 0) -> list[str]:
    refs = list(dict.fromkeys(str(ref).strip() for ref in customers if ref is not None and str(ref).strip()))
    if len(refs) > STATIC_MEMBER_LIMIT:
        errors.setdefault("customers", []).append(_limit_message(current, len(refs)))
        return []
    ids, unknown = selectors.resolve_customer_refs(refs)
    if unknown:
        errors.setdefault("customers", []).append(_unknown_message(unknown))
    return ids


def _lock(segment: Segment | str) -> Segment:
    segment_id = segment.pk if isinstance(segment, Segment) else segment
    locked = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if locked is None:
        raise NotFound("segment", str(segment_id))
    return locked


@transaction.atomic
def segment_create(
    *, name: str, type: str, filter: Mapping[str, Any] | None = None, customers: Iterable[str] = ()
) -> Segment:
    """Create a segment.

    ``type="auto-update"`` needs ``filter`` (the filter language, segments.language) and takes no
    ``customers``; ``type="static"`` takes no filter and, optionally, ``customers``: ids or source ids,
    all of which must exist, at most ``STATIC_MEMBER_LIMIT``. Raises InvalidInput naming every problem.
    """
    errors: dict[str, list[str]] = {}
    clean_name = _name(name, errors)
    customer_list = list(customers or ())
    stored_filter = None
    ids: list[str] = []
    if type == SegmentType.AUTO_UPDATE:
        if filter is None:
            errors.setdefault("filter", []).append("an auto-update segment needs a filter")
        else:
            stored_filter = _filter(filter, errors)
        if customer_list:
            errors.setdefault("customers", []).append("an auto-update segment takes a filter, not a member list")
    elif type == SegmentType.STATIC:
        if filter is not None:
            errors.setdefault("filter", []).append("a static segment has a member list, not a filter")
        ids = _resolve(customer_list, errors)
    else:
        errors.setdefault("type", []).append(f"must be “static” or “auto-update”, not {type!r}")
    if errors:
        raise InvalidInput(errors)
    now = timezone.now()
    segment = Segment.objects.create(name=clean_name, type=type, filter=stored_filter, created_at=now, updated_at=now)
    if ids:
        SegmentMember.objects.bulk_create(
            [SegmentMember(segment=segment, customer_id=pk, added_at=now) for pk in ids], batch_size=1000
        )
    return segment


@transaction.atomic
def segment_update(*, segment: Segment | str, name: str = UNSET, filter: Mapping[str, Any] = UNSET) -> Segment:
    """Rename a segment and/or replace the filter of an auto-update one (a static segment's members change
    through segment_add_customers / segment_remove_customers; a segment's type never changes). Raises
    NotFound, or InvalidInput naming every problem."""
    locked = _lock(segment)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if name is not UNSET:
        clean = _name(name, errors)
        if clean is not None and clean != locked.name:
            changes["name"] = clean
    if filter is not UNSET:
        if locked.type != SegmentType.AUTO_UPDATE:
            errors.setdefault("filter", []).append("a static segment has a member list, not a filter")
        else:
            stored = _filter(filter, errors)
            if stored is not None and stored != locked.filter:
                changes["filter"] = stored
    if errors:
        raise InvalidInput(errors)
    if changes:
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.updated_at = timezone.now()
        locked.save(update_fields=[*changes, "updated_at"])
    return locked


@transaction.atomic
def segment_delete(*, segment: Segment | str) -> None:
    """Delete a segment and its member list. Raises NotFound."""
    _lock(segment).delete()


@transaction.atomic
def segment_add_customers(*, segment: Segment | str, customers: Iterable[str]) -> int:
    """Add customers (ids or source ids) to a static segment; returns how many were not members yet.

    All or nothing: an unknown reference, or a result past ``STATIC_MEMBER_LIMIT`` members, raises
    InvalidInput (path ``customers``) and adds nobody. The segment row is locked, so concurrent additions
    cannot pass the limit together."""
    locked = _lock(segment)
    errors: dict[str, list[str]] = {}
    if locked.type != SegmentType.STATIC:
        raise InvalidInput({"customers": ["an auto-update segment's members come from its filter"]})
    current = SegmentMember.objects.filter(segment_id=locked.pk).count()
    ids = _resolve(customers, errors, current=current)
    if errors:
        raise InvalidInput(errors)
    if not ids:
        raise InvalidInput({"customers": ["give at least one customer id or source id"]})
    present = selectors.existing_members(locked, ids)
    new = [pk for pk in ids if pk not in present]
    if current + len(new) > STATIC_MEMBER_LIMIT:
        raise InvalidInput({"customers": [_limit_message(current, len(new))]})
    now = timezone.now()
    SegmentMember.objects.bulk_create(
        [SegmentMember(segment=locked, customer_id=pk, added_at=now) for pk in new], batch_size=1000
    )
    if new:
        locked.updated_at = now
        locked.save(update_fields=["updated_at"])
    return len(new)


@transaction.atomic
def segment_remove_customers(*, segment: Segment | str, customers: Iterable[str]) -> int:
    """Remove customers (ids or source ids) from a static segment; returns how many were members.
    References that are not members are ignored (removing is idempotent)."""
    locked = _lock(segment)
    if locked.type != SegmentType.STATIC:
        raise InvalidInput({"customers": ["an auto-update segment's members come from its filter"]})
    ids, _unknown = selectors.resolve_customer_refs(str(ref) for ref in customers)
    removed = 0
    for start in range(0, len(ids), selectors.REFERENCE_CHUNK):
        chunk = ids[start : start + selectors.REFERENCE_CHUNK]
        removed += SegmentMember.objects.filter(segment_id=locked.pk, customer_id__in=chunk).delete()[0]
    if removed:
        locked.updated_at = timezone.now()
        locked.save(update_fields=["updated_at"])
    return removed
