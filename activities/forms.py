"""Forms of the rep web pages. They parse and present input; the services validate and write.

A form never saves a model: the view passes `form.service_kwargs()` to a service
and, when the service raises a ValidationError, puts it back on the form with
`add_service_errors()` so each message shows beside its field.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import access, rules, selectors
from .models import Account, Activity, ActivityType, Deal, Product, Rep, Stage, Team, Territory
from .querystring import QueryDateField
from .templatetags.salestrack import label

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
DATE_FORMAT = "%Y-%m-%d"


def stale_form(form_class, form: forms.Form, current, **kwargs) -> forms.Form:
    """`form` again, its hidden version now `current`'s: saving it again replaces what changed."""
    data = form.data.copy()
    data["version"] = current.version
    return form_class(data, **kwargs)


def stale_values(form: forms.Form, current) -> list[tuple[str, object]]:
    """The stored values of the fields of `form`, for the stale-edit notice."""
    return [(field.label, getattr(current, name)) for name, field in form.fields.items() if name != "version"]


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the field it names, else above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATETIME_LOCAL_FORMAT)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATE_FORMAT)


class ActivityTypeSelect(forms.Select):
    """A select whose options carry the type's default duration, for the JS that fills it in."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-default-duration"] = instance.default_duration
        return option


class StageSelect(forms.Select):
    """A select whose options carry the stage kind, so the page can ask for closing details."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-kind"] = instance.kind
        return option


def _version_field():
    # The version of the row the form was opened on; the service refuses the save if it moved on.
    return forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


def _date_field(label, **kwargs):
    return forms.DateField(label=label, widget=DateInput(), input_formats=[DATE_FORMAT], **kwargs)


def _amount_field(label, **kwargs):
    # Not localized: <input type="number"> always sends a dot, whatever the language.
    return forms.DecimalField(
        label=label,
        max_digits=rules.AMOUNT_MAX_DIGITS,
        decimal_places=rules.AMOUNT_DECIMAL_PLACES,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
        **kwargs,
    )


# --- activities -------------------------------------------------------------


def _deal_label(deal: Deal) -> str:
    return f"{deal.name} · {deal.account}" if deal.account_id else deal.name


class ActivityForm(forms.Form):
    type = forms.ModelChoiceField(
        label=_("Type"),
        queryset=ActivityType.objects.none(),
        empty_label=None,
        widget=ActivityTypeSelect(attrs={"data-duration-source": ""}),
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    # The service checks the range (activities.rules); the attributes only help the browser.
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"),
        required=False,
        help_text=_("Leave empty for the type's usual duration."),
        widget=forms.NumberInput(
            attrs={"min": rules.DURATION_MIN, "max": rules.DURATION_MAX, "inputmode": "numeric"}
        ),
    )
    deal = forms.ModelChoiceField(
        label=_("Deal"), queryset=Deal.objects.none(), required=False, empty_label=_("— no deal —")
    )
    account = forms.ModelChoiceField(
        label=_("Account"), queryset=Account.objects.none(), required=False, empty_label=_("— no account —")
    )
    outcome = forms.CharField(label=_("Outcome"), max_length=200, required=False)
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=rules.NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    version = _version_field()

    def __init__(self, *args, rep: Rep, user, activity: Activity | None = None, **kwargs):
        if activity is not None:
            kwargs.setdefault("initial", {}).update(
                {
                    "type": activity.type_id,
                    # At the input's precision, so an untouched time counts as unchanged.
                    "occurred_at": timezone.localtime(activity.occurred_at).replace(second=0, microsecond=0),
                    "duration_minutes": activity.duration_minutes,
                    "deal": activity.deal_id,
                    "account": activity.account_id,
                    "outcome": activity.outcome,
                    "notes": activity.notes,
                    "version": activity.version,
                }
            )
        super().__init__(*args, **kwargs)
        types = selectors.activity_types_for_logging(keep=activity.type if activity else None)
        self.fields["type"].queryset = types
        self.fields["type"].label_from_instance = label
        self.fields["deal"].queryset = selectors.deals_linkable_by(
            rep=rep, keep=activity.deal if activity and activity.deal_id else None
        )
        self.fields["account"].queryset = access.selectable_accounts(user)
        self.fields["deal"].label_from_instance = _deal_label
        if activity is None and not self.is_bound:
            self.initial.setdefault("occurred_at", timezone.localtime().replace(second=0, microsecond=0))
            chosen = (
                types.filter(pk=self.initial["type"]).first() if self.initial.get("type") else types.first()
            )
            if chosen is not None:
                self.initial["type"] = chosen.pk
                self.initial.setdefault("duration_minutes", chosen.default_duration)

    def clean(self):
        cleaned = super().clean()
        # Server side, an empty duration means the type's default (the JS only pre-fills it).
        if cleaned.get("duration_minutes") is None and cleaned.get("type") is not None:
            cleaned["duration_minutes"] = cleaned["type"].default_duration
        return cleaned

    def service_kwargs(self, *, changed_only: bool = False) -> dict:
        """The service's arguments; on an edit only what changed, so that an untouched
        time keeps its seconds (the datetime-local input only shows minutes)."""
        names = self.changed_data if changed_only else self.fields
        return {name: self.cleaned_data[name] for name in names if name != "version"}


class ActivityFilterForm(forms.Form):
    type = forms.ModelChoiceField(
        label=_("Type"), queryset=ActivityType.objects.none(), required=False, empty_label=_("All types")
    )
    rep = forms.ModelChoiceField(
        label=_("Rep"), queryset=Rep.objects.none(), required=False, empty_label=_("All reps")
    )
    date_from = QueryDateField(label=_("From"), required=False, widget=DateInput())
    date_to = QueryDateField(label=_("To"), required=False, widget=DateInput())

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["type"].queryset = ActivityType.objects.order_by("order", "name")
        self.fields["type"].label_from_instance = label
        if access.role_of(viewer) in (access.ROLE_MANAGER, access.ROLE_ADMIN):
            self.fields["rep"].queryset = selectors.reps_filterable_by(viewer=viewer)
        else:
            del self.fields["rep"]

    def filters(self) -> dict:
        """The filters given (call after is_valid(): a malformed one is refused, naming it)."""
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


# --- deals ------------------------------------------------------------------


class DealForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    account = forms.ModelChoiceField(
        label=_("Account"), queryset=Account.objects.none(), required=False, empty_label=_("— no account —")
    )
    product = forms.ModelChoiceField(
        label=_("Product"), queryset=Product.objects.none(), required=False, empty_label=_("— no product —")
    )
    amount = _amount_field(_("Amount"))
    revenue_type = forms.ChoiceField(
        label=_("Revenue type"), choices=Deal.RevenueType.choices, initial=Deal.RevenueType.ONE_TIME
    )
    opened_on = _date_field(_("Opened on"))
    expected_close_on = _date_field(_("Expected close"), required=False)
    version = _version_field()

    def __init__(self, *args, user, deal: Deal | None = None, **kwargs):
        if deal is not None:
            kwargs.setdefault("initial", {}).update(
                {
                    "name": deal.name,
                    "account": deal.account_id,
                    "product": deal.product_id,
                    "amount": deal.amount,
                    "revenue_type": deal.revenue_type,
                    "opened_on": deal.opened_on,
                    "expected_close_on": deal.expected_close_on,
                    "version": deal.version,
                }
            )
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = access.selectable_accounts(user)
        self.fields["product"].queryset = Product.objects.order_by("name")
        if deal is None and not self.is_bound:
            self.initial.setdefault("opened_on", timezone.localdate())

    def service_kwargs(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields if name != "version"}


class DealMoveForm(forms.Form):
    to_stage = forms.ModelChoiceField(
        label=_("Move to stage"),
        queryset=Stage.objects.none(),
        widget=StageSelect(attrs={"data-stage-kind": ""}),
    )
    closed_on = _date_field(_("Closing date"), required=False)
    amount = _amount_field(_("Final amount"), required=False)
    confirm = forms.BooleanField(
        label=_("I confirm the closing date and the amount."),
        required=False,
    )

    # Fields that only matter (and are only shown) when the deal is won or lost.
    CLOSING_FIELDS = ("closed_on", "amount", "confirm")

    def __init__(self, *args, deal: Deal, **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("closed_on", timezone.localdate())
        kwargs["initial"].setdefault("amount", deal.amount)
        super().__init__(*args, **kwargs)
        self.deal = deal
        self.fields["to_stage"].queryset = selectors.stages_in_order().exclude(pk=deal.stage_id)
        self.fields["to_stage"].label_from_instance = label

    def target_stage(self) -> Stage | None:
        """The chosen stage (from the posted data or the ?to= link), before full validation."""
        raw = self["to_stage"].value()
        if raw in (None, ""):
            return None
        try:
            return self.fields["to_stage"].queryset.filter(pk=int(raw)).first()
        except (TypeError, ValueError):
            return None

    def closing(self) -> bool:
        stage = self.target_stage()
        return bool(stage and stage.is_closed)

    def clean(self):
        cleaned = super().clean()
        stage = cleaned.get("to_stage")
        if stage is not None and stage.is_closed:
            if cleaned.get("closed_on") is None and "closed_on" not in self.errors:
                self.add_error("closed_on", _("Give the date the deal was won or lost."))
            if cleaned.get("amount") is None and "amount" not in self.errors:
                self.add_error("amount", _("Confirm the final amount of the deal."))
            if not cleaned.get("confirm"):
                self.add_error("confirm", _("Tick this box to confirm you want to close the deal."))
        return cleaned

    def service_kwargs(self) -> dict:
        stage = self.cleaned_data["to_stage"]
        if stage.is_closed:
            return {
                "to_stage": stage,
                "closed_on": self.cleaned_data["closed_on"],
                "amount": self.cleaned_data["amount"],
            }
        return {"to_stage": stage}


class DealFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Stage.Kind.choices]
    )
    stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.none(), required=False, empty_label=_("All stages")
    )
    rep = forms.ModelChoiceField(
        label=_("Rep"), queryset=Rep.objects.none(), required=False, empty_label=_("All reps")
    )
    opened_from = QueryDateField(label=_("Opened from"), required=False, widget=DateInput())
    opened_to = QueryDateField(label=_("Opened until"), required=False, widget=DateInput())
    # Drill-down from a dashboard funnel: the deals of a team or territory that leaked at a stage.
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, widget=forms.HiddenInput
    )
    territory = forms.ModelChoiceField(
        label=_("Territory"), queryset=Territory.objects.none(), required=False, widget=forms.HiddenInput
    )
    leaked_at = forms.ModelChoiceField(
        label=_("Leaked at"),
        queryset=Stage.objects.none(),
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = _("Deal or account")
        self.fields["stage"].queryset = selectors.stages_in_order()
        self.fields["stage"].label_from_instance = label
        self.fields["leaked_at"].queryset = Stage.objects.filter(kind=Stage.Kind.OPEN)
        self.fields["team"].queryset = access.visible_teams(viewer)
        self.fields["territory"].queryset = access.visible_territories(viewer)
        if access.role_of(viewer) in (access.ROLE_MANAGER, access.ROLE_ADMIN):
            self.fields["rep"].queryset = selectors.reps_filterable_by(viewer=viewer)
        else:
            del self.fields["rep"]

    def filters(self) -> dict:
        """The filters given (call after is_valid())."""
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
