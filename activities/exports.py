"""CSV and XLSX exports of the deals and activities a user may see, with the list pages' filters.

The rows come from the same selectors as the pages (so the same access rules), read with
`values_list(...).iterator()`: a CSV of a hundred thousand deals streams without holding
them. Formula-looking text is escaped by `salestrack.spreadsheets`.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from metrics.selectors import user_name
from salestrack import spreadsheets as sheets

from .models import Activity, Deal

CHUNK = 2000


def deal_sheet(deals: QuerySet[Deal]) -> sheets.Sheet:
    columns = [
        sheets.Column(_("Id"), sheets.INTEGER),
        sheets.Column(_("Deal")),
        sheets.Column(_("Rep")),
        sheets.Column(_("Team")),
        sheets.Column(_("Account")),
        sheets.Column(_("Product")),
        sheets.Column(_("Stage")),
        sheets.Column(_("Status")),
        sheets.Column(_("Amount"), sheets.MONEY),
        sheets.Column(_("Revenue type")),
        sheets.Column(_("Source")),
        sheets.Column(_("External id")),
        sheets.Column(_("Opened"), sheets.DATE),
        sheets.Column(_("Expected close"), sheets.DATE),
        sheets.Column(_("Closed"), sheets.DATE),
    ]
    rows = (
        deals.annotate(rep_name=user_name("owner__user__"))
        .values_list(
            "pk",
            "name",
            "rep_name",
            "owner__team__name",
            "account__name",
            "product__name",
            "stage__name",
            "stage__kind",
            "amount",
            "revenue_type",
            "source",
            "external_id",
            "opened_on",
            "expected_close_on",
            "closed_on",
        )
        .iterator(chunk_size=CHUNK)
    )
    return sheets.Sheet(title=_("Deals"), columns=columns, rows=rows, preamble=_preamble())


def activity_sheet(activities: QuerySet[Activity]) -> sheets.Sheet:
    columns = [
        sheets.Column(_("Id"), sheets.INTEGER),
        sheets.Column(_("When"), sheets.DATETIME),
        sheets.Column(_("Rep")),
        sheets.Column(_("Team")),
        sheets.Column(_("Type")),
        sheets.Column(_("Selling")),
        sheets.Column(_("Minutes"), sheets.INTEGER),
        sheets.Column(_("Deal")),
        sheets.Column(_("Account")),
        sheets.Column(_("Outcome")),
        sheets.Column(_("Notes")),
        sheets.Column(_("Source")),
        sheets.Column(_("External id")),
    ]
    rows = (
        activities.annotate(rep_name=user_name("rep__user__"))
        .values_list(
            "pk",
            "occurred_at",
            "rep_name",
            "rep__team__name",
            "type__name",
            "type__is_selling",
            "duration_minutes",
            "deal__name",
            "account__name",
            "outcome",
            "notes",
            "source",
            "external_id",
        )
        .iterator(chunk_size=CHUNK)
    )
    return sheets.Sheet(
        title=_("Activities"),
        columns=columns,
        rows=(_yes_no(row, 5) for row in rows),
        preamble=_preamble(),
    )


def _yes_no(row, index: int) -> tuple:
    values = list(row)
    values[index] = _("yes") if values[index] else _("no")
    return tuple(values)


def _preamble() -> list[tuple[str, object]]:
    return [(_("Exported"), timezone.localtime().strftime("%Y-%m-%d %H:%M"))]


def filename(stem: str, fmt: str) -> str:
    return f"{stem}-{timezone.localdate().isoformat()}.{fmt}"
