"""The evaluator, table-driven: every condition × every operator it takes, edge values (equal to the
threshold, one either side, zero), empty carts, missing and mistyped metadata, orders without a customer."""

import pytest

from rules import language as lang
from rules.evaluator import Line, OrderSnapshot, evaluate


def rule(condition: dict) -> lang.RuleSet:
    return lang.parse({"1": condition, "logic": "1"})


def passes(condition: dict, order: OrderSnapshot, segments=frozenset()) -> bool:
    return evaluate(rule(condition), order, segments).valid


def line(price=1000, quantity=1, product="prod_a", sku=None) -> Line:
    return Line(product_id=product, sku_id=sku, quantity=quantity, price=price, amount=price * quantity)


# --- numbers: one table of operators, read against each numeric condition ---------------------------------

# operator, values, {value: expected}
NUMBER_TABLE = [
    ("$is", [50], {49: False, 50: True, 51: False, 0: False}),
    ("$is_not", [50], {49: True, 50: False, 51: True, 0: True}),
    ("$in", [50, 70], {50: True, 70: True, 60: False, 0: False}),
    ("$not_in", [50, 70], {50: False, 70: False, 60: True, 0: True}),
    ("$more_than", [50], {49: False, 50: False, 51: True, 0: False}),
    ("$more_than_or_equal", [50], {49: False, 50: True, 51: True, 0: False}),
    ("$less_than", [50], {49: True, 50: False, 51: False, 0: True}),
    ("$less_than_or_equal", [50], {49: True, 50: True, 51: False, 0: True}),
    ("$less_than", [0], {0: False, 1: False}),
    ("$more_than_or_equal", [0], {0: True, 1: True}),
]
NUMBER_CASES = [(op, values, value, result) for op, values, cases in NUMBER_TABLE for value, result in cases.items()]


def _order_with(name: str, value: int) -> OrderSnapshot:
    if name == "order.amount":
        return OrderSnapshot(amount=value, total_amount=0, initial_amount=0)
    if name == "order.total_amount":
        return OrderSnapshot(amount=10**6, total_amount=value, initial_amount=0)
    if name == "order.initial_amount":
        return OrderSnapshot(amount=0, total_amount=0, initial_amount=value)
    if name == "order.items.count":
        return OrderSnapshot(lines=tuple(line(quantity=3) for _ in range(value)))
    # order.items.quantity: ``value`` units over up to three lines (none for 0)
    quantities = [value] if value < 3 else [1, 1, value - 2]
    return OrderSnapshot(lines=tuple(line(quantity=q) for q in quantities if q))


@pytest.mark.parametrize(
    "name", ["order.amount", "order.total_amount", "order.initial_amount", "order.items.count", "order.items.quantity"]
)
@pytest.mark.parametrize(("operator", "values", "value", "expected"), NUMBER_CASES)
def test_number_conditions_for_every_operator_and_edge(name, operator, values, value, expected):
    assert passes({"name": name, "conditions": {operator: values}}, _order_with(name, value)) is expected


@pytest.mark.parametrize(("operator", "values", "value", "expected"), NUMBER_CASES)
def test_price_any_holds_when_some_line_price_passes(operator, values, value, expected):
    # one line at the tested price among lines at a price that passes none of the tests in the table
    condition = {"name": "order.items.price_any", "conditions": {operator: values}}
    order = OrderSnapshot(lines=(line(price=10**9), line(price=value), line(price=10**9 + 1)))
    neutral = all(not passes(condition, OrderSnapshot(lines=(line(price=p),))) for p in (10**9, 10**9 + 1))
    result = passes(condition, order)
    assert result is (expected or not neutral)


@pytest.mark.parametrize(("operator", "values", "value", "expected"), NUMBER_CASES)
def test_price_each_holds_only_when_every_line_price_passes(operator, values, value, expected):
    single = OrderSnapshot(lines=(line(price=value),))
    assert passes({"name": "order.items.price_each", "conditions": {operator: values}}, single) is expected
    doubled = OrderSnapshot(lines=(line(price=value), line(price=value, product="prod_b")))
    assert passes({"name": "order.items.price_each", "conditions": {operator: values}}, doubled) is expected


@pytest.mark.parametrize("name", ["order.items.price_any", "order.items.price_each"])
@pytest.mark.parametrize(("operator", "values"), [(op, values) for op, values, _ in NUMBER_TABLE])
def test_price_conditions_fail_on_an_empty_cart_whatever_the_operator(name, operator, values):
    assert passes({"name": name, "conditions": {operator: values}}, OrderSnapshot()) is False


def test_price_each_fails_when_one_line_fails():
    order = OrderSnapshot(lines=(line(price=6000), line(price=4000)))
    assert passes({"name": "order.items.price_each", "conditions": {"$more_than": [5000]}}, order) is False
    assert passes({"name": "order.items.price_any", "conditions": {"$more_than": [5000]}}, order) is True


def test_empty_cart_counts_zero_lines_and_units():
    empty = OrderSnapshot(amount=700)
    assert passes({"name": "order.items.count", "conditions": {"$is": [0]}}, empty)
    assert passes({"name": "order.items.quantity", "conditions": {"$less_than": [1]}}, empty)
    assert not passes({"name": "order.items.quantity", "conditions": {"$more_than_or_equal": [1]}}, empty)


def test_several_operators_in_one_condition_must_all_hold():
    condition = {"name": "order.amount", "conditions": {"$more_than": [100], "$less_than_or_equal": [200]}}
    assert [passes(condition, OrderSnapshot(amount=v)) for v in (100, 101, 200, 201)] == [False, True, True, False]


# --- metadata (order and customer) ----------------------------------------------------------------------

MISSING = object()
# operator, values, [(stored value, expected)]; MISSING = the key is absent. Pairs, not a dict: 1, 1.0 and
# True are one dict key.
METADATA_TABLE = [
    ("$is", ["web"], [("web", True), ("Web", False), ("webshop", False), (MISSING, False), (None, False), (5, False)]),
    ("$is", [5], [(5, True), (5.0, True), ("5", False), (True, False), (6, False), (MISSING, False)]),
    ("$is", [True], [(True, True), (1, False), (False, False), ("true", False)]),
    ("$is", [0.5], [(0.5, True), ("0.5", False), (1, False)]),
    ("$is", ["web"], [(["web"], False), ({"web": 1}, False)]),
    ("$is_not", ["web"], [("web", False), ("app", True), (MISSING, True), (None, True), (5, True), (["web"], True)]),
    ("$in", ["web", "app"], [("web", True), ("app", True), ("pos", False), (MISSING, False)]),
    ("$in", [1, "1"], [(1, True), ("1", True), (1.0, True), (True, False), (2, False)]),
    ("$not_in", ["web", "app"], [("web", False), ("pos", True), (MISSING, True), (None, True)]),
    (
        "$more_than",
        [10],
        [(11, True), (10.5, True), (10, False), (9, False), ("11", False), (True, False), (MISSING, False)],
    ),
    ("$more_than_or_equal", [10], [(10, True), (10.0, True), (9.99, False), (MISSING, False)]),
    ("$less_than", [0.3], [(0.1, True), (0.3, False), (-5, True), ("0", False), (None, False)]),
    ("$less_than_or_equal", [10], [(10, True), (11, False), (False, False), ([1], False)]),
    ("$contains", ["VIP"], [("a VIP b", True), ("vip", False), ("VIP", True), (5, False), (MISSING, False)]),
    ("$contains", ["x", "y"], [("axb", True), ("ayb", True), ("ab", False), (["x"], False)]),
    ("$starts_with", ["ab"], [("abc", True), ("cab", False), ("ab", True), ("Abc", False)]),
    ("$ends_with", ["ab"], [("cab", True), ("abc", False), (MISSING, False)]),
    (
        "$has_value",
        [],
        [("x", True), (0, True), (False, True), ("", True), ([1], True), (None, False), (MISSING, False)],
    ),
    ("$is_unknown", [], [("x", False), (0, False), (None, True), (MISSING, True)]),
    (
        "$before",
        ["2026-01-31"],
        [
            ("2026-01-30", True),
            ("2026-01-31", False),
            ("2026-01-31T00:00:00Z", False),
            ("2025-12-31T23:59", True),
            (5, False),
        ],
    ),
    (
        "$after",
        ["2026-01-31"],
        [
            ("2026-02-01", True),
            ("2026-01-31", False),
            ("2026-01-31T23:59:59Z", False),
            ("2026-02-01T00:00", True),
            (None, False),
        ],
    ),
    (
        "$after",
        ["2026-01-31T12:00:00Z"],
        [("2026-01-31T12:00:01Z", True), ("2026-01-31T11:59:59Z", False), ("2026-02-01", True), ("2026-01-31", False)],
    ),
    ("$before", ["2026-01-31T12:00:00+02:00"], [("2026-01-31T09:59:59Z", True), ("2026-01-31T10:00:01Z", False)]),
]
METADATA_CASES = [
    pytest.param(op, values, stored, expected, id=f"{op}-{values}-{'missing' if stored is MISSING else stored!r}")
    for op, values, cases in METADATA_TABLE
    for stored, expected in cases
]


def _metadata(stored) -> dict:
    return {} if stored is MISSING else {"key": stored, "other": "web"}


@pytest.mark.parametrize(("operator", "values", "stored", "expected"), METADATA_CASES)
def test_order_metadata_for_every_operator(operator, values, stored, expected):
    order = OrderSnapshot(metadata=_metadata(stored))
    assert passes({"name": "order.metadata", "property": "key", "conditions": {operator: values}}, order) is expected


@pytest.mark.parametrize(("operator", "values", "stored", "expected"), METADATA_CASES)
def test_customer_metadata_for_every_operator(operator, values, stored, expected):
    order = OrderSnapshot(customer_id="cust_1", customer_metadata=_metadata(stored), metadata={"key": "ignored"})
    condition = {"name": "customer.metadata", "property": "key", "conditions": {operator: values}}
    assert passes(condition, order) is expected


@pytest.mark.parametrize(("operator", "values"), [(op, values) for op, values, _ in METADATA_TABLE])
def test_customer_metadata_of_an_order_without_customer_is_unknown(operator, values):
    order = OrderSnapshot(metadata={"key": "web"})
    expected = operator in lang.NEGATIVE
    condition = {"name": "customer.metadata", "property": "key", "conditions": {operator: values}}
    assert passes(condition, order) is expected


# --- segments ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "values", "customer", "segments", "expected"),
    [
        ("$in", ["seg_a"], "cust_1", {"seg_a"}, True),
        ("$in", ["seg_a", "seg_b"], "cust_1", {"seg_b", "seg_c"}, True),
        ("$in", ["seg_a"], "cust_1", {"seg_b"}, False),
        ("$in", ["seg_a"], "cust_1", set(), False),
        ("$in", ["seg_a"], None, {"seg_a"}, False),
        ("$not_in", ["seg_a"], "cust_1", {"seg_b"}, True),
        ("$not_in", ["seg_a", "seg_b"], "cust_1", {"seg_b"}, False),
        ("$not_in", ["seg_a"], "cust_1", set(), True),
        ("$not_in", ["seg_a"], None, set(), True),
    ],
)
def test_customer_segment(operator, values, customer, segments, expected):
    order = OrderSnapshot(customer_id=customer)
    condition = {"name": "customer.segment", "conditions": {operator: values}}
    assert passes(condition, order, frozenset(segments)) is expected


# --- items any / every / none ---------------------------------------------------------------------------

A = {"id": "prod_a", "object": "product"}
B = {"id": "prod_b", "object": "product"}
SKU_A1 = {"id": "sku_a1", "object": "sku"}


def items(name: str, refs: list, sub: dict | None = None, operator: str = "$is") -> dict:
    condition = {"name": f"order.items.{name}", "conditions": {operator: refs}}
    if sub is not None:
        condition["rules"] = sub
    return condition


def sub(name: str, operator: str, values: list) -> dict:
    return {"1": {"name": f"order.items.{name}", "conditions": {operator: values}}, "logic": "1"}


CARTS = {
    "empty": (),
    "a": (line(product="prod_a"),),
    "a_sku": (line(product="prod_a", sku="sku_a1"),),
    "a_b": (line(product="prod_a"), line(product="prod_b")),
    "b_c": (line(product="prod_b"), line(product="prod_c")),
    "deleted": (line(product=None),),  # the catalog product was deleted (SET_NULL)
}


@pytest.mark.parametrize(
    ("name", "refs", "cart", "expected"),
    [
        ("any", [A], "empty", False),
        ("any", [A], "a", True),
        ("any", [A], "a_sku", True),  # a SKU's line names its product too
        ("any", [SKU_A1], "a", False),
        ("any", [SKU_A1], "a_sku", True),
        ("any", [A], "b_c", False),
        ("any", [A, B], "b_c", True),
        ("any", [A], "deleted", False),
        ("every", [A], "empty", False),
        ("every", [A], "a", True),
        ("every", [A], "a_b", False),
        ("every", [A, B], "a_b", True),
        ("every", [A], "deleted", False),
        ("none", [A], "empty", True),
        ("none", [A], "a", False),
        ("none", [A], "b_c", True),
        ("none", [A, B], "b_c", False),
        ("none", [A], "deleted", True),
    ],
)
def test_items_any_every_none_of_products_and_skus(name, refs, cart, expected):
    order = OrderSnapshot(lines=CARTS[cart])
    assert passes(items(name, refs), order) is expected
    assert passes(items(name, refs, operator="$in"), order) is expected


# Nested conditions: cart of product A in two lines (quantities 2 and 3, prices 1000 and 3000) plus B.
NESTED_CART = (
    line(product="prod_a", quantity=2, price=1000),
    line(product="prod_a", sku="sku_a1", quantity=3, price=3000),
    line(product="prod_b", quantity=7, price=500),
)


@pytest.mark.parametrize(
    ("name", "sub_name", "operator", "values", "expected"),
    [
        # line quantity: 2 and 3
        ("any", "quantity", "$more_than", [2], True),
        ("any", "quantity", "$more_than", [3], False),
        ("any", "quantity", "$is", [2], True),
        ("any", "quantity", "$is_not", [2], True),
        ("any", "quantity", "$in", [4, 5], False),
        ("any", "quantity", "$not_in", [2, 3], False),
        ("any", "quantity", "$less_than_or_equal", [2], True),
        ("any", "quantity", "$less_than", [2], False),
        ("any", "quantity", "$more_than_or_equal", [3], True),
        ("every", "quantity", "$more_than", [1], False),  # B's line is not product A
        ("none", "quantity", "$more_than", [2], False),
        ("none", "quantity", "$more_than", [3], True),
        # aggregated quantity of A: 5
        ("any", "aggregated_quantity", "$is", [5], True),
        ("any", "aggregated_quantity", "$more_than", [5], False),
        ("any", "aggregated_quantity", "$more_than_or_equal", [5], True),
        ("any", "aggregated_quantity", "$less_than", [5], False),
        ("any", "aggregated_quantity", "$in", [1, 5], True),
        ("any", "aggregated_quantity", "$not_in", [5], False),
        ("any", "aggregated_quantity", "$is_not", [4], True),
        ("any", "aggregated_quantity", "$less_than_or_equal", [4], False),
        ("none", "aggregated_quantity", "$more_than", [4], False),
        # line price: 1000 and 3000
        ("any", "price", "$more_than", [2000], True),
        ("any", "price", "$less_than", [1000], False),
        ("any", "price", "$is", [3000], True),
        ("any", "price", "$not_in", [1000, 3000], False),
        ("any", "price", "$is_not", [1000], True),
        ("any", "price", "$in", [1000], True),
        ("any", "price", "$more_than_or_equal", [3001], False),
        ("any", "price", "$less_than_or_equal", [1000], True),
        # aggregated amount of A: 2000 + 9000
        ("any", "aggregated_amount", "$is", [11000], True),
        ("any", "aggregated_amount", "$more_than", [11000], False),
        ("any", "aggregated_amount", "$more_than_or_equal", [11000], True),
        ("any", "aggregated_amount", "$less_than", [11001], True),
        ("any", "aggregated_amount", "$less_than_or_equal", [10999], False),
        ("any", "aggregated_amount", "$in", [9000], False),
        ("any", "aggregated_amount", "$not_in", [9000], True),
        ("any", "aggregated_amount", "$is_not", [11000], False),
    ],
)
def test_nested_item_conditions_read_lines_and_per_product_sums(name, sub_name, operator, values, expected):
    order = OrderSnapshot(lines=NESTED_CART)
    assert passes(items(name, [A], sub(sub_name, operator, values)), order) is expected


def test_aggregates_are_per_listed_object():
    # A has 5 units, B has 7: "any line of A or B with at least 6 units of its product" holds through B only
    order = OrderSnapshot(lines=NESTED_CART)
    condition = items("any", [A, B], sub("aggregated_quantity", "$more_than_or_equal", [6]))
    assert passes(condition, order)
    assert not passes(items("any", [A], sub("aggregated_quantity", "$more_than_or_equal", [6])), order)


def test_every_line_with_nested_logic():
    order = OrderSnapshot(lines=NESTED_CART)
    nested = {
        "1": {"name": "order.items.price", "conditions": {"$less_than": [2000]}},
        "2": {"name": "order.items.aggregated_quantity", "conditions": {"$more_than": [6]}},
        "logic": "1 or 2",
    }
    # A line 1: price 1000 < 2000 ✓; A line 2: price 3000 ✗ and A units 5 ✗; B: price 500 ✓
    assert not passes(items("every", [A, B], nested), order)
    assert passes(items("any", [A, B], nested), order)
    assert passes(items("every", [A, B], {**nested, "logic": "1 or not 2"}), order)


# --- logic, messages, the result -------------------------------------------------------------------------


def test_failing_condition_message_wins_over_the_rule_message():
    ruleset = lang.parse(
        {
            "1": {
                "name": "order.amount",
                "conditions": {"$more_than_or_equal": [5000]},
                "error": {"message": "Spend 50"},
            },
            "2": {"name": "order.items.count", "conditions": {"$more_than": [1]}},
            "logic": "1 and 2",
        }
    )
    result = evaluate(ruleset, OrderSnapshot(amount=100), message="Rule says no")
    assert result.as_dict() == {
        "valid": False,
        "failed": [
            {"condition": "1", "name": "order.amount", "message": "Spend 50"},
            {"condition": "2", "name": "order.items.count", "message": "Rule says no"},
        ],
    }
    assert result.message == "Spend 50"
    assert result.conditions == {"1": False, "2": False}


def test_without_messages_a_readable_default_names_the_condition():
    at_least = {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}}
    ruleset = lang.parse({"1": at_least, "logic": "not 1"})
    failed = evaluate(ruleset, OrderSnapshot(amount=6000)).failed
    assert failed[0].message == "Must not hold: Order amount is at least $50.00."
    ruleset = lang.parse({"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}}, "logic": "1"})
    assert evaluate(ruleset, OrderSnapshot(amount=10)).failed[0].message == "Not met: Order amount is at least $50.00."


def test_logic_or_passes_with_one_condition_and_lists_all_when_none_hold():
    ruleset = lang.parse(
        {
            "1": {"name": "order.amount", "conditions": {"$more_than": [100]}},
            "2": {"name": "customer.segment", "conditions": {"$in": ["seg_vip"]}},
            "logic": "1 or 2",
        }
    )
    assert evaluate(ruleset, OrderSnapshot(amount=5, customer_id="c"), frozenset({"seg_vip"})).valid
    result = evaluate(ruleset, OrderSnapshot(amount=5, customer_id="c"))
    assert [(f.condition, f.customer) for f in result.failed] == [("1", False), ("2", True)]


def test_valid_result_has_no_failures():
    result = evaluate(rule({"name": "order.amount", "conditions": {"$is": [5]}}), OrderSnapshot(amount=5))
    assert result.as_dict() == {"valid": True, "failed": []}
