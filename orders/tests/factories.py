"""factory_boy factories. Orders are built through the services (that is how orders come to exist),
so a factory-made order has its items, derived amounts, events and customer summary like a real one."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from orders import services
from orders.events import Actor
from orders.models import SKU, Customer, Product


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-only")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    source_id = factory.Sequence(lambda n: f"cust-src-{n}")
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    source_id = factory.Sequence(lambda n: f"prod-src-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = 1000


class SKUFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SKU

    source_id = factory.Sequence(lambda n: f"sku-src-{n}")
    product = factory.SubFactory(ProductFactory)
    sku = factory.Sequence(lambda n: f"SKU {n}")
    price = 1200


SYSTEM = Actor.system("tests")


def make_order(**kwargs):
    """An order through ``order_create``; by default one item of 2 × 1000."""
    kwargs.setdefault(
        "items", [{"source_id": "prod-default", "related_object": "product", "quantity": 2, "price": 1000}]
    )
    kwargs.setdefault("actor", SYSTEM)
    return services.order_create(**kwargs)
