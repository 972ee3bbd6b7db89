import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from orders_dashboard.roles import VIEWER


@pytest.mark.django_db(transaction=True)
def test_roles_come_back_after_a_flush():
    """Live-server tests flush the database between tests; the roles must survive that."""
    call_command("flush", interactive=False)
    manager = Group.objects.get(name="Manager")
    assert manager.permissions.filter(codename="export_order", content_type__app_label="orders").exists()
    assert Group.objects.get(name="Viewer").permissions.count() == len(VIEWER)
