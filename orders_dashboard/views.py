from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from orders.models import Order


@login_required
def home(request):
    """Landing page until the orders list exists: who you are and what you may open."""
    can_view_orders = request.user.has_perm("orders.view_order")
    return render(
        request,
        "home.html",
        {
            "can_view_orders": can_view_orders,
            "can_open_admin": request.user.is_staff,
            "latest_orders": Order.objects.select_related("customer")[:10] if can_view_orders else [],
        },
    )
