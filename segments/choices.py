"""Enumerations of the segments app."""

from django.db import models


class SegmentType(models.TextChoices):
    STATIC = "static", "Static"
    AUTO_UPDATE = "auto-update", "Auto-update"
