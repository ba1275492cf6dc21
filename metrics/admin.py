"""Admin for the targets admins set: quotas (with bulk entry), projections, activity targets.

Every target keeps its change history (simple_history), so admins see who changed what.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from activities.models import Team
from salestrack.admin_site import CalendarChangeListMixin

from . import jobs, services
from .forms import PeriodTargetAdminForm, PeriodTargetInlineFormSet, QuotaBulkForm
from .models import ActivityTarget, ChangedDay, MetricRun, MetricRunProblem, Projection, Quota


class TeamOrItsRepsFilter(admin.SimpleListFilter):
    """A team's own targets and those of its reps, together."""

    title = _("team (with its reps)")
    parameter_name = "team"

    def lookups(self, request, model_admin):
        return list(Team.objects.order_by("name").values_list("pk", "name"))

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # Only a team of the list: anything else (a word, a huge number) is a bad lookup, not a 500.
        team_id = next((pk for pk, _name in self.lookup_choices if str(pk) == str(self.value())), None)
        if team_id is None:
            raise IncorrectLookupParameters(gettext("%(value)s is not a team.") % {"value": self.value()})
        return queryset.filter(Q(team_id=team_id) | Q(rep__team_id=team_id))


class OwnerKindFilter(admin.SimpleListFilter):
    title = _("set for")
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("rep", _("a rep")), ("team", _("a team"))]

    def queryset(self, request, queryset):
        if self.value() == "rep":
            return queryset.filter(rep__isnull=False)
        if self.value() == "team":
            return queryset.filter(team__isnull=False)
        return queryset


class TargetChangesMixin:
    """Quotas and projections feed the metrics: every admin write marks its period changed."""

    @staticmethod
    def _mark(*days) -> None:
        jobs.metrics_mark_changed(days=days)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._mark(obj.period_start, form.initial.get("period_start"))

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._mark(obj.period_start)

    def delete_queryset(self, request, queryset):
        days = list(queryset.values_list("period_start", flat=True))
        super().delete_queryset(request, queryset)
        self._mark(*days)


class TargetInlineChangesMixin:
    """For the Rep and Team pages: quota and projection inlines mark their periods changed."""

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model in (Quota, Projection):
            days = [f.initial.get("period_start") for f in formset.forms if f.has_changed()]
            days += [obj.period_start for obj in formset.new_objects + formset.deleted_objects]
            days += [obj.period_start for obj, _changed in formset.changed_objects]
            jobs.metrics_mark_changed(days=days)


class ReshapesMetricsMixin:
    """For settings every figure depends on: changing one of `metrics_fields` marks all periods."""

    metrics_fields: tuple[str, ...] = ()
    # Whether the daily tables depend on these settings too (then every day is redone).
    metrics_redo_days = False

    def _mark(self):
        if self.metrics_redo_days:
            jobs.metrics_mark_all_days()
        else:
            jobs.metrics_mark_all_periods()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or set(form.changed_data) & set(self.metrics_fields):
            self._mark()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._mark()


class PeriodTargetAdmin(CalendarChangeListMixin, SimpleHistoryAdmin):
    form = PeriodTargetAdminForm
    list_display = ["owner_display", "period_display", "period_kind"]
    list_filter = [TeamOrItsRepsFilter, OwnerKindFilter, "period_kind"]
    list_select_related = ["rep__user", "team"]
    search_fields = ["rep__user__username", "rep__user__first_name", "rep__user__last_name", "team__name"]
    autocomplete_fields = ["rep", "team"]
    date_hierarchy = "period_start"
    ordering = ["-period_start", "period_kind", "team__name", "rep__user__username"]
    list_per_page = 100

    @admin.display(description=_("rep or team"))
    def owner_display(self, obj):
        return obj.owner

    @admin.display(description=_("period"), ordering="period_start")
    def period_display(self, obj):
        return str(obj.period)


@admin.register(Quota)
class QuotaAdmin(TargetChangesMixin, PeriodTargetAdmin):
    list_display = [*PeriodTargetAdmin.list_display, "amount"]
    fields = ["rep", "team", "period_kind", "period_start", "amount"]

    def get_urls(self):
        bulk = path(
            "bulk/",
            self.admin_site.admin_view(self.bulk_view),
            name="metrics_quota_bulk",
        )
        return [bulk, *super().get_urls()]

    def bulk_view(self, request):
        """Set one quota for every active rep of a team (all or nothing)."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        if request.method == "POST":
            form = QuotaBulkForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    result = services.quota_set_for_team_reps(
                        team=data["team"],
                        period=data["period"],
                        amount=data["amount"],
                        team_amount=data["team_amount"],
                        by=request.user,
                    )
                except ValidationError as exc:
                    _add_errors(form, exc)
                else:
                    self.message_user(
                        request,
                        gettext(
                            "Quotas for %(period)s set for %(team)s: "
                            "%(created)d created, %(updated)d updated, %(unchanged)d unchanged."
                        )
                        % {
                            "period": data["period"],
                            "team": data["team"],
                            "created": result.created,
                            "updated": result.updated,
                            "unchanged": result.unchanged,
                        },
                        messages.SUCCESS,
                    )
                    query = urlencode(
                        {
                            "team": data["team"].pk,
                            "period_kind": data["period"].kind,
                            "period_start": data["period"].start.isoformat(),
                        }
                    )
                    return HttpResponseRedirect(f"{reverse('admin:metrics_quota_changelist')}?{query}")
        else:
            form = QuotaBulkForm(initial={"team": request.GET.get("team")})
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Set quotas for a team's reps"),
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/metrics/quota/bulk.html", context)


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@admin.register(Projection)
class ProjectionAdmin(TargetChangesMixin, PeriodTargetAdmin):
    list_display = [*PeriodTargetAdmin.list_display, "amount"]
    fields = ["rep", "team", "period_kind", "period_start", "amount"]


@admin.register(ActivityTarget)
class ActivityTargetAdmin(PeriodTargetAdmin):
    list_display = [*PeriodTargetAdmin.list_display, "activity_type", "target_count"]
    list_filter = [*PeriodTargetAdmin.list_filter, "activity_type"]
    list_select_related = [*PeriodTargetAdmin.list_select_related, "activity_type"]
    fields = ["rep", "team", "activity_type", "period_kind", "period_start", "target_count"]


# --- inlines on the Rep and Team pages (registered in activities/admin.py) --------


class _PeriodTargetInline(admin.TabularInline):
    form = PeriodTargetAdminForm
    formset = PeriodTargetInlineFormSet
    fields = ["period_kind", "period_start", "amount"]
    ordering = ["-period_start", "period_kind"]
    extra = 1
    prefix = ""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # The targets' owner FKs have no reverse accessor (related_name="+"), which
        # would leave the form fields without a readable prefix.
        prefix = self.prefix
        formset.get_default_prefix = classmethod(lambda cls: prefix)
        return formset


class RepQuotaInline(_PeriodTargetInline):
    prefix = "quotas"
    model = Quota
    fk_name = "rep"


class TeamQuotaInline(_PeriodTargetInline):
    prefix = "quotas"
    model = Quota
    fk_name = "team"
    verbose_name = _("team quota")
    verbose_name_plural = _("team quotas (the team's own; without one, its reps' quotas add up)")


class RepProjectionInline(_PeriodTargetInline):
    prefix = "projections"
    model = Projection
    fk_name = "rep"


class TeamProjectionInline(_PeriodTargetInline):
    prefix = "projections"
    model = Projection
    fk_name = "team"
    verbose_name = _("team projection")
    verbose_name_plural = _("team projections")


# --- job status ------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the metrics engine only; admins watch, they do not edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MetricRunProblemInline(admin.TabularInline):
    """The slices a run could not compute, in words (the traceback is in the worker's log)."""

    model = MetricRunProblem
    fields = ["slice", "first_day", "last_day", "attempts", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MetricRun)
class MetricRunAdmin(CalendarChangeListMixin, ReadOnlyAdmin):
    inlines = [MetricRunProblemInline]
    list_display = [
        "started_at",
        "kind",
        "status",
        "first_day",
        "last_day",
        "progress",
        "rows_written",
        "duration",
    ]
    list_filter = ["status", "kind"]
    date_hierarchy = "started_at"
    fields = [
        "kind",
        "status",
        "first_day",
        "last_day",
        "started_at",
        "finished_at",
        "chunks_total",
        "chunks_done",
        "rows_written",
        "heartbeat_at",
        "error",
    ]

    @admin.display(description=_("chunks"))
    def progress(self, obj):
        return f"{obj.chunks_done} / {obj.chunks_total}"

    @admin.display(description=_("duration"))
    def duration(self, obj):
        if obj.finished_at is None:
            return "—"
        return str(obj.finished_at - obj.started_at).split(".")[0]


@admin.register(ChangedDay)
class ChangedDayAdmin(CalendarChangeListMixin, ReadOnlyAdmin):
    list_display = ["day", "only_rep", "marked_at"]
    date_hierarchy = "day"
