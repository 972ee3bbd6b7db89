from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    """Customer segments (DESIGN §4); depends on ``orders``, never the other way round."""

    name = "segments"
    verbose_name = "Segments"
