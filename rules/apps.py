from django.apps import AppConfig


class RulesConfig(AppConfig):
    """Validation rules and incentives (DESIGN §4); depends on ``segments`` and ``orders``."""

    name = "rules"
    verbose_name = "Rules"
