"""Every write of the rules app: validation rules, incentives, and redemptions of incentives on orders.

Contract of every service:
- keyword-only, one transaction (``@transaction.atomic``): a failure leaves nothing half-done;
- raises ``orders.exceptions.InvalidInput`` (``errors``: field path → messages, the envelope the orders
  services use) for bad input before writing anything, ``NotFound`` for an unknown rule or incentive;
- a rule is stored in its canonical form (``rules.language.RuleSet.to_json()``), after checking that the
  products, SKUs and segments it names exist;
- orders are written only through ``orders.services`` (``redemption_record``), which records the activity.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Upper
from django.db.models.lookups import Exact
from django.utils import timezone

from orders import services as order_services
from orders.choices import IncentiveKind, RedemptionStatus
from orders.events import Actor
from orders.exceptions import InvalidInput, NotFound
from orders.ids import PREFIXES, new_id
from orders.models import SKU, Order, Product, Redemption

from . import language as lang
from . import segments_bridge, selectors, validation
from .choices import DiscountType
from .models import CODE_MAX_LENGTH, MESSAGE_MAX_LENGTH, NAME_MAX_LENGTH, Incentive, IncentiveRule, ValidationRule

__all__ = [
    "UNSET",
    "incentive_create",
    "incentive_update",
    "redemption_redeem",
    "rule_check",
    "rule_create",
    "rule_delete",
    "rule_update",
]

MAX_AMOUNT = 10**15
MAX_RULES_PER_INCENTIVE = 20


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


class _Errors(dict):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise InvalidInput(dict(self))


def _text(value, path: str, errors: _Errors, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(path, "must be text")
        return ""
    value = value.strip()
    if required and not value:
        errors.add(path, "must not be empty")
    elif len(value) > max_length:
        errors.add(path, f"must be at most {max_length} characters")
    return value


# --- rules -----------------------------------------------------------------------------------------------


def rule_check(rules: Any, *, path: str = "rules") -> lang.RuleSet:
    """Parse ``rules`` and check that the products, SKUs and segments it names exist (reads only).
    Raises InvalidInput whose paths start with ``path`` (``rules.2.conditions``, ``rules.logic``)."""
    try:
        ruleset = lang.parse(rules)
    except lang.RuleError as problem:
        raise InvalidInput(problem.as_dict(path)) from None
    errors = _Errors()
    refs = lang.catalog_refs(ruleset)
    if refs:
        wanted = {kind: [r.id for _, r in refs if r.object == kind] for kind in ("product", "sku")}
        found = {
            "product": set(Product.objects.filter(pk__in=wanted["product"]).values_list("pk", flat=True)),
            "sku": set(SKU.objects.filter(pk__in=wanted["sku"]).values_list("pk", flat=True)),
        }
        for at, ref in refs:
            if ref.id not in found[ref.object]:
                noun = "product" if ref.object == "product" else "SKU"
                errors.add(f"{path}.{at}", f"Condition {at.split('.')[0]}: no {noun} has the id {ref.id}.")
    segments = lang.segment_ids(ruleset)
    if segments:
        found = segments_bridge.segments_by_id(segment_id for _, segment_id in segments)
        for at, segment_id in segments:
            if segment_id not in found:
                errors.add(f"{path}.{at}", f"Condition {at.split('.')[0]}: no segment has the id {segment_id}.")
    errors.raise_if_any()
    return ruleset


def _rule_fields(name, rules, error_message, errors: _Errors) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if name is not UNSET:
        values["name"] = _text(name, "name", errors, max_length=NAME_MAX_LENGTH, required=True)
    if error_message is not UNSET:
        values["error_message"] = _text(error_message, "error_message", errors, max_length=MESSAGE_MAX_LENGTH)
    if rules is not UNSET:
        try:
            values["rules"] = rule_check(rules).to_json()
        except InvalidInput as problem:
            for at, messages in problem.errors.items():
                for message in messages:
                    errors.add(at, message)
    return values


@transaction.atomic
def rule_create(*, name: str, rules: Mapping[str, Any], error_message: str = "") -> ValidationRule:
    """Create a validation rule (stored canonical). Raises InvalidInput naming every bad field and condition."""
    errors = _Errors()
    values = _rule_fields(name, rules, error_message, errors)
    errors.raise_if_any()
    now = timezone.now()
    return ValidationRule.objects.create(**values, created_at=now, updated_at=now)


def _lock_rule(rule: ValidationRule | str) -> ValidationRule:
    rule_id = rule.pk if isinstance(rule, ValidationRule) else rule
    locked = ValidationRule.objects.select_for_update().filter(pk=rule_id).first()
    if locked is None:
        raise NotFound("validation_rule", str(rule_id))
    return locked


@transaction.atomic
def rule_update(
    *, rule: ValidationRule | str, name: str = UNSET, rules: Mapping[str, Any] = UNSET, error_message: str = UNSET
) -> ValidationRule:
    """Change what is given. Incentives that use the rule see the change at their next validation."""
    rule = _lock_rule(rule)
    errors = _Errors()
    values = _rule_fields(name, rules, error_message, errors)
    errors.raise_if_any()
    changed = [key for key, value in values.items() if getattr(rule, key) != value]
    if changed:
        for key in changed:
            setattr(rule, key, values[key])
        rule.updated_at = timezone.now()
        rule.save(update_fields=[*changed, "updated_at"])
    return rule


@transaction.atomic
def rule_delete(*, rule: ValidationRule | str) -> None:
    """Delete a rule that no incentive uses; InvalidInput naming the incentives otherwise."""
    rule = _lock_rule(rule)
    users = list(Incentive.objects.filter(rule_links__rule=rule).order_by("name").values_list("name", flat=True)[:6])
    if users:
        listing = ", ".join(users[:5]) + (" …" if len(users) > 5 else "")
        raise InvalidInput({"": [f"The rule is assigned to {listing}: remove it from them first."]})
    rule.delete()


# --- incentives ------------------------------------------------------------------------------------------


def _amount(value, path: str, errors: _Errors, *, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "must be a whole number in minor units (cents)")
        return None
    if not minimum <= value <= MAX_AMOUNT:
        errors.add(path, f"must be between {minimum} and {MAX_AMOUNT}")
        return None
    return value


def _percent(value, path: str, errors: _Errors) -> Decimal | None:
    if value is None:
        return None
    try:
        percent = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        percent = None
    if percent is None or not percent.is_finite():
        errors.add(path, "must be a number, e.g. 12.5")
        return None
    if not Decimal(0) < percent <= Decimal(100):
        errors.add(path, "must be more than 0 and at most 100")
        return None
    if percent != percent.quantize(Decimal("0.01")):
        errors.add(path, "may have at most two decimal places")
        return None
    return percent.quantize(Decimal("0.01"))


def _moment(value, path: str, errors: _Errors) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors.add(path, "must be a date and time, e.g. 2026-01-31T12:00:00Z")
            return None
    if not isinstance(value, dt.datetime):
        errors.add(path, "must be a date and time")
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _limit(value, path: str, errors: _Errors) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**9:
        errors.add(path, "must be a whole number of at least 1 (or empty: no limit)")
        return None
    return value


def _code_taken(code: str, exclude: str | None) -> bool:
    queryset = Incentive.objects.filter(Exact(Upper("code"), Upper(Value(code))))
    if exclude:
        queryset = queryset.exclude(pk=exclude)
    return queryset.exists()


def _incentive_values(data: Mapping[str, Any], current: Incentive | None, errors: _Errors) -> dict[str, Any]:
    """Check the given fields (merged over ``current``'s) and return the model values."""

    def given(name: str):
        return data[name] if name in data else (getattr(current, name) if current is not None else None)

    kind = given("kind") or IncentiveKind.VOUCHER
    values: dict[str, Any] = {}
    if kind not in IncentiveKind.values:
        errors.add("kind", f"must be one of {', '.join(IncentiveKind.values)}")
    values["kind"] = kind
    values["name"] = _text(given("name"), "name", errors, max_length=NAME_MAX_LENGTH, required=True)
    code = given("code")
    if kind == IncentiveKind.VOUCHER:
        code = _text(code, "code", errors, max_length=CODE_MAX_LENGTH, required=True)
        if code and any(ch.isspace() for ch in code):
            errors.add("code", "must not contain spaces")
        elif code and _code_taken(code, current.pk if current else None):
            errors.add("code", f"another voucher has the code {code} (codes are unique in any letter case)")
        values["code"] = code
    else:
        if code not in (None, ""):
            errors.add("code", "a promotion has no code: it applies by itself to the orders its rules accept")
        values["code"] = None
    discount_type = given("discount_type") or DiscountType.AMOUNT
    if discount_type not in DiscountType.values:
        errors.add("discount_type", f"must be one of {', '.join(DiscountType.values)}")
    values["discount_type"] = discount_type
    if discount_type == DiscountType.PERCENT:
        values["percent_off"] = _percent(given("percent_off"), "percent_off", errors)
        if values["percent_off"] is None and "percent_off" not in errors:
            errors.add("percent_off", "is required for a percent-off discount")
        values["amount_limit"] = _amount(given("amount_limit"), "amount_limit", errors)
        values["amount_off"] = None
    else:
        values["amount_off"] = _amount(given("amount_off"), "amount_off", errors)
        if values["amount_off"] is None and "amount_off" not in errors:
            errors.add("amount_off", "is required for an amount-off discount")
        values["percent_off"] = values["amount_limit"] = None
    active = given("active")
    values["active"] = True if active is None else active
    if not isinstance(values["active"], bool):
        errors.add("active", "must be true or false")
    values["start_date"] = _moment(given("start_date"), "start_date", errors)
    values["expiration_date"] = _moment(given("expiration_date"), "expiration_date", errors)
    if values["start_date"] and values["expiration_date"] and values["start_date"] >= values["expiration_date"]:
        errors.add("expiration_date", "must be after the start date")
    values["redemption_limit"] = _limit(given("redemption_limit"), "redemption_limit", errors)
    values["per_customer_limit"] = _limit(given("per_customer_limit"), "per_customer_limit", errors)
    return values


def _rule_ids(rules, errors: _Errors) -> list[str] | None:
    if rules is UNSET:
        return None
    if not isinstance(rules, (list, tuple)) or not all(isinstance(r, str) for r in rules):
        errors.add("rules", "must be a list of validation rule ids")
        return None
    ids = list(dict.fromkeys(rules))
    if len(ids) > MAX_RULES_PER_INCENTIVE:
        errors.add("rules", f"at most {MAX_RULES_PER_INCENTIVE} rules")
        return None
    found = set(ValidationRule.objects.filter(pk__in=ids).values_list("pk", flat=True))
    for rule_id in ids:
        if rule_id not in found:
            errors.add("rules", f"no validation rule has the id {rule_id}")
    return ids


def _set_rules(incentive: Incentive, rule_ids: list[str]) -> None:
    IncentiveRule.objects.filter(incentive=incentive).delete()
    IncentiveRule.objects.bulk_create(
        [IncentiveRule(incentive=incentive, rule_id=rule_id, position=index) for index, rule_id in enumerate(rule_ids)]
    )


def _save_unique(incentive: Incentive, **kwargs) -> None:
    try:
        with transaction.atomic():
            incentive.save(**kwargs)
    except IntegrityError:
        if incentive.code and _code_taken(incentive.code, incentive.pk):
            raise InvalidInput({"code": [f"another voucher has the code {incentive.code}"]}) from None
        raise


@transaction.atomic
def incentive_create(*, rules: Sequence[str] = (), **data: Any) -> Incentive:
    """Create a voucher (``kind="voucher"``, a ``code`` unique in any letter case) or an automatic promotion
    (``kind="promotion_tier"``, no code). Fields: ``name``, ``discount_type`` (AMOUNT with ``amount_off``,
    or PERCENT with ``percent_off`` and an optional ``amount_limit``), ``active``, ``start_date``,
    ``expiration_date``, ``redemption_limit``, ``per_customer_limit``; ``rules``: validation rule ids, in
    the order they are checked."""
    errors = _Errors()
    unknown = set(data) - {f.name for f in Incentive._meta.concrete_fields} - {"created_at", "updated_at"}
    for name in sorted(unknown | ({"id"} & set(data))):
        errors.add(name, "is not a field of an incentive")
    values = _incentive_values(data, None, errors)
    rule_ids = _rule_ids(list(rules), errors)
    errors.raise_if_any()
    now = timezone.now()
    prefix = PREFIXES["voucher" if values["kind"] == IncentiveKind.VOUCHER else "promotion_tier"]
    incentive = Incentive(id=new_id(prefix), **values, created_at=now, updated_at=now)
    _save_unique(incentive, force_insert=True)
    _set_rules(incentive, rule_ids or [])
    return incentive


@transaction.atomic
def incentive_update(*, incentive: Incentive | str, rules: Sequence[str] = UNSET, **data: Any) -> Incentive:
    """Change the fields given (as ``incentive_create`` names them) and, when given, the rules. The kind of
    an incentive does not change (its id says it)."""
    incentive_id = incentive.pk if isinstance(incentive, Incentive) else incentive
    current = Incentive.objects.select_for_update().filter(pk=incentive_id).first()
    if current is None:
        raise NotFound("incentive", str(incentive_id))
    errors = _Errors()
    if "kind" in data and data["kind"] != current.kind:
        errors.add("kind", "cannot change: create a new incentive instead")
    values = _incentive_values(data, current, errors)
    rule_ids = _rule_ids(list(rules) if rules is not UNSET else UNSET, errors)
    errors.raise_if_any()
    changed = [key for key, value in values.items() if getattr(current, key) != value]
    if changed:
        for key in changed:
            setattr(current, key, values[key])
        current.updated_at = timezone.now()
        _save_unique(current, update_fields=[*changed, "updated_at"])
    if rule_ids is not None:
        _set_rules(current, rule_ids)
    return current


# --- redemption ------------------------------------------------------------------------------------------


@dataclass
class RedeemOutcome:
    """What a redemption attempt did: SUCCEEDED redemptions (every redeemable applied) or FAILED ones (one
    per inapplicable redeemable; the applicable ones were not redeemed)."""

    order: Order
    verdicts: list[validation.Verdict]
    redemptions: list[Redemption] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(verdict.applicable for verdict in self.verdicts)

    @property
    def first_failure(self) -> validation.Verdict | None:
        return next((verdict for verdict in self.verdicts if not verdict.applicable), None)


@transaction.atomic
def redemption_redeem(
    *,
    order: Order | str,
    redeemables: Sequence[validation.Redeemable],
    actor: Actor,
    now: dt.datetime | None = None,
) -> RedeemOutcome:
    """Validate ``redeemables`` against ``order`` and redeem them, all or none.

    The incentives' rows are locked first (in id order), then the order's, so that the limits hold under
    concurrency: of parallel redemptions of a code with one use left, exactly one succeeds (the others see
    its redemption once they get the lock). When every redeemable applies, each is recorded SUCCEEDED
    through ``orders.services.redemption_record`` with its discount (stacked in the order given): the order
    becomes PAID and its activity says so. Otherwise each inapplicable one is recorded FAILED with its
    failure code (``not_found``, ``inactive``, ``quantity_exceeded``, ``order_rules_violated``,
    ``customer_rules_violated``) and message, and nothing is redeemed — the FAILED records are written and
    kept (the function returns normally; the caller answers the failure). Raises ``NotFound`` for an unknown
    order, ``InvalidInput`` for an empty or oversized list of redeemables, ``InvalidStatusTransition`` for a
    CANCELED order."""
    if not redeemables:
        raise InvalidInput({"redeemables": ["name at least one voucher or promotion to redeem"]})
    if len(redeemables) > 5:
        raise InvalidInput({"redeemables": ["at most 5 redeemables at once"]})
    now = now or timezone.now()
    incentives = validation.resolve(redeemables)
    found_ids = sorted({incentive.pk for incentive in incentives if incentive is not None})
    if found_ids:
        # Lock, and re-read what was locked: a concurrent change of the incentive is seen in full.
        locked = {i.pk: i for i in Incentive.objects.select_for_update().filter(pk__in=found_ids).order_by("pk")}
        fresh = {i.pk: i for i in selectors.with_rules(Incentive.objects.filter(pk__in=list(locked)))}
        incentives = [fresh.get(i.pk) if i is not None else None for i in incentives]
    order_ref = order.pk if isinstance(order, Order) else order
    locked_order = selectors.order_with_lines(order_ref, lock=True)
    if locked_order is None:
        raise NotFound("order", str(order_ref))
    snapshot = selectors.order_snapshot(locked_order)
    verdicts = validation.validate(snapshot, redeemables, incentives=incentives, now=now)
    outcome = RedeemOutcome(order=locked_order, verdicts=verdicts)
    applies = all(verdict.applicable for verdict in verdicts)
    for verdict in verdicts:
        if applies or not verdict.applicable:
            verdict.redemption = _record(locked_order.pk, verdict, actor, succeeded=applies)
            outcome.redemptions.append(verdict.redemption)
    outcome.order = Order.objects.select_related("customer").get(pk=locked_order.pk)
    return outcome


def _record(order_id: str, verdict: validation.Verdict, actor: Actor, *, succeeded: bool) -> Redemption:
    incentive = verdict.incentive
    kind = incentive.kind if incentive else verdict.redeemable.object
    if kind not in IncentiveKind.values:
        kind = IncentiveKind.VOUCHER
    return order_services.redemption_record(
        order=order_id,
        actor=actor,
        amount=verdict.discount if succeeded else 0,
        status=RedemptionStatus.SUCCEEDED if succeeded else RedemptionStatus.FAILED,
        incentive_kind=kind,
        incentive_id=incentive.pk if incentive else "",
        incentive_code=(incentive.code or "") if incentive else verdict.redeemable.id[:255],
        incentive_name=incentive.name if incentive else "",
        failure_code="" if succeeded else verdict.key,
        failure_message="" if succeeded else verdict.details or verdict.message,
    )
