import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse

from orders.tests.factories import make_order

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_roles_exist_with_their_permissions(viewer, manager, admin_user):
    assert set(Group.objects.values_list("name", flat=True)) >= {"Viewer", "Manager", "Admin"}
    assert viewer.has_perm("orders.view_order")
    assert not viewer.has_perm("orders.change_order")
    assert not viewer.has_perm("orders.export_order")
    assert manager.has_perms(["orders.change_order", "orders.add_order", "orders.export_order", "orders.import_order"])
    assert not manager.has_perm("orders.delete_order")
    assert not manager.has_perm("auth.change_user")
    assert admin_user.has_perms(["orders.delete_order", "orders.export_order", "auth.change_user"])


@pytest.mark.django_db
def test_anonymous_is_sent_to_login_and_back(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'name="username"' in page.content


@pytest.mark.django_db
def test_login_then_home_leads_to_the_orders_list_escaped(client, viewer):
    make_order(source_id="<script>alert(1)</script>")
    response = client.post(reverse("login"), {"username": "viewer", "password": "pw-for-tests-only", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == reverse("orders:list")
    page = client.get(home["Location"])
    assert page.status_code == 200
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content
    assert b"<script>alert(1)" not in page.content


@pytest.mark.django_db
def test_user_without_a_role_sees_no_orders(client, outsider):
    make_order(source_id="secret-order")
    client.force_login(outsider)
    page = client.get("/")
    assert page.status_code == 200
    assert b"secret-order" not in page.content
    assert b"no role yet" in page.content


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "manager", "admin_user"])
def test_admin_shows_orders_read_only_to_every_role(client, request, role, order):
    client.force_login(request.getfixturevalue(role))
    changelist = client.get(reverse("admin:orders_order_changelist"))
    assert changelist.status_code == 200
    assert order.id.encode() in changelist.content
    assert client.get(reverse("admin:orders_order_add")).status_code == 403
    change = client.post(reverse("admin:orders_order_change", args=[order.pk]), {"status": "CANCELED"})
    assert change.status_code == 403
    order.refresh_from_db()
    assert order.status == "CREATED"
    assert client.post(reverse("admin:orders_order_delete", args=[order.pk]), {"post": "yes"}).status_code == 403
    assert order.__class__.objects.filter(pk=order.pk).exists()


@pytest.mark.django_db
def test_admin_refuses_customer_metadata_that_breaks_the_schema(client, admin_user, customer):
    from orders.models import MetadataSchema

    schema = MetadataSchema.objects.create(related_object="customer")
    schema.properties.create(key="vip", type="boolean")
    client.force_login(admin_user)
    url = reverse("admin:orders_customer_change", args=[customer.pk])
    response = client.post(
        url,
        {
            "source_id": customer.source_id,
            "name": "N",
            "address": "{}",
            "metadata": '{"vip": "yes"}',
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
            "updated_at_0": "2026-01-01",
            "updated_at_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert b"metadata.vip: must be true or false" in response.content
    customer.refresh_from_db()
    assert customer.metadata == {}


@pytest.mark.django_db
def test_demo_admin_is_created_once_and_printed(capsys, settings):
    settings.DEBUG = True
    call_command("ensure_demo_admin")
    call_command("ensure_demo_admin")
    out = capsys.readouterr().out
    assert out.count("Created the demo Admin user") == 1
    assert "Demo login: demo-admin / demo-admin" in out
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("ensure_demo_admin")


def _settings_with(env: dict) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.SESSION_COOKIE_SECURE)"
    clean = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "orders_dashboard.settings", **env}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_production_refuses_the_development_secret_key():
    result = _settings_with({"DEBUG": "0"})
    assert result.returncode != 0
    assert "refusing to start with the public development key" in result.stderr


def test_production_with_a_secret_key_has_secure_cookies():
    result = _settings_with({"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "orders.example.com"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_bad_boolean_is_a_clear_error():
    result = _settings_with({"DEBUG": "maybe"})
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    code = (
        "import django; django.setup(); from django.db import connection; c = connection.cursor();"
        "print(c.execute('PRAGMA journal_mode').fetchone()[0], c.execute('PRAGMA busy_timeout').fetchone()[0])"
    )
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    env["DJANGO_SETTINGS_MODULE"] = "orders_dashboard.settings"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "20000"]
