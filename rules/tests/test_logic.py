"""The logic expression parser: precedence, parentheses, malformed input, blame."""

import itertools

import pytest

from rules import logic


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("1", ("ref", "1")),
        ("1 and 2", ("and", (("ref", "1"), ("ref", "2")))),
        ("1 or 2 and 3", ("or", (("ref", "1"), ("and", (("ref", "2"), ("ref", "3")))))),
        ("1 and 2 or 3", ("or", (("and", (("ref", "1"), ("ref", "2"))), ("ref", "3")))),
        ("(1 or 2) and 3", ("and", (("or", (("ref", "1"), ("ref", "2"))), ("ref", "3")))),
        ("not 1 and 2", ("and", (("not", ("ref", "1")), ("ref", "2")))),
        ("not (1 and 2)", ("not", ("and", (("ref", "1"), ("ref", "2"))))),
        ("not not 1", ("not", ("not", ("ref", "1")))),
        ("1 AND 2 Or NOT 3", ("or", (("and", (("ref", "1"), ("ref", "2"))), ("not", ("ref", "3"))))),
        ("((1))", ("ref", "1")),
        ("  1   and\n2 ", ("and", (("ref", "1"), ("ref", "2")))),
        ("1 and 2 and 3", ("and", (("ref", "1"), ("ref", "2"), ("ref", "3")))),
        ("01", ("ref", "1")),
    ],
)
def test_parse_follows_precedence_not_and_or(text, tree):
    assert logic.parse(text) == tree


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "empty", 1),
        ("   ", "empty", 1),
        ("1 and", "ends where a condition number", 6),
        ("and 1", "Expected a condition number or “(” at character 1", 1),
        ("(1 or 2", "“(” at character 1 is never closed", 1),
        ("1 or 2)", "“)” at character 7 closes no “(”", 7),
        ("()", "Expected a condition number or “(” at character 2", 2),
        ("1 2", "Expected and/or at character 3", 3),
        ("1 && 2", "“&” at character 3 is not allowed", 3),
        ("1 xor 2", "“xor” at character 3 is not and, or, not", 3),
        ("not", "ends where a condition number", 4),
        ("1 or (2 and)", "Expected a condition number or “(” at character 12", 12),
        ("(1 or 2 3)", "Expected “)” or and/or at character 9", 9),
        ("__import__('os')", "is not and, or, not", 1),
        ("1 + 2", "“+” at character 3 is not allowed", 3),
    ],
)
def test_malformed_expressions_say_what_and_where(text, message, position):
    with pytest.raises(logic.LogicError) as problem:
        logic.parse(text)
    assert message in problem.value.message
    assert problem.value.position == position


def test_parse_refuses_non_text_overlong_and_too_deep_expressions():
    with pytest.raises(logic.LogicError, match="must be text"):
        logic.parse(1)
    with pytest.raises(logic.LogicError, match="longer than"):
        logic.parse("1 and " * 300 + "1")
    with pytest.raises(logic.LogicError, match="nested more than"):
        logic.parse("(" * 40 + "1" + ")" * 40)
    with pytest.raises(logic.LogicError, match="nested more than"):
        logic.parse("not " * 40 + "1")


# Each expression with the same formula written by hand as a Python function (Python's not/and/or have
# the same precedence), checked on every assignment of the three conditions.
REFERENCES = {
    "1 and 2 or 3": lambda a, b, c: (a and b) or c,
    "1 or 2 and 3": lambda a, b, c: a or (b and c),
    "not 1 or 2 and not 3": lambda a, b, c: (not a) or (b and not c),
    "(1 or 2) and not (3 and 1)": lambda a, b, c: (a or b) and not (c and a),
    "not (1 or not 2) or 3": lambda a, b, c: (not (a or not b)) or c,
}


@pytest.mark.parametrize("text", list(REFERENCES))
def test_evaluate_agrees_with_boolean_algebra_for_every_assignment(text):
    tree = logic.parse(text)
    for bits in itertools.product([False, True], repeat=3):
        values = dict(zip(("1", "2", "3"), bits, strict=True))
        assert logic.evaluate(tree, values) == REFERENCES[text](*bits)
        # the canonical text reads back to the same tree
        assert logic.parse(logic.to_text(tree)) == tree


@pytest.mark.parametrize(
    ("text", "values", "blamed"),
    [
        ("1 and 2", {"1": False, "2": True}, ["1"]),
        ("1 and 2", {"1": False, "2": False}, ["1", "2"]),
        ("1 or 2", {"1": False, "2": False}, ["1", "2"]),
        ("not 1", {"1": True}, ["1"]),
        ("1 and not 2", {"1": True, "2": True}, ["2"]),
        ("1 and (2 or 3)", {"1": True, "2": False, "3": False}, ["2", "3"]),
        ("1 and 2", {"1": True, "2": True}, []),
    ],
)
def test_blame_names_the_conditions_that_made_it_fail(text, values, blamed):
    assert logic.blame(logic.parse(text), values) == blamed


def test_references_in_order_of_appearance():
    assert logic.references(logic.parse("3 and (1 or 3) and not 2")) == ["3", "1", "2"]
