"""Property: no body posted to POST /api/v1/orders gets a 500 — only an order (200) or an error envelope
(400/404/409/413). Bodies are order-shaped JSON with hostile values in every place, arbitrary JSON, and
arbitrary bytes. Every answer is also checked against the OpenAPI schema by the client."""

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from orders.tests import api_support
from orders.tests.api_support import API

# The API fixtures of api_support, bound here so that this module's tests can ask for them.
api, api_key = api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "ord_",
        "cust_x",
        "prod_1",
        "sku_1",
        "PAID",
        "product",
        "sku",
        "x" * 300,
        "=cmd|' /C calc'!A0",
        "'; DROP TABLE orders_order; --",
        "😀",
        "\u202e",
        "1e400",
        "NaN",
        "2022-01-02",
    ]
)
TEXT = st.one_of(NASTY_TEXT, st.text(max_size=40))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 10**15, 10**15 + 1, 2**63 - 1, 2**63, 10**9, 10**9 + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)


def maybe(strategy):
    return st.one_of(strategy, JSON)


CATALOG = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(TEXT),
        "source_id": maybe(TEXT),
        "name": maybe(TEXT),
        "sku": maybe(TEXT),
        "price": maybe(NUMBERS),
        "metadata": maybe(st.dictionaries(TEXT, JSON, max_size=3)),
        "override": maybe(st.booleans()),
    },
)
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "source_id": maybe(TEXT),
        "product_id": maybe(TEXT),
        "sku_id": maybe(TEXT),
        "related_object": maybe(st.sampled_from(["product", "sku", "PRODUCT", ""])),
        "quantity": maybe(NUMBERS),
        "price": maybe(NUMBERS),
        "amount": maybe(NUMBERS),
        "discount_amount": maybe(NUMBERS),
        "metadata": maybe(st.dictionaries(TEXT, JSON, max_size=3)),
        "product": maybe(CATALOG),
        "sku": maybe(CATALOG),
    },
)
PARTY = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(TEXT),
        "source_id": maybe(TEXT),
        "name": maybe(TEXT),
        "email": maybe(st.one_of(TEXT, st.emails())),
        "phone": maybe(TEXT),
        "address": maybe(st.dictionaries(TEXT, JSON, max_size=3)),
        "metadata": maybe(st.dictionaries(TEXT, JSON, max_size=3)),
        "birthdate": maybe(TEXT),
        "birthday": maybe(TEXT),
    },
)
ORDER = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(TEXT),
        "source_id": maybe(TEXT),
        "status": maybe(st.sampled_from(["CREATED", "PAID", "CANCELED", "FULFILLED", "paid", ""])),
        "amount": maybe(NUMBERS),
        "initial_amount": maybe(NUMBERS),
        "discount_amount": maybe(NUMBERS),
        "metadata": maybe(st.dictionaries(TEXT, JSON, max_size=4)),
        "items": maybe(st.lists(ITEM, max_size=4)),
        "customer": maybe(PARTY),
        "customer_id": maybe(TEXT),
        "referrer": maybe(PARTY),
        "referrer_id": maybe(TEXT),
        "created_at": maybe(TEXT),
    },
)

# Right types, edge values: these get past the shape check and probe the services and the database.
SAFE_TEXT = st.one_of(
    st.sampled_from(["", " ", "ord_", "cust_x", "prod_1", "sku_1", "x" * 256, "😀", "\u202e", "a.b", "p-1", "p-2"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
)
AMOUNT = st.one_of(st.integers(min_value=0, max_value=10**15), st.sampled_from([0, 1, 10**15, 10**15 - 1]))
PLAUSIBLE_CATALOG = st.fixed_dictionaries(
    {},
    optional={
        "source_id": SAFE_TEXT,
        "name": SAFE_TEXT,
        "sku": SAFE_TEXT,
        "price": AMOUNT,
        "override": st.booleans(),
        "metadata": st.dictionaries(SAFE_TEXT, st.one_of(SAFE_TEXT, AMOUNT, st.booleans()), max_size=3),
    },
)
PLAUSIBLE_ITEM = st.fixed_dictionaries(
    {"source_id": st.sampled_from(["p-1", "p-2", "s-1", "prod_1"])},
    optional={
        "related_object": st.sampled_from(["product", "sku"]),
        "quantity": st.integers(min_value=1, max_value=10**9),
        "price": AMOUNT,
        "amount": AMOUNT,
        "discount_amount": AMOUNT,
        "metadata": st.dictionaries(SAFE_TEXT, SAFE_TEXT, max_size=3),
        "product": PLAUSIBLE_CATALOG,
        "sku": PLAUSIBLE_CATALOG,
        "product_id": st.sampled_from(["prod_missing", ""]),
    },
)
PLAUSIBLE_PARTY = st.fixed_dictionaries(
    {"source_id": st.sampled_from(["c-1", "c-2", "c-3"])},
    optional={
        "name": SAFE_TEXT,
        "email": st.one_of(st.emails(), SAFE_TEXT),
        "phone": SAFE_TEXT,
        "birthdate": st.one_of(st.dates().map(str), SAFE_TEXT),
        "address": st.dictionaries(SAFE_TEXT, SAFE_TEXT),
        "metadata": st.dictionaries(SAFE_TEXT, st.one_of(SAFE_TEXT, AMOUNT), max_size=3),
    },
)
PLAUSIBLE_ORDER = st.fixed_dictionaries(
    {},
    optional={
        "source_id": st.sampled_from(["o-1", "o-2", "o-3", "x" * 255, "x" * 256]),
        "status": st.sampled_from(["CREATED", "PAID", "CANCELED", "FULFILLED"]),
        "amount": AMOUNT,
        "initial_amount": AMOUNT,
        "discount_amount": AMOUNT,
        "metadata": st.dictionaries(SAFE_TEXT, st.one_of(SAFE_TEXT, AMOUNT, st.booleans()), max_size=4),
        "items": st.lists(PLAUSIBLE_ITEM, max_size=5),
        "customer": PLAUSIBLE_PARTY,
        "referrer": PLAUSIBLE_PARTY,
        "customer_id": st.sampled_from(["cust_missing", ""]),
    },
)


def check(response):
    assert response.status_code in (200, 400, 404, 409, 413), (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/json"
    body = response.json()
    event(f"status {response.status_code}")
    if response.status_code != 200:
        assert body["code"] == response.status_code and body["details"]


@FUZZ
@given(body=ORDER)
def test_order_shaped_bodies_never_get_a_500(api, body):
    check(api.generic("POST", f"{API}/orders", json.dumps(body), content_type="application/json"))


@FUZZ
@given(body=JSON)
def test_any_json_never_gets_a_500(api, body):
    check(api.generic("POST", f"{API}/orders", json.dumps(body), content_type="application/json"))


@settings(FUZZ, max_examples=250)
@given(body=PLAUSIBLE_ORDER)
def test_plausible_orders_never_get_a_500(api, body):
    check(api.post(f"{API}/orders", body, format="json"))


@settings(FUZZ, max_examples=60)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_bytes_never_get_a_500(api, raw):
    check(api.generic("POST", f"{API}/orders", raw, content_type="application/json"))


@settings(FUZZ, max_examples=60)
@given(body=ORDER)
def test_updates_never_get_a_500(api, body):
    created = api.post(f"{API}/orders", {"source_id": "fuzz-target", "amount": 100}, format="json")
    assert created.status_code == 200
    check(api.generic("PUT", f"{API}/orders/fuzz-target", json.dumps(body), content_type="application/json"))
