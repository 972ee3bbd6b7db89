from django.http import Http404


def _stub(request, *args, **kwargs):
    raise Http404("not built yet")


order_summary = order_metadata = order_metadata_edit = order_activity = order_activity_new = _stub
order_set_status = redemption_rollback = _stub
