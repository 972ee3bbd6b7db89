from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render


@login_required
def home(request):
    """Where "/" and a fresh login land: the orders list for those who may see it; otherwise who you are and
    why there is nothing to open yet."""
    if request.user.has_perm("orders.view_order"):
        return redirect("orders:list")
    return render(request, "home.html")
