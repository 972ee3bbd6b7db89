"""Reads of the rules app: order snapshots for the evaluator, rules and incentives, redemption counts,
catalog and segment searches for the builder. Each function issues a fixed number of queries."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Upper
from django.db.models.lookups import Exact
from django.utils import timezone

from orders.choices import IncentiveKind, RedemptionStatus
from orders.models import SKU, Order, OrderItem, Product, Redemption

from . import language as lang
from . import segments_bridge
from .evaluator import Line, OrderSnapshot
from .models import Incentive, IncentiveRule, ValidationRule

SEARCH_LIMIT = 20


# --- orders ----------------------------------------------------------------------------------------------


def snapshot_of(order: Order, lines: Iterable[OrderItem] | None = None) -> OrderSnapshot:
    """What the evaluator reads of ``order`` (its customer should be loaded with it, its items given or
    prefetched)."""
    items = order.items.all() if lines is None else lines
    customer = order.customer if order.customer_id else None
    return OrderSnapshot(
        id=order.pk,
        amount=order.amount,
        total_amount=order.total_amount,
        initial_amount=order.initial_amount,
        metadata=order.metadata if isinstance(order.metadata, dict) else {},
        lines=tuple(
            Line(
                product_id=item.product_id,
                sku_id=item.sku_id,
                quantity=item.quantity,
                price=item.price,
                amount=item.amount,
            )
            for item in items
        ),
        customer_id=order.customer_id,
        customer_metadata=(customer.metadata if customer is not None and isinstance(customer.metadata, dict) else {}),
    )


def order_with_lines(order_ref: str, *, lock: bool = False) -> Order | None:
    """The order named by id (or, failing that, by source id) with its customer and its lines: two queries.
    ``lock``: SELECT … FOR UPDATE of the order row (inside a transaction)."""
    queryset = Order.objects.select_related("customer")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    order = queryset.filter(pk=order_ref).first() or (
        queryset.filter(source_id=order_ref).first() if order_ref else None
    )
    if order is None:
        return None
    order._rules_lines = list(OrderItem.objects.filter(order_id=order.pk).order_by("position", "id"))
    return order


def order_snapshot(order: Order) -> OrderSnapshot:
    return snapshot_of(order, getattr(order, "_rules_lines", None))


def segment_ids_for(rulesets: Iterable[lang.RuleSet], customer_id: str | None) -> frozenset[str]:
    """The customer's segment ids, looked up only when one of the rules names segments."""
    if customer_id and any(ruleset.uses_segments for ruleset in rulesets):
        return segments_bridge.segment_ids_of_customer(customer_id)
    return frozenset()


# --- rules -----------------------------------------------------------------------------------------------


def rule_get(rule_id: str) -> ValidationRule | None:
    return ValidationRule.objects.filter(pk=rule_id).first()


def rules_list() -> QuerySet:
    return ValidationRule.objects.annotate(incentive_count=Count("incentive_links")).order_by("name", "id")


def parsed(rule: ValidationRule) -> lang.RuleSet | None:
    """The rule's parsed conditions; None when what is stored no longer reads (it was checked when saved)."""
    try:
        return lang.parse(rule.rules)
    except lang.RuleError:
        return None


# --- incentives ------------------------------------------------------------------------------------------


def with_rules(queryset: QuerySet) -> QuerySet:
    return queryset.prefetch_related(
        Prefetch("rule_links", queryset=IncentiveRule.objects.select_related("rule").order_by("position", "id"))
    )


def incentive_rules(incentive: Incentive) -> list[ValidationRule]:
    return [link.rule for link in incentive.rule_links.all()]


def incentive_get(incentive_id: str) -> Incentive | None:
    return with_rules(Incentive.objects.filter(pk=incentive_id)).first()


def incentive_find(ref: str, *, kind: str | None = None) -> Incentive | None:
    """An incentive by id, or a voucher by its code in any letter case (the unique index on UPPER(code))."""
    ref = (ref or "").strip()
    if not ref:
        return None
    queryset = with_rules(Incentive.objects.all())
    if kind:
        queryset = queryset.filter(kind=kind)
    named = Q(pk=ref)
    if kind != IncentiveKind.PROMOTION_TIER:
        named |= Q(Exact(Upper("code"), Upper(Value(ref))))
    found = list(queryset.filter(named)[:2])  # one query: the id, or the code (an id wins over a code)
    return next((incentive for incentive in found if incentive.pk == ref), found[0] if found else None)


def live_incentives(now: dt.datetime | None = None) -> list[Incentive]:
    """Every active incentive inside its validity window, with its rules (two queries)."""
    now = now or timezone.now()
    started = Q(start_date__isnull=True) | Q(start_date__lte=now)
    running = Q(expiration_date__isnull=True) | Q(expiration_date__gt=now)
    queryset = Incentive.objects.filter(started, running, active=True)
    return list(with_rules(queryset).order_by("name", "id"))


def incentives_list() -> QuerySet:
    return Incentive.objects.annotate(rule_count=Count("rule_links")).order_by("name", "id")


@dataclass(frozen=True)
class RedemptionCounts:
    succeeded: int = 0
    failed: int = 0
    rolled_back: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.rolled_back


def redemption_counts(incentive_ids: Iterable[str]) -> dict[str, RedemptionCounts]:
    """Redemptions by status for each incentive (one grouped query on the (incentive_id, status) index)."""
    ids = list(incentive_ids)
    if not ids:
        return {}
    rows = (
        Redemption.objects.filter(incentive_id__in=ids)
        .order_by()
        .values("incentive_id", "status")
        .annotate(n=Count("id"))
        .values_list("incentive_id", "status", "n")
    )
    counts: dict[str, dict[str, int]] = {}
    for incentive_id, status, n in rows:
        counts.setdefault(incentive_id, {})[status] = n
    return {
        incentive_id: RedemptionCounts(
            succeeded=by_status.get(RedemptionStatus.SUCCEEDED, 0),
            failed=by_status.get(RedemptionStatus.FAILED, 0),
            rolled_back=by_status.get(RedemptionStatus.ROLLED_BACK, 0),
        )
        for incentive_id, by_status in counts.items()
    }


def succeeded_redemptions(incentive_id: str, customer_id: str | None = None) -> int:
    queryset = Redemption.objects.filter(incentive_id=incentive_id, status=RedemptionStatus.SUCCEEDED)
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    return queryset.count()


def incentive_redemptions(incentive_id: str, *, limit: int = 50) -> list[Redemption]:
    """The incentive's latest redemptions with their orders' ids and customers."""
    return list(
        Redemption.objects.filter(incentive_id=incentive_id)
        .select_related("customer")
        .order_by("-created_at", "-id")[:limit]
    )


# --- searches for the builder ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogMatch:
    object: str
    id: str
    name: str
    source_id: str | None


def catalog_search(text: str, *, limit: int = SEARCH_LIMIT) -> list[CatalogMatch]:
    """Products and SKUs whose id or source id is ``text`` or whose name contains it."""
    text = (text or "").strip()
    if not text:
        return []
    named = Q(pk=text) | Q(source_id=text)
    products = Product.objects.filter(named | Q(name__icontains=text)).order_by("name", "id")[:limit]
    skus = SKU.objects.filter(named | Q(sku__icontains=text)).order_by("sku", "id")[:limit]
    matches = [CatalogMatch("product", p.pk, p.name or p.source_id or p.pk, p.source_id) for p in products]
    matches += [CatalogMatch("sku", s.pk, s.sku or s.source_id or s.pk, s.source_id) for s in skus]
    return matches[:limit]


def catalog_names(refs: Iterable[lang.CatalogRef]) -> dict[tuple[str, str], str]:
    """(object, id) → display name of the products and SKUs named (two queries at most)."""
    refs = list(refs)
    product_ids = [ref.id for ref in refs if ref.object == "product"]
    sku_ids = [ref.id for ref in refs if ref.object == "sku"]
    names: dict[tuple[str, str], str] = {}
    if product_ids:
        for pk, name, source_id in Product.objects.filter(pk__in=product_ids).values_list("pk", "name", "source_id"):
            names[("product", pk)] = name or source_id or pk
    if sku_ids:
        for pk, name, source_id in SKU.objects.filter(pk__in=sku_ids).values_list("pk", "sku", "source_id"):
            names[("sku", pk)] = name or source_id or pk
    return names
