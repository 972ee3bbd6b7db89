"""The rules pages: validation rules (list, detail with preview and test, the builder), incentives (list,
detail, form), and on the order page the Rules tab and the Redeem action. HTTP only: reads from
``rules.selectors``/``rules.validation``, writes through ``rules.services``.

Pages that answer two shapes vary on HX-Request: the whole page, or for an htmx request the named partial
the request targets (the builder's form, its preview, its test result, the logic check; the detail page's
preview and test panels).
"""

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from orders.choices import OrderStatus
from orders.events import Actor
from orders.exceptions import InvalidInput, InvalidStatusTransition, NotFound
from orders.money import format_minor
from orders.tabs import render_tab
from orders_dashboard.access import require_perms

from . import builder, compiler, segments_bridge, selectors, services, validation
from . import language as lang
from .evaluator import evaluate
from .forms import IncentiveForm, initial_of
from .models import Incentive, ValidationRule

VIEW_RULE, ADD_RULE, CHANGE_RULE, DELETE_RULE = (
    f"rules.{action}_validationrule" for action in ("view", "add", "change", "delete")
)
VIEW_INCENTIVE, ADD_INCENTIVE, CHANGE_INCENTIVE = (f"rules.{action}_incentive" for action in ("view", "add", "change"))
REDEEM = "rules.redeem_incentive"
VIEW_ORDER = "orders.view_order"
TAB_KEY = "rules"


def _partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _rule_or_404(rule_id: str) -> ValidationRule:
    rule = selectors.rule_get(rule_id)
    if rule is None:
        raise Http404(f"No validation rule with id {rule_id}")
    return rule


def _incentive_or_404(incentive_id: str) -> Incentive:
    incentive = selectors.incentive_get(incentive_id)
    if incentive is None:
        raise Http404(f"No incentive with id {incentive_id}")
    return incentive


def _date(value: str | None) -> tuple[dt.date | None, str | None]:
    if not value:
        return None, None
    try:
        return dt.date.fromisoformat(value.strip()), None
    except ValueError:
        return None, f"“{value}” is not a date (YYYY-MM-DD)."


def _range(data) -> dict:
    """The preview's date range from ``preview_from``/``preview_to`` (whole days, inclusive)."""
    start, start_problem = _date(data.get("preview_from"))
    end, end_problem = _date(data.get("preview_to"))
    problems = [p for p in (start_problem, end_problem) if p]
    if start and end and start > end:
        problems.append("The end of the range is before its start.")
    return {
        "start": start,
        "end": end,
        "problems": problems,
        "raw_from": data.get("preview_from", ""),
        "raw_to": data.get("preview_to", ""),
    }


def _orders_link(rule: ValidationRule, start: dt.date | None, end: dt.date | None) -> str:
    query = {"rule": rule.pk}
    if start:
        query["created_from"] = start.isoformat()
    if end:
        query["created_to"] = end.isoformat()
    return f"{reverse('orders:list')}?{urlencode(query)}"


def _preview(ruleset: lang.RuleSet | None, span: dict, rule: ValidationRule | None) -> dict:
    if ruleset is None or span["problems"]:
        return {"count": None, "problems": span["problems"], **span}
    count = compiler.preview_count(ruleset, created_from=span["start"], created_to=span["end"])
    link = _orders_link(rule, span["start"], span["end"]) if rule is not None else None
    return {"count": count, "link": link, "problems": [], **span}


def _test(ruleset: lang.RuleSet | None, order_ref: str, message: str) -> dict:
    """The Test panel: the rule against one stored order, condition by condition."""
    order_ref = (order_ref or "").strip()
    if not order_ref:
        return {}
    if ruleset is None:
        return {"order_ref": order_ref, "problem": "Complete the rule first: it has problems (see above)."}
    order = selectors.order_with_lines(order_ref)
    if order is None:
        return {"order_ref": order_ref, "problem": f"No order has the id or source id “{order_ref}”."}
    snapshot = selectors.order_snapshot(order)
    segment_ids = selectors.segment_ids_for([ruleset], order.customer_id)
    result = evaluate(ruleset, snapshot, segment_ids, message=message)
    failed = {failure.condition: failure.message for failure in result.failed}
    rows = [
        {
            "key": key,
            "words": condition.describe(),
            "passed": result.conditions[key],
            "message": failed.get(key, ""),
        }
        for key, condition in ruleset.conditions.items()
    ]
    return {"order_ref": order_ref, "order": order, "result": result, "rows": rows}


# --- rules ------------------------------------------------------------------------------------------------


@require_perms(VIEW_RULE)
@require_safe
def rule_list(request):
    rules = list(selectors.rules_list())
    entries = []
    for rule in rules:
        ruleset = selectors.parsed(rule)
        entries.append({"rule": rule, "ruleset": ruleset})
    return render(request, "rules/rule_list.html", {"entries": entries})


@require_perms(VIEW_RULE)
@require_safe
@vary_on_headers("HX-Request", "HX-Target")
def rule_detail(request, rule_id: str):
    """The rule in words, the incentives that use it, the preview count (``preview_from``/``preview_to``)
    and the Test panel (``order``). htmx requests targeting #preview or #test-result get that panel only."""
    rule = _rule_or_404(rule_id)
    ruleset = selectors.parsed(rule)
    context = {
        "rule": rule,
        "ruleset": ruleset,
        "incentives": list(Incentive.objects.filter(rule_links__rule=rule).order_by("name", "id")),
        "preview": _preview(ruleset, _range(request.GET), rule),
        "test": _test(ruleset, request.GET.get("order", ""), rule.error_message),
    }
    template = "rules/rule_detail.html"
    if _partial(request) and request.htmx.target in ("preview", "test-result"):
        template += "#preview" if request.htmx.target == "preview" else "#test_result"
    return render(request, template, context)


def _builder_context(request, *, rule, rows, logic_text, name, error_message, form_errors, logic_errors, saved_json):
    names = selectors.catalog_names(lang.CatalogRef(ref, object_) for row in rows for object_, ref in row.objects)
    segments = segments_bridge.segments_by_id(ref for row in rows for ref in row.segment_ids)
    for row in rows:
        row.names = names
        row.segment_entries = [
            {"id": pk, "name": segments[pk].name if pk in segments else ""} for pk in row.segment_ids
        ]
    return {
        "rule": rule,
        "rows": rows,
        "logic": logic_text,
        "name": name,
        "error_message": error_message,
        "form_errors": form_errors,
        "logic_errors": logic_errors,
        "condition_choices": builder.CONDITION_CHOICES,
        "sub_condition_choices": builder.SUB_CONDITION_CHOICES,
        "value_types": builder.VALUE_TYPES,
        "max_rows": builder.MAX_ROWS,
        "max_sub_rows": builder.MAX_SUB_ROWS,
        "form_url": request.path,
        "saved_json": saved_json,
    }


def _search(row: builder.Row) -> None:
    text = row.search.strip()
    if not text:
        row.matches = []
    elif row.kind == lang.ITEMS:
        row.matches = [
            {"value": f"{m.object}:{m.id}", "label": m.name, "meta": f"{m.object} {m.id}"}
            for m in selectors.catalog_search(text)
        ]
    elif row.kind == lang.SEGMENT:
        row.matches = [
            {"value": f"segment:{s.pk}", "label": s.name, "meta": s.pk} for s in segments_bridge.segment_search(text)
        ]
    if text and not row.matches:
        row.matches = None  # "nothing found"


def _apply_action(action: str, rows: list[builder.Row], logic_text: str) -> tuple[list[builder.Row], str]:
    """The builder's buttons other than Save: add/remove rows and nested rows, search, pick, unpick."""
    verb, _, rest = action.partition(":")
    by_key = {row.key: row for row in rows}
    if verb == "add":
        return builder.add_row(rows, logic_text)
    if verb == "remove":
        return builder.remove_row(rows, rest, logic_text)
    key, _, detail = rest.partition(":")
    row = by_key.get(key)
    if row is None:
        return rows, logic_text
    if verb == "add_sub":
        builder.add_sub_row(row)
    elif verb == "remove_sub":
        builder.remove_sub_row(row, detail)
    elif verb == "search":
        _search(row)
    elif verb == "pick":
        object_, _, ref = detail.partition(":")
        if object_ == "segment":
            if ref not in row.segment_ids:
                row.value = ", ".join([*row.segment_ids, ref])
        elif object_ in lang.CATALOG_OBJECTS and (object_, ref) not in row.objects:
            row.objects.append((object_, ref))
        row.search, row.matches = "", []
    elif verb == "unpick":
        object_, _, ref = detail.partition(":")
        if object_ == "segment":
            row.value = ", ".join(s for s in row.segment_ids if s != ref)
        else:
            row.objects = [o for o in row.objects if o != (object_, ref)]
    return rows, logic_text


def _check(rows, logic_text) -> tuple[dict | None, lang.RuleSet | None, list[str], list[str]]:
    """Rows → (JSON, ruleset or None, problems not tied to a row, logic problems)."""
    data, broken = builder.build(rows, logic_text)
    logic_errors: list[str] = []
    if broken:
        return data, None, [], builder.logic_problems(data["logic"], [row.key for row in rows])
    try:
        ruleset = services.rule_check(data)
    except InvalidInput as problem:
        loose = builder.attach_errors(rows, {k: v for k, v in problem.errors.items() if k != "rules.logic"})
        logic_errors = list(problem.errors.get("rules.logic", []))
        return data, None, loose, logic_errors
    return data, ruleset, [], []


@require_perms(VIEW_RULE)
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request", "HX-Target")
def rule_builder(request, rule_id: str | None = None):
    """New rule (``/rules/new/``, Admin: add) or edit (``/rules/<id>/edit/``, Admin: change).

    Every button posts the whole form here with an ``do``: ``add``, ``remove:<n>``, ``add_sub:<n>``,
    ``remove_sub:<n>:<m>``, ``search:<n>``, ``pick:<n>:<object>:<id>``, ``unpick:<n>:<object>:<id>``,
    ``refresh`` (the condition or operator changed), ``check`` (the logic), ``preview``, ``test``, ``save``.
    Without JavaScript each answers the whole page; with htmx the part it changes (#builder-form, #preview,
    #test-result, #logic-status)."""
    rule = _rule_or_404(rule_id) if rule_id else None
    if not request.user.has_perm(CHANGE_RULE if rule else ADD_RULE):
        raise PermissionDenied
    form_errors: list[str] = []
    logic_errors: list[str] = []
    preview = test = None
    saved_json = None
    if request.method != "POST":
        if rule is not None:
            name, error_message = rule.name, rule.error_message
            try:
                rows, logic_text = builder.rows_from_rules(rule.rules)
            except lang.RuleError as problem:
                rows, logic_text = [builder.Row(key="1")], "1"
                form_errors.append(f"The stored rule cannot be read ({problem}); build it again.")
        else:
            name, error_message = "", ""
            rows, logic_text = [builder.Row(key="1")], "1"
        ruleset = None
    else:
        post = request.POST
        name = post.get("name", "")[:300]
        error_message = post.get("error_message", "")[:600]
        logic_text = post.get("logic", "")[:1000]
        rows = builder.rows_from_post(post) or [builder.Row(key="1")]
        action = post.get("do", "refresh")
        rows, logic_text = _apply_action(action, rows, logic_text)
        data, ruleset, loose, logic_errors = _check(rows, logic_text)
        saved_json = data
        if action == "save":
            try:
                if rule is None:
                    rule = services.rule_create(name=name, rules=data, error_message=error_message)
                    messages.success(request, f"Rule “{rule.name}” created.")
                else:
                    services.rule_update(rule=rule, name=name, rules=data, error_message=error_message)
                    messages.success(request, f"Rule “{name.strip()}” saved.")
                return redirect("rules:detail", rule_id=rule.pk)
            except InvalidInput as problem:
                errors = dict(problem.errors)
                for field in ("name", "error_message"):
                    form_errors.extend(
                        f"{'Name' if field == 'name' else 'Rule message'}: {m}" for m in errors.pop(field, [])
                    )
                logic_errors = list(dict.fromkeys([*logic_errors, *errors.pop("rules.logic", [])]))
                form_errors.extend(builder.attach_errors(rows, errors))
                form_errors.append("Nothing was saved: correct what is marked below.")
        else:
            form_errors.extend(loose)
        if action == "preview":
            preview = _preview(ruleset, _range(post), rule)
        if action == "test":
            test = _test(ruleset, post.get("test_order", ""), error_message)
    context = _builder_context(
        request,
        rule=rule,
        rows=rows,
        logic_text=logic_text,
        name=name,
        error_message=error_message,
        form_errors=form_errors,
        logic_errors=logic_errors,
        saved_json=saved_json,
    )
    context.update(
        preview=preview,
        test=test or {},
        ruleset=ruleset,
        preview_from=request.POST.get("preview_from", ""),
        preview_to=request.POST.get("preview_to", ""),
        test_order=request.POST.get("test_order", ""),
    )
    template = "rules/rule_form.html"
    if request.method == "POST" and _partial(request):
        target = request.htmx.target
        partials = {"preview": "#preview", "test-result": "#test_result", "logic-status": "#logic_status"}
        template += partials.get(target, "#builder")
    return render(request, template, context, status=200)


@require_perms(VIEW_RULE, DELETE_RULE)
@require_http_methods(["GET", "HEAD", "POST"])
def rule_delete(request, rule_id: str):
    rule = _rule_or_404(rule_id)
    problem = None
    if request.method == "POST":
        try:
            services.rule_delete(rule=rule)
        except InvalidInput as error:
            problem = error.message
        else:
            messages.success(request, f"Rule “{rule.name}” deleted.")
            return redirect("rules:list")
    users = list(Incentive.objects.filter(rule_links__rule=rule).order_by("name"))
    return render(request, "rules/rule_delete.html", {"rule": rule, "users": users, "problem": problem})


# --- incentives -------------------------------------------------------------------------------------------


@require_perms(VIEW_INCENTIVE)
@require_safe
def incentive_list(request):
    incentives = list(selectors.incentives_list())
    counts = selectors.redemption_counts(i.pk for i in incentives)
    now = timezone.now()
    rows = [
        {
            "incentive": incentive,
            "counts": counts.get(incentive.pk, selectors.RedemptionCounts()),
            "live": incentive.is_live(now),
            "discount": validation.describe_discount(incentive),
        }
        for incentive in incentives
    ]
    return render(request, "rules/incentive_list.html", {"rows": rows})


@require_perms(VIEW_INCENTIVE)
@require_safe
def incentive_detail(request, incentive_id: str):
    incentive = _incentive_or_404(incentive_id)
    counts = selectors.redemption_counts([incentive.pk]).get(incentive.pk, selectors.RedemptionCounts())
    rules = [{"rule": rule, "ruleset": selectors.parsed(rule)} for rule in selectors.incentive_rules(incentive)]
    return render(
        request,
        "rules/incentive_detail.html",
        {
            "incentive": incentive,
            "counts": counts,
            "rules": rules,
            "redemptions": selectors.incentive_redemptions(incentive.pk),
            "live": incentive.is_live(),
            "discount": validation.describe_discount(incentive),
            "uses_left": (
                max(incentive.redemption_limit - counts.succeeded, 0)
                if incentive.redemption_limit is not None
                else None
            ),
        },
    )


def _rule_choices() -> list[tuple[str, str]]:
    return list(ValidationRule.objects.order_by("name", "id").values_list("pk", "name"))


@require_perms(VIEW_INCENTIVE)
@require_http_methods(["GET", "HEAD", "POST"])
def incentive_form(request, incentive_id: str | None = None):
    """New incentive (Admin: add) or edit (Admin: change): one form, written through the services."""
    incentive = _incentive_or_404(incentive_id) if incentive_id else None
    if not request.user.has_perm(CHANGE_INCENTIVE if incentive else ADD_INCENTIVE):
        raise PermissionDenied
    initial = initial_of(incentive) if incentive else None
    if request.method == "POST":
        form = IncentiveForm(request.POST, initial=initial, rule_choices=_rule_choices(), kind_fixed=bool(incentive))
        if form.is_valid():
            arguments = form.service_arguments()
            try:
                if incentive is None:
                    incentive = services.incentive_create(**arguments)
                    messages.success(request, f"“{incentive}” created.")
                else:
                    arguments.pop("kind")
                    services.incentive_update(incentive=incentive, **arguments)
                    messages.success(request, f"“{arguments['code'] or arguments['name']}” saved.")
                return redirect("rules:incentive_detail", incentive_id=incentive.pk)
            except InvalidInput as problem:
                form.apply_service_errors(problem.errors)
    else:
        form = IncentiveForm(initial=initial, rule_choices=_rule_choices(), kind_fixed=bool(incentive))
    return render(request, "rules/incentive_form.html", {"form": form, "incentive": incentive})


# --- the order page's Rules tab and the Redeem action ---------------------------------------------------


def _order_verdicts(order, incentives) -> list[validation.Verdict]:
    """Each live incentive checked on its own against the order (no stacking: one at a time)."""
    snapshot = selectors.order_snapshot(order)
    rulesets = validation.rulesets_of(incentives)
    segment_ids = selectors.segment_ids_for([r for r in rulesets.values() if r], order.customer_id)
    used = validation.usage(incentives, order.customer_id)
    now = timezone.now()
    return [
        validation.check(
            incentive,
            validation.Redeemable(incentive.kind, incentive.pk),
            snapshot,
            segment_ids=segment_ids,
            used=used.get(incentive.pk, validation.Usage()),
            base=snapshot.total_amount,
            rulesets=rulesets,
            now=now,
        )
        for incentive in incentives
    ]


def _order_or_404(order_id: str):
    order = selectors.order_with_lines(order_id)
    if order is None or order.pk != order_id:
        raise Http404(f"No order with id {order_id}")
    return order


@require_perms(VIEW_ORDER, VIEW_INCENTIVE)
@require_safe
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def order_tab(request, order_id: str):
    """The order page's Rules tab: every live incentive, whether it applies to this order and why not."""
    order = _order_or_404(order_id)
    incentives = selectors.live_incentives()
    verdicts = _order_verdicts(order, incentives)
    return render_tab(
        request,
        order=order,
        key=TAB_KEY,
        template_name="rules/order_tab.html#tab",
        context={
            "verdicts": verdicts,
            "can_redeem": request.user.has_perm(REDEEM) and order.status != OrderStatus.CANCELED,
            "describe_discount": validation.describe_discount,
        },
    )


@require_perms(VIEW_ORDER, VIEW_INCENTIVE, REDEEM)
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def redeem(request, order_id: str, incentive_id: str):
    """Redeem an incentive on the order (Manager): GET shows the validation result and the discount, POST
    confirms — the redemption service validates again under lock and records SUCCEEDED or FAILED."""
    order = _order_or_404(order_id)
    incentive = _incentive_or_404(incentive_id)
    if request.method == "POST":
        try:
            outcome = services.redemption_redeem(
                order=order.pk,
                redeemables=[validation.Redeemable(incentive.kind, incentive.pk)],
                actor=Actor.for_user(request.user),
            )
        except InvalidStatusTransition as problem:
            messages.error(request, problem.message)
        except NotFound as problem:
            raise Http404(problem.message) from None
        else:
            if outcome.succeeded:
                redemption = outcome.redemptions[0]
                off = format_minor(redemption.amount)
                messages.success(request, f"Redeemed {incentive}: {off} off. The order is paid.")
            else:
                verdict = outcome.first_failure
                messages.error(
                    request,
                    f"{incentive} does not apply ({verdict.key}): {verdict.details} A failed redemption was recorded.",
                )
        return redirect("orders:detail", order_id=order.pk)
    (verdict,) = _order_verdicts(order, [incentive])
    return render_tab(
        request,
        order=order,
        key=TAB_KEY,
        template_name="rules/order_tab.html#redeem",
        context={
            "verdict": verdict,
            "incentive": incentive,
            "discount_words": validation.describe_discount(incentive),
            "total_after": order.total_amount - verdict.discount,
        },
    )
