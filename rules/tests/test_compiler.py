"""Compiled == evaluated: the orders the SQL of a rule selects are exactly the orders the evaluator passes.

Random carts (products, SKUs, a product deleted from the catalog, empty carts), amounts with discounts,
metadata of every JSON type on orders and customers, orders with and without customers, a static and an
auto-update segment — and random rules over every condition and operator, joined by random logic.
Runs on SQLite and PostgreSQL (the SQL differs: JSON containment, json_each)."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import services
from orders.models import Order, Product
from orders.tests.factories import SYSTEM, CustomerFactory, ProductFactory, SKUFactory
from rules import compiler, evaluator, segments_bridge, selectors
from rules import language as lang
from segments import services as segment_services

MONEY = [0, 500, 999, 1000, 1001, 1500, 2000, 3000]
COUNTS = [0, 1, 2, 3, 4, 6]
STORED = ["web", "app", "We", "", 0, 1, 1.0, 1.5, 10, -2, True, False, None, ["web"], {"a": 1}]
STORED += ["2026-01-31", "2026-01-31T12:00:00Z", "2026-02-01", "2025-12-31T23:00:00Z", "2026-01-31T12:00:00"]
EQUALS = ["web", "app", "We", "", 1, 1.0, 1.5, 0, True, False, "1", 10]
NUMBERS = [0, 1, 1.5, 10, -2]
TEXTS = ["w", "eb", "We", "ap", "2026"]
DATES = ["2026-01-31", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00+01:00"]
LOGIC = {
    1: ["1", "not 1"],
    2: ["1 and 2", "1 or 2", "not (1 and 2)", "1 and not 2"],
    3: ["1 and (2 or 3)", "not 1 or 2 and 3", "(1 or 2) and not 3", "1 or 2 or 3"],
}
CATALOG = ["P1", "P2", "P3", "S1", "S2"]  # P3 is deleted from the catalog in some examples
SLOW_DB = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
SEGMENTS = ["static", "auto", "missing"]


# --- orders ----------------------------------------------------------------------------------------------

metadata = st.dictionaries(st.sampled_from(["k", "d"]), st.sampled_from(STORED), max_size=2)
line = st.tuples(st.sampled_from(CATALOG), st.integers(1, 3), st.sampled_from([0, 500, 1000, 1500]))
order_data = st.fixed_dictionaries(
    {
        "lines": st.lists(line, max_size=3),
        "amount": st.sampled_from(MONEY),
        "discount": st.sampled_from([0, 0, 100, 500]),
        "initial": st.sampled_from([None, 0, 1000, 2000]),
        "metadata": metadata,
        "customer": st.sampled_from([None, 0, 1, 2]),
        "paid": st.booleans(),
    }
)


# --- rules -----------------------------------------------------------------------------------------------


def _values(kind: str, operator: str):
    if operator in lang.NO_VALUE:
        return st.just([])
    many = operator in lang.MANY_VALUES
    if kind == lang.MONEY:
        pool = MONEY
    elif kind == lang.COUNT:
        pool = COUNTS
    elif kind == lang.SEGMENT:
        pool = SEGMENTS
    elif operator in lang.COMPARISONS:
        pool = NUMBERS
    elif operator in lang.TEXT_MATCHES:
        pool = TEXTS
    elif operator in (lang.BEFORE, lang.AFTER):
        pool = DATES
    else:
        pool = EQUALS
    one = st.sampled_from(pool)
    return st.lists(one, min_size=1, max_size=3) if many else one.map(lambda value: [value])


@st.composite
def sub_rules(draw):
    count = draw(st.integers(1, 2))
    data = {}
    for key in range(1, count + 1):
        spec = draw(st.sampled_from(list(lang.ITEM_CONDITIONS.values())))
        operator = draw(st.sampled_from(spec.operators))
        data[str(key)] = {"name": spec.name, "conditions": {operator: draw(_values(spec.kind, operator))}}
    data["logic"] = draw(st.sampled_from(LOGIC[count]))
    return data


@st.composite
def condition(draw, name: str | None = None, operator: str | None = None):
    spec = lang.CONDITIONS[name] if name else draw(st.sampled_from(list(lang.CONDITIONS.values())))
    operator = operator or draw(st.sampled_from(spec.operators))
    data = {"name": spec.name}
    if spec.has_property:
        data["property"] = draw(st.sampled_from(["k", "d", "absent"]))
    if spec.kind == lang.ITEMS:
        refs = draw(st.lists(st.sampled_from(CATALOG), min_size=1, max_size=2, unique=True))
        data["conditions"] = {operator: refs}  # placeholders, replaced by real ids in _real
        if draw(st.booleans()):
            data["rules"] = draw(sub_rules())
    else:
        data["conditions"] = {operator: draw(_values(spec.kind, operator))}
    return data


@st.composite
def rule(draw):
    count = draw(st.integers(1, 3))
    data = {str(key): draw(condition()) for key in range(1, count + 1)}
    data["logic"] = draw(st.sampled_from(LOGIC[count]))
    return data


# --- the world of one example ------------------------------------------------------------------------------


class World:
    def __init__(self, customer_metadata: list[dict], orders: list[dict], delete_p3: bool):
        products = [ProductFactory() for _ in range(3)]
        skus = [SKUFactory(product=products[0]), SKUFactory(product=products[1])]
        self.catalog = {
            "P1": ("product", products[0].pk),
            "P2": ("product", products[1].pk),
            "P3": ("product", products[2].pk),
            "S1": ("sku", skus[0].pk),
            "S2": ("sku", skus[1].pk),
        }
        self.customers = [CustomerFactory(metadata=meta) for meta in customer_metadata]
        self.order_ids = [self._order(data) for data in orders]
        static = segment_services.segment_create(
            name="Static", type="static", customers=[c.pk for c in self.customers[:2]]
        )
        auto = segment_services.segment_create(
            name="Buyers",
            type="auto-update",
            filter={"summary.orders.total_count": {"conditions": {"$more_than_or_equal": [1]}}},
        )
        self.segments = {"static": static.pk, "auto": auto.pk, "missing": "seg_doesnotexist"}
        if delete_p3:
            Product.objects.filter(pk=products[2].pk).delete()  # the lines keep their snapshot, product_id → NULL

    def _order(self, data) -> str:
        items = []
        for name, quantity, price in data["lines"]:
            kind, pk = self.catalog[name]
            items.append({f"{kind}_id": pk, "quantity": quantity, "price": price})
        amount = sum(q * p for _, q, p in data["lines"]) if items else data["amount"]
        order = services.order_create(
            actor=SYSTEM,
            items=items or None,
            amount=None if items else data["amount"],
            discount_amount=min(data["discount"], amount),
            initial_amount=data["initial"],
            metadata=data["metadata"],
            customer=self.customers[data["customer"]] if data["customer"] is not None else None,
            status="PAID" if data["paid"] else None,
        )
        return order.pk

    def real(self, data: dict) -> dict:
        """Placeholders of the drawn rule → this world's catalog objects and segment ids."""
        data = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
        for key, value in data.items():
            if key == "logic":
                continue
            spec = lang.CONDITIONS[value["name"]]
            if spec.kind == lang.ITEMS:
                ((operator, refs),) = value["conditions"].items()
                objects = [{"object": self.catalog[r][0], "id": self.catalog[r][1]} for r in refs]
                value["conditions"] = {operator: objects}
            elif spec.kind == lang.SEGMENT:
                value["conditions"] = {op: [self.segments[s] for s in v] for op, v in value["conditions"].items()}
        return data

    def compiled(self, ruleset) -> set[str]:
        passing = compiler.orders_passing(ruleset, Order.objects.filter(pk__in=self.order_ids))
        return set(passing.values_list("pk", flat=True))

    def evaluated(self, ruleset) -> set[str]:
        passed = set()
        for order_id in self.order_ids:
            order = selectors.order_with_lines(order_id)
            segment_ids = segments_bridge.segment_ids_of_customer(order.customer_id)
            if evaluator.evaluate(ruleset, selectors.order_snapshot(order), segment_ids).valid:
                passed.add(order_id)
        return passed


world_data = st.fixed_dictionaries(
    {
        "customer_metadata": st.lists(metadata, min_size=3, max_size=3),
        "orders": st.lists(order_data, min_size=3, max_size=8),
        "delete_p3": st.booleans(),
    }
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_DB)
@given(world=world_data, rules=st.lists(rule(), min_size=1, max_size=6))
def test_compiled_query_selects_exactly_the_orders_the_evaluator_passes(world, rules):
    with transaction.atomic():
        made = World(**world)
        for data in rules:
            ruleset = lang.parse(made.real(data))
            assert made.compiled(ruleset) == made.evaluated(ruleset), ruleset.to_json()
        transaction.set_rollback(True)


EVERY_PAIR = [(spec.name, operator) for spec in lang.CONDITIONS.values() for operator in spec.operators]


@pytest.mark.django_db
@settings(max_examples=3, deadline=None, suppress_health_check=SLOW_DB)
@given(world=world_data, data=st.data())
def test_every_condition_and_operator_compiles_to_the_evaluators_answer(world, data):
    with transaction.atomic():
        made = World(**world)
        for name, operator in EVERY_PAIR:
            drawn = data.draw(condition(name, operator), label=f"{name} {operator}")
            ruleset = lang.parse(made.real({"1": drawn, "logic": "1"}))
            assert made.compiled(ruleset) == made.evaluated(ruleset), ruleset.to_json()
        transaction.set_rollback(True)


def test_every_pair_is_exercised():
    # 8 amounts × 3 + counts 8 × 2 + prices 8 × 2 + metadata 15 × 2 + items 2 × 3 + segments 2
    assert len(EVERY_PAIR) == 24 + 16 + 16 + 30 + 6 + 2
