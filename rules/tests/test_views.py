"""The rules pages through the test client: permissions of every URL, the builder and its htmx partials,
the preview and its link into the orders list, incentives, the order page's Rules tab and Redeem."""

import re

import pytest
from django.urls import reverse

from orders.choices import OrderStatus, RedemptionStatus
from orders.models import Redemption
from orders.tests.factories import SYSTEM, ProductFactory, SKUFactory, make_order
from rules.models import Incentive, ValidationRule
from rules.tests.factories import make_rule, make_voucher

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rule(db):
    return make_rule(
        {
            "1": {
                "name": "order.amount",
                "conditions": {"$more_than_or_equal": [5000]},
                "error": {"message": "Spend at least 50"},
            },
            "logic": "1",
        },
        name="Big carts",
    )


@pytest.fixture
def voucher(rule):
    return make_voucher("BIG10", rules=[rule])


@pytest.fixture
def big_order(db):
    return make_order(items=[{"source_id": "tv", "related_object": "product", "quantity": 1, "price": 9000}])


@pytest.fixture
def small_order(db):
    return make_order()  # 2 × 1000


def urls(rule, voucher, order) -> dict[str, str]:
    return {
        "list": reverse("rules:list"),
        "new": reverse("rules:new"),
        "detail": reverse("rules:detail", args=[rule.pk]),
        "edit": reverse("rules:edit", args=[rule.pk]),
        "delete": reverse("rules:delete", args=[rule.pk]),
        "incentives": reverse("rules:incentives"),
        "incentive_new": reverse("rules:incentive_new"),
        "incentive_detail": reverse("rules:incentive_detail", args=[voucher.pk]),
        "incentive_edit": reverse("rules:incentive_edit", args=[voucher.pk]),
        "order_tab": reverse("rules:order_tab", args=[order.pk]),
        "redeem": reverse("rules:redeem", args=[order.pk, voucher.pk]),
    }


# Which role may GET each page: Viewer reads, Manager also redeems, Admin manages rules and incentives.
ALLOWED = {
    "list": {"viewer", "manager", "admin_user"},
    "detail": {"viewer", "manager", "admin_user"},
    "incentives": {"viewer", "manager", "admin_user"},
    "incentive_detail": {"viewer", "manager", "admin_user"},
    "order_tab": {"viewer", "manager", "admin_user"},
    "redeem": {"manager", "admin_user"},
    "new": {"admin_user"},
    "edit": {"admin_user"},
    "delete": {"admin_user"},
    "incentive_new": {"admin_user"},
    "incentive_edit": {"admin_user"},
}


@pytest.mark.parametrize("view_name", sorted(ALLOWED))
def test_every_page_needs_sign_in_and_its_permission(client, request, view_name, rule, voucher, big_order):
    url = urls(rule, voucher, big_order)[view_name]
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    for role in ("outsider", "viewer", "manager", "admin_user"):
        client.force_login(request.getfixturevalue(role))
        expected = 200 if role in ALLOWED[view_name] else 403
        assert client.get(url).status_code == expected, (view_name, role)


@pytest.mark.parametrize("view_name", ["new", "edit", "delete", "incentive_new", "incentive_edit", "redeem"])
def test_posts_are_refused_without_the_permission(client, viewer, view_name, rule, voucher, big_order):
    client.force_login(viewer)
    response = client.post(urls(rule, voucher, big_order)[view_name], {"do": "save", "name": "x"})
    assert response.status_code == 403
    assert ValidationRule.objects.count() == 1 and Incentive.objects.count() == 1
    assert not Redemption.objects.exists()


def test_nav_shows_rules_and_incentives_to_viewers(client, viewer, outsider):
    client.force_login(viewer)
    page = client.get(reverse("rules:list")).content.decode()
    assert f'href="{reverse("rules:list")}"' in page and f'href="{reverse("rules:incentives")}"' in page
    client.force_login(outsider)
    page = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("rules:incentives")}"' not in page


# --- rule list and detail ----------------------------------------------------------------------------------


def test_rule_list_and_detail_read_the_rule_in_words(client, viewer, rule, voucher):
    client.force_login(viewer)
    listing = client.get(reverse("rules:list")).content.decode()
    assert "Big carts" in listing and "Order amount is at least $50.00" in listing
    detail = client.get(reverse("rules:detail", args=[rule.pk])).content.decode()
    assert 'id="rule-logic-text">1<' in detail
    assert "BIG10" in detail  # used by
    assert "Spend at least 50" in detail


def test_preview_counts_and_links_to_the_orders_list(client, viewer, rule, big_order, small_order):
    client.force_login(viewer)
    url = reverse("rules:detail", args=[rule.pk])
    response = client.get(url, {"preview_from": "2000-01-01"}, HTTP_HX_TARGET="preview", **HX)
    body = response.content.decode()
    assert response["Vary"] and "HX-Request" in response["Vary"]
    assert body.lstrip().startswith('<div id="preview"')
    assert 'id="preview-count">1<' in body
    link = re.search(r'id="preview-link"', body) and re.search(r'href="([^"]+)" id="preview-link"', body).group(1)
    link = link.replace("&amp;", "&")
    assert f"rule={rule.pk}" in link and "created_from=2000-01-01" in link
    listing = client.get(link).content.decode()
    assert big_order.pk in listing and small_order.pk not in listing
    assert "passes Big carts" in listing  # the filter's chip


def test_preview_rejects_a_bad_range(client, viewer, rule):
    client.force_login(viewer)
    body = client.get(
        reverse("rules:detail", args=[rule.pk]), {"preview_from": "2026-02-01", "preview_to": "2026-01-01"}
    ).content.decode()
    assert "The end of the range is before its start." in body


def test_orders_list_rule_filter_refuses_unknown_rules(client, viewer):
    client.force_login(viewer)
    body = client.get(reverse("orders:list"), {"rule": "val_nope"}).content.decode()
    assert "No validation rule has the id" in body


def test_test_panel_shows_each_condition_with_its_message(client, viewer, rule, small_order):
    client.force_login(viewer)
    url = reverse("rules:detail", args=[rule.pk])
    body = client.get(url, {"order": small_order.pk}, HTTP_HX_TARGET="test-result", **HX).content.decode()
    assert body.lstrip().startswith('<div id="test-result"')
    assert 'data-valid="false"' in body and 'data-passed="false"' in body
    assert "Spend at least 50" in body
    missing = client.get(url, {"order": "ord_nope"}).content.decode()
    assert "No order has the id or source id “ord_nope”" in missing


# --- the builder ---------------------------------------------------------------------------------------------


def builder_post(**fields) -> dict:
    data = {"name": "Rule", "error_message": "", "logic": "1", "row": ["1"], "name-1": "order.amount"}
    data.update({"operator-1": "$more_than_or_equal", "value-1": "50.00"})
    data.update(fields)
    return data


def test_builder_adds_and_removes_conditions_with_htmx_and_without(client, admin_user):
    client.force_login(admin_user)
    url = reverse("rules:new")
    page = client.get(url).content.decode()
    assert 'id="condition-1"' in page and '<label for="name-1"' in page
    partial = client.post(url, builder_post(do="add"), **HX).content.decode()
    assert partial.lstrip().startswith('<div id="builder-form"')
    assert 'id="condition-2"' in partial
    assert 'value="1 and 2"' in partial  # the default logic follows
    full = client.post(url, builder_post(do="add")).content.decode()
    assert "<html" in full and 'id="condition-2"' in full
    removed = client.post(
        url, builder_post(do="remove:1", row=["1", "2"], logic="1 and 2", **{"name-2": "order.items.count"}), **HX
    ).content.decode()
    assert 'id="condition-1"' not in removed and 'id="condition-2"' in removed and 'value="2"' in removed


def test_builder_offers_the_operators_of_the_chosen_condition(client, admin_user):
    client.force_login(admin_user)
    body = client.post(reverse("rules:new"), builder_post(**{"name-1": "customer.segment", "do": "refresh"}), **HX)
    body = body.content.decode()
    operators = re.search(r'<select name="operator-1".*?</select>', body, re.S).group(0)
    assert re.findall(r'value="(\$[a-z_]+)"', operators) == ["$in", "$not_in"]
    assert 'id="search-1"' in body  # segments are picked by search


def test_builder_picks_products_by_search(client, admin_user):
    product = ProductFactory(name="Espresso machine")
    sku = SKUFactory(sku="Espresso beans 1kg")
    client.force_login(admin_user)
    url = reverse("rules:new")
    rows = builder_post(**{"name-1": "order.items.any", "operator-1": "$is", "search-1": "espresso", "do": "search:1"})
    found = client.post(url, rows, **HX).content.decode()
    assert f'value="pick:1:product:{product.pk}"' in found and f'value="pick:1:sku:{sku.pk}"' in found
    rows["do"] = f"pick:1:product:{product.pk}"
    picked = client.post(url, rows, **HX).content.decode()
    assert f'name="object-1" value="product:{product.pk}"' in picked
    rows.update({"object-1": f"product:{product.pk}", "do": "save", "name": "Espresso"})
    response = client.post(url, rows)
    assert response.status_code == 302
    saved = ValidationRule.objects.get(name="Espresso")
    assert saved.rules["1"]["conditions"] == {"$is": [{"id": product.pk, "object": "product"}]}


def test_builder_nested_conditions(client, admin_user):
    product = ProductFactory()
    client.force_login(admin_user)
    url = reverse("rules:new")
    rows = builder_post(**{"name-1": "order.items.any", "operator-1": "$is", "object-1": f"product:{product.pk}"})
    with_sub = client.post(url, {**rows, "do": "add_sub:1"}, **HX).content.decode()
    assert 'name="sub-1-1-name"' in with_sub
    rows.update(
        {
            "sub-1": ["1"],
            "sub-1-1-name": "order.items.aggregated_quantity",
            "sub-1-1-operator": "$more_than",
            "sub-1-1-value": "2",
            "sublogic-1": "1",
            "do": "save",
        }
    )
    assert client.post(url, rows).status_code == 302
    saved = ValidationRule.objects.get()
    assert saved.rules["1"]["rules"] == {
        "1": {"name": "order.items.aggregated_quantity", "conditions": {"$more_than": [2]}},
        "logic": "1",
    }


def test_builder_checks_the_logic_live(client, admin_user):
    client.force_login(admin_user)
    url = reverse("rules:new")
    bad = client.post(url, builder_post(logic="1 and 3", do="check"), HTTP_HX_TARGET="logic-status", **HX)
    body = bad.content.decode()
    assert body.lstrip().startswith('<div id="logic-status"')
    assert "Logic names condition 3, which the rule does not have." in body
    good = client.post(url, builder_post(logic="(1)", do="check"), HTTP_HX_TARGET="logic-status", **HX)
    assert "Reads as: <code>1</code>" in good.content.decode()
    broken = client.post(url, builder_post(logic="1 and (", do="check"), HTTP_HX_TARGET="logic-status", **HX)
    assert "The expression ends where" in broken.content.decode()


def test_builder_preview_and_test_panels(client, admin_user, big_order, small_order):
    client.force_login(admin_user)
    url = reverse("rules:new")
    preview = client.post(url, builder_post(do="preview"), HTTP_HX_TARGET="preview", **HX).content.decode()
    assert preview.lstrip().startswith('<div id="preview"') and 'id="preview-count">1<' in preview
    test = client.post(
        url, builder_post(do="test", test_order=big_order.source_id or big_order.pk), HTTP_HX_TARGET="test-result", **HX
    ).content.decode()
    assert 'data-valid="true"' in test
    full = client.post(url, builder_post(do="test", test_order=small_order.pk)).content.decode()
    assert "<html" in full and 'data-valid="false"' in full


def test_builder_save_shows_every_problem_and_keeps_what_was_typed(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("rules:new"),
        builder_post(name="", logic="1 or 2", do="save", **{"value-1": "fifty"}),
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Condition 1: “fifty” is not an amount" in body
    assert 'value="fifty"' in body
    assert not ValidationRule.objects.exists()
    response = client.post(reverse("rules:new"), builder_post(name="", logic="1 or 2", do="save"))
    body = response.content.decode()
    assert "Name: must not be empty" in body and "Logic names condition 2" in body


def test_builder_edits_a_stored_rule(client, admin_user, rule):
    client.force_login(admin_user)
    url = reverse("rules:edit", args=[rule.pk])
    page = client.get(url).content.decode()
    assert 'value="50.00"' in page and 'value="Spend at least 50"' in page
    response = client.post(url, builder_post(name="Bigger carts", do="save", **{"value-1": "75"}))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Bigger carts" and rule.rules["1"]["conditions"] == {"$more_than_or_equal": [7500]}


def test_builder_metadata_values_are_typed(client, admin_user):
    client.force_login(admin_user)
    data = builder_post(
        **{
            "name-1": "order.metadata",
            "property-1": "vip",
            "operator-1": "$in",
            "value-1": "yes, no",
            "vtype-1": "boolean",
            "do": "save",
        }
    )
    assert client.post(reverse("rules:new"), data).status_code == 302
    assert ValidationRule.objects.get().rules["1"]["conditions"] == {"$in": [True, False]}


def test_delete_refuses_a_rule_in_use_then_deletes(client, admin_user, rule, voucher):
    client.force_login(admin_user)
    url = reverse("rules:delete", args=[rule.pk])
    assert "remove it from them first" in client.get(url).content.decode()
    assert client.post(url).status_code == 200 and ValidationRule.objects.exists()
    from rules import services

    services.incentive_update(incentive=voucher, rules=[])
    assert client.post(url).status_code == 302
    assert not ValidationRule.objects.exists()


# --- incentives -------------------------------------------------------------------------------------------


def test_incentive_list_and_detail_show_rules_redemptions_and_counts(client, viewer, voucher, big_order, small_order):
    from rules import services, validation

    for order in (big_order, small_order):
        services.redemption_redeem(
            order=order.pk, redeemables=[validation.Redeemable("voucher", voucher.pk)], actor=SYSTEM
        )
    client.force_login(viewer)
    listing = client.get(reverse("rules:incentives")).content.decode()
    assert "BIG10" in listing and "$10.00 off" in listing
    detail = client.get(reverse("rules:incentive_detail", args=[voucher.pk])).content.decode()
    assert 'data-count="succeeded">1<' in detail and 'data-count="failed">1<' in detail
    assert reverse("orders:detail", args=[big_order.pk]) in detail
    assert "Big carts" in detail and "Spend at least 50" in detail


def test_incentive_form_creates_and_edits(client, admin_user, rule):
    client.force_login(admin_user)
    data = {
        "kind": "voucher",
        "code": "WELCOME",
        "name": "Welcome",
        "discount_type": "PERCENT",
        "percent_off": "12.5",
        "amount_limit": "20.00",
        "active": "on",
        "redemption_limit": "100",
        "rules": [rule.pk],
    }
    response = client.post(reverse("rules:incentive_new"), data)
    assert response.status_code == 302
    incentive = Incentive.objects.get(code="WELCOME")
    assert (str(incentive.percent_off), incentive.amount_limit, incentive.redemption_limit) == ("12.50", 2000, 100)
    assert [link.rule_id for link in incentive.rule_links.all()] == [rule.pk]
    duplicate = client.post(reverse("rules:incentive_new"), {**data, "code": "welcome"}).content.decode()
    assert "another voucher has the code welcome" in duplicate
    edit = reverse("rules:incentive_edit", args=[incentive.pk])
    assert 'value="WELCOME"' in client.get(edit).content.decode()
    response = client.post(edit, {**data, "discount_type": "AMOUNT", "amount_off": "5", "rules": []})
    assert response.status_code == 302
    incentive.refresh_from_db()
    assert (incentive.amount_off, incentive.percent_off, incentive.rule_links.count()) == (500, None, 0)


# --- the order page's Rules tab and Redeem -------------------------------------------------------------------


def test_rules_tab_lists_live_incentives_with_pass_fail_and_reason(client, viewer, voucher, small_order):
    inactive = make_voucher("OFF", active=False)
    always = make_voucher("ALWAYS", amount_off=300)
    client.force_login(viewer)
    url = reverse("rules:order_tab", args=[small_order.pk])
    page = client.get(url).content.decode()
    assert 'id="order-header"' in page and 'id="tab-rules"' in page  # inside the order page
    assert f'data-incentive-id="{voucher.pk}" data-applicable="false"' in page
    assert f'data-incentive-id="{always.pk}" data-applicable="true"' in page
    # The inactive voucher is not listed (checked by its id and its name: its code "OFF" may appear inside
    # the random ids of the others).
    assert "Spend at least 50" in page
    assert inactive.pk not in page and "Voucher OFF" not in page
    assert "Redeem…" not in page  # viewers do not redeem
    partial = client.get(url, **HX).content.decode()
    assert 'id="order-header"' not in partial and 'id="rules-tab"' in partial
    tabs = client.get(reverse("orders:detail", args=[small_order.pk])).content.decode()
    assert f'href="{url}"' in tabs


def test_redeem_shows_the_result_before_confirming_then_redeems(client, manager, big_order, voucher):
    client.force_login(manager)
    url = reverse("rules:redeem", args=[big_order.pk, voucher.pk])
    confirm = client.get(url).content.decode()
    assert 'data-applicable="true"' in confirm and "$10.00" in confirm and "$80.00" in confirm
    assert not Redemption.objects.exists()
    response = client.post(url)
    assert response.status_code == 302 and response.url == reverse("orders:detail", args=[big_order.pk])
    big_order.refresh_from_db()
    assert big_order.status == OrderStatus.PAID and big_order.discount_amount == 1000


def test_redeem_of_an_inapplicable_incentive_records_a_failed_redemption(client, manager, small_order, voucher):
    client.force_login(manager)
    url = reverse("rules:redeem", args=[small_order.pk, voucher.pk])
    confirm = client.get(url, **HX).content.decode()
    assert 'data-applicable="false"' in confirm and "order_rules_violated" in confirm
    client.post(url)
    redemption = Redemption.objects.get(order=small_order)
    assert (redemption.status, redemption.failure_code) == (RedemptionStatus.FAILED, "order_rules_violated")
    summary = client.get(reverse("orders:detail", args=[small_order.pk])).content.decode()
    assert "order_rules_violated" in summary and "Spend at least 50" in summary


def test_rules_tab_queries_do_not_grow_with_incentives(client, viewer, small_order, rule):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(viewer)
    url = reverse("rules:order_tab", args=[small_order.pk])
    make_voucher("ONE", rules=[rule])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(5):
        make_voucher(f"MORE{n}", rules=[rule], redemption_limit=10)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) <= len(few) + 1  # + one grouped count for the limits


def test_rules_tab_and_redeem_404_for_unknown_orders_and_incentives(client, manager, voucher, big_order):
    client.force_login(manager)
    assert client.get(reverse("rules:order_tab", args=["ord_nope"])).status_code == 404
    assert client.get(reverse("rules:redeem", args=[big_order.pk, "v_nope"])).status_code == 404
