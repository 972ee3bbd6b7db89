from django.apps import AppConfig


class RulesConfig(AppConfig):
    """Validation rules and incentives (DESIGN §4); depends on ``segments`` and ``orders``."""

    name = "rules"
    verbose_name = "Rules"

    def ready(self) -> None:
        # What rules adds to the orders pages, through the registration points orders offers: the order
        # page's Rules tab and the orders list's ``rule`` filter.
        from orders import tabs
        from orders.filters import register_order_filter

        from . import filters

        tabs.register(
            tabs.OrderTab(
                key="rules",
                label="Rules",
                url_name="rules:order_tab",
                permission="rules.view_incentive",
                order=200,
            )
        )
        register_order_filter("rule", filters.order_filter(), describe=filters.describe)
