"""CharField's __any_of lookup returns exactly what __in returns, on every database."""

import pytest

from activities.models import Account

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["Acme"],
        ["Acme", "Globex", "nobody"],
        ["it's", 'a "quoted", name', "ümlaut", "{brace}", "back\\slash"],
        [f"Firm {n}" for n in range(1500)],
    ],
)
def test_any_of_matches_in(names):
    for name in ["Acme", "Globex", "Initech", "it's", 'a "quoted", name', "{brace}", "back\\slash"]:
        Account.objects.create(name=name)
    Account.objects.bulk_create(Account(name=f"Firm {n}") for n in range(0, 3000, 2))

    got = set(Account.objects.filter(name__any_of=names).values_list("name", flat=True))

    assert got == set(Account.objects.filter(name__in=names).values_list("name", flat=True))
    assert got == set(names) & set(Account.objects.values_list("name", flat=True))
