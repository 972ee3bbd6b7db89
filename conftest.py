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


@pytest.fixture(autouse=True)
def _tasks_run_inline(settings):
    """Background tasks (imports, export jobs) run inside the request that enqueues them: a test sees their
    result at once, with no worker (production: TASKS_BACKEND=database and ``manage.py db_worker``)."""
    settings.TASKS = {"default": {"BACKEND": settings.TASKS_BACKENDS["immediate"]}}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Test users get a cheap password hash: PBKDF2's million rounds cost about half a second per user, and
    no test is about hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
