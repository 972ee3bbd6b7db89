from django.http import Http404


def order_list(request):
    raise Http404("not built yet")
