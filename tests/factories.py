"""factory_boy factories for bulk data; personas live in conftest.py."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from activities.models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    Product,
    Rep,
    Stage,
    Team,
    Territory,
    User,
)


class TerritoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Territory
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Territory {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")
    territory = factory.SubFactory(TerritoryFactory)


class RepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rep

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    territory = factory.SelfAttribute("team.territory")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Product {n}")
    category = "Hardware"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Account {n}")


def stage(name: str) -> Stage:
    return Stage.objects.get(name=name)


class DealFactory(factory.django.DjangoModelFactory):
    """A deal row as stored; use activities.services to exercise the rules."""

    class Meta:
        model = Deal

    name = factory.Sequence(lambda n: f"Deal {n}")
    owner = factory.SubFactory(RepFactory)
    account = factory.SubFactory(AccountFactory)
    product = factory.SubFactory(ProductFactory)
    amount = Decimal("1000.00")
    stage = factory.LazyFunction(lambda: stage("Lead"))
    opened_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=30))


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    rep = factory.SubFactory(RepFactory)
    type = factory.LazyFunction(lambda: ActivityType.objects.get(name="Call"))
    occurred_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    duration_minutes = 15
