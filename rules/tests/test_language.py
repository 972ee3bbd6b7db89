"""Checking rule definitions: every problem is reported, each naming its condition; the canonical form."""

import pytest

from rules import language as lang


def problems(data) -> dict[str, list[str]]:
    with pytest.raises(lang.RuleError) as error:
        lang.parse(data)
    return error.value.as_dict()


def test_a_valid_rule_is_stored_in_canonical_form():
    ruleset = lang.parse(
        {
            "2": {"name": "order.metadata", "property": " channel ", "conditions": {"$in": ["web", "app"]}},
            "1": {
                "name": "order.amount",
                "conditions": {"$more_than_equal": [5000]},
                "error": {"message": "  Spend 50  "},
            },
            "10": {
                "name": "order.items.any",
                "conditions": {"$is": [{"id": "prod_a", "object": "product", "source_id": "ignored"}]},
                "rules": {"1": {"name": "order.items.quantity", "conditions": {"$more_than": [1]}}, "logic": "1"},
            },
            "logic": "(1 AND 2) or (10)",
        }
    )
    assert ruleset.to_json() == {
        "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}, "error": {"message": "Spend 50"}},
        "2": {"name": "order.metadata", "property": "channel", "conditions": {"$in": ["web", "app"]}},
        "10": {
            "name": "order.items.any",
            "conditions": {"$is": [{"id": "prod_a", "object": "product"}]},
            "rules": {"1": {"name": "order.items.quantity", "conditions": {"$more_than": [1]}}, "logic": "1"},
        },
        "logic": "1 and 2 or 10",
    }
    # the canonical form reads back to itself
    assert lang.parse(ruleset.to_json()).to_json() == ruleset.to_json()


def test_missing_logic_means_all_conditions():
    ruleset = lang.parse(
        {
            "1": {"name": "order.amount", "conditions": {"$is": [1]}},
            "2": {"name": "order.amount", "conditions": {"$is": [2]}},
        }
    )
    assert ruleset.logic_text == "1 and 2"


def test_unknown_condition_names_and_operators_name_their_condition():
    errors = problems(
        {
            "1": {"name": "order.amout", "conditions": {"$is": [1]}},
            "2": {"name": "order.amount", "conditions": {"$foo": [1]}},
            "3": {"name": "order.amount", "conditions": {"$contains": [1]}},
            "4": {"name": "customer.segment", "conditions": {"$is": ["seg_a"]}},
            "logic": "1 and 2 and 3 and 4",
        }
    )
    assert "Condition 1: unknown condition name “order.amout”" in errors["1.name"][0]
    assert "Condition 2 (order.amount): unknown operator “$foo”" in errors["2.conditions"][0]
    assert "order.amount does not take $contains" in errors["3.conditions"][0]
    assert "customer.segment does not take $is; use one of $in, $not_in" in errors["4.conditions"][0]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"name": "order.amount", "conditions": {"$is": ["5000"]}}, "“5000” is not an amount"),
        ({"name": "order.amount", "conditions": {"$is": [50.5]}}, "50.5 is not an amount"),
        ({"name": "order.amount", "conditions": {"$is": [True]}}, "True is not an amount"),
        ({"name": "order.amount", "conditions": {"$is": [-1]}}, "out of range"),
        ({"name": "order.amount", "conditions": {"$is": [1, 2]}}, "takes exactly one value, not 2"),
        ({"name": "order.amount", "conditions": {"$is": 5}}, "must be a list"),
        ({"name": "order.amount", "conditions": {"$in": []}}, "needs a value"),
        ({"name": "order.items.count", "conditions": {"$more_than": ["2"]}}, "is not a whole number"),
        ({"name": "order.metadata", "conditions": {"$is": ["x"]}}, "name the metadata key in “property”"),
        ({"name": "order.amount", "property": "x", "conditions": {"$is": [1]}}, "takes no “property”"),
        ({"name": "order.metadata", "property": "k", "conditions": {"$more_than": ["5"]}}, "compares numbers"),
        ({"name": "order.metadata", "property": "k", "conditions": {"$contains": [5]}}, "takes text"),
        ({"name": "order.metadata", "property": "k", "conditions": {"$is": [None]}}, "is not text, a number"),
        ({"name": "order.metadata", "property": "k", "conditions": {"$is": [{"a": 1}]}}, "is not text, a number"),
        ({"name": "order.metadata", "property": "k", "conditions": {"$before": ["yesterday"]}}, "is not a date"),
        ({"name": "order.metadata", "property": "k", "conditions": {"$has_value": [1]}}, "takes no values"),
        ({"name": "customer.segment", "conditions": {"$in": [5]}}, "is not a segment id"),
        ({"name": "order.items.any", "conditions": {"$is": ["prod_a"]}}, "is not a catalog object"),
        ({"name": "order.items.any", "conditions": {"$is": [{"id": "x", "object": "order"}]}}, "“object” must be"),
        ({"name": "order.items.any", "conditions": {"$is": [{"object": "sku"}]}}, "“id” must be the sku's id"),
        (
            {"name": "order.amount", "conditions": {"$is": [1]}, "rules": {"1": {"name": "order.items.price"}}},
            "only order.items.any/every/none take nested",
        ),
        ({"name": "order.amount", "conditions": {}}, "must name an operator"),
        ({"name": "order.amount", "conditions": {"$is": [1]}, "error": "x"}, "“error” must be"),
        ({"name": "order.amount", "conditions": {"$is": [1]}, "colour": 1}, "unknown field(s) colour"),
        ("order.amount >= 5", "must be an object"),
    ],
)
def test_wrong_values_are_clear_errors_naming_the_condition(condition, message):
    errors = problems({"7": condition, "logic": "7"})
    text = " ".join(m for messages in errors.values() for m in messages)
    assert message in text
    assert "Condition 7" in text


@pytest.mark.parametrize(
    ("logic", "message"),
    [
        ("1 and 3", "Logic names condition 3, which the rule does not have."),
        ("1 and (2", "Logic: The “(” at character 7 is never closed."),
        ("1 and 2 or", "Logic: The expression ends where"),
        ("1", "Condition 2 is not used in the logic expression."),
        ("1 and 2 and 3 and 4", "Logic names conditions 3, 4"),
        ("1 ; 2", "Logic: “;” at character 3 is not allowed"),
    ],
)
def test_logic_problems_are_reported_under_logic(logic, message):
    errors = problems(
        {
            "1": {"name": "order.amount", "conditions": {"$is": [1]}},
            "2": {"name": "order.amount", "conditions": {"$is": [2]}},
            "logic": logic,
        }
    )
    assert any(message in m for m in errors["logic"])


def test_nested_rule_problems_name_the_nested_condition():
    errors = problems(
        {
            "1": {
                "name": "order.items.every",
                "conditions": {"$is": [{"id": "prod_a", "object": "product"}]},
                "rules": {
                    "1": {"name": "order.amount", "conditions": {"$is": [1]}},
                    "2": {"name": "order.items.price", "conditions": {"$is": ["cheap"]}},
                    "logic": "1 and 3",
                },
            },
            "logic": "1",
        }
    )
    assert "Condition 1 › 1: order.amount cannot be nested" in errors["1.rules.1.name"][0]
    assert "Condition 1 › 2 (order.items.price): “cheap” is not an amount" in errors["1.rules.2.conditions"][0]
    assert "Logic names condition 3" in errors["1.rules.logic"][0]


def test_item_conditions_belong_inside_items_tests():
    errors = problems({"1": {"name": "order.items.aggregated_quantity", "conditions": {"$is": [1]}}, "logic": "1"})
    assert "belongs inside order.items.any/every/none" in errors["1.name"][0]


def test_every_problem_is_reported_at_once():
    errors = problems(
        {
            "1": {"name": "nope", "conditions": {"$is": [1]}},
            "2": {"name": "order.amount", "conditions": {"$is": ["x"]}},
            "x": {"name": "order.amount", "conditions": {"$is": [1]}},
            "logic": "1 and 9",
        }
    )
    assert set(errors) == {"1.name", "2.conditions", "x", "logic"}


def test_rule_shape_problems():
    assert problems([]) == {"": ["The rules must be an object of numbered conditions and a “logic” expression."]}
    assert "Add at least one condition." in problems({"logic": "1"})[""]
    too_many = {str(i): {"name": "order.amount", "conditions": {"$is": [i]}} for i in range(1, 52)}
    assert "At most 50 conditions." in problems(too_many)[""]


def test_catalog_and_segment_references_are_listed_for_the_service_to_check():
    ruleset = lang.parse(
        {
            "1": {"name": "order.items.none", "conditions": {"$in": [{"id": "sku_1", "object": "sku"}]}},
            "2": {"name": "customer.segment", "conditions": {"$not_in": ["seg_a", "seg_b"]}},
            "logic": "1 or 2",
        }
    )
    assert lang.catalog_refs(ruleset) == [("1.conditions", lang.CatalogRef("sku_1", "sku"))]
    assert lang.segment_ids(ruleset) == [("2.conditions", "seg_a"), ("2.conditions", "seg_b")]
    assert ruleset.uses_segments and ruleset.uses_customer


def test_describe_reads_like_a_sentence():
    ruleset = lang.parse(
        {"1": {"name": "order.metadata", "property": "channel", "conditions": {"$in": ["web", "app"]}}, "logic": "1"}
    )
    assert ruleset.conditions["1"].describe() == "Order metadata “channel” is one of “web”, “app”"
