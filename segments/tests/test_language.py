"""The filter language: validation that names the condition at fault, the canonical form, the words."""

import datetime as dt

import pytest

from orders.choices import MetadataType
from segments import language as lang

SPENT_AND_ORDERED = {
    "junction": "and",
    "summary.orders.total_amount": {"conditions": {"$more_than": [15000]}},
    "summary.orders.total_count": {"conditions": {"$more_than_equal": [3]}},
}


def problems(data, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(lang.FilterError) as caught:
        lang.parse(data, **kwargs)
    return caught.value.as_dict()


def test_the_issue_example_reads_as_the_issue_says():
    definition = lang.parse(SPENT_AND_ORDERED)
    assert lang.describe(definition) == "Customers who spent more than $150.00 and ordered at least 3 times"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"summary.orders.last_order_date": {"conditions": {"$after": ["90 days ago"]}}},
         "Customers who last ordered within the last 90 days"),
        ({"summary.orders.last_order_date": {"conditions": {"$before": ["1 day ago"]}}},
         "Customers who last ordered more than 1 day ago"),
        ({"summary.orders.last_order_date": {"conditions": {"$is_unknown": []}}}, "Customers who have never ordered"),
        ({"created_at": {"conditions": {"$before": ["2026-01-31"]}}}, "Customers who joined before 2026-01-31"),
        ({"summary.orders.total_count": {"conditions": {"$is": [1]}}}, "Customers who ordered exactly once"),
        ({"summary.orders.total_count": {"conditions": {"$less_than": [2]}}},
         "Customers who ordered fewer than 2 times"),
        ({"summary.orders.total_amount": {"conditions": {"$in": [1000, 2000]}}},
         "Customers who spent $10.00 or $20.00"),
        ({"summary.orders.average_amount": {"conditions": {"$less_than_equal": [5000]}}},
         "Customers whose average order is at most $50.00"),
        ({"junction": "or", "email": {"conditions": {"$ends_with": ["@shop.example"]}},
          "metadata.tier": {"conditions": {"$in": ["gold", "silver"]}}},
         "Customers whose email ends with “@shop.example” or whose metadata “tier” is “gold” or “silver”"),
        ({"name": {"conditions": {"$is_unknown": []}}}, "Customers whose name is unknown"),
        ({"metadata.age": {"conditions": {"$more_than": [30]}}}, "Customers whose metadata “age” is more than 30"),
    ],
)  # fmt: skip
def test_definitions_in_words(data, words):
    assert lang.describe(lang.parse(data)) == words


def test_aliases_of_the_design_are_accepted_and_stored_under_the_issue_names():
    definition = lang.parse(
        {
            "summary.orders.total_amount": {"conditions": {"$more_than_or_equal": [100]}},
            "summary.orders.total_count": {"conditions": {"$less_than_or_equal": [9]}},
        }
    )
    assert definition.to_json() == {
        "junction": "and",
        "summary.orders.total_amount": {"conditions": {"$more_than_equal": [100]}},
        "summary.orders.total_count": {"conditions": {"$less_than_equal": [9]}},
    }


def test_the_canonical_form_has_a_fixed_order_and_lower_case_junction():
    shuffled = {
        "metadata.tier": {"conditions": {"$is": "gold"}},
        "summary.orders.total_count": {"conditions": {"$more_than_equal": [3]}},
        "JUNCTION".lower(): "OR",
        "summary.orders.total_amount": {"conditions": {"$less_than": [10], "$more_than": [1]}},
    }
    assert list(lang.parse(shuffled).to_json().items()) == [
        ("junction", "or"),
        ("summary.orders.total_amount", {"conditions": {"$more_than": [1], "$less_than": [10]}}),
        ("summary.orders.total_count", {"conditions": {"$more_than_equal": [3]}}),
        ("metadata.tier", {"conditions": {"$is": ["gold"]}}),
    ]


def test_every_problem_is_reported_and_names_its_condition():
    errors = problems(
        {
            "junction": "xor",
            "summary.orders.total_amunt": {"conditions": {"$is": [1]}},
            "summary.orders.total_amount": {"conditions": {"$more_than": ["150"], "$bigger": [1]}},
            "email": {"conditions": {"$before": ["2026-01-01"]}},
            "created_at": {"conditions": {"$after": ["last tuesday"]}},
            "summary.orders.total_count": {"conditions": {"$is": [1, 2]}},
            "name": {"conditions": {"$has_value": ["x"]}},
            "metadata.": {"conditions": {"$is": ["x"]}},
        }
    )
    assert "must be “and” or “or”" in errors["junction"][0]
    assert "unknown attribute “summary.orders.total_amunt”" in errors["summary.orders.total_amunt"][0]
    assert (
        "Total spent more than: amounts are whole numbers in minor units"
        in (errors["summary.orders.total_amount.$more_than"][0])
    )
    assert "unknown operator “$bigger”" in errors["summary.orders.total_amount.$bigger"][0]
    assert "Email cannot use $before" in errors["email.$before"][0]
    assert "“last tuesday” is not a date" in errors["created_at.$after"][0]
    assert "takes exactly one value, got 2 (use $in for several)" in errors["summary.orders.total_count.$is"][0]
    assert "takes no value" in errors["name.$has_value"][0]
    assert "metadata key must have 1 to 100 characters" in errors["metadata."][0]


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ([], "", "must be a JSON object"),
        ({"junction": "and"}, "", "Add at least one condition"),
        ({"email": {"conditions": {}}}, "email", "has no conditions"),
        ({"email": {"$is": ["a"]}}, "email", 'like {"conditions"'),
        ({"email": {"conditions": {"$is": ["a"]}, "junction": "or"}}, "email", "unknown fields: junction"),
        ({"email": {"conditions": {"$contains": [""]}}}, "email.$contains", "must not be empty"),
        ({"email": {"conditions": {"$in": []}}}, "email.$in", "needs a value"),
        ({"summary.orders.total_count": {"conditions": {"$is": [True]}}}, "summary.orders.total_count.$is",
         "whole number"),
        ({"summary.orders.total_count": {"conditions": {"$is": [1.5]}}}, "summary.orders.total_count.$is",
         "whole number"),
        ({"metadata.tier": {"conditions": {"$more_than": ["a"]}}}, "metadata.tier.$more_than", "must be a number"),
        ({"metadata.tier": {"conditions": {"$is": [{"a": 1}]}}}, "metadata.tier.$is", "text, a number or true/false"),
        ({"created_at": {"conditions": {"$after": ["99999999 days ago"]}}}, "created_at.$after", "not a date"),
    ],
)  # fmt: skip
def test_bad_filters_are_refused_with_a_clear_error(data, path, fragment):
    errors = problems(data)
    assert fragment in " ".join(errors[path])


def test_metadata_values_must_fit_the_customer_metadata_schema_when_the_key_is_defined():
    types = {"age": MetadataType.NUMBER, "vip": MetadataType.BOOLEAN, "prefs": MetadataType.OBJECT}
    errors = problems(
        {
            "metadata.age": {"conditions": {"$is": ["30"], "$contains": ["3"]}},
            "metadata.vip": {"conditions": {"$more_than": [1]}},
            "metadata.prefs": {"conditions": {"$is": ["x"]}},
        },
        metadata_types=types,
    )
    assert "holds number values" in errors["metadata.age.$is"][0]
    assert "not text" in errors["metadata.age.$contains"][0]
    assert "not numbers" in errors["metadata.vip.$more_than"][0]
    assert "holds objects" in errors["metadata.prefs.$is"][0]
    # undefined keys take any scalar; defined ones take values of their type
    lang.parse({"metadata.age": {"conditions": {"$is": [30]}}, "metadata.other": {"conditions": {"$is": ["30"]}}},
               metadata_types=types)  # fmt: skip


def test_dates_are_days_instants_or_days_ago():
    assert lang.parse_date("2026-01-31") == lang.DateValue(day=dt.date(2026, 1, 31))
    assert lang.parse_date("2026-01-31T12:00:00Z").instant == dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    assert lang.parse_date("2026-01-31T12:00:00+02:00").instant == dt.datetime(2026, 1, 31, 10, tzinfo=dt.UTC)
    assert lang.parse_date(" 90 Days Ago ") == lang.DateValue(days_ago=90)
    assert lang.parse_date("1 day ago").text == "1 day ago"
    now = dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC)
    assert lang.parse_date("2026-01-31").bounds(now) == (
        dt.datetime(2026, 1, 31, tzinfo=dt.UTC),
        dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    assert lang.parse_date("10 days ago").bounds(now) == (dt.datetime(2026, 6, 5, 12, tzinfo=dt.UTC), None)
    for bad in ("yesterday", "2026-13-01", "-3 days ago", 20260131):
        with pytest.raises(ValueError):
            lang.parse_date(bad)
