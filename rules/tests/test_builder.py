"""The builder's rows ↔ the stored JSON: every kind of condition reads back into rows and builds again to
the same rule; typed values; errors land on their rows."""

import pytest
from django.http import QueryDict

from rules import builder
from rules import language as lang

ROUND_TRIPS = [
    {"1": {"name": "order.amount", "conditions": {"$in": [5000, 7550]}, "error": {"message": "No"}}, "logic": "1"},
    {"1": {"name": "order.items.count", "conditions": {"$less_than_or_equal": [3]}}, "logic": "not 1"},
    {"1": {"name": "order.metadata", "property": "vip", "conditions": {"$is": [True]}}, "logic": "1"},
    {"1": {"name": "order.metadata", "property": "score", "conditions": {"$more_than": [1.5]}}, "logic": "1"},
    {"1": {"name": "customer.metadata", "property": "tier", "conditions": {"$not_in": ["gold", "vip"]}}, "logic": "1"},
    {"1": {"name": "order.metadata", "property": "since", "conditions": {"$after": ["2026-01-31"]}}, "logic": "1"},
    {"1": {"name": "order.metadata", "property": "note", "conditions": {"$is_unknown": []}}, "logic": "1"},
    {"1": {"name": "customer.segment", "conditions": {"$in": ["seg_a", "seg_b"]}}, "logic": "1"},
    {
        "1": {
            "name": "order.items.every",
            "conditions": {"$is": [{"id": "prod_a", "object": "product"}, {"id": "sku_b", "object": "sku"}]},
            "rules": {
                "1": {"name": "order.items.price", "conditions": {"$more_than": [999]}},
                "2": {"name": "order.items.aggregated_amount", "conditions": {"$less_than": [100000]}},
                "logic": "1 or 2",
            },
        },
        "2": {"name": "order.total_amount", "conditions": {"$more_than_or_equal": [1]}},
        "logic": "1 and 2",
    },
]


def _post(rows: list[builder.Row], logic: str) -> QueryDict:
    """What the builder form would post for these rows."""
    data = QueryDict(mutable=True)
    data["logic"] = logic
    for row in rows:
        data.appendlist("row", row.key)
        for field, value in (
            ("name", row.name),
            ("property", row.prop),
            ("operator", row.operator),
            ("value", row.value),
            ("vtype", row.vtype),
            ("message", row.message),
            ("sublogic", row.sub_logic),
        ):
            data[f"{field}-{row.key}"] = value
        for object_, ref in row.objects:
            data.appendlist(f"object-{row.key}", f"{object_}:{ref}")
        for sub in row.sub:
            data.appendlist(f"sub-{row.key}", str(sub.index))
            data[f"sub-{row.key}-{sub.index}-name"] = sub.name
            data[f"sub-{row.key}-{sub.index}-operator"] = sub.operator
            data[f"sub-{row.key}-{sub.index}-value"] = sub.value
    return data


@pytest.mark.parametrize("stored", ROUND_TRIPS)
def test_stored_rules_read_back_into_rows_and_build_the_same_rule(stored):
    rows, logic = builder.rows_from_rules(stored)
    posted = builder.rows_from_post(_post(rows, logic))
    data, broken = builder.build(posted, logic)
    assert not broken, [row.errors for row in posted]
    assert lang.parse(data).to_json() == lang.parse(stored).to_json()


def test_money_is_typed_in_currency_units_and_lists_by_commas():
    row = builder.Row(key="1", name="order.amount", operator="$in", value="50, 75.5")
    data, broken = builder.build([row], "1")
    assert not broken and data["1"]["conditions"] == {"$in": [5000, 7550]}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (builder.Row(key="1", name="order.amount", value="fifty"), "“fifty” is not an amount"),
        (builder.Row(key="1", name="order.amount", value=""), "enter a value"),
        (builder.Row(key="1", name="order.items.count", value="2.5"), "“2.5” is not a whole number"),
        (builder.Row(key="1", name="order.items.any"), "pick at least one product or SKU"),
        (builder.Row(key="1", name="customer.segment"), "pick at least one segment"),
        (builder.Row(key="1", name="order.metadata", operator="$more_than", value="x"), "“x” is not a number"),
        (builder.Row(key="1", name="order.metadata", vtype="boolean", value="maybe"), "“maybe” is not yes or no"),
    ],
)
def test_values_that_cannot_be_read_are_errors_of_their_row(row, message):
    _, broken = builder.build([row], "1")
    assert broken and message in row.errors[0] and row.errors[0].startswith("Condition 1:")


def test_unknown_names_and_operators_fall_back_to_choices():
    row = builder.Row(key="1", name="order.nope", operator="$nope")
    assert (row.name, row.operator) == ("order.amount", "$is")


def test_adding_and_removing_rows_keeps_a_default_logic_in_step():
    rows, logic = builder.add_row([builder.Row(key="1")], "1")
    assert [r.key for r in rows] == ["1", "2"] and logic == "1 and 2"
    rows, logic = builder.add_row(rows, "1 or 2")
    assert logic == "1 or 2"  # written by hand: left alone
    rows, logic = builder.remove_row(rows, "2", "1 and 2 and 3")
    assert [r.key for r in rows] == ["1", "3"] and logic == "1 and 3"


def test_problems_of_the_language_land_on_their_rows():
    rows = [builder.Row(key="1"), builder.Row(key="2")]
    loose = builder.attach_errors(rows, {"rules.2.conditions": ["bad"], "rules.logic": ["logic"], "name": ["x"]})
    assert rows[1].errors == ["bad"] and rows[0].errors == []
    assert loose == ["logic", "x"]


def test_logic_problems_while_rows_are_incomplete():
    assert builder.logic_problems("1 and 3", ["1", "2"]) == [
        "Logic names condition 3, which the rule does not have.",
        "Condition 2 is not used in the logic expression.",
    ]
    assert builder.logic_problems("1 and 2", ["1", "2"]) == []


def test_a_condition_with_several_tests_warns_that_the_builder_keeps_one():
    stored = {"1": {"name": "order.amount", "conditions": {"$more_than": [100], "$less_than": [900]}}, "logic": "1"}
    rows, _ = builder.rows_from_rules(stored)
    assert rows[0].operator == "$more_than" and "also tests $less_than" in rows[0].errors[0]
