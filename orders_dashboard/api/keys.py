"""API keys: every write (create, revoke, last use) and the check of a presented key.

A key is an app id (public, like a user name) and a token (secret, 256 random bits, shown once). The
database keeps the SHA-256 of the token only; see ``ApiKey`` for why a fast hash is the right one here.
"""

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from orders_dashboard.models import ApiKey

TOKEN_BYTES = 32
# How stale ``last_used_at`` may be: a key used all day long costs one UPDATE a minute, not one a request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length
# A well-formed but unused hash, compared against when the app id is unknown, so that an unknown app id
# and a wrong token take the same time.
_NO_HASH = "0" * 64


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str  # the only time the token exists outside the client


@transaction.atomic
def api_key_create(*, name: str, created_by=None) -> NewKey:
    """Make an active key named ``name`` (stripped, 1–100 characters; ValueError otherwise). Returns the
    key and its token, which is not stored anywhere and cannot be shown again."""
    name = (name or "").strip()
    if not name:
        raise ValueError("Give the key a name.")
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"A key's name can have at most {NAME_MAX_LENGTH} characters.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    key = ApiKey.objects.create(
        name=name, app_id=str(uuid.uuid4()), token_hash=hash_token(token), created_by=created_by
    )
    return NewKey(key=key, token=token)


@transaction.atomic
def api_key_revoke(*, key: ApiKey | int, revoked_by=None) -> ApiKey:
    """Revoke the key: from now on its requests get 401. Revoking a revoked key changes nothing.
    Raises ApiKey.DoesNotExist for an unknown key."""
    key_id = key.pk if isinstance(key, ApiKey) else key
    key = ApiKey.objects.select_for_update().get(pk=key_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.revoked_by = revoked_by
        key.save(update_fields=["revoked_at", "revoked_by"])
    return key


def api_key_check(app_id: str, token: str) -> ApiKey | None:
    """The active key that ``app_id`` and ``token`` name, or None. One indexed query; the hash is compared
    in constant time whether or not the app id exists."""
    key = None
    if app_id and len(app_id) <= 64:
        try:
            key = ApiKey.objects.get(app_id=app_id)  # unique: no ORDER BY, unlike first()
        except ApiKey.DoesNotExist:
            key = None
    expected = key.token_hash if key is not None else _NO_HASH
    matches = hmac.compare_digest(expected, hash_token(token or ""))
    if key is None or not matches or key.revoked_at is not None:
        return None
    return key


def touch(key: ApiKey, now: dt.datetime | None = None) -> None:
    """Record that ``key`` was just used, at most once per LAST_USED_RESOLUTION. The UPDATE is conditional on
    the value read, so concurrent requests of one key write once and never wait on each other's row lock
    for long."""
    now = now or timezone.now()
    previous = key.last_used_at
    if previous is not None and now - previous < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=key.pk, last_used_at=previous).update(last_used_at=now)
    key.last_used_at = now
