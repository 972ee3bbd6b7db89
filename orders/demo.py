"""Deterministic demo data: a catalog, customers and orders with items, redemptions and activity.

``demo_seed()`` fills an empty database for demos (``make run``) and benchmarks (``bench/seed.py``). It
writes rows directly (COPY on PostgreSQL, ``executemany`` on SQLite) instead of calling the services,
because a million orders through ``order_create`` would take hours; in exchange it must produce exactly
what the services would have produced, which is its contract:

- every amount obeys the model's check constraints and DESIGN §3 (amount = Σ item amounts, total discount
  = order discount + item discounts, total = amount - total discount, initial amount = amount);
- a SUCCEEDED redemption's amount is part of its order's ``discount_amount`` and the order is PAID or
  FULFILLED; a ROLLED_BACK redemption's discount has left the order and the order is CANCELED;
- each order's activity is the sequence of events the services record for the path the order took
  (``order.created`` first, then ``redemption.*`` / ``order.paid`` / ``order.fulfilled`` /
  ``order.canceled``), with increasing ``created_at``, the data in the shape documented in
  ``orders/events.py``, and ``updated_at``/``version`` of the order matching its last change;
- customer summaries equal what ``services.customer_summaries_rebuild()`` computes;
- the same ``seed``, sizes and ``now`` give the same rows (ids included: they come from the seeded RNG,
  not from ``secrets``); without ``now`` the timestamps move with the clock and everything else stays.

Orders are generated and written ``chunk_size`` at a time, so memory holds a couple of chunks plus a few
small values per customer (ids, sign-up times, running summaries), never the whole data set. Everything
happens in one transaction: a failure leaves nothing behind.
"""

import bisect
import datetime as dt
import json
import math
import queue
import random
import string
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model

from .choices import (
    SUMMARY_STATUSES,
    ActorType,
    EventType,
    IncentiveKind,
    OrderStatus,
    RedemptionStatus,
    RelatedObject,
)
from .ids import ALPHABET, PREFIXES, SUFFIX_LENGTH
from .models import SKU, Customer, Order, OrderEvent, OrderItem, Product, Redemption

ACTOR_NAME = "seed_demo"
SYSTEM = str(ActorType.SYSTEM.value)
CHUNK_SIZE = 20_000
PRODUCTS = 200
TARGET_SKUS = 600
HISTORY = dt.timedelta(days=730)
# Orders stop an hour before ``now`` so that every follow-up event of the newest orders still fits
# between their creation and ``now``.
QUIET_END = dt.timedelta(hours=1)

# Demo source ids; seed_demo refuses to run over rows that already use them (they are unique).
ORDER_SOURCE_PREFIX = "SHOP-"
CUSTOMER_SOURCE_PREFIX = "CUST-"
PRODUCT_SOURCE_PREFIX = "PROD-"

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- vocabulary -----------------------------------------------------------------------------------------

# category: (base names, price range in cents, variant axes)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[int, int], tuple[str, ...]]] = {
    "Footwear": (
        (
            "Trail Runner",
            "Road Racer",
            "Court Classic",
            "Hiking Boot",
            "City Sneaker",
            "Canvas Slip-On",
            "Rain Boot",
            "Approach Shoe",
        ),
        (5999, 24999),
        ("color", "shoe_size"),
    ),
    "Apparel": (
        (
            "Merino Tee",
            "Rain Jacket",
            "Fleece Hoodie",
            "Running Shorts",
            "Chino Pants",
            "Down Vest",
            "Linen Shirt",
            "Softshell Jacket",
            "Base Layer Top",
        ),
        (1999, 29999),
        ("color", "size"),
    ),
    "Accessories": (
        ("Canvas Tote", "Leather Belt", "Wool Beanie", "Sport Socks 3-Pack", "Sunglasses", "Cap", "Travel Wallet"),
        (999, 8999),
        ("color",),
    ),
    "Outdoor gear": (
        ("Daypack", "Trekking Poles", "Headlamp", "Sleeping Bag", "Camping Stove", "Dome Tent", "Water Bottle"),
        (1499, 49999),
        ("color",),
    ),
    "Home": (
        ("Ceramic Mug", "Wool Blanket", "Scented Candle", "Linen Napkins", "Cutting Board", "Tea Set"),
        (499, 12999),
        (),
    ),
}
EDITIONS = ("", " 2", " 3", " Pro", " Lite", " GTX", " Max", " Classic", " Eco", " XT")
BRANDS = ("Northwind", "Alpenglow", "Fjellvik", "Cascade & Co", "Kestrel", "Sierra Loop")
COLORS = (
    ("Black", "BLK"), ("White", "WHT"), ("Blue", "BLU"), ("Navy", "NVY"), ("Red", "RED"),
    ("Olive", "OLV"), ("Grey", "GRY"), ("Sand", "SND"),
)  # fmt: skip
AXIS_VALUES = {
    "shoe_size": tuple(str(size) for size in range(38, 47)),
    "size": ("XS", "S", "M", "L", "XL", "XXL"),
}

FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Elif", "Finn", "Greta", "Hugo", "Ines", "Jonas", "Kasia", "Liam",
    "Maja", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "William", "Xenia",
    "Yusuf", "Zoë", "Aiko", "Björn", "Camille", "Diego", "Emma", "Fatima", "Gabriel", "Hannah", "Ivan",
    "Julia", "Karim", "Lena", "Mateo", "Nora", "Oskar", "Priya", "Rafael", "Sofia", "Tomás", "Lucía",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Smith", "Kowalski", "García", "Rossi", "Dubois", "Jansen", "Andersson", "Nowak", "Schmidt",
    "Johnson", "Martin", "Bernard", "Fischer", "Weber", "Lopez", "Brown", "Taylor", "Novák", "Larsen",
    "O'Brien", "Nguyen", "Kim", "Silva", "Costa", "Meyer", "Wagner", "Becker", "Hoffmann", "Moreau",
    "Bianchi", "de Vries", "Lindqvist", "Wiśniewska", "Fernández", "Walker", "Clarke", "Okafor", "Sato",
)  # fmt: skip
# code: (weight, locale, calling code, cities)
COUNTRIES = {
    "US": (30, "en-US", "+1", ("New York", "Austin", "Seattle", "Denver", "Chicago")),
    "DE": (20, "de-DE", "+49", ("Berlin", "Hamburg", "München", "Köln", "Leipzig")),
    "GB": (12, "en-GB", "+44", ("London", "Manchester", "Bristol", "Leeds")),
    "FR": (8, "fr-FR", "+33", ("Paris", "Lyon", "Nantes", "Lille")),
    "NL": (6, "nl-NL", "+31", ("Amsterdam", "Utrecht", "Rotterdam")),
    "PL": (6, "pl-PL", "+48", ("Warszawa", "Kraków", "Gdańsk")),
    "ES": (5, "es-ES", "+34", ("Madrid", "Barcelona", "Valencia")),
    "IT": (5, "it-IT", "+39", ("Milano", "Roma", "Torino")),
    "SE": (4, "sv-SE", "+46", ("Stockholm", "Göteborg", "Malmö")),
    "CA": (4, "en-CA", "+1", ("Toronto", "Vancouver", "Montréal")),
}
TIERS = (("bronze", 50), ("silver", 30), ("gold", 15), ("platinum", 5))
PAYMENT_METHODS = (
    ("card", 55), ("paypal", 20), ("apple_pay", 10), ("klarna", 8), ("bank_transfer", 5), ("gift_card", 2)
)  # fmt: skip
CHANNELS = (("web", 60), ("app", 30), ("store", 10))
# Plain strings (not the enum members) for speed in the hot loop and for psycopg's text dumper.
CREATED, PAID, CANCELED, FULFILLED = (str(status.value) for status in OrderStatus)
SUCCEEDED, ROLLED_BACK = str(RedemptionStatus.SUCCEEDED.value), str(RedemptionStatus.ROLLED_BACK.value)
ORDER_CREATED = str(EventType.ORDER_CREATED.value)
REDEMPTION_SUCCEEDED = str(EventType.REDEMPTION_SUCCEEDED.value)
REDEMPTION_ROLLED_BACK = str(EventType.REDEMPTION_ROLLBACK_SUCCEEDED.value)
# A step of an order's story: the status it leads to and the event the services record for it.
STEP_STATUS = {
    "paid": (PAID, str(EventType.ORDER_PAID.value)),
    "fulfilled": (FULFILLED, str(EventType.ORDER_FULFILLED.value)),
    "canceled": (CANCELED, str(EventType.ORDER_CANCELED.value)),
}
COUNTED_STATUSES = frozenset(str(status.value) for status in SUMMARY_STATUSES)
# status: share of orders (all four present, most orders paid or fulfilled)
STATUS_SHARES = ((CREATED, 0.10), (PAID, 0.45), (FULFILLED, 0.35), (CANCELED, 0.10))
ITEM_COUNT_WEIGHTS = ((1, 30), (2, 25), (3, 18), (4, 12), (5, 9), (6, 6))
QUANTITY_WEIGHTS = ((1, 80), (2, 13), (3, 5), (4, 2))
GUEST_SHARE = 0.05
REFERRER_SHARE = 0.10
# Of PAID/FULFILLED orders, this share went through a redemption (≈8% of all orders); of CANCELED
# orders, this share is a rolled-back redemption (≈2% of all orders).
REDEEMED_SHARE = 0.10
ROLLED_BACK_SHARE = 0.20
ITEM_DISCOUNT_SHARE = 0.12
ORDER_DISCOUNT_SHARE = 0.08
GIFT_WRAP_SHARE = 0.05
GIFT_WRAP_JSON = '{"gift_wrap":true}'

# kind, code, name, percent off, amount off (cents), minimum order amount
INCENTIVES = (
    (IncentiveKind.VOUCHER, "SUMMER10", "Summer sale: 10% off", 10, 0, 0),
    (IncentiveKind.VOUCHER, "WELCOME5", "Welcome gift: 5.00 off", 0, 500, 2000),
    (IncentiveKind.VOUCHER, "BLACKFRIDAY25", "Black Friday: 25% off", 25, 0, 0),
    (IncentiveKind.VOUCHER, "FREESHIP", "Free shipping", 0, 499, 0),
    (IncentiveKind.PROMOTION_TIER, "", "Spend 100, save 15", 0, 1500, 10000),
)
ROLLBACK_REASONS = (
    "Customer canceled the order",
    "Payment was reversed by the bank",
    "Items out of stock",
    "Fraud check failed",
    "Duplicate order",
)


# --- results --------------------------------------------------------------------------------------------


@dataclass
class SeedResult:
    """What ``demo_seed`` wrote: rows per table and seconds per phase."""

    counts: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def add_time(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds


class DemoDataExists(Exception):
    """The database already holds rows with the demo's source ids (they are unique)."""


# --- ids ------------------------------------------------------------------------------------------------


class _IdSource:
    """Public ids in the ``orders.ids`` format (prefix, "_", 20 base62 characters) drawn from a seeded RNG.

    ``secrets`` would cost ~20 µs an id and make the data non-reproducible; here random bytes are mapped
    to base62 in bulk with ``bytes.translate``, dropping bytes ≥ 248 so every character stays equally likely.
    """

    _TABLE = "".join(ALPHABET[b % len(ALPHABET)] for b in range(256)).encode()
    _DROP = bytes(range(248, 256))

    def __init__(self, seed: int):
        self._rng = random.Random(f"ids:{seed}")
        self._buffer = ""
        self._pos = 0

    def __call__(self, kind: str) -> str:
        if self._pos + SUFFIX_LENGTH > len(self._buffer):
            raw = self._rng.randbytes(64 * 1024).translate(self._TABLE, self._DROP)
            self._buffer = self._buffer[self._pos :] + raw.decode("ascii")
            self._pos = 0
        start = self._pos
        self._pos += SUFFIX_LENGTH
        return f"{PREFIXES.get(kind, kind)}_{self._buffer[start : self._pos]}"


def _to_us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


# One encoder for millions of calls: json.dumps() with options builds a new encoder on every call.
_dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _weighted(pairs: Sequence[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    """Values and cumulative weights for ``random.choices(values, cum_weights=…)`` (no re-summing per draw)."""
    values, cumulative, total = [], [], 0.0
    for value, weight in pairs:
        total += weight
        values.append(value)
        cumulative.append(total)
    return values, cumulative


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch in string.ascii_lowercase + string.digits)


def _price(rng: random.Random, low: int, high: int) -> int:
    """A shop-like price in cents ending in 99, log-uniform in [low, high] so cheap items are commoner."""
    cents = math.exp(rng.uniform(math.log(low), math.log(high)))
    return max(low, min(high, int(cents) // 100 * 100 + 99))


# --- catalog --------------------------------------------------------------------------------------------


@dataclass
class _Line:
    """A sellable catalog entry as an order item snapshots it (a SKU, or a product without variants)."""

    related_object: str
    product_id: str
    product_source_id: str
    product_name: str
    sku_id: str | None
    sku_source_id: str
    sku_name: str
    price: int

    @property
    def key(self) -> str:
        # Same identity as events.item_key: what items_diff matches lines by.
        return f"sku:{self.sku_id}" if self.sku_id else f"product:{self.product_id}"


def _catalog(rng: random.Random, new_id: _IdSource, start: dt.datetime) -> tuple[list, list, list[_Line]]:
    """Product rows, SKU rows, and the sellable lines order items are drawn from."""
    candidates = [
        (category, base + edition)
        for category, (bases, _, _) in CATEGORIES.items()
        for base in bases
        for edition in EDITIONS
    ]
    chosen = sorted(rng.sample(candidates, PRODUCTS))
    with_variants = [i for i, (category, _) in enumerate(chosen) if CATEGORIES[category][2]]
    # Spread TARGET_SKUS over the products that have variant axes: 2 to 5 each, then nudge to the target.
    variant_counts = {i: rng.randint(2, 5) for i in with_variants}
    while (total := sum(variant_counts.values())) != TARGET_SKUS and with_variants:
        i = rng.choice(with_variants)
        if total < TARGET_SKUS and variant_counts[i] < 8:
            variant_counts[i] += 1
        elif total > TARGET_SKUS and variant_counts[i] > 1:
            variant_counts[i] -= 1

    products, skus, lines = [], [], []
    for index, (category, name) in enumerate(chosen):
        _, (low, high), axes = CATEGORIES[category]
        product_id = new_id("product")
        source_id = f"{PRODUCT_SOURCE_PREFIX}{index + 1:04d}"
        price = _price(rng, low, high)
        created = start + dt.timedelta(minutes=index)
        metadata = {"category": category, "brand": rng.choice(BRANDS)}
        products.append((product_id, source_id, name, price, _dumps(metadata), created, created))
        if not axes:
            lines.append(_Line(str(RelatedObject.PRODUCT.value), product_id, source_id, name, None, "", "", price))
            continue
        combos = [(color,) for color in COLORS]
        if len(axes) == 2:
            combos = [(color, size) for color in COLORS for size in AXIS_VALUES[axes[1]]]
        for combo in sorted(rng.sample(combos, min(variant_counts[index], len(combos)))):
            (color_name, color_code), *rest = combo
            label = " / ".join([color_name, *rest])
            sku_source_id = "-".join([source_id, color_code, *rest])
            sku_metadata = {"color": color_name, **({"size": rest[0]} if rest else {})}
            sku_id = new_id("sku")
            sku_name = f"{name} — {label}"
            skus.append((sku_id, sku_source_id, product_id, sku_name, price, _dumps(sku_metadata), created, created))
            lines.append(
                _Line(str(RelatedObject.SKU.value), product_id, source_id, name, sku_id, sku_source_id, sku_name, price)
            )
    return products, skus, lines


# --- customers ------------------------------------------------------------------------------------------


@dataclass
class _Customers:
    """What order generation needs to know about customers (index = position in sign-up order)."""

    ids: list[str] = field(default_factory=list)
    signup_us: list[int] = field(default_factory=list)  # µs since the epoch, ascending
    cum_weights: list[float] = field(default_factory=list)  # some customers buy far more than others
    countries: list[str] = field(default_factory=list)


def _plan_customers(rng: random.Random, new_id: _IdSource, count: int, start_us: int, end_us: int) -> _Customers:
    countries, country_weights = _weighted([(code, spec[0]) for code, spec in COUNTRIES.items()])
    plan = _Customers()
    plan.signup_us = sorted(rng.randrange(start_us, end_us) for _ in range(count))
    total_weight = 0.0
    for _ in range(count):
        total_weight += rng.lognormvariate(0.0, 1.0)
        plan.ids.append(new_id("customer"))
        plan.cum_weights.append(total_weight)
        plan.countries.append(rng.choices(countries, cum_weights=country_weights)[0])
    return plan


def _customer_rows(rng: random.Random, plan: _Customers, summaries: dict[int, list], start: int, stop: int) -> list:
    """Rows for customers ``start``..``stop`` with their final order summaries. The details no order depends
    on (names, contact, metadata) come from ``rng``, a stream of their own, drawn in customer order."""
    tiers, tier_weights = _weighted(TIERS)
    rows = []
    for index in range(start, stop):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country = plan.countries[index]
        _, _, calling_code, cities = COUNTRIES[country]
        phone = f"{calling_code} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}" if rng.random() < 0.7 else ""
        birthdate = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000)) if rng.random() < 0.4 else None
        metadata = {
            "tier": rng.choices(tiers, cum_weights=tier_weights)[0],
            "newsletter": rng.random() < 0.35,
            "country": country,
        }
        created = EPOCH + dt.timedelta(microseconds=plan.signup_us[index])
        summary = (0, 0, 0, None, None)
        if (found := summaries.get(index)) is not None:
            total, count, (last_us, _), last_amount = found
            summary = (total, count, total // count, last_amount, EPOCH + dt.timedelta(microseconds=last_us))
        rows.append(
            (
                plan.ids[index],
                f"{CUSTOMER_SOURCE_PREFIX}{index + 1:07d}",
                f"{first} {last}",
                f"{_slug(first)}.{_slug(last)}.{index + 1}@example.com",
                phone,
                "",
                _dumps({"city": rng.choice(cities), "country": country}),
                birthdate,
                _dumps(metadata),
                created,
                created,
                *summary,
            )
        )
    return rows


# --- orders ---------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    orders: list[tuple] = field(default_factory=list)
    items: list[tuple] = field(default_factory=list)
    redemptions: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)


class _OrderFactory:
    """Generates orders one at a time, in source-id order with non-decreasing ``created_at``.

    Keeps the running customer summaries (PAID and FULFILLED orders only, like the services) so that they
    can be written once at the end instead of being recomputed from the orders.
    """

    def __init__(
        self,
        rng: random.Random,
        new_id: _IdSource,
        lines: list[_Line],
        customers: _Customers,
        total: int,
        start_us: int,
        end_us: int,
        now_us: int,
    ):
        self.rng, self.new_id, self.lines, self.customers = rng, new_id, lines, customers
        self.total, self.start_us, self.span_us, self.now_us = total, start_us, end_us - start_us, now_us
        # Zipf-like popularity over a shuffled catalog: a few bestsellers, a long tail.
        ranks = list(range(len(lines)))
        rng.shuffle(ranks)
        self.line_cum = list(_weighted([(i, 1.0 / (rank + 1) ** 0.8) for i, rank in enumerate(ranks)])[1])
        self.item_counts, self.item_count_cum = _weighted(ITEM_COUNT_WEIGHTS)
        self.quantities, self.quantity_cum = _weighted(QUANTITY_WEIGHTS)
        self.payment_methods, self.payment_cum = _weighted(PAYMENT_METHODS)
        self.channels, self.channel_cum = _weighted(CHANNELS)
        self.all_locales = [spec[1] for spec in COUNTRIES.values()]
        self.incentives = [
            (str(kind), new_id("v" if kind == IncentiveKind.VOUCHER else "promo"), code, name, pct, off, minimum)
            for kind, code, name, pct, off, minimum in INCENTIVES
        ]
        # customer index -> [total, count, (created_us, order id) of the latest, its total]
        self.summaries: dict[int, list] = {}

    def _created_us(self, index: int) -> int:
        """Order rate doubles over the history (the shop grows): density ∝ 1 + x on x ∈ [0, 1]."""
        f = (index + self.rng.random()) / self.total
        x = math.sqrt(1.0 + 3.0 * f) - 1.0
        return self.start_us + int(x * self.span_us)

    def _pick_customer(self, created_us: int, exclude: int | None = None, weighted: bool = True) -> int | None:
        """The index of a customer who had signed up by ``created_us`` (None if nobody had, or if the pick
        is ``exclude``); heavy buyers come up more often when ``weighted``."""
        signed_up = bisect.bisect_right(self.customers.signup_us, created_us)
        if not signed_up:
            return None
        rng = self.rng
        if weighted:
            cum_weights = self.customers.cum_weights
            index = min(bisect.bisect_right(cum_weights, rng.random() * cum_weights[signed_up - 1]), signed_up - 1)
        else:
            index = rng.randrange(signed_up)
        return None if index == exclude else index

    def _timeline(self, created_us: int, delays: list[int]) -> list[int]:
        """Timestamps after ``created_us`` separated by ``delays`` (µs), squeezed to end before ``now``."""
        room = self.now_us - created_us
        total = sum(delays)
        if total >= room:
            factor = room / total * 0.99
            delays = [max(1, int(delay * factor)) for delay in delays]
        times, t = [], created_us
        for delay in delays:
            t += delay
            times.append(t)
        return times

    def build(self, index: int, chunk: _Chunk) -> None:
        rng, new_id = self.rng, self.new_id
        order_id = new_id("order")
        source_id = f"{ORDER_SOURCE_PREFIX}{index + 1:07d}"
        created_us = self._created_us(index)

        customer = None if rng.random() < GUEST_SHARE else self._pick_customer(created_us)
        referrer = self._pick_customer(created_us, customer, weighted=False) if rng.random() < REFERRER_SHARE else None
        customer_id = None if customer is None else self.customers.ids[customer]
        referrer_id = None if referrer is None else self.customers.ids[referrer]

        r = rng.random()
        status = CANCELED
        for candidate, share in STATUS_SHARES:
            if r < share:
                status = candidate
                break
            r -= share
        redeemed = status in COUNTED_STATUSES and rng.random() < REDEEMED_SHARE
        rolled_back = status == CANCELED and rng.random() < ROLLED_BACK_SHARE

        # Items: distinct catalog lines (events.items_diff matches lines by catalog object).
        count = rng.choices(self.item_counts, cum_weights=self.item_count_cum)[0]
        picked: list[int] = []
        for _ in range(count * 3):
            line_index = bisect.bisect_right(self.line_cum, rng.random() * self.line_cum[-1])
            line_index = min(line_index, len(self.lines) - 1)
            if line_index not in picked:
                picked.append(line_index)
                if len(picked) == count:
                    break
        amount = items_discount = units = 0
        snapshots = []
        for position, line_index in enumerate(picked):
            line = self.lines[line_index]
            quantity = rng.choices(self.quantities, cum_weights=self.quantity_cum)[0]
            line_amount = line.price * quantity
            discount = line_amount * rng.choice((10, 15, 20, 25)) // 100 if rng.random() < ITEM_DISCOUNT_SHARE else 0
            gift_wrap = rng.random() < GIFT_WRAP_SHARE
            metadata = {"gift_wrap": True} if gift_wrap else {}
            amount += line_amount
            items_discount += discount
            units += quantity
            chunk.items.append(
                (
                    new_id("order_item"), order_id, position, line.related_object, line.product_id, line.sku_id,
                    line.product_source_id, line.product_name, line.sku_source_id, line.sku_name, quantity,
                    line.price, line_amount, discount, line_amount - discount, GIFT_WRAP_JSON if gift_wrap else "{}",
                )
            )  # fmt: skip
            snapshots.append(
                {
                    "key": line.key,
                    "name": line.sku_name or line.product_name,
                    "related_object": line.related_object,
                    "product_id": line.product_id,
                    "sku_id": line.sku_id,
                    "source_id": line.sku_source_id if line.sku_id else line.product_source_id,
                    "quantity": quantity,
                    "price": line.price,
                    "amount": line_amount,
                    "discount_amount": discount,
                    "subtotal_amount": line_amount - discount,
                    "metadata": metadata,
                }
            )

        # Order-level discount given at creation; a redemption adds its amount on top later.
        order_discount = 0
        if rng.random() < ORDER_DISCOUNT_SHARE:
            # At most half of what is left, so that a later redemption still has something to take off.
            remaining = amount - items_discount
            order_discount = min(remaining // 2, rng.choice((500, 1000, remaining * 5 // 100)))
        redemption = None
        if redeemed or rolled_back:
            remaining = amount - items_discount - order_discount
            eligible = [incentive for incentive in self.incentives if amount >= incentive[6]]
            kind, incentive_id, code, name, percent, off, _ = rng.choice(eligible)
            value = min(remaining, remaining * percent // 100 if percent else off)
            redemption = (kind, incentive_id, code, name, value)

        metadata = {
            "payment_method": rng.choices(self.payment_methods, cum_weights=self.payment_cum)[0],
            # Customers mostly shop in their own locale; guests in any.
            "locale": COUNTRIES[self.customers.countries[customer]][1]
            if customer is not None and rng.random() < 0.9
            else rng.choice(self.all_locales),
            "channel": rng.choices(self.channels, cum_weights=self.channel_cum)[0],
        }

        # The order's story: the delays (µs) of each step after the previous one.
        steps: list[tuple[str, int]] = []
        if status in (PAID, FULFILLED) or rolled_back:
            pay_delay = rng.randint(MINUTE, 2 * HOUR)
            if redemption:
                steps += [("redeem", pay_delay), ("paid", rng.randint(1, SECOND))]
            else:
                steps.append(("paid", pay_delay))
            if status == FULFILLED:
                steps.append(("fulfilled", rng.randint(DAY // 2, 7 * DAY)))
            elif rolled_back:
                steps += [("rollback", rng.randint(HOUR, 14 * DAY)), ("canceled", rng.randint(1, SECOND))]
        if status == CANCELED and not rolled_back:
            if rng.random() < 0.5:
                steps.append(("paid", rng.randint(MINUTE, 2 * HOUR)))
            steps.append(("canceled", rng.randint(HOUR, 10 * DAY)))
        times = self._timeline(created_us, [delay for _, delay in steps])

        # Amounts at creation (before any redemption) and at the end.
        def totals(discount: int) -> dict[str, int]:
            return {
                "discount_amount": discount,
                "items_discount_amount": items_discount,
                "total_discount_amount": discount + items_discount,
                "total_amount": amount - discount - items_discount,
            }

        final_discount = order_discount + (redemption[4] if redeemed else 0)
        final = totals(final_discount)
        created = EPOCH + dt.timedelta(microseconds=created_us)
        changes: dict[str, Any] = {"source_id": source_id, "status": CREATED}
        if customer_id:
            changes["customer_id"] = customer_id
        if referrer_id:
            changes["referrer_id"] = referrer_id
        changes |= {"amount": amount, "initial_amount": amount, **totals(order_discount)}
        created_data = {
            "changes": {name: {"before": None, "after": value} for name, value in changes.items()},
            "items": {"added": snapshots},
            "metadata": {"set": {key: {"before": None, "after": value} for key, value in metadata.items()}},
        }
        events = chunk.events
        actor = (SYSTEM, None, "", ACTOR_NAME)
        events.append((order_id, ORDER_CREATED, *actor, _dumps(created_data), created))

        redemption_id = new_id("redemption") if redemption else None
        previous_status, previous_step = CREATED, ""
        version = 1
        redemption_row: list[Any] | None = None
        for (step, _), at_us in zip(steps, times, strict=True):
            at = EPOCH + dt.timedelta(microseconds=at_us)
            if step == "redeem":
                kind, incentive_id, code, name, value = redemption
                data = {
                    "redemption_id": redemption_id,
                    "incentive": {"kind": kind, "id": incentive_id, "code": code, "name": name},
                    "amount": value,
                    "changes": {"discount_amount": {"before": order_discount, "after": order_discount + value}},
                }
                events.append((order_id, REDEMPTION_SUCCEEDED, *actor, _dumps(data), at))
                redemption_row = [
                    redemption_id, order_id, customer_id, kind, incentive_id, code, name, value, SUCCEEDED, "", "",
                    at, None, "", None,
                ]  # fmt: skip
                version += 1  # redemption_record: one update, which also makes the order PAID
            elif step == "rollback":
                kind, incentive_id, code, name, value = redemption
                rollback_id = new_id("rollback")
                reason = rng.choice(ROLLBACK_REASONS)
                data = {
                    "redemption_id": redemption_id,
                    "rollback_id": rollback_id,
                    "reason": reason,
                    "incentive": {"kind": kind, "id": incentive_id, "code": code, "name": name},
                    "amount": value,
                    "changes": {"discount_amount": {"before": order_discount + value, "after": order_discount}},
                }
                events.append((order_id, REDEMPTION_ROLLED_BACK, *actor, _dumps(data), at))
                redemption_row[8] = ROLLED_BACK
                redemption_row[12:] = [rollback_id, reason, at]
                version += 1  # redemption_rollback: one update, which also cancels the order
            else:
                after, event_type = STEP_STATUS[step]
                data = {"changes": {"status": {"before": previous_status, "after": after}}}
                if previous_step in ("redeem", "rollback"):
                    # The services name the redemption that moved the status, in the same update.
                    data["redemption_id"] = redemption_id
                else:
                    version += 1
                events.append((order_id, event_type, *actor, _dumps(data), at))
                previous_status = after
            previous_step = step
        if redemption_row is not None:
            chunk.redemptions.append(tuple(redemption_row))
        updated = EPOCH + dt.timedelta(microseconds=times[-1]) if times else created

        chunk.orders.append(
            (
                order_id, source_id, status, customer_id, referrer_id, amount, amount, final_discount,
                items_discount, final["total_discount_amount"], final["total_amount"], len(picked), units,
                _dumps(metadata), created, updated, version,
            )
        )  # fmt: skip
        if customer is not None and status in COUNTED_STATUSES:
            summary = self.summaries.get(customer)
            key = (created_us, order_id)
            if summary is None:
                self.summaries[customer] = [final["total_amount"], 1, key, final["total_amount"]]
            else:
                summary[0] += final["total_amount"]
                summary[1] += 1
                # The rebuild's order: latest created_at, then highest id. (created_at grows with the order
                # index, so the newest order seen is the latest anyway; the comparison keeps that explicit.)
                if key > summary[2]:
                    summary[2], summary[3] = key, final["total_amount"]


class _ChunkProducer:
    """Generates chunks of orders in a background thread while the caller writes the previous one.

    The writer spends most of its time waiting for the database (COPY, index and FK work happen in the
    server process), and a thread waiting on a socket releases the GIL, so generation and writing overlap
    on two cores. One producer keeps the RNG sequence, hence the data, deterministic; a queue of one
    chunk keeps memory bounded. The producer never touches the database.
    """

    def __init__(self, factory: _OrderFactory, orders: int, chunk_size: int):
        self.factory, self.orders, self.chunk_size = factory, orders, chunk_size
        self.queue: queue.Queue[_Chunk | BaseException | None] = queue.Queue(maxsize=1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="seed_demo-generator", daemon=True)
        self.generate_seconds = 0.0
        self.wait_seconds = 0.0

    def _put(self, item) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for offset in range(0, self.orders, self.chunk_size):
                chunk = _Chunk()
                mark = time.perf_counter()
                for index in range(offset, min(self.orders, offset + self.chunk_size)):
                    self.factory.build(index, chunk)
                self.generate_seconds += time.perf_counter() - mark
                if not self._put(chunk):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the writer thread, which re-raises it
            self._put(exc)

    def __enter__(self) -> "_ChunkProducer":
        self.thread.start()
        return self

    def __iter__(self) -> Iterator[_Chunk]:
        while True:
            mark = time.perf_counter()
            item = self.queue.get()
            self.wait_seconds += time.perf_counter() - mark
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def __exit__(self, *exc_info) -> None:
        # On a write error the producer may be blocked on a full queue: tell it to stop, then wait for it,
        # so that nobody reads factory.summaries while it is still being written.
        self.stopping.set()
        self.thread.join()


# --- writing --------------------------------------------------------------------------------------------

TABLE_FIELDS: dict[type[Model], tuple[str, ...]] = {
    Product: ("id", "source_id", "name", "price", "metadata", "created_at", "updated_at"),
    SKU: ("id", "source_id", "product_id", "sku", "price", "metadata", "created_at", "updated_at"),
    Customer: (
        "id", "source_id", "name", "email", "phone", "description", "address", "birthdate", "metadata",
        "created_at", "updated_at", "orders_total_amount", "orders_total_count", "orders_average_amount",
        "last_order_amount", "last_order_date",
    ),
    Order: (
        "id", "source_id", "status", "customer_id", "referrer_id", "amount", "initial_amount", "discount_amount",
        "items_discount_amount", "total_discount_amount", "total_amount", "items_count", "items_quantity",
        "metadata", "created_at", "updated_at", "version",
    ),
    OrderItem: (
        "id", "order_id", "position", "related_object", "product_id", "sku_id", "product_source_id",
        "product_name", "sku_source_id", "sku_name", "quantity", "price", "amount", "discount_amount",
        "subtotal_amount", "metadata",
    ),
    Redemption: (
        "id", "order_id", "customer_id", "incentive_kind", "incentive_id", "incentive_code", "incentive_name",
        "amount", "status", "failure_code", "failure_message", "created_at", "rollback_id", "rollback_reason",
        "rollback_date",
    ),
    OrderEvent: ("order_id", "type", "actor_type", "actor_user_id", "actor_id", "actor_name", "data", "created_at"),
}  # fmt: skip


def _columns(model: type[Model]) -> list[str]:
    # get_field() knows attnames too ("customer_id"), so foreign keys resolve to their column.
    return [model._meta.get_field(name).column for name in TABLE_FIELDS[model]]


class _Writer:
    """Appends rows to a table: COPY on PostgreSQL, executemany elsewhere (SQLite)."""

    def __init__(self, connection):
        self.connection = connection
        self.postgres = connection.vendor == "postgresql"

    def write(self, model: type[Model], rows: Sequence[tuple]) -> None:
        if not rows:
            return
        table = model._meta.db_table
        columns = _columns(model)
        quoted = ", ".join(self.connection.ops.quote_name(column) for column in columns)
        with self.connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                adapt = self._adapters(model)
                if adapt:
                    rows = [
                        tuple(fn(v) if fn and v is not None else v for fn, v in zip(adapt, row, strict=True))
                        for row in rows
                    ]
                placeholders = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", list(rows))

    def _adapters(self, model: type[Model]) -> list[Callable | None]:
        ops = self.connection.ops
        adapters: list[Callable | None] = []
        for column in _columns(model):
            internal = next(f for f in model._meta.concrete_fields if f.column == column).get_internal_type()
            adapters.append(
                {"DateTimeField": ops.adapt_datetimefield_value, "DateField": ops.adapt_datefield_value}.get(internal)
            )
        return adapters if any(adapters) else []

    def suspend_integrity(self, models: Iterable[type[Model]]) -> list[str]:
        """Drop the foreign keys of ``models``' tables and their indexes that back no constraint; return the
        SQL that puts them back (``restore_integrity``). PostgreSQL only; elsewhere nothing happens.

        Measured at 1M orders: the per-row FK triggers and the row-by-row upkeep of ~35 btree/GIN indexes,
        mostly on random keys (public ids), dominated the load and slowed it down more and more once the
        indexes outgrew shared_buffers; sorted index builds and one validating join per foreign key at the
        end cost a fraction of that. Primary keys, unique and check constraints stay, so bad rows still
        fail at once, and the re-added foreign keys validate every row. It all happens in the seed's
        transaction (DDL is transactional), so a failure restores the schema; the exclusive locks it takes
        on those tables last until commit, which suits seeding.
        """
        if not self.postgres:
            return []
        quote = self.connection.ops.quote_name
        tables = [[model._meta.db_table for model in models]]
        with self.connection.cursor() as cursor:
            # ALTER TABLE refuses a table with deferred FK checks pending in this transaction (e.g. after a
            # DELETE): run them now. Django's foreign keys are INITIALLY DEFERRED; restore_integrity resets that.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                """
                SELECT index_class.relname, pg_get_indexdef(ix.indexrelid)
                FROM pg_index ix
                JOIN pg_class index_class ON index_class.oid = ix.indexrelid
                JOIN pg_class table_class ON table_class.oid = ix.indrelid
                WHERE table_class.relname = ANY(%s) AND pg_table_is_visible(table_class.oid)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid)
                ORDER BY 1
                """,
                tables,
            )
            indexes = cursor.fetchall()
            cursor.execute(
                """
                SELECT con.conname, table_class.relname, pg_get_constraintdef(con.oid)
                FROM pg_constraint con
                JOIN pg_class table_class ON table_class.oid = con.conrelid
                WHERE con.contype = 'f' AND table_class.relname = ANY(%s) AND pg_table_is_visible(table_class.oid)
                ORDER BY 1
                """,
                tables,
            )
            foreign_keys = cursor.fetchall()
            for name, table, _ in foreign_keys:
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {quote(name)}")
        return [definition for _, definition in indexes] + [
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
            for name, table, definition in foreign_keys
        ]

    def restore_integrity(self, statements: list[str]) -> None:
        """Run what ``suspend_integrity`` returned: rebuild the indexes, re-add (and so validate) the FKs."""
        if not self.postgres:
            return
        with self.connection.cursor() as cursor:
            # Index builds sort in memory rather than in temporary files; SET LOCAL ends with the transaction.
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for statement in statements:
                cursor.execute(statement)
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    def analyze(self, models: Iterable[type[Model]]) -> None:
        # Fresh tables have no statistics; without them the planner guesses badly (e.g. in the summary rebuild).
        if self.postgres:
            with self.connection.cursor() as cursor:
                cursor.execute("ANALYZE " + ", ".join(model._meta.db_table for model in models))


# --- entry point ----------------------------------------------------------------------------------------


def default_customers(orders: int) -> int:
    """About one customer for every five orders, at least ten."""
    return max(10, orders // 5)


def demo_data_conflicts(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Tables that already hold rows with the demo's (unique) source ids; empty when seeding can proceed."""
    checks = (
        (Order, ORDER_SOURCE_PREFIX),
        (Customer, CUSTOMER_SOURCE_PREFIX),
        (Product, PRODUCT_SOURCE_PREFIX),
        (SKU, PRODUCT_SOURCE_PREFIX),
    )
    return [
        str(model._meta.verbose_name_plural)
        for model, prefix in checks
        if model._default_manager.using(using).filter(source_id__startswith=prefix).exists()
    ]


def demo_seed(
    *,
    orders: int,
    customers: int | None = None,
    seed: int = 1,
    now: dt.datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
    using: str = DEFAULT_DB_ALIAS,
    progress: Callable[[str], None] | None = None,
) -> SeedResult:
    """Write ``orders`` demo orders (and the catalog, ``customers`` customers, items, redemptions, activity
    and customer summaries) in one transaction; see the module docstring for what the data guarantees.

    ``now`` anchors the two years of history (default: the current time). ``progress`` receives a line
    every few chunks. Raises ``DemoDataExists`` when demo source ids are already taken (nothing is written).
    """
    if orders < 0:
        raise ValueError("orders must be >= 0")
    customers = default_customers(orders) if customers is None else customers
    if customers < 0:
        raise ValueError("customers must be >= 0")
    began = time.perf_counter()
    result = SeedResult()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    end = now - QUIET_END
    start = end - HISTORY
    start_us, end_us, now_us = (_to_us(moment) for moment in (start, end, now))
    rng = random.Random(f"data:{seed}")
    new_id = _IdSource(seed)
    connection = connections[using]
    writer = _Writer(connection)

    def timed(phase: str, fn: Callable, *args):
        mark = time.perf_counter()
        value = fn(*args)
        result.add_time(phase, time.perf_counter() - mark)
        return value

    with transaction.atomic(using=using):
        conflicts = demo_data_conflicts(using)
        if conflicts:
            raise DemoDataExists(f"demo rows already exist in: {', '.join(conflicts)}")
        loaded = (Customer, Order, OrderItem, Redemption, OrderEvent)
        restore_sql = timed("foreign keys, indexes: drop", writer.suspend_integrity, loaded)

        products, skus, lines = timed("catalog: generate", _catalog, rng, new_id, start - dt.timedelta(days=30))
        timed("catalog: write", writer.write, Product, products)
        timed("catalog: write", writer.write, SKU, skus)
        plan = timed("customers: plan", _plan_customers, rng, new_id, customers, start_us, end_us)

        factory = _OrderFactory(rng, new_id, lines, plan, max(orders, 1), start_us, end_us, now_us)
        totals = {"orders": 0, "order items": 0, "redemptions": 0, "order events": 0}
        with _ChunkProducer(factory, orders, chunk_size) as producer:
            for chunk in producer:
                for model, rows, name in (
                    (Order, chunk.orders, "orders"),
                    (OrderItem, chunk.items, "order items"),
                    (Redemption, chunk.redemptions, "redemptions"),
                    (OrderEvent, chunk.events, "order events"),
                ):
                    timed(f"write: {name}", writer.write, model, rows)
                    totals[name] += len(rows)
                if progress and totals["orders"] % (5 * chunk_size) == 0:
                    progress(f"  {totals['orders']:,} orders written ({time.perf_counter() - began:.0f} s)")
        result.add_time("orders: generate (overlaps writing)", producer.generate_seconds)
        result.add_time("orders: writer waited for generator", producer.wait_seconds)

        # Customers go in last, with the summaries of the orders just written, so that no summary UPDATE
        # rewrites every customer row. Their foreign keys are checked at the end: re-added on PostgreSQL,
        # deferred to commit (as Django declares them) on SQLite.
        details = random.Random(f"customers:{seed}")
        for offset in range(0, customers, chunk_size):
            rows = timed(
                "customers: generate", _customer_rows, details, plan, factory.summaries, offset,
                min(customers, offset + chunk_size),
            )  # fmt: skip
            timed("write: customers", writer.write, Customer, rows)
        result.counts = {"products": len(products), "skus": len(skus), "customers": customers, **totals}
        timed("foreign keys, indexes: restore", writer.restore_integrity, restore_sql)
        timed("analyze", writer.analyze, (Product, SKU, Customer, Order, OrderItem, Redemption, OrderEvent))
    result.seconds = time.perf_counter() - began
    return result
