"""Validation of incentives against an order (reads only; the redemption service writes).

An incentive applies to an order when it exists, is live (active and inside its validity window), has uses
left (in all, and for the order's customer) and every one of its validation rules passes
(``rules.evaluator``). The checks run in that order; the first that fails gives the reason::

    not_found | inactive | quantity_exceeded | order_rules_violated | customer_rules_violated

(customer_rules_violated when every failing condition is a ``customer.*`` one). The discount is computed
here too: amount off, or percent off (rounded half up, capped by ``amount_limit``), never more than what is
left of the order's total after the discounts stacked before it.
"""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, IntegerField, Q, Value
from django.utils import timezone
from django.utils.formats import date_format

from orders.choices import IncentiveKind, RedemptionStatus
from orders.models import Redemption

from . import language as lang
from . import selectors
from .choices import DiscountType, ValidationKey
from .evaluator import Failure, OrderSnapshot, Result, evaluate
from .models import Incentive, ValidationRule

KIND_NOUN = {IncentiveKind.VOUCHER: "voucher", IncentiveKind.PROMOTION_TIER: "promotion"}


@dataclass(frozen=True)
class Redeemable:
    """What a client names: ``object`` (voucher | promotion_tier) and ``id`` (a code or an incentive id)."""

    object: str
    id: str


@dataclass(frozen=True)
class RuleOutcome:
    rule: ValidationRule
    result: Result


@dataclass
class Verdict:
    redeemable: Redeemable
    incentive: Incentive | None
    key: str = ""  # empty: applicable
    message: str = ""
    details: str = ""
    failed: tuple[Failure, ...] = ()
    rules: list[RuleOutcome] = field(default_factory=list)
    discount: int = 0
    redemption: Redemption | None = None  # what the redemption service recorded for it

    @property
    def applicable(self) -> bool:
        return not self.key

    @property
    def http_code(self) -> int:
        return 404 if self.key == ValidationKey.NOT_FOUND else 400


@dataclass(frozen=True)
class Usage:
    total: int = 0
    customer: int = 0


def usage(incentives: Iterable[Incentive], customer_id: str | None) -> dict[str, Usage]:
    """Successful redemptions of each incentive that has a limit, in all and by the customer: one grouped
    query (none when no incentive has a limit)."""
    limited = [i.pk for i in incentives if i.redemption_limit is not None or i.per_customer_limit is not None]
    if not limited:
        return {}
    rows = (
        Redemption.objects.filter(incentive_id__in=limited, status=RedemptionStatus.SUCCEEDED)
        .order_by()
        .values("incentive_id")
        .annotate(
            total=Count("id"),
            mine=Count("id", filter=Q(customer_id=customer_id)) if customer_id else Value(0, IntegerField()),
        )
        .values_list("incentive_id", "total", "mine")
    )
    return {incentive_id: Usage(total, mine) for incentive_id, total, mine in rows}


def discount_for(incentive: Incentive, base: int) -> int:
    """The discount ``incentive`` gives on ``base`` (what is left to pay), in minor units."""
    base = max(base, 0)
    if incentive.discount_type == DiscountType.AMOUNT:
        return min(incentive.amount_off or 0, base)
    raw = (Decimal(base) * (incentive.percent_off or 0) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    discount = int(raw)
    if incentive.amount_limit is not None:
        discount = min(discount, incentive.amount_limit)
    return min(discount, base)


def describe_discount(incentive: Incentive) -> str:
    from orders.money import format_minor

    if incentive.discount_type == DiscountType.AMOUNT:
        return f"{format_minor(incentive.amount_off)} off"
    percent = f"{incentive.percent_off.normalize():f}"
    cap = f" (at most {format_minor(incentive.amount_limit)})" if incentive.amount_limit is not None else ""
    return f"{percent}% off{cap}"


def _when(moment: dt.datetime) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def check(
    incentive: Incentive | None,
    redeemable: Redeemable,
    order: OrderSnapshot,
    *,
    segment_ids: frozenset[str],
    used: Usage,
    base: int,
    rulesets: Mapping[str, lang.RuleSet | None],
    now: dt.datetime,
) -> Verdict:
    """The verdict on one incentive for one order (no queries: everything is given)."""
    noun = KIND_NOUN.get(redeemable.object, "incentive")
    if incentive is None:
        return Verdict(
            redeemable,
            None,
            key=ValidationKey.NOT_FOUND,
            message="Resource not found",
            details=f"Cannot find {noun} with id {redeemable.id}",
        )
    noun = KIND_NOUN[incentive.kind]
    label = incentive.code or incentive.name
    if not incentive.active:
        details = f"The {noun} {label} is not active."
        return Verdict(redeemable, incentive, key=ValidationKey.INACTIVE, message="Inactive", details=details)
    if incentive.start_date and now < incentive.start_date:
        details = f"The {noun} {label} starts on {_when(incentive.start_date)}."
        return Verdict(redeemable, incentive, key=ValidationKey.INACTIVE, message="Not active yet", details=details)
    if incentive.expiration_date and now >= incentive.expiration_date:
        details = f"The {noun} {label} expired on {_when(incentive.expiration_date)}."
        return Verdict(redeemable, incentive, key=ValidationKey.INACTIVE, message="Expired", details=details)
    if incentive.redemption_limit is not None and used.total >= incentive.redemption_limit:
        details = f"The {noun} {label} has been redeemed {used.total} of {incentive.redemption_limit} times."
        return Verdict(
            redeemable, incentive, key=ValidationKey.QUANTITY_EXCEEDED, message="Quantity exceeded", details=details
        )
    if incentive.per_customer_limit is not None and order.customer_id and used.customer >= incentive.per_customer_limit:
        details = (
            f"This customer has redeemed the {noun} {label} {used.customer} of "
            f"{incentive.per_customer_limit} times allowed per customer."
        )
        return Verdict(
            redeemable, incentive, key=ValidationKey.QUANTITY_EXCEEDED, message="Quantity exceeded", details=details
        )
    outcomes = []
    failed: list[Failure] = []
    for rule in selectors.incentive_rules(incentive):
        ruleset = rulesets.get(rule.pk)
        if ruleset is None:
            # A stored rule that no longer reads holds nothing back silently: it fails, saying so.
            result = Result(
                valid=False,
                failed=(Failure("", "", f"The rule {rule.name} cannot be read; fix it in the rule builder."),),
            )
        else:
            result = evaluate(ruleset, order, segment_ids, message=rule.error_message)
        outcomes.append(RuleOutcome(rule, result))
        failed.extend(result.failed)
    if failed:
        key = (
            ValidationKey.CUSTOMER_RULES_VIOLATED
            if all(f.customer for f in failed)
            else ValidationKey.ORDER_RULES_VIOLATED
        )
        details = "; ".join(dict.fromkeys(f.message for f in failed))
        return Verdict(
            redeemable,
            incentive,
            key=key,
            message=failed[0].message,
            details=details,
            failed=tuple(failed),
            rules=outcomes,
        )
    return Verdict(redeemable, incentive, rules=outcomes, discount=discount_for(incentive, base))


def rulesets_of(incentives: Iterable[Incentive | None]) -> dict[str, lang.RuleSet | None]:
    rules = {rule.pk: rule for incentive in incentives if incentive for rule in selectors.incentive_rules(incentive)}
    return {pk: selectors.parsed(rule) for pk, rule in rules.items()}


def resolve(redeemables: Sequence[Redeemable]) -> list[Incentive | None]:
    """The incentive each redeemable names (by id, or a voucher by code), with its rules."""
    return [
        selectors.incentive_find(r.id, kind=r.object if r.object in IncentiveKind.values else None) for r in redeemables
    ]


def validate(
    order: OrderSnapshot,
    redeemables: Sequence[Redeemable],
    *,
    incentives: Sequence[Incentive | None] | None = None,
    now: dt.datetime | None = None,
) -> list[Verdict]:
    """A verdict per redeemable, stacking the discounts in the order given (each sees what is left of the
    total after the applicable ones before it)."""
    now = now or timezone.now()
    incentives = resolve(redeemables) if incentives is None else incentives
    rulesets = rulesets_of(incentives)
    segment_ids = selectors.segment_ids_for([r for r in rulesets.values() if r], order.customer_id)
    used = usage([i for i in incentives if i], order.customer_id)
    verdicts = []
    left = order.total_amount
    for redeemable, incentive in zip(redeemables, incentives, strict=True):
        verdict = check(
            incentive,
            redeemable,
            order,
            segment_ids=segment_ids,
            used=used.get(incentive.pk, Usage()) if incentive else Usage(),
            base=left,
            rulesets=rulesets,
            now=now,
        )
        left -= verdict.discount
        verdicts.append(verdict)
    return verdicts
