"""Query-string filters of the list endpoints (django-filter). A malformed value answers 400 naming it."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from activities import querystring
from activities.models import Activity, Deal, Rep, Source, Stage, Team
from activities.querystring import MAX_ID, QueryDateField, QueryIdField


class IdFilter(django_filters.Filter):
    """An integer id (no lookup of the row: the list is already limited to what the caller sees)."""

    field_class = QueryIdField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class DateFilter(django_filters.DateFilter):
    """A day YYYY-MM-DD inside the calendar window (activities.querystring), else 400 naming it."""

    field_class = QueryDateField


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` from a whitelist; the id breaks ties so pages never repeat or skip a row."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        # A field that cannot be sorted by is refused (400) rather than silently dropped.
        allowed = [name for name, _label in self.get_valid_fields(queryset, view, {"request": request})]
        try:
            return querystring.ordering_terms(",".join(fields), allowed)
        except querystring.QueryError as exc:
            raise ValidationError({exc.name: [str(exc)]}) from None

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not {"id", "-id", "pk", "-pk"} & set(ordering):
            ordering = [*ordering, "-id" if ordering[0].startswith("-") else "id"]
        return ordering


class ActivityFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")
    type = IdFilter(field_name="type_id")
    deal = IdFilter(field_name="deal_id")
    account = IdFilter(field_name="account_id")
    occurred_after = DateFilter(method="filter_occurred_after", label=_("On or after this day (YYYY-MM-DD)."))
    occurred_before = DateFilter(
        method="filter_occurred_before", label=_("On or before this day (YYYY-MM-DD).")
    )
    source = django_filters.ChoiceFilter(choices=Source.choices)
    external_id = django_filters.CharFilter(max_length=100)

    class Meta:
        model = Activity
        fields = [
            "rep",
            "type",
            "deal",
            "account",
            "occurred_after",
            "occurred_before",
            "source",
            "external_id",
        ]

    # A range on occurred_at (not __date) keeps the (rep, occurred_at) index usable.
    def filter_occurred_after(self, queryset, name, value):
        return queryset.filter(occurred_at__gte=_day_start(value))

    def filter_occurred_before(self, queryset, name, value):
        return queryset.filter(occurred_at__lt=_day_start(value + timedelta(days=1)))


class DealFilter(django_filters.FilterSet):
    owner = IdFilter(field_name="owner_id")
    stage = IdFilter(field_name="stage_id")
    account = IdFilter(field_name="account_id")
    product = IdFilter(field_name="product_id")
    status = django_filters.ChoiceFilter(field_name="stage__kind", choices=Stage.Kind.choices)
    opened_after = DateFilter(field_name="opened_on", lookup_expr="gte")
    opened_before = DateFilter(field_name="opened_on", lookup_expr="lte")
    closed_after = DateFilter(field_name="closed_on", lookup_expr="gte")
    closed_before = DateFilter(field_name="closed_on", lookup_expr="lte")
    source = django_filters.ChoiceFilter(choices=Source.choices)
    external_id = django_filters.CharFilter(max_length=100)

    class Meta:
        model = Deal
        fields = [
            "owner",
            "stage",
            "account",
            "product",
            "status",
            "opened_after",
            "opened_before",
            "closed_after",
            "closed_before",
            "source",
            "external_id",
        ]


class RepFilter(django_filters.FilterSet):
    team = IdFilter(field_name="team_id")
    territory = IdFilter(field_name="territory_id")
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = Rep
        fields = ["team", "territory", "is_active"]


class TeamFilter(django_filters.FilterSet):
    territory = IdFilter(field_name="territory_id")

    class Meta:
        model = Team
        fields = ["territory"]
