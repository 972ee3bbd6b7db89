"""Models of the project app: API keys (the REST API's credentials). Writes live in
``orders_dashboard.api.keys``."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiKey(models.Model):
    """A credential of the REST API: the client sends ``X-App-Id: <app_id>`` and ``X-App-Token: <token>``.

    Only a SHA-256 hash of the token is stored, never the token (it is shown once, when the key is made).
    A fast hash is enough here because the token is not a password: it is 256 random bits from
    ``secrets``, so there is nothing to guess from a leaked hash that a slow, salted password hash
    (PBKDF2, Argon2) would protect, and a slow hash would cost every API request tens of milliseconds.
    The key's ``name`` is the actor of the order activity its requests cause.
    """

    name = models.CharField(max_length=100, help_text="Who uses this key, e.g. the shop's backend.")
    app_id = models.CharField("app id", max_length=64, unique=True)
    token_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Updated at most once a minute (see orders_dashboard.api.keys.touch), so that use costs no write
    # per request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="apikey_name_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.app_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
