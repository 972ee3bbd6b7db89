from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    """Customer segments (DESIGN §4); depends on ``orders``, never the other way round."""

    name = "segments"
    verbose_name = "Segments"

    def ready(self) -> None:
        # What segments adds to the orders pages, through the registration points orders offers.
        from orders import tabs
        from orders.customer_filters import register_customer_filter
        from orders.customer_panels import CustomerAction, CustomerPanel, register_action, register_panel
        from orders.filters import register_order_filter

        from . import filters, views

        tabs.register(
            tabs.OrderTab(
                key=views.TAB_KEY,
                label="Segments",
                url_name="segments:order_tab",
                permission="segments.view_segment",
            )
        )
        register_order_filter("segment", filters.order_filter(), describe=filters.describe)
        register_customer_filter("segment", filters.customer_filter(), describe=filters.describe)
        register_panel(
            CustomerPanel(
                key="segments",
                title="Segments",
                template_name="segments/customer_panel.html",
                context=views.customer_panel_context,
                permission="segments.view_segment",
            )
        )
        register_action(
            CustomerAction(
                key="add-to-segment",
                label="Add to a static segment",
                url_name="segments:add_customers",
                permission="segments.change_segment",
            )
        )
