"""Deal and activity exports: the rows a user may see, the list's filters, formulas escaped."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from activities import services
from activities.models import ActivityType
from tests.factories import AccountFactory


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header = next(i for i, row in enumerate(rows) if row and row[0] == "Id")
    return rows[header:]


def xlsx_rows(response) -> list[list]:
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(rows) if row and row[0] == "Id")
    return rows[header:]


@pytest.fixture
def logged(cast):
    evil = AccountFactory(name='=HYPERLINK("http://evil.example","click")')
    call = ActivityType.objects.get(name="Call")
    moment = timezone.now() - timedelta(hours=2)
    mine = services.deal_open(owner=cast.rep_a1, name="+1 upsell", amount=Decimal("1234.50"), account=evil)
    services.deal_open(owner=cast.rep_a2, name="Ari's deal", amount=Decimal("10"))
    services.deal_open(owner=cast.rep_b1, name="Bo's deal", amount=Decimal("20"))
    services.activity_log(
        rep=cast.rep_a1, type=call, occurred_at=moment, duration_minutes=15, notes="@mention -x"
    )
    services.activity_log(rep=cast.rep_b1, type=call, occurred_at=moment, duration_minutes=25)
    return {"deal": mine}


def test_a_rep_exports_only_their_own_deals_with_formulas_escaped(cast, client, logged):
    client.force_login(cast.rep_a1.user)
    rows = csv_rows(client.get(reverse("deal_export", args=["csv"])))
    header, body = rows[0], rows[1:]
    assert len(body) == 1
    deal = dict(zip(header, body[0], strict=True))
    assert deal["Deal"] == "'+1 upsell"
    assert deal["Account"].startswith("'=HYPERLINK(")
    assert deal["Amount"] == "1234.50"
    assert deal["Rep"] == "Ana One"

    workbook = xlsx_rows(client.get(reverse("deal_export", args=["xlsx"])))
    assert len(workbook) == 2
    cells = dict(zip(workbook[0], workbook[1], strict=False))  # read-only mode drops trailing empty cells
    assert cells["Deal"] == "'+1 upsell" and cells["Account"].startswith("'=HYPERLINK(")
    assert cells["Amount"] == pytest.approx(1234.5)  # a number, not text


def test_a_manager_exports_their_teams_rows_and_the_filters_apply(cast, client, logged):
    client.force_login(cast.manager_a)
    names = {row[1] for row in csv_rows(client.get(reverse("deal_export", args=["csv"])))[1:]}
    assert names == {"'+1 upsell", "Ari's deal"}
    filtered = csv_rows(client.get(reverse("deal_export", args=["csv"]) + f"?rep={cast.rep_a2.pk}"))[1:]
    assert [row[1] for row in filtered] == ["Ari's deal"]
    activities = csv_rows(client.get(reverse("activity_export", args=["csv"])))
    assert len(activities) == 2  # header + rep_a1's call; rep_b1's is another team's
    row = dict(zip(activities[0], activities[1], strict=True))
    assert row["Notes"] == "'@mention -x" and row["Minutes"] == "15" and row["Selling"] == "yes"


def test_an_admin_exports_everything_and_other_formats_are_not_found(cast, client, logged):
    client.force_login(cast.admin)
    assert len(csv_rows(client.get(reverse("deal_export", args=["csv"])))) == 1 + 3
    assert len(xlsx_rows(client.get(reverse("activity_export", args=["xlsx"])))) == 1 + 2
    assert client.get(reverse("deal_export", args=["pdf"])).status_code == 404


def test_signed_out_exports_redirect_to_sign_in(client, cast):
    response = client.get(reverse("activity_export", args=["csv"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_list_pages_link_the_exports_with_their_filters(cast, client, logged):
    client.force_login(cast.manager_a)
    html = client.get(reverse("deal_list") + f"?rep={cast.rep_a2.pk}").content.decode()
    assert f'href="/deals/export.csv?rep={cast.rep_a2.pk}"' in html
