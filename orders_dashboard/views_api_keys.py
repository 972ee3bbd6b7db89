"""API key pages (Admins): the list, a form that makes a key and shows its token once, and revoking.

The token page is the answer to the form's POST itself (never a redirect, never stored in the session):
reloading it cannot show the token again, and it is sent with ``Cache-Control: no-store``.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from .access import require_perms
from .api.authentication import APP_ID_HEADER, TOKEN_HEADER
from .api.keys import NAME_MAX_LENGTH, api_key_create, api_key_revoke
from .models import ApiKey


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        help_text="Who will use the key, e.g. “Web shop backend”. Order activity shows this name.",
    )


@require_perms("orders_dashboard.view_apikey")
def api_key_list(request):
    keys = ApiKey.objects.select_related("created_by", "revoked_by")
    return render(request, "api_keys/list.html", {"keys": keys})


@require_perms("orders_dashboard.add_apikey")
@require_http_methods(["GET", "POST"])
@never_cache
def api_key_new(request):
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new = api_key_create(name=form.cleaned_data["name"], created_by=request.user)
        except ValueError as exc:
            form.add_error("name", str(exc))
        else:
            context = {"key": new.key, "token": new.token, "app_id_header": APP_ID_HEADER, "token_header": TOKEN_HEADER}
            return render(request, "api_keys/created.html", context)
    return render(request, "api_keys/new.html", {"form": form})


@require_perms("orders_dashboard.change_apikey")
@require_POST
def api_key_revoke_view(request, key_id: int):
    key = get_object_or_404(ApiKey, pk=key_id)
    was_active = key.is_active
    api_key_revoke(key=key, revoked_by=request.user)
    if was_active:
        messages.success(request, f"The key “{key.name}” is revoked: its requests are refused from now on.")
    else:
        messages.info(request, f"The key “{key.name}” was already revoked.")
    return redirect("api_keys:list")
