"""Admin for the organisation (users, teams, reps, products, pipeline) and what reps log.

Deals and activities are written through `activities.services`, as everywhere else:
a stage changed here is recorded in the stage history, and every business rule of
the services shows up as a field error on the form.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from metrics.admin import (
    ReadOnlyAdmin,
    RepProjectionInline,
    RepQuotaInline,
    ReshapesMetricsMixin,
    TargetInlineChangesMixin,
    TeamProjectionInline,
    TeamQuotaInline,
)
from metrics.forms import drop_repeated_non_field_errors
from salestrack.admin_site import CalendarChangeListMixin

from . import access, rules, services
from .models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    DealStageChange,
    ImportJob,
    Product,
    Rep,
    RepAssignment,
    Stage,
    Team,
    Territory,
    User,
)


class ServiceWriteForm(forms.ModelForm):
    """An admin form whose writes go through a service, via `write(by=...)`.

    Validation runs that very write inside a savepoint that is then rolled back, so
    every rule of the service surfaces as a form error instead of a server error;
    the admin then makes the write for real in save_model().
    """

    # Service error keys that are not form fields, mapped to the field they are about.
    error_field_aliases: dict[str, str] = {}

    def write(self, *, by):
        raise NotImplementedError

    def _post_clean(self):
        super()._post_clean()
        # Form-wide errors (database constraints) do not stop the dry run: the
        # service usually names the field, and the repeated message is dropped.
        if any(field != NON_FIELD_ERRORS for field in self.errors):
            return
        try:
            with transaction.atomic():
                self.write(by=None)
                transaction.set_rollback(True)
        except ValidationError as exc:
            self._add_service_errors(exc)
        drop_repeated_non_field_errors(self)

    def _add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.error_dict.items():
            field = self.error_field_aliases.get(field, field)
            self.add_error(field if field in self.fields else None, errors)


class ServiceWriteAdminMixin:
    """save_model() writes through the form's service call (see ServiceWriteForm)."""

    def save_model(self, request, obj, form, change):
        saved = form.write(by=request.user)
        # The admin keeps working with `obj` (messages, log entry, redirect).
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()


# --- people -----------------------------------------------------------------


class RepInline(admin.StackedInline):
    model = Rep
    fk_name = "user"
    can_delete = False
    max_num = 1
    extra = 0
    fields = ["team", "territory", "is_active", "hired_on"]
    autocomplete_fields = ["team"]
    verbose_name = _("rep profile")
    verbose_name_plural = _("rep profile")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [RepInline]
    list_display = ["username", "full_name", "email", "roles", "team", "is_active", "last_login"]
    list_filter = ["groups", "is_active", "is_staff", "is_superuser", "rep__team"]
    list_select_related = ["rep__team"]
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering = ["username"]
    readonly_fields = ["last_login", "date_joined"]
    actions = ["make_rep", "make_manager", "make_admin"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, obj):
        return obj.get_full_name()

    @admin.display(description=_("roles"))
    def roles(self, obj):
        # Sorted in Python: a database order_by() would bypass the prefetch.
        return ", ".join(sorted(group.name for group in obj.groups.all())) or "—"

    @admin.display(description=_("team"), ordering="rep__team__name")
    def team(self, obj):
        rep = getattr(obj, "rep", None)
        return rep.team if rep else "—"

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Only a superuser hands out superuser status or single permissions.
            readonly += ["is_superuser", "user_permissions"]
        return readonly

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user = form.instance
        # A rep profile given to a user without a role makes them a rep.
        has_role = user.groups.filter(name__in=access.ROLES).exists()
        if not has_role and Rep.objects.filter(user=user).exists():
            services.user_set_role(user=user, role=access.ROLE_REP)

    def _set_role(self, request, queryset, role: str) -> None:
        count = 0
        for user in queryset:
            if user.is_superuser and not request.user.is_superuser:
                continue
            services.user_set_role(user=user, role=role)
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d user now has the role %(role)s.",
                "%(count)d users now have the role %(role)s.",
                count,
            )
            % {"count": count, "role": role},
            messages.SUCCESS,
        )

    @admin.action(description=_("Give the role: rep"), permissions=["change"])
    def make_rep(self, request, queryset):
        self._set_role(request, queryset, access.ROLE_REP)

    @admin.action(description=_("Give the role: manager"), permissions=["change"])
    def make_manager(self, request, queryset):
        self._set_role(request, queryset, access.ROLE_MANAGER)

    @admin.action(description=_("Give the role: admin"), permissions=["change"])
    def make_admin(self, request, queryset):
        self._set_role(request, queryset, access.ROLE_ADMIN)


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ["name", "team_count", "rep_count"]
    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(team_count=Count("teams", distinct=True), rep_count=Count("reps", distinct=True))
        )

    @admin.display(description=_("teams"), ordering="team_count")
    def team_count(self, obj):
        return obj.team_count

    @admin.display(description=_("reps"), ordering="rep_count")
    def rep_count(self, obj):
        return obj.rep_count


@admin.register(Team)
class TeamAdmin(TargetInlineChangesMixin, admin.ModelAdmin):
    list_display = ["name", "manager", "territory", "active_rep_count"]
    list_filter = ["territory"]
    list_select_related = ["manager", "territory"]
    search_fields = ["name"]
    autocomplete_fields = ["manager"]
    ordering = ["name"]
    actions = ["set_quotas"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(active_rep_count=Count("reps", filter=Q(reps__is_active=True)))
        )

    def get_inlines(self, request, obj):
        # The inline rows belong to the team: they can be added once the team exists.
        return [TeamQuotaInline, TeamProjectionInline] if obj is not None else []

    @admin.display(description=_("active reps"), ordering="active_rep_count")
    def active_rep_count(self, obj):
        return obj.active_rep_count

    @admin.action(description=_("Set quotas for the team's reps…"))
    def set_quotas(self, request, queryset):
        team = queryset.order_by("name").first()
        if queryset.count() > 1:
            self.message_user(request, gettext("Quotas are set one team at a time."), messages.WARNING)
            return None
        url = reverse("admin:metrics_quota_bulk")
        return HttpResponseRedirect(f"{url}?{urlencode({'team': team.pk})}")


class RepAdminForm(forms.ModelForm):
    moved_on = forms.DateField(
        label=_("Moved on"),
        required=False,
        help_text=_(
            "When the team or territory changes: the first day the rep's figures count for the new "
            "one (today or earlier). Empty: today. Earlier periods keep their figures."
        ),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = Rep
        fields = ["user", "team", "territory", "is_active", "hired_on"]

    def clean(self):
        cleaned = super().clean()
        moved_on = cleaned.get("moved_on")
        if moved_on is not None and not ({"team", "territory"} & set(self.changed_data)):
            self.add_error("moved_on", _("Give a day only with a new team or territory."))
        elif rules.move_day_problem(moved_on):
            self.add_error("moved_on", rules.move_day_problem(moved_on))
        return cleaned


class RepAssignmentInline(admin.TabularInline):
    """The rep's team history, as the figures credit it: read-only (a move is made above)."""

    model = RepAssignment
    fk_name = "rep"
    fields = ["starts_on", "team", "territory", "recorded_at", "recorded_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = _("team from a day on")
    verbose_name_plural = _("team history")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Rep)
class RepAdmin(CalendarChangeListMixin, ReshapesMetricsMixin, TargetInlineChangesMixin, admin.ModelAdmin):
    # A new rep reshapes the company's figures; a move goes through services.rep_move, which
    # recomputes only the periods from the day of the move (credit at the time).
    form = RepAdminForm
    list_display = ["name", "team", "territory", "is_active", "hired_on"]
    list_filter = ["is_active", "team", "territory"]
    list_select_related = ["user", "team", "territory"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email", "team__name"]
    autocomplete_fields = ["user", "team"]
    ordering = ["user__first_name", "user__last_name", "user__username"]
    date_hierarchy = "hired_on"

    def get_inlines(self, request, obj):
        # The inline rows belong to the rep: they can be added once the rep exists.
        return [RepAssignmentInline, RepQuotaInline, RepProjectionInline] if obj is not None else []

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        moved = change and {"team", "territory"} & set(form.changed_data)
        if moved:  # the rest of the form is saved as it is; the move is the service's
            team, territory = obj.team, obj.territory
            obj.team_id, obj.territory_id = form.initial["team"], form.initial["territory"]
        super().save_model(request, obj, form, change)
        if not change:
            RepAssignment.objects.create(
                rep=obj, team=obj.team, territory=obj.territory, recorded_by=request.user
            )
        if moved:
            moved_on = form.cleaned_data.get("moved_on")
            services.rep_move(rep=obj, team=team, territory=territory, from_day=moved_on, by=request.user)
            obj.refresh_from_db(fields=["team", "territory"])

    @admin.display(description=_("rep"), ordering="user__first_name")
    def name(self, obj):
        return obj.name


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "list_price"]
    list_filter = ["category"]
    search_fields = ["name", "category"]
    ordering = ["name"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "segment", "sector"]
    list_filter = ["segment", "region"]
    list_select_related = ["region"]
    search_fields = ["name", "sector"]
    ordering = ["name"]


# --- pipeline and activity types --------------------------------------------


@admin.register(Stage)
class StageAdmin(ReshapesMetricsMixin, admin.ModelAdmin):
    metrics_fields = ("order", "kind", "win_probability")
    # How far each deal got down the funnel is kept per day, in stage order.
    metrics_redo_days = True
    list_display = ["order", "name", "kind", "win_probability"]
    list_display_links = ["name"]
    list_filter = ["kind"]
    search_fields = ["name"]
    ordering = ["order"]


@admin.register(ActivityType)
class ActivityTypeAdmin(ReshapesMetricsMixin, admin.ModelAdmin):
    metrics_fields = ("is_selling",)
    list_display = ["name", "is_selling", "default_duration", "order", "is_active"]
    list_editable = ["order", "is_active"]
    list_filter = ["is_selling", "is_active"]
    search_fields = ["name"]
    ordering = ["order", "name"]


# --- deals ------------------------------------------------------------------


# What the change form edits through deal_update(); the stage goes through deal_move_stage().
DEAL_DETAILS = ("name", "amount", "account", "product", "revenue_type", "expected_close_on", "opened_on")


class DealAdminForm(ServiceWriteForm):
    error_field_aliases = {"to_stage": "stage"}
    # The version the page was opened on: a save over a newer one is refused (no lost updates).
    # (Not `version`: the model's field is not editable, and a ModelForm may not name it.)
    seen_version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["seen_version"].initial = self.instance.version

    class Meta:
        model = Deal
        fields = [
            "name",
            "owner",
            "account",
            "product",
            "amount",
            "revenue_type",
            "stage",
            "opened_on",
            "expected_close_on",
            "closed_on",
            "source",
            "external_id",
        ]
        help_texts = {
            "stage": _("A change of stage is recorded in the deal's stage history."),
            "closed_on": _(
                "Set when the deal is won or lost (today if left empty); "
                "cleared when it moves back to an open stage."
            ),
        }

    def write(self, *, by) -> Deal:
        data = self.cleaned_data
        if self.instance._state.adding:
            return services.deal_open(
                owner=data["owner"],
                name=data["name"],
                amount=data["amount"],
                opened_on=data["opened_on"],
                stage=data["stage"],
                account=data.get("account"),
                product=data.get("product"),
                revenue_type=data["revenue_type"],
                expected_close_on=data.get("expected_close_on"),
                closed_on=data.get("closed_on"),
                source=data["source"],
                external_id=data.get("external_id", ""),
                by=by,
            )
        try:
            return self._change(data, by=by)
        except services.StaleVersion as exc:
            raise ValidationError(
                gettext(
                    "This deal changed since you opened it: nothing was saved. "
                    "Reload the page to see its current values."
                )
            ) from exc

    def _change(self, data, *, by) -> Deal:
        changed = set(self.changed_data)
        deal = Deal.objects.get(pk=self.instance.pk)
        version = data.get("seen_version")
        details = {name: data[name] for name in DEAL_DETAILS if name in changed}
        if details:
            deal = services.deal_update(deal=deal, version=version, **details)
            version = None  # checked, and bumped by this very save
        if "stage" in changed:
            to_stage = data["stage"]
            # Moving to an open stage reopens the deal: the old closing date goes,
            # unless the admin typed a new one (which the service then rejects).
            keep_date = to_stage.is_closed or "closed_on" in changed
            deal = services.deal_move_stage(
                deal=deal,
                to_stage=to_stage,
                by=by,
                closed_on=data.get("closed_on") if keep_date else None,
                version=version,
            )
        elif "closed_on" in changed:
            raise ValidationError(
                {
                    "closed_on": gettext(
                        "The closing date is set when the deal moves to a won or lost stage; "
                        "it does not change on its own."
                    )
                }
            )
        return deal


class DealStageChangeInline(admin.TabularInline):
    model = DealStageChange
    fields = ["changed_at", "from_stage", "to_stage", "by"]
    readonly_fields = fields
    ordering = ["changed_at", "id"]
    extra = 0
    can_delete = False
    verbose_name_plural = _("stage history")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_stage", "to_stage", "by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Deal)
class DealAdmin(CalendarChangeListMixin, ServiceWriteAdminMixin, admin.ModelAdmin):
    form = DealAdminForm
    inlines = [DealStageChangeInline]
    list_display = [
        "name",
        "owner",
        "account",
        "product",
        "amount",
        "stage",
        "opened_on",
        "closed_on",
        "source",
    ]
    list_filter = ["stage__kind", "stage", "source", "revenue_type", "owner__team", "product__category"]
    list_select_related = ["owner__user", "account", "product", "stage"]
    search_fields = [
        "name",
        "external_id",
        "account__name",
        "owner__user__username",
        "owner__user__last_name",
    ]
    autocomplete_fields = ["owner", "account", "product"]
    date_hierarchy = "opened_on"
    ordering = ["-opened_on", "-id"]
    fieldsets = [
        (None, {"fields": ["name", "owner", "account", "product", "amount", "revenue_type", "seen_version"]}),
        (_("Pipeline"), {"fields": ["stage", "opened_on", "expected_close_on", "closed_on"]}),
        (_("Origin"), {"fields": ["source", "external_id", "created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["created_at", "updated_at"]
        if obj is not None:
            # Fixed once the deal exists: the services do not change them.
            readonly += ["owner", "source", "external_id"]
        return readonly

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        stage = Stage.objects.filter(kind=Stage.Kind.OPEN).order_by("order").first()
        if stage is not None:
            initial.setdefault("stage", stage.pk)
        initial.setdefault("opened_on", timezone.localdate())
        return initial

    def delete_model(self, request, obj):
        services.deal_delete(deal=obj)

    def delete_queryset(self, request, queryset):
        for deal in queryset:
            services.deal_delete(deal=deal)


@admin.register(DealStageChange)
class DealStageChangeAdmin(CalendarChangeListMixin, admin.ModelAdmin):
    """The stage history: written by the services only, read here."""

    list_display = ["deal", "from_stage", "to_stage", "changed_at", "by"]
    list_filter = ["to_stage", "from_stage"]
    list_select_related = ["deal", "from_stage", "to_stage", "by"]
    search_fields = ["deal__name", "by__username"]
    date_hierarchy = "changed_at"
    ordering = ["-changed_at", "-id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- activities -------------------------------------------------------------


# What the change form edits through activity_update(); rep and origin stay as logged.
ACTIVITY_DETAILS = ("type", "occurred_at", "duration_minutes", "deal", "account", "outcome", "notes")


class ActivityAdminForm(ServiceWriteForm):
    class Meta:
        model = Activity
        fields = [
            "rep",
            "type",
            "occurred_at",
            "duration_minutes",
            "deal",
            "account",
            "outcome",
            "notes",
            "source",
            "external_id",
        ]

    def write(self, *, by) -> Activity:
        data = self.cleaned_data
        if self.instance._state.adding:
            return services.activity_log(
                rep=data["rep"],
                type=data["type"],
                occurred_at=data["occurred_at"],
                duration_minutes=data["duration_minutes"],
                deal=data.get("deal"),
                account=data.get("account"),
                outcome=data.get("outcome", ""),
                notes=data.get("notes", ""),
                source=data["source"],
                external_id=data.get("external_id", ""),
            )
        changes = {name: data[name] for name in ACTIVITY_DETAILS if name in self.changed_data}
        activity = Activity.objects.get(pk=self.instance.pk)
        return services.activity_update(activity=activity, **changes) if changes else activity


@admin.register(Activity)
class ActivityAdmin(CalendarChangeListMixin, ServiceWriteAdminMixin, admin.ModelAdmin):
    form = ActivityAdminForm
    list_display = ["occurred_at", "type", "rep", "duration_minutes", "deal", "account", "outcome", "source"]
    list_filter = ["type__is_selling", "type", "source", "rep__team"]
    list_select_related = ["rep__user", "type", "deal", "account"]
    search_fields = [
        "rep__user__username",
        "rep__user__last_name",
        "outcome",
        "notes",
        "deal__name",
        "account__name",
    ]
    autocomplete_fields = ["rep", "deal", "account"]
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at", "-id"]
    fieldsets = [
        (None, {"fields": ["rep", "type", "occurred_at", "duration_minutes"]}),
        (_("About"), {"fields": ["deal", "account", "outcome", "notes"]}),
        (_("Origin"), {"fields": ["source", "external_id", "created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["created_at", "updated_at"]
        if obj is not None:
            readonly += ["rep", "source", "external_id"]
        return readonly


@admin.register(ImportJob)
class ImportJobAdmin(CalendarChangeListMixin, ReadOnlyAdmin):
    """Written by the upload page and the import task only; admins watch (and start imports)."""

    change_list_template = "imports/admin_change_list.html"
    list_display = [
        "created_at",
        "kind",
        "original_filename",
        "status",
        "dry_run",
        "created_by",
        "rows_done",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
    ]
    list_filter = ["status", "kind", "dry_run"]
    list_select_related = ["created_by"]
    search_fields = ["original_filename", "created_by__username"]
    date_hierarchy = "created_at"
    fields = [
        "kind",
        "original_filename",
        "stored_file",
        "mapping",
        "dry_run",
        "from_dry_run",
        "status",
        "rows_done",
        "rows_total",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
        "error",
        "report",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]

    def view_on_site(self, obj):
        return reverse("import_detail", args=[obj.pk])
