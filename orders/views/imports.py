"""The import page (``/orders/import/``): orders from a CSV or XLSX file, checked first, written on confirm.
The file format and the checking live in ``orders/imports.py``; writes go through ``services.orders_import``.

- ``GET``: the upload form and the file format.
- ``POST`` with ``file``: a dry run. The page shows the orders that would be created or updated and every
  problem (file line, column, message). With htmx the ``panel`` partial replaces the form and preview; as a
  plain form the whole page comes back. When there is no problem the preview offers "Confirm import".
- ``POST`` with ``token`` (the confirm): imports exactly the previewed file, then redirects to the orders
  list with "Imported N orders (M updated)".

Between the preview and the confirm the uploaded bytes wait in django-import-export's ``MediaStorage``
(the default file storage, under ``imports/``: where export jobs keep their files, so any web worker can
read them; DESIGN §6 keeps no state in process memory). The confirm form carries only a signed token
(``signing.dumps``: the stored name, the SHA-256 of the bytes, the user; valid ``TOKEN_MAX_AGE``), so it
imports the bytes that were previewed or nothing, and only for the user who previewed them. The confirm
deletes the stored file: a second POST of the same token finds nothing and imports nothing. Two confirms
racing for the same file would both read it, and that is harmless too: every order is an upsert by its
``source_id``, and the second write of the same values changes nothing and records no event.
"""

import datetime as dt
import hashlib
import logging
import uuid

from django.contrib import messages
from django.core import signing
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect
from import_export.tmp_storages import MediaStorage

from orders.events import Actor
from orders.imports import (
    CUSTOMER_METADATA,
    ITEM_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ORDERS,
    METADATA_COLUMNS,
    ORDER_COLUMNS,
    ImportFileError,
    ImportUploadForm,
    read_file,
    run_import,
)
from orders_dashboard.access import require_perms

logger = logging.getLogger(__name__)

TEMPLATE = "orders/import_form.html"
IMPORT = "orders.import_order"
FOLDER = "imports"
TOKEN_SALT = "orders.import.confirm"  # noqa: S105 (a signing namespace, not a secret)
TOKEN_MAX_AGE = 60 * 60  # seconds: a preview left longer than this is uploaded again
# The preview page lists at most this many orders and errors (the counts are always complete).
SHOWN_ORDERS = 500
SHOWN_ERRORS = 500


def _storage(name: str | None = None) -> MediaStorage:
    return MediaStorage(name=name, MEDIA_FOLDER=FOLDER)


def _store(content: bytes, sha256: str, user, filename: str) -> str:
    """Keep the previewed bytes for the confirm; return the signed token that names them."""
    _forget_stale()
    storage = _storage(f"{uuid.uuid4().hex}.upload")
    storage.save(content)
    return signing.dumps(
        {"name": storage.name, "sha256": sha256, "user": str(user.pk), "filename": filename}, salt=TOKEN_SALT
    )


def _forget_stale() -> None:
    """Previews nobody confirmed: their files go once their token has expired."""
    storage = _storage()._storage
    try:
        _, names = storage.listdir(FOLDER)
    except FileNotFoundError:
        return
    limit = timezone.now() - dt.timedelta(seconds=TOKEN_MAX_AGE + 60)
    for name in names:
        path = f"{FOLDER}/{name}"
        try:
            if storage.get_modified_time(path) < limit:
                storage.delete(path)
        except OSError:
            continue  # another worker removed it first


def _format_help() -> dict:
    return {
        "order_columns": ORDER_COLUMNS,
        "item_columns": ITEM_COLUMNS,
        "metadata_columns": METADATA_COLUMNS,
        "customer_metadata_prefix": CUSTOMER_METADATA,
        "max_mb": MAX_FILE_BYTES // (1024 * 1024),
        "max_orders": MAX_ORDERS,
    }


def _render(request, *, form=None, report=None, token=None, problem=None, status=200):
    context = {
        "form": form or ImportUploadForm(),
        "report": report,
        "token": token,
        "problem": problem,
        "orders_shown": report.orders[:SHOWN_ORDERS] if report else [],
        "errors_shown": report.errors[:SHOWN_ERRORS] if report else [],
        **_format_help(),
    }
    template = TEMPLATE
    if request.htmx and not request.htmx.history_restore_request:
        template += "#panel"
        # htmx swaps only successful responses: the problems are in the partial whatever happened.
        status = 200
    return render(request, template, context, status=status)


@require_perms(IMPORT)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def order_import(request):
    if request.method == "GET":
        return _render(request)
    if "token" in request.POST:
        return _confirm(request)
    return _preview(request)


def _preview(request):
    # Refuse an oversized upload from its declared length, before Django spools it to disk.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_FILE_BYTES + 64 * 1024:
        problem = f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it into smaller files."
        return _render(request, problem=problem, status=400)

    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, form=form, status=400)
    report = run_import(form.imported, actor=Actor.for_user(request.user), dry_run=True)
    if not report.orders and not report.errors and not report.failed:
        form.add_error("file", "The file has no orders: every row under the header is empty.")
        return _render(request, form=form, status=400)
    token = None
    if report.ok:
        token = _store(form.content, form.sha256, request.user, form.imported.filename)
    return _render(request, form=ImportUploadForm(), report=report, token=token)


def _confirm(request):
    try:
        payload = signing.loads(request.POST["token"], salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        return _render(request, problem="This preview has expired: upload the file again.", status=400)
    except signing.BadSignature:
        return _render(request, problem="This confirmation is not valid: upload the file again.", status=400)
    if payload.get("user") != str(request.user.pk):
        return _render(request, problem="This preview belongs to someone else: upload the file again.", status=403)

    storage = _storage(payload["name"])
    try:
        content = storage.read()
    except FileNotFoundError:
        return _render(
            request,
            problem="This file was imported already (or its preview expired): nothing was imported again. "
            "Upload it again to import it again.",
            status=409,
        )
    if hashlib.sha256(content).hexdigest() != payload["sha256"]:
        logger.warning("import confirm: stored file %s does not match its token", payload["name"])
        return _render(request, problem="The stored file changed since the preview: upload it again.", status=409)
    # Claimed: a second confirm of this token finds nothing (see the module docstring for a racing one).
    storage.remove()

    try:
        imported = read_file(content, payload.get("filename", ""))
    except ImportFileError as exc:  # cannot happen for bytes that passed the preview, unless the code changed
        return _render(request, problem=str(exc), status=400)
    report = run_import(imported, actor=Actor.for_user(request.user), dry_run=False)
    if not report.written:
        # The data changed since the preview (an order was canceled, a schema key became required, …).
        problem = (
            "Nothing was imported: the import failed unexpectedly (it is logged). Upload the file again to retry."
            if report.failed
            else "Nothing was imported: the file no longer passes the checks (the data changed since the "
            "preview). Fix the file and upload it again."
        )
        return _render(request, report=report, problem=problem, status=409)

    total = report.created + report.updated
    messages.success(request, f"Imported {total} order{'s' if total != 1 else ''} ({report.updated} updated).")
    url = reverse("orders:list")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
