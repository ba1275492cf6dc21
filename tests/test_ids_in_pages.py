"""Ids in links, attributes and form values are never written with thousand separators.

USE_THOUSAND_SEPARATOR is on (figures read "12,345"), so an id printed with {{ }} without
|unlocalize would become "?deal=12,345" once a table passes a thousand rows.
"""

import re

from django.urls import reverse

from activities.models import Stage
from tests.factories import DealFactory


def test_ids_past_a_thousand_stay_plain_numbers(cast, client):
    rep_a1 = cast.rep_a1
    deal = DealFactory(pk=23_456, owner=rep_a1, stage=Stage.objects.get(name="Proposal"))
    client.force_login(rep_a1.user)
    html = client.get(reverse("deal_detail", args=[deal.pk])).content.decode()
    assert "?deal=23456" in html
    assert not re.search(r"\d,\d{3}", " ".join(re.findall(r'(?:href|value|data-[a-z-]+)="([^"]*)"', html)))
