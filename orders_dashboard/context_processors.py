from django.conf import settings


def dashboard(request):
    return {"ORDERS_CURRENCY": settings.ORDERS_CURRENCY}
