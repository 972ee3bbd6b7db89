"""Public identifiers: a type prefix and a random suffix (``ord_3kTq…``), as the Voucherify API uses.

The suffix is 20 characters of base62 from ``secrets`` (~119 bits), so ids are unguessable and collisions
are not a practical concern; uniqueness is still enforced by the primary key.
"""

import re
import secrets
import string
from functools import partial

ALPHABET = string.ascii_letters + string.digits
SUFFIX_LENGTH = 20
ID_MAX_LENGTH = 64

PREFIXES = {
    "order": "ord",
    "order_item": "ordli",
    "customer": "cust",
    "product": "prod",
    "sku": "sku",
    "redemption": "r",
    "rollback": "rr",
    "event": "evt",
    "validation_rule": "val",
    # incentives (rules.Incentive), by kind, as Voucherify names vouchers and promotion tiers
    "voucher": "v",
    "promotion_tier": "promo",
    "segment": "seg",
    "export": "exp",
    "async_action": "aa",
}


def new_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(ALPHABET) for _ in range(SUFFIX_LENGTH))


def id_factory(kind: str):
    """A zero-argument callable for a model field's ``default`` (migrations serialise the partial)."""
    return partial(new_id, PREFIXES[kind])


def looks_like(kind: str, value: str) -> bool:
    return bool(re.fullmatch(rf"{PREFIXES[kind]}_[A-Za-z0-9]{{1,{ID_MAX_LENGTH - 8}}}", value or ""))
