"""The compiled query selects exactly the customers a brute-force Python reading of the same filter selects
(segments/tests/oracle.py), for every attribute and operator, on SQLite and on PostgreSQL alike."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import services
from orders.choices import OrderStatus
from orders.models import Customer
from orders.tests.factories import SYSTEM, CustomerFactory
from segments import compiler
from segments import language as lang

from .oracle import CustomerRow, OrderRow, select

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)

ALPHABET = "aAbzZ@.éÉß "
KEYS = ("tier", "age", "a.b", 'q"k')
AMOUNTS = (0, 500, 1000, 1500, 15000)
STATUSES = tuple(OrderStatus.values)
SCALARS = ("gold", "Gold", "gold ", "", "2026-06-01", "2026-06-01T10:00:00", 0, 1, 1.5, -2, True, False)
METADATA_VALUES = st.one_of(
    st.sampled_from(SCALARS), st.none(), st.just(["gold"]), st.just({"x": 1}), st.text(alphabet="goldG", max_size=4)
)


def day(days: int) -> str:
    return (NOW - dt.timedelta(days=days)).date().isoformat()


DATE_POOL = (
    *(f"{n} days ago" for n in (0, 1, 30, 90, 200)),
    *(day(n) for n in (0, 30, 90, 150)),
    (NOW - dt.timedelta(days=30)).isoformat(),
    "2026-03-01T00:00:00Z",
)
TEXT_POOL = ("a", "A", "é", "É", "ab", "z@", ".", "ß", "Zz", "a a")

customer_data = st.fixed_dictionaries(
    {
        "name": st.text(alphabet=ALPHABET, max_size=4),
        "email": st.one_of(st.just(""), st.text(alphabet=ALPHABET.strip(), min_size=1, max_size=4)),
        "created": st.tuples(st.integers(0, 400), st.integers(0, 23)),
        "metadata": st.dictionaries(st.sampled_from(KEYS), METADATA_VALUES, max_size=3),
        "orders": st.lists(
            st.tuples(st.sampled_from(STATUSES), st.sampled_from(AMOUNTS), st.integers(0, 200), st.integers(0, 2)),
            max_size=3,
        ),
    }
)


def pool(attribute: lang.Attribute, op: str) -> tuple:
    """The values one condition draws from (chosen to hit the test data's edges)."""
    kind = attribute.kind
    if kind == lang.MONEY:
        return (0, 499, 500, 1000, 1500, 2000, 15000)
    if kind == lang.COUNT:
        return (0, 1, 2, 3)
    if kind == lang.DATE or op in (lang.BEFORE, lang.AFTER):
        return DATE_POOL
    if kind == lang.TEXT:
        return TEXT_POOL
    if op in lang.COMPARISONS:
        return (-1, 0, 1, 1.5, 3)
    if op in lang.TEXT_MATCHES:
        return ("go", "Go", "ld", "2026", "d")
    return SCALARS


def takes_many(op: str) -> bool:
    return op in (lang.IN, lang.NOT_IN, *lang.TEXT_MATCHES)


def values_for(attribute: lang.Attribute, op: str):
    """A strategy for the JSON values of one condition."""
    if op in lang.NO_VALUE:
        return st.just([])
    one = st.sampled_from(pool(attribute, op))
    return st.lists(one, min_size=1, max_size=3, unique_by=repr) if takes_many(op) else one.map(lambda v: [v])


ATTRIBUTE_NAMES = [*lang.ATTRIBUTES, *(f"metadata.{key}" for key in KEYS)]


@st.composite
def conditions(draw, attribute_name: str):
    attribute = lang.attribute(attribute_name)
    ops = draw(st.lists(st.sampled_from(lang.OPERATORS_BY_KIND[attribute.kind]), min_size=1, max_size=2, unique=True))
    return {attribute.name: {"conditions": {op: draw(values_for(attribute, op)) for op in ops}}}


@st.composite
def filters(draw, attribute_name: str | None = None):
    """A filter of one to three attributes (``attribute_name`` first, when given), each with one or two
    operators, joined by "and" or "or"."""
    names = [attribute_name] if attribute_name else []
    names += draw(st.lists(st.sampled_from(ATTRIBUTE_NAMES), min_size=0 if names else 1, max_size=2))
    data = {"junction": draw(st.sampled_from(["and", "or"]))}
    for name in names:
        data.update(draw(conditions(name)))
    return data


def create(customers: list[dict]) -> list[CustomerRow]:
    """The customers and their orders, through the orders services (which keep the summaries)."""
    rows = []
    for n, data in enumerate(customers):
        created = NOW - dt.timedelta(days=data["created"][0], hours=data["created"][1])
        customer = CustomerFactory(
            name=data["name"], email=data["email"], metadata=data["metadata"], created_at=created
        )
        row = CustomerRow(customer.pk, data["name"], data["email"], created, data["metadata"])
        for m, (status, amount, days, hours) in enumerate(data["orders"]):
            order = services.order_create(
                actor=SYSTEM,
                source_id=f"h-{n}-{m}",
                customer=customer,
                status=status,
                items=[],
                amount=amount,
                created_at=NOW - dt.timedelta(days=days, hours=hours),
            )
            row.orders.append(OrderRow(order.pk, order.status, order.total_amount, order.created_at))
        rows.append(row)
    return rows


def compiled(definition: lang.Definition) -> set[str]:
    return set(Customer.objects.filter(compiler.to_q(definition, now=NOW)).values_list("pk", flat=True))


def check(customers: list[dict], data: dict) -> None:
    definition = lang.parse(data)
    with transaction.atomic():
        rows = create(customers)
        assert compiled(definition) == select(definition, rows, NOW), (data, lang.describe(definition))
        transaction.set_rollback(True)


@pytest.mark.parametrize("attribute_name", ATTRIBUTE_NAMES)
def test_compiled_query_selects_what_brute_force_selects(attribute_name):
    """For each attribute: random customers and orders, random conditions on it (and maybe others)."""

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(customers=st.lists(customer_data, min_size=1, max_size=6), data=filters(attribute_name))
    def run(customers, data):
        check(customers, data)

    run()


RICH_CUSTOMERS = [
    {"name": "Ann Able", "email": "ann@a.example", "created": (10, 1), "metadata": {"tier": "gold", "age": 30},
     "orders": [("PAID", 15000, 5, 0), ("FULFILLED", 1000, 40, 0), ("CANCELED", 500, 1, 0)]},
    {"name": "BOB", "email": "", "created": (100, 2), "metadata": {"tier": "Gold", "age": 1.5, "a.b": True},
     "orders": [("PAID", 500, 95, 0), ("CREATED", 15000, 2, 0)]},
    {"name": "zoé É", "email": "Z@B.example", "created": (300, 0), "metadata": {"tier": None, 'q"k': "2026-06-01"},
     "orders": []},
    {"name": "", "email": "ß@c.example", "created": (30, 0), "metadata": {"tier": ["gold"], "age": "30"},
     "orders": [("FULFILLED", 1500, 30, 0), ("PAID", 1500, 30, 0)]},
    {"name": "abz", "email": "abz@x.example", "created": (0, 0), "metadata": {"a.b": "2026-06-10T08:00:00"},
     "orders": [("PAID", 0, 0, 1)]},
]  # fmt: skip


def test_every_attribute_and_operator_agrees_with_brute_force():
    """Deterministic coverage of every (attribute, operator) pair with every value of its pool (and a few
    lists of values), on one data set."""
    rows = create(RICH_CUSTOMERS)
    checked = 0
    for name in ATTRIBUTE_NAMES:
        attribute = lang.attribute(name)
        for op in lang.OPERATORS_BY_KIND[attribute.kind]:
            if op in lang.NO_VALUE:
                cases = [[]]
            else:
                values = pool(attribute, op)
                cases = [[v] for v in values]
                if takes_many(op):
                    cases += [list(values[:2]), list(values[1:4])]
            for case in cases:
                definition = lang.parse({name: {"conditions": {op: case}}})
                assert compiled(definition) == select(definition, rows, NOW), (name, op, case)
                checked += 1
    assert checked > 300


def test_the_compiled_filter_is_one_query_over_customers():
    create(RICH_CUSTOMERS)
    definition = lang.parse(
        {
            "junction": "and",
            "summary.orders.total_amount": {"conditions": {"$more_than": [1000]}},
            "summary.orders.total_count": {"conditions": {"$more_than_equal": [1]}},
            "summary.orders.last_order_date": {"conditions": {"$after": ["90 days ago"]}},
            "metadata.tier": {"conditions": {"$in": ["gold", "Gold"]}},
            "email": {"conditions": {"$contains": ["example"]}},
        }
    )
    with CaptureQueriesContext(connection) as queries:
        count = Customer.objects.filter(compiler.to_q(definition, now=NOW)).count()
    assert count == 1
    assert len(queries) == 1
    sql = queries[0]["sql"]
    assert "orders_order" not in sql  # the summary columns, never the orders
    assert "orders_total_amount" in sql and "last_order_date" in sql


def test_relative_dates_move_with_now():
    create(RICH_CUSTOMERS)
    within_30 = lang.parse({"summary.orders.last_order_date": {"conditions": {"$after": ["30 days ago"]}}})
    names = lambda now: set(  # noqa: E731
        Customer.objects.filter(compiler.to_q(within_30, now=now)).values_list("name", flat=True)
    )
    # Ann's last counted order is 5 days old, abz's is from today; the one of "" is exactly 30 days old (not after)
    assert names(NOW) == {"Ann Able", "abz"}
    assert names(NOW - dt.timedelta(days=1)) == {"Ann Able", "abz", ""}
    assert names(NOW + dt.timedelta(days=26)) == {"abz"}
    assert names(NOW + dt.timedelta(days=31)) == set()
