import pytest

from orders.tests.factories import CustomerFactory, UserFactory, make_order


@pytest.fixture
def viewer(db):
    return UserFactory(username="viewer", role="Viewer")


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", role="Manager")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin-role", role="Admin")


@pytest.fixture
def outsider(db):
    """Signed in, but in no role: may see nothing."""
    return UserFactory(username="outsider", is_staff=False)


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def order(db):
    return make_order(source_id="fixture-order")
