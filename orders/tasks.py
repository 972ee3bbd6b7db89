"""Background tasks (Django's Tasks framework, ``django.tasks``). Production runs them with django-tasks-db's
DatabaseBackend and its worker (``manage.py db_worker``); the tests and ``TASKS_BACKEND=immediate`` run each
one inside the call that enqueues it.

A task's only argument is the id of the ``AsyncAction`` row that says what to do: the worker reads the
payload from the database, and the row records how it went, so a client can ask
(``GET /v1/async-actions/{id}``) whatever the backend.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.tasks import task
from django.utils import timezone

from . import services
from .choices import ActorType
from .events import Actor
from .models import AsyncAction, AsyncActionStatus, AsyncActionType

logger = logging.getLogger(__name__)

FAILED_MESSAGE = "The import stopped on an unexpected error and imported nothing; the request id finds it in our logs."


def orders_import_start(
    *,
    rows: Sequence[Mapping[str, Any]],
    actor: Actor,
    request_id: str = "",
    renames: Mapping[int, Mapping[str, str]] | None = None,
) -> AsyncAction:
    """Record a bulk import of ``rows`` (``services.orders_import`` rows, JSON-serialisable) as an ENQUEUED
    ``AsyncAction`` and enqueue the task that runs it. ``renames``: per row index, field paths to report
    under another name (``customer.id`` → ``customer_id`` when the client sent that).

    Call it outside ``transaction.atomic``: a worker must find the committed row (and the immediate
    backend runs the import inside this call)."""
    action = AsyncAction.objects.create(
        type=AsyncActionType.ORDER_IMPORT,
        actor_type=actor.type,
        actor_user=actor.user if actor.type == ActorType.USER else None,
        actor_id=actor.id,
        actor_name=actor.name,
        request_id=request_id,
        payload={"orders": list(rows), "renames": {str(i): dict(r) for i, r in (renames or {}).items() if r}},
    )
    try:
        orders_import_task.enqueue(action.pk)
    except Exception:
        _fail(action.pk, "The import could not be queued.")
        raise
    return action


@task
def orders_import_task(async_action_id: str) -> None:
    """Run the import an ``AsyncAction`` describes: ENQUEUED → IN_PROGRESS → DONE (with the result in
    Voucherify's shape) or FAILED (something unexpected raised: logged, nothing imported). Never leaves the
    action IN_PROGRESS; an action that is not ENQUEUED any more (run already) is left alone."""
    now = timezone.now()
    claimed = AsyncAction.objects.filter(pk=async_action_id, status=AsyncActionStatus.ENQUEUED).update(
        status=AsyncActionStatus.IN_PROGRESS, started_at=now, updated_at=now
    )
    if not claimed:
        logger.warning("Async action %s is not waiting to run; skipped", async_action_id)
        return
    action = AsyncAction.objects.select_related("actor_user").get(pk=async_action_id)
    try:
        rows = action.payload["orders"]
        result = services.orders_import(rows=rows, actor=_actor(action))
        body = import_result(result, rows, action.payload.get("renames") or {})
    except Exception:
        logger.exception("Async action %s (%s, request %s) failed", action.pk, action.type, action.request_id)
        _fail(action.pk, FAILED_MESSAGE)
        return
    now = timezone.now()
    AsyncAction.objects.filter(pk=action.pk).update(
        status=AsyncActionStatus.DONE, result=body, finished_at=now, updated_at=now
    )


def import_result(
    result: services.ImportResult, rows: Sequence[Any], renames: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    """The result of Voucherify's ORDERS.IMPORT async action (``message``, ``done_count``, ``failed_count``,
    ``failed``: ``source_id`` and ``reason`` per failed order), plus what we know besides: each failed
    row's ``index`` (0-based) and ``errors`` by field path, and how many orders were created or updated."""
    failed = []
    for index, errors in sorted(result.failed.items()):
        rename = renames.get(str(index)) or {}
        errors = {rename.get(path, path): messages for path, messages in errors.items()}
        row = rows[index] if index < len(rows) else None
        source_id = row.get("source_id") if isinstance(row, Mapping) else None
        failed.append(
            {
                "index": index,
                "source_id": source_id if isinstance(source_id, str) else None,
                "reason": _reason(errors),
                "errors": errors,
            }
        )
    done = result.created + result.updated
    return {
        "message": f"{done} order(s) imported successfully, {len(failed)} failed.",
        "done_count": done,
        "failed_count": len(failed),
        "created_count": result.created,
        "updated_count": result.updated,
        "failed": failed,
    }


def _reason(errors: Mapping[str, list[str]]) -> str:
    """``items[0]: names no product …; customer.email: …`` (the order itself has no path)."""
    return "; ".join(f"{path}: {text}" if path else text for path, messages in errors.items() for text in messages)


def _actor(action: AsyncAction) -> Actor:
    return Actor(type=action.actor_type, name=action.actor_name, user=action.actor_user, id=action.actor_id)


def _fail(async_action_id: str, message: str) -> None:
    now = timezone.now()
    AsyncAction.objects.filter(pk=async_action_id).update(
        status=AsyncActionStatus.FAILED,
        error=message,
        result={
            "message": message,
            "done_count": 0,
            "failed_count": 0,
            "created_count": 0,
            "updated_count": 0,
            "failed": [],
        },
        finished_at=now,
        updated_at=now,
    )
